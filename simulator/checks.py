"""The quantitative checks, decided by the exact engine.

Consumes: a checked spec, its ``check`` blocks' :class:`~libet.spec.ir.Bound` and
:class:`~libet.spec.ir.Gap` properties.
Produces: one :class:`~libet.results.CheckResult` per (policy, property): PROVED, VIOLATED with
the worst assignment and its number (replayed by the reference interpreter when that is cheap),
or UNKNOWN with the reason.

Semantics (docs/semantics.md §7):

* ``P(m) <= ε for all V``: for every assignment of V, m averaged over the other variables under
  their distribution is at most ε (``>=`` likewise, the least value being the worst);
* ``gap P(m) under V <= δ``: for all σ, σ' that agree outside V, |m(σ) − m(σ')| <= δ.

A float result within 1e-9 of the bound is decided again in exact rationals when the model is
small enough, and is UNKNOWN otherwise (float64 cannot tell which side it lies on).
"""

from __future__ import annotations

import time
from fractions import Fraction
from typing import Iterable, Mapping

import attrs
import numpy as np

from libet.errors import LibetError, UsageError
from libet.results import CheckResult, Status
from libet.spec import ir
from libet.spec.interpreter import Interpreter

from .exact import solve
from .model import EXACT_STATE_LIMIT, Model, full_assignment

#: Interpreter replays of a verdict cost at most this many state visits.
REPLAY_BUDGET = 2_000_000
NEAR = 1e-9


def _fmt(x) -> str:
    if x is None:
        return "none"
    return f"{float(x):.6g}"


def _show(v) -> str:
    if isinstance(v, bool):
        return "true" if v else "false"
    return str(v)


def _assign_text(a: Mapping) -> str:
    return ", ".join(f"{k}={_show(v)}" for k, v in a.items()) or "(no variables)"


def _num(x):
    return float(x) if isinstance(x, Fraction) else x


@attrs.frozen
class BoundWitness:
    """The worst assignment of the ``for all`` variables and the measure there.

    For a VIOLATED bound this is the counterexample; for PROVED, the margin."""

    measure: str
    op: str
    bound: Fraction
    value: object
    worst: dict
    averaged_over: tuple[str, ...]
    replayed: bool

    def describe(self) -> str:
        where = f" at {_assign_text(self.worst)}" if self.worst else ""
        avg = f", averaged over {', '.join(self.averaged_over)} under their distribution" if self.averaged_over else ""
        rel = {"<=": ">", ">=": "<"}[self.op]
        holds = (self.value <= self.bound) if self.op == "<=" else (self.value >= self.bound)
        verdict = f"{self.op} {_fmt(self.bound)}" if holds else f"{rel} {_fmt(self.bound)}"
        text = f"{self.measure} = {_fmt(self.value)} {verdict}{where}{avg}"
        if self.replayed:
            text += " (confirmed by the reference interpreter)"
        return text

    def to_json(self) -> dict:
        return {
            "measure": self.measure,
            "op": self.op,
            "bound": float(self.bound),
            "value": _num(self.value),
            "worst": {k: v for k, v in self.worst.items()},
            "averaged_over": list(self.averaged_over),
            "replayed": self.replayed,
        }


@attrs.frozen
class GapWitness:
    """Two assignments that agree outside the ``under`` variables, with the largest difference."""

    measure: str
    bound: Fraction
    first: dict
    second: dict
    first_value: object
    second_value: object
    replayed: bool

    @property
    def gap(self):
        return abs(self.first_value - self.second_value)

    @property
    def differs(self) -> dict:
        return {k: (self.first[k], self.second[k]) for k in self.first if self.first[k] != self.second.get(k)}

    def describe(self) -> str:
        if not self.differs:  # no pair differs at all: the measure does not move with the variables
            text = f"gap {self.measure} = 0: assignments that differ only in the compared variables get the same {self.measure}"
            return text + (" (confirmed by the reference interpreter)" if self.replayed else "")
        diff = ", ".join(f"{k}: {_show(a)} vs {_show(b)}" for k, (a, b) in self.differs.items())
        same = {k: v for k, v in self.first.items() if k not in self.differs}
        text = (
            f"gap {self.measure} = {_fmt(self.gap)} ({_fmt(self.first_value)} vs {_fmt(self.second_value)}) "
            f"between assignments differing in {diff}; both have {_assign_text(same)}"
        )
        if self.replayed:
            text += " (confirmed by the reference interpreter)"
        return text

    def to_json(self) -> dict:
        return {
            "measure": self.measure,
            "bound": float(self.bound),
            "gap": _num(self.gap),
            "first": {"assignment": self.first, "value": _num(self.first_value)},
            "second": {"assignment": self.second, "value": _num(self.second_value)},
            "differs": sorted(self.differs),
            "replayed": self.replayed,
        }


