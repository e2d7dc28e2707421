"""The quantitative checks, decided by the exact engine.

Consumes: a checked spec, its ``check`` blocks' :class:`~libet.spec.ir.Bound` and
:class:`~libet.spec.ir.Gap` properties.
Produces: one :class:`~libet.results.CheckResult` per (policy, property): PROVED, VIOLATED with
the worst assignment and its number (replayed by the reference interpreter when that is cheap),
or UNKNOWN with the reason.

Semantics (docs/semantics.md §7):

* ``P(m) <= ε for all V``: for every assignment of V, m averaged over the other variables under
  their distribution is at most ε (``>=`` likewise, the least value being the worst);
* ``gap P(m) under V <= δ``: for all σ, σ' that agree outside V, |m(σ) − m(σ')| <= δ;
* ``invariant P(m) under V``: the same with δ = 0, so every float near 0 is decided again in
  rationals (a gap of 0 is a tie with the bound).

A float result within 1e-9 of the bound is decided again in exact rationals when the model is
small enough, and is UNKNOWN otherwise (float64 cannot tell which side it lies on).
"""

from __future__ import annotations

import math
import time
from fractions import Fraction
from typing import Iterable, Mapping

import attrs
import numpy as np

from libet.errors import InternalError, LibetError, UsageError
from libet.results import CheckResult, Status
from libet.spec import ir
from libet.spec import measures as ms
from libet.spec.interpreter import Interpreter
from libet.spec.overrides import check_fixed, check_overrides
from libet.spec.printer import name_list

from .exact import solve
from .model import Model, expand, full_assignment

#: Interpreter replays of a verdict cost at most this many state visits, each weighed by the
#: size of what it evaluates (:func:`_replay_cost`). The interpreter visits 40,000 to 150,000
#: states a second, so a replay costs at most a few seconds; the static checks' budget
#: (spec/checker.py ENUMERATION_BUDGET) is the same.
REPLAY_BUDGET = 200_000
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
    #: over adversaries: what the optimal adversary does first, in words ("" otherwise)
    adversary: str = ""

    def describe(self) -> str:
        where = f" at {_assign_text(self.worst)}" if self.worst else ""
        avg = f", averaged over {name_list(self.averaged_over)} under their distribution" if self.averaged_over else ""
        rel = {"<=": ">", ">=": "<"}[self.op]
        holds = (self.value <= self.bound) if self.op == "<=" else (self.value >= self.bound)
        verdict = f"{self.op} {_fmt(self.bound)}" if holds else f"{rel} {_fmt(self.bound)}"
        text = f"{self.measure} = {_fmt(self.value)} {verdict}{where}{avg}"
        if self.adversary:
            text += f"; the optimal adversary {self.adversary}"
        if self.replayed:
            text += " (confirmed by the reference interpreter" + (", replaying that adversary)" if self.adversary else ")")
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


class QuantitativeKind:
    """A check kind decided by the exact engine: what it asks of the outcome table and how the
    reference interpreter confirms the answer. Subclasses fill in :meth:`judge`."""

    prop_type: type
    engine = "exact"

    def measures(self, prop) -> tuple:
        return (prop.measure,)

    def judge(self, spec, check: ir.Check, tab, params, fixed):
        """``(status, witness, reason)``; status None when float64 cannot tell (the value lies
        within NEAR of the bound)."""
        raise NotImplementedError


class BoundKind(QuantitativeKind):
    """``P(m) <= ε for all V`` (or ``>=``): the worst case over V of m, averaged over the rest."""

    prop_type = ir.Bound

    def judge(self, spec, check, tab, params, fixed):
        return _bound(spec, check, check.prop, tab, params, fixed)


class GapKind(QuantitativeKind):
    """``gap P(m) under V <= δ``: the largest difference in m between assignments that differ
    only in V."""

    prop_type = ir.Gap

    def judge(self, spec, check, tab, params, fixed):
        return _gap(spec, check, check.prop, tab, params, fixed)


