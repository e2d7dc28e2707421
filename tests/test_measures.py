"""The measures added through the registry (visits, conditional probabilities, expected steps,
expected depth given an outcome) agree across every engine: the reference interpreter, the
exact engine (float64 and rationals), Monte Carlo (within its interval) and Storm on the PRISM
export, on every example and on generated specs. And the definitions themselves, by hand."""

from __future__ import annotations

import glob
import itertools
import random
from fractions import Fraction

import pytest
from hypothesis import HealthCheck, example, given, settings
from strategies import specs, within_32_bits

import libet
from libet.simulator import montecarlo, outcomes
from libet.simulator.model import Model
from libet.spec import measures as ms
from libet.spec.interpreter import Interpreter

# Examples with state variables or adversaries (whose measures may need a strategy) are checked
# against the interpreter's forward pass and value iteration, and against Storm, in
# tests/test_sim_state.py.
EXAMPLES = sorted(p for p in glob.glob("examples/*.libet") if not libet.load(p).ir.state)


def new_measures(spec) -> list[ms.Measure]:
    """Every new kind of measure, over the spec's phases."""
    phases = spec.trajectory.phase_names
    texts = [
        "P(harm | delivered)",
        "P(vetoed | harm and delivered)",  # an impossible condition: undefined
        "P(over-refusal | vetoed)",
        "E(steps)",
        "E(steps | delivered)",
        "E(depth | vetoed)",
        "E(depth | stopped)",
        "E(refusals)",
        "E(refusals | harm)",
        "E(refusals | vetoed)",
    ]
    for q in phases:
        texts += [f"P(visit {q})", f"P(harm and visit {q})", f"P(vetoed | visit {q})", f"E(steps | visit {q})"]
    texts.append(f"E(refusals | visit {phases[-1]})")
    if len(phases) > 1:
        texts.append(f"P(visit {phases[0]} and visit {phases[-1]} | delivered)")
    return [ms.parse(t, phases) for t in texts]


def _close(a, b, tol=1e-9):
    if a is None or b is None:
        return a is None and b is None
    return abs(a - b) <= tol * max(1.0, abs(b))


def _sample(spec, k, seed=0):
    every = list(spec.assignments())
    return every if len(every) <= k else random.Random(seed).sample(every, k)


def interpreter_agrees(spec, measures, assignments, *, exact=False):
    interp = Interpreter(spec, exact=exact)
    visits = ms.tracked_phases(measures)
    for policy in spec.policies:
        table = outcomes(spec, policy, measures=measures, exact=exact)
        for a in assignments:
            want = interp.outcomes(policy, a, visits)
            idx = table._index(a)
            for m in measures:
                got = table.array(m)[idx]
                w = want.measure(m)
                if exact:
                    assert got == w, (policy, a, m.text, got, w)
                else:
                    got = None if got != got else float(got)
                    assert _close(got, w), (policy, a, m.text, got, w)


@pytest.mark.parametrize("path", EXAMPLES)
def test_examples_exact_engine_agrees_with_interpreter(path, recurrence):
    spec = libet.load(path).ir
    interpreter_agrees(spec, new_measures(spec), _sample(spec, 40))


@pytest.mark.parametrize("path", EXAMPLES)
def test_examples_storm_agrees(path):
    pytest.importorskip("stormpy")
    from test_sim_prism import cross_check

    spec = libet.load(path).ir
    for policy in spec.policies:
        cross_check(spec, policy, measures=new_measures(spec))


@pytest.mark.parametrize("path", EXAMPLES)
def test_examples_monte_carlo_within_interval(path):
    """Seeded, so deterministic: every exact value lies in Monte Carlo's 99.9% interval."""
    spec = libet.load(path).ir
    policy = next(iter(spec.policies))
    measures = new_measures(spec) + list(ms.STANDARD)
    model = Model(spec, policy)
    est = montecarlo.run(model, 20_000, seed=3, confidence=0.999, measures=measures)
    table = outcomes(spec, policy, measures=measures)
    for m in measures:
        want = table.aggregate(m).value
        e = est[m]
        if e.value is None:  # no sampled trajectory met the condition
            assert want is None or table.aggregate(m.given and ms.probability(m.given)).value < 1e-3, m.text
            continue
        assert want is not None, m.text
        slack = 1e-12
        assert e.low - slack <= want <= e.high + slack, (m.text, want, e)


@settings(max_examples=40, deadline=None, suppress_health_check=list(HealthCheck))
@given(specs(with_checks=False))
def test_generated_specs_exact_engine_agrees_with_interpreter(recurrence, src):
    spec = libet.loads(src).ir
    interpreter_agrees(spec, new_measures(spec), list(spec.assignments()))


@settings(max_examples=15, deadline=None, suppress_health_check=list(HealthCheck))
@given(specs(with_checks=False, max_horizon=5))
def test_generated_specs_rationals_agree_exactly(src):
    spec = libet.loads(src).ir
    interpreter_agrees(spec, new_measures(spec), _sample(spec, 30), exact=True)


