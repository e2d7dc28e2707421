"""Replaying counterexamples through the reference interpreter.

Consumes: a raw counterexample found by Z3 (concrete assignments, phases, depths).
Produces: the counterexample objects of :mod:`libet.proofs.evidence`, with every number in them
(veto probabilities, step and path probabilities) computed by the reference interpreter in exact
mode, the ground truth (docs/semantics.md).

A counterexample the interpreter does not confirm is a bug in the encoding:
:class:`~libet.errors.InternalError` is raised and nothing is reported as a result. An :class:`~libet.errors.EvaluationError` from
the interpreter (an expression with no value at that state, a probability outside [0, 1]) is a
spec error found only now; it propagates, and the command line reports it with its location.
"""

from __future__ import annotations

from fractions import Fraction
from typing import Mapping

from libet.errors import EvaluationError, InternalError
from libet.proofs.evidence import InvarianceCounterexample, StateCounterexample, Step, TraceCounterexample
from libet.proofs.rules import step_distribution
from libet.spec import ir
from libet.spec.interpreter import Interpreter


def _check_domain(spec: ir.Spec, a: Mapping, what: str) -> None:
    for name, var in spec.variables.items():
        if name not in a or a[name] not in var.domain.values():
            raise InternalError(f"{what}: {name} = {a.get(name)!r} is outside its domain {var.domain}")


def _check_state(spec: ir.Spec, phase, depth: int, what: str) -> None:
    traj = spec.trajectory
    if traj is not None:
        if phase not in traj.phase_names:
            raise InternalError(f"{what}: {phase!r} is not a phase")
        if depth < 0 or (traj.horizon is not None and depth >= traj.horizon):
            raise InternalError(f"{what}: depth {depth} is not a state (horizon {traj.horizon})")
    elif depth < 0:
        raise InternalError(f"{what}: negative depth {depth}")


def with_state(a: Mapping, state: Mapping | None) -> dict:
    """The mapping the interpreter evaluates an expression in at a state with state
    variables: the assignment and the valuation side by side (their names are disjoint)."""
    return dict(a) if not state else {**a, **state}


def _check_valuation(spec: ir.Spec, s: Mapping | None, what: str) -> None:
    if not spec.state:
        return
    if s is None:
        raise InternalError(f"{what}: no valuation of the state variables")
    for name, var in spec.state.items():
        if name not in s or s[name] not in var.domain.values():
            raise InternalError(f"{what}: state {name} = {s.get(name)!r} is outside its domain {var.domain}")


def violated_values(interp: Interpreter, a: Mapping) -> tuple[str, ...]:
    return tuple(v for v in interp.spec.values if not interp.holds(v, a))


def invariance(interp: Interpreter, policy: str, prop: ir.Invariance, raw: dict, shown=(), minimised=True):
    spec = interp.spec
    a, b = raw["first"], raw["second"]
    phase, d1, d2 = raw["phase"], raw["depth"], raw["second_depth"]
    phase2 = raw.get("second_phase", phase)
    _check_domain(spec, a, "invariance counterexample")
    _check_domain(spec, b, "invariance counterexample")
    _check_state(spec, phase, d1, "invariance counterexample")
    _check_state(spec, phase2, d2, "invariance counterexample")
    for n in spec.variables:
        if n not in prop.variables and a[n] != b[n]:
            raise InternalError(f"invariance counterexample: the copies differ in {n}, which is not in V")
    s1, s2 = raw.get("state"), raw.get("second_state")
    _check_valuation(spec, s1, "invariance counterexample")
    _check_valuation(spec, s2, "invariance counterexample")
    for n in spec.state:
        if n not in prop.variables and s1[n] != s2[n]:
            raise InternalError(f"invariance counterexample: the copies differ in state {n}, which is not in V")
    if d1 != d2 and not prop.depth:
        raise InternalError("invariance counterexample: the depths differ but V does not hold depth")
    if phase != phase2 and not prop.phase:
        raise InternalError("invariance counterexample: the phases differ but V does not hold phase")
    v1 = interp.veto_probability(policy, with_state(a, s1), phase, d1)
    v2 = interp.veto_probability(policy, with_state(b, s2), phase2, d2)
    if v1 == v2:
        raise InternalError(
            f"invariance counterexample not confirmed: the interpreter gives veto probability {v1} to both "
            f"{a} (phase {phase}, depth {d1}, state {s1}) and {b} (phase {phase2}, depth {d2}, state {s2})"
        )
    read = _state_read(spec, policy)
    return InvarianceCounterexample(
        policy=policy,
        under=prop.written or prop.variables,
        first=dict(a),
        second=dict(b),
        phase=phase,
        depth=d1,
        second_depth=d2,
        second_phase=phase2,
        veto=Fraction(v1),
        second_veto=Fraction(v2),
        context_names=tuple(shown),
        minimised=minimised,
        state={n: s1[n] for n in read} if s1 else {},
        second_state={n: s2[n] for n in read} if s2 else {},
    )


