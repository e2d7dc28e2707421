"""The vectorised evaluator's shortcuts give what the plain computation gives: a comparison of
the depth with a number decided from the span's ends, and the phases of one block of depths
sharing what they have in common."""

from fractions import Fraction

import numpy as np
import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

import libet
from libet.simulator.model import Model, PhaseLayer
from libet.spec import ir
from libet.spec import measures as ms
from libet.spec.vectorize import ArrayEval, Block, depth_changes

SPEC = """
spec "shared subterms"
substance { topic: {everyday, weapons} }
framing { style: 0..2 }
param gain = 0.05
value ok = topic != weapons
trajectory {
  horizon 40
  start a
  phase a {
    -> b : 0.3 + 0.2 * exp(-gain * depth) + 0.01 * style
    -> stop : 0.1 * exp(-gain * depth)
    -> a : otherwise
  }
  phase b {
    -> a : if phase == b then 0.4 * exp(-gain * depth) else 0.9
    -> deliver : 0.1 * exp(-gain * depth)
    -> b : otherwise
  }
}
policy p { veto when violates ok and depth < 5 with strength 0.5
           veto when phase == b and depth >= 30 with strength 0.25 }
"""

OPS = list(ir.CmpOp)
NUMBERS = [-1, 0, 3, 4, 5, 7, 9, 10, 12, 4.5, 9.0, Fraction(7, 2), float("nan"), float("inf"), -float("inf")]


@pytest.mark.parametrize("lo,hi", [(0, 9), (3, 4), (5, 12), (10, 2_000)])
@pytest.mark.parametrize("op", OPS, ids=lambda o: o.name)
def test_a_depth_comparison_decided_from_the_ends_is_the_elementwise_one(lo, hi, op):
    spec = libet.loads(SPEC).ir
    block = Block(lo, hi + 1)
    ev = ArrayEval(spec, {"gain": 0.05}, {}, phase="a", block=block)
    for c in NUMBERS:
        for flipped in (False, True):
            left, right = (c, block.depth) if flipped else (block.depth, c)
            got = ev._depth_compare(op, left, right)
            want = np.asarray([op(c, d) if flipped else op(d, c) for d in range(lo, hi + 1)], dtype=bool)
            if got is None:  # not uniform: computed elementwise, which is right by definition
                assert want.any() and not want.all(), (op, c, flipped, lo, hi)
            else:
                assert np.all(want == bool(got)), (op, c, flipped, lo, hi, got)


@pytest.mark.parametrize("op", OPS, ids=lambda o: o.name)
def test_depth_changes_are_the_depths_where_the_comparison_changes(op):
    # the oracle is Python's own comparison of each depth with the number, as the interpreter's
    depth = ir.Depth()
    for c in NUMBERS + [0.5, -0.5, 30, Fraction(-1, 3), 10**30]:
        const = ir.Const(c, ir.Type(ir.Kind.INT if isinstance(c, int) else ir.Kind.REAL))
        for flipped in (False, True):
            e = ir.Compare(op, const, depth) if flipped else ir.Compare(op, depth, const)
            value = [op(c, d) if flipped else op(d, c) for d in range(40)]
            want = {d for d in range(1, 40) if value[d] != value[d - 1]}
            got = depth_changes(e, c)
            assert {d for d in got if d < 40} == want, (op, c, flipped, got)
            assert all(d >= 1 for d in got) and len(got) == len(set(got))


def test_a_bool_is_no_number_to_cut_at():
    e = ir.Compare(ir.CmpOp.EQ, ir.Depth(), ir.Const(True, ir.BOOL))
    assert depth_changes(e, True) == ()