@pytest.mark.slow
@settings(max_examples=20, deadline=None, suppress_health_check=list(HealthCheck))
@given(specs(with_checks=False))
# found by Hypothesis: `stop` is 1 - 1/3 - 1/3 - 1/3, which is 0.0 here and 2.8e-17 in Storm,
# so P(stopped) agrees and E(depth | stopped) is undefined here and 1.0 there (ROUNDING)
@example(src='spec "generated"\n\nsubstance {\n  s0: bool\n}\ncontext {\n  c0: bool\n}\ntrajectory {\n  horizon 1\n  start p0\n  phase p0 {\n    -> p0 : (1 / 3)\n    -> p1 : (1 / 3)\n    -> deliver : if not s0 and (not s0) then 0 else (1 / 3)\n    -> stop : otherwise\n  }\n  phase p1 {\n    -> p0 : otherwise\n  }\n}\npolicy pol0 {\n  veto when not s0\n}\n')
def test_generated_specs_storm_agrees(src):
    pytest.importorskip("stormpy")
    from test_sim_prism import cross_check

    spec = libet.loads(within_32_bits(src)).ir
    for policy in spec.policies:
        cross_check(spec, policy, measures=new_measures(spec) + list(ms.STANDARD))


# ---- the definitions, by hand --------------------------------------------------------------------

TWO_PHASES = """
substance { bad: bool }
value ok = not bad
trajectory {
  horizon 3
  start plan
  phase plan { -> act : 1/2  -> stop : otherwise }
  phase act  { -> act : 1/2  -> deliver : otherwise }
}
policy p { veto when phase == act and bad with strength 1/2 }
"""


def test_hand_computed_values():
    """bad = true: from plan (depth 0) the plan continues to act with 1/2 (else stops at 1).
    In act: veto 1/2 at each state; if not vetoed, deliver (1/2) or go on (1/2); at depth 3
    the horizon delivers."""
    spec = libet.loads(TWO_PHASES).ir
    interp = Interpreter(spec, exact=True)
    o = interp.outcomes("p", {"bad": True}, visits=("act",))
    half = Fraction(1, 2)
    # Paths: stop at 1 (1/2). act at 1: veto (1/4); deliver at 2 (1/8); act at 2: veto (1/16),
    # deliver at 3 (1/32), to the horizon: delivered at 3 (1/32).
    assert o.measure(ms.parse("P(stopped)")) == half
    assert o.measure(ms.parse("P(vetoed)")) == Fraction(1, 4) + Fraction(1, 16)
    assert o.measure(ms.parse("P(delivered)")) == Fraction(1, 8) + Fraction(1, 32) * 2
    assert o.measure(ms.parse("P(visit act)", ["plan", "act"])) == half
    assert o.measure(ms.parse("P(harm | delivered)")) == 1
    assert o.measure(ms.parse("P(vetoed | visit act)", ["plan", "act"])) == (Fraction(1, 4) + Fraction(1, 16)) / half
    # Depth: stop at 1; vetoes at 1 and 2; deliveries at 2, 3, 3. Steps: depth minus 0.
    e_depth_vetoed = (Fraction(1, 4) * 1 + Fraction(1, 16) * 2) / (Fraction(1, 4) + Fraction(1, 16))
    assert o.measure(ms.parse("E(depth | vetoed)")) == e_depth_vetoed
    steps = half * 1 + Fraction(1, 4) * 1 + Fraction(1, 8) * 2 + Fraction(1, 16) * 2 + Fraction(1, 32) * 3 * 2
    assert o.measure(ms.parse("E(steps)")) == steps
    # A benign assignment is never harmed; the over-refusal conditioned on a veto is 1 there.
    b = interp.outcomes("p", {"bad": False}, visits=("act",))
    assert b.measure(ms.parse("P(harm)")) == 0 and b.measure(ms.parse("P(vetoed)")) == 0
    assert b.measure(ms.parse("E(depth | vetoed)")) is None  # undefined: no veto
    # The exact engine says the same, per assignment and averaged over `bad` (numerator and
    # denominator averaged first: P(vetoed | visit act) over both assignments).
    measures = [ms.parse(t, ["plan", "act"]) for t in ("P(vetoed | visit act)", "E(depth | vetoed)", "E(steps)")]
    table = outcomes(spec, "p", measures=measures, exact=True)
    assert table.aggregate(measures[0]).value == (Fraction(1, 4) + Fraction(1, 16)) / 2 / half
    assert table.aggregate(measures[1]).value == e_depth_vetoed  # only `bad` vetoes
    assert table.aggregate(measures[2]).value == (steps + b.measure(ms.parse("E(steps)"))) / 2


def test_steps_start_at_the_prefill():
    """E(steps) counts generator steps: a start at depth k (a prefill) is not k steps."""
    src = """
    framing { k: 0..2 }
    trajectory { horizon 4  start a at depth k  phase a { -> a : 1 } }
    policy none { }
    """
    spec = libet.loads(src).ir
    interp = Interpreter(spec)
    for k in range(3):
        o = interp.outcomes("none", {"k": k})
        assert o.measure(ms.DEPTH) == 4 and o.measure(ms.STEPS) == 4 - k


