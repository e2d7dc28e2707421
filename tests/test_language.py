"""Unit tests for every construct of the language: what each one becomes in the IR."""

from __future__ import annotations

from fractions import Fraction

import pytest
from hypothesis import given
from hypothesis import strategies as st

import libet
from libet.spec import ir
from libet.spec import measures as ms

HEAD = """
substance {
  topic: {everyday, chemistry, weapons}
  uplift: 0..3
  dual: bool
}
framing {
  persona: {none, fiction, researcher}
  prefill: 0..4
}
context {
  observed: bool
}
param base = 0.2
param gain = 0.15 in [0, 1]
"""


def load(body: str) -> ir.Spec:
    return libet.loads(HEAD + body).ir


def value_expr(text: str) -> ir.Expr:
    return load(f"value v = {text}").values["v"].expr


def test_title_and_variables():
    spec = libet.loads('spec "T"\n' + HEAD + "value v = dual").ir
    assert spec.title == "T"
    assert list(spec.variables) == ["topic", "uplift", "dual", "persona", "prefill", "observed"]
    assert spec.variables["topic"].domain == ir.EnumDomain(("everyday", "chemistry", "weapons"))
    assert spec.variables["uplift"].domain == ir.IntDomain(0, 3)
    assert spec.variables["dual"].domain == ir.BoolDomain()
    assert spec.variables["persona"].cls is ir.VarClass.FRAMING
    assert spec.variables["observed"].cls is ir.VarClass.CONTEXT
    assert spec.assignment_count() == 3 * 4 * 2 * 3 * 5 * 2


def test_untitled_spec():
    assert libet.loads("substance { x: bool }\nvalue v = x").ir.title == "untitled"


def test_params_are_exact_rationals_with_ranges():
    spec = load("value v = dual")
    assert spec.params["base"] == ir.Param("base", Fraction(1, 5))
    assert spec.params["gain"].lo == 0 and spec.params["gain"].hi == 1
    assert spec.params["gain"].default == Fraction(3, 20)


def test_weights_declare_a_distribution():
    spec = libet.loads("substance { t: {a, b} weights {a: 0.75, b: 0.25} }\nvalue v = t == a").ir
    assert spec.variables["t"].weights == (Fraction(3, 4), Fraction(1, 4))
    assert spec.variables["t"].probability("b") == Fraction(1, 4)
    assert libet.loads("substance { t: {a, b, c} }\nvalue v = t == a").ir.variables["t"].probability("c") == Fraction(1, 3)


def test_negative_int_domain():
    spec = libet.loads("substance { x: -2..1 }\nvalue v = x < 0").ir
    assert spec.variables["x"].domain.values() == (-2, -1, 0, 1)


def test_enum_literal_takes_the_type_of_the_other_side():
    e = value_expr("topic == weapons")
    assert e == ir.Compare(ir.CmpOp.EQ, ir.VarRef("topic", ir.enum_type(("everyday", "chemistry", "weapons"))),
                           ir.Const("weapons", ir.enum_type(("everyday", "chemistry", "weapons"))))
    # the literal may stand on the left too
    assert value_expr("weapons == topic").left == e.right


def test_two_enums_may_share_member_names():
    spec = libet.loads("substance { a: {none, x}\n b: {none, y} }\nvalue v = a == none and b == none").ir
    conj = spec.values["v"].expr
    assert conj.args[0].right.type.members == ("none", "x")
    assert conj.args[1].right.type.members == ("none", "y")


def test_precedence_and_associativity():
    e = value_expr("dual or uplift > 1 and not dual")
    assert e.op is ir.BoolOp.OR and e.args[1].op is ir.BoolOp.AND
    arith = load("def d = 1 - 2 - 3 * 4 / 5").defs["d"].expr
    # (1 - 2) - ((3 * 4) / 5)
    assert arith.op is ir.ArithOp.SUB and arith.left.op is ir.ArithOp.SUB
    assert arith.right.op is ir.ArithOp.DIV and arith.right.left.op is ir.ArithOp.MUL
    imp = value_expr("dual implies uplift > 1 implies uplift > 2")
    assert imp.op is ir.BoolOp.IMPLIES and imp.args[1].op is ir.BoolOp.IMPLIES  # right-associative


def test_nested_and_is_flattened():
    assert len(value_expr("dual and (uplift > 1 and uplift < 3)").args) == 3


