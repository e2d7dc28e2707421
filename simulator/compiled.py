"""Whether the exact engine runs its recurrence compiled, and the call that runs it.

Consumes: one chunk of the recurrence in sparse form (simulator/exact.py: ``_Chunk``).
Produces: :func:`wanted` (run it compiled?), :func:`backward` (run it), and for one phase's
continuation probabilities :func:`product` (compensated) and :func:`cumprod` (numpy's, faster).

With numpy the recurrence runs blocked (:func:`.exact.backward`): the affine maps of blocks of
depths are composed side by side, P^2 (P + Q) products per depth for P states per depth and Q
columns, because numpy cannot run 10^6 short steps one by one. Compiled, the plain loop costs
one product per non-zero entry of A and column: for ten phases in a ring, 20 against 1,100.
The loop is a C extension built with libet (simulator/_recurrence.c; optional in setup.py,
so an install without a C compiler goes on, and the engine uses numpy). It
loads in a millisecond and holds no memory of its own, so it is used for every recurrence it
can run: all but exact (rational) arithmetic, which runs on Python objects.

``LIBET_COMPILED`` overrides the choice: ``auto`` (the default: compiled when built), ``0``
(numpy always), ``1`` (compiled always: an error if the extension was not built).
"""

from __future__ import annotations

import importlib
import os

import numpy as np

from libet.errors import UsageError

MODES = ("auto", "0", "1")

_state: dict = {"module": None, "failed": None}


def mode() -> str:
    value = os.environ.get("LIBET_COMPILED", "auto").strip().lower() or "auto"
    if value not in MODES:
        raise UsageError(
            f"LIBET_COMPILED is {value!r}: it must be auto, 0 or 1",
            "unset it (auto: the compiled recurrence when libet was built with it)",
        )
    return value


def wanted() -> bool:
    """Whether to run the float64 recurrence compiled (see module doc)."""
    m = mode()
    if m == "0":
        return False
    return _load(required=m == "1") is not None


def available() -> bool:
    """Whether the compiled recurrence was built with this install."""
    return _load(required=False) is not None


def _load(required: bool):
    if _state["module"] is None and _state["failed"] is None:
        try:
            _state["module"] = importlib.import_module(f"{__package__}._recurrence")
        except ImportError as exc:
            _state["failed"] = str(exc)
    if _state["module"] is None and required:
        raise UsageError(
            f"LIBET_COMPILED=1 asks for the compiled recurrence, but it was not built with this install "
            f"({_state['failed']})",
            "reinstall libet where a C compiler is available (pip install -e . builds simulator/_recurrence.c), "
            "or unset LIBET_COMPILED",
        )
    return _state["module"]


def backward(rows, cols, cols_last, vals, b, x_end, last: bool, want) -> dict:
    """The compiled :func:`.exact.backward` of one chunk in sparse form: ``A_d[rows[e],
    cols[e]] = vals[d, e, :]`` (``cols_last`` at the chunk's last depth when ``last``), and
    ``b_d[u, p, q] = b[d, q, p, u]``. ``vals`` and ``b`` are read through their strides as
    they are laid out (depth first, or a transposed view of entry first: simulator/_recurrence.c
    says when each is faster) and copied only when their classes are not adjacent. Returns depth
    -> (U, P, Q) for the depths ``want``."""
    module = _load(required=True)
    want = np.asarray(sorted(set(int(w) for w in want)), dtype=np.int64)
    out = np.empty((len(want),) + np.shape(x_end))
    module.backward_sparse(
        np.ascontiguousarray(rows, dtype=np.int64),
        np.ascontiguousarray(cols, dtype=np.int64),
        np.ascontiguousarray(cols_last, dtype=np.int64),
        _classes_adjacent(vals),
        _classes_adjacent(b),
        np.ascontiguousarray(x_end, dtype=np.float64),
        bool(last),
        want,
        out,
    )
    return {int(w): out[i] for i, w in enumerate(want)}


def _classes_adjacent(a) -> np.ndarray:
    """``a`` as float64 with its last axis (the classes) contiguous, copied only if it is not."""
    a = np.asarray(a, dtype=np.float64)
    if (a.shape[-1] > 1 and a.strides[-1] != a.itemsize) or any(s < 0 or s % 8 for s in a.strides):
        a = np.ascontiguousarray(a)
    return a


def product(x, acc) -> None:
    """Multiply ``acc`` (2, U): each class's running product as ``acc[0] + acc[1]``, by the
    product of each row of ``x`` ((U, h), or (1, h) for every class), in place. Sixteen lanes
    keep their products and exact rounding errors (simulator/_recurrence.c), so ``acc[0]`` ends
    as the correctly rounded product of all the factors multiplied in, to within an ulp, where
    ``np.prod`` rounds once per factor (up to h ulps) and waits on each multiply. Factors are
    probabilities in [0, 1]."""
    _load(required=True).product(np.ascontiguousarray(x, dtype=np.float64), acc)


def cumprod(x, out) -> None:
    """``np.cumprod(x, axis=0)`` of a C-contiguous (h, U) float64 array into ``out``, to the
    bit (the same multiplications in the same order), about 4x faster: numpy's accumulate
    stores and reloads each partial product (simulator/_recurrence.c)."""
    _load(required=True).cumprod(x, out)
