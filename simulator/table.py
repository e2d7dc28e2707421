"""Outcome tables: the exact engine's numbers for every assignment, and their aggregates.

Consumes: the columns the exact engine computed for every assignment of the variables that
matter (see :mod:`.model`).
Produces: :class:`OutcomeTable`, which answers measures (docs/semantics.md §6) per assignment,
averaged under the declared distribution, or as a worst case over named variables; and converts
to plain rows.

Variables that were projected out appear in no row: no number depends on them, and averaging
over them (their weights sum to one) changes nothing.
"""

from __future__ import annotations

from fractions import Fraction
from typing import Mapping

import attrs
import numpy as np

from libet.errors import UsageError
from libet.spec import ir
from libet.spec import measures as ms

QUANTITIES = ("delivered", "stopped", "vetoed", "depth")

OUTCOMES = ("delivered", "stopped", "vetoed")


@attrs.frozen(eq=False)
class Aggregate:
    """A measure reduced over assignments.

    ``value``: the number. ``worst``: for a worst case, the assignment of the worst-case
    variables that attains it (``None`` for a plain average). ``how``: words saying what was
    averaged and what was maximised.
    """

    value: object
    worst: dict | None
    how: str


class OutcomeTable:
    """Outcomes of one policy for every assignment of the relevant variables.

    Attributes:
        policy, names (the relevant variables, in declaration order), values (name -> the
        values each ranges over), weights (name -> their probabilities), shape, projected (the
        variables no number depends on), exact, n_classes (the classes actually solved).
    """

    def __init__(self, model, data: dict, harmful: np.ndarray):
        self.spec = model.spec
        self.policy = model.policy
        self.names = model.names
        self.values = model.values
        self.weights = model.weights
        self.shape = model.shape
        self.projected = model.projected
        self.fixed = dict(model.fixed)
        self.params = dict(model.params)
        self.exact = model.exact
        self.n_classes = model.n_classes
        self.n_dynamics = model.dyn_size
        self.horizon = model.horizon
        self.states = model.states
        self._data = data
        self.harmful = harmful.reshape(self.shape)

    @classmethod
    def from_columns(cls, model, cols: list[str], x: np.ndarray, harmful: np.ndarray) -> "OutcomeTable":
        data = {c: x[:, i].reshape(model.shape) for i, c in enumerate(cols) if c != "bad"}
        return cls(model, data, harmful)

    # -- per assignment ------------------------------------------------------------------------

    def _col(self, name: str):
        try:
            return self._data[name]
        except KeyError:
            raise UsageError(f"this table was solved without '{name}'") from None

    def array(self, m: ir.Measure) -> np.ndarray:
        """The measure for every assignment, shaped ``self.shape``."""
        out = self._array(m)
        return np.asarray(out, dtype=object if self.exact else np.float64).reshape(self.shape)

    def _array(self, m: ir.Measure):
        if m is ms.HARM:
            return np.where(self.harmful, self._col("delivered"), 0 * self._col("delivered"))
        if m is ms.OVER_REFUSAL:
            return np.where(self.harmful, 0 * self._col("vetoed"), self._col("vetoed"))
        if m is ms.DELIVERED:
            return self._col("delivered")
        if m is ms.STOPPED:
            return self._col("stopped")
        if m is ms.VETOED:
            return self._col("vetoed")
        return self._col("d_delivered") + self._col("d_stopped") + self._col("d_vetoed")

    def depth_given(self, outcome: str) -> np.ndarray:
        """Expected depth given ``outcome`` (NaN where the outcome has probability 0)."""
        p = self._col(outcome)
        dm = self._col("d_" + outcome)
        if p.dtype == object:
            return np.asarray([(a / b if b else None) for a, b in zip(dm.ravel(), p.ravel())], dtype=object).reshape(p.shape)
        with np.errstate(all="ignore"):
            return np.where(p > 0, dm / np.where(p > 0, p, 1), np.nan)

    def at(self, assignment: Mapping) -> dict:
        """Every measure for one assignment (variables not relevant may be omitted)."""
        idx = self._index(assignment)
        out = {m.value: _plain(self.array(m)[idx]) for m in ms.STANDARD if self._has(m)}
        if "d_delivered" in self._data:
            for o in OUTCOMES:
                out[f"E(depth | {o})"] = _plain(self.depth_given(o)[idx])
        return out

    def _has(self, m: ir.Measure) -> bool:
        need = {
            ms.HARM: "delivered",
            ms.DELIVERED: "delivered",
            ms.STOPPED: "stopped",
            ms.VETOED: "vetoed",
            ms.OVER_REFUSAL: "vetoed",
            ms.DEPTH: "d_delivered",
        }[m]
        return need in self._data

    def _index(self, assignment: Mapping) -> tuple:
        idx = []
        for n in self.names:
            if n not in assignment:
                raise UsageError(f"the assignment gives no value to {n}")
            try:
                idx.append(self.values[n].index(assignment[n]))
            except ValueError:
                raise UsageError(f"{assignment[n]!r} is not a value {n} ranges over here ({self.values[n]})") from None
        return tuple(idx)

    def rows(self) -> list[dict]:
        """One dict per assignment of the relevant variables: their values and every measure."""
        out = []
        arrays = {m.value: self.array(m) for m in ms.STANDARD if self._has(m)}
        given = {}
        if "d_delivered" in self._data:
            given = {f"E(depth | {o})": self.depth_given(o) for o in OUTCOMES}
        weight = self.weight_array()
        for idx in np.ndindex(*self.shape):
            row = {"policy": self.policy}
            row.update({n: self.values[n][i] for n, i in zip(self.names, idx)})
            row["weight"] = float(weight[idx])
            row["harmful"] = bool(self.harmful[idx])
            row.update({k: _plain(a[idx]) for k, a in arrays.items()})
            row.update({k: _plain(a[idx]) for k, a in given.items()})
            out.append(row)
        return out

    # -- aggregation ---------------------------------------------------------------------------

    def weight_array(self) -> np.ndarray:
        """The probability of each assignment (product of the variables' weights)."""
        w = np.ones(self.shape, dtype=object if self.exact else np.float64)
        for axis, n in enumerate(self.names):
            ws = np.asarray([x if self.exact else float(x) for x in self.weights[n]], dtype=w.dtype)
            shape = [1] * len(self.shape)
            shape[axis] = len(ws)
            w = w * ws.reshape(shape)
        return w

    def aggregate(
        self,
        m: ir.Measure,
        fixed: Mapping | None = None,
        worst_over=(),
        minimise: bool = False,
    ) -> Aggregate:
        """``m`` with ``fixed`` variables held at their values, the worst case (largest, or
        smallest with ``minimise``) over ``worst_over``, averaged under the distribution over
        every other variable."""
        arr = self.array(m)
        fixed = dict(fixed or {})
        names = list(self.names)
        for n, v in fixed.items():
            if n not in self.spec.variables:
                raise UsageError(f"there is no variable {n!r}")
            if n in names:
                axis = names.index(n)
                try:
                    i = self.values[n].index(v)
                except ValueError:
                    raise UsageError(f"{v!r} is not a value {n} ranges over here") from None
                arr = np.take(arr, [i], axis=axis)
        worst_axes = [names.index(n) for n in worst_over if n in names and n not in fixed]
        avg_axes = [i for i, n in enumerate(names) if i not in worst_axes and n not in fixed]
        # Average over avg_axes with the weights.
        for axis in sorted(avg_axes, reverse=True):
            n = names[axis]
            ws = np.asarray([x if self.exact else float(x) for x in self.weights[n]], dtype=arr.dtype)
            arr = np.tensordot(arr, ws, axes=([axis], [0])) if arr.dtype != object else _wsum(arr, ws, axis)
            arr = np.expand_dims(arr, axis)
        flat = arr.reshape(-1)
        k = int(np.argmin(flat) if minimise else np.argmax(flat)) if flat.dtype != object else _argbest(flat, minimise)
        value = flat[k]
        idx = np.unravel_index(k, arr.shape)
        worst = None
        parts = []
        if worst_over:
            worst = {}
            for n in worst_over:
                if n in fixed:
                    continue
                if n in names:
                    worst[n] = self.values[n][int(idx[names.index(n)])]
                else:
                    worst[n] = "any"  # projected out: every value gives the same number
            parts.append(("least" if minimise else "worst") + " case over " + ", ".join(worst_over))
        averaged = [names[i] for i in avg_axes if len(self.values[names[i]]) > 1]
        if averaged:
            parts.append("average over " + ", ".join(averaged))
        return Aggregate(_plain(value), worst, "; ".join(parts) or "single assignment")


def _wsum(arr, ws, axis):
    moved = np.moveaxis(arr, axis, -1)
    out = np.zeros(moved.shape[:-1], dtype=object)
    out[...] = 0
    for i, w in enumerate(ws):
        out = out + moved[..., i] * w
    return out


def _argbest(flat, minimise):
    best = 0
    for i in range(1, len(flat)):
        if (flat[i] < flat[best]) if minimise else (flat[i] > flat[best]):
            best = i
    return best


def _plain(x):
    """A numpy scalar as a plain Python number (Fractions stay Fractions; NaN becomes None)."""
    if x is None:
        return None
    if isinstance(x, Fraction):
        return x
    if isinstance(x, (np.floating, float)):
        f = float(x)
        return None if f != f else f
    if isinstance(x, (np.integer,)):
        return int(x)
    if isinstance(x, (np.bool_,)):
        return bool(x)
    return x