def _state_read(spec: ir.Spec, policy: str) -> tuple[str, ...]:
    """The state variables the policy's rules read, in declaration order (what is shown)."""
    from libet.proofs.policy import policy_states

    names = policy_states(spec, policy)
    return tuple(n for n in spec.state if n in names)


def state(interp: Interpreter, policy: str, check: str, harmful: bool, raw: dict, shown=(), minimised=True):
    """Replay a counterexample to ``complete`` (``harmful``: a harmful assignment vetoed with
    probability below 1) or ``no over-refusal`` (a benign one vetoed with probability above 0);
    ``check`` names the check in messages."""
    spec = interp.spec
    a, phase, d = raw["assignment"], raw["phase"], raw["depth"]
    _check_domain(spec, a, f"{check} counterexample")
    _check_state(spec, phase, d, f"{check} counterexample")
    st = raw.get("state")
    _check_valuation(spec, st, f"{check} counterexample")
    is_harmful = interp.harmful(a)
    v = interp.veto_probability(policy, with_state(a, st), phase, d)
    if is_harmful != harmful or v == (1 if harmful else 0):
        raise InternalError(
            f"{check} counterexample not confirmed: the interpreter gives harmful={is_harmful}, veto probability {v} "
            f"for {a} at phase {phase}, depth {d}, state {st}"
        )
    return StateCounterexample(
        check=check,
        policy=policy,
        assignment=dict(a),
        phase=phase,
        depth=d,
        veto=Fraction(v),
        violated=violated_values(interp, a),
        shown=tuple(shown),
        minimised=minimised,
        state={n: st[n] for n in _state_read(spec, policy)} if st else {},
    )


def _step_distribution(interp: Interpreter, a, phase: str, depth: int) -> dict:
    """target -> probability at (phase, depth), from the interpreter. If the exact interpreter
    rejects sums that the float interpreter (the static checker's mode) accepts within its
    tolerance, each probability is still the interpreter's value of its expression."""
    try:
        return dict(interp.transitions(a, phase, depth))
    except EvaluationError as exc:
        Interpreter(interp.spec, interp.params, exact=False).transitions(a, phase, depth)  # raises if the spec is wrong here
        if exc.code != "E041":
            raise
        return dict(step_distribution(interp, phase, a, depth))


def trace(interp: Interpreter, policy: str, raw: dict, shown=(), minimised=True) -> TraceCounterexample:
    """Replay a safety trace: ``raw`` has the assignment and the list of phases visited (one per
    step's source state), plus how it ends (``deliver``, ``horizon``, ``start at horizon``)."""
    spec = interp.spec
    traj = spec.trajectory
    H = traj.horizon
    a = raw["assignment"]
    _check_domain(spec, a, "safety counterexample")
    if not interp.harmful(a):
        raise InternalError(f"safety counterexample not confirmed: {a} is not harmful")
    if spec.state and raw["end"] != "start at horizon":
        return _trace_with_state(interp, policy, raw, shown, minimised)
    q0, d0 = interp.start(a)
    phases = list(raw["phases"])
    end = raw["end"]
    if end == "start at horizon":
        if d0 != H or phases or traj.at_horizon != ir.DELIVER:
            raise InternalError(f"safety counterexample not confirmed: start depth {d0}, horizon {H}")
        return TraceCounterexample(policy, dict(a), violated_values(interp, a), q0, d0, (), end, d0, Fraction(1), H, tuple(shown), minimised)
    if not phases or phases[0] != q0:
        raise InternalError(f"safety counterexample not confirmed: it starts in {phases[:1]}, the start is {q0}")
    if H is not None and d0 >= H:
        raise InternalError("safety counterexample not confirmed: the start is at the horizon")
    prob = Fraction(1)
    steps = []
    at_h = traj.at_horizon == ir.DELIVER
    for i, q in enumerate(phases):
        d = d0 + i
        split, v = interp.veto_ends(policy, a, q, d)
        v = Fraction(v)
        refusal = {t: Fraction(x) for t, x in split.items() if t is not None and x > 0}
        dist = _step_distribution(interp, a, q, d) if v < 1 else {}
        last = i == len(phases) - 1
        refused = False
        if not last:
            target = phases[i + 1]
            if H is not None and d + 1 >= H:
                raise InternalError("safety counterexample not confirmed: the path runs past the horizon")
            refused = not (v < 1 and dist.get(target, 0) > 0) and target in refusal
        elif v < 1 and dist.get(ir.DELIVER, 0) > 0:
            target, end = ir.DELIVER, "deliver"
        elif H is not None and d + 1 == H and at_h:
            # reaching the horizon delivers: any phase step (or refusal that goes on) will do
            steps_ok = [t for t, p in dist.items() if t not in ir.EXITS and p > 0] if v < 1 else []
            target = q if q in steps_ok else (steps_ok[0] if steps_ok else None)
            if target is None and refusal:
                target, refused = next(iter(refusal)), True
            end = "horizon"
            if target is None:
                raise InternalError(f"safety counterexample not confirmed: no step from {q} at depth {d} delivers")
        else:
            raise InternalError(f"safety counterexample not confirmed: no step from {q} at depth {d} delivers")
        if refused:
            p = refusal[target]
            prob *= p
        else:
            if v >= 1:
                raise InternalError(f"safety counterexample not confirmed: vetoed with certainty at {q}, depth {d}")
            p = Fraction(dist.get(target, 0))
            if p <= 0:
                raise InternalError(
                    f"safety counterexample not confirmed: '{q} -> {target}' has probability {p} at depth {d} for {a}"
                )
            prob *= (1 - v) * p
        steps.append(Step(q, d, v, target, p, refused))
    delivered = d0 + len(phases)
    return TraceCounterexample(
        policy=policy,
        assignment=dict(a),
        violated=violated_values(interp, a),
        start_phase=q0,
        start_depth=d0,
        steps=tuple(steps),
        end=end,
        delivered_depth=delivered,
        probability=prob,
        horizon=H,
        shown=tuple(shown),
        minimised=minimised,
    )


