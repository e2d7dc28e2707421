"""UNKNOWN is honest: a check that runs out of time or resources, or has no exact encoding, ends
UNKNOWN with its reason, never PROVED (and never a wrong VIOLATED)."""

from __future__ import annotations

import time

import pytest

import libet
from libet.proofs import prove
from libet.results import Status


def _threshold_spec(n: int = 120, size: int = 256) -> str:
    xs = "\n".join(f"  x{i}: 0..{size - 1}" for i in range(n))
    total = " + ".join(f"{0.01 + (i * 37 % 97) / 100:.2f} * x{i}" for i in range(n))
    return f"""spec "threshold"
substance {{ uplift: 0..3 }}
framing {{
{xs}
}}
value ok = uplift < 2
trajectory {{ horizon 4  start p  phase p {{ -> p : 0.5  -> deliver : otherwise }} }}
policy framed {{ veto when violates ok and {total} >= 9000 }}
check framed {{ invariant under framing  complete  no over-refusal  safe }}
"""


def test_a_tiny_timeout_is_unknown_with_the_reason():
    spec = libet.loads(_threshold_spec(), "threshold.libet").ir
    t0 = time.monotonic()
    results = prove(spec, timeout=0.001)
    assert time.monotonic() - t0 < 10
    assert [r.status for r in results] == [Status.UNKNOWN] * 4
    for r in results:
        assert r.reason.startswith("timeout: no answer within the 0.001 s budget"), r.reason
        assert r.proof is None and r.counterexample is None


def test_a_tiny_resource_limit_is_unknown_with_the_reason():
    spec = libet.loads(_threshold_spec(), "threshold.libet").ir
    results = prove(spec, timeout=60, rlimit=1, checks=["invariant under framing"])
    assert [r.status for r in results] == [Status.UNKNOWN]
    assert results[0].reason.startswith("resource limit: Z3's rlimit of 1 was reached"), results[0].reason


FACTORING = """spec "factoring"
substance { s: bool }
framing { a: 2..999999  b: 2..999999 }
value ok = not s
trajectory { horizon 2  start p  phase p { -> deliver : 1 } }
policy lock { veto when a * b == 1022117 }
check lock { invariant under framing }
"""


def test_a_hard_non_linear_query_is_unknown_or_right_never_proved():
    # invariance fails iff a * b == 1022117 = 1009 * 1013 has a solution: factoring, which
    # Z3's non-linear integer arithmetic does not do in half a second on this machine
    spec = libet.loads(FACTORING, "factoring.libet").ir
    t0 = time.monotonic()
    (r,) = prove(spec, timeout=0.5)
    assert time.monotonic() - t0 < 3
    assert r.status is not Status.PROVED
    if r.status is Status.UNKNOWN:
        assert r.reason.startswith("timeout: no answer within the 0.5 s budget"), r.reason
    else:
        cex = r.counterexample
        products = {cex.first["a"] * cex.first["b"], cex.second["a"] * cex.second["b"]}
        assert 1022117 in products


UNBOUNDED_EXP = """spec "exp over an unbounded depth"
substance { s: 0..2 }
value ok = s < 2
trajectory {
  horizon none
  start think
  phase think { -> think : 0.5  -> answer : 0.25  -> stop : otherwise }
  phase answer { -> deliver : 0.5  -> stop : otherwise }
}
# in `answer` the strength is 1 at every depth, but only an exact reading of exp over every depth
# shows it; `think` loops for ever, so no bounded search ends either
policy ramp { veto when violates ok and phase == answer with strength max(1 - exp(-depth), if depth >= 0 then 1 else 0) }
policy steady { veto when violates ok and phase == answer }
check ramp, steady { invariant under depth  safe }
"""


def test_a_non_polynomial_term_over_an_unbounded_depth_is_unknown_with_its_location():
    spec = libet.loads(UNBOUNDED_EXP, "unbounded.libet").ir
    results = {(r.policy, r.check): r for r in prove(spec, timeout=5)}
    inv = results[("ramp", "invariant under depth")]
    assert inv.status is Status.UNKNOWN
    assert "depends on depth, which is unbounded" in inv.reason
    assert "unbounded.libet:12:" in inv.reason  # the line of the exp term
    safe = results[("ramp", "safe")]
    assert safe.status is Status.UNKNOWN  # true (the veto is certain everywhere), but not provable here
    assert "unbounded" in safe.reason and "no counterexample" in safe.reason
    # the same shape without exp is decided
    assert results[("steady", "invariant under depth")].status is Status.PROVED
    assert results[("steady", "safe")].status is Status.PROVED


