"""The registry of qualitative check kinds: one object per IR property type.

Consumes: a check (:class:`~libet.spec.ir.Check`) whose property is one of the types in
:data:`KINDS`, and the run it is decided in (:class:`~libet.proofs.prove.Runner`: the spec,
params, fixed values, the reference interpreter, the budget, and facts asked once per run).
Produces: everything specific to that kind of check: the engine label of its result, its solver
ladder, one attempt on one rung (the query, through :mod:`.policy` or the engines of ``safe``),
the replay of a counterexample by the interpreter (:mod:`.replay`), the proof summary's method,
statement and notes, and its vacuity warnings.

The runner (:mod:`.prove`) looks a check's kind up by ``type(check.prop)`` and knows nothing
else about it; adding a qualitative check kind is a new :class:`ProofKind` here (and its IR
type). The quantitative properties (:class:`~libet.spec.ir.Bound`, :class:`~libet.spec.ir.Gap`,
:class:`~libet.spec.ir.OutcomeInvariance`) belong to the simulator and are not here; a test asserts this table has every other property.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Callable, ClassVar, Iterable

import attrs
import z3

from libet.proofs import bmc, policy, race, replay, wellformed
from libet.proofs.policy import Vacuity, policy_reads, policy_shape, policy_states
from libet.proofs.safety import path_reads
from libet.proofs.solve import BMC_INCREMENTAL, UNBOUNDED_RACE, Budget, Outcome, OutOfTime, Rung, ladder
from libet.proofs.tables import Unencodable
from libet.spec import ir
from libet.spec.printer import name_list
from libet.spec.reads import reads_of

if TYPE_CHECKING:  # pragma: no cover
    from libet.proofs.prove import Runner

#: Share of the per-check timeout for the vacuity question "is `safe` true with no veto at all?"
#: (asked once per run, after a `safe` check is proved, with what is left of that check's time)
ALONE_SHARE = 0.25


def shown(spec: ir.Spec, names: Iterable[str]) -> tuple[str, ...]:
    """The variables of ``names`` in the spec's order: what a counterexample shows."""
    names = set(names)
    return tuple(n for n in spec.variables if n in names)


def _where(spec: ir.Spec) -> str:
    """The states a statement quantifies over."""
    if spec.trajectory is None:
        return "every depth (no trajectory: depth is unbounded)"
    state = (
        " and every valuation of the state variables in their domains (reachable or not)" if spec.state else ""
    )
    if spec.trajectory.horizon is None:
        return "every phase and every depth (unbounded)" + state
    return ("every phase, depth" if spec.state else "every phase and depth") + state


class ProofKind:
    """What the runner needs of one kind of qualitative check (defaults shared by most)."""

    #: the IR property type this kind decides
    prop_type: ClassVar[type]
    #: what decided it, as a result names it (``CheckResult.engine``)
    engine: ClassVar[str] = "z3"
    #: how a proof summary says it was proved
    method: ClassVar[str] = "refutation"

    def ladder(self, spec: ir.Spec, check: ir.Check) -> tuple[Rung, ...]:
        """The solver configurations to try, in order."""
        raise NotImplementedError

    def attempt(self, run: "Runner", check: ir.Check, rung: Rung, budget: Budget) -> Outcome:
        """Decide ``check`` on one rung within ``budget``."""
        raise NotImplementedError

    def prepare(self, run: "Runner", check: ir.Check, budget: Budget) -> None:
        """Well-formedness this kind needs beyond the policy's strengths (raises the spec's
        EvaluationError); the default needs none."""

    def engine_of(self, outcome: Outcome) -> str:
        return self.engine

    def replay(self, run: "Runner", check: ir.Check, outcome: Outcome) -> Any:
        """The counterexample, replayed by the reference interpreter."""
        raise NotImplementedError

    def statement(self, spec: ir.Spec, check: ir.Check) -> str:
        """What a proof proves, in words."""
        raise NotImplementedError

    def method_of(self, outcome: Outcome) -> str:
        return self.method

    def notes(self, spec: ir.Spec, check: ir.Check, outcome: Outcome) -> list[str]:
        """Remarks a proof summary adds."""
        return []

    def bound(self, outcome: Outcome) -> int | None:
        """The bound a proof summary states (a bounded proof's number of steps)."""
        return None

    def warnings(self, run: "Runner", check: ir.Check, status: str, vac: Vacuity, budget: Budget) -> list[str]:
        """Vacuity warnings specific to this kind (the policy's own are the runner's)."""
        return []

    def unknown_note(self, outcome: Outcome) -> str:
        """What an UNKNOWN result adds to its reason."""
        return ""


