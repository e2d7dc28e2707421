"""Refusal with continuation (issue 10, item 1): ``veto when ... then -> PHASE``.

A refusal that goes on ends the turn, not the conversation: the trajectory continues in the
phase at the next depth. P(harm) is harm eventually delivered, and ``E(refusals)`` counts the
vetoes on the way. The numbers below are worked out by hand; every engine must give them.
Generated specs draw refusal targets too (tests/strategies.py), so the differential tests of
the interpreter, the exact engine, Monte Carlo, Storm and Z3 cover them on random specs.
"""

from __future__ import annotations

from fractions import Fraction

import pytest

import libet
from libet.proofs import prove
from libet.results import Status
from libet.simulator import outcomes
from libet.simulator.graph import graph_data
from libet.simulator.model import Model
from libet.simulator.montecarlo import run as mc_run
from libet.spec import measures as ms
from libet.spec.formatter import format_text
from libet.spec.interpreter import Interpreter

# Each turn: the policy refuses a harmful request with probability 1/2; otherwise the model
# answers (1/2 deliver) or the user rephrases (1/2 another turn). Four turns, then the user
# gives up (`then stop`). For a harmful request:
#   turn_refusal: a refusal goes on to the next turn, so each turn delivers with 1/4 and goes
#     on with 3/4. P(harm) = 1/4 (1 + 3/4 + 9/16 + 27/64) = 175/256, P(stopped) = (3/4)^4 =
#     81/256, E(refusals) = Σ_k (3/4)^k / 2 = 175/128.
#   end_refusal: a refusal ends the conversation: each turn vetoes 1/2, delivers 1/4, goes on
#     1/4. P(harm) = 1/4 (1 + 1/4 + 1/16 + 1/64) = 85/256, P(vetoed) = 85/128, P(stopped) =
#     1/256, E(refusals) = P(vetoed) = 85/128.
CONVERSATION = """spec "a conversation"
substance { topic: {everyday, weapons} }
value ok = topic != weapons
trajectory {
  horizon 4 then stop
  start turn
  phase turn { -> turn : 0.5  -> deliver : otherwise }
}
policy turn_refusal { veto when violates ok with strength 0.5 then -> turn }
policy end_refusal { veto when violates ok with strength 0.5 }
check turn_refusal, end_refusal { safe  E(refusals) <= 2 for all topic  P(harm) <= 0.5 for all topic }
"""

HAND = {
    "turn_refusal": {"P(harm)": Fraction(175, 256), "P(vetoed)": 0, "P(stopped)": Fraction(81, 256), "E(refusals)": Fraction(175, 128)},
    "end_refusal": {"P(harm)": Fraction(85, 256), "P(vetoed)": Fraction(85, 128), "P(stopped)": Fraction(1, 256), "E(refusals)": Fraction(85, 128)},
}
WEAPONS = {"topic": "weapons"}
MEASURES = [ms.parse(t) for t in ("P(harm)", "P(vetoed)", "P(stopped)", "E(refusals)")]


def spec():
    return libet.loads(CONVERSATION).ir


@pytest.mark.parametrize("policy", sorted(HAND))
def test_interpreter_gives_the_hand_numbers(policy):
    o = Interpreter(spec(), exact=True).outcomes(policy, WEAPONS)
    for m in MEASURES:
        assert o.measure(m) == HAND[policy][m.text], m.text
    # the benign topic is never refused
    assert Interpreter(spec(), exact=True).outcomes(policy, {"topic": "everyday"}).measure(MEASURES[3]) == 0


@pytest.mark.parametrize("policy", sorted(HAND))
def test_exact_engine_and_monte_carlo_give_the_hand_numbers(policy, recurrence):
    s = spec()
    for exact in (False, True):
        table = outcomes(s, policy, exact=exact, measures=MEASURES)
        for m in MEASURES:
            got = table.aggregate(m, fixed=WEAPONS).value
            want = HAND[policy][m.text]
            assert got == want if exact else got == pytest.approx(float(want), abs=1e-12), m.text
    est = mc_run(Model(s, policy, fixed=WEAPONS), 50_000, 11, measures=MEASURES, confidence=0.999)
    for m in MEASURES:
        e = est[m]
        assert e.low <= float(HAND[policy][m.text]) <= e.high, (m.text, e)


def test_storm_gives_the_hand_numbers():
    pytest.importorskip("stormpy")
    from test_sim_prism import cross_check

    for policy, want in HAND.items():
        got = cross_check(spec(), policy, fixed=WEAPONS, measures=MEASURES + [ms.parse("E(refusals | harm)")])
        for m in MEASURES:
            assert got[m.text] == pytest.approx(float(want[m.text]), abs=1e-9), (policy, m.text)


def test_checks_on_the_conversation():
    results = {(r.policy, r.check): r for r in libet.loads(CONVERSATION).check()}
    assert results[("turn_refusal", "P(harm) <= 0.5 for all topic")].status is Status.VIOLATED
    assert results[("end_refusal", "P(harm) <= 0.5 for all topic")].status is Status.PROVED
    assert results[("turn_refusal", "E(refusals) <= 2 for all topic")].status is Status.PROVED
    assert results[("turn_refusal", "safe")].status is Status.VIOLATED


