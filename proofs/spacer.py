"""``safe`` with ``horizon none`` by Spacer: Horn clauses whose inductive invariant is re-checked.

Consumes: a spec with a trajectory, a policy, a :class:`~libet.proofs.solve.Rung` and a budget.
Produces: an :class:`~libet.proofs.solve.Outcome`: PROVED with the inductive invariant (in the
spec's terms) and the results of re-checking it with a fresh solver (initiation, consecution,
safety); VIOLATED with no trace (a path exists; the BMC of the race finds it); or UNKNOWN with
what each configuration said.
"""

from __future__ import annotations

import threading
from typing import Mapping

import z3

from libet.proofs.domains import FD
from libet.proofs.rules import Encoder
from libet.proofs.safety import Steps, path_reads
from libet.proofs.solve import Budget, Outcome, Rung, unknown_reason
from libet.proofs.z3text import z3_text
from libet.spec import ir

#: Spacer configurations tried in turn, each with an equal share of what remains. Spacer is
#: sensitive to its settings: on small, obviously safe systems the default configuration can
#: run until the timeout while one of these answers in milliseconds (docs/proofs.md).
SPACER_CONFIGS: tuple[tuple[str, dict], ...] = (
    ("eq_prop off", {"spacer.eq_prop": False}),
    ("arith solver 6", {"spacer.arith.solver": 6}),
    ("global generalisation", {"spacer.global": True}),
    ("default", {}),
)

#: Set in every configuration. Z3 inlines rules before Spacer runs: it may then solve the
#: inlined system without a lemma about Reach, answer unsat, and leave Reach's cover `true`,
#: which the re-check rightly rejects (a spec whose second phase no step reaches). Kept
#: whole, Reach gets the invariant the proof used (`phase == p0`).
SPACER_COMMON: dict = {"xform.inline_linear": False, "xform.inline_eager": False}


def spacer(
    spec: ir.Spec,
    policy: str,
    rung: Rung,
    budget: Budget,
    params: Mapping | None = None,
    fixed: Mapping | None = None,
    ctx: z3.Context | None = None,
    stop: threading.Event | None = None,
) -> Outcome:
    """Spacer over :data:`SPACER_CONFIGS`, each with a share of the budget; the first definite
    answer counts."""
    reasons = []
    for i, (name, settings) in enumerate(SPACER_CONFIGS):
        if (stop is not None and stop.is_set()) or budget.expired():
            break
        share = budget.slice(1.0 / (len(SPACER_CONFIGS) - i))
        try:
            out = _once(spec, policy, rung, share, params, fixed, ctx, settings)
        except z3.Z3Exception as exc:
            reasons.append(f"{name}: {exc}")
            continue
        if out.status != "unknown":
            return out
        reasons.append(f"{name}: {out.reason}")
    return Outcome("unknown", reason="; ".join(reasons) or "timeout", details={"method": "spacer"})


def _once(spec, policy, rung, budget, params, fixed, ctx, settings) -> Outcome:
    """Horn clauses over Reach(σ, phase, depth); Spacer's invariant is re-checked with a fresh
    solver before it counts."""
    enc = Encoder(spec, params, rung.encoding, ctx, fixed, track=False)
    names = path_reads(spec, policy)
    traj = spec.trajectory
    sym = enc.new_assignment("", names)
    free = [n for n in spec.variables if n in names and n not in enc.fixed]
    args = [sym.terms[n] for n in free]
    ph, phc = enc.phase_var("phase")
    ph2, ph2c = enc.phase_var("phase'")
    D, D2 = z3.Int("depth", enc.ctx), z3.Int("depth'", enc.ctx)
    steps = Steps(enc, policy, sym, None)
    # the state variables that move are arguments of Reach (the others keep their initial
    # values); S is a reached valuation, C the adversary's choice from it, S2 the next one
    moving = steps.moving
    S = S2 = enc.initial_state() if spec.state else None
    s_dom: list = []
    if moving:
        S, d1 = enc.new_state("", moving)
        S2, d2 = enc.new_state("'", moving)
        s_dom = d1 + d2
    # the step is taken from the valuation after the choice: S itself where nothing is chosen
    # (never the initial valuation, which would fold every state-dependent term to its start)
    C = S
    c_dom: list = []
    if steps.chosen:
        C, c_dom = enc.new_state("chosen", steps.chosen, S)
    s_args = [_raw(S[n]) for n in moving]
    s2_args = [_raw(S2[n]) for n in moving]
    c_args = [_raw(C[n]) for n in steps.chosen]
    sorts = [a.sort() for a in args] + [ph.sort(), D.sort()] + [a.sort() for a in s_args]
    reach = z3.Function("Reach", *sorts, z3.BoolSort(enc.ctx))
    dom = enc.as_bool(enc.and_(sym.constraints() + [phc] + s_dom + c_dom))
    harm = enc.as_bool(enc.harmful(sym))
    d0 = enc.z3_int(enc.start_depth(sym))
    start_state = [enc.equal_state(n, S[n], enc.initial_state()[n]) for n in moving]
    init = z3.And(dom, harm, enc.as_bool(steps.is_phase(ph, traj.start_phase)), D == d0, D >= 0, *[enc.as_bool(x) for x in start_state])
    choose = enc.as_bool(steps.choose_sym(ph, D, S, C))
    trans = z3.And(dom, ph2c, D >= 0, D2 == D + 1, choose, enc.as_bool(steps.move_sym(ph, D, ph2, None, C, S2)))
    bad = z3.And(dom, D >= 0, choose, enc.as_bool(steps.deliver_sym(ph, D, None, C)))
    fp = z3.Fixedpoint(ctx=enc.ctx)
    fp.set(engine="spacer")
    for k, v in {**SPACER_COMMON, **settings}.items():
        fp.set(k, v)
    fp.set("timeout", budget.ms())
    if budget.rlimit:
        fp.set("rlimit", int(budget.rlimit))
    fp.register_relation(reach)
    fp.declare_var(*args, ph, ph2, D, D2, *s_args, *s2_args, *c_args)
    fp.rule(reach(*args, ph, D, *s_args), init)
    fp.rule(reach(*args, ph2, D2, *s2_args), [reach(*args, ph, D, *s_args), trans])
    if budget.expired():
        return Outcome("unknown", reason="timeout", details={"method": "spacer"})
    r = fp.query(z3.And(reach(*args, ph, D, *s_args), bad))
    if r == z3.sat:
        return Outcome("violated", raw=None, details={"method": "spacer"})
    if r != z3.unsat:
        return Outcome("unknown", reason=unknown_reason(fp.reason_unknown(), budget), details={"method": "spacer"})
    inv = fp.get_cover_delta(-1, reach)

    def inv_at(p, d, state=()):
        return z3.substitute_vars(inv, *args, p, d, *state)

    recheck = _recheck(spec, policy, rung, budget, params, fixed, enc.ctx, inv, free)
    details = {"method": "spacer", "invariant": _show_invariant(enc, inv_at(ph, D, s_args), free, sym, S, moving), "recheck": recheck}
    if not all(ok for _, ok in recheck):
        failed = ", ".join(n for n, ok in recheck if not ok)
        return Outcome("unknown", reason=f"Spacer's invariant did not pass the re-check ({failed}); not trusted", details=details)
    return Outcome("proved", core=None, facts={}, details=details)