class Invariance(ProofKind):
    """``invariant under V``: self-composition (:func:`libet.proofs.policy.invariance`)."""

    prop_type = ir.Invariance
    engine = "z3 self-composition"
    method = "self-composition"

    def ladder(self, spec, check):
        return ladder("policy", policy_shape(spec, check.policy, with_values=False))

    def attempt(self, run, check, rung, budget):
        return policy.invariance(run.spec, check.policy, check.prop, rung, budget, run.params, run.fixed)

    def replay(self, run, check, outcome):
        names = shown(run.spec, reads_of(run.spec).policy(check.policy))
        return replay.invariance(run.interp, check.policy, check.prop, outcome.raw, names, outcome.minimised)

    def statement(self, spec, check):
        prop = check.prop
        v = ", ".join(n for n in (prop.written or prop.variables) if n not in ("depth", "phase"))
        moves = [w for w, on in (("phase", prop.phase), ("depth", prop.depth)) if on]
        if prop.variables:
            pairs = "(assignment, state) pairs" if any(n in spec.state for n in prop.variables) else "assignments"
            s = f"any two {pairs} that differ only in {v} get the same veto probability from {check.policy} at {_where(spec)}"
            if moves:
                s += f", and it does not change with {' or '.join(moves)}"
        else:
            s = f"the veto probability {check.policy} gives an assignment does not change with {' or '.join(moves)}"
            s += f", at {_where(spec)}"
        return s

    def notes(self, spec, check, outcome):
        prop = check.prop
        reads, reads_depth, reads_phase = policy_reads(spec, check.policy)
        reads = reads | policy_states(spec, check.policy)
        if any(n in prop.variables for n in reads) or (prop.depth and reads_depth) or (prop.phase and reads_phase):
            return []
        return [f"policy {check.policy} reads none of {name_list(prop.written or prop.variables)}"]

    def warnings(self, run, check, status, vac, budget):
        if status != "proved":
            return []
        reach = outcome_reach(run.spec, check.prop.variables)
        if not reach:
            return []
        spec = run.spec
        under = name_list(n for n in (check.prop.written or check.prop.variables) if n not in ("depth", "phase"))
        return [f"the veto of {check.policy} is invariant under {under}, but the outcome may not be: "
                + "; ".join(reach) + _what_would_tell(spec, check)]


def _what_would_tell(spec: ir.Spec, check) -> str:
    """The check that would tell whether the outcome moves, in words: an outcome invariance
    over the assignment's variables (a bound on Pmax/Pmin in an MDP); for a chosen state
    variable, Pmax and Pmin; for another state variable, that no check compares outcomes."""
    variables = [n for n in check.prop.variables if n in spec.variables]
    chosen = {c.var for p in spec.trajectory.phases for c in p.choices}
    states = [n for n in check.prop.variables if n in spec.state]
    parts = []
    if variables:
        written = [n for n in (check.prop.written or ()) if n not in ("depth", "phase")]
        listed = ", ".join(written if written and not states else variables)  # as written (a check to copy), when it can be
        if spec.is_mdp:
            parts.append(f"`Pmax(harm) <= ... for all {listed}` and `Pmin(harm) >= ... for all {listed}` would "
                         f"bound how far {listed} move{'s' if len(variables) == 1 else ''} P(harm)")
        else:
            outcome = f"`invariant P(harm) under {listed}`"
            checked = any(
                c.policy == check.policy and isinstance(c.prop, ir.OutcomeInvariance) and set(c.prop.under) >= set(variables)
                for c in spec.checks
            )
            parts.append(f"{outcome}, checked in this spec, tells whether P(harm) moves" if checked
                         else f"{outcome} would tell whether P(harm) moves")
    picked = [n for n in states if n in chosen]
    if picked:
        parts.append(f"Pmax(harm) and Pmin(harm) tell how far the adversary moves P(harm) by choosing {name_list(picked)}")
    other = [n for n in states if n not in chosen]
    if other:
        parts.append(f"{name_list(other)} change{'s' if len(other) == 1 else ''} along the trajectory, so no check "
                     f"compares outcomes under {'it' if len(other) == 1 else 'them'}: this one says only that the veto ignores "
                     f"{'it' if len(other) == 1 else 'them'}")
    return (". " + "; ".join(parts)) if parts else ""