def _trace_with_state(interp: Interpreter, policy: str, raw: dict, shown, minimised) -> TraceCounterexample:
    """Replay a safety trace of a spec with state variables (docs/semantics.md §4b) by the
    interpreter's own choices and moves: the valuation starts at the initial one; at each step
    the adversary's pick must be one :meth:`Interpreter.choices` offers, and the next state
    (phase and valuation) one that :meth:`Interpreter.moves` reaches with positive
    probability from the chosen one; the last step delivers."""
    spec = interp.spec
    traj = spec.trajectory
    H = traj.horizon
    a = raw["assignment"]
    what = "safety counterexample not confirmed"
    q0, d0 = interp.start(a)
    phases = list(raw["phases"])
    pres, posts = list(raw["states"]), list(raw["chosen"])
    if not phases or phases[0] != q0:
        raise InternalError(f"{what}: it starts in {phases[:1]}, the start is {q0}")
    if H is not None and d0 >= H:
        raise InternalError(f"{what}: the start is at the horizon")
    if len(pres) != len(phases) or len(posts) != len(phases):
        raise InternalError(f"{what}: {len(phases)} steps but {len(pres)} valuations")
    current = dict(spec.initial_state)
    prob = Fraction(1)
    steps = []
    end = "deliver"
    for i, q in enumerate(phases):
        d = d0 + i
        pre, post = dict(pres[i]), dict(posts[i])
        _check_valuation(spec, pre, what)
        _check_valuation(spec, post, what)
        if pre != current:
            raise InternalError(f"{what}: at depth {d} the state is {current}, the trace says {pre}")
        if post not in [dict(c) for c in interp.choices(a, q, d, pre)]:
            raise InternalError(f"{what}: at {q}, depth {d}, state {pre} the adversary cannot pick {post}")
        v = Fraction(interp.veto_probability(policy, with_state(a, post), q, d))
        moves = [(kind, target, new, Fraction(p)) for kind, target, new, p in interp.moves(policy, a, q, d, post) if p > 0]
        last = i == len(phases) - 1
        if not last:
            target = phases[i + 1]
            if H is not None and d + 1 >= H:
                raise InternalError(f"{what}: the path runs past the horizon")
            nxt = dict(pres[i + 1])
            fits = [m for m in moves if m[0] in ("step", "refused") and m[1] == target and dict(m[2]) == nxt]
            if not fits:
                raise InternalError(f"{what}: no step from {q}, depth {d}, state {post} reaches {target} with state {nxt}")
            kind, _, new, p = min(fits, key=lambda m: m[0] != "step")  # the generator's step first
            current = nxt
        else:
            delivering = [m for m in moves if m[0] == "step" and m[1] == ir.DELIVER]
            at_edge = H is not None and d + 1 == H and traj.at_horizon == ir.DELIVER
            ahead = [m for m in moves if m[0] in ("step", "refused") and m[1] not in ir.EXITS] if at_edge else []
            if delivering:
                kind, target, new, p = delivering[0]
            elif ahead:
                # reaching the horizon delivers: any phase step (or refusal that goes on) will do
                kind, target, new, p = min(ahead, key=lambda m: (m[0] != "step", m[1] != q))
                end = "horizon"
            else:
                raise InternalError(f"{what}: no step from {q} at depth {d}, state {post} delivers")
        refused = kind == "refused"
        prob *= p
        # a step records the generator's probability of the transition, as without state
        shown_p = p if refused or v == 0 else p / (1 - v)
        steps.append(Step(q, d, v, target, shown_p, refused, state=post, before=None if pre == post else pre))
    return TraceCounterexample(
        policy=policy,
        assignment=dict(a),
        violated=violated_values(interp, a),
        start_phase=q0,
        start_depth=d0,
        steps=tuple(steps),
        end=end,
        delivered_depth=d0 + len(phases),
        probability=prob,
        horizon=H,
        shown=tuple(shown),
        minimised=minimised,
    )
