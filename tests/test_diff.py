"""`libet diff SPEC A B` and `Specification.compare(a, b)`: equivalence, one policy vetoing
whenever the other does, the smallest differing assignment and state with both veto
probabilities (confirmed against a brute force over the reference interpreter), and the exact
difference in P(harm) and P(over-refusal)."""

from __future__ import annotations

import itertools
import json
import os
from fractions import Fraction

import pytest
from click.testing import CliRunner

import libet
from libet.cli import main
from libet.spec.interpreter import Interpreter

EX = os.path.join(os.path.dirname(__file__), "..", "examples")

SMALL = '''spec "small"
substance { topic: {everyday, weapons}  uplift: 0..2 }
framing { persona: {none, fiction} }
value safe_topic = not (topic == weapons and uplift >= 1)
trajectory {
  horizon 4
  start plan at depth 0
  phase plan { -> act : 0.5  -> stop : otherwise }
  phase act { -> act : 0.9  -> stop : otherwise }
}
policy deep { veto when violates safe_topic }
policy also_deep { veto when topic == weapons and uplift > 0 }
policy shallow { veto when violates safe_topic and depth < 2 }
policy act_only { veto when violates safe_topic and phase == act }
policy keyword { veto when persona == fiction }
policy half { veto when violates safe_topic with strength 0.5 }
'''


@pytest.fixture(scope="module")
def spec():
    return libet.loads(SMALL)


def brute(spec, a, b):
    """(a >= b everywhere, b >= a everywhere) by the interpreter over every assignment, phase
    and depth."""
    s = spec.ir
    interp = Interpreter(s, exact=True)
    names = list(s.variables)
    a_ge = b_ge = True
    for values in itertools.product(*[s.variables[n].domain.values() for n in names]):
        asg = dict(zip(names, values))
        for phase in s.trajectory.phase_names:
            for d in range(s.trajectory.horizon):
                va = Fraction(interp.veto_probability(a, asg, phase, d))
                vb = Fraction(interp.veto_probability(b, asg, phase, d))
                a_ge &= va >= vb
                b_ge &= vb >= va
    return a_ge, b_ge


PAIRS = [("deep", "also_deep"), ("deep", "shallow"), ("shallow", "deep"), ("deep", "act_only"),
         ("keyword", "deep"), ("deep", "half"), ("shallow", "act_only"), ("deep", "deep")]


@pytest.mark.parametrize("a,b", PAIRS)
def test_compare_agrees_with_the_interpreter(spec, a, b):
    c = spec.compare(a, b)
    assert (c.a_covers_b, c.b_covers_a) == brute(spec, a, b)
    interp = Interpreter(spec.ir, exact=True)
    for d in c.differences:
        asg = {**{n: v.domain.values()[0] for n, v in spec.ir.variables.items()}, **d.assignment}
        phases = [d.phase] if d.phase else spec.ir.trajectory.phase_names
        depths = [d.depth] if d.depth is not None else range(spec.ir.trajectory.horizon)
        for ph in phases:
            for dep in depths:
                assert Fraction(interp.veto_probability(d.stronger, asg, ph, dep)) == d.veto_stronger
                assert Fraction(interp.veto_probability(d.weaker, asg, ph, dep)) == d.veto_weaker
        assert d.veto_weaker < d.veto_stronger


def test_verdicts_and_witnesses(spec):
    c = spec.compare("deep", "also_deep")
    assert c.equivalent and c.exit_code == 0 and not c.differences
    c = spec.compare("deep", "shallow")
    assert c.a_covers_b and c.b_covers_a is False and c.exit_code == 1
    (d,) = c.differences
    # the smallest witness: the least harmful assignment, the first depth the shallow veto misses
    assert d.assignment == {"topic": "weapons", "uplift": 1} and d.depth == 2
    assert (d.veto_stronger, d.veto_weaker) == (1, 0)
    assert "deep vetoes whenever shallow does" in c.verdict()
    c = spec.compare("deep", "act_only")
    (d,) = c.differences
    assert d.phase == "plan"
    c = spec.compare("keyword", "deep")
    assert c.a_covers_b is False and c.b_covers_a is False and len(c.differences) == 2
    assert "incomparable" in c.verdict()
    c = spec.compare("deep", "half")
    (d,) = c.differences
    assert d.veto_weaker == Fraction(1, 2)


def test_measures_differ_exactly(spec):
    c = spec.compare("deep", "half")
    sim = spec.simulate(["deep", "half"], measures=["P(harm)", "P(over-refusal)"]).to_rows()
    by = {r["policy"]: r for r in sim}
    assert c.measures["deep"]["P(harm)"] == pytest.approx(by["deep"]["P(harm)"])
    assert c.deltas()["P(harm)"] == pytest.approx(by["half"]["P(harm)"] - by["deep"]["P(harm)"])
    assert c.deltas()["P(harm)"] > 0
    c = spec.compare("keyword", "deep")
    assert c.measures["keyword"]["P(over-refusal)"] > 0


