"""The exact engine agrees with the reference interpreter (docs/semantics.md §6): on every
example, on generated specs (float64 and rationals), on long horizons (blocked backward
induction), with hand-computed numbers, and it reports bad states the way the interpreter does."""

from __future__ import annotations

import glob
import random
from fractions import Fraction

import numpy as np
import pytest
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st
from strategies import long_horizon_specs, specs

import libet
from libet.errors import EvaluationError, UsageError
from libet.simulator import outcomes
from libet.simulator.model import Model
from libet.spec import measures as ms
from libet.spec.interpreter import Interpreter
from libet.spec.vectorize import TOLERANCE, checked_steps, within_range

# Examples with state variables or adversaries (whose measures may need a strategy) are checked
# against the interpreter's forward pass and value iteration, and against Storm, in
# tests/test_sim_state.py.
EXAMPLES = sorted(p for p in glob.glob("examples/*.libet") if not libet.load(p).ir.state)
FIELDS = [
    ("P(harm)", "harm"),
    ("P(delivered)", "delivered"),
    ("P(stopped)", "stopped"),
    ("P(vetoed)", "vetoed"),
    ("P(over-refusal)", "over_refusal"),
    ("E(depth)", "depth"),
]


#: Below this a float64 probability has lost most of its significant bits (the normal range ends
#: at 2.2e-308); a ratio of two such numbers is not accurate to 1e-9.
SUBNORMAL = 1e-290


def agree(spec, assignments=None, *, exact=False, params=None, tol=1e-9, policies=None):
    interp = Interpreter(spec, params, exact=exact)
    for policy in policies or spec.policies:
        table = outcomes(spec, policy, exact=exact, params=params)
        for a in assignments if assignments is not None else spec.assignments():
            want = interp.outcomes(policy, a)
            got = table.at(a)
            for key, attr in FIELDS:
                w = getattr(want, attr)
                if exact:
                    assert got[key] == w, (policy, a, key)
                else:
                    assert abs(got[key] - w) <= tol * max(1.0, abs(w)), (policy, a, key, got[key], w)
            for o in ("delivered", "stopped", "vetoed"):
                w, g = want.depth_at[o], got[f"E(depth | {o})"]
                assert (w is None) == (g is None), (policy, a, o)
                if w is None:
                    continue
                if not exact and getattr(want, o) < SUBNORMAL:
                    # conditioned on an outcome of probability below float64's normal range
                    # (a refusal that goes on with 0.1 at each of 315 steps: 1e-315): numerator
                    # and denominator are subnormal, with as few as one significant bit, so
                    # their ratio means nothing in float64; the probability itself was compared
                    # above, and the rational tests compare such ratios exactly
                    continue
                assert g == w if exact else abs(g - w) <= tol * max(1.0, abs(w))


def _sample(spec, k, seed=0):
    every = list(spec.assignments())
    if len(every) <= k:
        return every
    return random.Random(seed).sample(every, k)


@pytest.mark.parametrize("path", [p for p in EXAMPLES if "prefill" not in p])
def test_examples_agree_with_interpreter(path, recurrence):
    agree(libet.load(path).ir)


@pytest.mark.slow
def test_prefill_agrees_with_interpreter(recurrence):
    agree(libet.load("examples/prefill.libet").ir)


def test_examples_exist():
    assert len(EXAMPLES) >= 2


@settings(max_examples=120, deadline=None, suppress_health_check=list(HealthCheck))
@given(specs(with_checks=False))
def test_generated_specs_float(recurrence, src):
    agree(libet.loads(src).ir)


@settings(max_examples=100, deadline=None, suppress_health_check=list(HealthCheck))
@given(specs(with_checks=False))
def test_generated_specs_p_harm_alone(recurrence, src):
    # P(harm) alone takes its own path on one phase: the product of the continuation
    # probabilities (compiled: compensated), no masses on the way (about a quarter of the
    # generated specs: one phase, no refusal that goes on)
    spec = libet.loads(src).ir
    interp = Interpreter(spec)
    for policy in spec.policies:
        table = outcomes(spec, policy, measures=[ms.HARM])
        for a in _sample(spec, 12):
            w = interp.outcomes(policy, a).harm
            g = table.aggregate(ms.HARM, fixed=a).value
            assert abs(g - w) <= 1e-9 * max(1.0, abs(w)), (policy, a, g, w)


