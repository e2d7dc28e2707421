"""The engines inside libet.proofs, one at a time.

* Every rung of every solver ladder (Ints, bit-vectors with QF_FD or the SMT core, enumeration
  sorts, one-shot preprocessing) gives the verdict brute force gives, on generated specs: the
  ladder may fall back to any of them, so each must be right on its own.
* Both BMC formulations find the shortest trace.
* k-induction and Spacer prove what they should; Spacer's invariant passes the re-check.
* Tabulated `exp` agrees with the reference interpreter bit for bit.
"""

from __future__ import annotations

from fractions import Fraction

import pytest
import z3
from hypothesis import HealthCheck, given, settings
from strategies import arithmetic_policy_specs, specs
from test_proofs_differential import oracle

import libet
from libet.proofs import bmc
from libet.proofs import policy as policy_checks
from libet.proofs.induction import k_induction
from libet.proofs.kinds import KINDS
from libet.proofs.rules import Encoder
from libet.proofs.solve import (
    BMC_INCREMENTAL,
    ONESHOT_INT,
    QFFD_BV,
    SMT_BV,
    SMT_INT,
    SMT_SORT,
    UNBOUNDED_RACE,
    Budget,
)
from libet.proofs.spacer import spacer
from libet.proofs.tables import Unencodable
from libet.results import Status
from libet.spec import ir
from libet.spec.interpreter import Interpreter

POLICY_RUNGS = (SMT_INT, ONESHOT_INT, SMT_BV, SMT_SORT, QFFD_BV)
SETTINGS = dict(deadline=None, suppress_health_check=list(HealthCheck), derandomize=True)


def _every_rung_agrees(text: str) -> None:
    spec = libet.loads(text).ir
    for c in spec.checks:
        if type(c.prop) not in KINDS:
            continue
        holds, shortest = oracle(spec, c)
        want = "proved" if holds else "violated"
        if isinstance(c.prop, ir.Safe):
            for fn in (bmc.incremental, bmc.unrolled):
                out = fn(spec, c.policy, BMC_INCREMENTAL, Budget(20), None, None, z3.Context())
                assert out.status == want, (fn.__name__, c.policy)
                if not holds:
                    assert len(out.raw["phases"]) == shortest, fn.__name__
            continue
        for rung in POLICY_RUNGS:
            shape = policy_checks.policy_shape(spec, c.policy, with_values=not isinstance(c.prop, ir.Invariance))
            if rung is QFFD_BV and shape == "arith":
                continue  # the finite-domain solver takes no real arithmetic; the ladder skips it
            if isinstance(c.prop, ir.Invariance):
                out = policy_checks.invariance(spec, c.policy, c.prop, rung, Budget(20), ctx=z3.Context())
            else:
                harmful = isinstance(c.prop, (ir.Complete, ir.CompleteAt))
                phases = c.prop.phases if isinstance(c.prop, ir.CompleteAt) else None
                out = policy_checks.state_check(spec, c.policy, harmful, rung, Budget(20), ctx=z3.Context(), phases=phases)
            assert out.status == want, (rung.name, c.policy, c.name)


@pytest.mark.slow
@settings(max_examples=60, **SETTINGS)
@given(specs(max_horizon=6))
def test_every_configuration_agrees_with_brute_force(text):
    _every_rung_agrees(text)


@pytest.mark.slow
@settings(max_examples=40, **SETTINGS)
@given(arithmetic_policy_specs(max_horizon=5))
def test_every_configuration_agrees_on_arithmetic_policies(text):
    _every_rung_agrees(text)


NEEDS_AN_INVARIANT = """spec "needs an invariant"
substance { uplift: 0..3 }
value ok = uplift < 2
trajectory {
  horizon none
  start a
  phase a { -> a : 0.5  -> stop : otherwise }
  phase c { -> c : 0.5  -> b : if depth >= 1000 then 0.5 else 0  -> stop : otherwise }
  phase b { -> deliver : 1 }
}
policy mild { veto when violates ok and phase == a with strength 0.5 }
check mild { safe }
"""


