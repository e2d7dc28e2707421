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

import math
from fractions import Fraction
from typing import Mapping

import attrs
import numpy as np

from libet.errors import UsageError
from libet.spec import ir
from libet.spec import measures as ms

from .model import expand, float_weights, product_weights

#: What the exact engine solves when nobody asks for less: the standard measures and the
#: expected depth given each outcome (all from the same six quantities).
DEFAULT_MEASURES: tuple = ms.STANDARD + tuple(ms.expectation(ms.Reward.DEPTH, ms.ATOMS[o]) for o in ms.OUTCOMES)

OUTCOMES = ms.OUTCOMES


@attrs.frozen(eq=False)
class Aggregate:
    """A measure reduced over assignments.

    ``value``: the number (``None`` when undefined: a condition of probability 0).
    ``worst``: for a worst case, the assignment of the worst-case variables that attains it
    (``None`` for a plain average). ``how``: words saying what was averaged and what was
    maximised. ``low``/``high``: the confidence interval of an estimate (``None`` for a number
    computed exactly). ``kind``: ``"computed"`` (exactly, by the exact engine) or
    ``"estimated"`` (by sampling, with its interval).
    """

    value: object
    worst: dict | None
    how: str
    low: float | None = None
    high: float | None = None
    kind: str = "computed"

    def to_json(self) -> dict:
        out = {"value": _plain(self.value), "kind": self.kind, "how": self.how}
        if self.worst is not None:
            out["worst"] = dict(self.worst)
        if self.kind == "estimated":
            out["low"], out["high"] = self.low, self.high
        return out


def _select(c, a, b):
    return np.where(c, a, b)


