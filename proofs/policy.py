"""Checks about the policy as a function of (assignment, phase, depth): invariance, completeness,
no over-refusal, and vacuity.

Consumes: a spec, a policy name, a property, one :class:`~libet.proofs.solve.Rung` and a budget.
Produces: an :class:`Outcome`: PROVED with the facts in the unsat core, VIOLATED with a raw
counterexample (concrete assignments, phase and depth, minimised with Z3's Optimize), or
UNKNOWN with the reason. The caller (:mod:`libet.proofs.prove`) replays every counterexample
through the reference interpreter before it becomes a result.

"At every state" means every phase and every depth 0 <= d < H (every d >= 0 with ``horizon
none``), reachable or not (docs/semantics.md §7). A policy that does not read the phase (or the
depth) is checked at one phase (depth), since every other gives the same veto.

``invariant under V`` is decided by self-composition without quantifiers: two copies of the
assignment that agree outside V (each agreement a named fact ``shared:x``), one phase, one depth
(two depths when V holds ``depth``), and the query "do their veto probabilities differ?".
"""

from __future__ import annotations

from fractions import Fraction
from typing import Mapping

import attrs
import z3

from libet.proofs.encode import Encoder, FactInfo, default_value, reads_of_policy
from libet.proofs.solve import Budget, OutOfTime, Query, Rung, minimise_model
from libet.spec import ir

#: Soft-constraint weights for minimised counterexamples: keeping two copies equal on a
#: variable weighs more than keeping a value at its neutral default.
W_SAME = 100
W_DEFAULT = 1


@attrs.frozen
class Outcome:
    status: str  # "proved" | "violated" | "unknown"
    raw: dict | None = None
    core: frozenset[str] | None = None
    facts: dict[str, FactInfo] = attrs.field(factory=dict)
    reason: str | None = None
    minimised: bool = False
    details: dict = attrs.field(factory=dict)


def policy_shape(spec: ir.Spec, policy: str, with_values: bool = False) -> str:
    """The policy's shape, which picks its solver ladder (:data:`libet.proofs.solve.LADDERS`):

    * ``finite``: every strength is the constant 0 or 1 and every condition is logic over
      bools, enum (or phase) comparisons and depth, reading no int variable;
    * ``boolean``: the same, but some condition compares an int variable;
    * ``arith``: some condition does arithmetic, calls a function or reads a param, or some
      strength is not 0 or 1.

    With ``with_values`` the reference values count too (``complete`` and ``no over-refusal``
    read them through ``harmful``)."""
    exprs = []
    for r in spec.policies[policy].rules:
        if not (isinstance(r.strength, ir.Const) and Fraction(r.strength.value) in (0, 1)):
            return "arith"
        exprs.append(r.condition)
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
    return shape


def _binary_strengths(spec: ir.Spec, policy: str) -> bool:
    return all(isinstance(r.strength, ir.Const) and Fraction(r.strength.value) in (0, 1) for r in spec.policies[policy].rules)


def _value_reads(spec: ir.Spec) -> frozenset[str]:
    out: set[str] = set()
    for v in spec.values.values():
        out |= spec.reads(v.expr)
    return frozenset(out)


class _States:
    """The phase and depth(s) a policy query ranges over."""

    def __init__(self, enc: Encoder, reads_depth: bool, reads_phase: bool, two_depths: bool = False):
        spec = enc.spec
        self.enc = enc
        h = enc.horizon
        self.depth_values = range(h) if h is not None else None
        self.domain: list = []
        if reads_phase and enc.phases:
            self.phase, c = enc.phase_var("phase")
            self.domain.append(c)
        else:
            self.phase = enc.default_phase()
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
        self.spec = spec

    def env(self, sym, second: bool = False):
        d = self.depth2 if second else self.depth
        return self.enc.env(sym, d, self.phase, depth_values=self.depth_values)

    def decode(self, model) -> tuple[str | None, int, int]:
        enc = self.enc
        phase = self.phase if isinstance(self.phase, str) or self.phase is None else enc.decode_phase(model, self.phase)
        return phase, enc.decode_depth(model, self.depth), enc.decode_depth(model, self.depth2)

    def softs(self) -> list:
        out = []
        enc = self.enc
        if not (isinstance(self.phase, str) or self.phase is None):
            out.append((enc.phase_is(self.phase, enc.default_phase()), W_DEFAULT))
        if not isinstance(self.depth, int):
            out.append((enc.equal(self.depth, 0), W_DEFAULT))
        return out


