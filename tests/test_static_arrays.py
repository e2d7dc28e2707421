"""The static checks over numpy arrays (spec/semantics.py: a phase's probabilities by
``_marks_over_arrays`` then ``_replay_marks``, a rule's strength by ``_rule_marks`` then
``_replay_rule_marks``) report exactly what the one-state-at-a-time check with the interpreter
reports: the same diagnostics, at the same first state, on specs whose probabilities leave
[0, 1], do not sum to 1, or have no value at some states, and whose strengths leave [0, 1] or
have no value where their rule fires."""

from __future__ import annotations

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import libet
from libet.spec import checker, semantics
from libet.spec.interpreter import Interpreter

CONSTANTS = ["0", "0.25", "0.5", "1", "1.5", "(-0.25)", "1.0000000009995", "0.9999999990005", "2"]
FORMS = [
    "{a}",
    "{a} + {b} * depth / {H}",
    "{a} + {b} * x",
    "if depth > {k} then {a} else {b}",
    "min(1, {a} / (x - {kx}))",
    "{a} * log(depth + {k})",
    "{a} * exp({c} * depth)",
    "pow({a}, depth - {k})",
    "if x == {kx} and depth == {k} then {b} else {a}",
    # ints past int64, and an int past 2^53 against a real: every way computes them exactly
    "if x * 4611686018427387904 - {kx} * 4611686018427387904 >= 0 then {a} else {b}",
    "if x * 1000000000000000001 > {kx} * 1000000000000000000.0 then {a} else {b}",
]


@st.composite
def _expr(draw, H: int, x_hi: int) -> str:
    form = draw(st.sampled_from(FORMS))
    return form.format(
        a=draw(st.sampled_from(CONSTANTS)),
        b=draw(st.sampled_from(CONSTANTS)),
        c=draw(st.sampled_from(["0.5", "5", "50"])),
        k=draw(st.integers(-2, H + 2)),
        kx=draw(st.integers(0, x_hi + 1)),
        H=H,
    )


@st.composite
def wild_specs(draw) -> str:
    H = draw(st.integers(1, 40))
    x_hi = draw(st.integers(0, 4))
    phases = []
    n = draw(st.integers(1, 3))
    for i in range(n):
        lines = [f"-> p{(i + 1) % n} : {draw(_expr(H, x_hi))}"]
        if draw(st.booleans()):
            lines.append(f"-> deliver : {draw(_expr(H, x_hi))}")
        lines.append("-> stop : otherwise" if draw(st.booleans()) else f"-> stop : {draw(_expr(H, x_hi))}")
        phases.append(f"  phase p{i} {{ " + "  ".join(lines) + " }")
    body = "\n".join(phases)
    k, kx = draw(st.integers(-2, H + 2)), draw(st.integers(0, x_hi + 1))
    when = draw(st.sampled_from(["true", f"x >= {kx}", f"depth > {k}", f"phase == p0 and x != {kx}"]))
    return f"""spec "wild"
substance {{ x: 0..{x_hi} }}
value ok = x < 100
trajectory {{
  horizon {H}
  start p0
{body}
}}
policy p {{
  veto when violates ok with strength 0.5
  veto when {when} with strength {draw(_expr(H, x_hi))}
}}
"""


def _without_bounds(monkeypatch) -> None:
    """The bounds (spec/bounds.py) settle nothing: every phase and rule is checked as planned,
    state by state or over arrays, as these tests of the plan and the arrays need."""
    from libet.spec.bounds import Bounds

    monkeypatch.setattr(Bounds, "probabilities_settled", lambda self, phase: False)
    monkeypatch.setattr(Bounds, "strength_settled", lambda self, rule: False)


