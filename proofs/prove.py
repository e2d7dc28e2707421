"""The runner: decide qualitative checks and return typed results.

Consumes: a checked spec, the checks to decide (named by selections, or given), a per-check
timeout, an optional Z3 resource limit, parameter overrides and variable restrictions.
Produces: one :class:`~libet.results.CheckResult` per check, in order: PROVED with a
:class:`~libet.proofs.evidence.ProofSummary`, VIOLATED with a counterexample replayed by the
reference interpreter, or UNKNOWN with the reason.

Everything specific to a kind of check is its :class:`~libet.proofs.kinds.ProofKind`, looked up
by the type of its property; the runner does what is common to all. Each check climbs its
kind's solver ladder (:mod:`libet.proofs.solve`): a rung that ends unknown hands the rest of the
time to the next. Vacuity (a policy that never fires or always fires, no harmful or no benign
assignment) is decided once per policy and attached as warnings to the checks it makes hollow.
"""

from __future__ import annotations

import time
from typing import Any, Callable, Iterable, Iterator, Mapping

import z3

from libet.errors import UsageError
from libet.heap import collected_after, no_full_collection
from libet.proofs import policy, wellformed
from libet.proofs.evidence import Fact, ProofSummary
from libet.proofs.kinds import KINDS, ProofKind
from libet.proofs.solve import RUNG_SHARE, SMT_INT, Budget, Outcome, OutOfTime, check_limits, deadline
from libet.proofs.tables import Unencodable
from libet.results import CheckResult, Status
from libet.spec import ir
from libet.spec.interpreter import Interpreter
from libet.spec.overrides import check_fixed, check_overrides
from libet.spec.select import select_checks
from libet.spec.structural import bind

DEFAULT_TIMEOUT = 30.0
#: Share of the first check's timeout for the vacuity questions about its policy (never fires,
#: always fires, no harmful or no benign assignment), asked once per policy.
VACUITY_SHARE = 0.1


def prove(
    spec: ir.Spec,
    *,
    policies: Iterable[str] | None = None,
    checks: Iterable[str] | None = None,
    timeout: float = DEFAULT_TIMEOUT,
    rlimit: int | None = None,
    params: Mapping[str, Any] | None = None,
    fixed: Mapping[str, Any] | None = None,
) -> list[CheckResult]:
    """Decide the qualitative checks (those :data:`~libet.proofs.kinds.KINDS` has a kind for)
    of ``spec``.

    Args:
        spec: the checked IR.
        policies: only the checks of these policies (default: all).
        checks: only checks with these names, as written (``"safe"``, ``"invariant under
            framing"``; default: all).
        timeout: seconds per check (each check's ladder shares it).
        rlimit: Z3's deterministic resource limit per solver call (``None``: no limit).
        params: parameter overrides, name -> number within the declared range.
        fixed: restrict variables to one value each (every check then quantifies over the
            assignments with those values).

    Raises:
        UsageError: an unknown policy, check, param or variable, or a value out of range.
        EvaluationError: the spec has no value at a state a counterexample passes through (a
            spec error found only now; it names the expression and the state).
        InternalError: Z3 and the reference interpreter disagree (a bug in libet).
    """
    pairs = iter_prove(spec, policies=policies, checks=checks, timeout=timeout, rlimit=rlimit, params=params, fixed=fixed)
    return [run() for _, run in pairs]


def iter_prove(
    spec: ir.Spec,
    *,
    policies: Iterable[str] | None = None,
    checks: Iterable[str] | None = None,
    timeout: float = DEFAULT_TIMEOUT,
    rlimit: int | None = None,
    params: Mapping[str, Any] | None = None,
    fixed: Mapping[str, Any] | None = None,
) -> Iterator[tuple[ir.Check, Callable[[], CheckResult]]]:
    """Like :func:`prove`, one check at a time: yields (check, run) pairs; ``run()`` decides
    the check (so a caller can show progress). Arguments are validated before the first yield."""
    return iter_decide(spec, select(spec, policies, checks), timeout=timeout, rlimit=rlimit, params=params, fixed=fixed)


