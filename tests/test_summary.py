"""Variables read only through reference values are summarised (simulator/model.py: Summary):
the table keeps one axis of truth-vector classes with their probability masses instead of
every assignment. Every number must be the one the full table gives, and every worst case
must be attained by the assignment it reports (the reference interpreter recomputes it)."""

from __future__ import annotations

import json
import math
from unittest import mock

import pytest
from click.testing import CliRunner
from hypothesis import HealthCheck, given, settings
from strategies import specs

import libet
from libet.cli import main
from libet.errors import UsageError
from libet.simulator import model as model_mod
from libet.simulator.exact import solve
from libet.simulator.model import Model, full_assignment
from libet.simulator.table import DEFAULT_MEASURES
from libet.spec import measures as ms
from libet.spec.interpreter import Interpreter

PREFILL = "examples/prefill.libet"


def _close(a, b):
    if a is None or b is None:
        return a is None and b is None
    return abs(a - b) <= 1e-9 * max(1.0, abs(a), abs(b))


def _big_prefill(n: int) -> str:
    with open(PREFILL, encoding="utf-8") as f:
        text = f.read()
    assert "uplift: 0..3" in text
    return text.replace("uplift: 0..3", f"uplift: 0..{n}")


def agree(spec, keep=(), fixed=None):
    """The summarised table (``keep``) against the full one, policy by policy."""
    interp = Interpreter(spec)
    for policy in spec.policies:
        full = solve(Model(spec, policy, fixed=fixed), DEFAULT_MEASURES)
        summ = solve(Model(spec, policy, fixed=fixed, keep=keep), DEFAULT_MEASURES)
        if summ.summary is not None:
            assert math.isclose(sum(summ.weights[summ.summary.name]), 1.0, rel_tol=1e-12)
            assert sum(c.count for c in summ.values[summ.summary.name]) == math.prod(
                len(summ.summary.domains[n]) for n in summ.summary.names)
        for m in DEFAULT_MEASURES:
            a, b = full.aggregate(m), summ.aggregate(m)
            assert _close(a.value, b.value), (policy, m.text, a.value, b.value)
            wa = full.aggregate(m, worst_over=tuple(full.names))
            wb = summ.aggregate(m, worst_over=tuple(summ.names))
            assert _close(wa.value, wb.value), (policy, m.text, wa.value, wb.value)
            if wb.value is not None:
                got = interp.outcomes(policy, full_assignment(spec, wb.worst or {}, fixed)).measure(m)
                assert _close(float(got), wb.value), (policy, m.text, wb.worst)
            for n in keep:
                if n in full.names:
                    for v in full.values[n]:
                        assert _close(full.aggregate(m, fixed={n: v}).value, summ.aggregate(m, fixed={n: v}).value)


@settings(max_examples=120, deadline=None, suppress_health_check=list(HealthCheck))
@given(specs(with_checks=False))
def test_generated_specs_summarised_everywhere_agree_with_the_full_table(src):
    spec = libet.loads(src).ir
    with mock.patch.object(model_mod, "SUMMARY_MIN", 1):  # summarise whatever can be
        agree(spec)
        for n in spec.variables:
            agree(spec, keep=(n,))


def test_a_huge_substance_domain_costs_its_classes():
    spec = libet.loads(_big_prefill(20_000)).ir
    m = Model(spec, "shallow", keep=())
    assert m.names == ("{topic, uplift}", "prefill")
    assert m.size == 2 * 41  # two truth vectors of the value, 41 prefill lengths
    assert [c.count for c in m.values["{topic, uplift}"]] == [3 * 20_001 - 19_999, 19_999]
    agree(spec)


def test_summary_is_not_used_below_its_threshold_nor_when_not_asked():
    spec = libet.load(PREFILL).ir
    assert Model(spec, "shallow", keep=()).summary is None  # 12 topic x uplift pairs
    big = libet.loads(_big_prefill(5000)).ir
    assert Model(big, "shallow").summary is None  # keep=None: every variable an axis


def test_a_variable_read_outside_the_values_is_not_summarised():
    text = _big_prefill(5000).replace("veto when violates no_weapon_uplift and depth < 5",
                                      "veto when violates no_weapon_uplift and uplift < 4000")
    spec = libet.loads(text).ir
    assert Model(spec, "shallow", keep=()).names == ("topic", "uplift", "prefill")


def test_a_value_that_also_reads_a_kept_variable_keeps_its_variables():
    spec = libet.loads(_big_prefill(5000)).ir
    m = Model(spec, "shallow", keep=("topic",))
    assert m.summary is None and "uplift" in m.names
    agree(spec, keep=("topic",))


