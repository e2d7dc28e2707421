"""Monte Carlo agrees with the exact engine within its confidence intervals, is reproducible
bit for bit with a seed, and its intervals (Clopper-Pearson) match the textbook values and
cover rare probabilities at their confidence."""

from __future__ import annotations

import glob

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from strategies import specs

import libet
from libet.simulator import intervals, montecarlo, outcomes
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


@settings(max_examples=40, deadline=None, suppress_health_check=list(HealthCheck))
@given(specs(with_checks=False))
def test_step_tables_are_the_same_with_chunks_cut_at_depth_comparisons(src):
    # a layer's values at a depth do not depend on the block it is evaluated in, so cutting the
    # chunks where a depth comparison changes (Model.spans; MIN_CUT 1, with whole horizons and
    # with chunks of a few depths) leaves every threshold of the Monte Carlo tables as it was,
    # to the bit
    from libet.simulator import model as model_module

    spec = libet.loads(src).ir
    for policy in spec.policies:
        for layer in (model_module.LAYER_STATES, 4):
            with pytest.MonkeyPatch.context() as mp:
                mp.setattr(model_module, "LAYER_STATES", layer)
                mp.setattr(model_module, "MIN_CUT", 1 << 40)
                whole = montecarlo.Tables(Model(spec, policy))
                mp.setattr(model_module, "MIN_CUT", 1)
                cut = montecarlo.Tables(Model(spec, policy))
            assert np.array_equal(whole.cum, cut.cum) and np.array_equal(whole.bad, cut.bad), (policy, layer)


def test_reproducible_bit_for_bit():
    spec = libet.load("examples/prefill.libet").ir
    a = montecarlo.run(Model(spec, "shallow"), 5000, 42)
    b = montecarlo.run(Model(spec, "shallow"), 5000, 42)
    c = montecarlo.run(Model(spec, "shallow"), 5000, 43)
    assert a.to_json() == b.to_json()
    assert a.counts != c.counts


def test_interval_textbook_values():
    # 5 successes out of 10 at 95%: Clopper-Pearson (0.1871, 0.8129), Wilson (0.2366, 0.7634).
    lo, hi = intervals.clopper_pearson(5, 10, 0.95)
    assert lo == pytest.approx(0.1871, abs=1e-4) and hi == pytest.approx(0.8129, abs=1e-4)
    lo, hi = intervals.wilson(5, 10, 0.95)
    assert lo == pytest.approx(0.2366, abs=1e-4) and hi == pytest.approx(0.7634, abs=1e-4)
    # none in 10: the upper bound solves (1 - p)^10 = 0.025
    assert intervals.clopper_pearson(0, 10, 0.95) == (0.0, pytest.approx(1 - 0.025 ** 0.1, abs=1e-12))
    assert intervals.wilson(0, 100, 0.95)[0] == 0.0 and intervals.wilson(100, 100, 0.95)[1] == 1.0


def test_monte_carlo_intervals_cover_rare_probabilities_at_their_confidence():
    """The interval Monte Carlo reports covers the true probability with at least its
    confidence at every p, rare harms included: computed exactly from the binomial law over a
    grid of p for n = 3,000. (Wilson's does not: at p = 1.25e-5 its 1 - 10^-6 interval misses
    about 3.7% of the time, which Hypothesis once found as a failure of the test above.)"""
    from scipy.stats import binom

    n = 3000
    grid = [1e-6, 5e-6, 1.25e-5, 5.9e-5, 1e-4, 3e-4, 1e-3, 1e-2, 0.1, 0.5, 0.9, 0.999]

    def coverage(bounds, p):
        pmf = binom.pmf(range(n + 1), n, p)
        return sum(w for w, (lo, hi) in zip(pmf, bounds) if lo <= p <= hi)

    for confidence in (0.95, 1 - 1e-6):
        exact = [intervals.clopper_pearson(k, n, confidence) for k in range(n + 1)]
        score = [intervals.wilson(k, n, confidence) for k in range(n + 1)]
        for p in grid:
            assert coverage(exact, p) >= confidence - 1e-9, (confidence, p)
        # the score interval falls short of its confidence on the same grid
        assert min(coverage(score, p) for p in grid) < confidence
    assert coverage(score, 1.25e-5) < 0.97
    spec = libet.load("examples/momentum.libet").ir
    est = montecarlo.run(Model(spec, next(iter(spec.policies))), 3000, 11)
    k = est.counts["delivered"]
    assert (est[ms.parse("P(delivered)")].low, est[ms.parse("P(delivered)")].high) == intervals.clopper_pearson(k, 3000)