def quantitative_checks(
    spec: ir.Spec,
    *,
    policies: Iterable[str] | None = None,
    checks: Iterable[str] | None = None,
    params: Mapping[str, object] | None = None,
    fixed: Mapping[str, object] | None = None,
    exact: bool = False,
) -> list[CheckResult]:
    """Decide every ``P(m) <= ε`` and ``gap`` property of ``spec`` (optionally only for
    ``policies`` and the checks whose canonical text is in ``checks``)."""
    pols = None if policies is None else set(policies)
    names = None if checks is None else set(checks)
    tables: dict = {}
    out = []
    for c in spec.checks:
        if c.qualitative:
            continue
        if pols is not None and c.policy not in pols:
            continue
        if names is not None and c.name not in names:
            continue
        out.append(decide(spec, c, params=params, fixed=fixed, exact=exact, cache=tables))
    return out


def decide(spec: ir.Spec, check: ir.Check, *, params=None, fixed=None, exact=False, cache=None) -> CheckResult:
    """One quantitative check (see module doc)."""
    start = time.perf_counter()
    cache = {} if cache is None else cache
    engine = "exact (rational)" if exact else "exact"

    def table(ex: bool):
        key = (check.policy, ex)
        if key not in cache:
            cache[key] = solve(Model(spec, check.policy, params, fixed, exact=ex))
        return cache[key]

    try:
        tab = table(exact)
        verdict = _decide(spec, check, tab, params, fixed)
        if verdict[0] is None and not exact:
            # Within float error of the bound: decide in rationals when that is affordable.
            try:
                tab_q = table(True)
            except UsageError as exc:
                return CheckResult(
                    check.policy,
                    check.name,
                    Status.UNKNOWN,
                    time.perf_counter() - start,
                    engine,
                    reason=f"the value lies within {NEAR:g} of the bound in float64, and {exc}",
                    details=_details(tab),
                )
            verdict = _decide(spec, check, tab_q, params, fixed)
            engine = "exact (rational)"
            tab = tab_q
    except LibetError as exc:
        return CheckResult(
            check.policy, check.name, Status.UNKNOWN, time.perf_counter() - start, engine, reason=str(exc)
        )
    status, witness, reason = verdict
    if status is None:
        status, reason = Status.UNKNOWN, "the value equals the bound to within float64 precision"
    return CheckResult(
        check.policy,
        check.name,
        status,
        time.perf_counter() - start,
        engine,
        counterexample=witness if status is Status.VIOLATED else None,
        proof=witness if status is Status.PROVED else None,
        reason=reason,
        details=_details(tab),
    )


def _details(tab) -> dict:
    return {
        "classes": tab.n_classes,
        "dynamics_assignments": tab.n_dynamics,
        "relevant_variables": list(tab.names),
        "projected_out": list(tab.projected),
        "states": tab.states,
    }


def _decide(spec, check, tab, params, fixed):
    prop = check.prop
    if isinstance(prop, ir.Bound):
        return _bound(spec, check, prop, tab, params, fixed)
    return _gap(spec, check, prop, tab, params, fixed)


def _bound(spec, check, prop: ir.Bound, tab, params, fixed):
    minimise = prop.op is ir.CmpOp.GE
    agg = tab.aggregate(prop.measure, worst_over=prop.for_all, minimise=minimise)
    value = agg.value
    bound = prop.bound if tab.exact else float(prop.bound)
    worst = dict(agg.worst or {})
    averaged = tuple(n for n in tab.names if n not in prop.for_all and len(tab.values[n]) > 1)
    holds = value <= bound if not minimise else value >= bound
    if not tab.exact and abs(value - bound) <= NEAR:
        return None, None, None
    replayed, ok = _replay_bound(spec, check, tab, worst, averaged, value, params, fixed)
    witness = BoundWitness(prop.measure.value, prop.op.value, prop.bound, value, worst, averaged, replayed)
    if not ok:
        return Status.UNKNOWN, None, "the exact engine and the reference interpreter disagree (a bug in libet)"
    return (Status.PROVED if holds else Status.VIOLATED), witness, None


