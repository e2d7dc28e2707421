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

from typing import Mapping

import z3

from libet.proofs.minimise import default_softs
from libet.proofs.rules import Encoder
from libet.proofs.solve import Budget, Query, Rung
from libet.proofs.text import expr_text
from libet.spec import ir
from libet.spec.reads import reads_of


def path_reads(spec: ir.Spec, policy: str) -> frozenset[str]:
    """The variables a path reads: the policy's rules, the reference values (harmful), the start
    depth and the transitions."""
    reads = reads_of(spec)
    return reads.policy(policy) | reads.harm() | reads.start() | reads.transitions()


class Steps:
    """The step relation of one assignment copy, built per (phase, depth) on demand."""

    def __init__(self, enc: Encoder, policy: str, sym, horizon: int | None):
        self.enc = enc
        self.policy = policy
        self.sym = sym
        self.H = horizon
        self._envs: dict = {}

    def env(self, q: str, d, depth_values=None):
        key = (q, d if isinstance(d, int) else d.get_id())
        e = self._envs.get(key)
        if e is None:
            e = self._envs[key] = self.enc.env(self.sym, d, q, depth_values=depth_values)
        return e

    def free(self, q: str, d, dv=None):
        """The veto is not certain at (q, d)."""
        return self.enc.not_(self.enc.veto_certain(self.policy, self.env(q, d, dv)))

    def pos(self, q: str, d, dv=None) -> dict:
        return self.enc.transition_positive(q, self.env(q, d, dv))

    def refusals(self, q: str, d, dv=None) -> dict:
        """Per phase r: a refusal from (q, d) that goes on in r has positive probability."""
        return self.enc.refusal_positive(self.policy, self.env(q, d, dv))

    def move(self, q: str, d, r: str, dv=None):
        """One step from (q, d) to phase r is possible (the caller ensures d + 1 < H): the
        generator's, or a refusal's that goes on in r."""
        p = self.pos(q, d, dv).get(r, False)
        gen = False if p is False else self.enc.and_([self.free(q, d, dv), p])
        return self.enc.or_([gen, self.refusals(q, d, dv).get(r, False)])

    def deliver(self, q: str, d, dv=None):
        """One step from (q, d) delivers."""
        enc = self.enc
        pos = self.pos(q, d, dv)
        ways = [pos.get(ir.DELIVER, False)]
        refusal = False
        if self.H is not None and self.enc.spec.trajectory.at_horizon == ir.DELIVER:
            at_edge = (d + 1 == self.H) if isinstance(d, int) else (enc.z3_int(d) + 1 == self.H)
            if at_edge is not False:
                phase_steps = enc.or_([pos[t] for t in pos if t not in ir.EXITS])
                ways.append(enc.and_([at_edge, phase_steps]))
                # a refusal that goes on reaches the horizon too
                refusal = enc.and_([at_edge, enc.or_(list(self.refusals(q, d, dv).values()))])
        out = enc.or_(ways)
        gen = False if out is False else enc.and_([self.free(q, d, dv), out])
        return enc.or_([gen, refusal])

    # symbolic phases

    def is_phase(self, ph, q: str):
        return self.enc.phase_is(ph, q)

    def move_sym(self, ph, d, ph2, dv=None):
        """One step from (ph, d) to phase ph2 is possible, for symbolic phases."""
        enc = self.enc
        parts = []
        for q in enc.phases:
            at = self.is_phase(ph, q)
            if at is False:
                continue
            targets = []
            for r in enc.phases:
                to = self.is_phase(ph2, r)
                if to is False:
                    continue
                targets.append(enc.and_([to, self.move(q, d, r, dv)]))
            parts.append(enc.and_([at, enc.or_(targets)]))
        return enc.or_(parts)

    def deliver_sym(self, ph, d, dv=None):
        enc = self.enc
        return enc.or_([enc.and_([self.is_phase(ph, q), self.deliver(q, d, dv)]) for q in enc.phases])


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


def raw_trace(a: dict, phases: list) -> dict:
    """A raw trace: the assignment and the phase of each step's source state. How its last step
    delivers (a ``-> deliver`` step, or a phase step that reaches the horizon) is read off by
    the replay from the interpreter, not from the model: terms for that state may never have
    been asserted."""
    return {"assignment": a, "phases": phases, "end": "deliver"}


def start_at_horizon(a: dict) -> dict:
    """A raw trace that is delivered at once: the start depth is the horizon."""
    return {"assignment": a, "phases": [], "end": "start at horizon"}
