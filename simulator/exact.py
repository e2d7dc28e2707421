"""The exact engine: every measure by backward induction over the layered chain.

Consumes: a :class:`~libet.simulator.model.Model` (one policy, its assignment classes) and the
measures wanted (:mod:`libet.spec.measures`).
Produces: an :class:`~libet.simulator.table.OutcomeTable`: for every assignment of the variables
that matter, the quantities those measures need (``measures.columns``: per outcome and set of
phases that must have been visited, the probability and the depth-weighted probability), from
which the table answers each measure.

Every step raises depth by one, so the chain of each class is layered. When a measure asks
about visits, a state also carries a flag per such phase (set on entering it below the
horizon): states (q, f, d). Writing x(s, d) for the vector of quantities from state s at depth
d, one step is affine:

    x_d = A_d x_{d+1} + b_d,      A_d[s, s'] = (1 - v(q, d)) p_{q->r}(d),

where s' is (r, f with r's flag set), and b holds the one-step absorptions counted by each
column (a column that asks for visits counts only in states whose flags hold them). x_H is
"delivered at depth H" for every state, since reaching the horizon delivers (and visits
nothing), or "stopped at depth H" with ``horizon N then stop``. The engine evaluates A and b
for a whole block of depths at once (numpy, across phases and classes), in sparse form
(:class:`_Chunk`), then runs the recurrence: as a plain loop in C when the install built it
(:mod:`.compiled`), else blocked in numpy: the depth axis is cut into blocks, the affine maps
of all blocks are composed side by side (one numpy call per position in a block), the short
recurrence over block boundaries is solved the same way, and the values at the start depths
that assignments actually use are filled in. Each transition is touched once; no
division, so no loss of precision on long chains. Backward induction gives the value at every
depth, so all start depths (a prefill attack starts deep) come from one pass.

States whose probabilities have no valid value (``bad``) absorb into an extra quantity; if an
assignment reaches one with positive probability, the reference interpreter replays that
assignment and raises its error (naming phase, depth and assignment).
"""

from __future__ import annotations

import numpy as np

from libet.errors import UsageError
from libet.spec import ir
from libet.spec import measures as ms
from libet.spec.printer import name_list
from libet.spec.rules import step_end
from libet.spec.vectorize import ArrayEval, depth_ramp

from . import compiled
from .model import Model, chunk_depths, expand, full_assignment, gib, memory_limit, product_env, replay_error
from .table import DEFAULT_MEASURES, OutcomeTable

_OUTCOME = {ir.DELIVER: "delivered", ir.STOP: "stopped"}

#: Most phases whose visits one solve tracks (each doubles the states per depth).
MAX_TRACKED = 8

_SMALL = 256  # below this many depths the recurrence runs as a plain loop
BLOCK = 64  # depths per block of the blocked recurrence

_allocator_warm = False


def warm_allocator() -> None:
    """Let the C allocator keep the engine's chunk-sized arrays, once per process.

    glibc serves each allocation above its mmap threshold (128 KiB at start) with a fresh
    mmap and returns heap memory above its trim threshold to the system at every free, so the
    arrays of each chunk of depths (about 0.5 MiB each) would be faulted in page by page anew:
    that was half the time of evaluating a layer of 2^16 states. glibc raises both thresholds
    itself when a mapped block is freed (its dynamic threshold rule, for blocks up to 32 MiB); freeing one 16 MiB
    block does that, after which the chunks reuse the same memory. No setting is changed, and
    other allocators ignore it."""
    global _allocator_warm
    if not _allocator_warm:
        _allocator_warm = True
        block = np.empty(2 << 20)  # 16 MiB, never touched: an mmap and a munmap
        del block


def _step(a, x, b, scalar: bool):
    if scalar:
        return a * x + b
    return np.matmul(a, x) + b