def _default_softs(enc: Encoder, sym, names, weight: int = W_DEFAULT) -> list:
    out = []
    for n in names:
        t = sym.terms[n]
        if isinstance(t, (bool, int, str)):
            continue
        out.append((enc.equal_value(enc.spec.variables[n], t, default_value(enc.spec.variables[n])), weight))
    return out


def _minimised(q: Query, softs, budget: Budget, rung: Rung):
    return minimise_model(q, [], softs, budget)


def _finish(q: Query, enc: Encoder, ans, on_sat) -> Outcome:
    if ans.status == "unsat":
        labels, _ = q.core()
        return Outcome("proved", core=frozenset(labels), facts=dict(enc.fact_info), details={"solver_seconds": ans.seconds})
    if ans.status == "sat":
        return on_sat()
    return Outcome("unknown", reason=ans.reason, details={"solver_seconds": ans.seconds})


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
    enc = Encoder(spec, params, rung.encoding, ctx, fixed, track=True)
    reads, rd, rp = reads_of_policy(spec, policy)
    under = set(prop.variables)
    states = _States(enc, rd, rp, two_depths=prop.depth)
    a = enc.new_assignment("", reads)
    b = enc.new_assignment("'", reads)
    q = Query(enc, rung, budget)
    q.add(*a.constraints(), *b.constraints(), *states.domain)
    for name in spec.variables:
        if name in reads and name not in under:
            enc.add_fact(f"shared:{name}", "shared", name, f"{name} is the same in both", None, enc.equal(a.terms[name], b.terms[name]))
    env_a, env_b = states.env(a), states.env(b, second=True)
    if _binary_strengths(spec, policy):
        ca, cb = enc.veto_certain(policy, env_a), enc.veto_certain(policy, env_b)
        differ = enc._not(ca == cb) if isinstance(ca, bool) and isinstance(cb, bool) else z3.Xor(enc.as_bool(ca), enc.as_bool(cb))
    else:
        va, vb = enc.veto_probability(policy, env_a), enc.veto_probability(policy, env_b)
        if isinstance(va, Fraction) and isinstance(vb, Fraction):
            differ = va != vb
        else:
            differ = enc.z3_real(va) != enc.z3_real(vb)
    q.add(differ)
    ans = q.check()

    def on_sat():
        softs = []
        moved = [n for n in spec.variables if n in reads and n in under]
        for n in moved:
            softs.append((enc.equal(a.terms[n], b.terms[n]), W_SAME))
        if prop.depth and not isinstance(states.depth, int):
            softs.append((enc.equal(states.depth, states.depth2), W_SAME))
            # if the veto changes with depth it changes between some two adjacent depths
            softs.append((enc.z3_int(states.depth2) == enc.z3_int(states.depth) + 1, W_DEFAULT))
        # the first copy leans to the neutral values, so the difference reads "none → fiction"
        softs += _default_softs(enc, a, [n for n in spec.variables if n in reads], weight=2 * W_DEFAULT)
        # and a moved number moves by one step when one step is enough
        for n in moved:
            if isinstance(spec.variables[n].domain, ir.IntDomain):
                x, y = enc.z3_int(a.terms[n]), enc.z3_int(b.terms[n])
                if not (isinstance(x, int) or isinstance(y, int)):
                    softs.append((z3.Or(y == x, y == x + 1, y == x - 1), W_DEFAULT))
        softs += states.softs()
        model, minimised = _minimised(q, softs, budget, rung)
        phase, d1, d2 = states.decode(model)
        raw = {
            "first": enc.decode(model, a),
            "second": enc.decode(model, b),
            "phase": phase,
            "depth": d1,
            "second_depth": d2,
        }
        return Outcome("violated", raw=raw, minimised=minimised)

    return _finish(q, enc, ans, on_sat)


