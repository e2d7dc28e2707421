"""``safe``: no harmful assignment reaches *delivered* along positive-probability steps.

Consumes: a spec with a trajectory, a policy, a :class:`~libet.proofs.solve.Rung`, a budget.
Produces: an :class:`~libet.proofs.policy.Outcome`: PROVED (with the facts in the unsat core, or
an inductive invariant re-checked with a fresh solver), VIOLATED with a raw trace (the shortest,
then simplified), or UNKNOWN with the reason and the bound reached.

One step from state (q, d) of assignment σ (docs/semantics.md §4, §7) is possible when the veto
is not certain (v < 1) and the transition has probability > 0. Delivery happens by a
``-> deliver`` step, by a phase step from depth H - 1 (reaching the horizon delivers), or at
once when the start depth is H. The checks:

* :func:`bmc_unrolled` (finite horizon, one-shot): one frame per absolute depth 0..H-1, every
  depth concrete so every depth-dependent term folds to a constant; the path's start is the
  (possibly symbolic) start depth. The first answer proves or refutes for every path; the
  shortest trace is then found by bisection on the number of steps.
* :func:`bmc_incremental` (any horizon): frame i is the i-th step from the start, added one at a
  time to one incremental solver; the first satisfiable frame gives the shortest trace, and a
  frame that no path can reach any more proves the property.
* :func:`k_induction` and :func:`spacer` (``horizon none``): the inductive step over arbitrary
  states, and Z3's Spacer engine on Horn clauses whose inductive invariant is re-checked with a
  fresh solver (initiation, consecution, safety). :func:`unbounded` races them with the
  incremental BMC (which finds counterexamples) and takes whichever decides first.
"""

from __future__ import annotations

import queue
import threading
import time
from typing import Any, Mapping

import z3

from libet.proofs.encode import Encoder, Unencodable, reads_of_policy
from libet.proofs.policy import Outcome, _default_softs
from libet.proofs.solve import Budget, OutOfTime, Query, Rung, minimise_model
from libet.spec import ir

W_SIMPLE = 10  # weight of "the next step stays in the same phase" when simplifying a trace
#: Incremental BMC adds frames in batches of 1, 2, 4, ... up to this many, asking once per
#: batch whether any of its frames delivers (then bisecting for the first that does).
BATCH_MAX = 16
#: With ``horizon none`` and a term no prover can encode (``exp`` of the unbounded depth), the
#: BMC may still find a counterexample: it gets this share of the timeout before UNKNOWN.
UNENCODABLE_SEARCH_SHARE = 0.2


def _reads(spec: ir.Spec, policy: str) -> frozenset[str]:
    names = set(reads_of_policy(spec, policy)[0])
    for v in spec.values.values():
        names |= spec.reads(v.expr)
    traj = spec.trajectory
    names |= spec.reads(traj.start_depth)
    for p in traj.phases:
        for t in p.transitions:
            if t.prob is not None:
                names |= spec.reads(t.prob)
    return frozenset(names)