@pytest.mark.parametrize("timeout", [0.2, 1.0])
def test_a_check_stays_within_its_timeout(timeout):
    spec = libet.loads(FACTORING, "factoring.libet").ir
    (r,) = prove(spec, timeout=timeout)
    assert r.seconds <= timeout + 0.5


@pytest.mark.parametrize("timeout", [float("inf"), float("nan"), 0, -1, 5e6, True, "5", None])
def test_a_timeout_that_is_no_budget_is_a_usage_error_everywhere(timeout):
    """One check, one wording, for checks, proofs and diffs: `--timeout inf` was an internal
    OverflowError, and a budget past Z3's 2^32 - 1 ms would wrap around in Z3."""
    from libet.errors import UsageError

    spec = libet.load("examples/prefill.libet")
    for call in (lambda: spec.check(timeout=timeout), lambda: spec.prove(timeout=timeout),
                 lambda: spec.compare("shallow", "deep", timeout=timeout)):
        with pytest.raises(UsageError, match="the timeout must be a number of seconds above 0"):
            call()


def test_the_longest_budget_z3_takes_is_taken():
    from libet.proofs.solve import Z3_MAX_MS, Budget, check_limits

    assert check_limits(Z3_MAX_MS / 1000) == (Z3_MAX_MS / 1000, None)
    assert Budget(Z3_MAX_MS / 1000 + 5).ms() == Z3_MAX_MS  # clamped, not wrapped to a few ms


@pytest.mark.parametrize("horizon", [10_000_000, 100_000_000])
def test_a_long_horizon_costs_no_loop_over_its_depths(horizon):
    # a start depth read from the framing makes every frame's depth symbolic over 0..H - 1:
    # the phase's transitions read no depth, so their positivity is decided at one depth for
    # all (it was a Python loop over every depth, 25 s past a 5 s budget at 10^7 and 8 GB at
    # 10^8); the rule vetoes every harmful start, so BMC proves it at once
    text = f"""
substance {{ topic: {{everyday, weapons}} }}
framing {{ f: 0..9 }}
value no_weapons = topic != weapons
trajectory {{ horizon {horizon}  start answer at depth f
  phase answer {{ -> answer : 0.5  -> deliver : otherwise }} }}
policy p {{ veto when harmful }}
check p {{ safe }}
"""
    started = time.monotonic()
    (r,) = prove(libet.loads(text).ir, timeout=5)
    assert r.status is Status.PROVED
    assert time.monotonic() - started < 3


def test_a_long_horizon_whose_steps_read_the_depth_is_left_to_the_solver():
    # the transitions read the depth, so no one depth stands for the others: past the limit of
    # evaluations the solver compares the probabilities with 0 instead of the interpreter
    # listing 10^7 depths (which ran out of time: UNKNOWN)
    text = """
substance { topic: {everyday, weapons} }
framing { f: 0..9 }
value no_weapons = topic != weapons
trajectory { horizon 10000000  start answer at depth f
  phase answer { -> answer : if depth < 5 then 0.5 else 0.4  -> deliver : otherwise } }
policy p { veto when harmful }
policy half { veto when harmful with strength 0.5 }
check p, half { safe }
"""
    started = time.monotonic()
    p, half = prove(libet.loads(text).ir, timeout=5)
    assert p.status is Status.PROVED
    assert half.status is Status.VIOLATED and len(half.counterexample.steps) == 1
    assert time.monotonic() - started < 5


def test_optimize_is_held_to_its_share_of_the_budget():
    # Z3's Optimize, minimising this counterexample on the bv/qf_fd rung, ran past its 1 s
    # cap (a MaxSAT round that hit the timeout restarts without one): 4.5 s in a 2 s budget.
    # A watchdog interrupts it
    members = ", ".join(f"m{i}" for i in range(5000))
    third = ", ".join(f"m{i}" for i in range(0, 5000, 3))
    text = f"""
substance {{ topic: {{{members}}} }}
framing {{ persona: {{{members}}} }}
value no_m = topic != m4999
trajectory {{ horizon 8  start answer  phase answer {{ -> answer : 0.5  -> deliver : otherwise }} }}
policy q {{ veto when violates no_m and persona in {{{third}}} }}
check q {{ invariant under framing }}
"""
    spec = libet.loads(text).ir
    (r,) = prove(spec, timeout=2)
    assert r.status is Status.VIOLATED
    assert r.seconds <= 2.5
