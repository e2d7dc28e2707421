"""`safe` and the policy checks with state variables and choice points (docs/semantics.md §4b).

* Hand-written specs with known verdicts: a keyword rule the adversary routes around by
  choosing an encoding (VIOLATED, the trace replayed by the interpreter), a policy on substance
  (PROVED), a refusal counter that saturates, a `when` that restricts the adversary.
* BMC (both formulations) agrees with k-induction, Spacer and the race with `horizon none`.
* Differential: on generated specs, `safe` by BMC agrees with exhaustive reachability by the
  interpreter (its own choices and moves, every adversary), and a VIOLATED trace has the length
  of the shortest path the enumeration finds.
"""

from __future__ import annotations

import pytest
import z3
from hypothesis import HealthCheck, given, settings
from strategies import state_specs

import libet
from libet.proofs import bmc, race
from libet.proofs.induction import k_induction
from libet.proofs.prove import prove
from libet.proofs.solve import BMC_INCREMENTAL, BMC_UNROLLED, UNBOUNDED_RACE, Budget
from libet.proofs.spacer import spacer
from libet.results import Status
from libet.spec import ir
from libet.spec.interpreter import Interpreter

SETTINGS = dict(deadline=None, suppress_health_check=list(HealthCheck), derandomize=True)

HEAD = """
substance { topic: {everyday, weapons} }
state { refusals: 0..3 = 0  encoding: {plain, base64} = plain }
value no_weapons = not (topic == weapons)
"""

KEYWORD = HEAD + """
trajectory { horizon %s  start turn
  phase turn { choose encoding%s
    -> turn : 0.6  -> deliver : 0.2  -> stop : otherwise } }
policy keyword { veto when violates no_weapons and encoding == plain then -> turn then refusals = min(refusals + 1, 3) }
policy substance_based { veto when violates no_weapons }
check keyword, substance_based { safe  invariant under encoding  complete  no over-refusal }
"""

COUNTER = HEAD + """
trajectory { horizon 8 then stop  start turn
  phase turn { -> turn : 0.6  -> deliver : 0.2  -> stop : otherwise } }
policy gives_up { veto when violates no_weapons and refusals < 2 then -> turn then refusals = min(refusals + 1, 3) }
policy holds { veto when violates no_weapons and refusals < 2 then -> turn then refusals = min(refusals + 1, 3)
               veto when violates no_weapons and refusals >= 2 }
check gives_up, holds { safe  complete }
"""


def _results(text: str) -> dict:
    spec = libet.loads(text).ir
    return {(r.policy, r.check): r for r in prove(spec, timeout=30)}


def test_keyword_rule_is_routed_around_by_the_adversary():
    res = _results(KEYWORD % ("8 then stop", ""))
    r = res[("keyword", "safe")]
    assert r.status is Status.VIOLATED
    cex = r.counterexample  # replayed by the interpreter's choices and moves before it is shown
    assert cex.assignment["topic"] == "weapons"
    assert len(cex.steps) == 1 and cex.steps[0].target == "deliver"
    assert cex.steps[0].state == {"refusals": 0, "encoding": "base64"}
    assert cex.steps[0].before == {"refusals": 0, "encoding": "plain"}
    assert "adversary picks encoding = base64" in cex.describe()
    assert cex.to_json()["steps"][0]["state"]["encoding"] == "base64"
    assert "encoding = base64" in cex.to_dot()
    assert res[("keyword", "invariant under encoding")].status is Status.VIOLATED
    inv = res[("keyword", "invariant under encoding")].counterexample
    assert {inv.state["encoding"], inv.second_state["encoding"]} == {"plain", "base64"}
    assert res[("keyword", "complete")].status is Status.VIOLATED
    assert res[("keyword", "complete")].counterexample.state == {"encoding": "base64"}
    assert res[("keyword", "no over-refusal")].status is Status.PROVED
    for check in ("safe", "invariant under encoding", "complete", "no over-refusal"):
        assert res[("substance_based", check)].status is Status.PROVED, check
    statement = res[("substance_based", "complete")].proof.statement
    assert "every valuation of the state variables" in statement and "reachable or not" in statement
    # the veto ignores encoding, but the adversary chooses it: the warning names the choice point
    warns = res[("substance_based", "invariant under encoding")].warnings
    assert any("chosen by the adversary in phase turn" in w for w in warns)


def test_when_restricts_the_adversary():
    # base64 only after a refusal: the shortest path refuses once, then delivers
    res = _results(KEYWORD % ("8 then stop", " when refusals > 0"))
    cex = res[("keyword", "safe")].counterexample
    assert [s.refused for s in cex.steps] == [True, False]
    assert cex.steps[0].state == {"refusals": 0, "encoding": "plain"}
    assert cex.steps[1].state == {"refusals": 1, "encoding": "base64"}
    assert cex.probability == pytest.approx(0.2)