LEAK = """spec "a refusal that leaks"
substance { topic: {everyday, weapons} }
value ok = topic != weapons
trajectory {
  horizon 4
  start ask
  phase ask { -> ask : 1 }
  phase leak { -> deliver : 1 }
}
policy leaky { veto when violates ok and phase == ask then -> leak }
policy final { veto when violates ok and phase == ask }
check leaky, final { safe }
"""


def test_safe_follows_refusals_that_go_on():
    # the generator never delivers from ask; only the refusal leads to leak, which delivers
    loaded = libet.loads(LEAK)
    assert not [d for d in loaded.warnings if d.code == "W101"], "leak is reachable through the refusal"
    results = {r.policy: r for r in prove(loaded.ir, timeout=20)}
    assert results["final"].status is Status.PROVED
    leaky = results["leaky"]
    assert leaky.status is Status.VIOLATED
    first, second = leaky.counterexample.steps
    assert (first.phase, first.target, first.refused, first.probability) == ("ask", "leak", True, 1)
    assert (second.phase, second.target, second.refused) == ("leak", "deliver", False)
    assert "ask refused, goes on in leak" in leaky.counterexample.describe()
    assert leaky.counterexample.to_json()["steps"][0]["refused"] is True
    # and the exact engine agrees: harm with certainty, at depth 2
    o = Interpreter(loaded.ir, exact=True).outcomes("leaky", WEAPONS)
    assert o.harm == 1 and o.depth == 2


def test_the_first_rule_that_vetoes_decides_where_the_trajectory_goes():
    # two rules fire, each with strength 1/2: the first decides with 1/2, the second with 1/4
    text = """spec "order"
substance { s: bool }
value ok = not s
trajectory { horizon 2 then stop  start a  phase a { -> stop : 1 }  phase b { -> deliver : 1 } }
policy two { veto when violates ok and phase == a with strength 0.5  veto when violates ok and phase == a with strength 0.5 then -> b }
policy swapped { veto when violates ok and phase == a with strength 0.5 then -> b  veto when violates ok and phase == a with strength 0.5 }
"""
    s = libet.loads(text).ir
    interp = Interpreter(s, exact=True)
    split, v = interp.veto_ends("two", {"s": True}, "a", 0)
    assert v == Fraction(3, 4) and split == {None: Fraction(1, 2), "b": Fraction(1, 4)}
    o = interp.outcomes("two", {"s": True})
    assert (o.vetoed, o.harm, o.stopped) == (Fraction(1, 2), Fraction(1, 4), Fraction(1, 4))
    o = interp.outcomes("swapped", {"s": True})
    assert (o.vetoed, o.harm, o.stopped) == (Fraction(1, 4), Fraction(1, 2), Fraction(1, 4))
    table = outcomes(s, "swapped", exact=True, measures=[ms.HARM, ms.VETOED])
    assert table.aggregate(ms.HARM, fixed={"s": True}).value == Fraction(1, 2)


def test_formatter_and_graph():
    formatted = format_text(CONVERSATION)
    assert "veto when violates ok with strength 0.5 then -> turn" in formatted
    assert libet.loads(formatted).ir == spec()
    data = graph_data(spec(), "turn_refusal")
    assert data["refusals"] == [{"from": "turn", "to": "turn", "when": "violates ok"}]
    assert "vetoed" not in data["outcomes"]  # no veto of this policy ends the trajectory
    assert "vetoed" in graph_data(spec(), "end_refusal")["outcomes"]


def test_diff_says_when_equal_vetoes_send_trajectories_elsewhere():
    from libet.compare import compare

    c = compare(spec(), "turn_refusal", "end_refusal", timeout=20)
    assert c.equivalent  # the same veto probability everywhere ...
    assert "their refusals do not go on in the same phases" in c.verdict()
    # ... and yet P(harm) differs: averaged over topic, 175/512 against 85/512
    assert c.measures["turn_refusal"]["P(harm)"] == pytest.approx(175 / 512, abs=1e-12)
    assert c.measures["end_refusal"]["P(harm)"] == pytest.approx(85 / 512, abs=1e-12)


def test_w106_when_a_refusal_can_reach_a_horizon_that_delivers():
    text = """spec "w106"
substance { s: bool }
value ok = not s
trajectory { horizon 3END  start a  phase a { -> a : 0.5  -> deliver : otherwise } }
policy p { veto when violates ok then -> a }
"""
    codes = {end: [d.code for d in libet.loads(text.replace("END", end)).warnings] for end in ("", " then deliver", " then stop")}
    assert codes == {"": ["W106"], " then deliver": [], " then stop": []}
    (w,) = libet.loads(text.replace("END", "")).warnings
    assert "a refusal at depth 2 ends in delivered" in w.message and "horizon 3 then stop" in w.hint
    # and it is what the engines do: the refusal at depth 2 reaches the horizon and is delivered
    o = Interpreter(libet.loads(text.replace("END", "")).ir, exact=True).outcomes("p", {"s": True})
    assert o.harm == 1