def test_an_expectation_on_few_trajectories_gets_an_interval_that_holds():
    """`E(depth | vetoed)` with a veto of strength 0.0002: of 2,000 trajectories one or a few
    are vetoed. From one, the normal interval was [4, 4] (its spread is 0), excluding the exact
    6.22654; from three, [-1.25, 9.92], below any depth. Below 30 trajectories the interval is
    Hoeffding's over [0, horizon], and every interval is cut to that range."""
    spec = libet.loads("""substance { topic: {weapons} }
value no_weapons = topic != weapons
trajectory { horizon 20  start go  phase go { -> go : 0.9  -> deliver : otherwise } }
policy p { veto when harmful with strength 0.0002 }
""").ir
    m = ms.parse("E(depth | vetoed)")
    exact = outcomes(spec, "p", measures=[m]).aggregate(m).value
    model = Model(spec, "p")
    seen = 0
    for seed in range(60):
        e = montecarlo.run(model, 2000, seed, measures=[m])[m]
        if e.n == 0:
            assert e.value is None
            continue
        seen += 1
        assert 0 <= e.low <= e.value <= e.high <= 20
        assert e.low <= exact <= e.high, (seed, e)
        if e.n < montecarlo.NORMAL_MIN:  # Hoeffding's half-width over [0, 20]
            half = 20 * np.sqrt(np.log(2 / 0.05) / (2 * e.n))
            assert (e.low, e.high) == pytest.approx((max(0.0, e.value - half), min(20.0, e.value + half)), abs=1e-12)
    assert seen > 30
    e = montecarlo.run(model, 2000, 6, measures=[m])[m]
    assert e.n == 1 and e.high - e.low > 10
    # 30 or more trajectories of one value: the normal interval had no width ([0, 0] for an
    # E(refusals) of 0.0218 from 100 runs without a refusal); Hoeffding's then
    mom = libet.load("examples/momentum.libet").ir
    r = ms.parse("E(refusals)")
    truth = outcomes(mom, "static", measures=[r]).aggregate(r).value
    e = montecarlo.run(Model(mom, "static"), 100, 4, measures=[r])[r]
    assert e.n == 100 and e.value == 0 and e.low == 0 and e.low <= truth <= e.high
    # from 30 trajectories on the normal interval, cut to the range
    big = montecarlo.run(model, 200_000, 1, measures=[m])[m]
    assert big.n >= montecarlo.NORMAL_MIN and big.low <= exact <= big.high and big.high - big.low < 3


def test_counts_add_up_and_steps_are_counted():
    spec = libet.load("examples/momentum.libet").ir
    policy = next(iter(spec.policies))
    est = montecarlo.run(Model(spec, policy), 2000, 1)
    c = est.counts
    assert c["delivered"] + c["stopped"] + c["vetoed"] == 2000
    assert est.steps >= 2000


def test_a_phase_of_more_transitions_than_int8_counts_is_sampled_right():
    """200 transitions out of one phase, 0.004 each: the count of thresholds at or below a draw
    wrapped around in int8 past 127, so Monte Carlo sent those trajectories to the wrong
    targets without a word (P(delivered) 0.75 where it is 0.6, no visit past the 127th). Its
    intervals now hold the exact values."""
    n = 200
    targets = " ".join(f"-> q{i} : 0.004" for i in range(n))
    phases = " ".join(f"phase q{i} {{ -> deliver : 1 }}" for i in range(n))
    spec = libet.loads(f"""substance {{ bad: bool }}
value ok = not bad
trajectory {{ horizon 5 start a phase a {{ {targets} -> stop : otherwise }} {phases} }}
policy p {{ veto when violates ok and depth > 0 with strength 0.5 }}
""").ir
    names = spec.trajectory.phase_names
    measures = [ms.parse(m, names) for m in ("P(delivered)", "P(visit q150)", "P(visit q199)", "P(visit q3)")]
    exact = outcomes(spec, "p", measures=measures)
    est = montecarlo.run(Model(spec, "p"), 100_000, seed=2, measures=measures)
    for m in measures:
        want = float(exact.aggregate(m).value)
        assert est[m].low <= want <= est[m].high, (m.text, est[m], want)
    assert float(exact.aggregate(measures[0]).value) == pytest.approx(0.6)