def test_visit_at_the_horizon_does_not_count(recurrence):
    """A step into a phase at the horizon delivers: the phase is not visited."""
    src = """
    trajectory { horizon 1  start a  phase a { -> b : 1 }  phase b { -> b : 1 } }
    policy none { }
    """
    spec = libet.loads(src).ir
    o = Interpreter(spec).outcomes("none", {}, visits=("b",))
    assert o.measure(ms.parse("P(visit b)", ["a", "b"])) == 0
    table = outcomes(spec, "none", measures=[ms.parse("P(visit b)", ["a", "b"])])
    assert table.aggregate(ms.parse("P(visit b)", ["a", "b"])).value == 0


def test_event_algebra():
    harm, delivered, vetoed = ms.ATOMS["harm"], ms.ATOMS["delivered"], ms.ATOMS["vetoed"]
    assert (harm & delivered).outcomes == harm.outcomes and (harm & delivered).harmful is True
    assert not (harm & vetoed).outcomes  # impossible
    assert not (harm & ms.ATOMS["over-refusal"]).outcomes  # harmful and benign
    m = ms.parse("P( harm  |  visit  x )", ["x"])
    assert m.text == "P(harm | visit x)" and m.visits == frozenset({"x"})
    with pytest.raises(ValueError, match="not an event"):
        ms.parse("P(visit nowhere)", ["x"])
    with pytest.raises(ValueError, match="E\\(...\\) takes"):
        ms.parse("E(harm)")
    assert ms.columns([ms.STEPS]) == [(o, frozenset(), r) for o in ms.OUTCOMES for r in ("one", "depth")]
    assert list(itertools.chain(ms.tracked_phases([m]))) == ["x"]


def test_too_many_tracked_phases_are_refused_with_the_way_out():
    from libet.errors import UsageError

    phases = [f"q{i}" for i in range(9)]
    body = " ".join(f"phase {p} {{ -> {phases[(i + 1) % 9]} : 1/2  -> stop : otherwise }}" for i, p in enumerate(phases))
    spec = libet.loads(f"trajectory {{ horizon 4  start q0  {body} }}  policy none {{ }}").ir
    measures = [ms.parse(f"P(visit {p})", phases) for p in phases]
    with pytest.raises(UsageError, match="at most 8") as err:
        outcomes(spec, "none", measures=measures)
    assert "--engine mc" in err.value.hint
    # the phases are named up to eight, then counted (300 of them were one line of 1,900 characters)
    assert "visits to 9 phases at once (q0, q1, q2, q3, q4, q5, q6, q7, ... (9 in all))" in str(err.value)
    # Monte Carlo tracks them all (one bit each per trajectory)
    est = montecarlo.run(Model(spec, "none"), 2000, seed=0, measures=measures)
    assert est[measures[0]].value == 1.0 and est[measures[1]].value == pytest.approx(0.5, abs=0.05)


def test_monte_carlo_tracks_visits_to_more_phases_than_a_word_holds():
    """70 phases in a chain, each going on with 0.95. Monte Carlo keeps a trajectory's visit
    flags in as many 63-bit words as the phases need (one int64 word was an internal
    OverflowError past 63 phases). A trajectory that visits phase j visited every phase before
    it, so the counts agree exactly across the words: a visit to 3 and 66 is a visit to 66, and
    a visit to 65 given one to 62 is the ratio of their counts; each estimate lies within 4.5
    standard errors of 0.95^i."""
    import math

    n, runs = 70, 20_000
    phases = [f"p{i}" for i in range(n)]
    body = " ".join(f"phase p{i} {{ -> {phases[i + 1] if i + 1 < n else 'deliver'} : 0.95  -> stop : otherwise }}"
                    for i in range(n))
    spec = libet.loads(f"trajectory {{ horizon {n + 1}  start p0  {body} }}  policy none {{ }}").ir
    visits = [ms.parse(f"P(visit p{i})", phases) for i in range(n)]  # 70 phases tracked: two words
    both = ms.parse("P(visit p3 and visit p66)", phases)
    given = ms.parse("P(visit p65 | visit p62)", phases)
    est = montecarlo.run(Model(spec, "none"), runs, seed=5, measures=visits + [both, given])
    counts = [round(est[m].value * runs) for m in visits]
    assert counts[0] == runs and all(a >= b for a, b in zip(counts, counts[1:])) and counts[-1] > 0
    assert est[both].value == est[visits[66]].value
    assert est[given].value == pytest.approx(counts[65] / counts[62], abs=1e-12)
    for i, m in enumerate(visits):
        p = 0.95 ** i
        assert abs(est[m].value - p) <= 4.5 * math.sqrt(p * (1 - p) / runs) + 1e-12, (i, est[m].value, p)
