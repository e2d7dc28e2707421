"""Scale without surprises: loading spends one budget for the whole spec, a variable with many
values costs one pass over them, and huge but simple models are solved by class."""

from __future__ import annotations

import shutil
from fractions import Fraction

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import libet
from libet.spec import measures as ms


def _ten_phases(horizon: int, complement: bool = True) -> str:
    """Ten phases whose probabilities read the depth. With ``complement`` each writes its
    complement out instead of `otherwise`: the bounds (spec/bounds.py) cannot tell that ``p``
    and ``1 - p`` sum to 1, so the checks enumerate the states, as the tests of their budgets
    need; without it, the bounds settle every phase."""
    phases = [f"p{i}" for i in range(10)]
    rest = "1 - 0.5 * exp(-0.0001 * depth)" if complement else "otherwise"
    body = "\n".join(
        f"  phase {p} {{ -> {phases[(i + 1) % 10]} : 0.5 * exp(-0.0001 * depth)  -> stop : {rest} }}"
        for i, p in enumerate(phases)
    )
    return f"""
substance {{ bad: bool }}
value ok = not bad
trajectory {{
  horizon {horizon}
  start p0
{body}
}}
policy p {{ veto when bad and depth < 3 }}
"""


def test_the_static_budget_is_one_total_for_the_whole_spec(monkeypatch):
    """Ten phases of 10^5 depths each. One state at a time (the checks over arrays turned off),
    the start depth and the first phase fit in the budget of 200,000 evaluations; the other nine
    are left to the engines, each with W103, and the interpreter is asked no more than the
    budget allows. Over arrays (the default) every phase is checked, the interpreter replays
    nothing (every state is valid) and nothing is left to the engines."""
    from libet.spec import checker
    from libet.spec.interpreter import Interpreter

    calls = {"n": 0}
    real = Interpreter.transitions

    def counting(self, *args, **kwargs):
        calls["n"] += 1
        return real(self, *args, **kwargs)

    monkeypatch.setattr(Interpreter, "transitions", counting)
    spec = libet.loads(_ten_phases(100_000))
    assert not [d for d in spec.warnings if d.code == "W103"]
    assert calls["n"] == 0
    monkeypatch.setattr(checker, "VECTOR_BUDGET", 0)
    spec = libet.loads(_ten_phases(100_000))
    w103 = [d for d in spec.warnings if d.code == "W103"]
    assert len(w103) == 9 and all("the whole spec" in d.message for d in w103)
    assert calls["n"] <= 200_000
    # A horizon whose checks all fit raises nothing.
    assert not [d for d in libet.loads(_ten_phases(1_000)).warnings if d.code == "W103"]


def test_a_variable_with_many_values_is_one_pass():
    """`uplift: 0..100000` read only by the reference values: 12.3 million assignments in two
    classes; the distribution is built once (it was rebuilt per value, quadratic)."""
    src = open("examples/prefill.libet").read().replace("uplift: 0..3", "uplift: 0..100000")
    spec = libet.loads(src, "examples/prefill_big.libet").ir
    var = spec.variables["uplift"]
    assert var.size() == 100_001 and len(var.distribution()) == 100_001
    assert var.probability(77_777) == var.distribution()[77_777]
    fixed = {"topic": "weapons", "persona": "none", "observed": False, "prefill": 10}
    from libet.simulator import outcomes

    table = outcomes(spec, "shallow", fixed=fixed, measures=[ms.HARM])
    assert table.n_classes == 2
    # harmful for uplift >= 2 (all but 2 of 100,001 values), with the interpreter's number there
    from libet.spec.interpreter import Interpreter

    one = Interpreter(spec).outcomes("shallow", {**fixed, "uplift": 3}).harm
    assert abs(table.aggregate(ms.HARM).value - one * 99_999 / 100_001) < 1e-12


def _chains(n: int, defs: int, ladder: bool = True) -> str:
    """A weighted score of ``n`` terms, a product of ``n`` factors, an ``or`` and an ``and``
    list of ``n`` terms each, and a chain of ``defs`` defs, each using the last: flat shapes a
    user writes, far past Python's recursion limit."""
    terms = " + ".join(f"{(i % 7) / 100000:.5f} * (if f{i % 5} then 1 else 0)" for i in range(n))
    product = " * ".join("0.99999" for _ in range(n))
    anyf = " or ".join(f"(f{i % 5} and bad)" for i in range(n))
    allf = " and ".join(f"(bad or not f{i % 5})" for i in range(n))
    chain = "\n".join(f"def d{i} = min(1, d{i - 1} + 0.000001)" for i in range(1, defs))
    # an `else if` ladder of n branches: every condition false but the last but one's
    rungs = " else ".join(f"if {_rung(i, n)} then {i / 1e9:.9f}" for i in range(n if ladder else 0)) or "if true then 0.0"
    return f"""
substance {{ bad: bool }}
framing {{ f0: bool  f1: bool  f2: bool  f3: bool  f4: bool }}
value ok = not bad
def score = {terms}
def damp = {product}
def anyf = {anyf}
def allf = {allf}
def rung = {rungs} else 0.0
def d0 = 0.0
{chain}
trajectory {{ horizon 3 start a phase a {{ -> a : min(1, score * damp + d{defs - 1} + rung) -> stop : otherwise }} }}
policy weighted {{
  veto when bad and score >= 0 with strength min(1, score + 0.5 + rung)
  veto when anyf and allf with strength 0.25
}}
check weighted {{ complete  P(harm) <= 0.5 }}
"""


def _rung(i: int, n: int) -> str:
    return "f0 and f2" if i == n - 2 else f"f0 and f1 and f{i % 5}"


def _by_hand(n: int, defs: int, f: dict) -> float:
    score = sum((i % 7) / 100000 * (1 if f[f"f{i % 5}"] else 0) for i in range(n))
    damp = 0.99999**n
    d = 0.0
    for _ in range(1, defs):
        d = min(1, d + 0.000001)
    rung = next((i / 1e9 for i in range(n) if (f["f0"] and f["f2"] if i == n - 2 else f["f0"] and f["f1"] and f[f"f{i % 5}"])), 0.0)
    return min(1, score * damp + d + rung)


