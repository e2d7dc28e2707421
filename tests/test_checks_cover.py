"""Checks that say what they cover (issue 10, item 4).

* ``horizon N then stop|deliver``: reaching the horizon stops the trajectory instead of
  delivering it; every engine (interpreter, exact, Monte Carlo, PRISM/Storm, BMC) follows the
  numbers worked out by hand below.
* ``invariant under phase`` and ``complete at PHASES``: veto checks over phases (their Z3
  verdicts are also compared with brute force on generated specs in test_proofs_differential).
* ``invariant P(harm) under V``: the outcome invariance, the gap at 0 decided exactly.
* The trap of the issue: ``invariant under framing`` PROVED while framing moves P(harm)
  through the start depth or the transitions is always accompanied by a warning that names the
  outcome check.
"""

from __future__ import annotations

from fractions import Fraction

import pytest
from hypothesis import HealthCheck, given, settings
from strategies import specs

import libet
from libet.proofs import prove
from libet.results import Status
from libet.simulator import outcomes
from libet.simulator.graph import graph_data
from libet.simulator.model import Model
from libet.simulator.montecarlo import run as mc_run
from libet.spec import ir
from libet.spec import measures as ms
from libet.spec.formatter import format_text
from libet.spec.interpreter import Interpreter

# One phase that goes on with probability 1/2 and otherwise delivers, horizon 3, no veto. By
# hand: P(deliver step) = 1/2 + 1/4 + 1/8 = 7/8; the remaining 1/8 reaches depth 3, where it
# is delivered (default) or stopped (`then stop`). E(depth) = 1·1/2 + 2·1/4 + 3·1/8 + 3·1/8 = 7/4.
AGENT = """spec "agent"
substance {{ risky: bool }}
framing {{ wait: 0..3 }}
value ok = not risky
trajectory {{
  horizon 3{end}
  start act at depth wait
  phase act {{ -> act : 0.5  -> deliver : otherwise }}
}}
policy none {{ }}
check none {{ safe }}
"""


def agent(end: str) -> ir.Spec:
    return libet.loads(AGENT.format(end=end)).ir


@pytest.mark.parametrize("end", ["", " then deliver", " then stop"])
def test_horizon_end_by_hand_in_the_interpreter(end):
    spec = agent(end)
    interp = Interpreter(spec, exact=True)
    o = interp.outcomes("none", {"risky": True, "wait": 0})
    stops = end == " then stop"
    assert o.delivered == (Fraction(7, 8) if stops else 1)
    assert o.stopped == (Fraction(1, 8) if stops else 0)
    assert o.harm == o.delivered
    assert o.depth == Fraction(7, 4)
    # a start at the horizon ends at once, as reaching it does
    at_h = interp.outcomes("none", {"risky": True, "wait": 3})
    assert (at_h.delivered, at_h.stopped) == ((0, 1) if stops else (1, 0))
    # from depth 2: one step, 1/2 delivers, 1/2 reaches the horizon
    late = interp.outcomes("none", {"risky": True, "wait": 2})
    assert late.delivered == (Fraction(1, 2) if stops else 1)


@pytest.mark.parametrize("end", [" then deliver", " then stop"])
def test_horizon_end_every_engine_agrees_with_the_hand_numbers(end):
    spec = agent(end)
    stops = end == " then stop"
    # P(delivered) per start depth 0..3, by hand: 7/8, 3/4, 1/2, 0 (stop) or 1 (deliver)
    by_hand = [Fraction(7, 8), Fraction(3, 4), Fraction(1, 2), Fraction(0)] if stops else [Fraction(1)] * 4
    for exact in (False, True):
        table = outcomes(spec, "none", exact=exact)
        for wait, want in enumerate(by_hand):
            got = table.aggregate(ms.DELIVERED, fixed={"wait": wait}).value
            assert got == pytest.approx(float(want), abs=1e-12) if not exact else got == want
            stopped = table.aggregate(ms.STOPPED, fixed={"wait": wait}).value
            assert stopped == pytest.approx(float(1 - want), abs=1e-12)
    # Monte Carlo: the average over wait (uniform) is 17/32 delivered with stop, within its interval
    est = mc_run(Model(spec, "none"), 40_000, 7)
    avg = sum(by_hand) / 4
    e = est[ms.DELIVERED]
    assert e.low <= float(avg) <= e.high
    s = est[ms.STOPPED]
    assert s.low <= float(1 - avg) <= s.high


