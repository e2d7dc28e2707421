"""``safe`` by bounded model checking: paths from the start, frame by frame.

Consumes: a spec with a trajectory, a policy, a :class:`~libet.proofs.solve.Rung` and a budget
(the step relation is :mod:`.safety`'s).
Produces: an :class:`~libet.proofs.solve.Outcome`: PROVED with the facts in the unsat core and
the bound searched, VIOLATED with the shortest raw trace (simplified: fewest distinct steps,
neutral values), or UNKNOWN with the reason and the bound reached.

* :func:`unrolled` (finite horizon, one-shot): one frame per absolute depth 0..H-1, every depth
  concrete so every depth-dependent term folds to a constant; the path's start is the (possibly
  symbolic) start depth. The first answer proves or refutes for every path; the shortest trace
  is then found by bisection on the number of steps.
* :func:`incremental` (any horizon): frame i is the i-th step from the start, added one at a
  time to one incremental solver; the first satisfiable frame gives the shortest trace, and a
  frame that no path can reach any more proves the property.
"""

from __future__ import annotations

import threading
from typing import Any, Mapping

import z3

from libet.proofs.minimise import minimise_model
from libet.proofs.safety import Problem, raw_trace, start_at_horizon, start_value
from libet.proofs.solve import Budget, Outcome, OutOfTime, Rung, proved
from libet.spec import ir

#: Weight of "the next step stays in the same phase" when simplifying a trace.
W_SIMPLE = 10
#: Incremental BMC adds frames in batches of 1, 2, 4, ... up to this many, asking once per
#: batch whether any of its frames delivers (then bisecting for the first that does).
BATCH_MAX = 16


# ---------------------------------------------------------------------------------------------
# Finite horizon, one shot: frames by absolute depth


def unrolled(
    spec: ir.Spec,
    policy: str,
    rung: Rung,
    budget: Budget,
    params: Mapping | None = None,
    fixed: Mapping | None = None,
    ctx: z3.Context | None = None,
) -> Outcome:
    traj = spec.trajectory
    H = traj.horizon
    assert H is not None
    method = "bmc (one-shot)"
    pb = Problem(spec, policy, rung, budget, params, fixed, ctx, H)
    enc, q, steps = pb.enc, pb.q, pb.steps
    d0 = pb.start(H)
    q0 = traj.start_phase
    on: dict[int, Any] = {}
    ph: dict[int, Any] = {}
    end: dict[int, Any] = {}
    S: dict[int, Any] = {}  # the source valuation of the state variables at each depth
    C: dict[int, Any] = {}  # the one the adversary chose there
    first = d0 if isinstance(d0, int) else 0
    for d in range(first, H):
        if budget.expired():
            raise OutOfTime()
        if isinstance(d0, int) and d == d0:
            on[d] = True
            ph[d] = q0
            S[d] = pb.init
        else:
            on[d] = z3.Bool(f"on@{d}", enc.ctx)
            ph[d], c = enc.phase_var(f"ph@{d}")
            q.add(c)
            S[d] = pb.frame_state(f"@{d}")
            starts = enc.and_([d0 == d, steps.is_phase(ph[d], q0), pb.is_initial(S[d])]) if not isinstance(d0, int) else False
            if d > first:
                cont = enc.and_([on[d - 1], steps.move_sym(ph[d - 1], d - 1, ph[d], None, C[d - 1], S[d])])
                if not isinstance(d0, int):
                    cont = enc.and_([d0 < d, cont])
            else:
                cont = False
            q.add(z3.Implies(on[d], enc.as_bool(enc.or_([starts, cont]))))
        C[d] = pb.chosen_state(f"@{d}'", S[d], ph[d], d)
        dl = steps.deliver_sym(ph[d], d, None, C[d])
        if dl is False:
            continue
        end[d] = z3.Bool(f"end@{d}", enc.ctx)
        q.add(z3.Implies(end[d], enc.as_bool(enc.and_([on[d], dl]))))
    # a start at the horizon delivers at once, unless reaching the horizon stops
    immediate = (d0 == H) if traj.at_horizon == ir.DELIVER else False
    goal = enc.or_([immediate] + list(end.values()))
    if goal is False:
        return proved(enc, (), bound=H, method=method)
    q.add(goal)

    def steps_at_most(k: int):
        ways = [immediate]
        for d, e in end.items():
            if isinstance(d0, int):
                if d + 1 - d0 <= k:
                    ways.append(e)
            else:
                ways.append(enc.and_([e, d + 1 - d0 <= k]))
        return enc.as_bool(enc.or_(ways))

    def first_end(model) -> int:
        return min(d for d, e in end.items() if z3.is_true(model.eval(e, model_completion=True)))

    def n_steps(model) -> int:
        start = start_value(model, d0)
        return 0 if start == H else first_end(model) + 1 - start

    ans = q.check()
    if ans.status == "unsat":
        return proved(enc, q.core()[0], bound=H, method=method)
    if ans.status != "sat":
        return Outcome("unknown", reason=ans.reason, details={"method": method})
    model = q.model()
    best = n_steps(model)
    shortest = True
    lo = 0
    while lo < best:
        mid = (lo + best - 1) // 2
        q.push()
        q.add(steps_at_most(mid))
        try:
            a = q.check()
        except OutOfTime:
            a = None
        if a is not None and a.status == "sat":
            model = q.model()
            best = n_steps(model)
        elif a is not None and a.status == "unsat":
            lo = mid + 1
        else:
            shortest = False
            q.pop()
            break
        q.pop()
    # simplify: fewest distinct steps, neutral values
    softs = []
    for d in range(first + 1, H):
        if d in ph and d - 1 in ph and not isinstance(ph[d], str) and not isinstance(ph[d - 1], str):
            softs.append((ph[d] == ph[d - 1], W_SIMPLE))
        elif d in ph and isinstance(ph.get(d - 1), str):
            softs.append((enc.as_bool(steps.is_phase(ph[d], ph[d - 1])), W_SIMPLE))
    softs += pb.softs() + pb.state_softs([S[d] for d in sorted(S)], [C[d] for d in sorted(C)])
    exact = [steps_at_most(best)]
    if best > 0:
        exact.append(enc.as_bool(enc.not_(steps_at_most(best - 1))))
    model, minimised = minimise_model(q, exact, softs, budget, None, polish=False)
    a = enc.decode(model, pb.sym)
    start = start_value(model, d0)
    if start == H:
        raw = start_at_horizon(a)
    else:
        depths = range(start, first_end(model) + 1)
        raw = raw_trace(
            a,
            [enc.decode_phase(model, ph[d]) for d in depths],
            pb.decode_states(model, [S[d] for d in depths]),
            pb.decode_states(model, [C[d] for d in depths]),
        )
    raw["shortest"] = shortest
    return Outcome("violated", raw=raw, minimised=minimised, details={"method": method})