def test_types_of_arithmetic():
    spec = load("def i = uplift * 2 + 1\ndef r = uplift / 2\ndef m = max(uplift, 1)\ndef x = min(uplift, 0.5)\ndef e = exp(-gain * depth)")
    assert spec.defs["i"].type == ir.INT
    assert spec.defs["r"].type == ir.REAL
    assert spec.defs["m"].type == ir.INT
    assert spec.defs["x"].type == ir.REAL
    assert spec.defs["e"].type == ir.REAL


def test_negative_literal_folds():
    spec = load("def a = -2\ndef b = - 2\ndef c = -uplift")
    assert spec.defs["a"].expr == spec.defs["b"].expr == ir.Const(-2, ir.INT)
    assert isinstance(spec.defs["c"].expr, ir.Neg)


def test_membership():
    e = value_expr("topic in {chemistry, weapons}")
    assert isinstance(e, ir.Member) and e.values == ("chemistry", "weapons")
    assert value_expr("uplift in {0, 3}").values == (0, 3)
    assert value_expr("dual in {true}").values == (True,)


def test_violates_harmful_depth_phase():
    spec = load("""
value safe = not (topic == weapons and uplift >= 2)
trajectory { horizon 8 start a phase a { -> b : 0.5 -> stop : otherwise } phase b { -> deliver : 1 } }
policy p { veto when violates safe and depth < 5 and phase == a or harmful }
""")
    cond = spec.policies["p"].rules[0].condition
    assert cond.op is ir.BoolOp.OR
    left, right = cond.args
    assert left.args[0] == ir.Not(ir.ValueRef("safe"))
    assert left.args[1] == ir.Compare(ir.CmpOp.LT, ir.Depth(), ir.Const(5, ir.INT))
    assert left.args[2] == ir.Compare(ir.CmpOp.EQ, ir.CurrentPhase(), ir.Const("a", ir.PHASE))
    assert right == ir.Harmful()


def test_defs_in_any_order_and_values_through_defs():
    spec = load("value v = not heavy\ndef heavy = uplift >= limit\ndef limit = 2")
    assert spec.values["v"].expr == ir.Not(ir.DefRef("heavy", ir.BOOL))
    assert spec.reads(spec.values["v"].expr) == {"uplift"}
    expanded = spec.expand(spec.values["v"].expr)
    assert expanded == ir.Not(ir.Compare(ir.CmpOp.GE, ir.VarRef("uplift", ir.INT), ir.Const(2, ir.INT)))


def test_trajectory():
    spec = load("""
value v = uplift < 2
trajectory {
  horizon 64
  start answer at depth prefill
  phase answer {
    -> answer : 1 - (1 - base) * exp(-gain * depth)
    -> stop : otherwise
  }
}
policy p { veto when violates v }
""")
    t = spec.trajectory
    assert t.horizon == 64 and t.start_phase == "answer"
    assert t.start_depth == ir.VarRef("prefill", ir.INT)
    (phase,) = t.phases
    assert [tr.target for tr in phase.transitions] == ["answer", "stop"]
    assert phase.transitions[1].prob is None


def test_unbounded_horizon_and_default_start_depth():
    spec = load("value v = dual\ntrajectory { horizon none start a phase a { -> a : 1 } }\npolicy p { veto when violates v }")
    assert spec.trajectory.horizon is None and spec.trajectory.start_depth == ir.Const(0, ir.INT)
    assert not spec.bounded


def test_policy_rules_and_strengths():
    spec = load("value v = dual\npolicy p {\n veto when violates v\n veto when persona == fiction with strength 0.5 * base\n}\npolicy none_ {}")
    r1, r2 = spec.policies["p"].rules
    assert r1.strength == ir.Const(Fraction(1), ir.REAL)
    assert r2.strength.op is ir.ArithOp.MUL
    assert spec.policies["none_"].rules == ()


