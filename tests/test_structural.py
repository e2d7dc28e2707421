"""A horizon, a start depth and weights written over params: at each param value every engine
(interpreter, exact, Monte Carlo, Z3, PRISM export) gives what it gives for the same spec with
those values written as literals (metamorphic, on generated specs too); the checker's errors."""

from __future__ import annotations

import re

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from strategies import specs

import libet
from libet.errors import SpecError, UsageError
from libet.simulator.prism import to_prism
from libet.spec.loader import load_text

PARAM_SPEC = """spec "structural"
substance {{ t: {{a, b, c}} weights {{a: w, b: (0.5 - w / 2), c: (0.5 - w / 2)}} }}
framing {{ pre: 0..3 }}
param w = 0.25 in [0, 1]
param h: int = 6 in [4, 12]
param shift: int = 0 in [0, 1]
value v = t == a
trajectory {{ horizon {horizon}  start go at depth {start}  phase go {{ -> go : 0.9  -> stop : otherwise }} }}
policy p {{ veto when violates v and depth < 2 }}
check p {{ safe  P(harm) <= 0.5 }}
"""


def param_spec():
    return libet.loads(PARAM_SPEC.format(horizon="h", start="pre + shift"))


def literal_spec(w, h, shift):
    text = PARAM_SPEC.format(horizon=h, start=f"pre + {shift}")
    from fractions import Fraction

    half = float((1 - Fraction(str(w))) / 2)
    text = text.replace("weights {a: w, b: (0.5 - w / 2), c: (0.5 - w / 2)}", f"weights {{a: {w}, b: {half}, c: {half}}}")
    return libet.loads(text)


POINTS = [(0.25, 6, 0), (0.8, 4, 1), (0.0, 12, 1), (1.0, 9, 0)]


@pytest.mark.parametrize("w,h,shift", POINTS)
def test_exact_interpreter_and_z3_agree_with_the_literal_spec(w, h, shift):
    s, lit = param_spec(), literal_spec(w, h, shift)
    params = {"w": w, "h": h, "shift": shift}
    a = s.simulate(params=params).to_rows()[0]
    b = lit.simulate().to_rows()[0]
    assert a == b
    for t in ("a", "b"):
        for pre in range(4):
            x = s.interpreter(params).outcomes("p", {"t": t, "pre": pre})
            y = lit.interpreter().outcomes("p", {"t": t, "pre": pre})
            assert (x.harm, x.vetoed, x.delivered, x.start_depth) == (y.harm, y.vetoed, y.delivered, y.start_depth)
    ca, cb = s.check(params=params), lit.check()
    assert [(r.check, r.status) for r in ca] == [(r.check, r.status) for r in cb]
    ta, tb = ca[0].counterexample, cb[0].counterexample
    assert (ta is None) == (tb is None)
    if ta is not None:
        assert (ta.start_depth, ta.delivered_depth, ta.horizon, ta.probability) == \
            (tb.start_depth, tb.delivered_depth, tb.horizon, tb.probability)


def _body(text: str, shift: int) -> str:
    """The export without comments, the param's constant read as its value (PRISM keeps params
    as named constants; the literal spec has the number in their place)."""
    lines = [line for line in text.splitlines() if not line.startswith("//") and not line.startswith("const int p_")
             and not line.startswith("const double p_")]
    return "\n".join(lines).replace("p_shift", str(shift))


@pytest.mark.parametrize("w,h,shift", POINTS[:2])
def test_prism_export_equals_the_literal_spec(w, h, shift):
    a = to_prism(param_spec().ir, "p", params={"w": w, "h": h, "shift": shift})
    b = to_prism(literal_spec(w, h, shift).ir, "p")
    assert _body(a, shift) == _body(b, shift)
    assert f"const int p_shift = {shift};" in a and f"const int p_h = {h};" in a


def test_monte_carlo_agrees_within_its_interval():
    s = param_spec()
    exact = s.simulate(params={"h": 10, "w": 0.6}).to_rows()[0]["P(harm)"]
    mc = s.simulate(params={"h": 10, "w": 0.6}, engine="mc", runs=40_000, seed=1)["p"]
    from libet.spec import measures as ms

    est = mc.aggregate(ms.HARM)
    assert est.low <= exact <= est.high


def test_the_defaults_are_in_the_ir_and_bad_values_are_refused():
    s = param_spec()
    assert s.ir.trajectory.horizon == 6 and [float(x) for x in s.ir.variables["t"].weights] == [0.25, 0.375, 0.375]
    with pytest.raises(UsageError, match="param h is an int param; 5.5 is not a whole number"):
        s.simulate(params={"h": 5.5})
    with pytest.raises(UsageError, match="13 lies outside the range"):
        s.simulate(params={"h": 13})


def _errors(text):
    loaded = load_text(text, "x.libet")
    return [(d.code, d.message) for d in loaded.diagnostics if d.is_error]


BASE = """substance {{ t: {{a, b}} {weights} }}
{params}
value v = t == a
trajectory {{ horizon {horizon}  start go  phase go {{ -> go : 0.5  -> stop : otherwise }} }}
policy p {{ veto when violates v }}
"""