@settings(max_examples=150, deadline=None, suppress_health_check=list(HealthCheck))
@given(specs(with_checks=False))
def test_generated_specs_with_chunks_cut_at_depth_comparisons(recurrence, src):
    # Model.spans cuts a chunk where a comparison of the depth with a number changes value
    # (`depth < 3`) once MIN_CUT depths lie beyond it; at 1, with whole horizons as chunks and
    # with chunks of a few depths (layers of 4 numbers), the forward pass and the backward pass
    # must still agree with the interpreter, for the six measures and for P(harm) alone
    from libet.simulator import model as model_module

    spec = libet.loads(src).ir
    interp = Interpreter(spec)
    for layer in (model_module.LAYER_STATES, 4):
        with pytest.MonkeyPatch.context() as mp:
            mp.setattr(model_module, "MIN_CUT", 1)
            mp.setattr(model_module, "LAYER_STATES", layer)
            agree(spec, _sample(spec, 12))
            for policy in spec.policies:
                table = outcomes(spec, policy, measures=[ms.HARM])
                for a in _sample(spec, 12):
                    w = interp.outcomes(policy, a).harm
                    assert abs(table.aggregate(ms.HARM, fixed=a).value - w) <= 1e-9 * max(1.0, abs(w)), (policy, a)
    event("cut" if any(Model(spec, p).depth_cuts for p in spec.policies) else "no depth comparison")


@settings(max_examples=60, deadline=None, suppress_health_check=list(HealthCheck))
@given(specs(with_checks=False))
def test_generated_specs_rational_are_identical(src):
    agree(libet.loads(src).ir, exact=True)


@pytest.mark.slow
@settings(max_examples=25, deadline=None, suppress_health_check=list(HealthCheck))
@given(long_horizon_specs())
def test_long_horizons_blocked_induction(recurrence, src):
    spec = libet.loads(src).ir
    agree(spec, _sample(spec, 3))


ONE_PHASE = """
spec "hand"
substance { bad: bool }
framing { pre: 0..3 }
value ok = not bad
trajectory {
  horizon 3
  start a at depth pre
  phase a {
    -> a : 0.5
    -> stop : otherwise
  }
}
policy half { veto when bad and depth == 1 with strength 0.5 }
"""


def test_hand_computed_numbers():
    spec = libet.loads(ONE_PHASE).ir
    t = outcomes(spec, "half")
    # benign, start 0: continue 0.5 three times -> delivered 1/8, stopped 7/8.
    r = t.at({"bad": False, "pre": 0})
    assert r["P(delivered)"] == pytest.approx(0.125, abs=1e-15)
    assert r["P(stopped)"] == pytest.approx(0.875, abs=1e-15)
    # expected depth: stop at 1 (1/2), at 2 (1/4), at 3 (1/8); delivered at 3 (1/8)
    assert r["E(depth)"] == pytest.approx(0.5 + 0.5 + 3 / 8 + 3 / 8, abs=1e-15)
    # harmful, start 0: at depth 1 (mass 1/2) vetoed with 0.5 -> vetoed 1/4, delivered 1/16.
    r = t.at({"bad": True, "pre": 0})
    assert r["P(vetoed)"] == pytest.approx(0.25, abs=1e-15)
    assert r["P(harm)"] == pytest.approx(1 / 16, abs=1e-15)
    assert r["E(depth | vetoed)"] == pytest.approx(1.0)
    # a start at the horizon delivers at once, at depth 3.
    r = t.at({"bad": True, "pre": 3})
    assert r["P(harm)"] == 1.0 and r["E(depth)"] == 3.0
    # averaged over both variables under the uniform distribution
    mean = sum(t.at({"bad": b, "pre": p})["P(harm)"] for b in (False, True) for p in range(4)) / 8

    assert t.aggregate(ms.HARM).value == pytest.approx(mean, abs=1e-15)


def test_classes_group_assignments_and_project_variables():
    spec = libet.load("examples/prefill.libet").ir
    m = Model(spec, "shallow")
    assert m.n_classes == 2  # harmful or not: 12 substance assignments, two behaviours
    assert "persona" in m.projected and "observed" in m.projected
    assert m.names == ("topic", "uplift", "prefill")


