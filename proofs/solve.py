"""Solver plumbing: budgets, solver configurations (the ladder), and tracked queries.

Consumes: an :class:`~libet.proofs.encode.Encoder` and the formulas a check builds.
Produces: :class:`Answer` records (sat / unsat / unknown with the reason) and unsat cores named
by the spec facts the encoder recorded.

The ladder (docs/proofs.md has the measurements): each query family has an ordered list of
:class:`Rung` configurations. A check runs the first rung with part of its time; if that ends
unknown (a timeout, a resource limit, an incomplete theory), the next rung gets part of what is
left, and the last rung gets all of it. Only when every rung has failed is the check UNKNOWN.
"""

from __future__ import annotations

import time
from typing import Any, Iterable

import attrs
import z3

from libet.proofs.encode import BV_ENCODING, INT_ENCODING, SORT_ENCODING, Encoder, Encoding


@attrs.define
class Budget:
    """A per-check time budget (seconds) and an optional Z3 resource limit per solver call."""

    seconds: float
    rlimit: int | None = None
    start: float = attrs.field(factory=time.monotonic)

    def elapsed(self) -> float:
        return time.monotonic() - self.start

    def remaining(self) -> float:
        return max(0.0, self.seconds - self.elapsed())

    def expired(self) -> bool:
        return self.remaining() <= 0.0

    def slice(self, share: float) -> "Budget":
        """A sub-budget: ``share`` of what remains, ending no later than this one."""
        return Budget(self.remaining() * share, self.rlimit)

    def ms(self) -> int:
        return max(1, int(self.remaining() * 1000))


class OutOfTime(Exception):
    """The check's budget ran out between solver calls (e.g. while encoding)."""


@attrs.frozen
class Rung:
    """One solver configuration: an encoding of finite domains and a solver.

    ``solver``: ``"smt"`` (Z3's default solver, incremental: assumptions and push/pop),
    ``"qffd"`` (the finite-domain solver: bit-blasting to SAT; needs a query without real
    arithmetic), ``"oneshot"`` (a tactic pipeline that preprocesses the whole query once:
    simplify, solve equations, eliminate ite, then the SMT core).
    """

    name: str
    encoding: Encoding
    solver: str = "smt"
    method: str = ""  # for safe: "unrolled", "incremental" or "race" (horizon none)


SMT_INT = Rung("int/smt", INT_ENCODING, "smt")
ONESHOT_INT = Rung("int/one-shot", INT_ENCODING, "oneshot")
QFFD_BV = Rung("bv/qf_fd", BV_ENCODING, "qffd")
SMT_BV = Rung("bv/smt", BV_ENCODING, "smt")
SMT_SORT = Rung("enum-sort/smt", SORT_ENCODING, "smt")
BMC_UNROLLED = Rung("int/unrolled", INT_ENCODING, "smt", "unrolled")
BMC_INCREMENTAL = Rung("int/incremental", INT_ENCODING, "smt", "incremental")
UNBOUNDED_RACE = Rung("int/race", INT_ENCODING, "smt", "race")

#: The ladder per query family and policy shape, fastest first as measured by
#: ``benchmarks/bench_proofs.py --ladder`` (docs/proofs.md, "The solver ladder"); the shapes are
#: defined by :func:`libet.proofs.policy.policy_shape`. In short: bit-blasting to SAT (QF_FD)
#: wins on pure finite-domain logic (graph-colouring-like rule sets: 2-4x, and the only
#: configuration to finish on the hardest instance measured), loses 19x on rule lists over
#: ints; bit-vectors with arithmetic (bv/smt) time out where Ints take a tenth of a second.
LADDERS: dict[tuple[str, str], tuple[Rung, ...]] = {
    ("policy", "finite"): (QFFD_BV, SMT_INT, SMT_SORT),
    ("policy", "boolean"): (SMT_INT, SMT_SORT, QFFD_BV),
    ("policy", "arith"): (SMT_INT, ONESHOT_INT, SMT_SORT),
    ("bmc", "any"): (BMC_INCREMENTAL, BMC_UNROLLED),
    ("unbounded", "any"): (UNBOUNDED_RACE,),
}

#: Share of the remaining time given to each rung but the last (which gets all that is left).
RUNG_SHARE = 0.5


def ladder(family: str, shape: str) -> tuple[Rung, ...]:
    return LADDERS.get((family, shape)) or LADDERS[(family, "any")]