def test_spacer_finds_and_rechecks_an_invariant_k_induction_cannot():
    # c and b are unreachable, but a path of k steps through c that ends in b exists for any k:
    # k-induction never closes; the invariant `phase == a` does
    spec = libet.loads(NEEDS_AN_INVARIANT, "invariant.libet").ir
    out = spacer(spec, "mild", UNBOUNDED_RACE, Budget(20), None, None, z3.Context())
    assert out.status == "proved"
    assert dict(out.details["recheck"]) == {"initiation": True, "consecution": True, "safety": True}
    assert out.details["invariant"] == "phase == a"
    out = k_induction(spec, "mild", UNBOUNDED_RACE, Budget(1.0), None, None, z3.Context())
    assert out.status == "unknown"
    (r,) = libet.loads(NEEDS_AN_INVARIANT, "invariant.libet").prove(timeout=20)
    assert r.proof.method == "spacer" and r.proof.invariant == "phase == a"
    assert "re-checked with a fresh solver: initiation ok, consecution ok, safety ok" in r.proof.describe()


UNBOUNDED = """spec "unbounded"
substance { topic: {everyday, weapons}  uplift: 0..3 }
framing { persona: {none, fiction} }
value ok = not (topic == weapons and uplift >= 2)
trajectory {
  horizon none
  start think
  phase think { -> think : 0.5  -> answer : if depth >= 3 then 0.5 else 0  -> stop : otherwise }
  phase answer { -> answer : 0.5  -> deliver : 0.3  -> stop : otherwise }
}
policy answer_only { veto when violates ok and phase == answer }
policy depth_gate { veto when violates ok and depth >= 3 }
policy fiction_gap { veto when violates ok and persona != fiction }
check answer_only, depth_gate, fiction_gap { safe }
"""


def test_k_induction_and_bmc_on_an_unbounded_trajectory():
    spec = libet.loads(UNBOUNDED, "unbounded.libet").ir
    # no harmful state of `answer` is left unvetoed: no state at all can deliver (k = 0)
    out = k_induction(spec, "answer_only", UNBOUNDED_RACE, Budget(10), None, None, z3.Context())
    assert out.status == "proved" and out.details["k"] == 0
    # from depth 3 on everything is vetoed, and `answer` (the phase that delivers) is entered
    # at depth 3 at the earliest: one step of induction
    out = k_induction(spec, "depth_gate", UNBOUNDED_RACE, Budget(10), None, None, z3.Context())
    assert out.status == "proved" and out.details["k"] == 1
    # the fiction persona is never vetoed: think x3, answer at depth 3, deliver
    out = bmc.incremental(spec, "fiction_gap", UNBOUNDED_RACE, Budget(10), None, None, z3.Context())
    assert out.status == "violated"
    assert out.raw["phases"] == ["think", "think", "think", "think", "answer"]
    assert out.raw["assignment"]["persona"] == "fiction"


def test_tabulated_exp_agrees_with_the_interpreter_bit_for_bit():
    spec = libet.load("examples/prefill.libet").ir
    prob = spec.trajectory.phase("answer").transitions[0].prob  # 1 - (1 - base) * exp(-gain * depth)
    interp = Interpreter(spec, exact=True)
    enc = Encoder(spec, ctx=z3.Context())
    sym = enc.new_assignment("")
    # concrete depths fold to the interpreter's exact value
    for d in (0, 1, 17, 63):
        got = enc.term(prob, enc.env(sym, d, "answer"))
        assert got == Fraction(interp.evaluate(prob, {}, d, "answer"))
    # a symbolic depth is a table lookup: every entry is the interpreter's value
    depth, dom = enc.depth_var("depth", 0, 63)
    term = enc.z3_real(enc.term(prob, enc.env(sym, depth, "answer", depth_values=range(64))))
    s = z3.Solver(ctx=enc.ctx)
    for d in range(64):
        s.push()
        s.add(dom, depth == d)
        assert s.check() == z3.sat
        v = s.model().eval(term, model_completion=True)
        assert Fraction(v.as_fraction()) == Fraction(interp.evaluate(prob, {}, d, "answer"))
        s.pop()


def test_exp_over_an_unbounded_depth_has_no_encoding():
    spec = libet.loads(
        """spec "u"
substance { s: bool }
value ok = not s
trajectory { horizon none  start p  phase p { -> p : 1 - 0.5 * exp(-depth)  -> stop : otherwise } }
policy p { veto when violates ok }
""",
        "u.libet",
    ).ir
    enc = Encoder(spec, ctx=z3.Context())
    sym = enc.new_assignment("")
    depth, _ = enc.depth_var("depth", 0, None)
    prob = spec.trajectory.phase("p").transitions[0].prob
    with pytest.raises(Unencodable, match="unbounded"):
        enc.term(prob, enc.env(sym, depth, "p", depth_values=None))
    # at a concrete depth it folds
    assert isinstance(enc.term(prob, enc.env(sym, 5, "p")), Fraction)


