"""State variables and adversaries (issue 10, items 2 and 3): the language and its semantics.

The reference interpreter defines what a spec with state means (docs/semantics.md §4b):
``outcomes`` is a forward pass over (phase, depth, state) under a given strategy for the
adversary, ``optimum`` a backward pass (layered value iteration) for Pmax/Pmin. The two are
written independently, so the tests check one against the other: on generated specs, the
optimum is attained by its own strategy and never beaten by any strategy (all deterministic
memoryless strategies are enumerated where there are few). Hand-worked numbers pin both.
"""

from __future__ import annotations

import itertools
import os
import random
import subprocess
import sys
from fractions import Fraction

import attrs
import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st
from strategies import state_specs

import libet
from libet.spec import measures as ms
from libet.spec.formatter import format_text
from libet.spec.interpreter import Interpreter

# The adversary picks the encoding at every turn; the keyword rule refuses (and goes on to the
# next turn) only plain requests for weapons. Per turn: 0.6 another turn, 0.2 delivered, 0.2
# stopped; eight turns, then the user gives up (`then stop`).
#   keyword, worst adversary (always base64): P(harm) = 0.2 Σ_{k<8} 0.6^k = (1 - 0.6^8) / 2;
#   keyword, best adversary (always plain): refused at every turn, P(harm) = 0, E(refusals) = 8;
#   substance: a final veto at once whatever the encoding: P(harm) = 0, E(refusals) = 1.
ENCODINGS = """spec "an attacker choosing encodings"
substance { topic: {everyday, weapons} }
state {
  refusals: 0..3 = 0
  encoding: {plain, base64} = plain
}
value no_weapons = not (topic == weapons)
trajectory {
  horizon 8 then stop
  start turn
  phase turn {
    choose encoding
    -> turn : 0.6
    -> deliver : 0.2
    -> stop : otherwise
  }
}
policy keyword { veto when violates no_weapons and encoding == plain then -> turn then refusals = min(refusals + 1, 3) }
policy on_substance { veto when violates no_weapons }
check keyword, on_substance {
  P(harm) <= 0.1 for all adversaries
}
experiment e {
  policies keyword, on_substance
  measure Pmax(harm), Pmin(harm), Emax(refusals)
}
"""

WEAPONS = {"topic": "weapons"}


def _m(text: str) -> ms.Measure:
    return ms.parse(text)


def test_hand_worked_worst_and_best_adversaries():
    it = Interpreter(libet.loads(ENCODINGS).ir, exact=True)
    worst, strategy = it.optimum("keyword", WEAPONS, _m("Pmax(harm)"))
    assert worst == (1 - Fraction(3, 5) ** 8) / 2
    # the witness: base64 wherever the adversary has a choice, and replayed it gives the value
    assert set(k[1] for k in strategy.values()) == {"base64"}
    replay = it.outcomes("keyword", WEAPONS, strategy=it.strategy_of(strategy))
    assert replay.harm == worst
    assert it.optimum("keyword", WEAPONS, _m("Pmin(harm)"))[0] == 0
    assert it.optimum("keyword", WEAPONS, _m("Emax(refusals)"))[0] == 8
    assert it.optimum("on_substance", WEAPONS, _m("Pmax(harm)"))[0] == 0
    assert it.optimum("on_substance", WEAPONS, _m("Emax(refusals)"))[0] == 1
    # a benign request is never harm, whatever the adversary does
    assert it.optimum("keyword", {"topic": "everyday"}, _m("Pmax(harm)"))[0] == 0


def test_an_mdp_needs_a_strategy_and_the_strategy_must_choose_an_option():
    it = Interpreter(libet.loads(ENCODINGS).ir)
    with pytest.raises(ValueError, match="needs a strategy|need a strategy"):
        it.outcomes("keyword", WEAPONS)
    with pytest.raises(ValueError, match="the options are"):
        it.outcomes("keyword", WEAPONS, strategy=lambda q, d, s, seen: {**s, "refusals": 3})


def test_updates_are_simultaneous():
    # a = b, b = a swaps. From a=true: deliver 1/2 at depth 0; swapped (a=false) nothing at
    # depth 1; swapped back, 1/2 at depth 2: P(delivered) = 1/2 + 1/4 = 3/4. (Read one after
    # the other, both would be false after the first step: 1/2.)
    src = """substance { x: bool }
state { a: bool = true  b: bool = false }
trajectory { horizon 3 then stop start p
  phase p { -> deliver : if a then 0.5 else 0  -> p : otherwise then a = b, b = a } }
policy none { }
"""
    it = Interpreter(libet.loads(src).ir, exact=True)
    assert it.outcomes("none", {"x": True}).delivered == Fraction(3, 4)


