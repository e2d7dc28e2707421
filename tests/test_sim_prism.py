"""The PRISM export, checked by Storm: P=? [F "harm"] on libet's export equals libet's exact
result to 1e-9, for every example and for generated specs."""

from __future__ import annotations

import glob
import os
import tempfile

import pytest
from hypothesis import HealthCheck, given, settings

import libet
from libet.simulator import outcomes
from libet.simulator.prism import to_prism
from libet.spec import ir
from libet.spec import measures as ms
from strategies import specs

stormpy = pytest.importorskip("stormpy")


def storm(text: str, labels=("harm", "vetoed", "stopped", "delivered")) -> dict:
    fd, path = tempfile.mkstemp(suffix=".pm")
    with os.fdopen(fd, "w") as fh:
        fh.write(text)
    try:
        prog = stormpy.parse_prism_program(path)
    finally:
        os.unlink(path)
    props = stormpy.parse_properties("; ".join(f'P=? [F "{x}"]' for x in labels), prog)
    model = stormpy.build_model(prog, props)
    init = model.initial_states[0]
    return {x: stormpy.model_checking(model, p).get_value(init) for x, p in zip(labels, props)}


MEASURES = {"harm": ms.HARM, "vetoed": ms.VETOED, "stopped": ms.STOPPED, "delivered": ms.DELIVERED}


def cross_check(spec, policy, fixed=None):
    got = storm(to_prism(spec, policy, fixed=fixed))
    table = outcomes(spec, policy, fixed=fixed)
    for label, m in MEASURES.items():
        want = table.aggregate(m).value
        assert abs(got[label] - want) <= 1e-9, (policy, label, got[label], want)


@pytest.mark.parametrize("path", sorted(glob.glob("examples/*.libet")))
def test_examples_storm_agrees(path):
    spec = libet.load(path).ir
    for policy in spec.policies:
        cross_check(spec, policy)


def test_fixed_assignment_storm_agrees():
    spec = libet.load("examples/prefill.libet").ir
    fixed = {"topic": "weapons", "uplift": 3, "persona": "none", "prefill": 5, "observed": False}
    cross_check(spec, "shallow", fixed)
    # and the number is the interpreter's for that assignment
    from libet.spec.interpreter import Interpreter

    want = Interpreter(spec).outcomes("shallow", fixed).harm
    assert storm(to_prism(spec, "shallow", fixed=fixed))["harm"] == pytest.approx(want, abs=1e-9)


@pytest.mark.slow
@settings(max_examples=30, deadline=None, suppress_health_check=list(HealthCheck))
@given(specs(with_checks=False))
def test_generated_specs_storm_agrees(src):
    spec = libet.loads(src).ir
    for policy in spec.policies:
        cross_check(spec, policy)
