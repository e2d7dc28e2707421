"""Minimising counterexamples: the model Z3 found, moved towards the simplest one.

Consumes: a :class:`~libet.proofs.solve.Query` with a satisfiable set of formulas, and weighted
soft constraints (what a simple counterexample keeps: the two copies equal, neutral values, a
trace that stays in its phase).
Produces: a model that satisfies as many of them as Z3's Optimize (MaxSMT) or a greedy pass on
the query's own solver finds in the time given, and whether it is minimised at all.
"""

from __future__ import annotations

import time
from typing import Any, Iterable

import z3

from libet.proofs.domains import Sym, default_value
from libet.proofs.solve import Budget, OutOfTime, Query, watchdog

#: Weight of "a variable takes its neutral value" (the lightest soft constraint).
W_DEFAULT = 1


def default_softs(enc, sym: Sym, names: Iterable[str], weight: int = W_DEFAULT) -> list:
    """Soft constraints: each variable of ``names`` that is symbolic in ``sym`` takes its
    neutral value (:func:`~libet.proofs.domains.default_value`)."""
    out = []
    for n in names:
        t = sym.terms[n]
        if isinstance(t, (bool, int, str)):
            continue
        var = enc.spec.variables[n]
        out.append((enc.equal_value(var, t, default_value(var)), weight))
    return out


def minimise(query: Query, extra: Iterable, softs: Iterable[tuple[Any, int]], budget: Budget):
    """A model of ``query``'s formulas plus ``extra`` that satisfies as many soft constraints
    (weighted) as Z3's Optimize finds within ``budget``; ``None`` if it finds none in time."""
    if budget.expired():
        return None
    opt = z3.Optimize(ctx=query.ctx)
    opt.set("timeout", budget.ms())
    if budget.rlimit:
        opt.set("rlimit", int(budget.rlimit))
    for f in query.hard:
        opt.add(f)
    for f in extra:
        if f is not True:
            opt.add(query.enc.as_bool(f))
    for f, w in softs:
        if f is True or f is False:
            continue
        opt.add_soft(f, w)
    try:
        with watchdog(query.ctx, budget.remaining()):  # Optimize may not keep its timeout
            r = opt.check()
    except z3.Z3Exception:
        return None
    if r != z3.sat:
        return None
    return opt.model()


def greedy_minimise(
    query: Query, extra: Iterable, softs: Iterable[tuple[Any, int]], budget: Budget, model=None, light_seconds: float | None = None
):
    """A model of ``query`` plus ``extra`` that keeps soft constraints greedily, heaviest first,
    on the query's own incremental solver: a soft constraint is kept when it is consistent with
    those kept so far, and every model found keeps all the soft constraints it happens to
    satisfy. The result is minimal (no further soft constraint can be added), not necessarily
    optimal. ``model`` (optional) must satisfy ``extra``. ``None`` if no model is found in time.
    ``light_seconds`` caps the time spent on the tiers below the heaviest one."""
    ordered = sorted(((f, w) for f, w in softs if f is not True and f is not False), key=lambda fw: -fw[1])
    if budget.expired():
        return model
    ctx = query.ctx
    query.push()
    try:
        for f in extra:
            if f is not True:
                query.add(f)
        lits = []
        for i, (f, _) in enumerate(ordered):
            lit = z3.Bool(f"soft#{i}", ctx)
            query.solver.add(z3.Implies(lit, f))
            lits.append(lit)
        if model is None:
            ans = _check_within(query, budget)
            if ans != "sat":
                return None
            model = query.model()

        def kept(m, upto: int) -> set[int]:
            return {i for i in range(upto) if z3.is_true(m.eval(ordered[i][0], model_completion=True))}

        # tiers of equal weight, heaviest first: a lighter constraint never blocks a heavier one.
        # Within a tier, try the remaining constraints all at once and split on failure, so a
        # counterexample where one of n constraints must go costs about 2 log2(n) checks.
        state = {"model": model, "accepted": set(), "asserted": set(), "stop": False}

        def commit() -> None:
            # accepted constraints stay accepted: assert them instead of assuming them again
            for k in sorted(state["accepted"] - state["asserted"]):
                query.solver.add(lits[k])
            state["asserted"] |= state["accepted"]

        def grow(items: list[int], upto: int) -> None:
            items = [k for k in items if k not in state["accepted"]]
            if not items or state["stop"]:
                return
            if budget.expired() or (deadline is not None and time.monotonic() > deadline):
                state["stop"] = True
                return
            commit()
            ans = _check_within(query, budget, *[lits[k] for k in items])
            if ans == "sat":
                state["model"] = query.model()
                state["accepted"] = kept(state["model"], upto)
                return
            if ans != "unsat":
                state["stop"] = True
                return
            if len(items) == 1:
                return
            half = len(items) // 2
            grow(items[:half], upto)
            grow(items[half:], upto)

        i = 0
        deadline = None
        while i < len(ordered) and not state["stop"]:
            j = i
            while j < len(ordered) and ordered[j][1] == ordered[i][1]:
                j += 1
            if i > 0 and light_seconds is not None:
                deadline = time.monotonic() + light_seconds
            state["accepted"] = kept(state["model"], j)
            grow(list(range(i, j)), j)
            i = j
        model = state["model"]
        return model
    finally:
        query.pop()