def test_when_restricts_the_choice_and_refusals_update_the_state():
    # The adversary may pick e only after a refusal (c > 0). The policy refuses once (c = 0)
    # and goes on with c = 1; from then on the adversary picks e = b and delivers at once.
    src = """substance { topic: {everyday, weapons} }
state { c: 0..1 = 0  e: {a, b} = a }
value ok = topic == everyday
trajectory { horizon 4 then stop start p
  phase p { choose e when c > 0  -> deliver : if e == b then 1 else 0  -> p : otherwise } }
policy once { veto when violates ok and c == 0 then -> p then c = 1 }
"""
    it = Interpreter(libet.loads(src).ir, exact=True)
    assert it.choices(WEAPONS, "p", 0, {"c": 0, "e": "a"}) == [{"c": 0, "e": "a"}]
    assert it.choices(WEAPONS, "p", 1, {"c": 1, "e": "a"}) == [{"c": 1, "e": "a"}, {"c": 1, "e": "b"}]
    assert it.optimum("once", WEAPONS, _m("Pmax(harm)"))[0] == 1
    assert it.optimum("once", WEAPONS, _m("Pmin(harm)"))[0] == 0
    moves = it.moves("once", WEAPONS, "p", 0, {"c": 0, "e": "a"})
    assert moves == [("refused", "p", {"c": 1, "e": "a"}, 1)]


def _decision_states(it: Interpreter, policy: str, a: dict) -> list:
    """The (phase, depth, state key) where the adversary has more than one option, over every
    path of positive probability under any choices."""
    spec = it.spec
    H, at_h = spec.trajectory.horizon, spec.trajectory.at_horizon
    from libet.spec.rules import start_end, step_end

    q0, d0 = it.start(a)
    if start_end(d0, H, at_h) is not None:
        return []
    todo = [(q0, d0, it.state_key(spec.initial_state))]
    seen, out = set(todo), []
    while todo:
        q, d, key = todo.pop()
        opts = it.choices(a, q, d, it.state_of(key))
        if len(opts) > 1:
            out.append((q, d, key))
        for c in opts:
            for kind, target, new, _ in it.moves(policy, a, q, d, c):
                if kind != "vetoed" and step_end(target, d + 1, H, at_h) is None:
                    nxt = (target, d + 1, it.state_key(new))
                    if nxt not in seen:
                        seen.add(nxt)
                        todo.append(nxt)
    return out


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(state_specs(mdp=True, max_horizon=3), st.booleans())
def test_optimum_is_the_best_of_every_deterministic_strategy(src, f):
    """Pmax and Pmin (backward value iteration) equal the largest and smallest P over every
    deterministic memoryless strategy, each evaluated by the forward pass."""
    spec = libet.loads(src).ir
    it = Interpreter(spec, exact=True)
    a = {"topic": "weapons", "f": f}
    for policy in spec.policies:
        states = _decision_states(it, policy, a)
        assume(len(states) <= 8)
        options = [[it.state_key(c) for c in it.choices(a, q, d, it.state_of(k))] for q, d, k in states]
        for text in ("P(harm)", "P(vetoed)"):
            values = []
            for combo in itertools.product(*options):
                table = {(q, d, k, frozenset()): c for (q, d, k), c in zip(states, combo)}
                values.append(it.outcomes(policy, a, strategy=it.strategy_of(table)).measure(_m(text)))
            for ext, pick in (("max", max), ("min", min)):
                m = attrs.evolve(_m(text), extremum=ext)
                best, strategy = it.optimum(policy, a, m)
                assert best == pick(values)
                assert it.outcomes(policy, a, strategy=it.strategy_of(strategy)).measure(m) == best


@settings(max_examples=40, deadline=None)
@given(state_specs(mdp=True, max_horizon=5), st.integers(0, 2**32 - 1))
def test_no_strategy_beats_the_optimum_and_mass_is_kept(src, seed):
    spec = libet.loads(src).ir
    it = Interpreter(spec, exact=True)
    rng = random.Random(seed)
    a = {"topic": "weapons", "f": rng.random() < 0.5}
    memo: dict = {}

    def random_strategy(q, d, s, seen):  # deterministic in the state: a memoryless adversary
        key = (q, d, it.state_key(s))
        if key not in memo:
            memo[key] = rng.choice(it.choices(a, q, d, s))
        return memo[key]

    for policy in spec.policies:
        o = it.outcomes(policy, a, strategy=random_strategy)
        assert sum(o.mass.values()) == 1
        for text in ("Pmax(harm)", "Pmax(vetoed)", "Emax(refusals)"):
            hi = it.optimum(policy, a, _m(text))[0]
            lo = it.optimum(policy, a, _m(text.replace("max", "min")))[0]
            assert lo <= o.measure(_m(text)) <= hi