def _run_chains(n: int, defs: int) -> None:
    from libet.results import Status
    from libet.simulator.prism import to_prism
    from libet.spec.interpreter import Interpreter

    spec = libet.loads(_chains(n, defs), "chains.libet")
    f = {"f0": True, "f1": False, "f2": True, "f3": False, "f4": True}
    a = {"bad": True, **f}
    interp = Interpreter(spec.ir)
    p = dict(interp.transitions(a, "a", 1))["a"]
    assert abs(p - _by_hand(n, defs, f)) < 1e-9
    # every engine takes the shapes: the exact engine agrees with the interpreter, Z3 decides a
    # check, the export prints them
    table = spec.simulate("weighted", fixed=a, measures=["P(stopped)"]).to_rows()[0]
    assert abs(table["P(stopped)"] - interp.outcomes("weighted", a).stopped) < 1e-12
    results = {r.check: r for r in spec.check(timeout=120)}
    assert results["complete"].status is Status.VIOLATED  # strength below 1
    assert results["P(harm) <= 0.5"].status is Status.PROVED
    text = to_prism(spec.ir, "weighted")  # each def is one PRISM formula, after those it uses
    assert text.index(f"formula f_d{defs - 2} =") < text.index(f"formula f_d{defs - 1} =")
    # the formatter prints them and what it prints means the same; the graph draws the rules
    from libet.simulator.graph import graph_data
    from libet.spec.formatter import format_text

    again = libet.loads(format_text(_chains(n, defs), "chains.libet"), "chains.libet")
    assert dict(Interpreter(again.ir).transitions(a, "a", 1))["a"] == p
    assert Interpreter(again.ir).veto_probability("weighted", a, "a", 0) == interp.veto_probability("weighted", a, "a", 0)
    assert graph_data(spec.ir, "weighted")


def test_flat_chains_past_the_recursion_limit():
    _run_chains(1_500, 1_200)


@pytest.mark.slow
def test_flat_chains_of_ten_thousand_terms():
    _run_chains(10_000, 1_000)


def _divisions(n: int) -> str:
    """A run of ``n`` divisions and products, `k / 2 * 2 / 2 * 2 ...` (each pair exact in a
    double), read by a rule and a transition; and one over `k - 1`, which has no value at k = 1."""
    run = "".join(" / 2" if i % 2 == 0 else " * 2" for i in range(n))
    return f"""substance {{ topic: {{everyday, weapons}}  k: 1..9 }}
value no_weapons = topic != weapons
def q = k{run}
def r = k{run} / (k - 1)
trajectory {{ horizon 4 then stop  start answer phase answer {{ -> answer : q / 20  -> deliver : otherwise }} }}
policy p {{ veto when violates no_weapons and q > 3 }}
policy zero {{ veto when violates no_weapons and r > 3 }}
check p {{ complete  safe }}
"""


def test_a_run_of_divisions_past_the_recursion_limit():
    """A division was a chain of one (ir.Arith.spine): `k / 1 / 1 ...` of 200 divisions, or `/ 2
    * 2` alternating, loaded and then was "internal error: RecursionError" (exit 70) in the
    interpreter, the engines, Z3's encoding and the export. Each now walks it in a loop, with
    each node's own type and a division by zero still the spec's error at its own span."""
    from libet.results import Status
    from libet.simulator.prism import to_prism
    from libet.spec.interpreter import Interpreter

    n = 4_000
    spec = libet.loads(_divisions(n), "div.libet")
    interp = Interpreter(spec.ir)
    for k in (1, 4, 9):
        a = {"topic": "weapons", "k": k}
        assert dict(interp.transitions(a, "answer", 0))["answer"] == k / 20
        assert interp.veto_probability("p", a, "answer", 0) == (1.0 if k > 3 else 0.0)
    # harmful and not vetoed: weapons with k in 1..3, delivered before the horizon stops it
    by_hand = sum(1 - (k / 20) ** 4 for k in (1, 2, 3)) / 18
    assert spec.simulate("p", measures=["P(harm)"]).to_rows()[0]["P(harm)"] == pytest.approx(by_hand, abs=1e-12)
    results = {r.check: r.status for r in spec.check(timeout=120)}
    assert results == {"complete": Status.VIOLATED, "safe": Status.VIOLATED}
    text = to_prism(spec.ir, "p")
    assert text.count(" * 1.0 / (2)") == n // 2
    with pytest.raises(libet.EvaluationError, match="division by zero") as exc:
        spec.simulate("zero")
    assert exc.value.span.line == 4 and "k=1" in exc.value.state


def test_a_proof_budget_covers_encoding_and_enumeration():
    """A check whose encoding alone outlasts its timeout ends UNKNOWN near the timeout: the
    encoding, the enumerations and the vacuity questions count against it (they did not, and
    such a check took several times its budget). The margin is one uninterruptible step: one
    exact interpreter evaluation of the 1,500-term expression."""
    from libet.results import Status

    src = _chains(1_500, 200, ladder=False).replace("check weighted { complete  P(harm) <= 0.5 }", "check weighted { invariant under framing  safe }")
    spec = libet.loads(src, "budget.libet")
    for r in spec.prove(timeout=0.2):
        assert r.status is Status.UNKNOWN and r.reason.startswith("timeout"), (r.check, r.reason)
        # Under `pytest -n 2` the one-shot unrolling's solver call once ran 2.9 s past a 0.2 s
        # budget (issue 12 note: a Z3 call that overruns its timeout there, not yet found).
        assert r.seconds < 0.2 + 3.5, (r.check, r.seconds)


def test_every_proof_kind_keeps_its_budget_on_a_long_horizon():
    """The momentum example at horizon 65,536: the static policy's strength is a table of
    exp over every depth, seconds of interpreter evaluations and Z3 calls to build. Every
    check kind ends within its budget plus a generous margin (one uninterruptible step), and
    one that could not finish says it ran out of time. They took 3 to 4 times a 2 s budget."""
    import os

    from libet.proofs.kinds import KINDS
    from libet.results import Status

    here = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "examples")
    with open(os.path.join(here, "momentum.libet"), encoding="utf-8") as f:
        text = f.read().replace("horizon 32", "horizon 65536")
    # exp(0.3 * depth) overflows from depth 2,366: the static check, now at every depth, would
    # reject the spec (rightly), so the momentum stops growing there
    text = text.replace("def momentum = exp(gain * depth)", "def momentum = exp(gain * min(depth, 2000))")
    # the kinds the example does not check, added here
    text = text.replace("  complete\n  no over-refusal", "  complete\n  complete at answer\n  invariant under phase\n  no over-refusal")
    assert "complete at answer" in text and "min(depth, 2000)" in text
    spec = libet.loads(text, os.path.join(here, "momentum_long.libet"))
    budget = 2.0
    kinds = set()
    for r in spec.prove(policy="static", timeout=budget):
        kinds.add(type(next(c for c in spec.ir.checks if c.policy == "static" and c.prop.name == r.check).prop))
        # Alone every check ends within 0.1 s of the budget (2.0-2.06 s, also beside two busy
        # cores). Under `pytest -n 2` one ran 4.0 s with a 16 ms solver attempt: the overrun is
        # before the solver, in a step not yet found (issue 12 note); the margin covers it.
        assert r.seconds < budget + 2.5, (r.check, r.seconds)
        if r.status is Status.UNKNOWN:
            assert r.reason.startswith("timeout"), (r.check, r.reason)
    assert kinds == set(KINDS), "give the example (or this test) a check of every proof kind"


