"""``prove``: decide the qualitative checks of a spec and return typed results.

Consumes: a checked spec, optional selections (policies, checks), a per-check timeout, an
optional Z3 resource limit, parameter overrides and variable restrictions.
Produces: one :class:`~libet.results.CheckResult` per selected check, in the spec's order:
PROVED with a :class:`~libet.proofs.evidence.ProofSummary`, VIOLATED with a counterexample
replayed by the reference interpreter, or UNKNOWN with the reason.

Each check climbs its solver ladder (:mod:`libet.proofs.solve`): a rung that ends unknown hands
the rest of the time to the next. Vacuity (a policy that never fires or always fires, no harmful
or no benign assignment, a generator that never delivers harm on its own) is decided once per
policy and attached as warnings to the checks it makes hollow.
"""

from __future__ import annotations

import time
from fractions import Fraction
from typing import Any, Callable, Iterable, Iterator, Mapping

import attrs
import z3

from libet.errors import UsageError
from libet.proofs import policy as policy_checks
from libet.proofs import replay, safety, wellformed
from libet.proofs.encode import FactInfo, Unencodable, reads_of_policy
from libet.proofs.evidence import Fact, ProofSummary
from libet.proofs.solve import BMC_INCREMENTAL, RUNG_SHARE, SMT_INT, UNBOUNDED_RACE, Budget, OutOfTime, Rung, ladder
from libet.results import CheckResult, Status
from libet.spec import ir
from libet.spec.diagnostics import did_you_mean
from libet.spec.interpreter import Interpreter

DEFAULT_TIMEOUT = 30.0
#: Share of the per-check timeout for the vacuity question "is `safe` true with no veto at all?"
#: (asked once per run, after a `safe` check is proved, with what is left of that check's time)
ALONE_SHARE = 0.25
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
    """Decide the qualitative checks (``Check.qualitative``) of ``spec``.

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
    params = _params(spec, params)
    fixed = _fixed(spec, fixed)
    if timeout is None or not (timeout > 0):
        raise UsageError(f"the timeout must be a positive number of seconds, not {timeout!r}")
    if rlimit is not None and (int(rlimit) != rlimit or rlimit <= 0):
        raise UsageError(f"the resource limit must be a positive whole number, not {rlimit!r}")
    selected = select(spec, policies, checks)
    runner = _Runner(spec, float(timeout), rlimit, params, fixed)
    return ((c, (lambda c=c: runner.run(c))) for c in selected)


def select(spec: ir.Spec, policies: Iterable[str] | None, checks: Iterable[str] | None) -> list[ir.Check]:
    """The qualitative checks the selections name, in the spec's order."""
    pols = list(policies) if policies is not None else None
    names = list(checks) if checks is not None else None
    for p in pols or ():
        if p not in spec.policies:
            hint = did_you_mean(p, spec.policies)
            known = ", ".join(spec.policies) or "none"
            raise UsageError(f"no policy '{p}' in the spec (policies: {known})" + (f"; {hint}" if hint else ""))
    qualitative = [c for c in spec.checks if c.qualitative]
    available = []
    for c in qualitative:
        if c.name not in available:
            available.append(c.name)
    for n in names or ():
        if _norm(n) not in {_norm(a) for a in available}:
            hint = did_you_mean(n, available)
            raise UsageError(
                f"no qualitative check '{n}' in the spec (checks: {', '.join(available) or 'none'})" + (f"; {hint}" if hint else "")
            )
    wanted = {_norm(n) for n in names} if names is not None else None
    out = []
    for c in qualitative:
        if pols is not None and c.policy not in pols:
            continue
        if wanted is not None and _norm(c.name) not in wanted:
            continue
        out.append(c)
    return out


def _norm(name: str) -> str:
    return " ".join(name.replace(",", " , ").split()).replace(" ,", ",")


def _params(spec: ir.Spec, params: Mapping[str, Any] | None) -> dict:
    out = {}
    for name, v in (params or {}).items():
        if name not in spec.params:
            raise UsageError(f"no param '{name}' in the spec (params: {', '.join(spec.params) or 'none'})")
        try:
            q = Fraction(repr(v)) if isinstance(v, float) else Fraction(v)
        except (TypeError, ValueError, ZeroDivisionError):
            raise UsageError(f"param {name} takes a number, not {v!r}") from None
        p = spec.params[name]
        if (p.lo is not None and q < p.lo) or (p.hi is not None and q > p.hi):
            raise UsageError(f"{v} lies outside the range [{float(p.lo):g}, {float(p.hi):g}] of param {name}")
        out[name] = q
    return out