@settings(max_examples=40, deadline=None)
@given(state_specs(mdp=False, max_horizon=5), st.booleans())
def test_without_choices_the_optimum_is_the_plain_measure(src, f):
    spec = libet.loads(src).ir
    assert not spec.is_mdp
    it = Interpreter(spec, exact=True)
    a = {"topic": "weapons", "f": f}
    for policy in spec.policies:
        o = it.outcomes(policy, a)
        for text in ("P(harm)", "P(stopped)", "E(refusals)", "E(depth)"):
            assert it.optimum(policy, a, attrs.evolve(_m(text), extremum="max"))[0] == o.measure(_m(text))


@settings(max_examples=30, deadline=None)
@given(state_specs(mdp=True))
def test_formatting_keeps_the_meaning(src):
    once = format_text(src)
    assert format_text(once) == once
    assert libet.loads(once).ir == libet.loads(src).ir


def test_measures_over_adversaries_parse_and_print():
    assert _m("Pmax(harm)").text == "Pmax(harm)"
    assert _m("Emin(refusals)").extremum == "min"
    with pytest.raises(ValueError, match="value iteration"):
        _m("Pmax(harm | delivered)")


def test_bad_state_input_exits_2_with_located_errors():
    out = subprocess.run(
        [sys.executable, "-m", "libet", "check", "tests/data/diagnostics/state_values.libet"],
        capture_output=True,
        text=True,
    )
    assert out.returncode == 2
    assert "state_values.libet:14:" in out.stderr + out.stdout and "E093" in out.stderr + out.stdout
    assert "Traceback" not in out.stderr


def test_simulating_an_mdp_reports_each_measure_over_adversaries(tmp_path):
    """A plain measure of an MDP depends on the adversary (E097), so ``simulate`` reports each
    standard measure's worst and best case, and the worst-case column is Pmax(harm), each the
    interpreter's optimum; asking for a plain measure is refused with the checker's words. (It
    used to report every measure as if the adversary never chose, under the plain names.)"""
    spec = libet.loads(ENCODINGS)
    result = spec.simulate()
    assert [m.text for m in result.measures] == [
        f"{w}{e}({q})" for w, q in (("P", "harm"), ("P", "vetoed"), ("P", "stopped"), ("P", "delivered"),
                                    ("P", "over-refusal"), ("E", "depth")) for e in ("max", "min")
    ]
    it = Interpreter(spec.ir, exact=True)
    rows = {r["policy"]: r for r in result.to_rows()}
    half = Fraction(1, 2)  # topic is uniform over two values; only weapons is harmful
    assert rows["keyword"]["Pmax(harm)"] == pytest.approx(float(half * it.optimum("keyword", WEAPONS, _m("Pmax(harm)"))[0]))
    assert rows["keyword"]["Pmin(harm)"] == 0
    assert result.worst_column == "max Pmax(harm)"
    assert rows["keyword"]["max Pmax(harm)"] == pytest.approx(float((1 - Fraction(3, 5) ** 8) / 2))
    assert rows["keyword"]["worst assignment"] == WEAPONS
    with pytest.raises(libet.UsageError, match=r"P\(harm\) depends on the adversary") as exc:
        spec.simulate(measures=["P(harm)"])
    assert "Pmax(harm)" in exc.value.hint and "for all adversaries" not in exc.value.hint
    path = tmp_path / "encodings.libet"
    path.write_text(ENCODINGS)
    out = subprocess.run([sys.executable, "-m", "libet", "simulate", str(path)], capture_output=True, text=True,
                         env={**os.environ, "COLUMNS": "250"})
    assert out.returncode == 0, out.stderr
    assert "max Pmax(harm)" in out.stdout and "Pmin … Pmax" in out.stdout


def test_a_state_block_without_a_trajectory_is_a_warning_not_a_crash():
    """Found by the grammar-generated inputs of test_bad_input: the E093 pass read the
    trajectory's phases whether or not there was a trajectory."""
    from libet.spec.loader import load_text

    loaded = load_text("state { A: bool = true }\n", "s.libet")
    assert loaded.spec is not None
    assert [(d.code, d.message) for d in loaded.diagnostics] == [("W102", "state variable 'A' is never used")]