def test_every_check_kind():
    spec = load("""
value v = uplift < 2
trajectory { horizon 8 start a phase a { -> deliver : 1 } }
policy p { veto when violates v }
policy q { veto when violates v and depth < 2 }
check p, q {
  invariant under framing, observed
  invariant under depth
  complete
  no over-refusal
  safe
  P(harm) <= 0.01 for all framing
  P(vetoed) >= 0.5
  E(depth) <= 8
  gap P(harm) under observed <= 0.05
}
""")
    props = [c.prop for c in spec.checks if c.policy == "p"]
    assert len(spec.checks) == 2 * len(props) == 18
    assert props[0] == ir.Invariance(("persona", "prefill", "observed"), False)
    assert props[1] == ir.Invariance((), True)
    assert props[2:5] == [ir.Complete(), ir.NoOverRefusal(), ir.Safe()]
    assert props[5] == ir.Bound(ms.HARM, ir.CmpOp.LE, Fraction(1, 100), ("persona", "prefill"))
    assert props[6] == ir.Bound(ms.VETOED, ir.CmpOp.GE, Fraction(1, 2), ())
    assert props[7] == ir.Bound(ms.DEPTH, ir.CmpOp.LE, Fraction(8), ())
    assert props[8] == ir.Gap(ms.HARM, ("observed",), Fraction(1, 20))
    assert [c.name for c in spec.checks[:2]] == ["invariant under framing, observed"] * 2


def test_experiment():
    spec = load("""
value v = uplift < 2
trajectory { horizon 8 start a at depth prefill phase a { -> deliver : 1 } }
policy p { veto when violates v }
experiment sweep {
  policies p
  vary prefill over 0..4 step 2
  vary gain over [0.1, 0.2]
  vary persona over [none, fiction]
  set topic = weapons, uplift = 3, base = 0.5
  measure P(harm), E(depth), P(over-refusal)
  worst over observed
  engine mc
  runs 500
  seed 7
}
""")
    e = spec.experiments["sweep"]
    assert e.policies == ("p",)
    assert [(v.name, v.values) for v in e.vary] == [
        ("prefill", (0, 2, 4)),
        ("gain", (Fraction(1, 10), Fraction(1, 5))),
        ("persona", ("none", "fiction")),
    ]
    assert e.set == (("topic", "weapons"), ("uplift", 3), ("base", Fraction(1, 2)))
    assert e.measures == (ms.HARM, ms.DEPTH, ms.OVER_REFUSAL)
    assert e.worst_over == ("observed",)
    assert (e.engine, e.runs, e.seed) == ("mc", 500, 7)


def test_an_experiment_lists_each_policy_and_value_once():
    # a repeat would compute the same rows twice (and, by Monte Carlo, give one point two estimates)
    body = """
value v = dual
trajectory { horizon 8 start a phase a { -> deliver : gain } }
policy p { veto when violates v }
experiment e {
  policies p, p
  vary gain over [0.1, 0.2, 0.10]
}
"""
    diags = load_diagnostics(body)
    assert [(d.code, d.message) for d in diags] == [
        ("E060", "the policy 'p' is listed twice"),
        ("E060", "the value 0.10 is listed twice"),
    ]
    line = (HEAD + body).splitlines().index("  vary gain over [0.1, 0.2, 0.10]") + 1
    assert [(d.span.line, d.span.col, d.notes[0].span.line, d.notes[0].span.col) for d in diags] == [
        (line - 1, 15, line - 1, 12),
        (line, 29, line, 19),
    ]


def test_experiment_defaults():
    spec = load("value v = dual\ntrajectory { horizon 8 start a phase a { -> deliver : 1 } }\npolicy p { veto when violates v }\nexperiment e { policies p }")
    e = spec.experiments["e"]
    assert e.measures == (ms.HARM, ms.VETOED)
    assert (e.engine, e.runs, e.seed, e.worst_over) == ("exact", 10_000, 0, ())


def test_keywords_are_names_where_no_keyword_fits():
    # `safe`, `set`, `none` are keywords only where the grammar could take them.
    spec = libet.loads("substance { safe: bool\n set: {none, some} }\nvalue ok = safe and set == none").ir
    assert set(spec.variables) == {"safe", "set"}


def test_comments_and_layout_do_not_matter():
    a = libet.loads("substance{x:bool}value v=not x policy p{veto when violates v}").ir
    b = libet.loads("# c\nsubstance {\n  x: bool  # c\n}\n\nvalue v = not x\npolicy p {\n  veto when violates v\n}\n").ir
    assert a == b


def test_spans_point_at_the_source():
    spec = libet.loads("substance {\n  x: bool\n}\nvalue v = not x\n", "f.libet").ir
    assert spec.variables["x"].span == ir.Span("f.libet", 2, 3, 2, 4)
    assert spec.values["v"].expr.span.line == 4


