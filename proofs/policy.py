"""Checks about the policy as a function of (assignment, phase, depth, state): invariance,
completeness, no over-refusal, and vacuity.

Consumes: a spec, a policy name, what to ask (the property, or which side of *harmful*), one
:class:`~libet.proofs.solve.Rung` and a budget.
Produces: an :class:`~libet.proofs.solve.Outcome`: PROVED with the facts in the unsat core,
VIOLATED with a raw counterexample (concrete assignments, phase and depth, minimised by
:mod:`.minimise`), or UNKNOWN with the reason; for vacuity, a :class:`Vacuity`. The check kinds
(:mod:`.kinds`) call these, and the runner replays every counterexample through the reference
interpreter before it becomes a result.

"At every state" means every phase, every depth 0 <= d < H (every d >= 0 with ``horizon
none``) and every valuation of the state variables in their domains, reachable or not
(docs/semantics.md §7, §4b). A policy that does not read the phase (or the
depth) is checked at one phase (depth), since every other gives the same veto.

``invariant under V`` is decided by self-composition without quantifiers: two copies of the
assignment that agree outside V (each agreement a named fact ``shared:x``), one phase (two when
V holds ``phase``), one depth (two depths when V holds ``depth``), and the query "do their veto
probabilities differ?". ``complete at PHASES`` is ``complete`` with the phase limited to PHASES.
"""

from __future__ import annotations

import itertools
from fractions import Fraction
from typing import Mapping

import attrs
import z3

from libet.proofs.minimise import W_DEFAULT, default_softs, minimise_model
from libet.proofs.rules import Encoder
from libet.proofs.solve import Budget, Outcome, OutOfTime, Query, Rung, proved
from libet.spec import ir
from libet.spec.reads import reads_of

#: Soft-constraint weight of keeping two copies equal on a variable (more than keeping a value
#: at its neutral default, :data:`~libet.proofs.minimise.W_DEFAULT`).
W_SAME = 100


def policy_reads(spec: ir.Spec, policy: str) -> tuple[frozenset[str], bool, bool]:
    """The variables the rules of ``policy`` read, and whether they read depth and phase."""
    reads = reads_of(spec)
    exprs = [x for r in spec.policies[policy].rules for x in (r.condition, r.strength)]
    return reads.policy(policy), any(reads.depth(e) for e in exprs), any(reads.phase(e) for e in exprs)


def policy_states(spec: ir.Spec, policy: str) -> frozenset[str]:
    """The state variables the rules of ``policy`` read (conditions and strengths)."""
    if not spec.state:
        return frozenset()
    exprs = [x for r in spec.policies[policy].rules for x in (r.condition, r.strength)]
    return reads_of(spec).states(exprs)


def policy_shape(spec: ir.Spec, policy: str, with_values: bool = False) -> str:
    """The policy's shape, which picks its solver ladder (:data:`libet.proofs.solve.LADDERS`):

    * ``finite``: every strength is the constant 0 or 1 and every condition is logic over
      bools, enum (or phase) comparisons and depth, reading no int variable;
    * ``boolean``: the same, but some condition compares an int variable;
    * ``arith``: some condition does arithmetic, calls a function or reads a param, or some
      strength is not 0 or 1.

    With ``with_values`` the reference values count too (``complete`` and ``no over-refusal``
    read them through ``harmful``)."""
    if not _binary_strengths(spec, policy):
        return "arith"
    exprs = [r.condition for r in spec.policies[policy].rules]
    if with_values:
        exprs += [v.expr for v in spec.values.values()]
    shape = "finite"
    for e in exprs:
        for node in ir.walk(spec.expand(e)):
            if isinstance(node, (ir.Arith, ir.Call, ir.Neg, ir.Ite, ir.ParamRef)):
                return "arith"
            if isinstance(node, ir.Compare) and ir.Kind.REAL in (node.left.type.kind, node.right.type.kind):
                return "arith"
            if isinstance(node, ir.VarRef) and isinstance(spec.variables[node.name].domain, ir.IntDomain):
                shape = "boolean"
            if isinstance(node, ir.StateRef) and isinstance(spec.state[node.name].domain, ir.IntDomain):
                shape = "boolean"
    return shape