def iter_decide(
    spec: ir.Spec,
    checks: list[ir.Check],
    *,
    timeout: float = DEFAULT_TIMEOUT,
    rlimit: int | None = None,
    params: Mapping[str, Any] | None = None,
    fixed: Mapping[str, Any] | None = None,
) -> list[tuple[ir.Check, Callable[[], CheckResult]]]:
    """Exactly ``checks`` (qualitative checks of ``spec``), in order, as (check, run) pairs
    sharing one run: the vacuity questions are asked once per policy. Arguments as for
    :func:`prove`, validated before the first pair.

    Raises:
        UsageError: a bad argument, or a check that is not qualitative or names no policy of
            the spec. Otherwise as :func:`prove`.
    """
    runner = Runner(spec, timeout, rlimit, params, fixed)
    spec = runner.spec
    for c in checks:
        if type(c.prop) not in KINDS:
            raise UsageError(f"check '{c.name}' of policy {c.policy} is not decided by libet.proofs (it is quantitative)")
        if c.policy not in spec.policies:
            raise UsageError(f"check '{c.name}' names no policy of the spec ({c.policy})")
    return [(c, (lambda c=c: runner.run(c))) for c in checks]


def decide(spec: ir.Spec, checks: list[ir.Check], **options) -> list[CheckResult]:
    """Decide exactly ``checks``, in order, in one run (see :func:`iter_decide`)."""
    return [run() for _, run in iter_decide(spec, checks, **options)]


def select(spec: ir.Spec, policies: Iterable[str] | None, checks: Iterable[str] | None) -> list[ir.Check]:
    """The qualitative checks the selections name, in the spec's order."""
    return select_checks(spec, policies, checks, lambda c: type(c.prop) in KINDS, "qualitative check")


