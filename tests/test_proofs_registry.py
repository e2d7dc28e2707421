"""The tables of libet.proofs are complete, and what they stand for behaves as the runner needs.

* ``KINDS`` has a kind for every qualitative IR property type and nothing else (the
  quantitative ones, ``Bound`` and ``Gap``, belong to the simulator);
* the IR -> Z3 term pass and the printer of expressions have a case for every IR expression
  node class;
* ``decide`` decides exactly the checks it is given, in order, in one run (vacuity is asked
  once per policy), and refuses a check it does not decide;
* params and fixed values go through the one validation (spec/overrides.py), numpy scalars
  included;
* the veto probability built through spec/rules.py stays linear when the strengths are
  constants or take a few values.
"""

from __future__ import annotations

import typing
from fractions import Fraction

import numpy as np
import pytest
import z3

import libet
from libet.errors import UsageError
from libet.proofs import KINDS, decide, prove
from libet.proofs import policy as policy_checks
from libet.proofs.kinds import ProofKind
from libet.proofs.rules import Encoder
from libet.proofs.tables import Inputs
from libet.proofs.terms import Terms
from libet.results import Status
from libet.spec import ir
from libet.spec.interpreter import Interpreter
from libet.spec.printer import Printer
from libet.spec.visit import missing_cases

#: decided by the simulator's exact engine, not by Z3
QUANTITATIVE = {ir.Bound, ir.Gap, ir.OutcomeInvariance}
PREFILL = "examples/prefill.libet"


def test_every_qualitative_property_type_has_a_kind_and_nothing_else_does():
    properties = set(typing.get_args(ir.Property))
    assert QUANTITATIVE <= properties
    assert set(KINDS) == properties - QUANTITATIVE
    for prop_type, kind in KINDS.items():
        assert isinstance(kind, ProofKind) and kind.prop_type is prop_type


def test_every_pass_over_expressions_has_a_case_for_every_node():
    assert missing_cases(Terms, "t_") == []  # IR -> Z3 terms
    assert missing_cases(Printer, "p_") == []  # IR -> spec source, in proof summaries


def test_select_and_decide_take_checks_by_their_kind():
    spec = libet.load(PREFILL).ir
    qualitative = [c for c in spec.checks if type(c.prop) in KINDS]
    assert len(qualitative) == 12 and len(spec.checks) > len(qualitative)  # and a bound and a gap
    picked = [qualitative[5], qualitative[0]]
    results = decide(spec, picked, timeout=10)
    assert [(r.policy, r.check) for r in results] == [(c.policy, c.name) for c in picked]
    quantitative = next(c for c in spec.checks if type(c.prop) not in KINDS)
    with pytest.raises(UsageError, match="not decided by libet.proofs"):
        decide(spec, [quantitative])


def test_decide_asks_vacuity_once_per_policy(monkeypatch):
    spec = libet.load(PREFILL).ir
    asked = []
    real = policy_checks.vacuity

    def counting(spec, name, *args, **kwargs):
        asked.append(name)
        return real(spec, name, *args, **kwargs)

    monkeypatch.setattr(policy_checks, "vacuity", counting)
    checks = [c for c in spec.checks if type(c.prop) in KINDS]
    results = decide(spec, checks, timeout=10)
    assert len(results) == 12
    assert sorted(asked) == ["deep", "shallow"]


PARAM = """spec "param"
substance { s: bool }
param k = 1 in [0, 1]
value ok = not s
trajectory { horizon 3  start p  phase p { -> p : 1 } }
policy strong { veto when violates ok with strength k }
check strong { complete }
"""


def test_params_and_fixed_values_use_the_one_validation():
    spec = libet.loads(PARAM, "param.libet").ir
    # a numpy scalar, as every scipy optimiser passes, is a number like any other
    (r,) = prove(spec, timeout=10, params={"k": np.float64(0.5)})
    assert r.status is Status.VIOLATED and r.details["params"] == {"k": 0.5}
    (r,) = prove(spec, timeout=10, params={"k": np.int64(1)}, fixed={"s": True})
    assert r.status is Status.PROVED and r.details["fixed"] == {"s": True}
    with pytest.raises(UsageError, match="there is no param 'kk'") as e:
        prove(spec, params={"kk": 1})
    assert e.value.hint and "k" in e.value.hint
    with pytest.raises(UsageError, match="outside the range"):
        prove(spec, params={"k": 2})
    with pytest.raises(UsageError, match="there is no variable 'x'"):
        prove(spec, fixed={"x": 1})
    with pytest.raises(UsageError, match="is not a value of s"):
        prove(spec, fixed={"s": 3})


def _nonlinear_products(t) -> int:
    """Products in ``t`` with more than one factor that is not a numeral."""
    seen, stack, count = set(), [t], 0
    while stack:
        x = stack.pop()
        if x.get_id() in seen:
            continue
        seen.add(x.get_id())
        if z3.is_mul(x) and sum(1 for c in x.children() if not z3.is_rational_value(c)) > 1:
            count += 1
        stack.extend(x.children())
    return count


LINEAR = """spec "linear"
substance { s: 0..3 }
framing { f: bool  g: 0..2 }
value ok = s < 2
trajectory { horizon 4  start p  phase p { -> p : 1 } }
policy constant { veto when violates ok with strength 0.5  veto when f with strength 0.25  veto when g == 1 with strength 0.1 }
policy levels { veto when violates ok with strength g / 4  veto when f with strength 0.5 }
"""


@pytest.mark.parametrize("policy", ["constant", "levels"])
def test_the_veto_probability_stays_linear_and_exact(policy):
    spec = libet.loads(LINEAR, "linear.libet").ir
    enc = Encoder(spec, ctx=z3.Context())
    sym = enc.new_assignment("")
    v = enc.veto_probability(policy, enc.env(sym, 0, "p"))
    assert _nonlinear_products(v) == 0
    interp = Interpreter(spec, exact=True)
    s = z3.Solver(ctx=enc.ctx)
    for a in spec.assignments():
        s.push()
        s.add(*sym.constraints(), *[enc.equal_value(spec.variables[n], sym.terms[n], x) for n, x in a.items()])
        assert s.check() == z3.sat
        got = s.model().eval(v, model_completion=True).as_fraction()
        assert Fraction(got) == interp.veto_probability(policy, a, "p", 0), a
        s.pop()


def test_inputs_enumerate_every_combination_in_order():
    inputs = Inputs(domains=(("a", (0, 1)), ("b", ("x", "y", "z"))), fixed=(("c", True),), depths=(3, 4), phases=("p",))
    got = list(inputs)
    assert inputs.count == len(got) == 12
    assert got[0] == ({"c": True, "a": 0, "b": "x"}, 3, "p")
    assert got[1] == ({"c": True, "a": 0, "b": "x"}, 4, "p")
    assert got[-1] == ({"c": True, "a": 1, "b": "z"}, 4, "p")