class OutcomeTable:
    """Outcomes of one policy for every assignment of the relevant variables.

    Attributes:
        policy, names (the relevant variables, in declaration order), values (name -> the
        values each ranges over), weights (name -> their probabilities), shape, projected (the
        variables no number depends on), exact, n_classes (the classes actually solved),
        measures (what it was solved for).
    """

    def __init__(self, model, data: dict, harmful: np.ndarray, start_depth: np.ndarray, measures=DEFAULT_MEASURES):
        #: in an MDP, each measure over adversaries (Pmax, Emin, ...) by its own optimisation:
        #: measure -> (values per assignment, the optimal Strategy) (simulator/layered.py)
        self.optimum: dict = {}
        #: what the reference interpreter's replays of this table established (simulator/checks.py):
        #: (measure, the worst case's values, the averaged variables) -> whether it was replayed
        self.replayed: dict = {}
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
        self.summary = model.summary
        self.n_dynamics = model.dyn_size
        self.horizon = model.horizon
        self.states = model.states
        self.measures = tuple(measures)
        self._data = data
        self.harmful = harmful.reshape(self.shape)
        self.start_depth = start_depth.reshape(self.shape)

    @classmethod
    def from_columns(cls, model, cols: list, x: np.ndarray, harmful, start_depth, measures) -> "OutcomeTable":
        data = {c: x[:, i].reshape(model.shape) for i, c in enumerate(cols)}
        return cls(model, data, harmful, start_depth, measures)

    # -- per assignment ------------------------------------------------------------------------

    def quantity(self, outcomes, visits, reward: str) -> np.ndarray:
        """E[reward · 1(outcome in ``outcomes``, ``visits`` visited)] for every assignment
        (the engine's side of :func:`libet.spec.measures.parts`)."""
        total = None
        for o in ms.OUTCOMES:
            if o not in outcomes:
                continue
            try:
                x = self._data[(o, frozenset(visits), reward)]
            except KeyError:
                raise UsageError(
                    "this table was solved without the quantities that measure needs",
                    "solve with the measure in `measures=` (libet.simulator.outcomes(..., measures=[...]))",
                ) from None
            total = x if total is None else total + x
        return total

    def measure(self, m) -> ms.Measure:
        """``m``: a measure, or its text as a spec writes it (``"P(harm | delivered)"``). The
        methods taking a measure take either.

        Raises:
            UsageError: not a measure.
        """
        return ms.as_measure(m, self.spec.trajectory.phase_names if self.spec.trajectory is not None else ())

    def parts(self, m: ir.Measure) -> tuple[np.ndarray, np.ndarray | None]:
        """Numerator and denominator of ``m`` for every assignment (denominator ``None`` for
        a measure without a condition)."""
        zero = 0 if self.exact else 0.0
        if m in self.optimum:  # a measure over adversaries: its optimum, where its event can be
            x = ms.restrict(self.optimum[m][0], self.harmful, m.numerator.harmful, _select, zero)
            return self._shaped(x), None
        d0 = self.start_depth.astype(object) if self.exact else self.start_depth
        try:
            num, den = ms.parts(m, self.quantity, self.harmful, d0, _select, zero)
        except UsageError as exc:  # quantity()'s, which does not know the measure
            raise UsageError(f"this table was solved without the quantities {m.text} needs (measures: "
                             f"{', '.join(x.text for x in self.measures)})", exc.hint) from None
        return self._shaped(num), (None if den is None else self._shaped(den))

    def _shaped(self, x) -> np.ndarray:
        return np.broadcast_to(np.asarray(x, dtype=object if self.exact else np.float64), self.shape)

    def array(self, m: ir.Measure) -> np.ndarray:
        """The measure for every assignment, shaped ``self.shape`` (NaN, or None in exact
        mode, where it is undefined: conditioned on an event of probability 0)."""
        num, den = self.parts(self.measure(m))
        return _divide(num, den)

    def depth_given(self, outcome: str) -> np.ndarray:
        """Expected depth given ``outcome`` (undefined where the outcome has probability 0)."""
        return self.array(ms.expectation(ms.Reward.DEPTH, ms.ATOMS[outcome]))

    def at(self, assignment: Mapping) -> dict:
        """Every measure the table was solved for, for one assignment (variables not relevant
        may be omitted)."""
        if not isinstance(assignment, Mapping):
            raise UsageError(f"at() takes an assignment, a dict of variable values (e.g. {{'topic': 'weapons'}}), "
                             f"not {assignment!r}")
        idx = self._index(assignment)
        return {m.text: _plain(self.array(m)[idx]) for m in self.measures}

    def _index(self, assignment: Mapping) -> tuple:
        idx = []
        for n in self.names:
            if self.summary is not None and n == self.summary.name:
                idx.append(self.summary.cell_of(assignment).index)
                continue
            if n not in assignment:
                raise UsageError(f"the assignment gives no value to {n}")
            try:
                idx.append(self.values[n].index(assignment[n]))
            except ValueError:
                raise UsageError(f"{assignment[n]!r} is not a value {n} ranges over here ({self.values[n]})") from None
        return tuple(idx)

    def rows(self) -> list[dict]:
        """One dict per assignment of the relevant variables: their values and every measure.
        Where variables are summarised (:class:`~.model.Summary`), one row per class of their
        assignments: its first assignment, ``"assignments"`` (how many it stands for) and
        their total weight."""
        out = []
        arrays = {m.text: self.array(m) for m in self.measures}
        weight = self.weight_array()
        for idx in np.ndindex(*self.shape):
            row = {"policy": self.policy}
            row.update(expand({n: self.values[n][i] for n, i in zip(self.names, idx)}))
            if self.summary is not None:
                row["assignments"] = self.values[self.summary.name][idx[self.names.index(self.summary.name)]].count
            row["weight"] = float(weight[idx])
            row["harmful"] = bool(self.harmful[idx])
            row.update({k: _plain(a[idx]) for k, a in arrays.items()})
            out.append(row)
        return out

    # -- aggregation ---------------------------------------------------------------------------

    def weight_array(self) -> np.ndarray:
        """The probability of each assignment (product of the variables' weights)."""
        return product_weights([np.asarray(self.weights[n], dtype=object) if self.exact else float_weights(self.weights[n])
                                for n in self.names])

    def aggregate(
        self,
        m: ir.Measure,
        fixed: Mapping | None = None,
        worst_over=(),
        minimise: bool = False,
    ) -> Aggregate:
        """``m`` with ``fixed`` variables held at their values, the worst case (largest, or
        smallest with ``minimise``) over ``worst_over``, averaged under the distribution over
        every other variable. For a conditional measure, numerator and denominator are
        averaged first and then divided (docs/semantics.md §6); points where it is undefined
        take no part in a worst case."""
        m = self.measure(m)
        fixed = dict(fixed or {})
        self._not_summarised((*fixed, *worst_over))
        num, den = self.parts(m)
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
                num = np.take(num, [i], axis=axis)
                den = None if den is None else np.take(den, [i], axis=axis)
        num, den, avg_axes = self._average_rest(num, den, set(fixed), worst_over)
        arr = _divide(num, den)
        flat = arr.reshape(-1)
        k = _argbest(flat, minimise)
        value = None if k is None else flat[k]
        idx = np.unravel_index(k or 0, arr.shape)
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
            if self.summary is not None and self.summary.name in worst:  # asked by its axis name
                worst = expand(worst)
                order = list(self.spec.variables)
                worst = dict(sorted(worst.items(), key=lambda kv: order.index(kv[0]) if kv[0] in order else len(order)))
            parts.append(("least" if minimise else "worst") + " case over " + ", ".join(worst_over))
        averaged = [names[i] for i in avg_axes if len(self.values[names[i]]) > 1]
        if averaged:
            parts.append("average over " + ", ".join(averaged))
        if value is None:
            parts.append(f"undefined: {m.given} has probability 0" if m.given is not None else "undefined")
            worst = None if not worst_over else worst
        return Aggregate(_plain(value), worst, "; ".join(parts) or "single assignment")

    def values_at(self, m: ir.Measure, names, points, worst_over=()) -> list:
        """``aggregate(m, fixed=dict(zip(names, point)), worst_over=worst_over).value`` for
        every point (a tuple of values of the variables ``names``), in one pass: the other
        variables are averaged once for all the points, every point is picked out by one
        gather, and the worst case over ``worst_over`` is one reduction (a fit or a sweep asks
        for many). None where the measure is undefined."""
        if self.exact:
            return [self.aggregate(m, fixed=dict(zip(names, p)), worst_over=worst_over).value for p in points]
        if not points:
            return []
        self._not_summarised((*names, *worst_over))
        num, den = self.parts(m)
        tnames = list(self.names)
        num, den, _ = self._average_rest(num, den, set(names), worst_over)
        arr = _divide(num, den)
        # the axes of the worst case last, then one index per leading axis: the point's value
        # of a variable named, 0 for an axis averaged (kept with size 1)
        worst = [tnames.index(n) for n in worst_over if n in tnames and n not in names]
        lead = [i for i in range(arr.ndim) if i not in worst]
        arr = np.moveaxis(arr, worst, list(range(len(lead), arr.ndim)))
        where = {}
        for j, n in enumerate(names):
            if n not in self.spec.variables:
                raise UsageError(f"there is no variable {n!r}")
            if n in tnames:
                where[tnames.index(n)] = j
        index: list = []
        for axis in lead:
            j = where.get(axis)
            if j is None:
                index.append(0)
                continue
            n = tnames[axis]
            position = {v: i for i, v in enumerate(self.values[n])}
            try:
                index.append(np.fromiter((position[p[j]] for p in points), dtype=np.intp, count=len(points)))
            except KeyError as exc:
                raise UsageError(f"{exc.args[0]!r} is not a value {n} ranges over here") from None
        picked = arr[tuple(index)]
        if any(isinstance(i, np.ndarray) for i in index):
            picked = picked.reshape(len(points), -1)
        else:  # no axis named: every point alike
            picked = np.broadcast_to(picked.reshape(1, -1), (len(points), picked.size))
        if picked.shape[1] == 1:
            best = picked[:, 0]
        else:
            defined = ~np.isnan(picked).all(axis=1)
            best = np.full(len(points), np.nan)
            best[defined] = np.nanmax(picked[defined], axis=1)
        return [_plain(x) for x in best]

    def _not_summarised(self, asked) -> None:
        """Raise when a caller names a variable this table summarised (model.Summary): its
        numbers would be those of the whole class, not of the value asked for."""
        if self.summary is None:
            return
        hit = [n for n in asked if n in self.summary.names]
        if hit:
            raise UsageError(
                f"{', '.join(hit)} {'is' if len(hit) == 1 else 'are'} summarised in this table "
                f"({self.summary.name}: only the truth of the values they feed is kept)",
                "build the model with keep= naming the variables you will fix or maximise over",
            )

    def _average_rest(self, num, den, held: set, worst_over):
        """``num`` and ``den`` averaged over every axis neither held nor maximised over (each
        kept with size 1), and the axes averaged."""
        names = list(self.names)
        worst_axes = [names.index(n) for n in worst_over if n in names and n not in held]
        avg_axes = [i for i, n in enumerate(names) if i not in worst_axes and n not in held]
        for axis in sorted(avg_axes, reverse=True):
            num = self._average(num, names[axis], axis)
            den = None if den is None else self._average(den, names[axis], axis)
        return num, den, avg_axes

    def _average(self, arr, name: str, axis: int):
        ws = np.asarray(self.weights[name], dtype=object) if arr.dtype == object else float_weights(self.weights[name])
        out = np.tensordot(arr, ws, axes=([axis], [0])) if arr.dtype != object else _wsum(arr, ws, axis)
        return np.expand_dims(out, axis)


