"""``safe`` with ``horizon none`` by k-induction: the inductive step over arbitrary states.

Consumes: a spec with a trajectory, a policy, a :class:`~libet.proofs.solve.Rung`, a budget, and
the bound the incremental BMC running alongside has reached (the base case).
Produces: an :class:`~libet.proofs.solve.Outcome`: PROVED with the facts in the unsat core and
``k``, or UNKNOWN (k-induction never refutes: a path from an arbitrary state need not be
reachable).
"""

from __future__ import annotations

import threading
import time
from typing import Mapping

import z3

from libet.proofs.safety import Problem
from libet.proofs.solve import Budget, Outcome, OutOfTime, Rung, proved
from libet.spec import ir


def k_induction(
    spec: ir.Spec,
    policy: str,
    rung: Rung,
    budget: Budget,
    params: Mapping | None = None,
    fixed: Mapping | None = None,
    ctx: z3.Context | None = None,
    stop: threading.Event | None = None,
    base: dict | None = None,
) -> Outcome:
    """The inductive step: from any state of a harmful assignment, k non-delivering steps force
    a non-delivering one. Sound together with the base case (no delivery within k steps of the
    start), which ``base["bound"]`` reports from the BMC running alongside."""
    pb = Problem(spec, policy, rung, budget, params, fixed, ctx, None)
    enc, q, steps = pb.enc, pb.q, pb.steps
    phs, deps = [], []
    chosen: list = []  # each state's valuation after the adversary's choice (None: no state)
    k = 0

    def unknown(reason: str) -> Outcome:
        return Outcome("unknown", reason=reason, details={"method": "k-induction", "k": k})

    def stopped() -> bool:
        return stop is not None and stop.is_set()

    while True:
        if stopped():
            return unknown("stopped")
        ph, c = enc.phase_var(f"s{k}.phase")
        d = z3.Int(f"s{k}.depth", enc.ctx)
        q.add(c, d >= 0)
        # an arbitrary valuation of the state variables that move (the others never leave
        # their initial values), and an arbitrary choice of the adversary from it
        s = pb.frame_state(f"s{k}")
        if k > 0:
            q.add(d == deps[-1] + 1)
            q.add(enc.as_bool(steps.move_sym(phs[-1], deps[-1], ph, None, chosen[-1], s)))
            q.add(enc.as_bool(enc.not_(steps.deliver_sym(phs[-1], deps[-1], None, chosen[-1]))))
        phs.append(ph)
        deps.append(d)
        chosen.append(pb.chosen_state(f"s{k}'", s, ph, d))
        g = z3.Bool(f"bad#{k}", enc.ctx)
        q.add(z3.Implies(g, enc.as_bool(steps.deliver_sym(ph, d, None, chosen[-1]))))
        try:
            a = q.check(g)
        except OutOfTime:
            return unknown(f"timeout: no answer within the {budget.seconds:g} s budget")
        if a.status == "unsat":
            # wait for the base case: no delivery within k steps of the start
            while base is not None and base.get("bound", -1) < k and not stopped():
                if budget.expired():
                    return unknown("timeout: the base case did not finish")
                time.sleep(0.002)
            if base is not None and base.get("bound", -1) < k:
                return unknown("stopped")
            return proved(enc, q.core()[0], method="k-induction", k=k)
        if a.status == "unknown":
            return unknown(a.reason)
        k += 1