def test_horizon_end_prism_export_agrees_with_storm():
    pytest.importorskip("stormpy")
    from test_sim_prism import cross_check

    for end in (" then deliver", " then stop"):
        spec = agent(end)
        got = cross_check(spec, "none")
        stops = end == " then stop"
        # averaged over wait 0..3: 17/32 delivered with stop, everything without
        assert got["P(delivered)"] == pytest.approx(17 / 32 if stops else 1.0, abs=1e-9)


def test_horizon_then_stop_makes_safe_depend_only_on_deliver_steps():
    # with stop, the only way to deliver is the `-> deliver` step, which a harmful agent takes;
    # a trajectory whose phase never delivers is safe with stop and unsafe without
    loops = "\nphase act {{ -> act : 1 }}"
    text = AGENT.replace("phase act {{ -> act : 0.5  -> deliver : otherwise }}", loops.strip())
    for end, want in (("", Status.VIOLATED), (" then stop", Status.PROVED)):
        spec = libet.loads(text.format(end=end)).ir
        (r,) = prove(spec, timeout=20)
        assert r.status is want, end
        if want is Status.VIOLATED:
            # the shortest trace: start at the horizon (wait = 3), delivered at once
            assert r.counterexample.end == "start at horizon"
    spec = libet.loads(AGENT.format(end=" then stop")).ir
    (r,) = prove(spec, timeout=20)
    assert r.status is Status.VIOLATED
    assert r.counterexample.end == "deliver" and r.counterexample.steps[-1].target == "deliver"


def test_horizon_end_in_the_graph_and_the_formatter():
    spec = agent(" then stop")
    data = graph_data(spec, "none")
    assert data["at_horizon"] == "stopped" and "stopped" in data["outcomes"]
    assert graph_data(agent(""), "none")["at_horizon"] == "delivered"
    text = AGENT.format(end=" then stop")
    formatted = format_text(text)
    assert "horizon 3 then stop" in formatted
    assert libet.loads(formatted).ir == spec
    assert libet.loads(AGENT.format(end="")).ir.trajectory.at_horizon == ir.DELIVER


# ---- the trap: a veto invariant under framing while the outcome is not -----------------------

TRAP = """spec "prefill trap"
substance { topic: {everyday, weapons} }
framing { prefill: 0..4 }
value ok = topic != weapons
trajectory {
  horizon 6
  start answer at depth prefill
  phase answer { -> answer : 0.9  -> stop : otherwise }
}
policy shallow { veto when violates ok and depth < 2 }
policy never { }
check shallow, never {
  invariant under framing
  invariant P(harm) under framing
  invariant P(harm) under topic
}
"""


def test_trap_invariance_proved_with_the_warning_and_the_outcome_check_violated():
    spec = libet.loads(TRAP).ir
    results = {(r.policy, r.check): r for r in libet.loads(TRAP).check()}
    veto = results[("never", "invariant under framing")]
    assert veto.status is Status.PROVED
    (warning,) = [w for w in veto.warnings if "outcome may not be" in w]
    assert "prefill sets the start depth" in warning
    assert "`invariant P(harm) under framing`, checked in this spec, tells" in warning
    # without that check in the spec, the warning names it as the one to add
    alone = TRAP.replace("  invariant P(harm) under framing\n", "")
    assert alone != TRAP
    other = {(r.policy, r.check): r for r in libet.loads(alone).check()}
    (w2,) = [w for w in other[("never", "invariant under framing")].warnings if "outcome may not be" in w]
    assert "`invariant P(harm) under framing` would tell" in w2
    # the outcome check tells: P(harm) for weapons is 0.9^(6 - prefill), from 0.531441 to 0.9
    outcome = results[("never", "invariant P(harm) under framing")]
    assert outcome.status is Status.VIOLATED
    w = outcome.counterexample
    assert {w.first["prefill"], w.second["prefill"]} == {0, 4}
    assert sorted([w.first_value, w.second_value]) == pytest.approx([0.9**6, 0.9**2], abs=1e-12)
    # the shallow veto reads depth, not framing: also PROVED, also warned
    assert results[("shallow", "invariant under framing")].status is Status.PROVED
    assert any("outcome may not be" in x for x in results[("shallow", "invariant under framing")].warnings)
    # topic is substance: harm moves with it, but every engine agrees that it does
    assert results[("never", "invariant P(harm) under topic")].status is Status.VIOLATED
    assert spec.checks  # the checks were parsed


