"""The PRISM export, checked by Storm: every measure on libet's export (P=? [F "harm"], the
reward structures of E(depth) and E(steps), visits, conditional measures as ratios) equals
libet's exact result to 1e-9, for every example and for generated specs."""

from __future__ import annotations

import glob
import os
import tempfile

import pytest
from hypothesis import HealthCheck, given, settings
from strategies import specs, within_32_bits

import libet
from libet.simulator import outcomes
from libet.simulator.prism import to_prism
from libet.spec import measures as ms

stormpy = pytest.importorskip("stormpy")


def storm(text: str, queries) -> dict:
    """Storm's value of each measure: the ratio of the properties the export names for it; for
    a conditional measure also, under ``(text, "given")``, the probability of its given event."""
    fd, path = tempfile.mkstemp(suffix=".pm")
    with os.fdopen(fd, "w") as fh:
        fh.write(text)
    try:
        prog = stormpy.parse_prism_program(path)
    finally:
        os.unlink(path)
    formulas = list(dict.fromkeys(f for _, num, den in queries for f in (num, den) if f))
    props = stormpy.parse_properties("; ".join(formulas), prog)
    model = stormpy.build_model(prog, props)
    init = model.initial_states[0]
    value = {f: stormpy.model_checking(model, p).get_value(init) for f, p in zip(formulas, props)}
    out = {}
    for text, num, den in queries:
        out[text] = value[num] if den is None else (value[num] / value[den] if value[den] > 0 else None)
        if den is not None:
            out[text, "given"] = value[den]
    return out


#: A probability this small is zero up to rounding: the engines compute an `otherwise` as one
#: minus a sum of floats, in different orders, so an event that cannot happen may come out as
#: 0.0 on one side and 2.8e-17 on the other. A measure conditioned on it is then undefined on one
#: side and a ratio of rounding errors on the other; neither is a value to compare.
ROUNDING = 1e-12


def cross_check(spec, policy, fixed=None, measures=None):
    """Every measure of the export (the standard ones and the spec's own) agrees with the
    exact engine to 1e-9; returns Storm's numbers."""
    from libet.simulator.prism import export_measures, prism_properties

    measures = tuple(measures or export_measures(spec))
    got = storm(to_prism(spec, policy, fixed=fixed, measures=measures), prism_properties(spec, policy, measures, fixed=fixed))
    table = outcomes(spec, policy, fixed=fixed, measures=measures)
    for m in measures:
        want = table.aggregate(m).value
        if m.given is not None:
            given = table.aggregate(ms.probability(m.given)).value
            storm_given = got[m.text, "given"]
            assert abs(storm_given - given) <= 1e-9, (policy, f"P({m.given.text})", storm_given, given)
            if given <= ROUNDING or storm_given <= ROUNDING:  # the conditioning event cannot happen
                continue
        if want is None:
            assert got[m.text] is None, (policy, m.text)
            continue
        assert abs(got[m.text] - want) <= 1e-9 * max(1.0, abs(want)), (policy, m.text, got[m.text], want)
    return got


# (examples with state variables or adversaries: tests/test_sim_state.py)
@pytest.mark.parametrize("path", sorted(p for p in glob.glob("examples/*.libet") if not libet.load(p).ir.state))
def test_examples_storm_agrees(path):
    spec = libet.load(path).ir
    for policy in spec.policies:
        cross_check(spec, policy)


def test_fixed_assignment_storm_agrees():
    spec = libet.load("examples/prefill.libet").ir
    fixed = {"topic": "weapons", "uplift": 3, "persona": "none", "prefill": 5, "observed": False}
    cross_check(spec, "shallow", fixed)
    # and the number is the interpreter's for that assignment
    from libet.spec.interpreter import Interpreter

    want = Interpreter(spec).outcomes("shallow", fixed).harm
    assert cross_check(spec, "shallow", fixed)["P(harm)"] == pytest.approx(want, abs=1e-9)


@pytest.mark.slow
@settings(max_examples=30, deadline=None, suppress_health_check=list(HealthCheck))
@given(specs(with_checks=False))
def test_generated_specs_storm_agrees(src):
    spec = libet.loads(within_32_bits(src)).ir
    for policy in spec.policies:
        cross_check(spec, policy)


