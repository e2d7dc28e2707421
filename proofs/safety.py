"""``safe``: the step relation every engine of it shares.

Consumes: a spec with a trajectory, a policy, an :class:`~libet.proofs.rules.Encoder` and a
symbolic harmful assignment.
Produces: :class:`Steps` (one step from (q, d) to a phase is possible; one step from (q, d)
delivers), the start depth as a named fact, the set of variables a path reads, and
:class:`Problem`, the setting the engines start from. The engines are :mod:`.bmc` (bounded
model checking, one-shot and incremental), :mod:`.induction` (k-induction), :mod:`.spacer`
(Z3's Spacer on Horn clauses) and :mod:`.race` (the three raced with ``horizon none``); each
returns an :class:`~libet.proofs.solve.Outcome`: PROVED (with the facts in the unsat core, or
an inductive invariant re-checked with a fresh solver), VIOLATED with a raw trace (the
shortest, then simplified), or UNKNOWN with the reason and the bound reached.

One step from state (q, d) of assignment σ (docs/semantics.md §4, §7) is possible when the veto
is not certain (v < 1) and the transition has probability > 0, or when a refusal that goes on
(``veto ... then -> r``) has probability > 0: it steps to (r, d + 1). Delivery happens by a
``-> deliver`` step, by a phase step from depth H - 1 (reaching the horizon delivers), or at
once when the start depth is H; with ``horizon N then stop`` only by a ``-> deliver`` step.
"""

from __future__ import annotations

from typing import Any, Mapping

import z3

from libet.proofs.domains import FD, is_z3
from libet.proofs.minimise import W_DEFAULT, default_softs
from libet.proofs.rules import Encoder
from libet.proofs.solve import Budget, Query, Rung
from libet.proofs.text import expr_text
from libet.spec import ir
from libet.spec.reads import reads_of


def path_reads(spec: ir.Spec, policy: str) -> frozenset[str]:
    """The variables a path reads: the policy's rules, the reference values (harmful), the start
    depth, the transitions and the ``when`` of the choice points."""
    reads = reads_of(spec)
    out = reads.policy(policy) | reads.harm() | reads.start() | reads.transitions()
    whens = [c.when for c in choices_of(spec) if c.when is not None]
    return out | reads.variables(whens) if whens else out


def choices_of(spec: ir.Spec) -> list[ir.Choice]:
    traj = spec.trajectory
    return [] if traj is None else [c for p in traj.phases for c in p.choices]


def moving_state(spec: ir.Spec, policy: str) -> tuple[str, ...]:
    """The state variables that can change along a path of ``policy``: updated by some
    transition or refusal, or set by some choice point (the others keep their initial value
    and stay constants in every encoding), in declaration order."""
    traj = spec.trajectory
    if traj is None or not spec.state:
        return ()
    names = {c.var for c in choices_of(spec)}
    names |= {u.var for p in traj.phases for t in p.transitions for u in t.updates}
    names |= {u.var for r in spec.policies[policy].rules for u in r.updates}
    return tuple(n for n in spec.state if n in names)


def _key(v):
    if isinstance(v, FD):
        return ("fd", v.bv.get_id())
    if is_z3(v):
        return ("z3", v.get_id())
    return ("c", v)