@pytest.mark.parametrize("text", ["", "   \n\n", "# only a comment\n", 'spec "title only"\n'])
def test_empty_spec_is_an_error(text):
    with pytest.raises(libet.SpecError) as info:
        libet.loads(text, "empty.libet")
    (d,) = info.value.diagnostics
    assert d.code == "E004" and d.span.file == "empty.libet" and d.span.line == 1


# ---- measures ------------------------------------------------------------------------------

MEASURED = """
value v = uplift < 2
trajectory {
  horizon 8
  start answer at depth prefill
  phase answer { -> scratchpad : 0.25  -> answer : 0.5  -> deliver : otherwise }
  phase scratchpad { -> answer : 1 }
}
policy p { veto when violates v }
"""


def bound_measures(*lines: str) -> list[ms.Measure]:
    spec = load(MEASURED + "check p {\n" + "\n".join(f"  {m} <= 1" for m in lines) + "\n}\n")
    return [c.prop.measure for c in spec.checks]


def test_every_measure_form_builds_its_reward_structure():
    harm, delivered, vetoed = (ms.ATOMS[w] for w in ("harm", "delivered", "vetoed"))
    scratch = ms.visit("scratchpad")
    got = bound_measures(
        "P(visit scratchpad)",
        "P(harm | delivered)",
        "P(harm and visit scratchpad | delivered)",
        "P(vetoed | visit scratchpad and over-refusal)",
        "E(depth)",
        "E(steps)",
        "E(depth | vetoed)",
        "E(steps | delivered and visit answer)",
    )
    assert got == [
        ms.probability(scratch),
        ms.probability(harm, delivered),
        ms.probability(harm & scratch, delivered),
        ms.probability(vetoed, scratch & ms.ATOMS["over-refusal"]),
        ms.DEPTH,
        ms.STEPS,
        ms.expectation(ms.Reward.DEPTH, vetoed),
        ms.expectation(ms.Reward.STEPS, delivered & ms.visit("answer")),
    ]
    assert got[2].numerator == ms.Event(frozenset({"delivered"}), True, frozenset({"scratchpad"}))
    assert got[2].visits == {"scratchpad"} and got[7].visits == {"answer"}
    assert [m.is_probability for m in got] == [True] * 4 + [False] * 4


def test_measure_text_is_canonical_and_agrees_with_measures_parse():
    written = [
        "P(visit scratchpad)",
        "P( harm|delivered )",
        "P(harm   and visit scratchpad|delivered)",
        "E( depth | vetoed )",
        "E(steps)",
    ]
    got = bound_measures(*written)
    assert [m.text for m in got] == [
        "P(visit scratchpad)",
        "P(harm | delivered)",
        "P(harm and visit scratchpad | delivered)",
        "E(depth | vetoed)",
        "E(steps)",
    ]
    for m in got:  # the command line's parser reads the checker's spelling back to the same measure
        again = ms.parse(m.text, phases=("answer", "scratchpad"))
        assert again == m and again.text == m.text


def test_measures_in_check_names_gaps_and_experiments():
    spec = load(MEASURED + """
check p {
  P(visit scratchpad) <= 0.05 for all framing
  gap E(depth | vetoed) under observed <= 2
  E(steps) >= 1
}
experiment e {
  policies p
  measure P(visit scratchpad), E(steps | delivered), P(harm | delivered), P(visit scratchpad)
}
""")
    assert [c.name for c in spec.checks] == [
        "P(visit scratchpad) <= 0.05 for all framing",
        "gap E(depth | vetoed) under observed <= 2",
        "E(steps) >= 1",
    ]
    assert spec.checks[1].prop == ir.Gap(ms.expectation(ms.Reward.DEPTH, ms.ATOMS["vetoed"]), ("observed",), Fraction(2))
    measures = spec.experiments["e"].measures  # a measure listed twice is measured once
    assert [m.text for m in measures] == ["P(visit scratchpad)", "E(steps | delivered)", "P(harm | delivered)"]


def test_the_grammar_offers_exactly_the_named_events_of_the_measures_table():
    from libet.spec.parser import lark_parser

    parser = lark_parser()
    words = set()
    for rule in parser.rules:
        if rule.origin.name == "named_event":
            for sym in rule.expansion:
                words.add(parser.get_terminal(sym.name).pattern.value)
    assert words == set(ms.ATOMS)


