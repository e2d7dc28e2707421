"""Well-formedness where the static checker could not look: veto strengths and transition
probabilities at states too many to enumerate.

Consumes: a spec, a policy (for strengths), a budget.
Produces: nothing, or raises :class:`~libet.errors.EvaluationError` with the location and the
state (a spec error found only now: the command line reports it with exit code 2).

The checker (spec/semantics.py) evaluates every strength and every phase's transitions at every
state when the states (weighed by their expressions' size) number at most ``ENUMERATION_BUDGET``
in all (over arrays, up to ``VECTOR_BUDGET``: :func:`~libet.spec.semantics.transition_plan` and
:func:`~libet.spec.semantics.strength_plan` say which phases and rules it tried), and with
``horizon none`` up to depth ``UNBOUNDED_CHECK_DEPTHS``; beyond that it warns (W103). Here Z3
asks the same questions
symbolically for what was skipped and the bounds of spec/bounds.py, at the run's params, do
not settle: "does some firing rule have a strength outside [0, 1]?",
"does some phase have a probability outside [0, 1], or probabilities that do not sum to 1?",
with the interpreter's tolerance. A state Z3 finds is replayed by the reference interpreter,
whose error is what is reported.
"""

from __future__ import annotations

from fractions import Fraction
from typing import Mapping

import z3

from libet.errors import InternalError
from libet.proofs.domains import INT_ENCODING
from libet.proofs.policy import States
from libet.proofs.replay import with_state
from libet.proofs.rules import Encoder
from libet.proofs.solve import SMT_INT, Budget, OutOfTime, Query
from libet.proofs.tables import Unencodable
from libet.spec import ir
from libet.spec.bounds import Bounds, CaseBudget
from libet.spec.checker import ENUMERATION_BUDGET
from libet.spec.interpreter import TOLERANCE, Interpreter
from libet.spec.reads import reads_of
from libet.spec.semantics import strength_plan, transition_plan, weight

_TOL = Fraction(TOLERANCE)
#: Share of a check's budget for each of these questions (asked once per policy, or per run for
#: the transitions and the start depth, by the first check that needs them).
SHARE = 0.1


def _checker_reaches(spec: ir.Spec, exprs) -> bool:
    """Whether spec/semantics.py's checks of these expressions cover every state when their
    budget lets them: not with state variables (tried here over the state's valuations,
    whatever the checker tried), nor with depth and no finite horizon (checked only up to a
    finite depth)."""
    reads = reads_of(spec)
    if spec.state and reads.states(exprs):
        return False
    traj = spec.trajectory
    return not (any(reads.depth(e) for e in exprs) and (traj is None or traj.horizon is None))


def _bounds(spec: ir.Spec, params: Mapping | None, phases=None, cases: CaseBudget | None = None) -> Bounds | None:
    """The bounds (spec/bounds.py) over every state of ``phases`` (all of them by default) at
    ``params``, which settle what they keep inside [0, 1] with no question to Z3; None with no
    finite horizon (the depths are not bounded) or no trajectory."""
    traj = spec.trajectory
    if traj is None or traj.horizon is None:
        return None
    return Bounds(spec, range(traj.horizon), traj.phase_names if phases is None else phases, params=params, cases=cases)


def _checker_enumerated(spec: ir.Spec, exprs) -> bool:
    """Whether spec/semantics.py tried the start depth's ``exprs`` at every state, one at a
    time within ``ENUMERATION_BUDGET`` (states weighed by their expressions' size, as the
    checker weighs them; the start depth is checked first, from the whole budget)."""
    if not _checker_reaches(spec, exprs):
        return False
    reads = reads_of(spec)
    names = reads.variables(exprs)
    traj = spec.trajectory
    n_depths = traj.horizon if (any(reads.depth(e) for e in exprs) and traj is not None) else 1
    count = spec.assignment_count(tuple(n for n in spec.variables if n in names)) * n_depths
    return count * weight(spec, exprs) <= ENUMERATION_BUDGET