def _check_within(query: Query, budget: Budget, *assumptions) -> str:
    saved = query.budget
    query.budget = budget
    try:
        return query.check(*assumptions).status
    except OutOfTime:
        return "unknown"
    finally:
        query.budget = saved


#: Time cap (seconds) for the lighter tiers of soft constraints (neutral defaults) in the greedy
#: minimiser; the heaviest tier (what differs, the trace's shape) always gets the full budget.
LIGHT_TIER_SECONDS = 0.5
#: Up to this many soft constraints, Optimize minimises a policy counterexample first.
OPTIMIZE_MAX_SOFTS = 24
#: Share of the remaining budget, and cap in seconds, for each Optimize call.
OPTIMIZE_SHARE = 0.25
OPTIMIZE_CAP = 1.0


def minimise_model(query: Query, extra, softs, budget: Budget, model=None, polish: bool = True):
    """(model, minimised) for a counterexample.

    With ``polish`` (the policy checks) and at most :data:`OPTIMIZE_MAX_SOFTS` soft constraints,
    Z3's Optimize (MaxSMT) answers first, within a capped share of the budget: the optimum.
    Otherwise, or if it runs out, the greedy minimiser (fast on every family measured,
    docs/proofs.md); then, with ``polish``, if it left two or more of the heaviest soft
    constraints unsatisfied (so a better answer may exist), Optimize gets its share again and
    the better of the two is kept. Traces (``polish=False``) use the greedy minimiser only:
    Optimize over a whole unrolling took seconds where the greedy pass takes tenths."""
    softs = [(f, w) for f, w in softs if f is not True and f is not False]
    extra = list(extra)
    if model is None and not extra:
        model = query.model()
    if not softs:
        return model, True

    def cap() -> Budget:
        return Budget(min(budget.remaining() * OPTIMIZE_SHARE, OPTIMIZE_CAP), budget.rlimit)

    if polish and len(softs) <= OPTIMIZE_MAX_SOFTS:
        best = minimise(query, extra, softs, cap())
        if best is not None:
            return best, True
    got = greedy_minimise(query, extra, softs, budget, model, light_seconds=LIGHT_TIER_SECONDS)
    if got is None:
        return model, False
    top = max(w for _, w in softs)

    def missed_top(m) -> int:
        return sum(1 for f, w in softs if w == top and not z3.is_true(m.eval(f, model_completion=True)))

    def score(m) -> int:
        return sum(w for f, w in softs if z3.is_true(m.eval(f, model_completion=True)))

    if polish and len(softs) > OPTIMIZE_MAX_SOFTS and missed_top(got) >= 2 and not budget.expired():
        better = minimise(query, extra, softs, cap())
        if better is not None and score(better) > score(got):
            got = better
    return got, True