def _replay_bound(spec, check, tab, worst, averaged, value, params, fixed):
    """Recompute the worst value with the interpreter when that is cheap: (replayed, agrees)."""
    n = 1
    for name in averaged:
        n *= len(tab.values[name])
    if n * _states(spec) > REPLAY_BUDGET:
        return False, True
    interp = Interpreter(spec, params, exact=tab.exact)
    total = 0
    base = {k: v for k, v in worst.items() if v != "any"}
    for combo in _product(tab, averaged):
        w = 1
        for name, v in combo.items():
            w *= tab.weights[name][tab.values[name].index(v)]
        part = dict(base)
        part.update(combo)
        for name in tab.names:
            if name not in part:
                part[name] = tab.values[name][0]
        a = full_assignment(spec, part, fixed)
        m = interp.outcomes(check.policy, a).measure(check.prop.measure)
        total += (w if tab.exact else float(w)) * m
    agrees = total == value if tab.exact else abs(total - value) <= 1e-9 * max(1.0, abs(value))
    return True, agrees


def _product(tab, names):
    import itertools

    for combo in itertools.product(*[tab.values[n] for n in names]):
        yield dict(zip(names, combo))


def _states(spec) -> int:
    t = spec.trajectory
    return len(t.phases) * max(1, t.horizon)


def _gap(spec, check, prop: ir.Gap, tab, params, fixed):
    arr = tab.array(prop.measure)
    names = list(tab.names)
    under_axes = [names.index(n) for n in prop.under if n in names]
    other_axes = [i for i in range(len(names)) if i not in under_axes]
    bound = prop.bound if tab.exact else float(prop.bound)
    if not under_axes:
        # Nothing the measure depends on varies: every gap is 0.
        value = 0 if tab.exact else 0.0
        first = _full(spec, tab, tuple(0 for _ in names), fixed)
        witness = GapWitness(prop.measure.value, prop.bound, first, first, arr.reshape(-1)[0] if arr.size else 0, arr.reshape(-1)[0] if arr.size else 0, False)
        return (Status.PROVED if value <= bound else Status.VIOLATED), witness, None
    moved = np.transpose(arr, other_axes + under_axes)
    other_shape = tuple(arr.shape[i] for i in other_axes)
    flat = moved.reshape(other_shape + (-1,))
    flat2 = flat.reshape(-1, flat.shape[-1])
    if flat2.dtype == object:
        hi = np.asarray([max(range(len(r)), key=lambda i: r[i]) for r in flat2])
        lo = np.asarray([min(range(len(r)), key=lambda i: r[i]) for r in flat2])
    else:
        hi = np.argmax(flat2, axis=1)
        lo = np.argmin(flat2, axis=1)
    rows = np.arange(flat2.shape[0])
    gaps = np.asarray([flat2[r, hi[r]] - flat2[r, lo[r]] for r in rows], dtype=flat2.dtype)
    k = int(np.argmax(gaps)) if gaps.dtype != object else max(range(len(gaps)), key=lambda i: gaps[i])
    value = gaps[k]
    other_idx = np.unravel_index(k, other_shape) if other_shape else ()
    under_shape = tuple(arr.shape[i] for i in under_axes)
    i_hi = np.unravel_index(int(hi[k]), under_shape)
    i_lo = np.unravel_index(int(lo[k]), under_shape)

    def index(under_idx):
        full = [0] * len(names)
        for ax, i in zip(other_axes, other_idx):
            full[ax] = int(i)
        for ax, i in zip(under_axes, under_idx):
            full[ax] = int(i)
        return tuple(full)

    first = _full(spec, tab, index(i_hi), fixed)
    second = _full(spec, tab, index(i_lo), fixed)
    v1, v2 = arr[index(i_hi)], arr[index(i_lo)]
    if not tab.exact and abs(value - bound) <= NEAR:
        return None, None, None
    replayed = ok = False
    if 2 * _states(spec) <= REPLAY_BUDGET:
        interp = Interpreter(spec, params, exact=tab.exact)
        r1 = interp.outcomes(check.policy, first).measure(prop.measure)
        r2 = interp.outcomes(check.policy, second).measure(prop.measure)
        replayed = True
        if tab.exact:
            ok = r1 == v1 and r2 == v2
        else:
            ok = abs(r1 - v1) <= 1e-9 * max(1, abs(v1)) and abs(r2 - v2) <= 1e-9 * max(1, abs(v2))
        if not ok:
            return Status.UNKNOWN, None, "the exact engine and the reference interpreter disagree (a bug in libet)"
    witness = GapWitness(prop.measure.value, prop.bound, first, second, _plain(v1), _plain(v2), replayed)
    return (Status.PROVED if value <= bound else Status.VIOLATED), witness, None


def _plain(x):
    if isinstance(x, np.floating):
        return float(x)
    return x


def _full(spec, tab, idx, fixed) -> dict:
    part = {n: tab.values[n][i] for n, i in zip(tab.names, idx)}
    return full_assignment(spec, part, fixed)