class OutcomeInvarianceKind(QuantitativeKind):
    """``invariant P(m) under V``: the gap in m under V is exactly 0. A float gap within NEAR of
    0 is decided again in exact rationals (:func:`decide`), so PROVED means the rational
    engine found every pair equal, or float64 found them apart by more than 1e-9."""

    prop_type = ir.OutcomeInvariance

    def judge(self, spec, check, tab, params, fixed):
        prop = check.prop
        gap = ir.Gap(prop.measure, prop.under, Fraction(0), written=prop.written)
        status, witness, reason = _gap(spec, check, gap, tab, params, fixed)
        if status is None and not tab.exact:
            return None, None, None
        return status, witness, reason


#: The check kinds the simulator decides, keyed by IR property type (the proofs' are in
#: :mod:`libet.proofs.kinds`; :mod:`libet.registry` joins the two).
KINDS: dict[type, QuantitativeKind] = {k.prop_type: k for k in (BoundKind(), GapKind(), OutcomeInvarianceKind())}


def quantitative_checks(
    spec: ir.Spec,
    *,
    policies: Iterable[str] | None = None,
    checks: Iterable[str] | None = None,
    params: Mapping[str, object] | None = None,
    fixed: Mapping[str, object] | None = None,
    exact: bool = False,
) -> list[CheckResult]:
    """Decide every check of ``spec`` that the simulator decides (optionally only for
    ``policies`` and the checks whose canonical text is in ``checks``)."""
    pols = None if policies is None else set(policies)
    names = None if checks is None else set(checks)
    selected = [
        c
        for c in spec.checks
        if type(c.prop) in KINDS and (pols is None or c.policy in pols) and (names is None or c.name in names)
    ]
    return decide_all(spec, selected, params=params, fixed=fixed, exact=exact)


def decide_all(spec: ir.Spec, checks, *, params=None, fixed=None, exact=False) -> list[CheckResult]:
    """Decide ``checks`` (each of a kind in :data:`KINDS`), in order; one outcome table per
    policy, solved for the measures all its checks need."""
    params = check_overrides(spec, params)
    fixed = check_fixed(spec, fixed)
    needs: dict = {}
    for c in checks:
        needs.setdefault(c.policy, {}).update(dict.fromkeys(KINDS[type(c.prop)].measures(c.prop)))
    cache: dict = {}
    return [decide(spec, c, params=params, fixed=fixed, exact=exact, cache=cache, measures=tuple(needs[c.policy])) for c in checks]


def decide(spec: ir.Spec, check: ir.Check, *, params=None, fixed=None, exact=False, cache=None, measures=None) -> CheckResult:
    """One quantitative check (see module doc).

    Raises:
        InternalError: the exact engine and the reference interpreter disagree (a bug).
    """
    start = time.perf_counter()
    from libet.spec.structural import bind

    spec = bind(spec, params)  # a horizon or weights over params, at these params
    kind = KINDS[type(check.prop)]
    cache = {} if cache is None else cache
    measures = measures or kind.measures(check.prop)
    engine = "exact (rational)" if exact else "exact"

    # The variables the check names keep their axes; others read only through values may be
    # summarised (model.Summary), so a huge substance domain costs its classes, not its size.
    keep = tuple(getattr(check.prop, "for_all", ())) + tuple(getattr(check.prop, "under", ()))

    def table(ex: bool):
        key = (check.policy, ex, keep)
        if key not in cache:
            cache[key] = solve(Model(spec, check.policy, params, fixed, exact=ex, keep=keep), measures)
        return cache[key]

    try:
        tab = table(exact)
        verdict = kind.judge(spec, check, tab, params, fixed)
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
            verdict = kind.judge(spec, check, tab_q, params, fixed)
            engine = "exact (rational)"
            tab = tab_q
    except InternalError:
        raise
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


def _disagree(what: str):
    raise InternalError(f"the exact engine and the reference interpreter disagree on {what}")


def _bound(spec, check, prop: ir.Bound, tab, params, fixed):
    minimise = prop.op is ir.CmpOp.GE
    agg = tab.aggregate(prop.measure, worst_over=prop.for_all, minimise=minimise)
    value = agg.value
    if value is None:
        return Status.UNKNOWN, None, f"{prop.measure.text} is undefined everywhere: {prop.measure.given} has probability 0"
    bound = prop.bound if tab.exact else float(prop.bound)
    worst = dict(agg.worst or {})
    averaged = tuple(n for n in tab.names if n not in prop.for_all and len(tab.values[n]) > 1)
    holds = value <= bound if not minimise else value >= bound
    if not tab.exact and abs(value - bound) <= NEAR:
        return None, None, None
    replayed = _replay_bound(spec, check, tab, worst, averaged, value, params, fixed)
    adversary = _first_moves(spec, tab, prop.measure, worst, fixed)
    witness = BoundWitness(prop.measure.text, prop.op.value, prop.bound, value, worst, averaged, replayed, adversary)
    return (Status.PROVED if holds else Status.VIOLATED), witness, None


