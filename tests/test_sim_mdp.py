"""A small conversation MDP: libet's exact Pmax(harm) against a hand-checked
number, the reference interpreter's optimum, and Storm on the PRISM export."""

from __future__ import annotations

import os
import tempfile

import pytest

import libet
from libet.simulator.exact import solve
from libet.simulator.model import Model
from libet.spec import measures as ms
from libet.spec.interpreter import Interpreter

FIXED = {"topic": "weapons"}


def source(horizon: int, esc_cap: int, ref_cap: int) -> str:
    """A small adaptive-encoding conversation: the adversary re-chooses one of three encodings
    every turn; an escalation counter and a refusal counter."""
    return f"""
spec "adaptive encodings, horizon {horizon}"
substance {{ topic: {{everyday, weapons}} }}
value ok = topic != weapons
state {{
  enc: {{plain, leet, b64}} = plain
  esc: 0..{esc_cap} = 0
  refs: 0..{ref_cap} = 0
}}
trajectory {{
  horizon {horizon} then stop
  start turn
  phase turn {{
    choose enc
    -> deliver : (if enc == plain then 0.02 else if enc == leet then 0.015 else 0.005) + 0.0001 * esc
    -> stop : 0.02
    -> turn : 0.5 then esc = min(esc + 1, {esc_cap})
    -> turn : otherwise
  }}
}}
policy keyword {{
  veto when violates ok and refs >= {ref_cap}
  veto when violates ok and enc == plain then -> turn then refs = min(refs + 1, {ref_cap})
  veto when violates ok and enc == leet with strength 0.5 then -> turn then refs = min(refs + 1, {ref_cap})
}}
"""


def storm_pmax(text: str) -> float:
    import stormpy

    fd, path = tempfile.mkstemp(suffix=".pm")
    with os.fdopen(fd, "w") as fh:
        fh.write(text)
    try:
        prog = stormpy.parse_prism_program(path)
        props = stormpy.parse_properties('Pmax=? [F "harm"]', prog)
        model = stormpy.build_model(prog, props)
        return stormpy.model_checking(model, props[0]).get_value(model.initial_states[0])
    finally:
        os.unlink(path)


PMAX = ms.parse("Pmax(harm)")


def libet_pmax(spec) -> float:
    return solve(Model(spec, "keyword", fixed=FIXED), [PMAX]).aggregate(PMAX).value


def test_horizon_one_by_hand():
    # One turn: plain is always refused (0); leetspeak passes the filter half the time and is
    # then delivered with 0.015 (0.0075); base64 passes and is delivered with 0.005. A refusal
    # goes on to depth 1 = the horizon, which stops. So the adversary picks leetspeak: 0.0075.
    spec = libet.loads(source(1, 2, 2)).ir
    assert libet_pmax(spec) == pytest.approx(0.0075, abs=1e-12)


@pytest.mark.parametrize("horizon,esc,ref", [(2, 1, 1), (4, 2, 2), (6, 3, 2)])
def test_against_interpreter_optimum(horizon, esc, ref):
    spec = libet.loads(source(horizon, esc, ref)).ir
    value, _ = Interpreter(spec).optimum("keyword", {"topic": "weapons"}, PMAX)
    assert libet_pmax(spec) == pytest.approx(float(value), abs=1e-12)


def test_storm_agrees():
    pytest.importorskip("stormpy")
    from libet.simulator.prism import to_prism

    spec = libet.loads(source(12, 4, 3)).ir
    text = to_prism(spec, "keyword", fixed=FIXED, measures=[PMAX])
    storm_value = storm_pmax(text)
    assert abs(storm_value - libet_pmax(spec)) <= 1e-9
