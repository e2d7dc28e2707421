"""The bounds of spec/bounds.py hold every value the interpreter computes, in both of its modes,
at every state of their range; where they settle a check, the check finds nothing."""

from __future__ import annotations

import itertools
import math

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import libet
from libet.errors import EvaluationError
from libet.spec import ir
from libet.spec.bounds import MAY_FALSE, MAY_TRUE, Bounds, Open
from libet.spec.interpreter import Interpreter

H = 6
PHASES = ("pa", "pb")
HEAD = """spec "bounds"
substance { x: -2..4  t: {u, v, w} }
framing { b: bool }
param g = 0.3
param k: int = 2
value ok = x < 100
"""
TAIL = f"""
trajectory {{
  horizon {H}
  start pa
  phase pa {{ -> pb : 0.5  -> stop : otherwise }}
  phase pb {{ -> pa : 0.5  -> deliver : otherwise }}
}}
policy p {{ veto when violates ok }}
"""

_REAL_LEAVES = st.sampled_from(["0.5", "1.0", "0.1", "3", "g", "0.0", "-1.5", "1e-3", "1e300"])
# past 64 bits, and a literal whose square no double holds (the interpreter raises as a real)
_INT_LEAVES = st.sampled_from(["x", "depth", "0", "1", "-3", "k", "12345678901234567890", "1" + "0" * 299])
# guards that narrow x (-2..4) or the depth (0..5) in a branch, and what they may make safe
_GUARDS = ["x > 0", "x != 0", "x != -2", "x == 4", "x <= 1", "1 < x", "x >= -1", "x < 3", "depth >= 2", "depth != 0",
           "not (x <= 0)", "b and x > 1", "b or x < 2", "x >= k", "k < x", "depth > k"]  # k: int = 2
_GUARDED = ["1 / x", "1 / (x + 2)", "log(x)", "1 / depth", "log(depth)", "1 / (4 - x)", "1 / (x - 1)"]
_BOOL_LEAVES = st.sampled_from(["b", "true", "false", "t == u", "t != w", "t in {u, v}", "x in {0, 3}",
                                "phase == pa", "phase != pb", "ok", "harmful"] + _GUARDS)


def _exprs():
    """(int, real, bool) source strategies, each drawing from the others: every operator and
    function of the language, an `else if` ladder and defs among the leaves."""

    def ints(inner):
        i, r, c = inner
        return st.one_of(
            st.tuples(i, st.sampled_from(["+", "-", "*"]), i).map(lambda x: f"({x[0]} {x[1]} {x[2]})"),
            st.tuples(st.sampled_from(["min", "max"]), i, i).map(lambda x: f"{x[0]}({x[1]}, {x[2]})"),
            i.map(lambda x: f"abs({x})"),
            i.map(lambda x: f"(-{x})"),
            st.tuples(c, i, i).map(lambda x: f"(if {x[0]} then {x[1]} else {x[2]})"),
        )

    def reals(inner):
        i, r, c = inner
        num = st.one_of(r, i)
        return st.one_of(
            st.tuples(r, st.sampled_from(["+", "-", "*", "/"]), num).map(lambda x: f"({x[0]} {x[1]} {x[2]})"),
            st.tuples(i, st.just("/"), num).map(lambda x: f"({x[0]} {x[1]} {x[2]})"),
            st.tuples(st.sampled_from(["min", "max"]), r, num).map(lambda x: f"{x[0]}({x[1]}, {x[2]})"),
            r.map(lambda x: f"abs({x})"),
            r.map(lambda x: f"exp({x})"),
            num.map(lambda x: f"log({x})"),
            st.tuples(r, st.one_of(r, st.sampled_from(["2", "3", "-1", "0.5"]))).map(lambda x: f"pow({x[0]}, {x[1]})"),
            st.tuples(c, r, r).map(lambda x: f"(if {x[0]} then {x[1]} else {x[2]})"),
            st.tuples(c, r, c, r, r).map(lambda x: f"(if {x[0]} then {x[1]} else if {x[2]} then {x[3]} else {x[4]})"),
            # a division or a log that a guard (or the guards before it failing) may make safe
            st.tuples(st.sampled_from(_GUARDS), st.sampled_from(_GUARDED), r).map(lambda x: f"(if {x[0]} then {x[1]} else {x[2]})"),
            st.tuples(st.sampled_from(_GUARDS), r, st.sampled_from(_GUARDED)).map(lambda x: f"(if {x[0]} then {x[1]} else {x[2]})"),
            st.tuples(st.sampled_from(_GUARDS), r, st.sampled_from(_GUARDS), st.sampled_from(_GUARDED), r).map(
                lambda x: f"(if {x[0]} then {x[1]} else if {x[2]} then {x[3]} else {x[4]})"),
        )

    def bools(inner):
        i, r, c = inner
        num = st.one_of(r, i)
        return st.one_of(
            st.tuples(num, st.sampled_from(["<", "<=", ">", ">=", "==", "!="]), num).map(lambda x: f"({x[0]} {x[1]} {x[2]})"),
            st.tuples(c, st.sampled_from(["and", "or", "implies"]), c).map(lambda x: f"({x[0]} {x[1]} {x[2]})"),
            c.map(lambda x: f"(not {x})"),
            st.tuples(c, c, c).map(lambda x: f"({x[0]} and {x[1]} and {x[2]})"),
        )

    def grow(level: int):
        if level == 0:
            return _INT_LEAVES, _REAL_LEAVES, _BOOL_LEAVES
        inner = grow(level - 1)
        i, r, c = inner
        return (st.one_of(i, ints(inner)), st.one_of(r, reals(inner)), st.one_of(c, bools(inner)))

    return grow(3)