class Steps:
    """The step relation of one assignment copy, built per (phase, depth, state) on demand.

    With state variables each method takes the valuation ``s`` the step is taken from (after
    the choice, docs/semantics.md §4b): the veto and the transitions read it, and the moves
    to a phase carry the valuation they lead to (:meth:`move_state`). Without state variables
    ``s`` is ``None`` and the relation is over (phase, depth) alone."""

    def __init__(self, enc: Encoder, policy: str, sym, horizon: int | None):
        self.enc = enc
        self.policy = policy
        self.sym = sym
        self.H = horizon
        self._envs: dict = {}
        spec = enc.spec
        #: the state variables that change along a path (the others are constants)
        self.moving = moving_state(spec, policy)
        #: the state variables some choice point sets
        self.chosen = tuple(n for n in self.moving if any(c.var == n for c in choices_of(spec)))

    def env(self, q: str, d, depth_values=None, s=None):
        key = (q, d if isinstance(d, int) else d.get_id() if is_z3(d) else id(d), None if s is None else tuple(_key(s[n]) for n in s))
        e = self._envs.get(key)
        if e is None:
            # the env keeps ``s`` (and so its terms, whose ids are in the key) alive
            e = self._envs[key] = self.enc.env(self.sym, d, q, depth_values=depth_values, state=s)
        return e

    def free(self, q: str, d, dv=None, s=None):
        """The veto is not certain at (q, d)."""
        return self.enc.not_(self.enc.veto_certain(self.policy, self.env(q, d, dv, s)))

    def pos(self, q: str, d, dv=None, s=None) -> dict:
        return self.enc.transition_positive(q, self.env(q, d, dv, s))

    def refusals(self, q: str, d, dv=None, s=None) -> dict:
        """Per phase r: a refusal from (q, d) that goes on in r has positive probability."""
        return self.enc.refusal_positive(self.policy, self.env(q, d, dv, s))

    def move(self, q: str, d, r: str, dv=None, s=None):
        """One step from (q, d) to phase r is possible (the caller ensures d + 1 < H): the
        generator's, or a refusal's that goes on in r."""
        p = self.pos(q, d, dv, s).get(r, False)
        gen = False if p is False else self.enc.and_([self.free(q, d, dv, s), p])
        return self.enc.or_([gen, self.refusals(q, d, dv, s).get(r, False)])

    def edges(self, q: str, d, dv, s) -> list[tuple[str, Any, dict]]:
        """Every way of going on from (q, d, s) to a phase: (target, possible, the valuation
        it leads to), the generator's transitions and the refusals that go on, one by one."""
        enc = self.enc
        env = self.env(q, d, dv, s)
        out = []
        pos = self.pos(q, d, dv, s)
        free = None
        for t in enc.spec.trajectory.phase(q).transitions:
            if t.target in ir.EXITS or pos.get(t.target, False) is False:
                continue
            if free is None:
                free = self.free(q, d, dv, s)
            out.append((t.target, enc.and_([free, pos[t.target]]), enc.updated(t.updates, env)))
        for rule, possible in enc.refusal_edges(self.policy, env):
            if possible is not False:
                out.append((rule.then, possible, enc.updated(rule.updates, env)))
        return out

    def move_state(self, q: str, d, r: str, s, s2, dv=None):
        """One step from (q, d, s) to (r, d + 1, s2) is possible."""
        enc = self.enc
        ways = []
        for target, possible, new in self.edges(q, d, dv, s):
            if target != r or possible is False:
                continue
            ways.append(enc.and_([possible] + [enc.equal_state(n, new[n], s2[n]) for n in self.moving]))
        return enc.or_(ways)

    def deliver(self, q: str, d, dv=None, s=None):
        """One step from (q, d) delivers."""
        enc = self.enc
        pos = self.pos(q, d, dv, s)
        ways = [pos.get(ir.DELIVER, False)]
        refusal = False
        if self.H is not None and self.enc.spec.trajectory.at_horizon == ir.DELIVER:
            at_edge = (d + 1 == self.H) if isinstance(d, int) else (enc.z3_int(d) + 1 == self.H)
            if at_edge is not False:
                phase_steps = enc.or_([pos[t] for t in pos if t not in ir.EXITS])
                ways.append(enc.and_([at_edge, phase_steps]))
                # a refusal that goes on reaches the horizon too
                refusal = enc.and_([at_edge, enc.or_(list(self.refusals(q, d, dv, s).values()))])
        out = enc.or_(ways)
        gen = False if out is False else enc.and_([self.free(q, d, dv, s), out])
        return enc.or_([gen, refusal])

    # choice points

    def choose(self, q: str, d, s, c, dv=None):
        """At (q, d, s) the adversary may pick the valuation ``c``: each variable a choice of
        q sets is one of its options where its ``when`` holds at (q, d, s), and keeps its value
        elsewhere; every other variable keeps its value."""
        enc = self.enc
        by_var = {ch.var: ch for ch in enc.spec.trajectory.phase(q).choices}
        parts = []
        for n in self.chosen:
            same = enc.equal_state(n, c[n], s[n])
            ch = by_var.get(n)
            if ch is None:
                parts.append(same)
                continue
            picked = enc.or_([enc.equal_state(n, c[n], enc.state_constant(n, v)) for v in ch.options])
            when = True if ch.when is None else enc.term(ch.when, self.env(q, d, dv, s))
            parts.append(enc.and_([enc.or_([enc.not_(when), picked]), enc.or_([when, same])]))
        return enc.and_(parts)

    # symbolic phases

    def is_phase(self, ph, q: str):
        return self.enc.phase_is(ph, q)

    def _by_phase(self, ph, each):
        """``each(q)`` for the phase ``ph`` is (a name, or a symbolic phase)."""
        enc = self.enc
        if isinstance(ph, str):
            return each(ph)
        parts = []
        for q in enc.phases:
            at = self.is_phase(ph, q)
            if at is False:
                continue
            parts.append(enc.and_([at, each(q)]))
        return enc.or_(parts)

    def move_sym(self, ph, d, ph2, dv=None, s=None, s2=None):
        """One step from (ph, d[, s]) to phase ph2 [with valuation s2] is possible, for
        symbolic phases."""
        enc = self.enc

        def each(q):
            targets = []
            for r in enc.phases:
                to = self.is_phase(ph2, r)
                if to is False:
                    continue
                step = self.move(q, d, r, dv) if s is None else self.move_state(q, d, r, s, s2, dv)
                targets.append(enc.and_([to, step]))
            return enc.or_(targets)

        return self._by_phase(ph, each)

    def deliver_sym(self, ph, d, dv=None, s=None):
        return self._by_phase(ph, lambda q: self.deliver(q, d, dv, s))

    def choose_sym(self, ph, d, s, c, dv=None):
        """The adversary may pick ``c`` at (ph, d, s), for a symbolic phase."""
        if not self.chosen:
            return True
        return self._by_phase(ph, lambda q: self.choose(q, d, s, c, dv))


