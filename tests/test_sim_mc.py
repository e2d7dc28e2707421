"""Monte Carlo agrees with the exact engine within its confidence intervals, is reproducible
bit for bit with a seed, and its Wilson interval matches the textbook formula."""

from __future__ import annotations

import glob

import pytest
from hypothesis import HealthCheck, given, settings
from strategies import specs

import libet
from libet.simulator import montecarlo, outcomes
from libet.simulator.model import Model
from libet.spec import measures as ms

# Intervals this wide fail by chance about once in a million comparisons.
CONFIDENCE = 1 - 1e-6


def within(spec, policy, runs, seed):
    exact = outcomes(spec, policy)
    est = montecarlo.run(Model(spec, policy), runs, seed, confidence=CONFIDENCE)
    for m in ms.STANDARD:
        want = exact.aggregate(m).value
        e = est[m]
        assert e.low - 1e-12 <= want <= e.high + 1e-12, (policy, m, want, e)
    return est


# (examples with state variables or adversaries: tests/test_sim_state.py)
@pytest.mark.parametrize("path", sorted(p for p in glob.glob("examples/*.libet") if not libet.load(p).ir.state))
def test_examples_within_interval(path):
    spec = libet.load(path).ir
    for policy in spec.policies:
        within(spec, policy, 4000, 7)


@settings(max_examples=40, deadline=None, suppress_health_check=list(HealthCheck))
@given(specs(with_checks=False))
def test_generated_specs_within_interval(src):
    spec = libet.loads(src).ir
    for policy in spec.policies:
        within(spec, policy, 3000, 11)


def test_reproducible_bit_for_bit():
    spec = libet.load("examples/prefill.libet").ir
    a = montecarlo.run(Model(spec, "shallow"), 5000, 42)
    b = montecarlo.run(Model(spec, "shallow"), 5000, 42)
    c = montecarlo.run(Model(spec, "shallow"), 5000, 43)
    assert a.to_json() == b.to_json()
    assert a.counts != c.counts


def test_wilson_interval_textbook_values():
    # 5 successes out of 10 at 95%: the Wilson interval is (0.2366, 0.7634).
    lo, hi = montecarlo.wilson(5, 10, 0.95)
    assert lo == pytest.approx(0.2366, abs=1e-4) and hi == pytest.approx(0.7634, abs=1e-4)
    assert montecarlo.wilson(0, 100, 0.95)[0] == 0.0
    assert montecarlo.wilson(100, 100, 0.95)[1] == 1.0


def test_counts_add_up_and_steps_are_counted():
    spec = libet.load("examples/momentum.libet").ir
    policy = next(iter(spec.policies))
    est = montecarlo.run(Model(spec, policy), 2000, 1)
    c = est.counts
    assert c["delivered"] + c["stopped"] + c["vetoed"] == 2000
    assert est.steps >= 2000