def load_diagnostics(body: str):
    """The diagnostics of HEAD + body, but for HEAD's variables and params that body leaves unused."""
    from libet.spec.loader import load_text

    return tuple(d for d in load_text(HEAD + body, "m.libet").diagnostics if d.code != "W102")


@pytest.mark.parametrize(
    "line, code, message, hint",
    [
        ("P(visit scratchpd) <= 0.1", "E010", "there is no phase 'scratchpd' to visit", "did you mean 'scratchpad'?"),
        ("P(visit plan) <= 0.1", "E010", "there is no phase 'plan' to visit", "the phases are answer, scratchpad"),
        ("E(harm) <= 1", "E062", "E(...) takes depth, steps or refusals, not 'harm'",
         "E(...) is the expectation of an accumulated quantity; the probability of harm is P(harm)"),
        ("E(over-refusal) <= 1", "E062", "E(...) takes depth, steps or refusals, not 'over-refusal'",
         "E(...) is the expectation of an accumulated quantity; the probability of over-refusal is P(over-refusal)"),
        ("E(visit answer) <= 1", "E062", "E(...) takes depth, steps or refusals, not 'visit answer'",
         "E(...) is the expectation of an accumulated quantity; the probability of visit answer is P(visit answer)"),
        ("E(step) <= 1", "E062", "E(...) takes depth, steps or refusals, not 'step'", "did you mean 'steps'?"),
        ("P(visit answer | delivered) <= 2", "E023", "a probability bound must lie in [0, 1], not 2", None),
        ("E(depth | vetoed) <= -1", "E023", "the bound -1 is negative", None),
    ],
)
def test_measure_errors(line, code, message, hint):
    (d,) = load_diagnostics(MEASURED + "check p {\n  " + line + "\n}\n")
    assert (d.code, d.message, d.hint, d.severity) == (code, message, hint, "error")
    assert d.span.line == HEAD.count("\n") + MEASURED.count("\n") + 2


def test_visit_without_a_trajectory_is_one_error_at_the_visit():
    (d,) = load_diagnostics("value v = dual\npolicy p { veto when violates v }\ncheck p { P(harm and visit plan) <= 0.1 }\n")
    assert d.code == "E062" and d.message == "`visit plan` names a phase, but this spec has no trajectory"
    assert (d.span.col, d.span.end_col) == (22, 32)  # under `visit plan`


def test_a_measure_error_in_an_experiment_rejects_the_experiment():
    ds = load_diagnostics(MEASURED + "experiment e {\n  policies p\n  measure P(harm), E(depth | visit nowhere)\n}\n")
    assert [(d.code, d.message) for d in ds] == [("E010", "there is no phase 'nowhere' to visit")]


@pytest.mark.parametrize(
    "measure, message",
    [
        ("P(harm | vetoed and delivered)",
         "the condition 'vetoed and delivered' can never hold, so P(harm | vetoed and delivered) is undefined on every assignment"),
        ("E(steps | harm and over-refusal)",
         "the condition 'harm and over-refusal' can never hold, so E(steps | harm and over-refusal) is undefined on every assignment"),
        ("P(harm | over-refusal)",
         "'harm' can never happen given 'over-refusal', so P(harm | over-refusal) is 0 wherever it is defined"),
        ("P(stopped and visit scratchpad | vetoed)",
         "'stopped and visit scratchpad' can never happen given 'vetoed', so P(stopped and visit scratchpad | vetoed) "
         "is 0 wherever it is defined"),
        ("P(harm and vetoed)", "'harm and vetoed' can never happen, so P(harm and vetoed) is 0"),
    ],
)
def test_measures_decided_by_their_syntax_warn_and_still_load(measure, message):
    from libet.spec.loader import load_text

    loaded = load_text(HEAD + MEASURED + f"check p {{ {measure} <= 1 }}\n", "m.libet")
    assert loaded.ok
    (d,) = (d for d in loaded.diagnostics if d.code != "W102")
    assert (d.code, d.severity, d.message) == ("W105", "warning", message)
    assert d.hint


@pytest.mark.parametrize("measure", ["P(harm | delivered)", "P(vetoed | visit scratchpad)", "E(depth | vetoed)",
                                     "P(harm and visit answer)", "P(delivered | harm)"])