def _first_moves(spec, tab, m, worst, fixed) -> str:
    """The optimal adversary's choices at the first depths, from the start, in words."""
    if m not in tab.optimum:
        return ""
    part = {k: v for k, v in worst.items() if v != "any"}
    for name in tab.names:
        part.setdefault(name, tab.values[name][0])
    full = full_assignment(spec, expand(part), fixed)
    table = tab.optimum[m][1].for_assignment(full)
    interp = Interpreter(spec)
    q, d = interp.start(full)
    state = spec.initial_state
    picks = []
    for _ in range(3):  # along the path that keeps the phase and the rest of the state
        key = table.get((q, d, interp.state_key(state), frozenset()))
        if key is None:
            break
        chosen = interp.state_of(key)
        picks.append(", ".join(f"{n}={_show(v)}" for n, v in chosen.items() if v != state[n]) + f" at depth {d}")
        state, d = chosen, d + 1
    return ("chooses " + "; ".join(picks)) if picks else "keeps the initial state at the start"


def _show(v) -> str:
    return ("true" if v else "false") if isinstance(v, bool) else str(v)


def _replay_bound(spec, check, tab, worst, averaged, value, params, fixed) -> bool:
    """Recompute the worst value with the interpreter when that is cheap; whether it was. Once
    per measure, worst case and table: many bounds on one measure (`P(harm) <= 0.1`, `<= 0.2`,
    ...) replay it once (``tab.replayed``).

    Raises:
        InternalError: the interpreter's number differs from the exact engine's.
    """
    key = (check.prop.measure, tuple(sorted(worst.items(), key=repr)), averaged)
    if key not in tab.replayed:
        tab.replayed[key] = _replay(spec, check, tab, worst, averaged, value, params, fixed)
    return tab.replayed[key]


def _replay(spec, check, tab, worst, averaged, value, params, fixed) -> bool:
    n = 1
    for name in averaged:
        n *= len(tab.values[name])
    if n * _replay_cost(spec, check.policy) > REPLAY_BUDGET:
        return False
    m = check.prop.measure
    interp = Interpreter(spec, params, exact=tab.exact)
    num = den = 0
    base = {k: v for k, v in worst.items() if v != "any"}
    for combo, weights in _product(tab, averaged):
        w = math.prod(weights)
        w = w if tab.exact else float(w)
        part = dict(base)
        part.update(combo)
        for name in tab.names:
            if name not in part:
                part[name] = tab.values[name][0]
        full = full_assignment(spec, expand(part), fixed)
        strategy = None
        if m in tab.optimum:  # over adversaries: the engine's optimal strategy, replayed
            strategy = interp.strategy_of(tab.optimum[m][1].for_assignment(full))
        a, b = interp.outcomes(check.policy, full, m.visits, strategy=strategy).parts(m)
        num += w * a
        den += w * (b if b is not None else 0)
    total = ms.ratio(num, den if m.given is not None else None)
    if not _close(total, value, tab.exact):
        _disagree(f"{m.text} of policy '{check.policy}' at {_assign_text(base) if base else 'the average'}")
    return True


def _close(a, b, exact: bool) -> bool:
    if a is None or b is None:
        return a is None and b is None
    return a == b if exact else abs(a - b) <= 1e-9 * max(1.0, abs(b))


def _product(tab, names):
    """Every combination of the values of ``names``, with the weight of each value in it."""
    import itertools

    for combo in itertools.product(*[tuple(zip(tab.values[n], tab.weights[n])) for n in names]):
        yield {n: v for n, (v, _) in zip(names, combo)}, [w for _, w in combo]