def strengths(spec: ir.Spec, policy: str, budget: Budget, params: Mapping | None, fixed: Mapping | None) -> None:
    """Raise the interpreter's error (E042, E044) for a firing rule whose strength has no value
    or lies outside [0, 1] at a state the checker did not try."""
    interp = Interpreter(spec, params, exact=True)
    reads = reads_of(spec)
    plan = strength_plan(spec)  # what the checker tried: one state at a time, over arrays, or not
    bounds = _bounds(spec, params)
    for i, rule in enumerate(spec.policies[policy].rules):
        exprs = [rule.condition, rule.strength]
        if isinstance(rule.strength, ir.Const) or (plan[(policy, i)] != "skipped" and _checker_reaches(spec, exprs)):
            continue
        if bounds is not None and bounds.strength_settled(rule):
            continue
        enc = Encoder(spec, params, INT_ENCODING, z3.Context(), fixed, track=False)
        sym = enc.new_assignment("", reads.variables(exprs))
        q = Query(enc, SMT_INT, budget)
        q.add(*sym.constraints())
        try:
            states = States(
                enc, any(reads.depth(e) for e in exprs), any(reads.phase(e) for e in exprs), reads_state=reads.states(exprs)
            )
            q.add(*states.domain)
            env = states.env(sym)
            fires = enc.term(rule.condition, env)
            s = enc.as_real(enc.term(rule.strength, env))
            if fires is False:
                continue
            out = (s < -_TOL or s > 1 + _TOL) if isinstance(s, Fraction) else z3.Or(s < enc.real_val(-_TOL), s > enc.real_val(1 + _TOL))
            if out is False:
                continue
            q.add(fires, out)
            ans = q.check()
        except (Unencodable, OutOfTime, z3.Z3Exception):
            continue
        if ans.status != "sat":
            continue
        m = q.model()
        a = enc.decode(m, sym)
        phase, depth, _ = states.decode(m)
        interp.veto_probability(policy, with_state(a, states.decode_state(m)), phase, depth)  # raises the spec error
        raise InternalError(f"Z3 finds rule {rule.span} out of range at {a}, {phase}, depth {depth}; the interpreter does not")


def transitions(spec: ir.Spec, budget: Budget, params: Mapping | None, fixed: Mapping | None) -> None:
    """Raise the interpreter's error (E041, E044) for a phase whose probabilities leave [0, 1] or
    do not sum to 1 at a state the checker did not try. The replay uses the checker's float
    mode, so a difference within its tolerance is not an error."""
    traj = spec.trajectory
    if traj is None:
        return
    float_interp = Interpreter(spec, params, exact=False)
    _start_depth(spec, budget, params, fixed, float_interp)
    plan = transition_plan(spec)  # what the checker tried: one state at a time, over arrays, or not
    cases = CaseBudget()  # one budget of the bounds' case splits for every phase
    for p in traj.phases:
        exprs = [t.prob for t in p.transitions if t.prob is not None]
        if not exprs or (plan[p.name] != "skipped" and _checker_reaches(spec, exprs)):
            continue
        bounds = _bounds(spec, params, (p.name,), cases)
        if bounds is not None and bounds.probabilities_settled(p):
            continue
        enc = Encoder(spec, params, INT_ENCODING, z3.Context(), fixed, track=False)
        sym = enc.new_assignment("", reads_of(spec).variables(exprs))
        q = Query(enc, SMT_INT, budget)
        q.add(*sym.constraints())
        try:
            states = States(enc, any(reads_of(spec).depth(e) for e in exprs), False, reads_state=reads_of(spec).states(exprs))
            q.add(*states.domain)
            env = enc.env(sym, states.depth, p.name, depth_values=states.depth_values, state=states.state)
            xs = [enc.z3_real(enc.as_real(enc.term(e, env))) for e in exprs]
            lo, hi = enc.real_val(-_TOL), enc.real_val(1 + _TOL)
            total = z3.Sum(*xs) if len(xs) > 1 else xs[0]
            bad = [z3.Or(x < lo, x > hi) for x in xs]
            if any(t.prob is None for t in p.transitions):
                bad.append(total > hi)
            else:
                bad.append(z3.Or(total < enc.real_val(1 - _TOL), total > hi))
            q.add(z3.Or(*bad))
            ans = q.check()
        except (Unencodable, OutOfTime, z3.Z3Exception):
            continue
        if ans.status != "sat":
            continue
        m = q.model()
        a = enc.decode(m, sym)
        float_interp.transitions(with_state(a, states.decode_state(m)), p.name, enc.decode_depth(m, states.depth))  # raises the spec error
        # within the float mode's tolerance after rounding: not an error by the checker's rule


def _start_depth(spec: ir.Spec, budget: Budget, params, fixed, interp: Interpreter) -> None:
    """Raise E043 for an assignment whose start depth is negative or beyond the horizon, when
    the checker could not try them all."""
    traj = spec.trajectory
    if isinstance(traj.start_depth, ir.Const) or _checker_enumerated(spec, [traj.start_depth]):
        return
    if Bounds(spec, range(1), (traj.start_phase,), params=params).start_settled():
        return
    enc = Encoder(spec, params, INT_ENCODING, z3.Context(), fixed, track=False)
    sym = enc.new_assignment("", reads_of(spec).start())
    q = Query(enc, SMT_INT, budget)
    q.add(*sym.constraints())
    try:
        d0 = enc.z3_int(enc.start_depth(sym))
        bad = d0 < 0 if traj.horizon is None else z3.Or(d0 < 0, d0 > traj.horizon)
        q.add(bad)
        ans = q.check()
    except (Unencodable, OutOfTime, z3.Z3Exception):
        return
    if ans.status == "sat":
        interp.start(enc.decode(q.model(), sym))  # raises the spec error