_INTS, _REALS, _BOOLS = _exprs()


@st.composite
def _defs(draw):
    """A spec of three defs (the last two may read the ones before), and which is tried."""
    kinds = [draw(st.sampled_from(["int", "real", "bool"])) for _ in range(3)]
    lines = []
    for n, kind in enumerate(kinds):
        body = draw({"int": _INTS, "real": _REALS, "bool": _BOOLS}[kind])
        if n:  # read an earlier def of a kind this one can use
            prev = f"d{n - 1}"
            if kinds[n - 1] == kind == "bool":
                body = f"({body} or {prev})"
            elif kinds[n - 1] != "bool" and kind != "bool":
                body = f"({body} + {prev})" if kind == "real" or kinds[n - 1] == "int" else body
        lines.append(f"def d{n} = {body}")
    return HEAD + "\n".join(lines) + TAIL


def _states(spec):
    for a, d, p in itertools.product(list(spec.assignments()), range(H), PHASES):
        yield a, d, p


def _within(v, bound) -> bool:
    if type(bound) is int:  # a bool's mask
        return bool(bound & (MAY_TRUE if v else MAY_FALSE))
    if type(bound) is frozenset:
        return v in bound
    lo, hi = bound
    return lo <= v <= hi


@st.composite
def _guarded(draw):
    """A spec of one def that a guard (or the guards before it failing) may make valid: a
    division or a log in a branch of an `if` or an `else if` ladder."""
    g, d, r = st.sampled_from(_GUARDS), st.sampled_from(_GUARDED), _REALS
    body = draw(st.one_of(
        st.tuples(g, d, r).map(lambda x: f"if {x[0]} then {x[1]} else {x[2]}"),
        st.tuples(g, r, d).map(lambda x: f"if {x[0]} then {x[1]} else {x[2]}"),
        st.tuples(g, d, g, d, d).map(lambda x: f"if {x[0]} then {x[1]} else if {x[2]} then {x[3]} else {x[4]}"),
    ))
    return HEAD + f"def d0 = {body}\n" + TAIL


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much])
@given(st.one_of(_defs(), _guarded()))
def test_the_bounds_hold_every_value_the_interpreter_computes(src):
    spec = _loaded(src)
    bounds = Bounds(spec, range(H), PHASES)
    for name, d in spec.defs.items():
        try:
            bound = bounds(ir.DefRef(name, d.type))
        except Open:
            continue
        for exact in (False, True):
            fn = Interpreter(spec, exact=exact).compile(d.expr)
            for a, depth, p in _states(spec):
                try:
                    v = fn(a, depth, p)
                except EvaluationError as exc:  # the bounds said it has a value everywhere
                    pytest.fail(f"d{name} bounded by {bound}, but {exc.message} at {a}, depth {depth}, {p}")
                assert _within(v, bound), (name, v, bound, a, depth, p, exact)