def test_evidence_serialises():
    import json

    results = libet.load("examples/prefill.libet").prove(timeout=30)
    for r in results:
        text = json.dumps(r.to_json())
        assert r.status.value in text
    trace = next(r for r in results if r.check == "safe" and r.policy == "shallow").counterexample
    dot = trace.to_dot()
    assert dot.count("->") >= 2 and "path probability 0.986241" in dot


VACUOUS = """spec "vacuous"
substance { s: 0..2 }
framing { f: bool }
value small = s < 5
value tiny = s < 3
trajectory { horizon 3  start p  phase p { -> p : 0.5  -> stop : otherwise } }
policy never { veto when s > 2 }
policy always { veto when true }
policy ordinary { veto when f and s == 1 }
check never, always, ordinary { invariant under framing  complete  no over-refusal  safe }
"""


def test_vacuity_warnings_say_why_a_verdict_is_hollow():
    # `small` and `tiny` hold on every assignment (s is at most 2): nothing is harmful, so
    # `complete` and `safe` hold for any policy; `never` cannot fire (s > 2 is impossible);
    # `always` fires everywhere and so refuses benign requests
    results = {(r.policy, r.check): r for r in libet.loads(VACUOUS, "vacuous.libet").prove(timeout=20)}
    never = results[("never", "invariant under framing")]
    assert never.status.value == "PROVED"
    assert any("never fires" in w for w in never.warnings)
    always = results[("always", "no over-refusal")]
    assert always.status.value == "VIOLATED"
    assert any("fires at every state of every assignment" in w for w in always.warnings)
    for p in ("never", "always", "ordinary"):
        assert results[(p, "complete")].status.value == "PROVED"
        assert any("no assignment is harmful" in w for w in results[(p, "complete")].warnings)
        assert any("no assignment is harmful" in w for w in results[(p, "safe")].warnings)
    assert results[("ordinary", "invariant under framing")].status.value == "VIOLATED"
    assert not any("fires" in w for w in results[("ordinary", "invariant under framing")].warnings)


def test_safe_with_no_veto_needed_is_flagged():
    text = """spec "the generator never delivers"
substance { s: bool }
value ok = not s
trajectory { horizon none  start p  phase p { -> p : 0.5  -> stop : otherwise } }
policy deep { veto when violates ok }
check deep { safe }
"""
    (r,) = libet.loads(text, "g.libet").prove(timeout=20)
    assert r.status.value == "PROVED"
    assert any("holds even with no veto" in w for w in r.warnings)


def _chain(n: int) -> str:
    """``* 2 / 2`` and ``/ 1 * 1`` alternating: n operations, a left-nested chain equal to its
    first operand."""
    return " ".join(("* 2", "/ 2", "/ 1", "* 1")[i % 4] for i in range(n))


def test_long_chains_of_products_and_quotients_cost_no_recursion():
    # 10^4 left-nested `*` and `/` in a strength (listed by the interpreter), the argument of
    # a tabulated `exp` in a condition (exp(-n) < 0.03 is n > 3) and in a transition: each is
    # a loop, and the tables and the strengths are keyed without hashing the nested nodes
    # (which recurses)
    c = _chain(10_000)
    text = f"""
substance {{ topic: {{everyday, weapons}}  n: 1..9 }}
framing {{ f: 0..3 }}
value no_weapons = topic != weapons
trajectory {{ horizon 4  start answer
  phase answer {{ -> answer : 0.5 * exp(-(n {c}))  -> deliver : otherwise }} }}
policy p {{ veto when violates no_weapons and exp(-(n {c})) < 0.03 with strength n {c} / 9 }}
check p {{ safe  complete  invariant under f  invariant under n }}
"""
    results = {r.check: r for r in libet.loads(text).prove(timeout=60)}
    assert results["safe"].status is Status.VIOLATED  # n <= 3 is never vetoed
    assert results["safe"].counterexample.assignment["n"] <= 3
    assert results["complete"].status is Status.VIOLATED
    assert results["invariant under f"].status is Status.PROVED
    inv = results["invariant under n"]
    assert inv.status is Status.VIOLATED
    assert inv.counterexample.veto != inv.counterexample.second_veto