MANY_STARTS = """
spec "many starts, two phases"
framing { pre: 0..40 }
param gain = 0.01
trajectory {
  horizon 900
  start a at depth pre * 20
  phase a {
    -> b : 0.6 + 0.3 * exp(-gain * depth)
    -> stop : otherwise
  }
  phase b {
    -> a : 0.97
    -> deliver : 0.01
    -> stop : otherwise
  }
}
policy late { veto when depth > 500 and phase == b with strength 0.01 }
"""


@pytest.mark.slow
def test_many_start_depths_and_phases_backward_path(recurrence):
    spec = libet.loads(MANY_STARTS).ir
    agree(spec, [{"pre": p} for p in (0, 1, 13, 25, 40)])


ERRORS = """
spec "errors"
substance { s: bool }
param gain = 0.01 in [0, 1]
param k = 1 in [0, 2]
trajectory {
  horizon 10
  start a
  phase a {
    -> a : 0.9 + gain * depth
    -> stop : otherwise
  }
}
policy wall { veto when depth >= 2 }
policy none { }
policy divide { veto when 1 / k > 2 }
"""


def test_probability_out_of_range_at_reachable_state_names_phase_depth_assignment(recurrence):
    spec = libet.loads(ERRORS).ir
    with pytest.raises(EvaluationError) as info:
        outcomes(spec, "none", params={"gain": 0.05})
    text = str(info.value)
    assert "phase 'a'" in text and "depth 3" in text and "s=false" in text
    # the interpreter raises the same
    with pytest.raises(EvaluationError) as ref:
        Interpreter(spec, {"gain": 0.05}).outcomes("none", {"s": False})
    assert str(ref.value) == text


def test_bad_state_that_is_never_reached_is_no_error(recurrence):
    spec = libet.loads(ERRORS).ir
    # `wall` vetoes with certainty at depth 2, so depth 3 (probability 1.05) is never reached.
    agree(spec, params={"gain": 0.05}, assignments=[{"s": False}, {"s": True}], policies=["wall"])


def test_division_by_zero_is_reported():
    spec = libet.loads(ERRORS).ir
    with pytest.raises(EvaluationError, match="division by zero"):
        outcomes(spec, "divide", params={"k": 0})


def test_model_too_large_is_refused_before_building():
    decls = "\n".join(f"  f{i}: 0..99" for i in range(6))
    src = f"""
spec "huge"
framing {{
{decls}
}}
trajectory {{
  horizon 10
  start a
  phase a {{
    -> a : (f0 + f1 + f2 + f3 + f4 + f5) / 1000
    -> stop : otherwise
  }}
}}
policy p {{ }}
"""
    spec = libet.loads(src).ir
    with pytest.raises(UsageError) as info:
        Model(spec, "p")
    msg = str(info.value)
    assert "model too large" in msg and "1,000,000,000,000" in msg
    assert "--set" in info.value.hint
    # fixing variables shrinks it to something solvable
    t = outcomes(spec, "p", fixed={f"f{i}": 1 for i in range(4)})
    assert t.shape == (1, 1, 1, 1, 100, 100)  # fixed variables keep an axis of one value


def test_unknown_names_are_usage_errors():
    spec = libet.load("examples/prefill.libet").ir
    with pytest.raises(UsageError):
        outcomes(spec, "nope")
    with pytest.raises(UsageError):
        outcomes(spec, "deep", params={"nope": 1})
    with pytest.raises(UsageError):
        outcomes(spec, "deep", fixed={"topic": "nope"})
    with pytest.raises(UsageError, match="outside the range"):
        outcomes(spec, "deep", params={"gain": 5})


def test_pow_overflow_is_an_evaluation_error():
    src = """
spec "pow"
param k = 1 in [0, 100000000000]
trajectory { horizon 2 start a phase a { -> a : min(1, pow(k, 64)) -> stop : otherwise } }
policy p { }
"""
    spec = libet.loads(src).ir
    with pytest.raises(EvaluationError, match="overflow"):
        outcomes(spec, "p", params={"k": 10**10})