@pytest.mark.parametrize("path", ["examples/prefill.libet", "examples/cot_dilution.libet"])
def test_probabilities_alone_export_the_plain_chain(path):
    """Without a reward to read the depth, absorbed states reset it: the export has no more
    states than the chain, and the probabilities are the same."""
    spec = libet.load(path).ir
    policy = next(iter(spec.policies))
    plain = to_prism(spec, policy, measures=[ms.HARM, ms.VETOED])
    assert '\nrewards "' not in plain and "(d' = 0)" in plain
    cross_check(spec, policy, measures=[ms.HARM, ms.VETOED, ms.parse("P(harm | delivered)")])


@pytest.mark.parametrize("where", ["literal", "domain", "param", "state"])
def test_an_int_past_prisms_32_bits_is_refused_in_words(where):
    """libet's ints have any size, PRISM's 32 bits: the export writes 2^31 - 1 and refuses
    2^31, naming what and how to avoid it, rather than write a model PRISM reads otherwise."""
    from libet.errors import UsageError

    def spec(n: int) -> str:
        literal = n if where == "literal" else 1
        domain = f"{n - 1}..{n}" if where == "domain" else "0..1"
        param = n if where == "param" else 1
        state = f"state {{ s: {n - 1}..{n} = {n} }}" if where == "state" else ""
        reads = " and s > 0" if where == "state" else ""
        return f"""
substance {{ x: {domain} }}
param k: int = {param}
{state}
trajectory {{ horizon 2 start a phase a {{ -> a : if x <= {literal} and k <= {literal}{reads} then 0.5 else 0.25 -> stop : otherwise }} }}
policy p {{ veto when false }}
"""

    assert "2147483647" in to_prism(libet.loads(spec(2**31 - 1)).ir, "p")
    with pytest.raises(UsageError, match="PRISM's ints have 32 bits") as err:
        to_prism(libet.loads(spec(2**31)).ir, "p")
    assert "2147483648" in str(err.value) and "--set" in err.value.hint


def test_an_int_operation_that_may_pass_prisms_32_bits_is_refused_in_words():
    """Each literal, bound and param fitting is not enough: `x + k` with x up to 2^31 - 1 and
    k = 1 reaches 2^31, which PRISM's (Java's) ints wrap around to -2^31, so PRISM would read
    another model and say nothing. The export bounds every int operation by its parts'."""
    from libet.errors import UsageError

    def spec(top: int, op: str = "x + k", extra: str = "") -> str:
        return f"""
substance {{ x: {top - 5}..{top}  y: 0..3 }}
param k: int = 1
def m = {op}
{extra}
trajectory {{ horizon 2 start a phase a {{ -> a : if m > 7 then 0.5 else 0.25 -> stop : otherwise }} }}
policy p {{ veto when false }}
"""

    assert "formula f_m = (v_x + p_k);" in to_prism(libet.loads(spec(2**31 - 2)).ir, "p")
    with pytest.raises(UsageError, match=r"spec.libet:4:9: .* as far as 2,147,483,648, past PRISM's 32-bit ints") as err:
        to_prism(libet.loads(spec(2**31 - 1), "spec.libet").ir, "p")
    assert "--set" in err.value.hint
    # a product's bound is the product of its parts', through a def; a fixed variable's is its value
    flat = "x * 1000 * 1000 * y + depth"
    with pytest.raises(UsageError, match="as far as 3,000,000,002"):
        to_prism(libet.loads(spec(1000, flat)).ir, "p")
    assert "formula f_m" in to_prism(libet.loads(spec(1000, flat)).ir, "p", fixed={"y": 0})
    # min, max, abs, if and negation are bounded by their parts
    for op in ("-(x * 2)", "abs(x * 2)", "min(x * 2, 3)", "if y > 1 then x * 2 else 0"):
        with pytest.raises(UsageError, match="as far as 4,294,967,294"):
            to_prism(libet.loads(spec(2**31 - 1, op)).ir, "p")