def backward(A, b, x_end, want, scalar: bool):
    """Solve x_d = A_d x_{d+1} + b_d for d = n-1 .. 0 from x_n = ``x_end``.

    Args:
        A: (n, N, P, P) coefficients (object arrays in exact mode).
        b: (n, N, P, Q) constant terms.
        x_end: (N, P, Q).
        want: sorted distinct depths in [0, n] whose values are returned.
        scalar: P == 1 (elementwise products instead of matrix products).

    Returns:
        dict depth -> (N, P, Q) array.
    """
    n = A.shape[0]
    want = sorted(set(int(w) for w in want))
    out = {}
    if n in want:
        out[n] = x_end
    inner = [w for w in want if w < n]
    if not inner:
        return out
    if n <= _SMALL or A.dtype == object:
        lowest = inner[0]
        wanted = set(inner)
        x = x_end
        for d in range(n - 1, lowest - 1, -1):
            x = _step(A[d], x, b[d], scalar)
            if d in wanted:
                out[d] = x
        return out
    B = BLOCK
    K = -(-n // B)
    pad = K * B - n
    if pad:
        eye = np.broadcast_to(np.eye(A.shape[-1], dtype=A.dtype), (pad,) + A.shape[1:])
        A = np.concatenate([A, eye])
        b = np.concatenate([b, np.zeros((pad,) + b.shape[1:], dtype=b.dtype)])
    Ab = A.reshape((K, B) + A.shape[1:])
    bb = b.reshape((K, B) + b.shape[1:])
    # Compose the affine maps of every block, all blocks at once.
    if scalar:
        Ac = Ab[:, B - 1].copy()
        Sc = bb[:, B - 1].copy()
        for j in range(B - 2, -1, -1):
            a = Ab[:, j]
            Sc = _step(a, Sc, bb[:, j], scalar)
            Ac = a * Ac
    else:
        # [Ac | Sc] side by side: one matrix product per position composes both, written
        # into two buffers in turn (no allocation per position).
        P = A.shape[-1]
        M = np.concatenate([Ab[:, B - 1], bb[:, B - 1]], axis=-1)
        spare = np.empty_like(M)
        for j in range(B - 2, -1, -1):
            np.matmul(Ab[:, j], M, out=spare)
            spare[..., P:] += bb[:, j]
            M, spare = spare, M
        Ac, Sc = M[..., :P], M[..., P:]
    blocks = {w // B if w % B == 0 else w // B + 1 for w in inner}
    coarse = backward(Ac, Sc, x_end, sorted(blocks), scalar)
    fill = [w for w in inner if w % B]
    for w in inner:
        if w % B == 0:
            out[w] = coarse[w // B]
    if fill:
        ks = np.asarray([w // B for w in fill])
        offs = np.asarray([w % B for w in fill])
        x = np.stack([coarse[k + 1] for k in ks])
        shape = (len(fill),) + (1,) * (x.ndim - 1)
        for j in range(B - 1, int(offs.min()) - 1, -1):
            nxt = _step(Ab[ks, j], x, bb[ks, j], scalar)
            x = np.where((offs <= j).reshape(shape), nxt, x)
        for i, w in enumerate(fill):
            out[w] = x[i]
    return out


def solve(model: Model, measures=DEFAULT_MEASURES, progress=None) -> OutcomeTable:
    """The outcome table of ``model`` for ``measures`` (see module doc); ``progress(n)``, when
    given, is called with the depths solved, block by block (the horizon in all).

    Raises:
        EvaluationError: when some assignment reaches a state whose probabilities have no
            valid value (the interpreter's message: phase, depth, assignment).
    """
    measures = tuple(measures)
    from .layered import needs_layered
    from .layered import solve as solve_layered

    if needs_layered(model.spec):  # state variables or an adversary: simulator/layered.py
        return solve_layered(model, measures, progress)
    cols = ms.columns(measures)
    # A refusal column is the reward half of its event's probability column (see _run_backward).
    inner = list(dict.fromkeys((o, v, "one" if r == "refusals" else r) for o, v, r in cols))
    refusals = any(r == "refusals" for _, _, r in cols)
    chain = _Chain(model, ms.tracked_phases(measures), refusals)
    d0, harmful, cls = assignment_facts(model)
    want = np.unique(d0)
    values, any_bad = _run(chain, inner, want, progress)
    # Gather x(q0 with its visit flags, d0) for every assignment.
    wi = np.searchsorted(want, d0)
    stacked = np.stack([values[int(w)] for w in want])  # (M, U, P', Q)
    start = np.where(d0 < model.horizon, chain.row(model.start_phase, chain.bit[model.start_phase]), chain.row(model.start_phase, 0))
    top = stacked[wi, cls, start]  # (n, Q)
    picks = []
    for o, v, r in cols:
        if r == "refusals":
            picks.append(stacked[wi, cls, start + chain.P, inner.index((o, v, "one"))])
        else:
            picks.append(top[:, inner.index((o, v, r))])
    if any_bad:
        picks.append(top[:, -1])
    x = np.stack(picks, axis=-1) if picks else top[:, :0]
    if any_bad:
        hit = x[:, -1] > 0
        if hit.any():
            i = int(np.argmax(hit))
            replay_error(model.spec, model.param_overrides, model.policy, assignment_of(model, i), model.exact, "outcomes")
    return OutcomeTable.from_columns(model, cols, x, harmful, d0, measures)


def run(model: Model, measures=DEFAULT_MEASURES, *, runs=None, seed=None, confidence=None, progress=None) -> OutcomeTable:
    """The exact engine under the registry's signature (:mod:`.engines`). ``runs``, ``seed``
    and ``confidence`` are a sampling engine's and do not apply; ``progress`` counts depths."""
    return solve(model, measures, progress)


class _Chain:
    """The chain's transient states with the visit flags the measures need: state (q, f) for
    each phase q and each subset f of the tracked phases visited so far (a bit mask), row
    ``q * F + f``. With nothing tracked, F = 1 and the rows are the phases."""

    def __init__(self, model: Model, tracked: tuple[str, ...], refusals: bool = False):
        #: whether the refusals on the way are counted: then every state has a reward copy
        #: (rows P .. 2P - 1 of the solve, see _run_backward)
        self.refusals = refusals
        if len(tracked) > MAX_TRACKED:
            raise UsageError(
                f"the measures ask about visits to {len(tracked)} phases at once ({name_list(tracked)}); "
                f"the exact engine tracks at most {MAX_TRACKED} (each doubles the states)",
                "ask about fewer phases per run, or use the Monte Carlo engine (--engine mc)",
            )
        self.model = model
        self.tracked = tracked
        self.F = 1 << len(tracked)
        need = model.estimate_bytes(flags=self.F, refusals=refusals)
        if need > memory_limit():
            raise UsageError(
                f"model too large: {model.n_classes:,} classes x {len(model.phases) * self.F} states per depth "
                f"(phases x visit flags) need about {gib(need)} of working memory (limit {gib(memory_limit())})",
                "ask about fewer phases' visits at once, or fix variables with --set",
            )
        self.bit = [(1 << tracked.index(q)) if q in tracked else 0 for q in model.phases]
        self.bits = np.asarray(self.bit, dtype=np.int64)
        self.P = len(model.phases) * self.F
        self._shapes: list[_Shape] | None = None

    def row(self, qi, f):
        return qi * self.F + f

    def shapes(self) -> list["_Shape"]:
        """The phases grouped by what a chunk builds for them (:class:`_Shape`), in the order of
        their first phase; the same for every chunk of a solve."""
        if self._shapes is None:
            model = self.model
            groups: dict[tuple, list] = {}
            for qi, q in enumerate(model.phases):
                kinds, targets = [], []
                for t in model.spec.trajectory.phase(q).transitions:
                    end = step_end(t.target, 0, None)
                    if end is None:
                        ri = model.phase_index[t.target]
                        if ri not in targets:
                            targets.append(ri)
                        kinds.append((None, targets.index(ri)))
                    else:
                        kinds.append((_OUTCOME[end], None))
                key = (model.layer_key(q) or ("own", q), tuple(kinds))
                groups.setdefault(key, []).append((qi, targets))
            self._shapes = [
                _Shape(model.phases[group[0][0]], key[1], group) for key, group in groups.items()
            ]
        return self._shapes

    def mask(self, visits) -> int:
        out = 0
        for q in visits:
            out |= 1 << self.tracked.index(q)
        return out


class _Shape:
    """Phases a chunk builds the same entries for, but for their rows and targets: they share
    one layer's arrays (:meth:`Model.layer_key`) and their transitions end or move alike.
    ``phase`` is the first, whose layer stands for all; ``members`` their indices; ``kinds``
    per transition, (outcome, None) for one that ends the trajectory and (None, m) for a move
    to the m-th distinct target; ``targets`` (members, distinct targets) the phases moved to."""

    __slots__ = ("phase", "kinds", "members", "targets")

    def __init__(self, phase: str, kinds, group: list):
        self.phase = phase
        self.kinds = tuple(kinds)
        self.members = np.asarray([qi for qi, _ in group], dtype=np.int64)
        n = max(len(t) for _, t in group)
        self.targets = np.asarray([t for _, t in group], dtype=np.int64).reshape(len(group), n)


def assignment_facts(model: Model):
    """For every assignment of the relevant variables (flattened, last fastest): its start
    depth, whether it is harmful, and its class. Raises the interpreter's error for an
    assignment whose start depth or reference values have no valid value."""
    model.require_axes()
    spec = model.spec
    H = model.horizon
    exact = model.exact
    env = product_env(spec, model.names, model.values)
    n = model.size
    # Start depths and harmfulness per assignment of the relevant variables.
    ev = ArrayEval(spec, model.params, env, exact=exact)
    d0, err = ev(spec.trajectory.start_depth)
    d0 = np.broadcast_to(np.asarray(d0, dtype=np.int64), (n,))
    bad_start = np.broadcast_to(np.asarray(err, dtype=bool), (n,)) | (d0 < 0) | (d0 > H)
    if bad_start.any():
        i = int(np.argmax(bad_start))
        replay_error(spec, model.param_overrides, model.policy, assignment_of(model, i), exact, "start")
    harmful, herr = ev(spec.harm_expr())
    harmful = np.broadcast_to(np.asarray(harmful, dtype=bool), (n,))
    herr = np.broadcast_to(np.asarray(herr, dtype=bool), (n,))
    if herr.any():
        i = int(np.argmax(herr))
        replay_error(spec, model.param_overrides, model.policy, assignment_of(model, i), exact, "harmful")
    # The class of every assignment: its position among the dynamics' variables.
    if model.dyn_vars:
        pos = [model.names.index(v) for v in model.dyn_vars]
        idx = np.unravel_index(np.arange(n), model.shape) if n else [np.zeros(0, np.int64)] * len(model.names)
        dyn_index = np.ravel_multi_index(tuple(idx[p] for p in pos), model.dyn_shape) if n else np.zeros(0, np.int64)
        cls = model.class_of[dyn_index]
    else:
        cls = np.zeros(n, dtype=np.int64)
    return d0, harmful, cls


def assignment_of(model: Model, flat: int) -> dict:
    """The full assignment at position ``flat`` of the model's table (last variable fastest)."""
    idx = np.unravel_index(flat, model.shape) if model.shape else ()
    partial = expand({n: model.values[n][int(i)] for n, i in zip(model.names, idx)})
    return full_assignment(model.spec, partial, model.fixed)


def _run(chain: _Chain, cols: list, want, progress=None) -> tuple[dict, bool]:
    model = chain.model
    if model.horizon * model.n_classes * chain.P > 1 << 14:
        warm_allocator()
    if chain.P == 1 and not model.exact and len(want) <= _FORWARD_STARTS and not chain.refusals:
        return _run_forward(model, cols, want, progress)
    return _run_backward(chain, cols, want, progress)


#: With one phase and at most this many distinct start depths, the forward pass (cumulative
#: products of the continuation probability) is faster than backward induction.
_FORWARD_STARTS = 8


def _run_forward(model: Model, cols: list, want, progress=None) -> tuple[dict, bool]:
    """One phase, no visit flags: the mass still in the chain at depth d, from start depth w,
    is the product of the continuation probabilities a_j = (1 - v_j) p_{q->q}(j) for
    w <= j < d, a cumulative product (no division; underflow to 0 only drops mass below
    1e-308). Each quantity is then a dot product of the mass with its one-step probability.

    Where no quantity needs the masses on the way (P(harm) alone: the mass left at the
    horizon), a chunk's factors are one product. Compiled, it is compensated
    (:func:`.compiled.product`): the correctly rounded product of all the factors, carried
    across the chunks as ``carry + carry_lo``; with numpy, ``np.prod``, one rounding per factor.
    The cumulative product is numpy's to the bit either way (:func:`.compiled.cumprod`)."""
    H = model.horizon
    U = model.n_classes
    want = [int(w) for w in want]
    W = len(want)
    acc = {c: np.zeros((W, U)) for c in cols}
    acc_bad = np.zeros((W, U))
    # each start depth's mass still in the chain, as hi + lo for the compiled product
    # (run[i] is the (2, U) pair it updates in place); carry is the hi part
    run = np.zeros((W, 2, U))
    carry, carry_lo = run[:, 0], run[:, 1]
    lanes = compiled.wanted()
    bad_seen = False
    chunk = chunk_depths(H, U)
    q = model.phases[0]
    counted = {c[0] for c in cols}  # the outcomes some column counts
    for lo, hi in _reported(model.spans(chunk), progress):
        active = [i for i, w in enumerate(want) if w < hi]
        if not active:
            continue
        lay = model.layers(lo, hi)[q]
        h = hi - lo
        g = lay.g
        unvetoed = _never_vetoed(g)
        a = 0.0
        step = {}
        for j, target in enumerate(lay.targets):
            end = step_end(target, 0, None)
            if end is None:
                p = lay.step(j)
                a = p if unvetoed else g * p
            elif _OUTCOME[end] in counted:  # a step no column counts is not formed
                step[_OUTCOME[end]] = lay.step(j)
        for _, p in lay.refusals:  # a refusal goes on in the one phase, as a step does
            a = a + p
        a = np.broadcast_to(a, (h, U))
        # Only the one-step probabilities some column counts are formed; an outcome no
        # transition of the phase reaches adds nothing (P(harm) alone, say, needs only the
        # mass left at the horizon: a product, no cumulative product).
        imm = {}
        for c in cols:
            o = c[0]
            if o == "vetoed":
                imm[c] = np.broadcast_to(lay.v_end, (h, U))
            elif o in step:
                imm[c] = np.broadcast_to(g * step[o], (h, U))
        if lay.bad is not False:
            bad_seen = True
            badf = np.broadcast_to(lay.bad, (h, U)).astype(np.float64)
        masses = bool(imm) or lay.bad is not False
        dnow = depth_ramp(lo, hi, np.float64) if masses and any(c[2] != "one" for c in imm) else None
        for i in active:
            w = want[i]
            s = max(lo, w) - lo
            if w >= lo:
                carry[i] = 1.0
                carry_lo[i] = 0.0
            seg = a[s:]
            if not masses:
                if lanes:
                    compiled.product(_factor_rows(seg), run[i])
                else:
                    carry[i] = carry[i] * np.prod(seg, axis=0)
                continue
            carry_lo[i] = 0.0  # the masses' path multiplies carry alone (lo is below half an ulp of it)
            cp = _cumprod(seg) if lanes else np.cumprod(seg, axis=0)
            m = np.empty(seg.shape)
            m[0] = carry[i]
            np.multiply(cp[:-1], carry[i], out=m[1:])
            for c, x in imm.items():
                o, _, reward = c
                if reward == "one":
                    acc[c][i] += np.einsum("hu,hu->u", m, x[s:])
                else:  # depth at absorption: d for a veto, d + 1 after a step
                    at = dnow[s:] if o == "vetoed" else dnow[s:] + 1
                    acc[c][i] += np.einsum("h,hu,hu->u", at, m, x[s:])
            if lay.bad is not False:
                acc_bad[i] += np.einsum("hu,hu->u", m, badf[s:])
            carry[i] = carry[i] * cp[-1]
    # Mass still in the chain at the horizon ends there as the trajectory says (delivered by
    # default, stopped with `horizon N then stop`).
    at_h = model.at_horizon
    for c in cols:
        if c[0] == at_h:
            acc[c] += carry * (1 if c[2] == "one" else H)
    out = {}
    for i, w in enumerate(want):
        x = np.stack([acc[c][i] for c in cols] + ([acc_bad[i]] if bad_seen else []), axis=-1)  # (U, Q)
        if w == H:
            x = _terminal(cols, 1, U, H, np.float64, at_h)[:, 0, :]
            if bad_seen:
                x = np.concatenate([x, np.zeros((U, 1))], axis=-1)
        out[w] = x[:, None, :]
    return out, bad_seen


def _reported(spans, progress):
    """The blocks of depths ``spans``, each reported to ``progress`` (when given) once the loop
    over them is done with it."""
    for lo, hi in spans:
        yield lo, hi
        if progress is not None:
            progress(hi - lo)


def _factor_rows(seg):
    """A chunk's factors ``seg`` (h, U) as :func:`.compiled.product` takes them: a row per
    class, or one row when every class has the same factors (a broadcast column)."""
    if seg.shape[1] == 1 or seg.strides[1] == 0:
        return np.ascontiguousarray(seg[:, 0])[None, :]
    return np.ascontiguousarray(seg.T)


def _cumprod(seg):
    """``np.cumprod(seg, axis=0)`` to the bit, compiled (4x faster): one column when every class
    has the same factors (a broadcast column), which broadcasts as ``seg`` did."""
    x = np.ascontiguousarray(_factor_rows(seg).T if seg.strides[1] == 0 else seg, dtype=np.float64)
    out = np.empty(x.shape)
    compiled.cumprod(x, out)
    return out


def _never_vetoed(g) -> bool:
    """Whether ``g = 1 - v`` is 1 at every depth of a layer (a depth-only veto condition past its
    depths, say), so a step's weight is its probability, with no product with g."""
    return np.ndim(g) > 0 and np.shape(g)[0] == 1 and bool((g == 1).all())


def _run_backward(chain: _Chain, cols: list, want, progress=None) -> tuple[dict, bool]:
    """Values x(·, d) at the depths ``want`` for every class and state (phase and visit
    flags), and whether any state was bad (then the last column is the probability of
    reaching a bad state)."""
    model = chain.model
    H = model.horizon
    U = model.n_classes
    exact = model.exact
    dtype = object if exact else np.float64
    fast = not exact and compiled.wanted()
    # The bad column is added lazily, the first time some state is bad; its values above that
    # chunk are zero, so starting it at zero there is exact.
    bad_seen = False
    x = _terminal(cols, chain.P, U, H, dtype, model.at_horizon, chain)
    if chain.refusals:
        # Rows P..2P-1 hold y = E[refusals · 1(event)] beside x = P(event) (the "one" columns):
        # y_d = A_d y_{d+1} + C_d x_{d+1} + r_d, with C the refusal part of A and r the final
        # vetoes, each counting one refusal. One affine map over the doubled states solves both
        # (_assemble).
        x = np.concatenate([x, np.zeros_like(x)], axis=1)
    out = {}
    if H in set(int(w) for w in want):
        out[H] = x
    chunk = chunk_depths(H, U, 2 * chain.P if chain.refusals else chain.P, model.entries(chain.F, chain.refusals))
    if BLOCK < chunk < H:
        chunk -= chunk % BLOCK  # whole blocks: only the last chunk is padded
    hi = H
    while hi > 0:
        lo = max(0, hi - chunk)
        part = _assemble(chain, lo, hi, cols, dtype)
        b, bad = part.b, part.bad
        if bad is not None and not bad_seen:
            bad_seen = True
            x = np.concatenate([x, np.zeros(x.shape[:-1] + (1,), dtype=dtype)], axis=-1)
            for k in out:
                out[k] = np.concatenate([out[k], np.zeros(out[k].shape[:-1] + (1,), dtype=dtype)], axis=-1)
        if bad_seen:
            # Rows of bad states are already zero (PhaseLayer); they absorb into `bad`.
            last = np.zeros((b.shape[0], 1) + b.shape[2:], dtype=dtype)
            if bad is not None:
                last[:, 0] = np.where(bad, 1, 0)
            b = np.concatenate([b, last], axis=1)
        local = [int(w) - lo for w in want if lo <= w < hi] + [0]
        if fast:
            vals = compiled.backward(part.rows, part.cols, part.cols_last, part.vals, b, x, part.last, local)
        else:
            A = part.dense()
            vals = backward(A, np.ascontiguousarray(b.transpose(0, 3, 2, 1)), x, local, A.shape[-1] == 1)
        for k, val in vals.items():
            if k < hi - lo:
                out[lo + k] = val
        x = vals[0]
        if progress is not None:
            progress(hi - lo)
        hi = lo
    return out, bad_seen


def _terminal(cols, P, U, H, dtype, at_horizon: str, chain: _Chain | None = None):
    """x at the horizon: every state ends there as ``at_horizon`` says (``delivered``, or
    ``stopped`` with ``horizon N then stop``), at depth H; a column that asks for visits counts
    only in the states whose flags hold them."""
    x = np.zeros((U, P, len(cols)), dtype=dtype)
    if dtype == object:
        x[...] = 0
    for i, (o, visits, reward) in enumerate(cols):
        if o != at_horizon:
            continue
        value = 1 if reward == "one" else H
        if chain is None or not visits:
            x[..., i] = value
            continue
        need = chain.mask(visits)
        for row in range(P):
            if row % chain.F & need == need:
                x[:, row, i] = value
    return x


class _Chunk:
    """The chain over the depths lo .. hi - 1 of one chunk, in sparse form: ``A_d[rows[e],
    cols[e]] = vals[d, e, :]`` for every class, where a step from the chain's last depth
    (``last``: hi is the horizon) uses ``cols_last`` (it lands at the horizon, which visits
    nothing); ``b`` (h, Q, P', U) with ``b_d[u, p, q] = b[d, q, p, u]``; ``bad`` (h, P', U)
    where some state is bad, else None. ``vals`` and ``b`` are laid out depth first (each
    depth's numbers one contiguous block) or, for a chain of few entries, are transposed views
    of entry-first arrays (:meth:`_Weights.gather`). The (row, column) pairs are distinct, and
    so are those with ``cols_last``."""

    __slots__ = ("P", "rows", "cols", "cols_last", "vals", "b", "bad", "last")

    def __init__(self, P, rows, cols, cols_last, vals, b, bad, last):
        self.P = P
        self.rows = np.asarray(rows, dtype=np.int64)
        self.cols = np.asarray(cols, dtype=np.int64)
        self.cols_last = np.asarray(cols_last, dtype=np.int64)
        self.vals, self.b, self.bad, self.last = vals, b, bad, last

    def dense(self):
        """A as (h, U, P', P'), for the numpy recurrence."""
        h, U = self.b.shape[0], self.b.shape[3]
        A = np.zeros((h, U, self.P, self.P), dtype=self.vals.dtype)
        if A.dtype == object:
            A[...] = 0
        vals = self.vals.transpose(0, 2, 1)  # (h, U, nnz)
        A[:, :, self.rows, self.cols] = vals
        if self.last and (self.cols_last != self.cols).any():
            A[-1] = 0
            A[-1][:, self.rows, self.cols_last] = vals[-1]
        return A


_FEW_SLOTS = 256  # up to this many entries or constants a chunk lays out entry first


class _Weights:
    """The distinct weights of a chunk's entries and constants, each one slot, which
    :meth:`gather` lays out. Told apart by identity: phases written the same share their layer's
    arrays (:meth:`Model.layers`), so the products and sums formed from them are formed once
    (:meth:`made`, :meth:`plus`) and are one slot, and a chunk of 3,200 such phases broadcasts a
    few arrays and copies them into place with one gather, not 3,200. Every object whose ``id``
    is a key is held here or by the chunk's layers until the chunk is built, so no ``id`` is
    reused meanwhile."""

    def __init__(self):
        self.arrays: list = []
        self._slots: dict[int, int] = {}
        self._made: dict = {}

    def slot(self, w) -> int:
        k = self._slots.get(id(w))
        if k is None:
            k = self._slots[id(w)] = len(self.arrays)
            self.arrays.append(w)
        return k

    def made(self, key, make):
        """``make()``, once per ``key`` (built from the ``id`` of its operands)."""
        out = self._made.get(key)
        if out is None:
            out = self._made[key] = make()
        return out

    def plus(self, a, b):
        """``a + b``, once per pair, and ``b`` itself when ``a`` is the int 0 a sum starts from
        (one array, not a copy)."""
        if type(a) is int and a == 0:
            return b
        return self.made(("+", id(a), id(b)), lambda: a + b)

    def gather(self, slots: np.ndarray, h: int, U: int, dtype) -> np.ndarray:
        """(h, len(slots), U): the weights in ``slots`` broadcast over the chunk's depths and
        classes, the classes of each number adjacent (as the compiled recurrence reads them).
        A few slots are laid out slot first and returned as a transposed view: each weight is
        written in one contiguous pass, and zeros cost nothing until read (a chain of ten
        phases). Many slots (a chain of thousands of phases, which share a few weights) are laid
        out depth first, C-contiguous, each depth's numbers one block: each distinct weight is
        broadcast once into a table, and one np.take copies the table's rows into place, a
        nanosecond a number, with no Python step per slot (simulator/_recurrence.c says why
        the layout matters)."""
        if len(slots) <= _FEW_SLOTS:
            out = np.zeros((len(slots), h, U), dtype=dtype)
            for e, k in enumerate(slots.tolist()):
                w = self.arrays[k]
                if not (type(w) is int and w == 0):
                    out[e] = w
            return out.transpose(1, 0, 2)
        used, where = np.unique(slots, return_inverse=True)
        table = np.empty((h, len(used), U), dtype=dtype)
        for j, k in enumerate(used):
            table[:, j] = self.arrays[k]
        if len(used) == len(slots) and (where.reshape(-1) == np.arange(len(slots))).all():
            return table
        return np.take(table, where.reshape(-1), axis=1)


def _assemble(chain: _Chain, lo: int, hi: int, cols, dtype) -> _Chunk:
    """The chunk of depths lo .. hi - 1 (:class:`_Chunk`), P' = phases x visit flags, doubled
    when refusals are counted: then rows P'.. hold the refusal-weighted copy, whose A is
    [[A, 0], [C, A]] with C the refusal part of A, and whose b is r, the final vetoes of each
    probability column."""
    model = chain.model
    H = model.horizon
    h = hi - lo
    P, F = chain.P, chain.F
    U = model.n_classes
    Q = len(cols)
    R = 2 * P if chain.refusals else P
    bad_all = None
    d_now = d_next = None  # the depth at a veto and after a step, for the depth-weighted columns
    if any(reward == "depth" for _, _, reward in cols):
        d_now = depth_ramp(lo, hi)[:, None]
        d_now = d_now if dtype != object else d_now.astype(object)
        d_next = d_now + 1
    # A step from the last depth lands at the horizon, where the trajectory ends: it visits nothing.
    last = hi == H
    needs = [chain.mask(v) for _, v, _ in cols]
    entries: list = []  # (rows, columns, columns from the last depth, weight's slot): vectors over phases, or one for all
    consts: list = []  # (column, rows, value's slot) of b
    weights = _Weights()
    shapes = chain.shapes()
    layers = model.layers(lo, hi, [s.phase for s in shapes])
    bits = chain.bits
    vectors = False  # whether some entry or constant is a vector (a shape of several phases)
    for shape in shapes:
        lay = layers[shape.phase]
        g = lay.g
        unvetoed = weights.made(("unvetoed", id(g)), lambda: _never_vetoed(g))
        ends = {"delivered": 0, "stopped": 0}
        moves = [0] * shape.targets.shape[1]  # the weight of each distinct target
        for j, (o, m) in enumerate(shape.kinds):
            p = lay.step(j)
            w = p if unvetoed else weights.made((id(g), id(p)), lambda: g * p)
            if o is None:
                moves[m] = weights.plus(moves[m], w)
            else:
                ends[o] = weights.plus(ends[o], w)
        immediate = {"delivered": ends["delivered"], "stopped": ends["stopped"], "vetoed": lay.v_end}
        # a refusal with `then -> r` goes on in r at the next depth, as a step does
        refused: dict = {}
        for target, p in lay.refusals:
            ri = model.phase_index[target]
            refused[ri] = weights.plus(refused.get(ri, 0), p)
        # a shape of one phase (ten phases each written its own way) in Python's ints, which
        # are faster than numpy's vectors of one
        one = len(shape.members) == 1
        members = int(shape.members[0]) if one else shape.members
        bit = chain.bit if one else bits
        vectors = vectors or not one
        for hit, who in _refusal_hits(shape.targets, list(refused)):
            # what a phase's row holds, in order: its distinct targets, then the refusal
            # targets it does not move to; (targets, weight, refusal part or None) each
            targets = shape.targets[0].tolist() if one else shape.targets[who].T
            merged = [(targets[m], moves[m], None) for m in range(len(moves))]
            for ri, m in zip(refused, hit):
                if m < 0:
                    merged.append((ri, refused[ri], refused[ri]))
                else:
                    t, w, _ = merged[m]
                    merged[m] = (t, weights.plus(w, refused[ri]), refused[ri])
            rows_f = members * F if one else members[who] * F
            for f in range(F):
                row = rows_f + f
                for t, w, c in merged:
                    col = t * F + (f | bit[t])
                    land = t * F + f if last else col  # the horizon visits nothing
                    k = weights.slot(w)
                    entries.append((row, col, land, k))
                    if chain.refusals:
                        entries.append((P + row, P + col, P + land, k))
                        if c is not None:
                            entries.append((P + row, col, land, weights.slot(c)))
        for f in range(F):
            row = members * F + f
            for i, (o, _, reward) in enumerate(cols):
                if f & needs[i] != needs[i]:
                    continue
                x = immediate[o]
                if not isinstance(x, np.ndarray) and x == 0:
                    continue  # b starts at zero (an outcome this phase never reaches)
                if reward == "depth":
                    x = weights.made(("depth", id(x), o), lambda: x * (d_now if o == "vetoed" else d_next))
                k = weights.slot(x)
                consts.append((i, row, k))
                if chain.refusals and o == "vetoed" and reward == "one":
                    consts.append((i, P + row, k))  # a final veto is one refusal
            if lay.bad is not False:
                if bad_all is None:
                    bad_all = np.zeros((h, R, U), dtype=bool)
                bad_all[:, np.atleast_1d(row)] = np.broadcast_to(lay.bad, (h, U))[:, None, :]
    rows, cols_, lands, slots = _flatten(entries, vectors)
    vals = weights.gather(slots, h, U, dtype)
    # b starts at zero: every (column, row) no constant is written to reads the zero weight
    src = np.full(Q * R, weights.slot(0), dtype=np.int64)
    if consts:
        i, row, k = _flatten(consts, vectors)
        src[i * R + row] = k
    b = weights.gather(src, h, U, dtype).reshape(h, Q, R, U)
    if bad_all is not None and not bad_all.any():
        bad_all = None
    return _Chunk(R, rows, cols_, lands, vals, b, bad_all, last)


def _refusal_hits(targets: np.ndarray, refused: list):
    """The phases of a shape (rows of ``targets``, their distinct move targets) by where each
    refusal target lies among their moves: (the position per refusal target, -1 where the
    phase does not move there; the phases' positions among the rows). One group when nothing
    is refused, or no phase moves to a refusal target."""
    n = targets.shape[0]
    if not refused:
        yield (), np.arange(n)
        return
    at = np.full((n, len(refused)), -1, dtype=np.int64)
    for r, ri in enumerate(refused):
        match = targets == ri
        hit = match.any(axis=1)
        if hit.any():
            at[hit, r] = match[hit].argmax(axis=1)
    patterns, which = np.unique(at, axis=0, return_inverse=True)
    for j, pattern in enumerate(patterns):
        yield tuple(int(m) for m in pattern), np.flatnonzero(which.reshape(-1) == j)


def _flatten(parts: list, vectors: bool) -> tuple[np.ndarray, ...]:
    """Columns of vectors and scalars (:func:`_assemble`'s entries or constants; all scalars
    unless ``vectors``) as one int64 array per column, each part's scalars repeated along its
    vectors."""
    if not parts:
        return tuple(np.zeros(0, dtype=np.int64) for _ in range(4))
    if not vectors:
        return tuple(np.array(parts, dtype=np.int64).T)
    sizes = [max(np.size(x) for x in part) for part in parts]
    return tuple(
        np.concatenate([np.broadcast_to(np.asarray(x, dtype=np.int64), (n,)) for x, n in zip(column, sizes)])
        for column in zip(*parts)
    )