def test_diff_command(tmp_path):
    p = tmp_path / "s.libet"
    p.write_text(SMALL)
    r = CliRunner().invoke(main, ["diff", str(p), "deep", "also_deep"])
    assert r.exit_code == 0 and "equivalent" in r.output
    r = CliRunner().invoke(main, ["diff", str(p), "deep", "shallow"])
    assert r.exit_code == 1 and "depth 2" in r.output and "computed exactly" in r.output
    r = CliRunner().invoke(main, ["diff", str(p), "deep", "shallow", "--json"])
    data = json.loads(r.stdout)
    assert r.exit_code == 1 and data["a_covers_b"] is True and data["b_covers_a"] is False
    assert data["differences"][0]["veto"] == {"deep": 1.0, "shallow": 0.0}
    r = CliRunner().invoke(main, ["diff", str(p), "deep", "nope", "--json"])
    assert r.exit_code == 2 and "no policy 'nope'" in json.loads(r.stdout)["error"]["message"]
    r = CliRunner().invoke(main, ["diff", str(p), "deep", "nope"])
    assert r.exit_code == 2 and "Traceback" not in r.output


def test_diff_on_an_example():
    r = CliRunner().invoke(main, ["diff", os.path.join(EX, "prefill.libet"), "shallow", "deep"])
    assert r.exit_code == 1
    assert "deep vetoes whenever shallow does" in r.output


def test_a_witness_shows_two_different_probabilities_as_different_numbers():
    """Many rules that fire together can leave both vetoes within 10^-22 of 1: six significant
    digits would print `1` and `1` for a witness that one is stronger."""
    rules = "\n".join(f"  veto when persona == fiction with strength 0.9{i}" for i in range(20))
    text = SMALL.split("policy")[0] + f"policy many {{\n{rules}\n}}\npolicy fewer {{\n" + "\n".join(
        rules.splitlines()[:-1]) + "\n}\n"
    spec = libet.loads(text)
    c = spec.compare("many", "fewer")
    (d,) = c.differences
    assert d.veto_stronger > d.veto_weaker and float(d.veto_stronger) == float(d.veto_weaker) == 1.0
    line = d.describe()
    strong, weak = float(1 - d.veto_stronger), float(1 - d.veto_weaker)
    assert f"many vetoes with probability 1 − {strong:.6g}, fewer with 1 − {weak:.6g}" in line


def test_a_model_too_large_to_solve_leaves_the_comparison_of_the_vetoes(tmp_path):
    """Z3 compares the vetoes whatever the model's size; the measures, which need it solved,
    say why they are missing (before, the refusal of the solve was the command's only output)."""
    from test_scale import _wide

    p = tmp_path / "wide.libet"
    p.write_text(_wide(70, "policy q { veto when violates ok and f7 }\n"))
    c = libet.load(str(p)).compare("p", "q")
    assert (c.a_covers_b, c.b_covers_a) == (True, False) and c.measures == {}
    assert c.unmeasured.startswith("model too large")
    r = CliRunner().invoke(main, ["diff", str(p), "p", "q"])
    assert r.exit_code == 1 and "p vetoes whenever q does, and more" in r.output
    assert "P(harm) and P(over-refusal) not computed: model too large" in r.output
    data = json.loads(CliRunner().invoke(main, ["diff", str(p), "p", "q", "--json"]).stdout)
    assert data["measures"] == {} and data["measures_not_computed"].startswith("model too large")


def test_a_comparison_too_large_for_its_budget_ends_undecided_within_it():
    """Two policies over a weighted score of 8,000 terms: encoding them took 21 s of a 15 s share
    and the second direction 22 s of its 4.5 s, since the encoding was not timed; each now
    stops at its share, and the reason names the budget once."""
    import time

    from test_scale import _chains

    src = _chains(8000, 800) + """
policy other {
  veto when bad and score >= 0 with strength min(1, score + 0.5 + rung)
  veto when anyf and allf with strength 0.3
}
"""
    from libet.compare import compare

    spec = libet.loads(src, "chains.libet").ir
    started = time.perf_counter()
    c = compare(spec, "weighted", "other", timeout=1.0, measures=False)
    took = time.perf_counter() - started
    assert c.equivalent is None and c.exit_code == 3
    assert c.reason == "the time budget ran out (1 s for both directions; --timeout gives more)"
    assert took < 1.0 + 3.0  # a generous margin: the deadline is looked at every 1,024 terms


def test_equal_vetoes_of_different_rule_counts_are_plain_equivalence():
    """One rule of strength 0.9 and two of 0.3 and 6/7 (1 - 0.7 * 1/7 = 0.9), none of whose
    refusals goes on: the verdict said "their refusals do not go on in the same phases" (the
    rule lists of targets, (None,) and (None, None), differed), and the P(harm) difference of
    2.4e-17, two doubles' rounding, was printed as a difference "computed exactly"."""
    from libet.compare import compare

    spec = libet.loads("""substance { topic: {everyday, weapons} }
value no_weapons = topic != weapons
trajectory { horizon 6 then stop  start turn  phase turn { -> turn : 0.6  -> deliver : otherwise } }
policy a { veto when violates no_weapons with strength 0.9 then -> turn }
policy b { veto when violates no_weapons with strength 0.9 }
policy e { veto when violates no_weapons with strength 0.3  veto when violates no_weapons with strength 6/7 }
policy f { veto when violates no_weapons with strength 0.3 then -> turn  veto when violates no_weapons with strength 6/7 }
""").ir
    c = compare(spec, "b", "e", timeout=20)
    assert c.equivalent and c.refusals == ()
    text = c.describe()
    assert "do not go on" not in text
    assert "difference (e − b) 0 within double rounding (+" in text
    assert c.deltas()["P(harm)"] != 0  # the number itself is kept (JSON)
    # where the refusals do go on somewhere, the note stays: a and b, and e and f
    assert "do not go on in the same phases" in compare(spec, "a", "b", timeout=20).verdict()
    assert "do not go on in the same phases" in compare(spec, "e", "f", timeout=20).verdict()