@pytest.mark.parametrize("seed", [-1, 1.5, True, "7"])
def test_a_seed_that_is_not_a_whole_number_from_0_is_a_usage_error(seed):
    """numpy's SeedSequence takes whole numbers >= 0 only: -1 was an internal ValueError."""
    from libet.errors import UsageError

    spec = libet.load("examples/prefill.libet")
    with pytest.raises(UsageError, match="a seed is a whole number >= 0"):
        spec.simulate("shallow", engine="mc", runs=10, seed=seed)
    with pytest.raises(UsageError, match="a seed is a whole number >= 0"):
        spec.experiment("prefill_sweep", engine="mc", runs=10, seed=seed)
    with pytest.raises(UsageError, match="a seed is a whole number >= 0"):
        libet.load("examples/calibration/qi_prefill.libet").fit("prefill_attack", seed=seed)
    assert spec.simulate("shallow", engine="mc", runs=10, seed=2**70).to_rows()[0]["runs"] == 10  # any size


@pytest.mark.parametrize("command", [["simulate", "examples/prefill.libet", "--engine", "mc"],
                                     ["fit", "examples/calibration/qi_prefill.libet"]])
def test_a_negative_seed_on_the_command_line_exits_2_with_a_message(command):
    from click.testing import CliRunner

    from libet.cli import main

    r = CliRunner().invoke(main, command + ["--seed", "-1"])
    assert r.exit_code == 2 and "-1 is not in the range x>=0" in r.output, r.output


@pytest.mark.parametrize("runs", [0, 1.5, True, "10"])
def test_runs_that_are_not_a_whole_number_from_1_are_a_usage_error(runs):
    """runs=1.5 was numpy's 'expected a sequence of integers or a single integer'."""
    from libet.errors import UsageError

    spec = libet.load("examples/prefill.libet")
    with pytest.raises(UsageError, match="runs must be a whole number"):
        spec.simulate("shallow", engine="mc", runs=runs)
    with pytest.raises(UsageError, match="runs must be a whole number"):
        spec.experiment("prefill_sweep", engine="mc", runs=runs)



@pytest.mark.parametrize("workers", [0, -1, 1.5, True, "2"])
def test_workers_that_are_not_a_whole_number_from_1_are_a_usage_error(workers):
    """workers=0 (or False) ran serially without a word; True started a Dask cluster."""
    from libet.errors import UsageError

    with pytest.raises(UsageError, match="workers must be a whole number, at least 1"):
        libet.load("examples/prefill.libet").experiment("prefill_sweep", workers=workers)
    with pytest.raises(UsageError, match="workers must be a whole number, at least 1"):
        libet.load("examples/calibration/greenblatt.libet").fit("compliance_gap", workers=workers)

def test_the_api_names_what_it_takes_when_given_something_else():
    spec = libet.load("examples/prefill.libet")
    with pytest.raises(TypeError, match="loads takes the spec's text"):
        libet.loads(None)
    with pytest.raises(TypeError, match="expected a name or a list of names, not int"):
        spec.simulate(policy=5)
    with pytest.raises(TypeError, match="expected names"):
        spec.simulate(policy=["deep", 3])


def test_the_api_says_what_it_takes_for_params_fixed_measures_names_and_folders(tmp_path):
    """Each was a raw Python error from deep inside: `measures=[5]` an AttributeError in
    spec/measures.py, `params=[...]` one in spec/overrides.py, `experiment(None)` and
    `compare(1, 2)` a TypeError from difflib, `write()` onto a file a FileExistsError,
    `run(None)` a TypeError from os.stat."""
    spec = libet.load("examples/prefill.libet")
    cases = [
        (lambda: spec.simulate(measures=[5]), "a measure is its text, e.g. 'P(harm)', or a Measure, not 5"),
        (lambda: spec.simulate(params=[("gain", 0.3)]), "params takes a dict of names to values, e.g. {'gain': 0.3}, not list"),
        (lambda: spec.simulate(fixed=["topic"]), "fixed takes a dict of names to values, e.g. {'topic': 'weapons'}, not list"),
        (lambda: spec.experiment(None), "there is no experiment None (experiments: prefill_sweep)"),
        (lambda: spec.compare(1, 2), "there is no policy 1 (policies: shallow, deep)"),
        (lambda: spec.run(None), "run writes into a folder: give its path, not None"),
    ]
    for call, message in cases:
        with pytest.raises(libet.UsageError) as exc:
            call()
        assert str(exc.value) == message
    afile = tmp_path / "a.txt"
    afile.write_text("mine")
    with pytest.raises(libet.UsageError, match="is a file, not a folder to write experiment prefill_sweep's files into"):
        spec.experiment("prefill_sweep").write(str(afile))
    assert afile.read_text() == "mine"