def outcome_reach(spec: ir.Spec, variables: Iterable[str]) -> list[str]:
    """Where the variables ``variables`` (state variables among them) reach P(harm) other than
    through the veto: the start depth, the transitions of each phase, whether an assignment is
    harmful (the reference values), the adversary's choice points (a chosen variable, or one a
    choice's ``when`` reads) and the state updates, in words; empty when they reach none. P(harm) is a function of the veto,
    the start, the transitions and *harmful* only, so with an empty answer a veto invariant
    under V makes P(harm) invariant too; otherwise `invariant under V` says nothing about it."""
    traj = spec.trajectory
    if traj is None:
        return []
    names = set(variables)
    reads = reads_of(spec)
    out = []
    harm = [n for n in spec.variables if n in names and n in reads.harm()]
    if harm:
        out.append(f"{name_list(harm)} decide{'s' if len(harm) == 1 else ''} whether the request is harmful")
    start = [n for n in spec.variables if n in names and n in reads.start()]
    if start:
        out.append(f"{name_list(start)} set{'s' if len(start) == 1 else ''} the start depth")
    declared = list(spec.variables) + list(spec.state)

    def read_by(exprs) -> list[str]:
        exprs = [e for e in exprs if e is not None]
        hit = reads.variables(exprs) | (reads.states(exprs) if spec.state else frozenset())
        return [n for n in declared if n in names and n in hit]

    def verb(moved, word):
        return f"{name_list(moved)} {word}{'s' if len(moved) == 1 else ''}"

    for p in traj.phases:
        moved = read_by([t.prob for t in p.transitions])
        if moved:
            out.append(f"{verb(moved, 'change')} the transitions of phase {p.name}")
        # the adversary: a chosen variable, or one its `when` reads
        chosen = [n for n in declared if n in names and any(c.var == n for c in p.choices)]
        if chosen:
            out.append(f"{name_list(chosen)} {'is' if len(chosen) == 1 else 'are'} chosen by the adversary in phase {p.name}")
        for c in p.choices:
            moved = read_by([c.when])
            if moved:
                out.append(f"{verb(moved, 'decide')} when the adversary may choose {c.var} in phase {p.name}")
        moved = read_by([u.expr for t in p.transitions for u in t.updates])
        if moved:
            out.append(f"{verb(moved, 'change')} the state updates of phase {p.name}")
    moved = read_by([u.expr for pol in spec.policies.values() for r in pol.rules for u in r.updates])
    if moved:
        out.append(f"{verb(moved, 'change')} the state updates of the refusals that go on")
    return out


class _State(ProofKind):
    """``complete`` and ``no over-refusal``: an assignment on one side of *harmful* whose veto
    probability at some state is not what that side must have (1 when harmful, 0 when benign);
    :func:`libet.proofs.policy.state_check`."""

    #: the side of *harmful* the check is about
    harmful: ClassVar[bool]

    def ladder(self, spec, check):
        return ladder("policy", policy_shape(spec, check.policy, with_values=True))

    def attempt(self, run, check, rung, budget):
        return policy.state_check(run.spec, check.policy, self.harmful, rung, budget, run.params, run.fixed)

    def replay(self, run, check, outcome):
        reads = reads_of(run.spec)
        names = shown(run.spec, reads.policy(check.policy) | reads.harm())
        return replay.state(run.interp, check.policy, check.name, self.harmful, outcome.raw, names, outcome.minimised)


class Complete(_State):
    prop_type = ir.Complete
    harmful = True

    def statement(self, spec, check):
        return f"{check.policy} vetoes every harmful assignment with probability 1 at {_where(spec)}"

    def warnings(self, run, check, status, vac, budget):
        if vac.harmful_exists is False:
            return [f"no assignment is harmful (every reference value always holds), so `{check.name}` holds vacuously"]
        return []


class CompleteAt(Complete):
    """``complete at PHASES``: ``complete`` with the states limited to the listed phases."""

    prop_type = ir.CompleteAt

    def attempt(self, run, check, rung, budget):
        return policy.state_check(
            run.spec, check.policy, True, rung, budget, run.params, run.fixed, phases=check.prop.phases
        )

    def statement(self, spec, check):
        at = ", ".join(check.prop.phases)
        unbounded = spec.trajectory.horizon is None
        depths = "every depth (unbounded)" if unbounded else "every depth"
        if spec.state:
            depths += " and every valuation of the state variables in their domains (reachable or not)"
        return f"{check.policy} vetoes every harmful assignment with probability 1 in phase{'s' if len(check.prop.phases) > 1 else ''} {at}, at {depths}"

    def notes(self, spec, check, outcome):
        rest = [q for q in spec.trajectory.phase_names if q not in check.prop.phases]
        return [f"nothing is claimed about phase{'s' if len(rest) > 1 else ''} {name_list(rest)}"] if rest else []