def test_asking_for_a_summarised_variable_is_an_error_not_a_wrong_number():
    spec = libet.loads(_big_prefill(5000)).ir
    tab = solve(Model(spec, "shallow", keep=()), [ms.HARM])
    with pytest.raises(UsageError, match="uplift is summarised") as err:
        tab.aggregate(ms.HARM, worst_over=("uplift",))
    assert "keep=" in err.value.hint
    with pytest.raises(UsageError, match="summarised"):
        tab.aggregate(ms.HARM, fixed={"topic": "weapons"})
    assert tab.at({"topic": "weapons", "uplift": 4000, "prefill": 10}) == {
        "P(harm)": pytest.approx(Interpreter(spec).outcomes(
            "shallow", {"topic": "weapons", "uplift": 4000, "persona": "none", "prefill": 10, "observed": False}).harm)}


def test_checks_and_experiments_on_the_huge_domain_match_the_small_one():
    """The value does not care how far uplift goes beyond 3 (uplift >= 2 is harmful either
    way), so the checks' verdicts are the example's, and the experiment (weapons, uplift 3)
    gives the example's numbers exactly."""
    small = libet.load(PREFILL)
    big = libet.loads(_big_prefill(100_000))
    for a, b in zip(small.check(), big.check()):
        if a.engine.startswith("exact"):
            assert (a.policy, a.check, a.status) == (b.policy, b.check, b.status)
    ea, eb = small.experiment("prefill_sweep"), big.experiment("prefill_sweep")
    for ra, rb in zip(ea.rows, eb.rows):
        assert ra == rb


def test_libet_simulate_on_twelve_million_assignments():
    import os
    import tempfile

    with tempfile.TemporaryDirectory() as tmp:
        path = os.path.join(tmp, "big.libet")
        with open(path, "w", encoding="utf-8") as f:
            f.write(_big_prefill(100_000))
        r = CliRunner().invoke(main, ["simulate", path, "--json"], catch_exceptions=False)
    assert r.exit_code == 0, r.output
    rows = {row["policy"]: row for row in json.loads(r.output)["rows"]}
    # uplift 0..100000: harmful when topic = weapons and uplift >= 2, so 1/3 * 99,999/100,001
    # of the mass; the shallow policy's P(harm) is that mass times its P(harm) given harmful
    small = libet.load(PREFILL).ir
    per = solve(Model(small, "shallow", fixed={"topic": "weapons", "uplift": 3}), [ms.HARM]).aggregate(ms.HARM).value
    assert rows["shallow"]["P(harm)"] == pytest.approx(per * (99_999 / 100_001) / 3, rel=1e-9)
    assert rows["shallow"]["worst assignment"] == {"topic": "weapons", "uplift": 2, "prefill": 40}
    assert rows["deep"]["P(harm)"] == 0


def test_monte_carlo_samples_the_summary_by_its_masses():
    """Monte Carlo draws the summary's cells with their masses: its interval covers the exact
    value of the full distribution (uplift 0..20000, harmful for 2/3 of the weapons mass)."""
    spec = libet.loads(_big_prefill(20_000)).ir
    exact = solve(Model(spec, "shallow"), [ms.HARM]).aggregate(ms.HARM).value
    from libet.simulator import montecarlo

    est = montecarlo.run(Model(spec, "shallow", keep=()), 40_000, 7, measures=[ms.HARM]).aggregate(ms.HARM)
    assert est.low <= exact <= est.high, (est, exact)


def test_more_than_63_values_keep_their_cells_apart():
    """A cell per truth vector of the values, however many there are: the 65th and 66th
    values (the only ones that can fail) still split the cells. A key of one bit per value
    in one int64 merged every assignment into one cell and gave P(harm) 0."""
    rest = " or ".join(f"s{i}" for i in range(3, 13))
    vacuous = "\n".join(f"value v{i} = s0 or not s0 or {rest}" for i in range(64))
    booleans = "  ".join(f"s{i}: bool" for i in range(13))
    spec = libet.loads(f"""
substance {{ {booleans} }}
{vacuous}
value v64 = not s1
value v65 = not s2
trajectory {{ horizon 4 start a phase a {{ -> a : 0.5 -> stop : otherwise }} }}
policy none {{ veto when false }}
""").ir
    m = Model(spec, "none", keep=())
    assert m.summary is not None and len(m.summary.cells) == 4  # s1 and s2 decide, 2^13 assignments
    # harmful unless both s1 and s2 are false (3/4 of the mass), delivered when a reaches the horizon
    assert solve(m, [ms.HARM]).aggregate(ms.HARM).value == pytest.approx(0.75 * 0.5**4, rel=1e-12)
    agree(spec)