def _replay_cost(spec, policy: str) -> int:
    """What the interpreter's replay of ``policy`` on one assignment costs at most, in state
    visits weighed as the static checks weigh them (:func:`~libet.spec.semantics.weight`):
    every depth of every phase, each state evaluating the policy's rules and the phase's
    transitions. So a policy of 4,000 rules is not replayed where one of 4 would be: the
    replay would cost the interpreter a thousand times the solve it confirms."""
    from libet.spec.semantics import weight

    t = spec.trajectory
    rules = [e for r in spec.policies[policy].rules for e in (r.condition, r.strength, *(u.expr for u in r.updates))]
    per_depth = 0
    for phase in t.phases:
        steps = [e for tr in phase.transitions for e in (tr.prob, *(u.expr for u in tr.updates)) if e is not None]
        per_depth += weight(spec, rules + steps)
    return per_depth * max(1, t.horizon)


def _gap(spec, check, prop: ir.Gap, tab, params, fixed):
    arr = tab.array(prop.measure)
    names = list(tab.names)
    under_axes = [names.index(n) for n in prop.under if n in names]
    other_axes = [i for i in range(len(names)) if i not in under_axes]
    bound = prop.bound if tab.exact else float(prop.bound)
    flat_all = arr.reshape(-1)
    if not under_axes:
        # Nothing the measure depends on varies: every gap is 0.
        value = 0 if tab.exact else 0.0
        first = _full(spec, tab, tuple(0 for _ in names), fixed)
        v = flat_all[0] if arr.size else 0
        witness = GapWitness(prop.measure.text, prop.bound, first, first, v, v, False)
        return (Status.PROVED if value <= bound else Status.VIOLATED), witness, None
    moved = np.transpose(arr, other_axes + under_axes)
    other_shape = tuple(arr.shape[i] for i in other_axes)
    flat2 = moved.reshape(-1, math.prod(arr.shape[i] for i in under_axes))
    # Assignments where the measure is undefined (a condition of probability 0) take no part.
    if flat2.dtype == object:
        hi = [_best(r, False) for r in flat2]
        lo = [_best(r, True) for r in flat2]
        gaps = [None if h is None else flat2[r][h] - flat2[r][lo[r]] for r, h in enumerate(hi)]
        defined = [i for i, g in enumerate(gaps) if g is not None]
        k = max(defined, key=lambda i: gaps[i]) if defined else None
    else:
        ok = ~np.isnan(flat2)
        hi = np.argmax(np.where(ok, flat2, -np.inf), axis=1)
        lo = np.argmin(np.where(ok, flat2, np.inf), axis=1)
        rows = np.arange(flat2.shape[0])
        gaps = np.where(ok.any(axis=1), flat2[rows, hi] - flat2[rows, lo], -np.inf)
        k = int(np.argmax(gaps)) if ok.any() else None
    if k is None:
        return Status.UNKNOWN, None, f"{prop.measure.text} is undefined everywhere: {prop.measure.given} has probability 0"
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
    replayed = False
    if 2 * _replay_cost(spec, check.policy) <= REPLAY_BUDGET:
        interp = Interpreter(spec, params, exact=tab.exact)
        m = prop.measure
        r1 = interp.outcomes(check.policy, first, m.visits).measure(m)
        r2 = interp.outcomes(check.policy, second, m.visits).measure(m)
        replayed = True
        if not (_close(r1, _plain(v1), tab.exact) and _close(r2, _plain(v2), tab.exact)):
            _disagree(f"the gap in {m.text} of policy '{check.policy}'")
    witness = GapWitness(prop.measure.text, prop.bound, first, second, _plain(v1), _plain(v2), replayed)
    return (Status.PROVED if value <= bound else Status.VIOLATED), witness, None


def _best(row, minimise: bool):
    """The index of the largest (smallest) defined entry of ``row``, None if none is."""
    best = None
    for i, x in enumerate(row):
        if x is None or x != x:
            continue
        if best is None or ((x < row[best]) if minimise else (x > row[best])):
            best = i
    return best


def _plain(x):
    if isinstance(x, np.floating):
        return float(x)
    return x


def _full(spec, tab, idx, fixed) -> dict:
    part = {n: tab.values[n][i] for n, i in zip(tab.names, idx)}
    return full_assignment(spec, expand(part), fixed)