def _recheck(spec, policy, rung, budget, params, fixed, ctx, inv, free) -> list[tuple[str, bool]]:
    """Spacer's invariant ``inv`` (over the arguments of Reach: the free variables, phase,
    depth, the moving state variables) re-checked, each condition by a fresh solver, against
    the step relation as the BMC and k-induction assemble it, not against the clauses handed
    to Spacer: a fresh encoder, and every state its own symbols (phase, depth, valuation, the
    adversary's choice from it), so a slip in building the clauses (a step read at the wrong
    valuation, a missing transition) makes a condition fail instead of passing with them.

    initiation: every start state satisfies ``inv``; consecution: a step from a state that
    satisfies it reaches one that does; safety: no state that satisfies it delivers. Each is
    asked of a harmful assignment within its domain (Reach holds only for those). A condition
    the solver cannot decide in time counts as not passed."""
    enc = Encoder(spec, params, rung.encoding, ctx, fixed, track=False)
    sym = enc.new_assignment("", path_reads(spec, policy))
    steps = Steps(enc, policy, sym, None)
    args = [_raw(sym.terms[n]) for n in free]
    assignment = sym.constraints() + [enc.harmful(sym)]

    def state(tag: str, chooses: bool = True):
        """A symbolic state (phase, depth, valuation, and with ``chooses`` the valuation the
        adversary chooses from it) and its domain constraints."""
        ph, phc = enc.phase_var(f"{tag}.phase")
        d = z3.Int(f"{tag}.depth", enc.ctx)
        cons = [phc, d >= 0]
        s = enc.initial_state() if spec.state else None
        if steps.moving:
            s, dom = enc.new_state(tag, steps.moving)
            cons += dom
        c = s
        if chooses and steps.chosen:
            c, dom = enc.new_state(tag + "'", steps.chosen, s)
            cons += dom + [steps.choose_sym(ph, d, s, c)]
        return ph, d, s, c, cons

    def holds(ph, d, s):
        return z3.substitute_vars(inv, *args, ph, d, *[_raw(s[n]) for n in steps.moving])

    ph0, d0, s0, _, cons0 = state("init", chooses=False)
    start = [steps.is_phase(ph0, spec.trajectory.start_phase), d0 == enc.z3_int(enc.start_depth(sym))]
    start += [enc.equal_state(n, s0[n], enc.initial_state()[n]) for n in steps.moving]
    ph, d, s, c, cons = state("pre")
    ph2, d2, s2, _, cons2 = state("post", chooses=False)
    step = [d2 == d + 1, steps.move_sym(ph, d, ph2, None, c, s2)]
    conditions = {
        "initiation": assignment + cons0 + start + [z3.Not(holds(ph0, d0, s0))],
        "consecution": assignment + cons + cons2 + [holds(ph, d, s)] + step + [z3.Not(holds(ph2, d2, s2))],
        "safety": assignment + cons + [holds(ph, d, s), steps.deliver_sym(ph, d, None, c)],
    }
    out = []
    for name, parts in conditions.items():
        solver = z3.Solver(ctx=enc.ctx)
        solver.set("timeout", max(1, budget.ms()))
        if budget.rlimit:
            solver.set("rlimit", int(budget.rlimit))
        solver.add(*[enc.as_bool(x) for x in parts if x is not True])
        out.append((name, solver.check() == z3.unsat))
    return out


def _raw(t):
    """The Z3 expression of a value term (an FD int's bit-vector)."""
    return t.bv if isinstance(t, FD) else t


def _show_invariant(enc: Encoder, f, free, sym, state=None, moving=()) -> str:
    """The invariant in the spec's terms: phase and enum indices shown by name."""
    names = {}
    for n in free:
        var = enc.spec.variables[n]
        names[str(sym.terms[n])] = (n, var.domain.members if isinstance(var.domain, ir.EnumDomain) else None)
    for n in moving:
        var = enc.spec.state[n]
        names[str(_raw(state[n]))] = (n, var.domain.members if isinstance(var.domain, ir.EnumDomain) else None)
    names["phase"] = ("phase", enc.phases)
    names["depth"] = ("depth", None)
    return z3_text(z3.simplify(f), names)