def make_solver(rung: Rung, ctx: z3.Context):
    if rung.solver == "qffd":
        return z3.SolverFor("QF_FD", ctx=ctx)
    if rung.solver == "oneshot":
        t = z3.Then(
            z3.Tactic("simplify", ctx),
            z3.Tactic("propagate-values", ctx),
            z3.Tactic("solve-eqs", ctx),
            z3.Tactic("elim-term-ite", ctx),
            z3.Tactic("smt", ctx),
            ctx=ctx,
        )
        return t.solver()
    return z3.Solver(ctx=ctx)


@attrs.frozen
class Answer:
    status: str  # "sat" | "unsat" | "unknown"
    reason: str | None = None
    seconds: float = 0.0


def unknown_reason(text: str, budget: Budget) -> str:
    """A short, honest reason for a Z3 ``unknown``. Z3 reports an exhausted resource limit as
    "canceled" in some places, so a stop before the time is up, with a limit set, is that."""
    t = (text or "").lower()
    if "resource" in t or "rlimit" in t:
        return f"resource limit: Z3's rlimit of {budget.rlimit} was reached"
    if "timeout" in t or "canceled" in t or "cancelled" in t:
        if budget.rlimit and budget.remaining() > 0.01:
            return f"resource limit: Z3's rlimit of {budget.rlimit} was reached"
        return f"timeout: no answer within the {budget.seconds:g} s budget"
    if "nonlinear" in t or "non-linear" in t or "incomplete" in t:
        return f"non-linear arithmetic Z3 could not decide ({text})"
    return f"Z3 answered unknown ({text or 'no reason given'})"


class Query:
    """A solver with the facts of an encoder asserted under tracking literals.

    Each fact label (``rule:deep:1``, ``value:no_weapon_uplift``, ...) gets one literal; every
    check passes all literals as assumptions, so an unsat core names the facts the proof used.
    Without tracking the facts are asserted as they are.
    """

    def __init__(self, enc: Encoder, rung: Rung, budget: Budget):
        self.enc = enc
        self.ctx = enc.ctx
        self.rung = rung
        self.budget = budget
        self.solver = make_solver(rung, enc.ctx)
        self.lits: dict[str, Any] = {}
        self.hard: list = []  # every formula asserted (facts included, without literals)
        self.last: Answer | None = None
        self._scopes: list[tuple[int, list]] = []

    def add(self, *formulas) -> None:
        for f in formulas:
            if f is True:
                continue
            f = self.enc.as_bool(f)
            self.hard.append(f)
            self.solver.add(f)

    def _assert_fact(self, label: str, f) -> None:
        self.hard.append(f)
        if self.enc.track:
            lit = self.lits.get(label)
            if lit is None:
                lit = z3.Bool(f"@{label}", self.ctx)
                self.lits[label] = lit
            self.solver.add(z3.Implies(lit, f))
        else:
            self.solver.add(f)

    def sync(self) -> None:
        for label, f in self.enc.take_facts():
            self._assert_fact(label, f)
            if self._scopes:
                self._scopes[-1][1].append((label, f))

    def push(self):
        self.sync()
        self.solver.push()
        self._scopes.append((len(self.hard), []))

    def pop(self):
        """Undo what was added since the matching push, except the encoder's facts (they define
        named terms that may be used again), which are re-asserted outside the scope."""
        self.solver.pop()
        size, facts = self._scopes.pop()
        del self.hard[size:]
        for label, f in facts:
            self._assert_fact(label, f)
            if self._scopes:
                self._scopes[-1][1].append((label, f))

    def check(self, *assumptions) -> Answer:
        self.sync()
        if self.budget.expired():
            raise OutOfTime()
        self.solver.set("timeout", self.budget.ms())
        if self.budget.rlimit:
            self.solver.set("rlimit", int(self.budget.rlimit))
        t0 = time.monotonic()
        assumed = [a for a in assumptions if a is not True]
        if any(a is False for a in assumed):
            self.last = Answer("unsat", None, 0.0)
            return self.last
        r = self.solver.check(*(list(self.lits.values()) + assumed))
        dt = time.monotonic() - t0
        if r == z3.sat:
            self.last = Answer("sat", None, dt)
        elif r == z3.unsat:
            self.last = Answer("unsat", None, dt)
        else:
            self.last = Answer("unknown", unknown_reason(self.solver.reason_unknown(), self.budget), dt)
        return self.last

    def model(self):
        return self.solver.model()

    def core(self) -> tuple[set[str], list]:
        """(fact labels, other assumptions) in the unsat core of the last check."""
        core = self.solver.unsat_core()
        by_lit = {lit.get_id(): label for label, lit in self.lits.items()}
        labels, others = set(), []
        for c in core:
            label = by_lit.get(c.get_id())
            if label is None:
                others.append(c)
            else:
                labels.add(label)
        return labels, others


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
