"""Unit tests for every construct of the language: what each one becomes in the IR."""

from __future__ import annotations

from fractions import Fraction

import pytest

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