def _loaded(src: str) -> ir.Spec:
    """The IR of a generated spec, well typed by construction (nothing reads the defs, so a def
    with no value at some state, a log of 0 say, loads: the bounds must leave it open)."""
    from libet.spec.loader import load_text

    loaded = load_text(src, "bounds.libet")
    assert loaded.spec is not None, (src, [d.message for d in loaded.diagnostics])
    return loaded.spec


def _phase_spec(framing: str, prob: str, rest: str = "-> stop : otherwise") -> str:
    return f"""substance {{ bad: bool }}
framing {{ {framing} }}
param gain = 0.05
value ok = not bad
trajectory {{ horizon 100000 start a phase a {{ -> a : {prob}  {rest} }} }}
policy p {{ veto when bad and depth < 3 with strength min(1, 0.5 + 0.001 * style) }}
"""


def test_a_phase_over_a_billion_states_is_settled_by_its_bounds_without_w103():
    """10^4 framing values x 10^5 depths: past every budget, it was left to the engines with
    W103; its bounds keep it in [0, 0.6] and its rule's strength in [0.5, 1]."""
    from libet.spec.loader import load_text

    src = _phase_spec("style: 0..9999", "0.5 * exp(-gain * depth) + 0.00001 * style")
    loaded = load_text(src, "big.libet")
    assert loaded.spec is not None and not loaded.diagnostics


def test_a_guarded_division_over_a_large_domain_is_settled_by_its_bounds():
    """`0.5 / n` guarded by `n > 0`, over 10^4 values of n and 10^5 depths: the bounds of the
    division were open (n reaches 0), more than the case split takes (64 values) and past every
    budget, so it was left to the engines with W103. In the branch n is 1..9999."""
    from libet.spec.loader import load_text

    src = _phase_spec("style: 0..9999", "if style > 0 then 0.5 / style * exp(-gain * depth) else 0.5")
    loaded = load_text(src, "guarded.libet")
    assert loaded.spec is not None and not loaded.diagnostics
    never = load_text(_phase_spec("style: 0..9999", "if style >= 0 then gain / (style + 1) else 1 / style"), "n.libet")
    assert never.spec is not None and not never.diagnostics  # the else is never taken
    # `!= 5` does not exclude 0, where this one divides by zero: the bounds leave it open, and
    # the enumeration finds the error
    near = load_text(_phase_spec("style: 0..9999", "if style != 5 then gain / style else 0.5"), "near.libet")
    assert [d.code for d in near.diagnostics] == ["E044"] and "style=0" in near.diagnostics[0].message


def test_what_the_bounds_leave_open_is_checked_as_before():
    """Loose bounds (a probability and its complement, read twice) settle nothing; an error the
    bounds cannot exclude is still found by the enumeration, with its state."""
    from libet.spec.loader import load_text

    loose = _phase_spec("style: 0..9", "0.5 * exp(-gain * depth)", "-> stop : 1 - 0.5 * exp(-gain * depth)")
    spec = load_text(loose, "loose.libet").spec
    phase = spec.trajectory.phases[0]
    assert not Bounds(spec, range(100000), ["a"]).probabilities_settled(phase)
    assert not load_text(loose, "loose.libet").diagnostics  # valid, and so found by the arrays
    wrong = _phase_spec("style: 0..9", "if style == 7 and depth == 4321 then 1.5 else 0.5")
    errors = [d for d in load_text(wrong, "wrong.libet").diagnostics if d.is_error]
    assert [d.code for d in errors] == ["E041"] and "depth 4321" in errors[0].message