def _diagnostics(src: str):
    from libet.spec.loader import load_text

    return [(d.code, d.message, d.span) for d in load_text(src, "wild.libet").diagnostics]


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(wild_specs())
def test_over_arrays_the_check_reports_what_the_interpreter_reports(src):
    """The same diagnostics over arrays, one state at a time (the bounds settling nothing in
    either) and as loading makes them, the bounds settling what they can."""
    from libet.spec.bounds import Bounds

    with_bounds = _diagnostics(src)
    saved = checker.VECTOR_MIN, checker.VECTOR_PHASE_MIN, checker.VECTOR_BUDGET, semantics._numpy_imported
    bounds = Bounds.probabilities_settled, Bounds.strength_settled
    try:
        Bounds.probabilities_settled = Bounds.strength_settled = lambda self, x: False
        checker.VECTOR_MIN, checker.VECTOR_PHASE_MIN, checker.VECTOR_BUDGET = 0, 0, 10**9  # every phase over arrays
        over_arrays = _diagnostics(src)
        checker.VECTOR_BUDGET = 0  # every phase one state at a time (the plan's, and with no numpy in sight)
        semantics._numpy_imported = lambda: False
        one_at_a_time = _diagnostics(src)
    finally:
        checker.VECTOR_MIN, checker.VECTOR_PHASE_MIN, checker.VECTOR_BUDGET, semantics._numpy_imported = saved
        Bounds.probabilities_settled, Bounds.strength_settled = bounds
    assert over_arrays == one_at_a_time
    # the bounds only ever spare a check that finds nothing, and its W103 when it was skipped
    assert with_bounds == [d for d in one_at_a_time if d[0] != "W103"] or with_bounds == one_at_a_time


WRONG_DEEP = """spec "deep"
substance { x: 0..3 }
value ok = x < 100
trajectory {
  horizon 6000
  start p0
  phase p0 { -> p1 : if x == 2 and depth == 4321 then 1.5 else 0.5  -> stop : otherwise }
  phase p1 { -> p0 : 0.5  -> stop : otherwise }
}
policy p { veto when violates ok with strength 0.5 }
"""


def test_a_deep_wrong_state_is_found_and_only_it_is_replayed(monkeypatch):
    calls = []
    real = Interpreter.transitions

    def counting(self, assignment, phase, depth):
        calls.append((dict(assignment), phase, depth))
        return real(self, assignment, phase, depth)

    monkeypatch.setattr(Interpreter, "transitions", counting)
    valid = WRONG_DEEP.replace("1.5", "0.25")
    # valid everywhere, as the bounds show: p0's probability lies in [0.25, 0.5] and p1's is
    # 0.5, so the interpreter is asked about nothing
    assert not libet.loads(valid).warnings and calls == []
    _without_bounds(monkeypatch)
    # p1's probabilities read nothing: one state, asked of the interpreter; p0's are 24,000 (over
    # checker.VECTOR_MIN, so over arrays), where nothing is replayed
    assert not libet.loads(valid).warnings and calls == [({}, "p1", 0)]
    calls.clear()
    from libet.spec.loader import load_text

    loaded = load_text(WRONG_DEEP, "deep.libet")
    errors = [d for d in loaded.diagnostics if d.is_error]
    assert [d.code for d in errors] == ["E041"]
    assert "depth 4321" in errors[0].message and "x=2" in errors[0].message
    assert errors[0].span.line == 7
    assert calls == [({"x": 2}, "p0", 4321), ({}, "p1", 0)]  # p0 over arrays: one replay


NEAR = """spec "near"
trajectory {
  horizon 40
  start p0
  phase p0 { -> p0 : if depth >= 0 then 1.0000000009995 else 0  -> stop : otherwise }
}
policy p { veto when depth > 100 with strength 0.5 }
"""


