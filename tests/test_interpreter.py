"""The reference interpreter against hand-computed values, and its invariants on generated specs."""

from __future__ import annotations

import glob
import math
from fractions import Fraction

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from strategies import specs, states

import libet
from libet.errors import EvaluationError, UsageError
from libet.spec.interpreter import Interpreter

TINY = """
substance { x: bool }
value v = not x
trajectory {
  horizon 3
  start a
  phase a {
    -> a : 0.5
    -> stop : otherwise
  }
}
policy p { veto when x and depth >= 1 with strength 0.5 }
policy two {
  veto when x with strength 0.5
  veto when depth > 0 with strength 0.5
}
policy never {}
"""


@pytest.fixture(scope="module")
def tiny():
    return libet.loads(TINY).ir


def test_veto_probability_combines_rules_as_independent_vetoes(tiny):
    i = Interpreter(tiny)
    assert i.veto_probability("two", {"x": True}, "a", 1) == pytest.approx(0.75)  # 1 - 0.5 * 0.5
    assert i.veto_probability("two", {"x": True}, "a", 0) == pytest.approx(0.5)
    assert i.veto_probability("two", {"x": False}, "a", 0) == 0
    assert i.veto_probability("never", {"x": True}, "a", 2) == 0


def test_transitions_resolve_otherwise(tiny):
    assert Interpreter(tiny).transitions({"x": True}, "a", 0) == (("a", 0.5), ("stop", 0.5))


def test_outcomes_by_hand(tiny):
    # x = true (harmful). Depth 0: no veto; 1/2 on, 1/2 stop@1.
    # Depth 1 (mass 1/2): veto 1/4 @1; of 1/4 going on, 1/8 on, 1/8 stop@2.
    # Depth 2 (mass 1/8): veto 1/16 @2; 1/32 reaches the horizon (delivered@3), 1/32 stop@3.
    o = Interpreter(tiny, exact=True).outcomes("p", {"x": True})
    assert (o.delivered, o.vetoed, o.stopped) == (Fraction(1, 32), Fraction(5, 16), Fraction(21, 32))
    assert o.harm == Fraction(1, 32) and o.over_refusal == 0
    assert o.depth == Fraction(1, 4) + Fraction(1, 8) + Fraction(1, 2) + Fraction(1, 4) + Fraction(3, 32) + Fraction(3, 32)
    assert o.depth_at["vetoed"] == Fraction(3, 8) / Fraction(5, 16)
    assert o.depth_at["delivered"] == 3


def test_outcomes_benign_assignment(tiny):
    o = Interpreter(tiny, exact=True).outcomes("p", {"x": False})
    assert (o.delivered, o.stopped, o.vetoed, o.harm) == (Fraction(1, 8), Fraction(7, 8), 0, 0)


def test_float_and_exact_modes_agree(tiny):
    for policy in ("p", "two", "never"):
        for x in (False, True):
            f = Interpreter(tiny).outcomes(policy, {"x": x})
            e = Interpreter(tiny, exact=True).outcomes(policy, {"x": x})
            for name in ("delivered", "stopped", "vetoed", "harm", "over_refusal", "depth"):
                assert getattr(f, name) == pytest.approx(float(getattr(e, name)), abs=1e-12)


def test_over_refusal_counts_vetoes_of_benign_requests():
    spec = libet.loads("substance { x: bool }\nvalue v = not x\ntrajectory { horizon 2 start a phase a { -> a : 1 } }\npolicy all { veto when true with strength 0.5 }").ir
    o = Interpreter(spec, exact=True).outcomes("all", {"x": False})
    assert o.over_refusal == o.vetoed == Fraction(3, 4) and o.harm == 0
    assert o.delivered == Fraction(1, 4)


def test_start_at_the_horizon_delivers_at_once_before_any_veto():
    spec = libet.loads("framing { f: 0..2 }\nsubstance { x: bool }\nvalue v = not x\n"
                       "trajectory { horizon 2 start a at depth f phase a { -> a : 1 } }\npolicy all { veto when true }").ir
    i = Interpreter(spec, exact=True)
    assert i.start({"f": 2}) == ("a", 2)
    assert i.outcomes("all", {"f": 2, "x": True}).harm == 1
    assert i.outcomes("all", {"f": 1, "x": True}).vetoed == 1


def test_params_override_defaults():
    spec = libet.loads("substance { x: bool }\nvalue v = x\nparam k = 0.25\ndef d = k * 2").ir
    e = spec.defs["d"].expr
    assert Interpreter(spec).evaluate(e, {"x": True}) == 0.5
    assert Interpreter(spec, {"k": Fraction(1, 3)}, exact=True).evaluate(e, {"x": True}) == Fraction(2, 3)
    with pytest.raises(UsageError, match="there is no param 'nope'"):
        Interpreter(spec, {"nope": 1})
    # Any real number a user passes from Python, numpy scalars included (scipy's optimisers do).
    assert Interpreter(spec, {"k": np.float64(0.25)}, exact=True).params["k"] == Fraction(1, 4)
    assert Interpreter(spec, {"k": np.int64(1)}).params["k"] == 1.0
    with pytest.raises(UsageError, match="finite real number"):
        Interpreter(spec, {"k": float("nan")})