class _Steps:
    """The step relation of one assignment copy, built per (phase, depth) on demand."""

    def __init__(self, enc: Encoder, policy: str, sym, horizon: int | None):
        self.enc = enc
        self.policy = policy
        self.sym = sym
        self.H = horizon
        self.traj = enc.spec.trajectory
        self._envs: dict = {}

    def env(self, q: str, d, depth_values=None):
        key = (q, d if isinstance(d, int) else d.get_id())
        e = self._envs.get(key)
        if e is None:
            e = self.enc.env(self.sym, d, q, depth_values=depth_values)
            self._envs[key] = e
        return e

    def free(self, q: str, d, dv=None):
        """The veto is not certain at (q, d)."""
        return self.enc._not(self.enc.veto_certain(self.policy, self.env(q, d, dv)))

    def pos(self, q: str, d, dv=None) -> dict:
        return self.enc.transition_positive(q, self.env(q, d, dv))

    def move(self, q: str, d, r: str, dv=None):
        """One step from (q, d) to phase r is possible (the caller ensures d + 1 < H)."""
        p = self.pos(q, d, dv).get(r, False)
        if p is False:
            return False
        return self.enc._and([self.free(q, d, dv), p])

    def deliver(self, q: str, d, dv=None):
        """One step from (q, d) delivers."""
        enc = self.enc
        pos = self.pos(q, d, dv)
        ways = [pos.get(ir.DELIVER, False)]
        if self.H is not None:
            at_edge = (d + 1 == self.H) if isinstance(d, int) else (enc.z3_int(d) + 1 == self.H)
            if at_edge is not False:
                phase_steps = enc._or([pos[t] for t in pos if t not in ir.EXITS])
                ways.append(enc._and([at_edge, phase_steps]))
        out = enc._or(ways)
        if out is False:
            return False
        return enc._and([self.free(q, d, dv), out])

    # symbolic phases

    def is_phase(self, ph, q: str):
        return self.enc.phase_is(ph, q)

    def move_sym(self, ph, d, ph2, dv=None):
        enc = self.enc
        parts = []
        for q in self.enc.phases:
            at = self.is_phase(ph, q)
            if at is False:
                continue
            targets = []
            for r in self.enc.phases:
                to = self.is_phase(ph2, r)
                if to is False:
                    continue
                m = self.move(q, d, r, dv)
                targets.append(enc._and([to, m]))
            parts.append(enc._and([at, enc._or(targets)]))
        return enc._or(parts)

    def deliver_sym(self, ph, d, dv=None):
        enc = self.enc
        return enc._or([enc._and([self.is_phase(ph, q), self.deliver(q, d, dv)]) for q in enc.phases])


def _start(enc: Encoder, sym, H: int | None, q: Query):
    """The start depth: an int, or a Z3 Int tied to the start expression by the fact ``start``."""
    from libet.proofs.text import expr_text

    traj = enc.spec.trajectory
    d0 = enc.start_depth(sym)
    if isinstance(d0, int):
        return d0
    D0 = z3.Int("start_depth", enc.ctx)
    enc.add_fact("start", "start", "start", f"start {traj.start_phase} at depth {expr_text(traj.start_depth)}", traj.span, D0 == d0)
    q.add(D0 >= 0)
    if H is not None:
        q.add(D0 <= H)
    return D0


# ---------------------------------------------------------------------------------------------
# Finite horizon, one shot: frames by absolute depth