def _binary_strengths(spec: ir.Spec, policy: str) -> bool:
    return all(isinstance(r.strength, ir.Const) and Fraction(r.strength.value) in (0, 1) for r in spec.policies[policy].rules)


class States:
    """The phase, depth(s) and valuation(s) of the state variables a query about the policy
    ranges over: symbolic where the policy reads them, else the start phase, depth 0 and the
    initial values (any other gives the same veto). A symbolic valuation ranges over every
    valuation of the domains, reachable or not (docs/semantics.md §4b)."""

    def __init__(
        self,
        enc: Encoder,
        reads_depth: bool,
        reads_phase: bool,
        two_depths: bool = False,
        two_phases: bool = False,
        phases: tuple[str, ...] | None = None,
        reads_state: frozenset[str] | tuple | None = None,
        two_states: frozenset[str] | tuple = (),
    ):
        self.enc = enc
        #: the state variables that are symbolic (default: all of them), and those that differ
        #: between the copies
        self.state_names = tuple(n for n in enc.spec.state if reads_state is None or n in reads_state)
        self.moved_state = tuple(n for n in self.state_names if n in two_states)
        self.state = self.state2 = None
        state_domain: list = []
        if enc.spec.state:
            self.state, state_domain = enc.new_state("", self.state_names)
            self.state2 = self.state
            if self.moved_state:
                self.state2, more = enc.new_state("'", self.moved_state, self.state)
                state_domain = state_domain + more
        h = enc.horizon
        self.depth_values = range(h) if h is not None else None
        self.domain: list = []
        if phases is not None and reads_phase and enc.phases:
            # only these phases (`complete at PHASES`)
            self.phase, c = enc.phase_var("phase")
            self.domain.append(c)
            self.domain.append(enc.as_bool(enc.or_([enc.phase_is(self.phase, q) for q in phases])))
        elif phases is not None:
            self.phase = phases[0]  # the policy does not read the phase: any one of them will do
        elif reads_phase and enc.phases:
            self.phase, c = enc.phase_var("phase")
            self.domain.append(c)
        else:
            self.phase = enc.default_phase()
        self.phase2 = self.phase
        if two_phases and reads_phase and enc.phases:
            self.phase2, c = enc.phase_var("phase'")
            self.domain.append(c)
        if reads_depth:
            hi = None if h is None else h - 1
            self.depth, c = enc.depth_var("depth", 0, hi, fd=True)
            self.domain.append(c)
            if two_depths:
                self.depth2, c = enc.depth_var("depth'", 0, hi, fd=True)
                self.domain.append(c)
            else:
                self.depth2 = self.depth
        else:
            self.depth = self.depth2 = 0
        self.domain += state_domain

    def env(self, sym, second: bool = False):
        d = self.depth2 if second else self.depth
        state = self.state2 if second else self.state
        return self.enc.env(sym, d, self.phase2 if second else self.phase, depth_values=self.depth_values, state=state)

    def decode_state(self, model, second: bool = False) -> dict | None:
        """The valuation of the state variables a model gives (None without any)."""
        state = self.state2 if second else self.state
        return None if state is None else self.enc.decode_state(model, state)

    def decode(self, model) -> tuple[str | None, int, int]:
        enc = self.enc
        return enc.decode_phase(model, self.phase), enc.decode_depth(model, self.depth), enc.decode_depth(model, self.depth2)

    def decode_phase2(self, model) -> str | None:
        return self.enc.decode_phase(model, self.phase2)

    def softs(self) -> list:
        """Soft constraints: the start phase and depth 0, where they are symbolic."""
        out = []
        enc = self.enc
        if not (isinstance(self.phase, str) or self.phase is None):
            out.append((enc.phase_is(self.phase, enc.default_phase()), W_DEFAULT))
        if self.phase2 is not self.phase and not isinstance(self.phase2, str):
            out.append((enc.phase_is(self.phase2, enc.default_phase()), W_DEFAULT))
        if not isinstance(self.depth, int):
            out.append((enc.equal(self.depth, 0), W_DEFAULT))
        for n in self.state_names:  # the initial values
            init = enc.state_constant(n, enc.spec.state[n].init)
            out.append((enc.as_bool(enc.equal_state(n, self.state[n], init)), W_DEFAULT))
        return out