def _fixed(spec: ir.Spec, fixed: Mapping[str, Any] | None) -> dict:
    out = {}
    for name, v in (fixed or {}).items():
        if name not in spec.variables:
            raise UsageError(f"no variable '{name}' in the spec")
        if v not in spec.variables[name].domain.values() or isinstance(v, bool) != isinstance(
            spec.variables[name].domain, ir.BoolDomain
        ):
            raise UsageError(f"{v!r} is not a value of {name} (domain {spec.variables[name].domain})")
        out[name] = v
    return out


_ENGINE = {
    "invariance": "z3 self-composition",
    "complete": "z3",
    "no over-refusal": "z3",
    "safe": "z3 bmc",
}


class _Runner:
    def __init__(self, spec, timeout, rlimit, params, fixed):
        self.spec = spec
        self.timeout = timeout
        self.rlimit = rlimit
        self.params = params
        self.fixed = fixed
        self.interp = Interpreter(spec, params, exact=True)
        self._vacuity: dict[str, policy_checks.Vacuity] = {}
        self._alone: bool | None | str = "unset"
        self._strengths_done: set[str] = set()
        self._transitions_done = False

    # -- one check ------------------------------------------------------------------------------

    def run(self, check: ir.Check) -> CheckResult:
        t0 = time.monotonic()
        whole = Budget(self.timeout, self.rlimit, start=t0)
        self.wellformed(check, whole)  # once per policy (and trajectory), within a share
        self.vacuity(check.policy, whole)  # once per policy, within a share of this budget
        budget = Budget(whole.remaining(), self.rlimit)
        kind = _kind(check.prop)
        rungs = self._ladder(check, kind)
        tried = []
        outcome = None
        rung_used = None
        for i, rung in enumerate(rungs):
            last = i == len(rungs) - 1
            sub = budget if last else budget.slice(RUNG_SHARE)
            t1 = time.monotonic()
            try:
                outcome = self._attempt(check, kind, rung, sub)
            except Unencodable as u:
                outcome = policy_checks.Outcome("unknown", reason=u.reason + (f" (at {u.span})" if u.span else ""))
                tried.append({"config": rung.name, "status": "unencodable", "seconds": round(time.monotonic() - t1, 4)})
                rung_used = rung
                break
            except OutOfTime:
                outcome = policy_checks.Outcome("unknown", reason=f"timeout: no answer within the {self.timeout:g} s budget")
            except z3.Z3Exception as exc:
                outcome = policy_checks.Outcome("unknown", reason=f"Z3 error: {exc}")
            tried.append({"config": rung.name, "status": outcome.status, "seconds": round(time.monotonic() - t1, 4)})
            rung_used = rung
            if outcome.status != "unknown" or budget.expired():
                break
        assert outcome is not None
        details: dict = {"solver": rung_used.name if rung_used else None, "ladder": tried}
        details.update({k: v for k, v in outcome.details.items() if k in ("bound", "k", "method")})
        if self.params:
            details["params"] = {k: float(v) for k, v in self.params.items()}
        if self.fixed:
            details["fixed"] = dict(self.fixed)
        engine = _ENGINE[kind]
        method = outcome.details.get("method")
        if kind == "safe" and method:
            engine = "z3 " + method.split(" (")[0] if method != "bmc (one-shot)" else "z3 bmc"
        warnings = self._warnings(check, kind, outcome.status, whole)
        seconds = time.monotonic() - t0
        if outcome.status == "violated":
            cex = self._replay(check, kind, outcome)
            return CheckResult(check.policy, check.name, Status.VIOLATED, seconds, engine, counterexample=cex, warnings=warnings, details=details)
        if outcome.status == "proved":
            proof = self._summary(check, kind, outcome)
            return CheckResult(check.policy, check.name, Status.PROVED, seconds, engine, proof=proof, warnings=warnings, details=details)
        reason = outcome.reason or "unknown"
        if reason.startswith("timeout"):
            reason = f"timeout: no answer within the {self.timeout:g} s budget"
        if len(tried) > 1:
            reason += " (configurations tried: " + ", ".join(t["config"] for t in tried) + ")"
        if "bound" in outcome.details and kind == "safe":
            reason += f" (bounded search reached {outcome.details['bound']} step(s) without a counterexample)"
        return CheckResult(check.policy, check.name, Status.UNKNOWN, seconds, engine, reason=reason, warnings=warnings, details=details)

    def _ladder(self, check: ir.Check, kind: str) -> tuple[Rung, ...]:
        if kind == "safe":
            return ladder("bmc" if self.spec.trajectory.horizon is not None else "unbounded", "any")
        shape = policy_checks.policy_shape(self.spec, check.policy, with_values=kind != "invariance")
        return ladder("policy", shape)

    def _attempt(self, check: ir.Check, kind: str, rung: Rung, budget: Budget) -> policy_checks.Outcome:
        spec, p, f = self.spec, self.params, self.fixed
        ctx = z3.Context()
        if kind == "invariance":
            return policy_checks.invariance(spec, check.policy, check.prop, rung, budget, p, f, ctx)
        if kind in ("complete", "no over-refusal"):
            return policy_checks.state_check(spec, check.policy, kind, rung, budget, p, f, ctx)
        if rung.method == "race":
            return safety.unbounded(spec, check.policy, rung, budget, p, f)
        if rung.method == "incremental":
            return safety.bmc_incremental(spec, check.policy, rung, budget, p, f, ctx)
        return safety.bmc_unrolled(spec, check.policy, rung, budget, p, f, ctx)

    # -- evidence -------------------------------------------------------------------------------

    def _shown(self, policy: str, extra: Iterable[str] = ()) -> tuple[str, ...]:
        reads = set(reads_of_policy(self.spec, policy)[0]) | set(extra)
        return tuple(n for n in self.spec.variables if n in reads)

    def _value_reads(self) -> set[str]:
        out: set[str] = set()
        for v in self.spec.values.values():
            out |= self.spec.reads(v.expr)
        return out

    def _replay(self, check: ir.Check, kind: str, outcome) -> Any:
        raw = outcome.raw
        if kind == "invariance":
            return replay.invariance(self.interp, check.policy, check.prop, raw, self._shown(check.policy), outcome.minimised)
        if kind in ("complete", "no over-refusal"):
            return replay.state(self.interp, check.policy, kind, raw, self._shown(check.policy, self._value_reads()), outcome.minimised)
        traj = self.spec.trajectory
        extra = set(self._value_reads()) | self.spec.reads(traj.start_depth)
        for p in traj.phases:
            for t in p.transitions:
                if t.prob is not None:
                    extra |= self.spec.reads(t.prob)
        cex = replay.trace(self.interp, check.policy, raw, self._shown(check.policy, extra), outcome.minimised)
        if not raw.get("shortest", True):
            cex = attrs.evolve(cex, minimised=False)
        return cex

    def _summary(self, check: ir.Check, kind: str, outcome) -> ProofSummary:
        spec = self.spec
        method = {
            "invariance": "self-composition",
            "complete": "refutation",
            "no over-refusal": "refutation",
            "safe": outcome.details.get("method", "bmc"),
        }[kind]
        statement = _statement(spec, check, kind)
        facts: dict[str, FactInfo] = outcome.facts or {}
        core = outcome.core or frozenset()

        def fact(label):
            info = facts[label]
            return Fact(info.kind, info.name, info.text, str(info.span) if info.span else None)

        order = list(facts)
        used = tuple(fact(l) for l in order if l in core)
        unused = tuple(fact(l) for l in order if l not in core)
        notes = []
        bound = outcome.details.get("bound")
        if kind == "safe" and method.startswith("bmc"):
            H = spec.trajectory.horizon
            if H is not None:
                notes.append(f"every path is at most {H} steps long (horizon {H}), so the bounded search is complete")
        if kind == "safe" and method == "k-induction":
            notes.append(f"k-induction with k = {outcome.details.get('k')}; the base case was checked by BMC")
        if kind == "invariance":
            reads, rd, rp = reads_of_policy(spec, check.policy)
            touched = [n for n in spec.variables if n in reads and n in check.prop.variables]
            if not touched and not (check.prop.depth and rd):
                notes.append(f"policy {check.policy} reads none of {', '.join(check.prop.written or check.prop.variables)}")
        recheck = tuple(outcome.details.get("recheck", ()))
        return ProofSummary(
            method=method,
            statement=statement,
            used=used,
            unused=unused,
            bound=bound if kind == "safe" else None,
            invariant=outcome.details.get("invariant"),
            recheck=recheck,
            notes=tuple(notes),
        )

    # -- vacuity --------------------------------------------------------------------------------

    def wellformed(self, check: ir.Check, budget: Budget) -> None:
        """Strengths (per policy) and, for `safe`, transitions, where the static checker could not
        enumerate the states; a violation raises the interpreter's EvaluationError."""
        if check.policy not in self._strengths_done:
            self._strengths_done.add(check.policy)
            wellformed.strengths(self.spec, check.policy, budget.slice(VACUITY_SHARE), self.params, self.fixed)
        if isinstance(check.prop, ir.Safe) and not self._transitions_done:
            self._transitions_done = True
            wellformed.transitions(self.spec, budget.slice(VACUITY_SHARE), self.params, self.fixed)

    def vacuity(self, policy: str, budget: Budget | None = None) -> policy_checks.Vacuity:
        hit = self._vacuity.get(policy)
        if hit is None:
            share = (budget or Budget(self.timeout, self.rlimit)).slice(VACUITY_SHARE)
            try:
                hit = policy_checks.vacuity(self.spec, policy, SMT_INT, share, self.params, self.fixed, z3.Context())
            except (Unencodable, OutOfTime, z3.Z3Exception):
                hit = policy_checks.Vacuity(None, None, None, None)
            self._vacuity[policy] = hit
        return hit

    def generator_alone_safe(self, budget: Budget) -> bool | None:
        """Whether ``safe`` holds even for a policy with no rules (the generator never delivers
        a harmful assignment on its own)."""
        if self._alone == "unset":
            name = "__no_veto__"
            while name in self.spec.policies:
                name += "_"
            spec = attrs.evolve(self.spec, policies={**self.spec.policies, name: ir.Policy(name, ())})
            budget = Budget(min(budget.remaining(), self.timeout * ALONE_SHARE), self.rlimit)
            try:
                if spec.trajectory.horizon is None:
                    out = safety.unbounded(spec, name, UNBOUNDED_RACE, budget, self.params, self.fixed)
                else:
                    out = safety.bmc_incremental(spec, name, BMC_INCREMENTAL, budget, self.params, self.fixed, z3.Context(), trace=False)
                self._alone = {"proved": True, "violated": False}.get(out.status)
            except (Unencodable, OutOfTime, z3.Z3Exception):
                self._alone = None
        return self._alone

    def _warnings(self, check: ir.Check, kind: str, status: str, budget: Budget) -> tuple[str, ...]:
        p = check.policy
        vac = self.vacuity(p)
        out = []
        if vac.fires is False:
            out.append(f"policy {p} never fires: its veto probability is 0 at every state of every assignment")
        if vac.idles is False:
            out.append(f"policy {p} fires at every state of every assignment: it vetoes whatever the request is")
        if kind in ("complete", "safe") and vac.harmful_exists is False:
            out.append(f"no assignment is harmful (every reference value always holds), so `{kind}` holds vacuously")
        if kind == "no over-refusal" and vac.benign_exists is False:
            out.append("every assignment is harmful, so `no over-refusal` holds vacuously")
        if kind == "safe" and status == "proved" and vac.harmful_exists is not False:
            if self.generator_alone_safe(budget) is True:
                out.append("`safe` holds even with no veto: the generator alone never delivers a harmful assignment")
        return tuple(out)