def bmc_unrolled(
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
    enc = Encoder(spec, params, rung.encoding, ctx, fixed, track=True)
    names = _reads(spec, policy)
    sym = enc.new_assignment("", names)
    q = Query(enc, rung, budget)
    q.add(*sym.constraints())
    q.add(enc.harmful(sym))
    steps = _Steps(enc, policy, sym, H)
    d0 = _start(enc, sym, H, q)
    q0 = traj.start_phase
    ctxz = enc.ctx
    on: dict[int, Any] = {}
    ph: dict[int, Any] = {}
    end: dict[int, Any] = {}
    first = d0 if isinstance(d0, int) else 0
    for d in range(first, H):
        if budget.expired():
            raise OutOfTime()
        if isinstance(d0, int) and d == d0:
            on[d] = True
            ph[d] = q0
        else:
            on[d] = z3.Bool(f"on@{d}", ctxz)
            ph[d], c = enc.phase_var(f"ph@{d}")
            q.add(c)
            starts = enc._and([d0 == d, steps.is_phase(ph[d], q0)]) if not isinstance(d0, int) else False
            if d > first:
                cont = enc._and([on[d - 1], steps.move_sym(ph[d - 1], d - 1, ph[d])])
                if not isinstance(d0, int):
                    cont = enc._and([d0 < d, cont])
            else:
                cont = False
            q.add(z3.Implies(on[d], enc.as_bool(enc._or([starts, cont]))))
        dl = steps.deliver_sym(ph[d], d)
        if dl is False:
            continue
        end[d] = z3.Bool(f"end@{d}", ctxz)
        q.add(z3.Implies(end[d], enc.as_bool(enc._and([on[d], dl]))))
    immediate = (d0 == H) if not isinstance(d0, int) else (d0 == H)
    goal = enc._or([immediate] + list(end.values()))
    if goal is False:
        q.sync()
        return Outcome("proved", core=frozenset(), facts=dict(enc.fact_info), details={"bound": H, "method": "bmc (one-shot)"})
    q.add(goal)

    def steps_at_most(k: int):
        ways = [immediate]
        for d, e in end.items():
            if isinstance(d0, int):
                if d + 1 - d0 <= k:
                    ways.append(e)
            else:
                ways.append(enc._and([e, d + 1 - d0 <= k]))
        return enc.as_bool(enc._or(ways))

    def n_steps(model) -> int:
        start = d0 if isinstance(d0, int) else model.eval(d0, model_completion=True).as_long()
        if start == H:
            return 0
        best = None
        for d, e in end.items():
            if z3.is_true(model.eval(e, model_completion=True)):
                best = d if best is None else min(best, d)
        return best + 1 - start

    ans = q.check()
    if ans.status == "unsat":
        labels, _ = q.core()
        return Outcome("proved", core=frozenset(labels), facts=dict(enc.fact_info), details={"bound": H, "method": "bmc (one-shot)"})
    if ans.status != "sat":
        return Outcome("unknown", reason=ans.reason, details={"method": "bmc (one-shot)"})
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
    k = best
    softs = []
    for d in range(first + 1, H):
        if d in ph and d - 1 in ph and not isinstance(ph[d], str) and not isinstance(ph[d - 1], str):
            softs.append((ph[d] == ph[d - 1], W_SIMPLE))
        elif d in ph and isinstance(ph.get(d - 1), str):
            softs.append((enc.as_bool(steps.is_phase(ph[d], ph[d - 1])), W_SIMPLE))
    softs += _default_softs(enc, sym, [n for n in spec.variables if n in names])
    exact_k = [steps_at_most(k)]
    if k > 0:
        exact_k.append(enc.as_bool(enc._not(steps_at_most(k - 1))))
    model, minimised = minimise_model(q, exact_k, softs, budget, None, polish=False)
    raw = _trace_from_frames(enc, model, sym, d0, H, ph, end, steps)
    raw["shortest"] = shortest
    return Outcome("violated", raw=raw, minimised=minimised, details={"method": "bmc (one-shot)"})


def _trace_from_frames(enc, model, sym, d0, H, ph, end, steps) -> dict:
    a = enc.decode(model, sym)
    start = d0 if isinstance(d0, int) else model.eval(d0, model_completion=True).as_long()
    if start == H:
        return {"assignment": a, "phases": [], "end": "start at horizon"}
    e = min(d for d, x in end.items() if z3.is_true(model.eval(x, model_completion=True)))
    phases = [enc.decode_phase(model, ph[d]) for d in range(start, e + 1)]
    return _ending(enc, model, a, phases, start, H, steps)


def _ending(enc, model, a, phases, start, H, steps) -> dict:
    """The raw trace. How its last step delivers (a ``-> deliver`` step, or a phase step that
    reaches the horizon) is read off by the replay from the interpreter, not from the model:
    terms for that state may never have been asserted."""
    return {"assignment": a, "phases": phases, "end": "deliver"}


# ---------------------------------------------------------------------------------------------
# Incremental BMC: frames by step


class _Incremental:
    """Frames 0, 1, ... of paths from the start, on one incremental solver."""

    def __init__(self, spec, policy, rung, budget, params, fixed, ctx):
        traj = spec.trajectory
        self.H = traj.horizon
        self.enc = enc = Encoder(spec, params, rung.encoding, ctx, fixed, track=True)
        self.names = _reads(spec, policy)
        self.sym = enc.new_assignment("", self.names)
        self.q = q = Query(enc, rung, budget)
        q.add(*self.sym.constraints())
        q.add(enc.harmful(self.sym))
        self.steps = _Steps(enc, policy, self.sym, self.H)
        self.d0 = _start(enc, self.sym, self.H, q)
        self.ph: list = [traj.start_phase]
        self.on: list = []
        self.budget = budget
        self.spec = spec

    def depth_at(self, i: int):
        if isinstance(self.d0, int):
            return self.d0 + i
        return self.d0 + i

    def depth_values(self, i: int):
        if isinstance(self.d0, int):
            return None
        return range(i, self.H) if self.H is not None else None

    def immediate(self):
        if self.H is None:
            return False
        return (self.d0 == self.H) if not isinstance(self.d0, int) else self.d0 == self.H

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
            return True
        ph, c = enc.phase_var(f"ph#{i}")
        self.q.add(c)
        prev_d = self.depth_at(i - 1)
        m = self.steps.move_sym(self.ph[i - 1], prev_d, ph, self.depth_values(i - 1))
        on = z3.Bool(f"on#{i}", enc.ctx)
        self.q.add(z3.Implies(on, enc.as_bool(enc._and([self.on[i - 1], within, m]))))
        self.ph.append(ph)
        self.on.append(on)
        return True

    def deliver_goal(self, i: int):
        return self.enc._and([self.on[i], self.steps.deliver_sym(self.ph[i], self.depth_at(i), self.depth_values(i))])

    def trace(self, model, i: int | None) -> dict:
        enc = self.enc
        a = enc.decode(model, self.sym)
        start = self.d0 if isinstance(self.d0, int) else model.eval(self.d0, model_completion=True).as_long()
        if i is None:
            return {"assignment": a, "phases": [], "end": "start at horizon"}
        phases = [enc.decode_phase(model, self.ph[j]) for j in range(i + 1)]
        return _ending(enc, model, a, phases, start, self.H, self.steps)


def bmc_incremental(
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
    ``trace=False`` skips simplifying the trace (a yes/no question)."""
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

    def timeout(bound):
        return Outcome("unknown", reason=f"timeout: no answer within the {budget.seconds:g} s budget", details={"method": method, "bound": bound})

    while True:
        if stop is not None and stop.is_set():
            return Outcome("unknown", reason="stopped", details={"method": method, "bound": i})
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
                return Outcome("proved", core=frozenset(labels | used), facts=dict(enc.fact_info), details={"method": method, "bound": i})
            lit = any_goal(frames)
            a = q.check(lit)
        except OutOfTime:
            return timeout(i)
        if a.status == "unknown":
            return Outcome("unknown", reason=a.reason, details={"method": method, "bound": i})
        if a.status == "unsat":
            labels, others = q.core()
            used |= labels
            i = frames[-1] + 1
            if exhausted or not any(o.eq(lit) for o in others):
                # no later frame exists, or the start itself is impossible
                return Outcome("proved", core=frozenset(used), facts=dict(enc.fact_info), details={"method": method, "bound": i})
            try:
                reach = q.check(inc.on[frames[-1]]) if frames[-1] > 0 else None
            except OutOfTime:
                return timeout(i)
            if reach is not None and reach.status == "unsat":
                # no path reaches the last frame: no longer path exists either
                labels, _ = q.core()
                return Outcome("proved", core=frozenset(labels | used), facts=dict(enc.fact_info), details={"method": method, "bound": i})
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
                    return Outcome("unknown", reason=a.reason, details={"method": method, "bound": i})
            first = frames[lo]
            if first != frames[-1] or a.status != "sat":
                a = q.check(goals[first])
                if a.status != "sat":
                    return Outcome("unknown", reason=a.reason or "lost the model", details={"method": method, "bound": i})
                model = q.model()
        except OutOfTime:
            return timeout(i)
        g = goals[first]
        if not trace:
            return Outcome("violated", raw=inc.trace(model, first), minimised=False, details={"method": method, "bound": first + 1})
        softs = []
        for j in range(1, first + 1):
            prev, cur = inc.ph[j - 1], inc.ph[j]
            softs.append((enc.as_bool(inc.steps.is_phase(cur, prev)) if isinstance(prev, str) else cur == prev, W_SIMPLE))
        softs += _default_softs(enc, inc.sym, [n for n in spec.variables if n in inc.names])
        model, minimised = minimise_model(q, [g], softs, budget, model, polish=False)
        raw = inc.trace(model, first)
        raw["shortest"] = True
        return Outcome("violated", raw=raw, minimised=minimised, details={"method": method, "bound": first + 1})


# ---------------------------------------------------------------------------------------------
# Unbounded: k-induction and Spacer


def k_induction(
    spec: ir.Spec,
    policy: str,
    rung: Rung,
    budget: Budget,
    params=None,
    fixed=None,
    ctx: z3.Context | None = None,
    stop: threading.Event | None = None,
    base: dict | None = None,
) -> Outcome:
    """The inductive step: from any state of a harmful assignment, k non-delivering steps force
    a non-delivering one. Sound together with the base case (no delivery within k steps of the
    start), which ``base["bound"]`` reports from the BMC running alongside."""
    enc = Encoder(spec, params, rung.encoding, ctx, fixed, track=True)
    names = _reads(spec, policy)
    sym = enc.new_assignment("", names)
    q = Query(enc, rung, budget)
    q.add(*sym.constraints())
    q.add(enc.harmful(sym))
    steps = _Steps(enc, policy, sym, None)
    phs, deps = [], []
    k = 0
    while True:
        if stop is not None and stop.is_set():
            return Outcome("unknown", reason="stopped", details={"method": "k-induction", "k": k})
        ph, c = enc.phase_var(f"s{k}.phase")
        d = z3.Int(f"s{k}.depth", enc.ctx)
        q.add(c, d >= 0)
        if k > 0:
            q.add(d == deps[-1] + 1)
            q.add(steps.move_sym(phs[-1], deps[-1], ph))
            q.add(enc._not(steps.deliver_sym(phs[-1], deps[-1])))
        phs.append(ph)
        deps.append(d)
        g = z3.Bool(f"bad#{k}", enc.ctx)
        q.add(z3.Implies(g, enc.as_bool(steps.deliver_sym(ph, d))))
        try:
            a = q.check(g)
        except OutOfTime:
            return Outcome("unknown", reason=f"timeout: no answer within the {budget.seconds:g} s budget", details={"method": "k-induction", "k": k})
        if a.status == "unsat":
            # wait for the base case: no delivery within k steps of the start
            while base is not None and base.get("bound", -1) < k and not (stop is not None and stop.is_set()):
                if budget.expired():
                    return Outcome("unknown", reason="timeout: the base case did not finish", details={"method": "k-induction", "k": k})
                time.sleep(0.002)
            if base is not None and base.get("bound", -1) < k:
                return Outcome("unknown", reason="stopped", details={"method": "k-induction", "k": k})
            labels, _ = q.core()
            return Outcome("proved", core=frozenset(labels), facts=dict(enc.fact_info), details={"method": "k-induction", "k": k})
        if a.status == "unknown":
            return Outcome("unknown", reason=a.reason, details={"method": "k-induction", "k": k})
        k += 1


#: Spacer configurations tried in turn, each with an equal share of what remains. Spacer is
#: sensitive to its settings: on small, obviously safe systems the default configuration can
#: run until the timeout while one of these answers in milliseconds (docs/proofs.md).
SPACER_CONFIGS: tuple[tuple[str, dict], ...] = (
    ("eq_prop off", {"spacer.eq_prop": False}),
    ("arith solver 6", {"spacer.arith.solver": 6}),
    ("global generalisation", {"spacer.global": True}),
    ("default", {}),
)


def spacer(
    spec: ir.Spec,
    policy: str,
    rung: Rung,
    budget: Budget,
    params=None,
    fixed=None,
    ctx: z3.Context | None = None,
    stop: threading.Event | None = None,
) -> Outcome:
    """Spacer over :data:`SPACER_CONFIGS`, each with a share of the budget; the first definite
    answer counts."""
    reasons = []
    for i, (name, settings) in enumerate(SPACER_CONFIGS):
        if stop is not None and stop.is_set():
            break
        if budget.expired():
            break
        share = budget.slice(1.0 / (len(SPACER_CONFIGS) - i))
        try:
            out = _spacer_once(spec, policy, rung, share, params, fixed, ctx, settings)
        except z3.Z3Exception as exc:
            reasons.append(f"{name}: {exc}")
            continue
        if out.status != "unknown":
            out.details["spacer_config"] = name
            return out
        reasons.append(f"{name}: {out.reason}")
    return Outcome("unknown", reason="; ".join(reasons) or "timeout", details={"method": "spacer"})


def _spacer_once(spec, policy, rung, budget, params, fixed, ctx, settings) -> Outcome:
    """Horn clauses over Reach(σ, phase, depth); Spacer's invariant is re-checked with a fresh
    solver before it counts."""
    enc = Encoder(spec, params, rung.encoding, ctx, fixed, track=False)
    names = _reads(spec, policy)
    traj = spec.trajectory
    sym = enc.new_assignment("", names)
    free = [n for n in spec.variables if n in names and n not in enc.fixed]
    args = [sym.terms[n] for n in free]
    ph, phc = enc.phase_var("phase")
    ph2, ph2c = enc.phase_var("phase'")
    D, D2 = z3.Int("depth", enc.ctx), z3.Int("depth'", enc.ctx)
    sorts = [a.sort() for a in args] + [ph.sort(), D.sort()]
    reach = z3.Function("Reach", *sorts, z3.BoolSort(enc.ctx))
    steps = _Steps(enc, policy, sym, None)
    dom = enc.as_bool(enc._and(sym.constraints() + [phc]))
    harm = enc.as_bool(enc.harmful(sym))
    d0 = enc.start_depth(sym)
    d0t = enc.z3_int(d0)
    init = z3.And(dom, harm, enc.as_bool(steps.is_phase(ph, traj.start_phase)), D == d0t, D >= 0)
    trans = z3.And(dom, ph2c, D >= 0, D2 == D + 1, enc.as_bool(steps.move_sym(ph, D, ph2)))
    bad = z3.And(dom, D >= 0, enc.as_bool(steps.deliver_sym(ph, D)))
    fp = z3.Fixedpoint(ctx=enc.ctx)
    fp.set(engine="spacer")
    for k, v in settings.items():
        fp.set(k, v)
    fp.set("timeout", budget.ms())
    if budget.rlimit:
        fp.set("rlimit", int(budget.rlimit))
    fp.register_relation(reach)
    fp.declare_var(*args, ph, ph2, D, D2)
    fp.rule(reach(*args, ph, D), init)
    fp.rule(reach(*args, ph2, D2), [reach(*args, ph, D), trans])
    if budget.expired():
        return Outcome("unknown", reason="timeout", details={"method": "spacer"})
    r = fp.query(z3.And(reach(*args, ph, D), bad))
    if r == z3.sat:
        return Outcome("violated", raw=None, details={"method": "spacer"})
    if r != z3.unsat:
        from libet.proofs.solve import unknown_reason

        return Outcome("unknown", reason=unknown_reason(fp.reason_unknown(), budget), details={"method": "spacer"})
    inv = fp.get_cover_delta(-1, reach)
    inv_at = lambda p, d: z3.substitute_vars(inv, *args, p, d)  # noqa: E731
    checks = {
        "initiation": z3.And(init, z3.Not(inv_at(ph, D))),
        "consecution": z3.And(inv_at(ph, D), trans, z3.Not(inv_at(ph2, D2))),
        "safety": z3.And(inv_at(ph, D), bad),
    }
    recheck = []
    for name, f in checks.items():
        s = z3.Solver(ctx=enc.ctx)
        s.set("timeout", max(1, budget.ms()))
        s.add(f)
        recheck.append((name, s.check() == z3.unsat))
    details = {"method": "spacer", "invariant": _show_invariant(enc, inv_at(ph, D), free, sym), "recheck": recheck}
    if not all(ok for _, ok in recheck):
        failed = ", ".join(n for n, ok in recheck if not ok)
        return Outcome("unknown", reason=f"Spacer's invariant failed the re-check ({failed}); not trusted", details=details)
    return Outcome("proved", core=None, facts={}, details=details)


def _show_invariant(enc: Encoder, f, free, sym) -> str:
    """The invariant in the spec's terms: phase and enum indices shown by name."""
    from libet.proofs.z3text import z3_text

    names = {}
    for n in free:
        var = enc.spec.variables[n]
        names[str(sym.terms[n])] = (n, var.domain.members if hasattr(var.domain, "members") else None)
    names["phase"] = ("phase", enc.phases)
    names["depth"] = ("depth", None)
    return z3_text(z3.simplify(f), names)


#: (threads, contexts) of races whose threads outlived their join; see :func:`unbounded`.
_LINGERING: list = []


def unbounded(
    spec: ir.Spec,
    policy: str,
    rung: Rung,
    budget: Budget,
    params=None,
    fixed=None,
) -> Outcome:
    """Race incremental BMC (counterexamples, and the base case), k-induction and Spacer, each
    on its own Z3 context and thread; the first decisive answer wins and the others stop."""
    stop = threading.Event()
    results: queue.Queue = queue.Queue()
    base: dict = {"bound": -1}
    contexts = {name: z3.Context() for name in ("bmc", "k-induction", "spacer")}

    def run(name, fn, **kw):
        try:
            out = fn(spec, policy, rung, budget, params, fixed, ctx=contexts[name], stop=stop, **kw)
        except Unencodable as u:
            out = Outcome("unknown", reason=u.reason + (f" (at {u.span})" if u.span else ""), details={"method": name, "unencodable": True})
        except OutOfTime:
            out = Outcome("unknown", reason=f"timeout: no answer within the {budget.seconds:g} s budget", details={"method": name})
        except z3.Z3Exception as exc:
            out = Outcome("unknown", reason=f"Z3 error: {exc}", details={"method": name})
        except BaseException as exc:  # handed to the caller's thread
            out = exc
        results.put((name, out))

    bmc_progress = base

    def bmc(spec, policy, rung, budget, params, fixed, ctx, stop):
        out = bmc_incremental(spec, policy, rung, budget, params, fixed, ctx, stop=stop, progress=bmc_progress)
        return out

    threads = [
        threading.Thread(target=run, args=("bmc", bmc), daemon=True),
        threading.Thread(target=run, args=("k-induction", k_induction), kwargs={"base": base}, daemon=True),
        threading.Thread(target=run, args=("spacer", spacer), daemon=True),
    ]
    for t in threads:
        t.start()
    pending = len(threads)
    unknowns: list[tuple[str, Outcome]] = []
    winner: Outcome | None = None
    spacer_sat = False
    unencodable: Outcome | None = None
    deadline = time.monotonic() + budget.remaining()
    while pending:
        wait = deadline - time.monotonic()
        if wait <= 0:
            break
        try:
            name, out = results.get(timeout=wait + 0.05)
        except queue.Empty:
            break
        pending -= 1
        if isinstance(out, BaseException):
            stop.set()
            for c in contexts.values():
                c.interrupt()
            raise out
        if out.status == "violated" and out.raw is None:
            spacer_sat = True  # reachable; the BMC will produce the trace
            continue
        if out.status in ("proved", "violated"):
            winner = out
            break
        unknowns.append((name, out))
        if out.details.get("unencodable"):
            unencodable = out
            if name == "bmc" or {n for n, o in unknowns if o.details.get("unencodable")} >= {"k-induction", "spacer"}:
                # nothing can prove it; the BMC may still refute it, within a share of the time
                deadline = min(deadline, time.monotonic() + budget.seconds * UNENCODABLE_SEARCH_SHARE)
                if name == "bmc":
                    break
    stop.set()
    for c in contexts.values():
        try:
            c.interrupt()
        except Exception:  # pragma: no cover
            pass
    for t in threads:
        t.join(timeout=5.0)
    if any(t.is_alive() for t in threads):
        # a thread still busy in Python (not in Z3, which the interrupt stops) must not see its
        # context freed under it: keep the contexts alive until it ends
        _LINGERING.append((threads, contexts))
    _LINGERING[:] = [(ts, cs) for ts, cs in _LINGERING if any(t.is_alive() for t in ts)]
    if winner is not None:
        return winner
    bound = base.get("bound", -1)
    if unencodable is not None:
        return Outcome(
            "unknown",
            reason=f"{unencodable.reason}; bounded search found no counterexample",
            details={"method": "k-induction, spacer, bmc", "bound": max(bound, 0)},
        )
    reasons = "; ".join(f"{n}: {o.reason}" for n, o in unknowns if o.reason != "stopped")
    note = " Spacer found a path to delivery, but no trace was extracted in time." if spacer_sat else ""
    return Outcome(
        "unknown",
        reason=f"no engine decided within the budget ({reasons or 'timeout'}).{note}",
        details={"method": "k-induction, spacer, bmc", "bound": max(bound, 0)},
    )