# ---------------------------------------------------------------------------------------------
# Incremental BMC: frames by step


class _Incremental(Problem):
    """Frames 0, 1, ... of paths from the start, on one incremental solver."""

    def __init__(self, spec, policy, rung, budget, params, fixed, ctx):
        traj = spec.trajectory
        self.H = traj.horizon
        super().__init__(spec, policy, rung, budget, params, fixed, ctx, self.H)
        self.d0 = self.start(self.H)
        self.ph: list = [traj.start_phase]
        self.on: list = []
        self.S: list = []  # each frame's source valuation of the state variables (None: none)
        self.C: list = []  # the valuation the adversary chose there

    def depth_at(self, i: int):
        return self.d0 + i

    def depth_values(self, i: int):
        if isinstance(self.d0, int):
            return None
        return range(i, self.H) if self.H is not None else None

    def immediate(self):
        if self.H is None or self.enc.spec.trajectory.at_horizon != ir.DELIVER:
            return False
        return self.d0 == self.H

    def add_frame(self, i: int) -> bool:
        """Add frame i: a path may reach it (literal ``on#i``) only through frame i - 1 and a
        possible step. False when no frame i can exist (the horizon). Frames are optional, so
        frames added past the one a goal asks about do not constrain that goal."""
        enc = self.enc
        d = self.depth_at(i)
        within = True
        if self.H is not None:
            if isinstance(d, int):
                if d >= self.H:
                    return False
            else:
                if i >= self.H:  # the start depth is at least 0
                    return False
                within = d < self.H
        if i == 0:
            self.q.add(within)  # the start is a state (a start at the horizon was asked first)
            self.on.append(True)
            self.S.append(self.init)
            self.C.append(self.chosen_state("0", self.init, self.ph[0], d, self.depth_values(0)))
            return True
        ph, c = enc.phase_var(f"ph#{i}")
        self.q.add(c)
        s = self.frame_state(f"#{i}")
        m = self.steps.move_sym(self.ph[i - 1], self.depth_at(i - 1), ph, self.depth_values(i - 1), self.C[i - 1], s)
        on = z3.Bool(f"on#{i}", enc.ctx)
        self.q.add(z3.Implies(on, enc.as_bool(enc.and_([self.on[i - 1], within, m]))))
        self.ph.append(ph)
        self.on.append(on)
        self.S.append(s)
        self.C.append(self.chosen_state(f"#{i}'", s, ph, d, self.depth_values(i)))
        return True

    def deliver_goal(self, i: int):
        return self.enc.and_([self.on[i], self.steps.deliver_sym(self.ph[i], self.depth_at(i), self.depth_values(i), self.C[i])])

    def trace(self, model, i: int | None) -> dict:
        """The raw trace whose last step is frame ``i`` (``None``: delivered at the start)."""
        a = self.enc.decode(model, self.sym)
        if i is None:
            return start_at_horizon(a)
        phases = [self.enc.decode_phase(model, self.ph[j]) for j in range(i + 1)]
        return raw_trace(a, phases, self.decode_states(model, self.S[: i + 1]), self.decode_states(model, self.C[: i + 1]))