def test_states_near_a_bound_are_replayed_and_a_cap_on_replays_is_said(monkeypatch):
    from libet.spec.loader import load_text

    monkeypatch.setattr(checker, "VECTOR_MIN", 0)
    monkeypatch.setattr(checker, "VECTOR_PHASE_MIN", 0)
    # within the interpreter's tolerance, and within 1e-12 of it: replayed, and valid
    assert [d.code for d in load_text(NEAR, "near.libet").diagnostics] == []
    monkeypatch.setattr(semantics, "_REPLAYS", 3)
    warned = [d for d in load_text(NEAR, "near.libet").diagnostics]
    assert [d.code for d in warned] == ["W103"]
    assert "within 1e-12 of a bound" in warned[0].message and "first 3" in warned[0].message


def test_the_plan_names_exactly_the_phases_left_with_w103(monkeypatch):
    """proofs/wellformed.py asks Z3 about the phases ``transition_plan`` calls skipped: they
    must be the phases the checker warned about, whatever the budgets leave."""
    import re

    from test_scale import _ten_phases

    from libet.spec.loader import load_text

    src = _ten_phases(100_000)
    for vector_budget in (0, 250_000, 10**9):
        monkeypatch.setattr(checker, "VECTOR_BUDGET", vector_budget)
        loaded = load_text(src, "ten.libet")
        plan = semantics.transition_plan(loaded.spec)
        warned = {m.group(1) for d in loaded.diagnostics if d.code == "W103"
                  for m in [re.match(r"the probabilities of phase '(\w+)'", d.message)] if m}
        skipped = {q for q, how in plan.items() if how == "skipped"}
        assert skipped == warned
        assert len(skipped) == {0: 9, 250_000: 7, 10**9: 0}[vector_budget], plan


def _with_numpy(monkeypatch) -> None:
    """numpy imported, as these tests assume: run alone (or first on a worker) nothing has
    imported it yet, and the checker would then not use arrays for a phase planned for the
    interpreter."""
    import numpy  # noqa: F401

    monkeypatch.setattr(semantics, "_numpy_imported", lambda: True)


def test_with_numpy_imported_a_phase_planned_for_the_interpreter_goes_over_arrays(monkeypatch):
    """A phase of 4,000 states is planned for the interpreter (the spec is under VECTOR_MIN),
    but with numpy already imported it is checked over arrays: the interpreter is asked only
    about the marked state. Without numpy it is asked about every state up to the bad one.
    Both report the same error."""
    from libet.spec.loader import load_text

    _with_numpy(monkeypatch)
    src = WRONG_DEEP.replace("horizon 6000", "horizon 1000").replace("depth == 4321", "depth == 777")
    calls = []
    real = Interpreter.transitions

    def counting(self, assignment, phase, depth):
        calls.append((dict(assignment), phase, depth))
        return real(self, assignment, phase, depth)

    valid = libet.loads(src.replace("1.5", "0.25")).ir  # the plan is the same: sizes alone
    assert semantics.transition_plan(valid) == {"p0": "interpreter", "p1": "interpreter"}
    monkeypatch.setattr(Interpreter, "transitions", counting)
    loaded = load_text(src, "deep.libet")
    shown = [(d.code, d.message, d.span) for d in loaded.diagnostics]
    assert [c for c, *_ in shown] == ["E041"] and "depth 777" in shown[0][1]
    assert calls == [({"x": 2}, "p0", 777)]  # p0 over arrays: one replay; p1 settled by its bounds
    calls.clear()
    monkeypatch.setattr(semantics, "_numpy_imported", lambda: False)
    assert [(d.code, d.message, d.span) for d in load_text(src, "deep.libet").diagnostics] == shown
    assert len(calls) == 2 * 1000 + 778  # x = 0, 1 at every depth, x = 2 up to 777