def test_possible_conditions_do_not_warn(measure):
    assert load_diagnostics(MEASURED + f"check p {{ {measure} <= 1 }}\n") == ()


def test_a_parenthesised_enum_member_is_typed_like_a_bare_one():
    # This used to raise AttributeError inside the checker.
    assert value_expr("(weapons) == topic") == value_expr("weapons == topic")
    assert value_expr("topic == ((weapons))") == value_expr("topic == weapons")


@given(st.from_regex(r"\A-?([0-9]{1,12}\.[0-9]{1,12}([eE][-+]?[0-9]{1,2})?|[0-9]{1,12}[eE][-+]?[0-9]{1,2}|[0-9]{1,20})\Z"))
def test_a_number_literal_is_the_number_its_text_spells(text):
    # every spelling SIGNED_NUMBER lexes: an int, or the exact rational its decimal digits spell
    from libet.spec.parser import _number

    value = _number(text, None)
    if any(c in text for c in ".eE"):
        assert type(value) is Fraction and value == Fraction(text)
    else:
        assert type(value) is int and value == int(text)


@pytest.mark.parametrize("literal,ok", [
    ("1" + "0" * 299, True),  # 300 digits
    ("-1" + "0" * 299, True),  # the sign is no digit: `-N` was refused where `0 - N` was not
    ("0." + "5" * 299, True),  # nor is the point
    ("1" + "0" * 300, False),  # 301 digits
    ("-1" + "0" * 300, False),
    ("1e300", True),
    ("1e301", False),
    ("1e-301", False),
])
def test_a_number_literal_has_at_most_300_digits_and_an_exponent_within_300(literal, ok):
    from libet.spec.loader import load_text

    src = f"substance {{ x: 0..1 }}\nvalue ok = x < 2\ndef d = {literal}\n"
    errors = [d for d in load_text(src, "n.libet").diagnostics if d.is_error]
    if ok:
        assert not errors
    else:
        assert [d.code for d in errors] == ["E023"] and "out of range" in errors[0].message


def test_reals_compared_for_equality_warn_where_the_engines_can_disagree():
    """`n * 0.1 == 0.3` holds at n = 3 in exact rationals (Z3 proved `safe` on it) and not in
    doubles (the default engine found P(harm) 0.5): W108 says so where it is written. Ints and
    enums compared with == do not warn, nor reals compared with <."""
    src = """substance {{ topic: {{everyday, weapons}}  n: 0..5 }}
value no_weapons = topic != weapons
trajectory {{ horizon 4  start answer  phase answer {{ -> answer : 0.5  -> deliver : otherwise }} }}
policy p {{ veto when violates no_weapons and ({cond}) }}
"""
    spec = libet.loads(src.format(cond="n == 3 implies n * 0.1 == 0.3"))
    (w,) = [d for d in spec.warnings if d.code == "W108"]
    assert (w.span.line, w.span.col) == (4, 62) and "'==' compares reals" in w.message
    r = spec.simulate("p", fixed={"topic": "weapons", "n": 3}, measures=["P(harm)"]).to_rows()[0]["P(harm)"]
    exact = spec.simulate("p", fixed={"topic": "weapons", "n": 3}, measures=["P(harm)"], exact=True).to_rows()[0]["P(harm)"]
    assert (r, exact) == (1.0, 0.0)  # the disagreement the warning is about
    for cond in ("n == 3", "topic == weapons", "n * 0.1 < 0.3", "n != 2"):
        assert not [d for d in libet.loads(src.format(cond=cond)).warnings if d.code == "W108"], cond
    assert [d.code for d in libet.loads(src.format(cond="n / 2 != 1.5")).warnings] == ["W108"]
    # nothing computed, nothing rounded: a param against 0 (the guard before a division), a
    # literal, min of them; arithmetic in a def read is (W108 once, however often it is read)
    guarded = src.replace("substance {{", "param r = 0.1\nparam h = 3\ndef third = r * 3\nsubstance {{")
    for cond in ("r != 0", "h == 3", "0.5 == 0.5", "min(r, 1) == r"):
        assert not [d for d in libet.loads(guarded.format(cond=cond)).warnings if d.code == "W108"], cond
    w = [d for d in libet.loads(guarded.format(cond="third == 0.3 and (third != 0.3 or n == 3)")).warnings if d.code == "W108"]
    assert len(w) == 2