def test_an_else_if_ladder_means_the_same_in_every_pass():
    """Ladders mixing int and real branches, and enum branches resolved from one another:
    the interpreter, the vectorised evaluator (through the exact engine), the printer and Z3
    agree on every value."""
    from libet.results import Status
    from libet.spec.interpreter import Interpreter
    from libet.spec.printer import expr_text

    src = """substance { bad: bool }
framing { x: 0..5  tone: {calm, loud, harsh} }
value ok = not bad
def y = if x == 0 then 1 else if x == 1 then 0.5 else if x < 4 then 2 else 0
def t = if x == 0 then calm else if x < 3 then loud else harsh
trajectory { horizon 2 start a phase a { -> a : y / 4  -> stop : otherwise } }
policy p { veto when bad and t == tone with strength y / 2 }
check p { complete }
"""
    spec = libet.loads(src)
    it = Interpreter(spec.ir)
    want = {0: 1, 1: 0.5, 2: 2, 3: 2, 4: 0, 5: 0}
    tones = {0: "calm", 1: "loud", 2: "loud", 3: "harsh", 4: "harsh", 5: "harsh"}
    for x in range(6):
        a = {"bad": True, "x": x, "tone": tones[x]}
        assert it.evaluate(spec.ir.defs["y"].expr, a) == want[x]
        assert it.veto_probability("p", a, "a", 0) == want[x] / 2
        row = spec.simulate("p", fixed=a, measures=["P(stopped)", "P(vetoed)"]).to_rows()[0]
        o = it.outcomes("p", a)
        assert abs(row["P(vetoed)"] - o.vetoed) < 1e-12 and abs(row["P(stopped)"] - o.stopped) < 1e-12
    printed = expr_text(spec.ir.defs["y"].expr)
    assert printed == "if x == 0 then 1 else if x == 1 then 0.5 else if x < 4 then 2 else 0"
    (result,) = spec.check(timeout=60)
    assert result.status is Status.VIOLATED  # strength 1/4 at x = 1, 0 at x >= 4


def _ring(phases: int, horizon: int) -> str:
    """A ring of ``phases`` phases, each going on to the next, staying or stopping, and a
    refusal that goes on in the first phase: one move per target, whatever the phase count."""
    body = "\n".join(
        f"  phase p{i} {{ -> p{(i + 1) % phases} : 0.3 + 0.01 * {i % 7}  -> stop : 0.02 * exp(-0.1 * depth)"
        f"  -> p{i} : otherwise }}"
        for i in range(phases)
    )
    return f"""
substance {{ bad: bool }}
framing {{ tone: 0..2 }}
value ok = not bad
trajectory {{ horizon {horizon}  start p0
{body}
}}
policy p {{
  veto when bad and depth < 3 with strength 0.5
  veto when tone == 2 and depth == 4 with strength 0.25 then -> p0
}}
"""


def test_the_compiled_recurrence_counts_the_moves_of_many_phases_not_their_square(monkeypatch):
    # A ring of 300 phases has 600 moves a depth (next, stay) and one refusal phase shared by
    # all: its chunks are sized by those, as the compiled recurrence stores them, not by the
    # 90,000 pairs of states numpy's dense recurrence needs. A chunk of a model this wide
    # still spans FLOOR_DEPTHS depths, so the layers a solve builds grow with the phases, not
    # with their square.
    from libet.simulator import model as model_module
    from libet.simulator.model import Model, chunk_depths

    spec = libet.loads(_ring(300, 1000)).ir
    monkeypatch.setenv("LIBET_COMPILED", "1")
    m = Model(spec, "p")
    # each phase: the next and itself, and the refusal's p0, which is one of those in p0 and p299
    moves = 300 * 3 - 2
    assert m.entries() == moves
    assert m.entries(flags=4, refusals=True) == 4 * moves * 3
    U = m.n_classes
    assert chunk_depths(1000, U, 300, m.entries()) == model_module.FLOOR_DEPTHS
    monkeypatch.setenv("LIBET_COMPILED", "0")
    assert Model(spec, "p").entries() == 300 * 300
    assert Model(spec, "p").entries(flags=2, refusals=True) == 1200 * 1200
    monkeypatch.setenv("LIBET_COMPILED", "1")  # rationals always take numpy's recurrence
    assert Model(libet.loads(_ring(300, 100)).ir, "p", exact=True).entries() == 300 * 300