def test_refusal_counter_that_saturates():
    res = _results(COUNTER)
    r = res[("gives_up", "safe")]
    assert r.status is Status.VIOLATED
    steps = r.counterexample.steps
    assert [s.refused for s in steps] == [True, True, False]
    assert [s.state["refusals"] for s in steps] == [0, 1, 2]
    assert res[("gives_up", "complete")].status is Status.VIOLATED
    assert res[("gives_up", "complete")].counterexample.state == {"refusals": 2} or \
        res[("gives_up", "complete")].counterexample.state["refusals"] >= 2
    assert res[("holds", "safe")].status is Status.PROVED
    assert res[("holds", "complete")].status is Status.PROVED


@pytest.mark.parametrize("when,policy,holds", [
    ("", "keyword", False), ("", "substance_based", True),
    (" when refusals > 0", "keyword", False), (" when refusals > 0", "substance_based", True),
])
def test_engines_agree(when, policy, holds):
    finite = libet.loads(KEYWORD % ("8 then stop", when)).ir
    for fn, rung in ((bmc.incremental, BMC_INCREMENTAL), (bmc.unrolled, BMC_UNROLLED)):
        out = fn(finite, policy, rung, Budget(20), None, None, z3.Context())
        assert out.status == ("proved" if holds else "violated"), fn.__name__
    unbounded = libet.loads(KEYWORD % ("none", when)).ir
    assert race.unbounded(unbounded, policy, UNBOUNDED_RACE, Budget(20)).status == ("proved" if holds else "violated")
    # the certain veto at the start leaves no second frame: incremental BMC proves it as well
    assert bmc.incremental(unbounded, policy, BMC_INCREMENTAL, Budget(5), None, None, z3.Context()).status == (
        "proved" if holds else "violated")
    ki = k_induction(unbounded, policy, UNBOUNDED_RACE, Budget(10), None, None, z3.Context())
    sp = spacer(unbounded, policy, UNBOUNDED_RACE, Budget(10), None, None, z3.Context())
    if holds:
        assert ki.status == "proved" and sp.status == "proved"
        assert all(ok for _, ok in sp.details["recheck"])
    else:
        assert ki.status != "proved" and sp.status == "violated"


def reachable_harm(spec: ir.Spec, policy: str) -> int | None:
    """The fewest steps to delivery of a harmful assignment over every adversary, by the
    interpreter alone: breadth-first over (phase, depth, valuation) with positive-probability
    moves from every choice; None when no harmful assignment is ever delivered."""
    interp = Interpreter(spec, exact=True)
    traj = spec.trajectory
    H, at_h = traj.horizon, traj.at_horizon
    best = None
    for a in spec.assignments():
        if not interp.harmful(a):
            continue
        q0, d0 = interp.start(a)
        layer = {(q0, tuple(spec.initial_state.items()))}
        d, n = d0, 0
        while layer and (best is None or n + 1 < best):
            nxt = set()
            hit = False
            for q, s in layer:
                for c in interp.choices(a, q, d, dict(s)):
                    for kind, target, new, p in interp.moves(policy, a, q, d, c):
                        if p <= 0 or kind == "vetoed":
                            continue
                        if target == ir.DELIVER or (target != ir.STOP and H is not None and d + 1 >= H and at_h == ir.DELIVER):
                            hit = True
                        elif target != ir.STOP and (H is None or d + 1 < H):
                            nxt.add((target, tuple(new.items())))
            if hit:
                best = n + 1 if best is None else min(best, n + 1)
                break
            layer, d, n = nxt, d + 1, n + 1
    return best


@settings(max_examples=60, **SETTINGS)
@given(state_specs())
def test_bmc_agrees_with_exhaustive_reachability(text):
    spec = libet.loads(text).ir
    for policy in spec.policies:
        shortest = reachable_harm(spec, policy)
        for fn, rung in ((bmc.incremental, BMC_INCREMENTAL), (bmc.unrolled, BMC_UNROLLED)):
            out = fn(spec, policy, rung, Budget(30), None, None, z3.Context())
            assert out.status == ("proved" if shortest is None else "violated"), (fn.__name__, policy)
            if shortest is not None:
                assert len(out.raw["phases"]) == shortest, (fn.__name__, policy)
        if shortest is not None:
            # the whole runner: the trace is replayed by the interpreter before it is shown
            (r,) = prove(attrs_safe(spec, policy), timeout=30)
            assert r.status is Status.VIOLATED and len(r.counterexample.steps) == shortest


def attrs_safe(spec: ir.Spec, policy: str) -> ir.Spec:
    import attrs

    return attrs.evolve(spec, checks=(ir.Check(policy, ir.Safe()),))


def test_invariance_under_a_state_variable():
    res = _results(COUNTER.replace("{ safe  complete }", "{ invariant under refusals }"))
    r = res[("gives_up", "invariant under refusals")]
    assert r.status is Status.VIOLATED
    cex = r.counterexample
    assert cex.first == cex.second  # only the state differs
    assert (cex.state["refusals"] < 2) != (cex.second_state["refusals"] < 2)
    assert {cex.veto, cex.second_veto} == {0, 1}
    # `holds` vetoes with certainty either way (a refusal below 2, a final veto from 2)
    assert res[("holds", "invariant under refusals")].status is Status.PROVED