def test_functions():
    spec = libet.loads("substance { n: 0..3 }\nvalue v = n < 2\n"
                       "def a = exp(-n)\ndef b = log(n + 1)\ndef c = pow(2, n)\ndef d = pow(n, 0.5)\n"
                       "def e = min(n, 2, 3)\ndef f = max(n, 1.5)\ndef g = abs(1 - n)\ndef h = if n > 1 then n else 0.5").ir
    i = Interpreter(spec)
    got = {k: i.evaluate(spec.defs[k].expr, {"n": 3}) for k in "abcdefgh"}
    assert got == {"a": math.exp(-3), "b": math.log(4), "c": 8, "d": math.sqrt(3), "e": 2, "f": 3, "g": 2, "h": 3}
    ex = Interpreter(spec, exact=True)
    assert ex.evaluate(spec.defs["a"].expr, {"n": 3}) == Fraction(math.exp(-3))  # the double, used exactly
    assert ex.evaluate(spec.defs["c"].expr, {"n": 3}) == 8


@pytest.mark.parametrize(
    "definition, message",
    [
        ("1 / (n - 2)", "division by zero"),
        ("log(n - 2)", "log of 0, which is not positive"),
        ("pow(n - 2, -1)", "pow(0, negative) divides by zero"),
        ("pow(n - 3, 0.5)", "pow of the negative -1 to the non-integer 0.5"),
        ("exp(n * 1000)", "exp overflows"),
        ("pow(n * 1e10, 64)", "pow overflows"),
        ("pow(1e300 * 1e300 * n, 2)", "pow of a non-finite number"),
    ],
)
def test_evaluation_errors_name_the_state(definition, message):
    spec = libet.loads(f"substance {{ n: 0..3 }}\nvalue v = n < 2\ndef d = {definition}", "e.libet").ir
    with pytest.raises(EvaluationError) as info:
        Interpreter(spec).evaluate(spec.defs["d"].expr, {"n": 2}, depth=4, phase=None)
    assert info.value.message == message
    assert info.value.span.file == "e.libet" and info.value.span.line == 3
    assert info.value.state == "depth 4, assignment {n=2}"


def test_harmful_and_values():
    spec = libet.loads("substance { t: {a, b}\n u: 0..2 }\nvalue v1 = t == a\nvalue v2 = u < 2").ir
    i = Interpreter(spec)
    assert [i.harmful(a) for a in spec.assignments()] == [False, False, True, True, True, True]
    assert i.holds("v1", {"t": "a", "u": 2}) and not i.holds("v2", {"t": "a", "u": 2})


def test_assignments_enumerate_last_variable_fastest():
    spec = libet.loads("substance { a: bool\n b: 0..1 }\nvalue v = a").ir
    assert list(spec.assignments()) == [
        {"a": False, "b": 0}, {"a": False, "b": 1}, {"a": True, "b": 0}, {"a": True, "b": 1}]


EXAMPLES = sorted(glob.glob("examples/*.libet"))


@pytest.mark.parametrize("path", EXAMPLES)
def test_examples_probabilities_at_sampled_states(path):
    """At every sampled state of every example: transitions lie in [0,1] and sum to 1, and each
    policy's veto probability lies in [0, 1]."""
    spec = libet.load(path).ir
    interp = Interpreter(spec)

    @settings(max_examples=150, deadline=None)
    @given(states(spec))
    def check(state):
        a, phase, depth = state
        probs = [p for _, p in interp.transitions(a, phase, depth)]
        assert all(0 <= p <= 1 for p in probs)
        assert sum(probs) == pytest.approx(1, abs=1e-9)
        for name in spec.policies:
            assert 0 <= interp.veto_probability(name, a, phase, depth) <= 1

    check()


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(specs(), st.data())
def test_outcomes_are_a_distribution_on_generated_specs(text, data):
    spec = libet.loads(text).ir
    a = data.draw(st.sampled_from(list(spec.assignments())))
    exact = Interpreter(spec, exact=True)
    approx = Interpreter(spec)
    for policy in spec.policies:
        o = exact.outcomes(policy, a)
        assert o.delivered + o.stopped + o.vetoed == 1
        assert all(x >= 0 for x in (o.delivered, o.stopped, o.vetoed))
        harmful = exact.harmful(a)
        assert o.harm == (o.delivered if harmful else 0)
        assert o.over_refusal == (0 if harmful else o.vetoed)
        f = approx.outcomes(policy, a)
        assert f.harm == pytest.approx(float(o.harm), abs=1e-9)
        assert f.depth == pytest.approx(float(o.depth), abs=1e-9)