@pytest.mark.parametrize("expr,bound", [
    # a condition narrows an int variable or the depth in its branch to an interval: `!= 0`
    # inside x = -2..4 cuts nothing (the interpreter never divides by 0 here, but 1 / x over
    # -2..4 is open), `!= -2` cuts an end
    ("if x != 0 then 1 / x else 0.0", "open"),
    ("if x > 0 then 1 / x else 0.0", (0.0, 1.0)),
    ("if 0 < x then 1 / x else 0.0", (0.0, 1.0)),  # the literal on the left
    ("if x != -2 then 1 / (x + 2) else 0.0", (0.0, 1.0)),
    ("if x < 0 then 1 / x else if x > 0 then 1 / x else 0.0", (-1.0, 1.0)),  # the second under x >= 0
    ("if x <= 0 then 0.0 else log(x)", (0.0, math.log(4))),  # the else under x > 0
    ("if not (x <= 0) then log(x) else 0.0", (0.0, math.log(4))),
    ("if b and x >= 1 then 1 / x else 0.0", (0.0, 1.0)),  # an `and` that holds: each part holds
    ("if b or x < 1 then 0.0 else 1 / x", (0.0, 1.0)),  # an `or` that does not: neither part holds
    ("if b or x >= 1 then 1 / x else 0.0", "open"),  # an `or` that holds narrows nothing
    ("if depth >= 1 then 1 / depth else 1.0", (0.2, 1.0)),  # depths 0..5
    ("if x >= k then 1 / x else 0.0", (0.0, 0.5)),  # an int param: k = 2
    ("if k > x then 0.0 else log(x - 1)", (0.0, math.log(3))),  # x >= 2 in the else
    ("if x == 3 then 1 / (x - 3) else 0.0", "open"),  # x is 3 there
    ("if x > 4 then 1 / (x - 4) else 0.5", (0.5, 0.5)),  # never taken: x is at most 4
    ("if b then 1 / (x + 3) else 0.0", (0.0, 1.0)),  # x + 3 in 1..7
    ("log(x + 3)", (0.0, 2.0)),  # x + 3 in 1..7
    ("log(x + 2)", "open"),  # x + 2 reaches 0
    ("exp(10000 * g)", "open"),  # overflows
    ("if false then exp(10000 * g) else 0.5", (0.5, 0.5)),  # a branch never taken is not evaluated
    ("pow(0.5, depth)", (0.5**5, 1.0)),
    ("min(1, max(0, 0.3 * x))", (0.0, 1.0)),
])
def test_the_bounds_of_some_expressions(expr, bound):
    spec = _loaded(HEAD + f"def d = {expr}\n" + TAIL)
    bounds = Bounds(spec, range(H), PHASES)
    d = spec.defs["d"]
    if bound == "open":
        with pytest.raises(Open):
            bounds(ir.DefRef("d", d.type))
        return
    lo, hi = bounds(ir.DefRef("d", d.type))
    assert bound[0] - 1e-12 <= lo <= hi <= bound[1] + 1e-12


def test_prove_asks_z3_only_about_what_the_bounds_leave_open_at_its_params(monkeypatch):
    """A phase of 10^9 states, past the checker's budgets: at the params' defaults its bounds
    settle it and Z3 is asked nothing about it; at `gain = 3` its probability reaches 1.5,
    which Z3 finds and the interpreter reports (E041)."""
    from libet.proofs import wellformed

    src = """substance { bad: bool }
framing { a: 0..999  b: 0..999  c: 0..999 }
param gain = 0.5
value ok = not bad
trajectory { horizon 2 start p phase p { -> p : gain * (a + b + c) / 2997  -> stop : otherwise } }
policy loud { veto when bad }
check loud { safe }
"""
    spec = libet.loads(src)
    asked = []
    real = wellformed.Encoder
    monkeypatch.setattr(wellformed, "Encoder", lambda *a, **k: (asked.append(1), real(*a, **k))[1])
    assert [r.status.name for r in spec.prove()] == ["PROVED"] and asked == []
    with pytest.raises(EvaluationError) as err:
        spec.prove(params={"gain": 3})
    assert err.value.code == "E041" and asked