class Runner:
    """One run of checks: the validated arguments, the reference interpreter, and what is
    asked once per policy (strengths, vacuity) or once per run (``memo``, for the kinds).

    Raises:
        UsageError: a param, variable value, timeout or resource limit that is not valid.
    """

    def __init__(self, spec: ir.Spec, timeout, rlimit, params, fixed):
        self.params = check_overrides(spec, params)
        self.fixed = check_fixed(spec, fixed)
        spec = bind(spec, self.params)  # a horizon or weights over params, at these params
        timeout, rlimit = check_limits(timeout, rlimit)
        self.spec = spec
        self.timeout = float(timeout)
        self.rlimit = rlimit
        self.interp = Interpreter(spec, self.params, exact=True)
        self.memo: dict = {}
        self._vacuity: dict[str, policy.Vacuity] = {}
        self._strengths_done: set[str] = set()

    def run(self, check: ir.Check) -> CheckResult:
        """Decide ``check`` within the run's budget. A full collection of Python's cyclic
        garbage collector cannot be interrupted, and in a process with a large heap one can
        outlast a short budget, so none starts while the check runs
        (:func:`libet.heap.no_full_collection`); what the check leaves in cycles (its Z3
        context) is collected after it, outside the budget (:func:`libet.heap.collected_after`)."""
        with collected_after(), no_full_collection():
            return self._run(check)

    def _run(self, check: ir.Check) -> CheckResult:
        kind = KINDS[type(check.prop)]
        t0 = time.monotonic()
        whole = Budget(self.timeout, self.rlimit, start=t0)
        try:
            # Enumerations and interpreter evaluations count against the budget too; a
            # well-formedness question not finished in time is asked again by the next check.
            with deadline(whole):
                if check.policy not in self._strengths_done:  # once per policy, within a share
                    wellformed.strengths(self.spec, check.policy, whole.slice(wellformed.SHARE), self.params, self.fixed)
                    self._strengths_done.add(check.policy)
                kind.prepare(self, check, whole)
        except OutOfTime:
            return CheckResult(
                check.policy,
                check.name,
                Status.UNKNOWN,
                seconds=time.monotonic() - t0,
                engine=kind.engine,
                reason=f"timeout: no answer within the {self.timeout:g} s budget (spent checking that the "
                "policy's strengths and the transitions are well formed where the static checker could not)",
            )
        vac = self.vacuity(check.policy, whole)  # once per policy, within a share of this budget
        outcome, tried = self._climb(kind, check, Budget(whole.remaining(), self.rlimit))
        details: dict = {"solver": tried[-1]["config"] if tried else None, "ladder": tried}
        details.update({k: v for k, v in outcome.details.items() if k in ("bound", "k", "method")})
        if self.params:
            details["params"] = {k: float(v) for k, v in self.params.items()}
        if self.fixed:
            details["fixed"] = dict(self.fixed)
        warnings = tuple(self._warnings(kind, check, outcome.status, vac, whole))
        seconds = time.monotonic() - t0
        common = dict(seconds=seconds, engine=kind.engine_of(outcome), warnings=warnings, details=details)
        if outcome.status == "violated":
            cex = kind.replay(self, check, outcome)
            return CheckResult(check.policy, check.name, Status.VIOLATED, counterexample=cex, **common)
        if outcome.status == "proved":
            return CheckResult(check.policy, check.name, Status.PROVED, proof=self._summary(kind, check, outcome), **common)
        reason = outcome.reason or "unknown"
        if reason.startswith("timeout"):
            reason = f"timeout: no answer within the {self.timeout:g} s budget"
        if len(tried) > 1:
            reason += " (configurations tried: " + ", ".join(t["config"] for t in tried) + ")"
        reason += kind.unknown_note(outcome)
        return CheckResult(check.policy, check.name, Status.UNKNOWN, reason=reason, **common)

    def _climb(self, kind: ProofKind, check: ir.Check, budget: Budget) -> tuple[Outcome, list[dict]]:
        """The kind's ladder, rung by rung, until one decides (or the time is up)."""
        rungs = kind.ladder(self.spec, check)
        tried: list[dict] = []
        outcome = None
        for i, rung in enumerate(rungs):
            sub = budget if i == len(rungs) - 1 else budget.slice(RUNG_SHARE)
            t1 = time.monotonic()
            try:
                with deadline(sub):
                    outcome = kind.attempt(self, check, rung, sub)
            except Unencodable as u:
                tried.append({"config": rung.name, "status": "unencodable", "seconds": round(time.monotonic() - t1, 4)})
                return Outcome("unknown", reason=u.text()), tried
            except OutOfTime:
                outcome = Outcome("unknown", reason=f"timeout: no answer within the {self.timeout:g} s budget")
            except z3.Z3Exception as exc:
                outcome = Outcome("unknown", reason=f"Z3 error: {exc}")
            tried.append({"config": rung.name, "status": outcome.status, "seconds": round(time.monotonic() - t1, 4)})
            if outcome.status != "unknown" or budget.expired():
                break
        assert outcome is not None
        return outcome, tried

    def _summary(self, kind: ProofKind, check: ir.Check, outcome: Outcome) -> ProofSummary:
        facts = outcome.facts or {}
        core = outcome.core or frozenset()

        def fact(label):
            info = facts[label]
            return Fact(info.kind, info.name, info.text, str(info.span) if info.span else None)

        return ProofSummary(
            method=kind.method_of(outcome),
            statement=kind.statement(self.spec, check),
            used=tuple(fact(label) for label in facts if label in core),
            unused=tuple(fact(label) for label in facts if label not in core),
            bound=kind.bound(outcome),
            invariant=outcome.details.get("invariant"),
            recheck=tuple(outcome.details.get("recheck", ())),
            notes=tuple(kind.notes(self.spec, check, outcome)),
        )

    # -- vacuity --------------------------------------------------------------------------------

    def vacuity(self, name: str, budget: Budget) -> policy.Vacuity:
        """What policy ``name`` does at all (asked once, within a share of ``budget``)."""
        hit = self._vacuity.get(name)
        if hit is None:
            share = budget.slice(VACUITY_SHARE)
            try:
                with deadline(share):  # its encoding counts against the share too
                    hit = policy.vacuity(self.spec, name, SMT_INT, share, self.params, self.fixed)
            except (Unencodable, OutOfTime, z3.Z3Exception):
                hit = policy.UNDECIDED
            self._vacuity[name] = hit
        return hit

    def _warnings(self, kind: ProofKind, check: ir.Check, status: str, vac: policy.Vacuity, budget: Budget) -> list[str]:
        p = check.policy
        out = []
        if vac.fires is False:
            out.append(f"policy {p} never fires: its veto probability is 0 at every state of every assignment")
        if vac.idles is False:
            out.append(f"policy {p} fires at every state of every assignment: it vetoes whatever the request is")
        return out + kind.warnings(self, check, status, vac, budget)
