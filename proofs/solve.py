"""Solver plumbing: budgets, solver configurations (the ladder), tracked queries, outcomes.

Consumes: an :class:`~libet.proofs.rules.Encoder` and the formulas a check builds.
Produces: :class:`Answer` records (sat / unsat / unknown with the reason), unsat cores named
by the spec facts the encoder recorded, and :class:`Outcome`, what every engine of a check
returns to the runner (:mod:`.prove`).

The ladder (docs/proofs.md has the measurements): each query family has an ordered list of
:class:`Rung` configurations. A check runs the first rung with part of its time; if that ends
unknown (a timeout, a resource limit, an incomplete theory), the next rung gets part of what is
left, and the last rung gets all of it. Only when every rung has failed is the check UNKNOWN.
"""

from __future__ import annotations

import contextlib
import numbers
import threading
import time
from typing import TYPE_CHECKING, Any

import attrs
import z3

from libet.errors import UsageError
from libet.proofs.domains import BV_ENCODING, INT_ENCODING, SORT_ENCODING, Encoding
from libet.proofs.facts import FactInfo

if TYPE_CHECKING:  # pragma: no cover
    from libet.proofs.rules import Encoder


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
        """What remains, in Z3's unit (milliseconds, an unsigned 32-bit number)."""
        return max(1, min(Z3_MAX_MS, int(self.remaining() * 1000)))


#: The longest timeout Z3 takes (its ``timeout`` parameter is an unsigned 32-bit count of ms).
Z3_MAX_MS = (1 << 32) - 1


def check_limits(timeout, rlimit=None) -> tuple[float, int | None]:
    """A check's time budget (seconds: a finite number > 0, at most Z3's ~49.7 days) and
    resource limit (a whole number > 0, or None), or a UsageError: one wording for every
    command and the API."""
    if isinstance(timeout, bool) or not isinstance(timeout, numbers.Real) or not 0 < timeout <= Z3_MAX_MS / 1000:
        raise UsageError(f"the timeout must be a number of seconds above 0 and at most {Z3_MAX_MS // 1000:,} "
                         f"(the longest Z3 takes), not {timeout!r}", "e.g. 30")
    if rlimit is not None and (isinstance(rlimit, bool) or not isinstance(rlimit, numbers.Real) or int(rlimit) != rlimit
                               or rlimit <= 0):
        raise UsageError(f"the resource limit must be a positive whole number, not {rlimit!r}")
    return float(timeout), None if rlimit is None else int(rlimit)


class OutOfTime(Exception):
    """The check's budget ran out between solver calls (e.g. while encoding)."""


_DEADLINE = threading.local()


@contextlib.contextmanager
def deadline(budget: Budget):
    """Within the block, :func:`check_deadline` raises OutOfTime once ``budget`` is spent: the
    encoding of a large spec is part of a check's time, not only the solver calls."""
    before = getattr(_DEADLINE, "at", None)
    _DEADLINE.at = time.monotonic() + budget.remaining()
    try:
        yield
    finally:
        _DEADLINE.at = before


def check_deadline() -> None:
    """Raise OutOfTime when the enclosing :func:`deadline` has passed (cheap; call it often)."""
    at = getattr(_DEADLINE, "at", None)
    if at is not None and time.monotonic() > at:
        raise OutOfTime


#: How often a :func:`watchdog` interrupts a Z3 call that is past its time.
WATCHDOG_EVERY = 0.02


@contextlib.contextmanager
def watchdog(ctx: z3.Context, seconds: float):
    """Within the block, a Z3 call on ``ctx`` still running ``seconds`` from now is interrupted,
    and again every :data:`WATCHDOG_EVERY` s until the block ends. For calls that do not keep
    their own ``timeout``: Z3's Optimize, once a MaxSAT round has hit it, starts the next round
    with no limit (measured: a 1 s timeout, 21 s on a 20,000-member enum as bit-vectors, 36 s
    as an enumeration sort; one interrupt is spent the same way). The call then ends as Z3's
    ``unknown`` (or raises ``Z3Exception``), the caller's case for running out. A lock keeps the
    interrupts inside the block: none lands on the context's next call."""
    done = threading.Event()
    lock = threading.Lock()

    def watch():
        if done.wait(max(0.0, seconds)):
            return
        while True:
            with lock:
                if done.is_set():
                    return
                ctx.interrupt()
            if done.wait(WATCHDOG_EVERY):
                return

    thread = threading.Thread(target=watch, name="libet-z3-watchdog", daemon=True)
    thread.start()
    try:
        yield
    finally:
        with lock:
            done.set()
        thread.join()


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


@attrs.frozen
class Outcome:
    """What one attempt at a check ends with: ``status`` is "proved", "violated" or "unknown";
    ``raw`` the counterexample as Z3 found it (the replay makes it a result), ``core`` and
    ``facts`` the facts a proof used and all it could have, ``details`` what the engine reports
    (``method``, ``bound``, ``k``, an invariant and its re-check)."""

    status: str
    raw: dict | None = None
    core: frozenset[str] | None = None
    facts: dict[str, FactInfo] = attrs.field(factory=dict)
    reason: str | None = None
    minimised: bool = False
    details: dict = attrs.field(factory=dict)


def proved(enc: "Encoder", core, **details) -> Outcome:
    """A proof whose unsat core names the facts ``core`` among the encoder's."""
    return Outcome("proved", core=frozenset(core), facts=dict(enc.facts.info), details=details)


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

    def __init__(self, enc: "Encoder", rung: Rung, budget: Budget):
        self.enc = enc
        self.ctx = enc.ctx
        self.budget = budget
        self.solver = make_solver(rung, enc.ctx)
        self.lits: dict[str, Any] = {}
        self.hard: list = []  # every formula asserted (facts included, without literals)
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
        if self.enc.facts.track:
            lit = self.lits.get(label)
            if lit is None:
                lit = z3.Bool(f"@{label}", self.ctx)
                self.lits[label] = lit
            self.solver.add(z3.Implies(lit, f))
        else:
            self.solver.add(f)

    def sync(self) -> None:
        for label, f in self.enc.facts.take():
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
        assumed = [a for a in assumptions if a is not True]
        if any(a is False for a in assumed):
            return Answer("unsat")
        r = self.solver.check(*(list(self.lits.values()) + assumed))
        if r == z3.sat:
            return Answer("sat")
        if r == z3.unsat:
            return Answer("unsat")
        return Answer("unknown", unknown_reason(self.solver.reason_unknown(), self.budget))

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