def _finish(q: Query, enc: Encoder, ans, on_sat) -> Outcome:
    if ans.status == "unsat":
        return proved(enc, q.core()[0])
    if ans.status == "sat":
        return on_sat()
    return Outcome("unknown", reason=ans.reason)


def invariance(
    spec: ir.Spec,
    policy: str,
    prop: ir.Invariance,
    rung: Rung,
    budget: Budget,
    params: Mapping | None = None,
    fixed: Mapping | None = None,
    ctx: z3.Context | None = None,
) -> Outcome:
    """Self-composition (module doc): do two copies that differ only in V get different veto
    probabilities at some state?"""
    enc = Encoder(spec, params, rung.encoding, ctx, fixed, track=True)
    reads, rd, rp = policy_reads(spec, policy)
    under = set(prop.variables)
    rs = policy_states(spec, policy)
    states = States(enc, rd, rp, two_depths=prop.depth, two_phases=prop.phase, reads_state=rs, two_states=under & rs)
    a = enc.new_assignment("", reads)
    b = enc.new_assignment("'", reads)
    q = Query(enc, rung, budget)
    q.add(*a.constraints(), *b.constraints(), *states.domain)
    read = [n for n in spec.variables if n in reads]
    for name in read:
        if name not in under:
            enc.facts.add(f"shared:{name}", "shared", name, f"{name} is the same in both", None, enc.equal(a.terms[name], b.terms[name]))
    env_a, env_b = states.env(a), states.env(b, second=True)
    if _binary_strengths(spec, policy):
        ca, cb = enc.veto_certain(policy, env_a), enc.veto_certain(policy, env_b)
        differ = ca != cb if isinstance(ca, bool) and isinstance(cb, bool) else z3.Xor(enc.as_bool(ca), enc.as_bool(cb))
    else:
        va, vb = enc.veto_probability(policy, env_a), enc.veto_probability(policy, env_b)
        if isinstance(va, Fraction) and isinstance(vb, Fraction):
            differ = va != vb
        else:
            differ = enc.z3_real(va) != enc.z3_real(vb)
    q.add(differ)
    ans = q.check()

    def on_sat():
        moved = [n for n in read if n in under]
        softs = [(enc.equal(a.terms[n], b.terms[n]), W_SAME) for n in moved]
        softs += [(enc.as_bool(enc.equal_state(n, states.state[n], states.state2[n])), W_SAME) for n in states.moved_state]
        if prop.depth and not isinstance(states.depth, int):
            softs.append((enc.equal(states.depth, states.depth2), W_SAME))
            # if the veto changes with depth it changes between some two adjacent depths
            softs.append((enc.z3_int(states.depth2) == enc.z3_int(states.depth) + 1, W_DEFAULT))
        if prop.phase and states.phase2 is not states.phase:
            # the two copies in one phase, when the difference does not need two
            same = enc.or_([enc.and_([enc.phase_is(states.phase, q), enc.phase_is(states.phase2, q)]) for q in enc.phases])
            softs.append((enc.as_bool(same), W_SAME))
        # the first copy leans to the neutral values, so the difference reads "none → fiction"
        softs += default_softs(enc, a, read, weight=2 * W_DEFAULT)
        # and a moved number moves by one step when one step is enough
        for n in moved:
            if isinstance(spec.variables[n].domain, ir.IntDomain):
                x, y = enc.z3_int(a.terms[n]), enc.z3_int(b.terms[n])
                if not (isinstance(x, int) or isinstance(y, int)):
                    softs.append((z3.Or(y == x, y == x + 1, y == x - 1), W_DEFAULT))
        for n in states.moved_state:  # likewise a state variable
            if isinstance(spec.state[n].domain, ir.IntDomain):
                x, y = enc.z3_int(states.state[n]), enc.z3_int(states.state2[n])
                if not (isinstance(x, int) or isinstance(y, int)):
                    softs.append((z3.Or(y == x, y == x + 1, y == x - 1), W_DEFAULT))
        softs += states.softs()
        model, minimised = minimise_model(q, [], softs, budget)
        phase, d1, d2 = states.decode(model)
        raw = {
            "first": enc.decode(model, a),
            "second": enc.decode(model, b),
            "phase": phase,
            "depth": d1,
            "second_depth": d2,
            "second_phase": states.decode_phase2(model),
        }
        if spec.state:
            raw["state"] = states.decode_state(model)
            raw["second_state"] = states.decode_state(model, second=True)
        return Outcome("violated", raw=raw, minimised=minimised)

    return _finish(q, enc, ans, on_sat)