def test_with_numpy_imported_a_phase_the_arrays_leave_undecided_goes_to_the_interpreter(monkeypatch):
    """More near-bound states than are replayed: a phase the plan gave the arrays says W103, one
    it gave the interpreter is checked state by state instead, with no warning, as it would be
    without numpy."""
    from libet.spec.loader import load_text

    _with_numpy(monkeypatch)
    src = NEAR.replace("horizon 40", "horizon 400")
    monkeypatch.setattr(semantics, "_REPLAYS", 3)
    assert semantics.transition_plan(load_text(src, "near.libet").spec) == {"p0": "interpreter"}
    calls = []
    real = Interpreter.transitions

    def counting(self, assignment, phase, depth):
        calls.append(depth)
        return real(self, assignment, phase, depth)

    monkeypatch.setattr(Interpreter, "transitions", counting)
    assert [d.code for d in load_text(src, "near.libet").diagnostics] == []
    assert calls == [0, 1, 2] + list(range(400))  # three replays, then every state
    monkeypatch.setattr(checker, "VECTOR_MIN", 0)  # planned for the arrays: they say W103
    assert [d.code for d in load_text(src, "near.libet").diagnostics] == ["W103"]


def test_phases_sharing_subterms_report_what_the_interpreter_reports(monkeypatch):
    """Ten phases over the same depths share one Block per chunk (a subterm they have in common
    is evaluated once); two of them are wrong at some states, in different ways. Over arrays
    the diagnostics are those of the one-state-at-a-time check: each phase's first bad state."""

    body = []
    for i in range(10):
        p = f"0.3 * exp(-0.001 * depth) + 0.0{i}"
        if i == 3:
            p = f"if depth == 777 and x == 1 then 1.5 else {p}"
        if i == 6:
            p = f"{p} + 0.01 * log(depth - 900)"
        body.append(f"  phase p{i} {{ -> p{(i + 1) % 10} : {p}  -> stop : otherwise }}")
    src = (
        'spec "shared"\nsubstance { x: 0..2 }\nvalue ok = x < 100\ntrajectory {\n  horizon 2000\n  start p0\n'
        + "\n".join(body)
        + "\n}\npolicy p { veto when violates ok with strength 0.5 }\n"
    )
    monkeypatch.setattr(checker, "VECTOR_MIN", 0)
    over_arrays = _diagnostics(src)
    assert [code for code, *_ in over_arrays] == ["E041", "E044"]
    assert "depth 777" in over_arrays[0][1] and "x=1" in over_arrays[0][1]
    monkeypatch.setattr(checker, "VECTOR_BUDGET", 0)
    monkeypatch.setattr(semantics, "_numpy_imported", lambda: False)
    assert _diagnostics(src) == over_arrays


WRONG_RULE = """spec "rule"
substance { x: 0..3 }
framing { f: 0..9 }
value ok = x < 100
trajectory {
  horizon 3000
  start p0
  phase p0 { -> p0 : 0.9  -> stop : otherwise }
}
policy p {
  veto when f > 2 with strength if x == 1 and f == 7 and depth == 2345 then 1.5 else 0.01 * f
}
"""


def test_a_rule_strength_wrong_at_one_deep_state_is_found_over_arrays_and_only_it_is_replayed(monkeypatch):
    """A strength read at 4 x 10 x 3,000 = 120,000 states (over VECTOR_MIN: over arrays); the one
    bad state is the only one the interpreter is asked about, and the error is the one the
    one-state-at-a-time check reports."""

    assert semantics.strength_plan(libet.loads(WRONG_RULE.replace("1.5", "0.5")).ir) == {("p", 0): "arrays"}
    calls = []
    real = Interpreter.compile

    def counting(self, e):
        fn = real(self, e)
        return lambda a, d, p: (calls.append((dict(a), d)), fn(a, d, p))[1]

    monkeypatch.setattr(Interpreter, "compile", counting)
    over_arrays = _diagnostics(WRONG_RULE)
    assert [code for code, *_ in over_arrays] == ["E042"]
    assert "depth 2345" in over_arrays[0][1] and "x=1" in over_arrays[0][1] and "f=7" in over_arrays[0][1]
    # the rule's condition and strength at the one marked state (p0's constant 0.9 reads nothing)
    assert {(tuple(sorted(a.items())), d) for a, d in calls if a} == {((("f", 7), ("x", 1)), 2345)}
    monkeypatch.setattr(Interpreter, "compile", real)
    monkeypatch.setattr(checker, "VECTOR_BUDGET", 0)
    monkeypatch.setattr(checker, "ENUMERATION_BUDGET", 10**6)  # room for 120,000 states, each counted twice
    monkeypatch.setattr(semantics, "_numpy_imported", lambda: False)
    assert _diagnostics(WRONG_RULE) == over_arrays