def state_check(
    spec: ir.Spec,
    policy: str,
    which: str,
    rung: Rung,
    budget: Budget,
    params: Mapping | None = None,
    fixed: Mapping | None = None,
    ctx: z3.Context | None = None,
) -> Outcome:
    """``which`` is ``complete`` (a harmful assignment with v < 1 somewhere?) or
    ``no over-refusal`` (a benign assignment with v > 0 somewhere?)."""
    enc = Encoder(spec, params, rung.encoding, ctx, fixed, track=True)
    reads, rd, rp = reads_of_policy(spec, policy)
    names = reads | _value_reads(spec)
    states = _States(enc, rd, rp)
    a = enc.new_assignment("", names)
    env = states.env(a)
    q = Query(enc, rung, budget)
    q.add(*a.constraints(), *states.domain)
    harmful = enc.harmful(a)
    if which == "complete":
        q.add(harmful, enc._not(enc.veto_certain(policy, env)))
    else:
        q.add(enc._not(harmful), enc.veto_positive(policy, env))
    ans = q.check()

    def on_sat():
        softs = _default_softs(enc, a, [n for n in spec.variables if n in names]) + states.softs()
        model, minimised = _minimised(q, softs, budget, rung)
        phase, d, _ = states.decode(model)
        return Outcome("violated", raw={"assignment": enc.decode(model, a), "phase": phase, "depth": d}, minimised=minimised)

    return _finish(q, enc, ans, on_sat)


@attrs.frozen
class Vacuity:
    """What a policy and the spec's values do at all (None: not decided in time)."""

    fires: bool | None  # some state of some assignment has v > 0
    idles: bool | None  # some state of some assignment has v = 0
    harmful_exists: bool | None
    benign_exists: bool | None


def vacuity(
    spec: ir.Spec,
    policy: str,
    rung: Rung,
    budget: Budget,
    params: Mapping | None = None,
    fixed: Mapping | None = None,
    ctx: z3.Context | None = None,
) -> Vacuity:
    enc = Encoder(spec, params, rung.encoding, ctx, fixed, track=False)
    reads, rd, rp = reads_of_policy(spec, policy)
    states = _States(enc, rd, rp)
    a = enc.new_assignment("", reads | _value_reads(spec))
    env = states.env(a)
    q = Query(enc, rung, budget)
    q.add(*a.constraints(), *states.domain)

    def sat(f) -> bool | None:
        """Whether ``f`` has a model (one incremental solver, a literal per question)."""
        lit = z3.Bool(f"question!{id(f)}", enc.ctx)
        q.add(z3.Implies(lit, enc.as_bool(f)))
        try:
            ans = q.check(lit)
        except OutOfTime:
            return None
        return {"sat": True, "unsat": False}.get(ans.status)

    def lit(f):
        return f if not isinstance(f, bool) else z3.BoolVal(f, enc.ctx)

    pos = enc.veto_positive(policy, env)
    zero = enc.veto_zero(policy, env)
    harm = enc.harmful(a)
    return Vacuity(
        fires=sat(lit(pos)) if not isinstance(pos, bool) else pos,
        idles=sat(lit(zero)) if not isinstance(zero, bool) else zero,
        harmful_exists=sat(lit(harm)) if not isinstance(harm, bool) else harm,
        benign_exists=sat(lit(enc._not(harm))) if not isinstance(harm, bool) else (not harm),
    )