class NoOverRefusal(_State):
    prop_type = ir.NoOverRefusal
    harmful = False

    def statement(self, spec, check):
        return f"{check.policy} never vetoes a benign assignment, at {_where(spec)}"

    def warnings(self, run, check, status, vac, budget):
        if vac.benign_exists is False:
            return ["every assignment is harmful, so `no over-refusal` holds vacuously"]
        return []


class Safe(ProofKind):
    """``safe``: bounded model checking up to a finite horizon (:mod:`.bmc`), the race of
    :mod:`.race` with ``horizon none``."""

    prop_type = ir.Safe
    engine = "z3 bmc"
    method = "bmc"
    #: the engine of each rung's method (:data:`libet.proofs.solve.LADDERS`)
    ENGINES: ClassVar[dict[str, Callable[..., Outcome]]] = {
        "incremental": bmc.incremental,
        "unrolled": bmc.unrolled,
        "race": race.unbounded,
    }

    def ladder(self, spec, check):
        return ladder("bmc" if spec.trajectory.horizon is not None else "unbounded", "any")

    def attempt(self, run, check, rung, budget):
        return self.ENGINES[rung.method](run.spec, check.policy, rung, budget, run.params, run.fixed)

    def prepare(self, run, check, budget):
        if not run.memo.get("transitions checked"):
            wellformed.transitions(run.spec, budget.slice(wellformed.SHARE), run.params, run.fixed)
            run.memo["transitions checked"] = True  # only once it has finished

    def engine_of(self, outcome):
        method = outcome.details.get("method")
        return "z3 " + method.split(" (")[0] if method else self.engine

    def replay(self, run, check, outcome):
        names = shown(run.spec, path_reads(run.spec, check.policy))
        cex = replay.trace(run.interp, check.policy, outcome.raw, names, outcome.minimised)
        if not outcome.raw.get("shortest", True):
            cex = attrs.evolve(cex, minimised=False)
        return cex

    def statement(self, spec, check):
        s = f"no harmful assignment reaches delivered under {check.policy} along positive-probability steps"
        if spec.is_mdp:
            s += ", whatever the adversary chooses at its choice points"
        return s

    def method_of(self, outcome):
        return outcome.details.get("method", self.method)

    def notes(self, spec, check, outcome):
        method = self.method_of(outcome)
        H = spec.trajectory.horizon
        if method.startswith("bmc") and H is not None:
            return [f"every path is at most {H} steps long (horizon {H}), so the bounded search is complete"]
        if method == "k-induction":
            return [f"k-induction with k = {outcome.details.get('k')}; the base case was checked by BMC"]
        return []

    def bound(self, outcome):
        return outcome.details.get("bound")

    def warnings(self, run, check, status, vac, budget):
        out = []
        if vac.harmful_exists is False:
            out.append("no assignment is harmful (every reference value always holds), so `safe` holds vacuously")
        elif status == "proved" and self.generator_alone_safe(run, budget) is True:
            out.append("`safe` holds even with no veto: the generator alone never delivers a harmful assignment")
        return out

    def unknown_note(self, outcome):
        if "bound" not in outcome.details:
            return ""
        return f" (bounded search reached {outcome.details['bound']} step(s) without a counterexample)"

    def generator_alone_safe(self, run: "Runner", budget: Budget) -> bool | None:
        """Whether ``safe`` holds even for a policy with no rules (the generator never delivers
        a harmful assignment on its own); asked once per run."""
        if "generator alone" not in run.memo:
            spec = run.spec
            name = "__no_veto__"
            while name in spec.policies:
                name += "_"
            spec = attrs.evolve(spec, policies={**spec.policies, name: ir.Policy(name, ())})
            budget = Budget(min(budget.remaining(), run.timeout * ALONE_SHARE), run.rlimit)
            try:
                if spec.trajectory.horizon is None:
                    out = race.unbounded(spec, name, UNBOUNDED_RACE, budget, run.params, run.fixed)
                else:
                    out = bmc.incremental(spec, name, BMC_INCREMENTAL, budget, run.params, run.fixed, trace=False)
                run.memo["generator alone"] = {"proved": True, "violated": False}.get(out.status)
            except (Unencodable, OutOfTime, z3.Z3Exception):
                run.memo["generator alone"] = None
        return run.memo["generator alone"]


#: The qualitative check kinds, by the IR property type they decide.
KINDS: dict[type, ProofKind] = {
    k.prop_type: k for k in (Invariance(), Complete(), CompleteAt(), NoOverRefusal(), Safe())
}