def state_check(
    spec: ir.Spec,
    policy: str,
    harmful: bool,
    rung: Rung,
    budget: Budget,
    params: Mapping | None = None,
    fixed: Mapping | None = None,
    ctx: z3.Context | None = None,
    phases: tuple[str, ...] | None = None,
) -> Outcome:
    """Is there an assignment with ``harmful(σ) == harmful`` whose veto probability at some
    state is not what it must be (1 for a harmful one, ``complete``; 0 for a benign one, ``no
    over-refusal``)? ``phases`` limits the states to those phases (``complete at``)."""
    enc = Encoder(spec, params, rung.encoding, ctx, fixed, track=True)
    reads, rd, rp = policy_reads(spec, policy)
    names = reads | reads_of(spec).harm()
    states = States(enc, rd, rp, phases=phases, reads_state=policy_states(spec, policy))
    a = enc.new_assignment("", names)
    env = states.env(a)
    q = Query(enc, rung, budget)
    q.add(*a.constraints(), *states.domain)
    harm = enc.harmful(a)
    if harmful:
        q.add(harm, enc.not_(enc.veto_certain(policy, env)))
    else:
        q.add(enc.not_(harm), enc.veto_positive(policy, env))
    ans = q.check()

    def on_sat():
        softs = default_softs(enc, a, [n for n in spec.variables if n in names]) + states.softs()
        model, minimised = minimise_model(q, [], softs, budget)
        phase, d, _ = states.decode(model)
        raw = {"assignment": enc.decode(model, a), "phase": phase, "depth": d}
        if spec.state:
            raw["state"] = states.decode_state(model)
        return Outcome("violated", raw=raw, minimised=minimised)

    return _finish(q, enc, ans, on_sat)


@attrs.frozen
class Vacuity:
    """What a policy and the spec's values do at all (None: not decided in time)."""

    fires: bool | None  # some state of some assignment has v > 0
    idles: bool | None  # some state of some assignment has v = 0
    harmful_exists: bool | None
    benign_exists: bool | None


UNDECIDED = Vacuity(None, None, None, None)


def vacuity(
    spec: ir.Spec,
    policy: str,
    rung: Rung,
    budget: Budget,
    params: Mapping | None = None,
    fixed: Mapping | None = None,
    ctx: z3.Context | None = None,
) -> Vacuity:
    """The four questions of :class:`Vacuity`, on one incremental solver."""
    enc = Encoder(spec, params, rung.encoding, ctx, fixed, track=False)
    reads, rd, rp = policy_reads(spec, policy)
    states = States(enc, rd, rp, reads_state=policy_states(spec, policy))
    a = enc.new_assignment("", reads | reads_of(spec).harm())
    env = states.env(a)
    q = Query(enc, rung, budget)
    q.add(*a.constraints(), *states.domain)

    questions = itertools.count()

    def sat(f) -> bool | None:
        """Whether ``f`` has a model (a literal per question); a constant answers itself."""
        if isinstance(f, bool):
            return f
        lit = z3.Bool(f"question!{next(questions)}", enc.ctx)
        q.add(z3.Implies(lit, f))
        try:
            ans = q.check(lit)
        except OutOfTime:
            return None
        return {"sat": True, "unsat": False}.get(ans.status)

    harm = enc.harmful(a)
    return Vacuity(
        fires=sat(enc.veto_positive(policy, env)),
        idles=sat(enc.veto_zero(policy, env)),
        harmful_exists=sat(harm),
        benign_exists=sat(enc.not_(harm)),
    )