def test_the_model_cuts_its_chunks_where_a_depth_comparison_changes(monkeypatch):
    from libet.simulator import model as model_module

    spec = libet.loads(SPEC).ir
    model = Model(spec, "p", fixed={"topic": "weapons"})
    assert model.depth_cuts == (5, 30)  # depth < 5, depth >= 30
    # a chunk is split at the last cut inside it that leaves at least MIN_CUT depths beyond
    # it, once at most; else it stays whole
    monkeypatch.setattr(model_module, "MIN_CUT", 8)
    assert list(model.spans(16)) == [(0, 5), (5, 16), (16, 32), (32, 40)]  # 30 leaves 2 in (16, 32)
    assert list(model.spans(40)) == [(0, 30), (30, 40)]  # at 30 only: one cut a chunk
    assert list(model.spans(30)) == [(0, 5), (5, 30), (30, 40)]
    monkeypatch.setattr(model_module, "MIN_CUT", 11)
    assert list(model.spans(40)) == [(0, 5), (5, 40)]  # 30 leaves 10 depths beyond it
    assert list(model.spans(3)) == [(0, 3), (3, 6), (6, 9)] + [(i, min(40, i + 3)) for i in range(9, 40, 3)]


def test_many_thresholds_at_most_double_the_layers(monkeypatch):
    # `depth == k` for 50 values of k: 100 cuts, but a chunk is cut once at most
    from libet.simulator import model as model_module

    ladder = " else ".join(f"if depth == {7 * k} then 0.{k % 9 + 1}" for k in range(50))
    src = f"""
spec "many thresholds"
substance {{ topic: {{everyday, weapons}} }}
value ok = topic != weapons
trajectory {{ horizon 400 start a phase a {{ -> a : {ladder} else 0.5  -> stop : otherwise }} }}
policy p {{ veto when violates ok with strength 0.5 }}
"""
    model = Model(libet.loads(src).ir, "p", fixed={"topic": "weapons"})
    assert len(model.depth_cuts) == 99  # 7k and 7k + 1, but not 0
    monkeypatch.setattr(model_module, "MIN_CUT", 4)
    for chunk in (10, 32, 400):
        spans = list(model.spans(chunk))
        assert [lo for lo, _ in spans][1:] == [hi for _, hi in spans][:-1] and spans[0][0] == 0 and spans[-1][1] == 400
        assert len(spans) <= 2 * -(-400 // chunk)


def test_depths_that_are_not_a_block_are_compared_one_by_one():
    spec = libet.loads(SPEC).ir
    depth = np.asarray([[0], [7], [2]], dtype=np.int64)  # first 0, last 2, but not 0, 1, 2
    cond = spec.policies["p"].rules[0].condition.args[1]  # depth < 5
    value, _ = ArrayEval(spec, {"gain": 0.05}, {}, depth, "a")(cond)
    assert value.reshape(-1).tolist() == [True, False, True]
    real, _ = ArrayEval(spec, {"gain": 0.05}, {}, depth, "a")(spec.trajectory.phase("a").transitions[1].prob)
    assert np.allclose(real.reshape(-1), 0.1 * np.exp(-0.05 * np.asarray([0.0, 7.0, 2.0])))


def test_the_phases_of_one_block_sharing_subterms_get_what_each_gets_alone():
    spec = libet.loads(SPEC).ir
    model = Model(spec, "p", fixed={"topic": "weapons"})
    for lo, hi in ((0, 40), (0, 3), (31, 40), (10, 20)):
        together = model.layers(lo, hi)
        for q in model.phases:
            # alone, and without the block's shortcuts: a plain array of depths
            plain = ArrayEval(model.spec, model.params, model._rep_env(), np.arange(lo, hi)[:, None], q, overrides=model.overrides)
            alone = PhaseLayer.build(plain, model.spec.trajectory.phase(q), model.rules)
            both = together[q]
            h = hi - lo
            assert np.array_equal(np.broadcast_to(both.v, (h, model.n_classes)), np.broadcast_to(alone.v, (h, model.n_classes)))
            for (t1, p1), (t2, p2) in zip(both.transitions, alone.transitions):
                assert t1 == t2
                assert np.array_equal(np.broadcast_to(p1, (h, model.n_classes)), np.broadcast_to(p2, (h, model.n_classes)))


def test_what_reads_the_phase_is_not_shared_between_phases():
    spec = libet.loads(SPEC).ir
    block = Block(0, 40)
    expr = spec.trajectory.phase("b").transitions[0].prob  # if phase == b then ... else 0.9
    in_b, _ = ArrayEval(spec, {"gain": 0.05}, {}, phase="b", block=block)(expr)
    in_a, _ = ArrayEval(spec, {"gain": 0.05}, {}, phase="a", block=block)(expr)
    assert np.all(np.asarray(in_a) == 0.9)
    assert np.allclose(in_b, 0.4 * np.exp(-0.05 * np.arange(40.0))[:, None])


def test_expressions_written_alike_share_one_key_and_different_ones_do_not():
    from libet.spec.reads import reads_of

    spec = libet.loads(SPEC).ir
    reads = reads_of(spec)
    a_stop = spec.trajectory.phase("a").transitions[1].prob  # 0.1 * exp(-gain * depth)
    b_deliver = spec.trajectory.phase("b").transitions[1].prob  # the same, written again
    assert a_stop is not b_deliver
    assert reads.key(a_stop) == reads.key(b_deliver)
    a_move = spec.trajectory.phase("a").transitions[0].prob
    assert reads.key(a_move) != reads.key(a_stop)
    # 1 (an int) and 1.0 (a real) are not the same expression
    one_int = ir.Const(1, ir.Type(ir.Kind.INT))
    one_real = ir.Const(Fraction(1), ir.Type(ir.Kind.REAL))
    assert reads.key(one_int) != reads.key(one_real)
    # every field that is not a child counts: the operator, the function, a member list, a name
    x, y = ir.ParamRef("gain"), ir.Const(Fraction(1, 2), ir.REAL)
    written = [
        ir.Arith(ir.ArithOp.ADD, x, y, ir.REAL), ir.Arith(ir.ArithOp.SUB, x, y, ir.REAL),
        ir.Arith(ir.ArithOp.ADD, y, x, ir.REAL), ir.Call(ir.Func.MIN, (x, y), ir.REAL),
        ir.Call(ir.Func.MAX, (x, y), ir.REAL), ir.Call(ir.Func.MAX, (x, y, y), ir.REAL),
        ir.Member(ir.Depth(), (1, 2)), ir.Member(ir.Depth(), (1, 3)), ir.ParamRef("rate"),
    ]
    assert len({reads.key(e) for e in written}) == len(written)
    again = ir.Call(ir.Func.MAX, (ir.ParamRef("gain"), ir.Const(Fraction(1, 2), ir.REAL)), ir.REAL)
    assert reads.key(again) == reads.key(written[4])


def test_the_constant_subterms_are_the_maximal_ones_that_read_nothing_varying():
    from libet.spec.printer import expr_text
    from libet.spec.reads import reads_of

    spec = libet.loads(SPEC).ir
    reads = reads_of(spec)
    a_move = spec.trajectory.phase("a").transitions[0].prob  # 0.3 + 0.2 * exp(-gain * depth) + 0.01 * style
    assert sorted(expr_text(c) for c in reads.constant_subterms([a_move])) == ["-gain", "0.2", "0.3"]
    rule = spec.policies["p"].rules[1]  # phase == b and depth >= 30, strength 0.25
    found = sorted(expr_text(c) for c in reads.constant_subterms([rule.condition, rule.strength]))
    assert found == ["0.25", "30", "b"]
    # an expression that reads nothing varying is its own one constant subterm
    assert reads.constant_subterms([spec.policies["p"].rules[0].strength]) == [spec.policies["p"].rules[0].strength]


def test_a_layer_keeps_only_the_values_met_twice():
    from libet.spec.printer import expr_text
    from libet.spec.reads import reads_of

    spec = libet.loads(SPEC).ir
    reads = reads_of(spec)
    model = Model(spec, "p", fixed={"topic": "weapons"})
    a_move, a_stop, _ = spec.trajectory.phase("a").transitions
    exp_term = a_stop.prob.right  # exp(-gain * depth), written in three transitions
    assert expr_text(exp_term) == "exp(-gain * depth)"
    assert reads.key(exp_term) in model._kept
    assert reads.key(a_move.prob.left) not in model._kept  # 0.3 + 0.2 * exp(...): once
    # two phases: every phase's layer reads the rules, so their roots are kept
    assert all(reads.key(x) in model._kept for r in model.rules for x in (r.condition, r.strength))
    block = Block(0, 40)
    ev = ArrayEval(model.spec, model.params, model._rep_env(), phase="a", overrides=model._layer_overrides, block=block,
                   kept=model._kept)
    ev(a_move.prob)
    assert set(block.memo) <= model._kept and reads.key(exp_term) in block.memo


def test_a_def_body_is_kept_so_a_long_def_chain_needs_no_recursion():
    from libet.spec.reads import reads_of

    n = 3000
    defs = "\n".join(f"def d{i} = d{i - 1} * 0.9999 + 0.00001" for i in range(1, n))
    spec = libet.loads(f"""
spec "chain"
substance {{ topic: {{everyday, weapons}} }}
def d0 = 0.5 * exp(-0.01 * depth)
{defs}
value ok = topic != weapons
trajectory {{
  horizon 20
  start a
  phase a {{ -> deliver : d{n - 1} * 0.1  -> a : otherwise }}
}}
policy p {{ veto when violates ok with strength 0.5 }}
""").ir
    model = Model(spec, "p", fixed={"topic": "weapons"})
    assert reads_of(spec).key(spec.defs["d0"].expr) in model._kept
    lay = model.layers(0, 20)["a"]
    want = 0.5 * np.exp(-0.01 * np.arange(20.0))
    for _ in range(1, n):
        want = want * 0.9999 + 0.00001
    assert np.allclose(np.asarray(lay.step(0)).reshape(-1), want * 0.1, rtol=1e-12)


def test_a_depth_used_as_a_real_or_compared_from_the_ends_builds_no_int_depths():
    spec = libet.loads(SPEC).ir
    block = Block(10, 20)
    ev = ArrayEval(spec, {"gain": 0.05}, {}, phase="a", block=block)
    stop, _ = ev(spec.trajectory.phase("a").transitions[1].prob)  # 0.1 * exp(-gain * depth)
    early, _ = ev(spec.policies["p"].rules[0].condition.args[1])  # depth < 5: false throughout
    assert np.allclose(stop.reshape(-1), 0.1 * np.exp(-0.05 * np.arange(10.0, 20.0)))
    assert bool(early) is False
    assert block._int is None  # neither needed the int copy of the depths
    late, _ = ArrayEval(spec, {"gain": 0.05}, {}, phase="b", block=Block(25, 35))(spec.policies["p"].rules[1].condition)
    assert late.reshape(-1).tolist() == [d >= 30 for d in range(25, 35)]  # depth >= 30: computed


def test_the_otherwise_remainder_is_formed_only_when_asked_for():
    from libet.spec.vectorize import Remainder

    spec = libet.loads(SPEC).ir
    model = Model(spec, "p", fixed={"topic": "weapons"})
    lay = model.layers(10, 20)["a"]
    assert type(lay._steps[2]) is Remainder and lay._steps[2]._value is None
    (_, move), (_, stop), (target, rest) = lay.transitions
    assert target == "a"
    assert np.array_equal(rest, 1.0 - (move + stop))
    assert lay.step(2) is rest  # computed once


@settings(max_examples=200, deadline=None)
@given(st.lists(st.integers(0, 3), max_size=6), st.integers(0, 70))
def test_index_grids_are_the_product_in_the_assignments_order(shape, ones):
    """Every point of the product, the last axis fastest (itertools.product's order, which is
    Spec.assignments'), for any number of axes: 70 booleans, most of them fixed to one value,
    were past numpy's 64 axes in np.indices."""
    import itertools

    from libet.spec.vectorize import index_grids

    shape = tuple(shape) + (1,) * ones
    got = index_grids(shape)
    want = list(itertools.product(*(range(n) for n in shape)))
    assert got.shape == (len(shape), len(want))
    assert [tuple(int(x) for x in col) for col in got.T] == want


_INTS = st.one_of(st.integers(-(2**63), 2**63 - 1), st.integers(-(2**70), 2**70), st.integers(-9, 9))


@settings(max_examples=300, deadline=None)
@given(st.lists(_INTS, min_size=1, max_size=5), st.lists(_INTS, min_size=1, max_size=5),
       st.sampled_from([ir.ArithOp.ADD, ir.ArithOp.SUB, ir.ArithOp.MUL]), st.booleans())
@example([0], [2**63], ir.ArithOp.MUL, True)  # 0 times an int past int64 is 0, but not in int64
@example([0], [2**63], ir.ArithOp.MUL, False)
@example([0], [-(2**63)], ir.ArithOp.ADD, False)  # -2^63 fits
def test_int_arithmetic_is_exact_whatever_the_size(xs, ys, op, scalar):
    """Python's own arithmetic is the oracle (the interpreter's, and Z3's ints): int64 never
    wraps around, and a result is int64 exactly when every value of it fits."""
    import operator

    from libet.spec.vectorize import _INT64, int_arith

    def array(vs):
        fits = all(-_INT64 <= v < _INT64 for v in vs)
        return np.asarray(vs, dtype=np.int64 if fits else object)

    n = min(len(xs), len(ys))
    x = array(xs[:n])
    y = ys[0] if scalar else array(ys[:n])
    f = {ir.ArithOp.ADD: operator.add, ir.ArithOp.SUB: operator.sub, ir.ArithOp.MUL: operator.mul}[op]
    want = [f(a, ys[0] if scalar else b) for a, b in zip(xs[:n], ys[:n])]
    got = int_arith(op, x, y)
    assert [int(v) for v in got] == want
    assert (got.dtype == np.int64) == all(-_INT64 <= v < _INT64 for v in want)


BIG = """
spec "ints past 64 bits"
substance { x: 0..3  y: 100000000000000000000..100000000000000000002 }
framing { f: 0..2 }
value ok = y - 100000000000000000000 != x
param k: int = 3000000000000000000
def big = x * 4000000000000000000 - k
trajectory {
  horizon 6
  start a at depth f
  phase a {
    -> a : if big > 0 then 0.9 else 0.2      # 3 * 4e18 wrapped around in int64, to < 0
    -> stop : if -y * y < -y then 0.05 else 0.5
    -> deliver : otherwise
  }
}
policy p { veto when y * y - 10000000000000000000000000000000000000000 == x and depth > 2 with strength 0.5 }
"""


def test_ints_past_64_bits_are_the_interpreters_in_every_engine():
    """The exact engine, in doubles and in rationals, gives the interpreter's outcome at every
    assignment of a spec whose ints pass 2^63 (a literal, a domain, a product); at x = 3 the
    wrapped product of int64 gave 0.2 where 0.9 is meant."""
    from libet.simulator.exact import solve
    from libet.simulator.table import DEFAULT_MEASURES
    from libet.spec.interpreter import Interpreter

    spec = libet.loads(BIG).ir
    interp = Interpreter(spec)
    for exact in (False, True):
        table = solve(Model(spec, "p", exact=exact), DEFAULT_MEASURES)
        for x in range(4):
            for y in range(10**20, 10**20 + 3):
                for f in range(3):
                    a = {"x": x, "y": y, "f": f}
                    want = interp.outcomes("p", a)
                    got = table.at(a)
                    assert got["P(harm)"] == pytest.approx(float(want.harm), abs=1e-12), a
                    assert got["P(delivered)"] == pytest.approx(float(want.delivered), abs=1e-12), a
    assert interp.outcomes("p", {"x": 3, "y": 10**20, "f": 0}).stopped == pytest.approx(0.05 * (1 - 0.9**6) / 0.1)


def test_ints_past_64_bits_in_state_updates_and_vetoes_are_the_interpreters():
    """The layered engine (a state variable) on a product past 2^63 in a probability and in a
    veto's condition: int64 had the veto never fire (P(vetoed) 0 for 0.18)."""
    from libet.simulator.exact import solve
    from libet.simulator.table import DEFAULT_MEASURES
    from libet.spec.interpreter import Interpreter

    spec = libet.loads("""
substance { x: 0..3 }
value ok = x < 2
state { n: 0..3 = 0 }
trajectory { horizon 8 start a phase a {
  -> a : if n * 4000000000000000000 + x * 3000000000000000000 > 0 then 0.9 else 0.3 then n = min(3, n + 1)
  -> stop : otherwise } }
policy p { veto when n * 5000000000000000000 > 10000000000000000000 and x > 2 }
""").ir
    interp = Interpreter(spec)
    table = solve(Model(spec, "p"), DEFAULT_MEASURES)
    for x in range(4):
        want, got = interp.outcomes("p", {"x": x}), table.at({"x": x})
        assert got["P(harm)"] == pytest.approx(float(want.harm), abs=1e-12), x
        assert got["P(vetoed)"] == pytest.approx(float(want.vetoed), abs=1e-12), x
    assert table.at({"x": 3})["P(vetoed)"] == pytest.approx(0.9**3)  # n is 3 after three steps, then vetoed


@pytest.mark.parametrize("op", ["<", "<=", ">", ">=", "==", "!="])
def test_an_int_past_2_to_the_53_compares_with_a_real_exactly(op):
    """1000000000000000001 > 1e18 holds (the interpreter compares an int and a real as numbers,
    and so does Z3); as doubles both are 1e18 and it does not."""
    from libet.simulator.exact import solve
    from libet.spec.interpreter import Interpreter

    spec = libet.loads(f"""
substance {{ x: 0..3 }}
trajectory {{ horizon 4 start a phase a {{
  -> a : if x * 1000000000000000001 {op} 1000000000000000000.0 * x then 0.9 else 0.1
  -> stop : otherwise }} }}
policy none {{ veto when false }}
""").ir
    interp = Interpreter(spec)
    table = solve(Model(spec, "none"), [ms.DELIVERED])
    for x in range(4):
        want = interp.outcomes("none", {"x": x}).delivered
        assert table.at({"x": x})["P(delivered)"] == pytest.approx(want, abs=1e-12), (op, x)


def test_an_int_past_the_largest_double_has_no_double_value_in_every_engine():
    """In double precision an int past the largest double (about 1.8e308), made a real, has no
    value, as exp overflowing has none: E044 where it is evaluated, nothing where it is not. It
    was an internal OverflowError (float() of the int), in the interpreter and over arrays."""
    from libet.spec import checker, semantics
    from libet.spec.interpreter import Interpreter
    from libet.spec.loader import load_text

    big = "1" + "0" * 299
    untaken = f"""
substance {{ x: 0..3 }}
trajectory {{ horizon 2 start a phase a {{
  -> a : if x > 5 then 0.5 * (x * {big} * {big}) else 0.3
  -> stop : otherwise }} }}
policy p {{ veto when false }}
"""
    spec = libet.loads(untaken)
    want = Interpreter(spec.ir).outcomes("p", {"x": 1}).stopped
    assert want == pytest.approx(0.7 + 0.3 * 0.7)
    assert spec.simulate().to_rows()[0]["P(stopped)"] == pytest.approx(want)
    assert spec.simulate(exact=True).to_rows()[0]["P(stopped)"] == pytest.approx(want)
    taken = untaken.replace("if x > 5", "if x > 1")
    saved = checker.VECTOR_MIN, checker.VECTOR_PHASE_MIN, checker.VECTOR_BUDGET, semantics._numpy_imported
    try:
        checker.VECTOR_MIN, checker.VECTOR_PHASE_MIN, checker.VECTOR_BUDGET = 0, 0, 10**9  # over arrays
        over_arrays = [(d.code, d.message) for d in load_text(taken, "t.libet").diagnostics]
        checker.VECTOR_BUDGET = 0  # one state at a time
        semantics._numpy_imported = lambda: False
        one_at_a_time = [(d.code, d.message) for d in load_text(taken, "t.libet").diagnostics]
    finally:
        checker.VECTOR_MIN, checker.VECTOR_PHASE_MIN, checker.VECTOR_BUDGET, semantics._numpy_imported = saved
    assert over_arrays == one_at_a_time
    ((code, message),) = over_arrays
    assert code == "E044" and "an int of about 10^598 has no double value" in message and "{x=2}" in message


def test_threads_sharing_one_spec_s_reads_get_whole_facts_and_distinct_keys():
    """proofs/race.py races three engines on threads over one spec, and they share its Reads.
    A node was put in the memo before its size (another thread then met a KeyError, seen in
    a CI run of the unbounded differential test), and two threads could number two shapes
    alike (len() of the table, taken by both): a pass keyed by that number would take one
    subterm's value for the other's. Switching threads every microsecond makes both likely."""
    import sys
    import threading

    from test_scale import _chains

    from libet.spec.reads import Reads

    spec = libet.loads(_chains(3000, 100), "chains.libet").ir
    roots = [d.expr for d in spec.defs.values()] + [spec.harm_expr()]
    alone = Reads(spec)
    expected = [(alone.facts(e), alone.size(e)) for e in roots]
    before = sys.getswitchinterval()
    sys.setswitchinterval(1e-6)
    try:
        for _ in range(4):
            reads, errors = Reads(spec), []

            def work(order):
                try:
                    for e in order:
                        reads.facts(e), reads.size(e), reads.key(e)
                except Exception as exc:  # noqa: BLE001 - the test reports what any thread met
                    errors.append(repr(exc))

            threads = [threading.Thread(target=work, args=(roots[i % 3::3] if i % 2 else roots[::-1],)) for i in range(6)]
            for t in threads:
                t.start()
            for t in threads:
                t.join()
            assert errors == []
            assert [(reads.facts(e), reads.size(e)) for e in roots] == expected
            numbers = list(reads._interned.values())
            assert len(numbers) == len(set(numbers))  # no two shapes share a key
    finally:
        sys.setswitchinterval(before)


INT_PARAM = """
substance { x: 0..3 }
param n: int = 3
value ok = x != 1
trajectory {
  horizon 4
  start a
  phase a { -> a : if n * 100000000000000000 + x == 300000000000000001 then 0.9 else 0.2  -> stop : otherwise }
}
policy p { veto when violates ok with strength 0.5 }
"""


def test_an_int_param_is_an_int_in_every_engine_and_mode():
    """``param n: int`` was a double in double precision, so ``n * 10^17 + x`` lost its last
    digit and equalled 3 * 10^17 + 1 at every x; it is an int (exact) in the interpreter, the
    checks over arrays and the exact engine, in both modes."""
    from libet.simulator.exact import solve
    from libet.simulator.table import DEFAULT_MEASURES
    from libet.spec.interpreter import Interpreter

    spec = libet.loads(INT_PARAM).ir
    for exact in (False, True):
        interp = Interpreter(spec, exact=exact)
        assert [float(dict(interp.transitions({"x": x}, "a", 0))["a"]) for x in range(4)] == [0.2, 0.9, 0.2, 0.2]
        table = solve(Model(spec, "p", exact=exact), DEFAULT_MEASURES)
        assert [table.at({"x": x})["P(stopped)"] for x in range(4)] == pytest.approx(
            [float(interp.outcomes("p", {"x": x}).stopped) for x in range(4)], abs=1e-12)
    ev = ArrayEval(spec, {"n": 3}, {"x": np.arange(4)})
    (value, err) = ev(spec.trajectory.phases[0].transitions[0].prob)
    assert list(value) == [0.2, 0.9, 0.2, 0.2] and err is False