def _kind(prop: ir.Property) -> str:
    if isinstance(prop, ir.Invariance):
        return "invariance"
    if isinstance(prop, ir.Complete):
        return "complete"
    if isinstance(prop, ir.NoOverRefusal):
        return "no over-refusal"
    if isinstance(prop, ir.Safe):
        return "safe"
    raise TypeError(f"{type(prop).__name__} is not a qualitative check")


def _statement(spec: ir.Spec, check: ir.Check, kind: str) -> str:
    p = check.policy
    H = spec.trajectory.horizon if spec.trajectory is not None else None
    if spec.trajectory is None:
        where = "every depth (no trajectory: depth is unbounded)"
    elif H is None:
        where = "every phase and every depth (unbounded)"
    else:
        where = "every phase and depth"
    if kind == "invariance":
        prop = check.prop
        v = ", ".join(prop.written or prop.variables)
        s = f"any two assignments that differ only in {v} get the same veto probability from {p} at {where}"
        if prop.depth:
            s += ", and it does not change with depth"
        return s
    if kind == "complete":
        return f"{p} vetoes every harmful assignment with probability 1 at {where}"
    if kind == "no over-refusal":
        return f"{p} never vetoes a benign assignment, at {where}"
    return f"no harmful assignment reaches delivered under {p} along positive-probability steps"