def incremental(
    spec: ir.Spec,
    policy: str,
    rung: Rung,
    budget: Budget,
    params: Mapping | None = None,
    fixed: Mapping | None = None,
    ctx: z3.Context | None = None,
    stop: threading.Event | None = None,
    progress: dict | None = None,
    trace: bool = True,
) -> Outcome:
    """Frame by frame; the first hit is the shortest trace. With ``horizon none`` it runs until
    the budget ends (or ``stop`` is set) and can only refute or prove by an unreachable frame.
    ``progress["bound"]`` says how many frames are known not to deliver (k-induction's base
    case). ``trace=False`` skips simplifying the trace (a yes/no question)."""
    inc = _Incremental(spec, policy, rung, budget, params, fixed, ctx)
    enc, q = inc.enc, inc.q
    method = "bmc (incremental)"
    # a proof is the conjunction of every unsat answer below: its facts are the union of cores
    used: set[str] = set()
    imm = inc.immediate()
    if imm is not False:
        q.push()
        q.add(imm)
        a = q.check()
        if a.status == "sat":
            model = q.model()
            q.pop()
            return Outcome("violated", raw=inc.trace(model, None) | {"shortest": True}, minimised=True, details={"method": method})
        if a.status == "unsat":
            used |= q.core()[0]
        q.pop()
        if a.status == "unknown":
            return Outcome("unknown", reason=a.reason, details={"method": method, "bound": 0})
    i = 0  # frames 0..i-1 are on the solver and none of them delivers
    batch = 1
    goals: dict[int, Any] = {}

    def any_goal(frames: list[int]):
        lit = z3.Bool(f"goal#{frames[0]}-{frames[-1]}", enc.ctx)
        q.add(z3.Implies(lit, z3.Or(*[goals[j] for j in frames]) if len(frames) > 1 else goals[frames[0]]))
        return lit

    def unknown(reason, bound):
        return Outcome("unknown", reason=reason, details={"method": method, "bound": bound})

    def timeout(bound):
        return unknown(f"timeout: no answer within the {budget.seconds:g} s budget", bound)

    while True:
        if stop is not None and stop.is_set():
            return unknown("stopped", i)
        if progress is not None:
            progress["bound"] = i
        try:
            frames = []
            exhausted = False
            for j in range(i, i + batch):
                if not inc.add_frame(j):
                    exhausted = True
                    break
                g = z3.Bool(f"goal#{j}", enc.ctx)
                q.add(z3.Implies(g, enc.as_bool(inc.deliver_goal(j))))
                goals[j] = g
                frames.append(j)
            if not frames:
                a = q.check()
                labels = q.core()[0] if a.status == "unsat" else set()
                return proved(enc, labels | used, method=method, bound=i)
            lit = any_goal(frames)
            a = q.check(lit)
        except OutOfTime:
            return timeout(i)
        if a.status == "unknown":
            return unknown(a.reason, i)
        if a.status == "unsat":
            labels, others = q.core()
            used |= labels
            i = frames[-1] + 1
            if exhausted or not any(o.eq(lit) for o in others):
                # no later frame exists, or the start itself is impossible
                return proved(enc, used, method=method, bound=i)
            try:
                reach = q.check(inc.on[frames[-1]]) if frames[-1] > 0 else None
            except OutOfTime:
                return timeout(i)
            if reach is not None and reach.status == "unsat":
                # no path reaches the last frame: no longer path exists either
                return proved(enc, q.core()[0] | used, method=method, bound=i)
            batch = min(batch * 2, BATCH_MAX)
            continue
        # some frame of the batch delivers; every earlier frame does not: bisect for the first
        lo, hi = 0, len(frames) - 1
        model = q.model()
        try:
            while lo < hi:
                mid = (lo + hi) // 2
                a = q.check(any_goal(frames[lo : mid + 1]))
                if a.status == "sat":
                    hi = mid
                    model = q.model()
                elif a.status == "unsat":
                    lo = mid + 1
                else:
                    return unknown(a.reason, i)
            first = frames[lo]
            if first != frames[-1] or a.status != "sat":
                a = q.check(goals[first])
                if a.status != "sat":
                    return unknown(a.reason or "lost the model", i)
                model = q.model()
        except OutOfTime:
            return timeout(i)
        if not trace:
            return Outcome("violated", raw=inc.trace(model, first), minimised=False, details={"method": method, "bound": first + 1})
        softs = []
        for j in range(1, first + 1):
            prev, cur = inc.ph[j - 1], inc.ph[j]
            softs.append((enc.as_bool(inc.steps.is_phase(cur, prev)) if isinstance(prev, str) else cur == prev, W_SIMPLE))
        softs += inc.softs() + inc.state_softs(inc.S[: first + 1], inc.C[: first + 1])
        model, minimised = minimise_model(q, [goals[first]], softs, budget, model, polish=False)
        raw = inc.trace(model, first)
        raw["shortest"] = True
        return Outcome("violated", raw=raw, minimised=minimised, details={"method": method, "bound": first + 1})
