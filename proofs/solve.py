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
#: ``benchmarks/bench_proofs.py --ladder`` (docs/proofs.md, "The solver ladder").
#: ``boolean``: every veto condition is Boolean logic over finite domains and every strength a
#: constant; ``arith``: some condition or strength does arithmetic (e.g. a weighted sum).
LADDERS: dict[tuple[str, str], tuple[Rung, ...]] = {
    ("policy", "boolean"): (SMT_INT, QFFD_BV, ONESHOT_INT),
    ("policy", "arith"): (SMT_INT, ONESHOT_INT, SMT_BV),
    ("bmc", "any"): (BMC_UNROLLED, BMC_INCREMENTAL),
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
    """A short, honest reason for a Z3 ``unknown``."""
    t = (text or "").lower()
    if "timeout" in t or "canceled" in t or "cancelled" in t:
        return f"timeout: no answer within the {budget.seconds:g} s budget"
    if "resource" in t or "rlimit" in t:
        return f"resource limit: Z3's rlimit of {budget.rlimit} was reached"
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