EDGES = [0.0, 1.0, 0.5, -0.0, 1e-10, -1e-10, -1e-8, 1 + 1e-10, 1 + 1e-8, 0.3, 0.7, float("nan"), float("inf"),
         1 - 1e-10, 1 - 1e-8, 2.0, -1.0]


def _same_as_full_check(raw):
    fast, fast_bad = within_range(raw, 1.0, 0.0)
    slow, slow_bad = checked_steps(raw, 1.0, 0.0, TOLERANCE)
    if fast is None:
        return False
    assert fast_bad is False and not np.any(slow_bad), raw
    for a, b in zip(fast, slow):
        np.testing.assert_array_equal(np.asarray(a), np.asarray(b), err_msg=str(raw))
    return True


def test_the_cheap_step_check_on_every_pair_of_edge_values():
    """`within_range` (a minimum per probability and a maximum of their sum) either leaves the
    phase to the state-by-state check, or returns exactly what that check returns, with no bad
    state: every one or two probabilities from EDGES, with and without an `otherwise`, as
    numbers and as arrays."""
    import itertools

    decided = 0
    for n in (1, 2):
        for values in itertools.product(EDGES, repeat=n):
            for shape in ("number", "array"):
                probs = [(v if shape == "number" else np.array([v, 0.25 * v]), False) for v in values]
                for rest in [None, *range(n + 1)]:
                    raw = list(probs)
                    if rest is not None:
                        raw.insert(rest, None)
                    decided += _same_as_full_check(raw)
    assert decided > 50  # the cheap check does decide the common case


@settings(max_examples=300, deadline=None)
@given(st.data())
def test_the_cheap_step_check_on_generated_phases(data):
    values = st.one_of(st.sampled_from(EDGES), st.floats(-0.1, 1.1))
    n = data.draw(st.integers(1, 3))
    width = data.draw(st.integers(1, 4))
    raw = []
    for _ in range(n):
        if data.draw(st.booleans()):
            raw.append((np.array(data.draw(st.lists(values, min_size=width, max_size=width))), False))
        else:
            raw.append((data.draw(values), False))
    if data.draw(st.booleans()):
        raw.insert(data.draw(st.integers(0, n)), None)  # the `otherwise`
    event("decided cheaply" if _same_as_full_check(raw) else "left to the full check")


@settings(max_examples=300, deadline=None)
@given(st.lists(st.one_of(st.integers(-10**30, 10**30), st.fractions(max_denominator=10**40),
                          st.floats(allow_nan=False, allow_infinity=False).map(Fraction)), max_size=30))
def test_exact_sum_is_the_sum(values):
    """The sum over a common denominator (table.exact_sum, the exact averages' inner sum) is
    Python's own sum of the rationals, normalised."""
    from libet.simulator.table import exact_sum

    got = exact_sum(values)
    assert got == sum(values, Fraction(0)) and isinstance(got, Fraction)


@pytest.mark.parametrize(
    ("example", "engine", "exact", "runs"),
    [
        ("prefill", "exact", False, None),  # one phase: the forward pass
        ("momentum", "exact", False, None),  # several phases: backward induction
        ("prefill", "exact", True, None),  # in rationals
        ("adaptive_attacker", "exact", False, None),  # state and an adversary: the layered engine
        ("crescendo", "mc", False, 3_000),  # state: the layered tables' Monte Carlo
        ("prefill", "mc", False, 3_000),
    ],
)
def test_progress_counts_every_unit_of_work_once(example, engine, exact, runs):
    # a progress bar's total is asked for once, and the engine's reports add up to it
    spec = libet.load(f"examples/{example}.libet")
    asked, done = [], []

    def progress(description, total):
        asked.append((description, total))
        return done.append

    kwargs = {"runs": runs, "seed": 1} if runs else {}
    policies = list(spec.ir.policies)[:2]
    with_bar = spec.simulate(policies, engine=engine, exact=exact, progress=progress, **kwargs)
    per_policy = runs or spec.ir.trajectory.horizon
    unit = "runs" if runs else "depths"
    assert asked == [(f"{engine} engine, {unit}", per_policy * len(policies))]
    assert sum(done) == per_policy * len(policies) and all(n > 0 for n in done)
    # and the numbers do not depend on whether anyone watches
    assert with_bar.to_rows() == spec.simulate(policies, engine=engine, exact=exact, **kwargs).to_rows()
