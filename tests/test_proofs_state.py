"""`safe` and the policy checks with state variables and choice points (docs/semantics.md §4b).

* Hand-written specs with known verdicts: a keyword rule the adversary routes around by
  choosing an encoding (VIOLATED, the trace replayed by the interpreter), a policy on substance
  (PROVED), a refusal counter that saturates, a `when` that restricts the adversary.
* BMC (both formulations) agrees with k-induction, Spacer and the race with `horizon none`.
* Differential: on generated specs, `safe` by BMC agrees with exhaustive reachability by the
  interpreter (its own choices and moves, every adversary), and a VIOLATED trace has the length
  of the shortest path the enumeration finds; with `horizon none` Spacer, k-induction and the
  race agree with it too (the generated specs read the depth only as `depth >= 1`, so every
  depth from 1 on behaves alike and the enumeration collapses them, exactly).
* Spacer's step is read at the valuation it is taken from: a probability that is an `if` over a
  state variable (`if n == 2 then 0.5 else 0`) delivers once the counter gets there.
"""

from __future__ import annotations

import re

import pytest
import z3
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from strategies import state_specs

import libet
from libet.proofs import bmc, race
from libet.proofs.induction import k_induction
from libet.proofs.prove import prove
from libet.proofs.solve import BMC_INCREMENTAL, BMC_UNROLLED, UNBOUNDED_RACE, Budget
from libet.proofs.spacer import _recheck, spacer
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


# ---- horizon none: Spacer and the race against exhaustive reachability ------------------------

#: A counter the generator raises, and a delivery possible only once it reaches 2: nothing is
#: chosen (no choice point), so each step is taken from the reached valuation itself.
COUNTER_DELIVERS = """
substance { topic: {everyday, weapons} }
state { n: 0..3 = 0 }
value no_weapons = topic != weapons
trajectory {
  horizon %s
  start a
  phase a { -> a : 0.5 then n = min(n + 1, 3)  -> b : otherwise }
  phase b { -> deliver : if n == 2 then 0.5 else 0  -> a : otherwise }
}
policy p { veto when n == 3 }
policy q { veto when violates no_weapons and phase == b and n == 2 }
check p, q { safe }
"""


def test_spacer_reads_a_step_at_the_reached_valuation():
    # p lets a -> a -> a -> b -> deliver through (n = 0, 1, 2, 2): harm is reachable
    bounded = libet.loads(COUNTER_DELIVERS % "10 then stop").ir
    assert bmc.incremental(bounded, "p", BMC_INCREMENTAL, Budget(20), None, None, z3.Context()).status == "violated"
    spec = libet.loads(COUNTER_DELIVERS % "none").ir
    for _ in range(3):  # the race is decided by whichever engine answers first: every one must agree
        sp = spacer(spec, "p", UNBOUNDED_RACE, Budget(10), None, None, z3.Context())
        assert sp.status == "violated", sp
    res = _results(COUNTER_DELIVERS % "none")
    r = res[("p", "safe")]
    assert r.status is Status.VIOLATED
    cex = r.counterexample
    assert [s.phase for s in cex.steps] == ["a", "a", "a", "b"]
    assert [s.state["n"] for s in cex.steps] == [0, 1, 2, 2]
    assert cex.steps[-1].target == "deliver" and cex.probability == pytest.approx(0.0625)
    assert not r.warnings  # not "the generator alone never delivers": it does
    # q vetoes exactly the delivering state: Spacer proves it, with an invariant that is not `true`
    sp = spacer(spec, "q", UNBOUNDED_RACE, Budget(10), None, None, z3.Context())
    assert sp.status == "proved" and all(ok for _, ok in sp.details["recheck"])
    assert res[("q", "safe")].status is Status.PROVED


def test_spacer_recheck_is_independent_of_the_clauses():
    # the invariant `true` holds initially and is kept by every step, but a state satisfying it
    # delivers: the re-check, built from the step relation and not from Spacer's clauses, says so
    spec = libet.loads(COUNTER_DELIVERS % "none").ir
    ctx = z3.Context()
    names = ["topic"]
    checks = dict(_recheck(spec, "p", UNBOUNDED_RACE, Budget(10), None, None, ctx, z3.BoolVal(True, ctx), names))
    assert checks == {"initiation": True, "consecution": True, "safety": False}
    # `n <= 2` holds at the start, is not kept by a -> a from n = 2, and b delivers at n = 2
    n = z3.Var(3, z3.IntSort(ctx))  # Reach(topic, phase, depth, n)
    checks = dict(_recheck(spec, "p", UNBOUNDED_RACE, Budget(10), None, None, ctx, n <= 2, names))
    assert checks == {"initiation": True, "consecution": False, "safety": False}


