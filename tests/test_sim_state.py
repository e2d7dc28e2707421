"""The exact engine on specs with state variables and adversaries (simulator/layered.py)
against the reference interpreter, on generated specs and on the examples: plain measures
against the forward pass, Pmax/Pmin/Emax against the interpreter's optimum, and the engine's
own optimal strategy replayed by the interpreter."""

from __future__ import annotations

import glob

import pytest
from hypothesis import HealthCheck, given, settings
from strategies import state_specs

import libet
from libet.errors import UsageError
from libet.simulator import outcomes
from libet.simulator.exact import assignment_facts, assignment_of
from libet.simulator.model import Model
from libet.spec import measures as ms
from libet.spec.interpreter import Interpreter

PLAIN = [ms.parse(t) for t in ("P(harm)", "P(vetoed)", "P(stopped)", "P(delivered)", "E(depth)", "E(refusals)", "E(steps)")]
OPT = [ms.parse(t) for t in ("Pmax(harm)", "Pmin(harm)", "Pmax(vetoed)", "Emax(refusals)", "Emin(depth)", "Emax(steps)")]


def _agree(spec, policy, measures):
    table = outcomes(spec, policy, measures=measures)
    model = Model(spec, policy)
    it = Interpreter(spec)
    for i in range(model.size):
        a = assignment_of(model, i)
        for m in measures:
            got = float(table.at(a)[m.text])
            if m.extremum is not None and spec.is_mdp:
                want = float(it.optimum(policy, a, m)[0])
            else:
                want = float(it.outcomes(policy, a).measure(m))
            assert abs(got - want) < 1e-9, (policy, a, m.text, got, want)


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(state_specs(mdp=False))
def test_state_without_choices_agrees_with_the_forward_pass(src):
    spec = libet.loads(src).ir
    for policy in spec.policies:
        _agree(spec, policy, PLAIN)


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(state_specs(mdp=True))
def test_value_iteration_agrees_with_the_interpreters_optimum(src):
    spec = libet.loads(src).ir
    for policy in spec.policies:
        _agree(spec, policy, OPT)


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(state_specs(mdp=True))
def test_the_engines_strategy_attains_its_value(src):
    spec = libet.loads(src).ir
    it = Interpreter(spec)
    m = ms.parse("Pmax(harm)")
    for policy in spec.policies:
        if not spec.is_mdp:
            continue
        table = outcomes(spec, policy, measures=[m])
        model = Model(spec, policy)
        values, strategy = table.optimum[m]
        classes = assignment_facts(model)[2]
        for i in range(model.size):
            a = assignment_of(model, i)
            cls = int(classes[i])
            replay = it.outcomes(policy, a, strategy=it.strategy_of(strategy.table(cls)))
            assert abs(float(replay.harm) - float(table.at(a)[m.text])) < 1e-9


@pytest.mark.parametrize("path", ["examples/crescendo.libet", "examples/monitoring.libet", "examples/adaptive_attacker.libet"])
def test_examples_agree_with_the_interpreter(path):
    spec = libet.load(path).ir
    measures = OPT if spec.is_mdp else PLAIN
    for policy in spec.policies:
        _agree(spec, policy, measures)


def test_what_is_not_offered_says_so():
    spec = libet.load("examples/crescendo.libet").ir
    with pytest.raises(UsageError, match="visits"):
        outcomes(spec, "per_message", measures=[ms.parse("P(visit turn)", phases=("turn",))])
    with pytest.raises(UsageError, match="exact"):
        outcomes(spec, "per_message", exact=True)


def test_a_state_space_too_large_is_refused_before_building(monkeypatch):
    from libet.simulator import layered

    monkeypatch.setattr(layered, "memory_limit", lambda: 1000)
    spec = libet.load("examples/crescendo.libet").ir
    with pytest.raises(UsageError, match="model too large.*valuations of the state") as err:
        outcomes(spec, "per_message")
    assert "escalation (5)" in err.value.hint


def test_every_state_example_is_listed():
    with_state = {p for p in glob.glob("examples/*.libet") if libet.load(p).ir.state}
    assert with_state == {"examples/crescendo.libet", "examples/monitoring.libet", "examples/adaptive_attacker.libet"}