@st.composite
def _phases(draw):
    """A phase whose transitions read the same things, as the case split is for: a shared
    condition (a bool def) choosing which target gets a probability, or a probability and its
    complement over a small variable."""
    cond, p = draw(_BOOLS), draw(_REALS)
    shape = draw(st.sampled_from(["condition", "complement"]))
    if shape == "condition":
        body = "-> pa : if c then 0 else q  -> deliver : if c then q else 0  -> stop : otherwise"
    else:
        body = "-> pa : q  -> stop : 1 - q"
    return HEAD + f"def c = {cond}\ndef q = min(1, max(0, {p}))\n" + TAIL.replace("phase pa {{ -> pb : 0.5  -> stop : otherwise }}", "").replace(
        "  phase pa { -> pb : 0.5  -> stop : otherwise }", f"  phase pa {{ {body} }}")


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much])
@given(_phases())
def test_a_phase_the_bounds_settle_case_by_case_is_valid_at_every_state(src):
    from libet.spec.loader import load_text

    loaded = load_text(src, "cases.libet")
    if loaded.spec is None:  # invalid somewhere: then the bounds must not have settled it
        return
    spec = loaded.spec
    phase = spec.trajectory.phase("pa")
    if not Bounds(spec, range(H), ["pa"]).probabilities_settled(phase):
        return
    for exact in (False, True):
        interp = Interpreter(spec, exact=exact)
        for a, depth, _ in _states(spec):
            interp.transitions(a, "pa", depth)  # raises where it is not valid


@st.composite
def _rules(draw):
    """A rule whose strength may need its condition: a generated condition (a guard among its
    leaves), and a strength that is a guarded division or a log, clamped or not."""
    cond = draw(st.one_of(st.sampled_from(_GUARDS), _BOOLS))
    strength = draw(st.one_of(st.sampled_from(_GUARDED), _REALS))
    if draw(st.booleans()):
        strength = f"min(1, max(0, {strength}))"
    return HEAD + TAIL.replace("policy p { veto when violates ok }", f"policy p {{ veto when {cond} with strength {strength} }}")


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much])
@given(_rules())
def test_a_strength_the_bounds_settle_is_valid_wherever_its_condition_holds(src):
    """Where the bounds settle a rule, its condition has a value at every state and, wherever it
    holds, the strength has one in [0, 1] (within the tolerance), in both modes (a constant
    strength lies there, whatever the condition, as the checker has it): the strength
    bounded where the condition puts the variables and the depth (``veto when x > 0 with
    strength 1 / x``)."""
    from libet.spec.interpreter import checked_strength
    from libet.spec.loader import load_text

    loaded = load_text(src, "rules.libet")
    if loaded.spec is None:  # the checker found the rule invalid somewhere (it tried the bounds first)
        return
    spec = loaded.spec
    rule = spec.policies["p"].rules[0]
    if not Bounds(spec, range(H), PHASES).strength_settled(rule):
        return
    for exact in (False, True):
        interp = Interpreter(spec, exact=exact)
        cond, strength = interp.compile(rule.condition), interp.compile(rule.strength)
        if isinstance(rule.strength, ir.Const):  # valid or not whatever the condition, as the checker has it
            checked_strength(strength({}, 0, "pa"), rule, {}, "pa", 0)
            continue
        for a, depth, p in _states(spec):
            if cond(a, depth, p):  # raises where the condition has no value
                checked_strength(strength(a, depth, p), rule, a, p, depth)  # raises outside [0, 1]


def test_the_examples_phases_are_settled_by_cases():
    """momentum's `if last_step then 0 else go_on` beside `if last_step then go_on else 0`, and
    greenblatt's `faking` beside `1 - faking` (over the bool `training`), were left open."""
    import libet

    for path, name in (("examples/momentum.libet", "answer"), ("examples/calibration/greenblatt.libet", "reason")):
        spec = libet.load(path).ir
        phase = spec.trajectory.phase(name)
        bounds = Bounds(spec, range(spec.trajectory.horizon), [name])
        assert not bounds._probabilities(phase) and bounds.probabilities_settled(phase)


