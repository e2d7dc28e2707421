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
    sorts = [a.sort() for a in args] + [ph.sort(), D.sort()]
    reach = z3.Function("Reach", *sorts, z3.BoolSort(enc.ctx))
    steps = Steps(enc, policy, sym, None)
    dom = enc.as_bool(enc.and_(sym.constraints() + [phc]))
    harm = enc.as_bool(enc.harmful(sym))
    d0 = enc.z3_int(enc.start_depth(sym))
    init = z3.And(dom, harm, enc.as_bool(steps.is_phase(ph, traj.start_phase)), D == d0, D >= 0)
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
        return Outcome("unknown", reason=unknown_reason(fp.reason_unknown(), budget), details={"method": "spacer"})
    inv = fp.get_cover_delta(-1, reach)

    def inv_at(p, d):
        return z3.substitute_vars(inv, *args, p, d)

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
    names = {}
    for n in free:
        var = enc.spec.variables[n]
        names[str(sym.terms[n])] = (n, var.domain.members if isinstance(var.domain, ir.EnumDomain) else None)
    names["phase"] = ("phase", enc.phases)
    names["depth"] = ("depth", None)
    return z3_text(z3.simplify(f), names)