def test_spacer_keeps_reach_whole_so_its_invariant_can_be_rechecked():
    # p1 is never reached and p0 delivers only once e == b, which nothing sets. With Z3's rule
    # inlining on, Spacer proved this without a lemma about Reach, whose cover was then `true`:
    # the re-check rejected it (safety), every configuration in turn, and Spacer said UNKNOWN
    spec = libet.loads("""
substance { topic: {everyday, weapons} }
state { c: 0..1 = 0  e: {a, b} = a }
value ok = topic == everyday
trajectory { horizon none  start p0
  phase p0 { -> p0 : 0.5  -> deliver : if e == b then 0.3 else 0  -> stop : otherwise }
  phase p1 { -> p0 : 0.5 * c  -> deliver : 0.25  -> stop : otherwise } }
policy none { }
check none { safe }
""").ir
    sp = spacer(spec, "none", UNBOUNDED_RACE, Budget(10), None, None, z3.Context())
    assert sp.status == "proved", sp.reason
    assert sp.details["invariant"] == "phase == p0"
    assert all(ok for _, ok in sp.details["recheck"])


def _unbounded(text: str) -> str:
    """A generated state spec with ``horizon none`` and no experiment (one needs a horizon)."""
    text = re.sub(r"horizon \d+( then \w+)?", "horizon none", text)
    return text[: text.index("experiment ")]


#: every depth from here on behaves alike in :func:`state_specs` (its rules compare depth >= 1)
COLLAPSE = 2


def reachable_harm_unbounded(spec: ir.Spec, policy: str) -> int | None:
    """As :func:`reachable_harm` with ``horizon none``: breadth-first over (phase, depth, valuation)
    with the depths from :data:`COLLAPSE` on as one, each node visited once."""
    interp = Interpreter(spec, exact=True)
    assert spec.trajectory.horizon is None
    best = None
    for a in spec.assignments():
        if not interp.harmful(a):
            continue
        q0, d0 = interp.start(a)
        layer = {(q0, min(d0, COLLAPSE), tuple(spec.initial_state.items()))}
        seen = set(layer)
        n = 0
        while layer and (best is None or n + 1 < best):
            nxt = set()
            hit = False
            for q, d, s in layer:
                for c in interp.choices(a, q, d, dict(s)):
                    for kind, target, new, p in interp.moves(policy, a, q, d, c):
                        if p <= 0 or kind == "vetoed" or target == ir.STOP:
                            continue
                        if target == ir.DELIVER:
                            hit = hit or kind == "step"
                            continue
                        node = (target, min(d + 1, COLLAPSE), tuple(new.items()))
                        if node not in seen:
                            seen.add(node)
                            nxt.add(node)
            if hit:
                best = n + 1 if best is None else min(best, n + 1)
                break
            layer, n = nxt, n + 1
    return best


@settings(max_examples=40, **SETTINGS)
@given(st.sampled_from([False, False, True]).flatmap(lambda mdp: state_specs(mdp=mdp)).map(_unbounded))
def test_unbounded_engines_agree_with_exhaustive_reachability(text):
    # Spacer alone, and the race (BMC, k-induction with the BMC's base case, Spacer); mostly
    # without choice points, where each step is taken from the reached valuation itself
    spec = libet.loads(text).ir
    for policy in spec.policies:
        shortest = reachable_harm_unbounded(spec, policy)
        sp = spacer(spec, policy, UNBOUNDED_RACE, Budget(20), None, None, z3.Context())
        if shortest is None:
            assert sp.status == "proved", (policy, sp.reason)
            assert all(ok for _, ok in sp.details["recheck"])
        else:
            assert sp.status == "violated", policy
        out = race.unbounded(spec, policy, UNBOUNDED_RACE, Budget(20))
        assert out.status == ("proved" if shortest is None else "violated"), policy
        if shortest is not None:
            assert len(out.raw["phases"]) == shortest, policy