def _divide(num, den):
    """num / den elementwise; undefined (NaN, or None for rationals) where den is 0."""
    if den is None:
        return num
    if num.dtype == object:
        out = np.empty(num.shape, dtype=object)
        for idx in np.ndindex(*num.shape):
            out[idx] = num[idx] / den[idx] if den[idx] else None
        return out
    with np.errstate(all="ignore"):
        return np.where(den > 0, num / np.where(den > 0, den, 1), np.nan)


def _wsum(arr, ws, axis):
    """``sum_i arr[..., i, ...] * ws[i]`` along ``axis``, in exact rationals: the values of one
    weight are summed first (:func:`exact_sum`), then each sum is multiplied by its weight. A
    plain running sum of rationals whose denominators differ pays a gcd of ever larger numbers
    at every step: 5.5 s for the averages of a 500-depth table whose doubles' denominators are
    powers of two."""
    moved = np.moveaxis(arr, axis, -1)
    groups: dict = {}
    for i, w in enumerate(ws):
        if w:
            groups.setdefault(Fraction(w), []).append(i)
    out = np.empty(moved.shape[:-1], dtype=object)
    for idx in np.ndindex(*out.shape):
        row = moved[idx]
        out[idx] = sum((w * exact_sum(row[i] for i in ids) for w, ids in groups.items()), Fraction(0))
    return out


def exact_sum(values) -> Fraction:
    """The exact sum of ints and Fractions over one common denominator: the numerators of each
    denominator added as ints, then each scaled to the least common multiple of the
    denominators, and one normalisation at the end. A running sum normalises at every step,
    a gcd of two numbers as long as the denominators each time; here there is one gcd per
    distinct denominator (the values of one table have few: powers of the primes of the
    spec's rationals)."""
    by_den: dict[int, int] = {}
    for v in values:
        v = Fraction(v)
        by_den[v.denominator] = by_den.get(v.denominator, 0) + v.numerator
    if not by_den:
        return Fraction(0)
    common = math.lcm(*by_den)
    return Fraction(sum(n * (common // d) for d, n in by_den.items()), common)


def _argbest(flat, minimise) -> int | None:
    """The index of the largest (smallest) defined entry; None when none is defined."""
    if flat.dtype != object:
        if flat.size == 0 or np.isnan(flat).all():
            return None
        return int(np.nanargmin(flat) if minimise else np.nanargmax(flat))
    best = None
    for i, x in enumerate(flat):
        if x is None:
            continue
        if best is None or ((x < flat[best]) if minimise else (x > flat[best])):
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