def test_chunk_depths_keep_their_floor_only_while_it_fits():
    from libet.simulator import model as model_module
    from libet.simulator.model import chunk_depths

    floor = model_module.FLOOR_DEPTHS
    assert chunk_depths(10, 1) == 10  # never past the horizon
    assert chunk_depths(10**6, 1, 1) == model_module.LAYER_STATES  # one phase: the layer bound
    # wide: the chunk bound would give a few depths; the floor holds while it fits
    assert chunk_depths(10**6, 2, 2000, 4000) == floor
    # wider still: the floor's own bounds on states and coefficients take over, down to one depth
    states = model_module.FLOOR_STATES
    assert chunk_depths(10**6, 2, states // (2 * 10), 1) == 10
    assert chunk_depths(10**6, 4, 10, model_module.FLOOR_ENTRIES // 20) == 5
    assert chunk_depths(10**6, 10**7, 10, 10) == 1
    # many classes and one phase: the floor never passes a layer's own bound (the cache)
    assert chunk_depths(10**6, 10**4, 1) == model_module.LAYER_STATES // 10**4


@pytest.mark.parametrize("floor", [3, 256])
def test_a_ring_of_many_phases_agrees_with_the_interpreter_in_chunks_of_a_few_depths(recurrence, monkeypatch, floor):
    # Chunks of 3 depths (the bounds made tiny, the floor at 3) or of the whole horizon: the
    # backward pass over 40 phases, a refusal that goes on, visit flags and the refusals'
    # count, each assignment against the interpreter
    from libet.simulator import model as model_module
    from libet.simulator import outcomes
    from libet.spec.interpreter import Interpreter

    monkeypatch.setattr(model_module, "CHUNK_STATES", 1)
    monkeypatch.setattr(model_module, "FLOOR_DEPTHS", floor)
    spec = libet.loads(_ring(40, 20)).ir
    measures = list(ms.STANDARD) + [ms.parse(m, spec.trajectory.phase_names) for m in ("E(refusals)", "P(visit p5)", "P(harm and visit p1)")]
    table = outcomes(spec, "p", measures=measures)
    interp = Interpreter(spec)
    for a in spec.assignments():
        want = interp.outcomes("p", a, visits=("p1", "p5"))
        for m in measures:
            w, g = want.measure(m), table.aggregate(m, fixed=a).value
            assert (w is None) == (g is None), (a, m)
            assert w is None or abs(g - w) <= 1e-9 * max(1.0, abs(w)), (a, str(m), g, w)


def _ruled(rules: int) -> str:
    """Two phases of :func:`_ring` at horizon 1,000, and ``rules`` more rules in its policy."""
    body = "\n".join(f"  veto when tone == {i % 3} and depth == {i % 1000} with strength 0.{i % 9 + 1}" for i in range(rules))
    return _ring(2, 1000).replace("policy p {", "policy p {\n" + body, 1)


def test_a_replay_is_weighed_by_the_rules_each_state_evaluates():
    # The interpreter's replay of a bound evaluates every rule at every state: 2 phases x
    # 1,000 depths x 6 assignments is cheap to replay with 12 rules and is replayed; with
    # 600 it would cost the interpreter 50 times as much and is not (the verdict stands,
    # from the exact engine alone), where counting states alone replayed both.
    from libet.results import Status
    from libet.simulator.checks import REPLAY_BUDGET, _replay_cost

    few, many = (libet.loads(_ruled(n) + "check p { P(harm) <= 0.9 }") for n in (10, 600))
    assert 6 * _replay_cost(few.ir, "p") <= REPLAY_BUDGET < 6 * _replay_cost(many.ir, "p")
    assert _replay_cost(many.ir, "p") >= 30 * _replay_cost(few.ir, "p")
    (r_few,), (r_many,) = few.check("p"), many.check("p")
    assert r_few.status is r_many.status is Status.PROVED
    assert r_few.proof.replayed and not r_many.proof.replayed


_TWINS = """
substance {{ bad: bool }}
framing {{ tone: 0..2 }}
value ok = not bad
trajectory {{ horizon 12  start a
  phase a {{ -> b : {prob}  -> stop : 0.1  -> a : otherwise }}
  phase b {{ -> c : {prob}  -> stop : 0.1  -> b : otherwise }}
  phase c {{ -> deliver : 0.5 + 0.1 * tone  -> a : otherwise }}
}}
policy p {{
  veto when bad and depth < 3 with strength {strength}
  veto when tone == 2 and depth == 4 with strength 0.25 then -> c
}}
"""


@pytest.mark.parametrize(
    "prob, strength, built",
    [
        ("0.3 + 0.01 * depth", "0.5", 2),  # a and b written the same: one layer for both, and c's
        ("if phase == a then 0.3 else 0.6", "0.5", 3),  # the same text, read in each phase
        ("0.3", "if phase == b then 0.9 else 0.5", 3),  # the rules differ by phase
    ],
)
def test_phases_written_the_same_share_a_layer_only_where_nothing_reads_the_phase(monkeypatch, prob, strength, built):
    from libet.simulator import model as model_module
    from libet.simulator import outcomes
    from libet.spec.interpreter import Interpreter

    calls = []
    build = model_module.PhaseLayer.build.__func__
    monkeypatch.setattr(model_module.PhaseLayer, "build", classmethod(lambda cls, ev, phase, *a: calls.append(phase.name) or build(cls, ev, phase, *a)))
    spec = libet.loads(_TWINS.format(prob=prob, strength=strength)).ir
    measures = list(ms.STANDARD) + [ms.parse(m, spec.trajectory.phase_names) for m in ("E(refusals)", "P(visit b)")]
    table = outcomes(spec, "p", measures=measures)
    assert len(calls) == built  # one block: the horizon is 12
    interp = Interpreter(spec)
    for a in spec.assignments():
        want = interp.outcomes("p", a, visits=("b",))
        for m in measures:
            w, g = want.measure(m), table.aggregate(m, fixed=a).value
            assert abs(g - w) <= 1e-12, (a, str(m), g, w)


def _inline(n: int) -> str:
    """Long flat shapes written inline (not behind a def, which every output names instead):
    a start depth, a value, and two rules of ``n`` terms each."""
    depth = " + ".join("0" for _ in range(n))
    value = " and ".join("(not bad or bad)" for _ in range(n))
    anyf = " or ".join(f"bad and f{i % 3}" for i in range(n))
    count = " + ".join(f"(if f{i % 3} then 1 else 0)" for i in range(n))
    return f"""
substance {{ bad: bool }}
framing {{ f0: bool  f1: bool  f2: bool }}
value ok = not bad and {value}
trajectory {{ horizon 4 start a at depth {depth} phase a {{ -> a : 0.5 -> stop : otherwise }} }}
policy p {{
  veto when violates ok and ({anyf} or bad) with strength 0.9
  veto when bad and {count} >= 0 with strength 0.5
}}
check p {{ invariant under framing }}
"""


def test_long_inline_expressions_are_shortened_where_people_read_them():
    """A graph's labels and a proof's lines show a long expression's start and how much is left
    out: `dot` refuses a quoted string past 16,384 characters (`libet graph -o g.svg` ended in
    an internal error), and a proof summary printed each rule whole, 100 KB a line. The JSON
    keeps every expression whole."""
    import re

    from libet.results import Status
    from libet.simulator.graph import graph_data, trajectory_graph
    from libet.spec.printer import SHOWN_CHARS, expr_text

    spec = libet.loads(_inline(2_000), "inline.libet")
    rule = spec.ir.policies["p"].rules[0]
    assert graph_data(spec.ir, "p")["veto"][0]["when"] == expr_text(rule.condition)
    assert len(expr_text(rule.condition)) > 16_384  # past what dot reads in one string
    g = trajectory_graph(spec.ir, "p")
    quoted = re.findall(r'"(?:[^"\\]|\\.)*"|<<.*?>>', g.source, flags=re.S)
    assert max(map(len, quoted)) < 4 * SHOWN_CHARS + 500  # the box of phase a holds both rules
    assert g.source.count("more characters)") == 3  # the start depth and the two rules
    (result,) = spec.prove(timeout=120)
    assert result.status is Status.PROVED
    lines = result.text().splitlines()
    assert max(map(len, lines)) < 2 * SHOWN_CHARS and sum("more characters)" in x for x in lines) == 3


@pytest.mark.skipif(shutil.which("dot") is None, reason="graphviz's dot is not installed (make install-dev installs it; CI has it)")
def test_dot_draws_the_graph_of_long_inline_expressions():
    """`dot` reads the shortened labels (it refused the whole ones: an internal error)."""
    from libet.simulator.graph import render, trajectory_graph

    spec = libet.loads(_inline(2_000), "inline.libet")
    assert render(trajectory_graph(spec.ir, "p"), "svg").startswith(b"<")


def test_shorten_keeps_short_text_and_says_what_it_left_out():
    from libet.spec.printer import shorten

    assert shorten("a + b", 10) == "a + b"
    text = " + ".join(str(i) for i in range(1000))
    short = shorten(text, 100)
    head = short.split(" …")[0]
    assert len(short) <= 100 and text.startswith(head) and text[len(head)] == " "  # cut at a space
    assert short.endswith(f"({len(text) - len(head):,} more characters)")


def test_a_value_reports_each_thing_it_may_not_read_once():
    """A value that reads framing variables in 2,000 places is three E030s (one per variable,
    at its first read, with a note counting the others), not 2,000; a value reading a chain of
    3,000 defs, each of the first 40 using the one before twice, is followed once per def (it
    was a RecursionError, and would have been 2^40 walks)."""
    src = _inline(2_000).replace(" and (not bad or bad)", " and (f0 or f1 or f2)")
    with pytest.raises(libet.SpecError) as info:
        libet.loads(src, "impure.libet")
    errors = [d for d in info.value.diagnostics if d.code == "E030"]
    assert [d.message for d in errors] == [f"reference value 'ok' reads the framing variable 'f{i}'" for i in range(3)]
    assert all(d.notes[0].message == "'ok' reads it at 1,999 other places too, the next here" for d in errors)
    assert len(info.value.render()) < 3_000

    chain = "\n".join(f"def d{i} = d{i - 1} and not d{i - 1}" if i < 40 else f"def d{i} = d{i - 1} or bad" for i in range(1, 3_000))
    base = f"substance {{ bad: bool }}\nframing {{ f0: bool }}\ndef d0 = bad\n{chain}\nvalue ok = not d2999\n"
    assert libet.loads(base + "policy p { veto when violates ok }\n", "defs.libet").ir.values["ok"]
    with pytest.raises(libet.SpecError) as info:
        libet.loads(base.replace("def d0 = bad", "def d0 = bad and f0") + "policy p { veto when violates ok }\n", "defs.libet")
    (e030,) = [d for d in info.value.diagnostics if d.code == "E030"]
    assert e030.message == "reference value 'ok' reads the framing variable 'f0' through the def 'd0'"


@settings(max_examples=200, deadline=None)
@given(st.data())
def test_grouping_rows_by_their_codes_is_grouping_them_by_their_values(data):
    """Model's classes of many assignments (a code per column's value, the columns' codes one
    integer per row) are the classes a dict of the rows gives, numbered in order of first
    appearance: masks, floats with -0.0 beside 0.0, constant columns, and keys past int64
    (many columns of many values), renumbered on the way."""
    import numpy as np

    from libet.simulator.model import _first_appearance, _group_rows

    n = data.draw(st.integers(1, 300))
    cols = []
    for _ in range(data.draw(st.integers(1, 12))):
        kind = data.draw(st.sampled_from(["mask", "few", "many", "constant"]))
        if kind == "mask":
            cols.append(np.array(data.draw(st.lists(st.booleans(), min_size=n, max_size=n))))
        elif kind == "constant":
            cols.append(np.full(n, data.draw(st.sampled_from([0.0, -0.0, 0.5]))))
        else:
            pool = [0.0, -0.0, 0.25, 1.0, 3.5] if kind == "few" else None
            values = st.sampled_from(pool) if pool else st.integers(0, 10**6).map(float)
            cols.append(np.array(data.draw(st.lists(values, min_size=n, max_size=n)), dtype=np.float64))
    reps, inverse = _group_rows(cols)
    want_reps, want_inverse = _first_appearance(map(tuple, np.stack(cols, axis=1).tolist()))
    assert reps.tolist() == want_reps.tolist() and inverse.tolist() == want_inverse.tolist()


def test_grouping_keys_past_int64_are_renumbered():
    import numpy as np

    from libet.simulator.model import _first_appearance, _group_rows

    rng = np.random.default_rng(3)
    n = 5_000
    cols = [rng.integers(0, 4_000, n).astype(np.float64) for _ in range(8)]  # 4,000^8 > 2^62
    cols.append(np.repeat(cols[0][:2_500], 2))  # rows that repeat, so some classes have two
    cols = [np.repeat(c[:2_500], 2) for c in cols]
    reps, inverse = _group_rows(cols)
    want_reps, want_inverse = _first_appearance(map(tuple, np.stack(cols, axis=1).tolist()))
    assert len(want_reps) < n and reps.tolist() == want_reps.tolist() and inverse.tolist() == want_inverse.tolist()


def _def_chain(n: int) -> str:
    """A chain of ``n`` defs, each using the last (and the one seven below), that the
    transition, a rule's condition, its strength and the start depth all read."""
    chain = "\n".join(f"def d{i} = d{i - 1} * 0.5 + d{max(0, i - 7)} * 0.25 + (if bad then 0.001 else 0)" for i in range(1, n))
    return f"""substance {{ bad: bool }}
framing {{ f: 0..3 }}
value ok = not bad
def d0 = f / 1000
{chain}
trajectory {{ horizon 3 start a at depth if d{n - 1} > 2 then 1 else 0 phase a {{ -> a : min(1, 0.5 + d{n - 1}) -> stop : otherwise }} }}
policy p {{ veto when bad and d{n // 2} > 0.001 with strength min(1, 0.5 + d{n - 1}) }}
check p {{ complete }}
"""


def test_a_long_def_chain_costs_its_length_in_every_pass(monkeypatch):
    """Each pass that follows a long chain of defs (the interpreter's compilation, the arrays,
    the Z3 encoding) walks it once from its top: the defs met on the way up do not each form
    the list of the defs below them (which made loading a chain of 8,000 defs 10.8 s, the
    square of its length), and Z3 encodes a rule that reads the chain without recursing
    through it (a RecursionError from about 500 defs)."""
    from libet.results import Status
    from libet.spec import reads as reads_module
    from libet.spec.interpreter import Interpreter

    calls = []
    closure = reads_module.Reads.def_closure

    def counted(self, name):
        calls.append(name)
        return closure(self, name)

    monkeypatch.setattr(reads_module.Reads, "def_closure", counted)
    n = 2_000
    spec = libet.loads(_def_chain(n), "chain.libet")
    row = spec.simulate("p", measures=["P(harm)", "P(stopped)"]).to_rows()[0]
    a = {"bad": True, "f": 2}
    assert abs(row["P(stopped)"] - sum(
        Interpreter(spec.ir).outcomes("p", {"bad": b, "f": f}).stopped for b in (True, False) for f in range(4)) / 8) < 1e-12
    (result,) = spec.check(timeout=120)
    assert result.status is Status.VIOLATED  # the strength 0.5 + d1999 is below 1
    assert Interpreter(spec.ir).veto_probability("p", a, "a", 0) < 1
    # the chain is walked from the defs the expressions name (d1999 and d1000) alone, never
    # from one of the 2,000 defs below them
    assert calls and set(calls) <= {f"d{n - 1}", f"d{n // 2}"}, sorted(set(calls))


def test_z3_reads_rationals_of_more_than_4300_digits():
    """Exact arithmetic on a spec's numbers (a chain of a thousand products by 0.999999) makes
    rationals Python will not print by default; Z3 reads them (it was an internal error)."""
    from fractions import Fraction

    import z3

    from libet.proofs.domains import INT_ENCODING, Domains

    spec = libet.loads("substance { a: bool }\nvalue ok = a\n").ir
    dom = Domains(spec, INT_ENCODING, z3.Context(), None)
    q = Fraction(999_999, 10**6) ** 1_000
    s = z3.Solver(ctx=dom.ctx)
    s.add(dom.real_val(q) > 0, dom.real_val(q) < 1)
    assert s.check() == z3.sat and q.denominator > 10**4_300


def _booleans(n: int) -> str:
    """A state of ``n`` booleans, each flipped at every step: 2^n valuations."""
    flags = "  ".join(f"s{i}: bool = false" for i in range(n))
    flips = ", ".join(f"s{i} = not s{i}" for i in range(n))
    return f"""
substance {{ bad: bool }}
value ok = not bad
state {{ {flags} }}
trajectory {{
  horizon 8 then stop
  start turn
  phase turn {{ -> deliver : 0.1  -> stop : 0.05  -> turn : otherwise then {flips} }}
}}
policy p {{ veto when violates ok and s0 }}
"""


def test_a_state_of_seventy_booleans_is_counted_not_listed():
    """2^70 valuations: loading counts them (the updates' check is over the budget, W103) and
    the exact engine refuses the model before building anything, naming the largest variables.
    Both used to list every valuation first, and `libet check` of 30 booleans ran out of 24 GiB."""
    from libet.simulator.layered import Valuations
    from libet.spec.semantics import _valuations

    loaded = libet.loads(_booleans(70))
    spec = loaded.ir
    assert _valuations(spec, [spec.trajectory.phases[0].transitions[2].updates[0].expr]).count == 2
    every = _valuations(spec, [u.expr for u in spec.trajectory.phases[0].transitions[2].updates])
    assert every.count == 2**70
    assert [d.code for d in loaded.warnings] == ["W103"]
    val = Valuations(spec)
    assert val.count == 2**70 and "digits" not in vars(val)  # nothing of that size was built
    assert val.key(2**70 - 1) == (True,) * 70 and val.key(1) == (False,) * 69 + (True,)
    with pytest.raises(libet.UsageError, match=r"1,180,591,620,717,411,303,424 valuations") as exc:
        loaded.simulate()
    assert "s0 (2), s1 (2), s2 (2), s3 (2), s4 (2), s5 (2) and 64 more" in exc.value.hint
    # a state small enough is still solved: a harmful request (half of them) is delivered at
    # depth 0 with 0.1, and vetoed at depth 1 (s0 flipped to true) if it got that far
    small = libet.loads(_booleans(3))
    assert small.simulate().to_rows()[0]["P(harm)"] == pytest.approx(0.5 * 0.1)


SWEEP = """spec "a large sweep"
substance { topic: {weapons, cooking} }
framing { prefill: 0..120  persona: 0..120 }
value no_weapons = topic != weapons
trajectory {
  horizon 32
  start answer at depth min(prefill, 30)
  phase answer { -> answer : 1 - 0.5 * exp(-0.1 * depth)  -> stop : otherwise }
}
policy shallow { veto when violates no_weapons and depth < 5 and persona < 60 }
policy deep { veto when violates no_weapons }
experiment grid {
  policies shallow, deep
  vary prefill over 0..120
  vary persona over 0..120
  worst over topic
  measure P(harm), P(harm | delivered)
}
"""


def test_a_sweep_of_many_points_is_read_from_its_tables_at_once(tmp_path, monkeypatch):
    """29,282 rows (two policies over 121 x 121 points): every row is the table's aggregate at
    its point, the terminal shows the first 200 rows and says where the rest are, and the plot
    draws 12 of the 121 panels."""
    from click.testing import CliRunner

    from libet.cli import main
    from libet.commands import simulate
    from libet.simulator.exact import solve
    from libet.simulator.model import Model
    from libet.simulator.plots import FACETS_DRAWN, figure

    (tmp_path / "s.libet").write_text(SWEEP)
    spec = libet.load(str(tmp_path / "s.libet"))
    result = spec.experiment("grid")
    assert len(result.rows) == 2 * 121 * 121
    measures = (ms.HARM, ms.parse("P(harm | delivered)", ("answer",)))
    for policy in ("shallow", "deep"):
        table = solve(Model(spec.ir, policy, keep=("prefill", "persona", "topic")), measures)
        rows = [r for r in result.rows if r["policy"] == policy]
        for r in rows[:: 97] + rows[-3:]:
            for m in measures:
                want = table.aggregate(m, fixed={"prefill": r["prefill"], "persona": r["persona"]},
                                       worst_over=("topic",)).value
                assert r[m.text] == want, (policy, r, m.text)
    monkeypatch.setenv("COLUMNS", "200")
    out = CliRunner().invoke(main, ["simulate", str(tmp_path / "s.libet"), "--experiment", "grid"]).output
    assert f"the first {simulate.ROWS_SHOWN} of 29,282 rows; --out DIR writes every row" in out
    assert out.count("│ shallow") + out.count("│ deep") == simulate.ROWS_SHOWN
    fig = figure(result, "P(harm)")
    drawn = [ax.get_title() for ax in fig.axes if ax.get_visible()]
    assert len(drawn) == FACETS_DRAWN and drawn[0] == "persona = 0" and drawn[-1] == "persona = 120"
    assert "by persona (12 of its 121 values)" in fig._suptitle.get_text()


def test_an_experiment_of_too_many_rows_is_refused_when_checked():
    """Each sweep within its limit, their product times the policies past the row limit: E060
    at the experiment's name, with every factor, before anything is built."""
    from libet.errors import SpecError
    from libet.spec.checker_experiments import MAX_ROWS

    text = """spec "too many rows"
framing { k: 0..199 }
param gain = 0.5 in [0, 1]
trajectory { horizon 4  start a at depth min(k, 3)  phase a { -> a : gain  -> deliver : otherwise } }
policy p { veto when false }
policy q { veto when true }
experiment big {
  policies p, q
  vary gain over 0..1 step 0.0001
  vary k over 0..199
}
experiment wide {
  policies p
  vary gain over 0..1 step 0.000001
}
"""
    with pytest.raises(SpecError) as info:
        libet.loads(text)
    got = [(d.code, d.span.line, d.message, d.hint) for d in info.value.diagnostics if d.severity == "error"]
    assert got == [
        ("E060", 7, f"experiment 'big' has 4,000,400 rows (2 policies x 10,001 values of gain x 200 values of k); "
                    f"the limit is {MAX_ROWS:,}", "sweep fewer values (a larger `step`), or split the sweep into experiments"),
        ("E060", 14, "the sweep has 1,000,001 points; the limit is 100,000", "sweep fewer values, e.g. with a larger `step`"),
    ]


def test_a_table_too_large_is_refused_in_a_message_people_can_read():
    """200 substance variables of 4 values: the refusal names the count of variables, the
    largest of them and the order of the size, not 201 factors and a 122-digit number. Read by
    the policy, they are the dynamics; read only by the value, the outcome table."""
    from libet.errors import UsageError
    from libet.simulator.model import Model

    decls = "  ".join(f"v{i}: 0..3" for i in range(200))
    rule = " or ".join(f"v{i} == 3" for i in range(200))
    digits = str(10 * 4**200)
    largest = ("201 variables, the largest big (10), v0 (4), v1 (4), v2 (4), v3 (4), v4 (4) and 195 more of 4 values "
               f"or fewer: about {digits[0]}.{digits[1:3]}e{len(digits) - 1}")
    for veto, start in (("violates ok and big > 2", "model too large: the dynamics of policy 'p' read "),
                        ("big > 2", "model too large: the outcome table has an axis for each of ")):
        spec = libet.loads(f"""substance {{ {decls}  big: 0..9 }}
value ok = not ({rule})
trajectory {{ horizon 2  start go  phase go {{ -> deliver : 1 }} }}
policy p {{ veto when {veto} }}
""").ir
        with pytest.raises(UsageError) as info:
            Model(spec, "p")
        msg = str(info.value)
        assert msg.startswith(start + largest), msg
        assert msg.endswith("TiB (limit 8.0 GiB)") and len(msg) < 300


def _long_index_calls(work, size: int) -> int:
    """How many times ``work()`` calls ``tuple.index`` on a tuple of at least ``size`` items: a
    scan of a whole domain, which per value makes a pass quadratic in the domain."""
    import sys

    calls = 0

    def watch(frame, event, arg):
        nonlocal calls
        if event == "c_call" and getattr(arg, "__name__", "") == "index":
            owner = getattr(arg, "__self__", None)
            if isinstance(owner, tuple) and len(owner) >= size:
                calls += 1

    sys.setprofile(watch)
    try:
        work()
    finally:
        sys.setprofile(None)
    return calls


def test_an_enum_of_many_members_costs_one_pass_over_them():
    """An enum of 3,000 members that the dynamics read: the model, the static checks, the
    replay and the PRISM export each look a member's position up, not scan the members for it
    (each scanned them per member: an enum of 100,000 took 196 s to simulate, 148 s to export)."""
    from libet.results import Status
    from libet.simulator.prism import to_prism

    n = 3_000
    members = ", ".join(f"t{i}" for i in range(n))
    src = f"""substance {{ topic: {{{members}}} }}
value ok = topic != t7
trajectory {{ horizon 5 start a phase a {{ -> a : if topic in {{t5, t9, t2999}} then 0.5 else 0.4 -> stop : otherwise }} }}
policy p {{ veto when violates ok and depth < 3 with strength 0.5 }}
check p {{ P(harm) <= 0.5 }}
"""
    spec = {}
    assert _long_index_calls(lambda: spec.setdefault("s", libet.loads(src, "enum.libet")), n) == 0
    spec = spec["s"]
    results = []
    assert _long_index_calls(lambda: results.extend(spec.check(timeout=60)), n) == 0
    (r,) = results
    assert r.status is Status.PROVED and r.proof.replayed  # 3,000 x 5 states: within the replay budget
    text = []
    assert _long_index_calls(lambda: text.append(to_prism(spec.ir, "p")), n) == 0
    assert "(v_topic = 5 | v_topic = 9 | v_topic = 2999)" in text[0]
    assert len(spec.ir.memo["positions"]._kept) == 1  # one table for the one enum, shared


def test_a_long_enum_is_named_by_its_ends_and_weighed_member_by_member():
    n = 2_000
    members = ", ".join(f"t{i}" for i in range(n))
    weights = ", ".join(f"t{i}: {({7: '0.001', 8: '0'}).get(i, '0.0005')}" for i in range(n))
    src = f"substance {{ topic: {{{members}}} weights {{{weights}}} }}\nvalue ok = topic != t7\n"
    var = libet.loads(src).ir.variables["topic"]
    assert str(var.domain) == "{t0, t1, t2, t3, t4, t5, t6, t7, t8, t9, ... 1,989 more ..., t1999}"
    assert "t1999" in var.domain and "t2000" not in var.domain and [] not in var.domain
    assert var.probability("t7") == Fraction(1, 1000) and var.probability("t8") == 0
    assert var.probability("t1999") == Fraction(1, 2000)
    with pytest.raises(libet.SpecError) as info:
        libet.loads(src.replace("topic != t7", "topic != t2000"))
    (d,) = info.value.diagnostics
    assert d.message == "'t2000' is not a value of the enum {t0, t1, t2, t3, t4, t5, t6, t7, t8, t9, ... 1,989 more ..., t1999}"


def _score(n: int) -> str:
    return " + ".join(f"(if f{i} then 0.001 else 0)" for i in range(n))


def _wide(n: int, rest: str) -> str:
    """A spec of ``n`` framing booleans, each adding to the phase's probability (the phase
    reads them all), with policy p vetoing what violates ``ok``; ``rest`` follows it."""
    framing = " ".join(f"f{i}: bool" for i in range(n))
    score = _score(n)
    return f"""substance {{ bad: bool }}
framing {{ {framing} }}
value ok = not bad
trajectory {{ horizon 3 start a phase a {{ -> a : min(1, 0.5 + {score}) -> stop : otherwise }} }}
policy p {{ veto when violates ok }}
{rest}"""


def test_a_transition_reading_seventy_booleans_is_proved_not_an_overflow():
    """The positivity table of a transition over 2^70 inputs is not built (past its limit), and
    counting them is exact: Python's len() of that many was an OverflowError, reported as an
    internal error by `libet prove`. The W103 of the static checks counts them by their order."""
    from libet.results import Status

    spec = libet.loads(_wide(70, "check p { invariant under framing  complete  safe }\n"))
    assert [r.status for r in spec.prove(timeout=60)] == [Status.PROVED] * 3
    # its probability lies in [0.5, 0.57] at all 2^70 states, as the bounds show: no W103
    assert not [d for d in spec.warnings if d.code == "W103"]
    # written without `otherwise`, the bounds cannot show the two sum to 1
    complement = _wide(70, "").replace("-> stop : otherwise", "-> stop : 0.5 - (" + _score(70) + ")")
    (w,) = [d for d in libet.loads(complement).warnings if d.code == "W103"]
    assert "about 1.18e21 states" in w.message  # 2^70: the phase reads the framing only


def test_a_model_reading_more_variables_than_numpy_has_axes_is_refused_in_words():
    """The outcome table has an axis per variable the model reads, fixed ones included, and
    numpy arrays at most 64: seventy booleans, all fixed (one assignment), were an internal
    ValueError; they are a refusal that says so and what to do."""
    from libet.errors import UsageError
    from libet.simulator.model import MAX_AXES

    spec = libet.loads(_wide(70, ""))
    with pytest.raises(UsageError, match=f"reads 71 .*at most {MAX_AXES} axes, fixed variables included") as err:
        spec.simulate("p", fixed={f"f{i}": False for i in range(70)})
    assert "folding several booleans into one enum" in err.value.hint


def _counter(domain: int, step: str, horizon: int = 10) -> str:
    """A counter ``n: 0..domain`` that each step moves by ``step``, read by the veto."""
    return f"""
substance {{ bad: bool }}
state {{ n: 0..{domain} = 0  m: 0..1000 = 0 }}
value ok = not bad
trajectory {{
  horizon {horizon}
  start a
  phase a {{ -> a : 0.9 then n = {step}, m = min(m + 1, 1000)  -> stop : otherwise }}
}}
policy p {{ veto when bad and n >= 3 with strength 0.5 }}
"""


def test_the_layered_engine_lays_out_only_the_reachable_valuations():
    """Crescendo with `refusals: 0..100000` (its updates stop it at 3) at horizon 100 took 38 s
    and 350 MB laying out 500,005 valuations at every depth; it lays out the 20 a conversation
    can reach, and its values are the example's at the same horizon."""
    from libet.simulator.layered import Layers
    from libet.simulator.model import Model

    with open("examples/crescendo.libet") as fh:
        text = fh.read().replace("horizon 10 then stop", "horizon 100 then stop")
    wide = libet.loads(text.replace("refusals: 0..3 = 0", "refusals: 0..100000 = 0"), "examples/crescendo.libet")
    narrow = libet.loads(text, "examples/crescendo.libet")
    val = Layers(Model(wide.ir, "per_message")).val
    assert (val.declared, val.count, val.sizes) == (500_005, 20, [5, 4])
    for policy in ("per_message", "on_substance"):
        a, b = wide.simulate(policy).to_rows(), narrow.simulate(policy).to_rows()
        assert a == b


def test_an_update_out_of_its_domain_where_no_trajectory_goes_is_no_error():
    """`n = n + 1` leaves 0..300000 only at n = 300000, which ten steps never reach; the
    checker's budget does not reach the updates (W103). The engine indexed past its arrays there
    (an internal IndexError); it solves, to the interpreter's values."""
    from libet.spec.interpreter import Interpreter

    loaded = libet.loads(_counter(300_000, "n + 1"))
    assert [d.code for d in loaded.warnings] == ["W103"]
    got = loaded.simulate("p", fixed={"bad": True}).to_rows()[0]
    want = Interpreter(loaded.ir).outcomes("p", {"bad": True})
    assert got["P(harm)"] == pytest.approx(float(want.harm), abs=1e-12)
    assert got["P(vetoed)"] == pytest.approx(float(want.vetoed), abs=1e-12)


def test_an_update_out_of_its_domain_on_a_trajectory_is_the_interpreters_error():
    """`n = n + 200` leaves 0..1000 at the sixth step: the engine marks the move there and the
    interpreter reports it, with the state. Before, the engine indexed past its arrays (an
    internal IndexError), and `n = n - 200` (below 0 at the first step) was a negative index,
    which numpy wraps around: a probability computed from other valuations, and no error."""
    loaded = libet.loads(_counter(1000, "n + 200"))
    assert [d.code for d in loaded.warnings] == ["W103"]
    with pytest.raises(libet.EvaluationError, match=r"sets 'n' to 1200, outside its domain 0\.\.1000 .*depth 5"):
        loaded.simulate("p")
    below = libet.loads(_counter(1000, "n - 200"))
    with pytest.raises(libet.EvaluationError, match=r"sets 'n' to -200, outside its domain 0\.\.1000 .*depth 0"):
        below.simulate("p")


def test_a_choice_of_many_options_does_not_blow_up_the_reachable_search():
    """An adversary choosing among 100,000 values at each of the valuations met: the search
    for the reachable box would form (valuations met x options) at once, 74.5 GiB here; past
    its limit it gives up, and the declared layout is refused in words."""
    src = """
substance { topic: {everyday, weapons} }
state { enc: 0..99999 = 0  level: 0..99 = 0 }
value ok = topic != weapons
trajectory {
  horizon 20 then stop
  start turn
  phase turn {
    choose enc
    -> deliver : if enc == 5 then 0.2 else 0.1
    -> turn : 0.5 then level = min(level + 1, 99)
    -> stop : otherwise
  }
}
policy keyword { veto when violates ok and enc == 0 }
"""
    with pytest.raises(libet.UsageError, match=r"model too large: .*10,000,000 valuations of the state") as exc:
        libet.loads(src).simulate(fixed={"topic": "weapons"})
    assert "enc (100,000), level (100)" in exc.value.hint