def test_the_strength_plan_names_exactly_the_rules_left_with_w103(monkeypatch):
    """proofs/wellformed.py asks Z3 about the rules ``strength_plan`` calls skipped: they must
    be the rules the checker warned about, whatever the budgets leave."""
    from libet.spec.loader import load_text

    src = WRONG_RULE.replace("1.5", "0.5").replace(
        "0.01 * f\n}", "0.01 * f\n  veto when f < 2 with strength 0.001 * f * depth / 3000\n  veto when x == 0 with strength 0.25\n}")
    # the bounds settle every rule (each strength lies in [0, 0.5]): nothing is left with W103
    assert not [d for d in load_text(src, "rule.libet").diagnostics if d.code == "W103"]
    _without_bounds(monkeypatch)
    for budget, vector_budget, skipped in ((200_000, 0, {("p", 0)}), (10_000, 0, {("p", 0), ("p", 1)}),
                                           (200_000, 10**9, set())):
        monkeypatch.setattr(checker, "ENUMERATION_BUDGET", budget)
        monkeypatch.setattr(checker, "VECTOR_BUDGET", vector_budget)
        loaded = load_text(src, "rule.libet")
        plan = semantics.strength_plan(loaded.spec)
        warned = [d for d in loaded.diagnostics if d.code == "W103"]
        assert {k for k, how in plan.items() if how == "skipped"} == skipped, plan
        assert len(warned) == len(skipped) and all("veto strength of a rule of 'p'" in d.message for d in warned)
        assert plan[("p", 2)] == "interpreter"  # a constant strength: one state