class Problem:
    """What the engines of ``safe`` start from: an encoder (tracking facts), one symbolic
    assignment over the variables a path reads, its step relation, and a query that asserts
    the assignment's domain and that it is harmful."""

    def __init__(
        self,
        spec: ir.Spec,
        policy: str,
        rung: Rung,
        budget: Budget,
        params: Mapping | None,
        fixed: Mapping | None,
        ctx: z3.Context | None,
        horizon: int | None,
    ):
        self.enc = enc = Encoder(spec, params, rung.encoding, ctx, fixed, track=True)
        self.names = path_reads(spec, policy)
        self.sym = enc.new_assignment("", self.names)
        self.q = Query(enc, rung, budget)
        self.q.add(*self.sym.constraints())
        self.q.add(enc.harmful(self.sym))
        self.steps = Steps(enc, policy, self.sym, horizon)
        #: the initial valuation of the state variables (None without any)
        self.init = enc.initial_state() if spec.state else None

    # state variables along a path (docs/semantics.md §4b)

    def frame_state(self, tag: str):
        """A fresh valuation for a step's source state (symbols for the variables that move,
        within their domains), or None without state variables."""
        if self.init is None or not self.steps.moving:
            return self.init
        terms, dom = self.enc.new_state(tag, self.steps.moving, self.init)
        self.q.add(*dom)
        return terms

    def chosen_state(self, tag: str, pre, ph, d, dv=None):
        """The valuation after the adversary's choice at (ph, d, pre): fresh symbols for the
        chosen variables, restricted to what the phase's choice points allow (existential:
        any adversary). ``pre`` itself where no choice point exists."""
        if pre is None or not self.steps.chosen:
            return pre
        terms, dom = self.enc.new_state(tag, self.steps.chosen, pre)
        self.q.add(*dom)
        self.q.add(self.enc.as_bool(self.steps.choose_sym(ph, d, pre, terms, dv)))
        return terms

    def is_initial(self, s):
        """``s`` is the initial valuation."""
        if s is None:
            return True
        return self.enc.and_([self.enc.equal_state(n, s[n], self.init[n]) for n in self.steps.moving])

    def state_softs(self, pres: list, posts: list) -> list:
        """Soft constraints for a trace: the adversary leaves a variable as it is."""
        out = []
        for pre, post in zip(pres, posts):
            if pre is None or post is pre:
                continue
            for n in self.steps.chosen:
                f = self.enc.equal_state(n, post[n], pre[n])
                if not isinstance(f, bool):
                    out.append((f, W_DEFAULT))
        return out

    def decode_states(self, model, states: list) -> list | None:
        if self.init is None:
            return None
        return [self.enc.decode_state(model, s) for s in states]

    def start(self, H: int | None):
        """The start depth: an int, or a Z3 Int tied to the start expression by the fact
        ``start`` (and kept within 0..H)."""
        enc, q = self.enc, self.q
        traj = enc.spec.trajectory
        d0 = enc.start_depth(self.sym)
        if isinstance(d0, int):
            return d0
        D0 = z3.Int("start_depth", enc.ctx)
        text = f"start {traj.start_phase} at depth {expr_text(traj.start_depth)}"
        enc.facts.add("start", "start", "start", text, traj.span, D0 == d0)
        q.add(D0 >= 0)
        if H is not None:
            q.add(D0 <= H)
        return D0

    def softs(self) -> list:
        """Soft constraints: every variable the path reads at its neutral value."""
        return default_softs(self.enc, self.sym, [n for n in self.enc.spec.variables if n in self.names])


def start_value(model, d0) -> int:
    """The start depth a model gives (``d0`` an int or a Z3 Int)."""
    return d0 if isinstance(d0, int) else model.eval(d0, model_completion=True).as_long()


def raw_trace(a: dict, phases: list, states: list | None = None, chosen: list | None = None) -> dict:
    """A raw trace: the assignment and the phase of each step's source state; with state
    variables, the valuation of each step's source state (``states``) and the one the
    adversary chose there (``chosen``). How its last step delivers (a ``-> deliver`` step, or
    a phase step that reaches the horizon) is read off by the replay from the interpreter, not
    from the model: terms for that state may never have been asserted."""
    raw = {"assignment": a, "phases": phases, "end": "deliver"}
    if states is not None:
        raw["states"] = states
        raw["chosen"] = chosen
    return raw


def start_at_horizon(a: dict) -> dict:
    """A raw trace that is delivered at once: the start depth is the horizon."""
    return {"assignment": a, "phases": [], "end": "start at horizon"}