def test_the_case_splits_of_one_check_share_one_budget():
    """The splits of a check draw on one budget of evaluated nodes: a spec of a thousand rules
    the intervals leave open costs about a second of splits, not a thousand."""
    import libet
    from libet.spec.bounds import CASE_TOTAL, CaseBudget

    spec = libet.load("examples/calibration/greenblatt.libet").ir
    phase = spec.trajectory.phase("reason")
    depths = range(spec.trajectory.horizon)
    assert not Bounds(spec, depths, ["reason"], cases=CaseBudget(0)).probabilities_settled(phase)
    budget = CaseBudget()
    assert Bounds(spec, depths, ["reason"], cases=budget).probabilities_settled(phase)
    assert 0 < CASE_TOTAL - budget.left <= 100_000


def test_a_start_depth_the_bounds_keep_in_range_is_settled_at_every_assignment(monkeypatch):
    """`start at depth min(a, 8) + min(b, 1)` over a million assignments: within 0..9 by its bounds, so
    neither the checker nor Z3 is asked; beyond the horizon at one assignment, the bounds leave
    it open and the enumeration (or Z3, past the budget) finds the state."""
    from libet.proofs import wellformed
    from libet.spec.loader import load_text

    src = """substance {{ s: bool }}
framing {{ a: 0..999  b: 0..999 }}
value ok = not s
trajectory {{ horizon 10  start p at depth {start}  phase p {{ -> deliver : 1 }} }}
policy deep {{ veto when violates ok }}
check deep {{ safe }}
"""
    settled = src.format(start="min(a, 8) + min(b, 1)")
    spec = load_text(settled, "s.libet").spec
    assert not load_text(settled, "s.libet").diagnostics
    assert Bounds(spec, range(1), ["p"]).start_settled()
    asked = []
    real = wellformed.Encoder
    monkeypatch.setattr(wellformed, "Encoder", lambda *a, **k: (asked.append(1), real(*a, **k))[1])
    assert [r.status.name for r in libet.loads(settled).prove()] == ["PROVED"] and asked == []
    wrong = src.format(start="(if a == 999 and b == 998 then 11 else 0)")
    spec = load_text(wrong, "w.libet").spec  # past the budget: W103, and Z3 finds it (test_proofs_cli.py)
    assert spec is not None and not Bounds(spec, range(1), ["p"]).start_settled()
    negative = load_text(src.format(start="a - 1").replace("b: 0..999", "b: 0..0"), "n.libet")
    assert [d.code for d in negative.diagnostics if d.is_error] == ["E043"]  # a = 0, found by the enumeration


def test_a_state_variable_narrows_as_a_variable_does():
    """`if n > 0 then 0.5 / n` over a state `n: 0..5000`, and a strength `1 / n` where the rule's
    condition says `n != 0`: both settled by their bounds; `n >= 0` narrows nothing, and the
    division by zero at n = 0 is found."""
    from libet.spec.loader import load_text

    src = """substance { bad: bool }
state { n: 0..5000 = 0 }
value ok = not bad
trajectory { horizon 10 start a phase a {
  -> a : if n > 0 then 0.5 / n else 0.5 then n = min(n + 1, 5000)
  -> stop : otherwise } }
policy p { veto when bad and n != 0 with strength 1 / n }
"""
    loaded = load_text(src, "state.libet")
    spec = loaded.spec
    bounds = Bounds(spec, range(10), ("a",))
    assert not loaded.diagnostics
    assert bounds.probabilities_settled(spec.trajectory.phases[0]) and bounds.strength_settled(spec.policies["p"].rules[0])
    wrong = load_text(src.replace("if n > 0 then 0.5 / n", "if n >= 0 then 0.5 / n"), "wrong.libet")
    assert [(d.code, d.message) for d in wrong.diagnostics] == [("E044", "division by zero (at phase 'a', depth 0, assignment {n=0})")]