def test_checker_errors_name_the_value():
    errs = _errors(BASE.format(weights="weights {a: w, b: 0.5}", params="param w = 0.5 in [0, 1]", horizon=4))
    assert errs == [("E023", "at w = 0 (a corner of the params' ranges): the weights of t sum to 0.5, not 1")]
    errs = _errors(BASE.format(weights="weights {a: w, b: (1 - w)}", params="param w = 0.5 in [0, 2]", horizon=4))
    assert errs == [("E023", "at w = 2 (a corner of the params' ranges): the weight of t = b is -1, below 0")]
    errs = _errors(BASE.format(weights="", params="param h: int = 4 in [0, 8]", horizon="h"))
    assert errs == [("E040", "at h = 0 (a corner of the params' ranges): the horizon is 0; it must be a whole "
                     "number in 1..100,000,000")]
    errs = _errors(BASE.format(weights="", params="param h = 4", horizon="h"))
    assert errs[0][0] == "E040" and "the horizon must be a whole number, but this is" in errs[0][1]
    errs = _errors(BASE.format(weights="", params="param h: real = 4", horizon=4))
    assert errs == [("E020", "a param is real, or `int` for whole numbers; not 'real'")]
    errs = _errors(BASE.format(weights="", params="param h: int = 4.5", horizon=4))
    assert errs == [("E023", "int param 'h' takes whole numbers, not 4.5")]
    errs = _errors(BASE.format(weights="weights {a: (w + depth), b: 0}", params="param w = 0", horizon=4))
    assert errs[0][0] == "E023" and "a weight may read params and numbers only" in errs[0][1]
    errs = _errors("framing { f: 1..3 }\n" + BASE.format(weights="", params="param h: int = 4", horizon="(h + f)"))
    assert errs[0] == ("E040", "the horizon may read params and numbers only (it is fixed for a whole run)")


def test_formatter_keeps_the_forms():
    from libet.spec.formatter import format_text

    text = format_text(PARAM_SPEC.format(horizon="(2 * h)", start="pre + shift"), "x.libet")
    assert "  t: {a, b, c} weights {a: w, b: (0.5 - w / 2), c: (0.5 - w / 2)}\n" in text
    assert "param h: int = 6 in [4, 12]\n" in text and "  horizon (2 * h)\n" in text
    assert libet.loads(text).ir.trajectory.horizon == 12


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(specs(max_horizon=6, with_experiment=False), st.integers(0, 3))
def test_generated_specs_with_a_param_horizon_match_literal_horizons(text, extra):
    m = re.search(r"^  horizon (\d+)( then \w+)?$", text, re.M)  # generated specs may say `then stop`
    n, end = int(m.group(1)), m.group(2) or ""
    lit = text.replace(f"  horizon {n}{end}\n", f"  horizon {n + extra}{end}\n")
    par = text.replace(f"  horizon {n}{end}\n", f"  horizon hz{end}\n").replace(
        'spec "generated"\n', f'spec "generated"\nparam hz: int = {n} in [{n}, {n + 3}]\n')
    try:
        a, b = libet.loads(par), libet.loads(lit)
    except SpecError:  # the generated spec itself (not the horizon) failed a check at this horizon
        return
    params = {"hz": n + extra}
    assert a.simulate(params=params).to_rows() == b.simulate().to_rows()
    ra = [(r.policy, r.check, r.status) for r in a.check(params=params, check="safe", timeout=20)]
    rb = [(r.policy, r.check, r.status) for r in b.check(check="safe", timeout=20)]
    assert ra == rb


def _values_of(text: str) -> list[str]:
    if text == "bool":
        return ["false", "true"]
    if ".." in text:
        lo, hi = (int(x) for x in text.split(".."))
        return [str(v) for v in range(lo, hi + 1)]
    return [m.strip() for m in text.strip("{}").split(",")]


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(specs(max_horizon=5, with_checks=False, with_experiment=False), st.sampled_from(["0", "0.25", "0.5", "1"]))
def test_generated_specs_with_param_weights_match_literal_weights(text, x):
    m = re.search(r"^  s0: (.*)$", text, re.M)
    values = _values_of(m.group(1))
    if len(values) == 1:
        par_w, lit_w = [f"{values[0]}: (1 + 0 * wq)"], [f"{values[0]}: 1"]
    else:
        rest = [f"{v}: 0" for v in values[2:]]
        par_w = [f"{values[0]}: wq", f"{values[1]}: (1 - wq)"] + rest
        lit_w = [f"{values[0]}: {x}", f"{values[1]}: {1 - float(x)}"] + rest
    head = 'spec "generated"\n'
    par = text.replace(m.group(0), m.group(0) + " weights {" + ", ".join(par_w) + "}").replace(
        head, head + "param wq = 0.5 in [0, 1]\n")
    lit = text.replace(m.group(0), m.group(0) + " weights {" + ", ".join(lit_w) + "}")
    try:
        a, b = libet.loads(par), libet.loads(lit)
    except SpecError:
        return
    assert a.simulate(params={"wq": x}).to_rows() == b.simulate().to_rows()
    assert a.interpreter({"wq": x}).spec.variables["s0"].weights == b.ir.variables["s0"].weights