def test_outcome_invariance_proved_exactly_when_no_path_moves():
    text = TRAP.replace("start answer at depth prefill", "start answer")
    results = {(r.policy, r.check): r for r in libet.loads(text).check()}
    r = results[("never", "invariant P(harm) under framing")]
    # prefill is read by nothing: projected out, every gap is 0 by construction
    assert r.status is Status.PROVED and r.details["projected_out"] == ["prefill"]
    # nothing reaches the outcome: no warning on the veto invariance
    assert not any("outcome may not be" in x for x in results[("never", "invariant under framing")].warnings)
    # read by a transition but without effect on these values: the float gap is 0, so it is
    # decided again in rationals, and still PROVED (with the warning: prefill reaches a transition)
    text = text.replace("-> answer : 0.9", "-> answer : if prefill > 10 then 0.5 else 0.9")
    results = {(r.policy, r.check): r for r in libet.loads(text).check()}
    r = results[("never", "invariant P(harm) under framing")]
    assert r.status is Status.PROVED and r.engine == "exact (rational)"
    (warning,) = [x for x in results[("never", "invariant under framing")].warnings if "outcome may not be" in x]
    assert "prefill changes the transitions of phase answer" in warning


def test_invariance_under_phase_counterexample_names_the_two_phases():
    text = """spec "turns"
substance { topic: {everyday, weapons} }
value ok = topic != weapons
trajectory { horizon 4  start ask  phase ask { -> answer : 1 }  phase answer { -> ask : 1 } }
policy keyed { veto when violates ok and phase == answer }
check keyed { invariant under phase  complete at answer  complete at ask }
"""
    results = {r.check: r for r in prove(libet.loads(text).ir, timeout=20)}
    inv = results["invariant under phase"]
    assert inv.status is Status.VIOLATED
    cex = inv.counterexample
    assert {cex.phase, cex.second_phase} == {"ask", "answer"} and cex.first == cex.second
    assert "only the phase differs" in cex.describe()
    assert cex.to_json()["second"]["phase"] == cex.second_phase
    assert results["complete at answer"].status is Status.PROVED
    assert results["complete at ask"].status is Status.VIOLATED
    assert results["complete at ask"].counterexample.phase == "ask"


def _outcome_gap(spec: ir.Spec, policy: str, under: tuple[str, ...]) -> Fraction:
    """The largest difference in P(harm) between assignments that differ only in ``under``,
    by the exact reference interpreter (brute force)."""
    interp = Interpreter(spec, exact=True)
    groups: dict = {}
    for a in spec.assignments():
        key = tuple(a[n] for n in spec.variables if n not in under)
        groups.setdefault(key, []).append(interp.outcomes(policy, a).harm)
    return max(max(g) - min(g) for g in groups.values())


@settings(max_examples=60, deadline=None, suppress_health_check=list(HealthCheck), derandomize=True)
@given(specs(max_horizon=5))
def test_the_trap_is_always_accompanied_by_the_warning(text):
    # Whenever a veto invariance is PROVED while P(harm) moves with V (brute force), the result
    # says so; the semantic fact (the gap) is computed here by the interpreter, not by libet.
    spec = libet.loads(text).ir
    checks = [c for c in spec.checks if isinstance(c.prop, ir.Invariance) and c.prop.variables]
    results = {(r.policy, r.check): r for r in prove(spec, timeout=20, checks=[c.name for c in checks])}
    for c in checks:
        r = results[(c.policy, c.name)]
        if r.status is not Status.PROVED:
            continue
        warned = any("outcome may not be" in w for w in r.warnings)
        if _outcome_gap(spec, c.policy, c.prop.variables) > 0:
            assert warned, (c.policy, c.name)


def test_libet_run_and_prove_print_the_trap_warning(tmp_path):
    from click.testing import CliRunner

    from libet.cli import main

    path = tmp_path / "trap.libet"
    path.write_text(TRAP)
    # prove decides the veto invariances alone (all proved); run also the outcome invariances
    for args, code in ((["prove", str(path)], 0), (["run", str(path), "--out", str(tmp_path / "out")], 1)):
        res = CliRunner().invoke(main, args, terminal_width=200)
        assert res.exit_code == code, res.output
        text = " ".join(res.output.split())
        assert "but the outcome may not be: prefill sets the start depth" in text, args[0]