def test_a_state_of_a_large_expression_counts_by_its_size():
    """A weighted score of 2,000 terms read at 32 states: each state costs the interpreter what
    hundreds of a typical phase's do, and counts so against the budget and the thresholds."""
    from libet.spec.loader import load_text

    terms = " + ".join(f"0.00001 * (if f{i % 5} then 1 else 0)" for i in range(2000))
    src = f"""substance {{ bad: bool }}
framing {{ f0: bool  f1: bool  f2: bool  f3: bool  f4: bool }}
value ok = not bad
def score = {terms}
trajectory {{ horizon 3 start a phase a {{ -> a : score -> stop : otherwise }} }}
policy p {{ veto when bad with strength min(1, score + 0.5) }}
"""
    spec = load_text(src, "score.libet").spec
    w = semantics.weight(spec, [spec.trajectory.phases[0].transitions[0].prob])
    from libet.spec import ir

    nodes = 1 + sum(1 for _ in ir.walk(spec.defs["score"].expr))  # the reference, and the body it stands for
    assert nodes >= 2000 * 6 and w == -(-nodes // checker.STATE_NODES)
    assert semantics.transition_plan(spec) == {"a": "arrays"}  # 32 x w states: over VECTOR_MIN
    assert semantics.strength_plan(spec) == {("p", 0): "arrays"}


def test_a_strength_is_checked_only_where_its_rule_fires():
    """A strength that reads only the depth has no value at depth 0, where its rule does not
    fire: no error, one state at a time or over arrays (Hypothesis found the interpreter's
    check evaluating it there, as if the strength were a constant)."""
    src = """spec "fires"
trajectory { horizon 4 start p0 phase p0 { -> p0 : 0.5  -> stop : otherwise } }
policy p { veto when depth > 0 with strength 0.1 * log(depth) }
"""
    assert _diagnostics(src) == []
    assert _diagnostics(src.replace("depth > 0", "depth >= 0"))[0][:2] == (
        "E044", "log of 0, which is not positive (at phase 'p0', depth 0)")


@settings(max_examples=120, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(wild_specs(), st.sampled_from([0, 1, 40, 400, 200_000]), st.sampled_from([0, 10**9]), st.sampled_from([0, 20_000]))
def test_the_plans_name_exactly_what_the_checker_skipped(src, budget, vector_budget, vector_min):
    """Whatever the budgets, the phases and rules ``transition_plan`` and ``strength_plan`` call
    skipped are those the checker gave a budget W103 (proofs/wellformed.py asks Z3 about
    exactly these), on generated specs."""
    import re

    from libet.spec.bounds import Bounds
    from libet.spec.loader import load_text

    seen = []  # the IR the semantic checks ran on (a spec with errors loads as None)
    real = semantics.check
    saved = checker.ENUMERATION_BUDGET, checker.VECTOR_BUDGET, checker.VECTOR_MIN
    bounds = Bounds.probabilities_settled, Bounds.strength_settled
    try:  # the bounds settle nothing: the plan's skipped rows are the rows left with W103
        Bounds.probabilities_settled = Bounds.strength_settled = lambda self, x: False
        semantics.check = lambda spec, chk, d: (seen.append(spec), real(spec, chk, d))[1]
        checker.ENUMERATION_BUDGET, checker.VECTOR_BUDGET, checker.VECTOR_MIN = budget, vector_budget, vector_min
        loaded = load_text(src, "wild.libet")
        (spec,) = seen
        phases = semantics.transition_plan(spec)
        rules = semantics.strength_plan(spec)
    finally:
        semantics.check = real
        checker.ENUMERATION_BUDGET, checker.VECTOR_BUDGET, checker.VECTOR_MIN = saved
        Bounds.probabilities_settled, Bounds.strength_settled = bounds
    over = [d for d in loaded.diagnostics if d.code == "W103" and "exceed" in d.message]
    warned_phases = {m.group(1) for d in over for m in [re.match(r"the probabilities of phase '(\w+)'", d.message)] if m}
    warned_rules = {d.span.line for d in over if d.message.startswith("the veto strength")}
    assert warned_phases == {q for q, how in phases.items() if how == "skipped"}
    lines = {i: r.span.line for i, r in enumerate(spec.policies["p"].rules)}
    assert warned_rules == {lines[i] for (_, i), how in rules.items() if how == "skipped"}


def _size_by_hand(spec, e) -> int:
    """Nodes of ``e`` with every reference expanded, counted recursively (small specs only)."""
    from libet.spec import ir

    if isinstance(e, ir.DefRef):
        return 1 + _size_by_hand(spec, spec.defs[e.name].expr)
    if isinstance(e, ir.ValueRef):
        return 1 + _size_by_hand(spec, spec.values[e.name].expr)
    if isinstance(e, ir.Harmful):
        return 1 + _size_by_hand(spec, spec.harm_expr())
    return 1 + sum(_size_by_hand(spec, c) for c in e.children())


def test_reads_size_counts_every_node_with_references_expanded():
    """Reads.size, found in the memoised walk of Reads.facts, against a recursive count on every
    example's transitions and rules (defs, values and `harmful` expanded at each use)."""
    import glob

    from libet.spec.reads import Reads

    checked = 0
    for path in sorted(glob.glob("examples/*.libet")):
        spec = libet.load(path).ir
        reads = Reads(spec)  # a fresh one: nothing memoised from loading
        exprs = [t.prob for p in spec.trajectory.phases for t in p.transitions if t.prob is not None]
        exprs += [x for pol in spec.policies.values() for r in pol.rules for x in (r.condition, r.strength)]
        for e in exprs:
            assert reads.size(e) == _size_by_hand(spec, e)
            checked += 1
        assert reads.size(exprs) == sum(_size_by_hand(spec, e) for e in exprs)
    assert checked > 50
