"""The numbers in the headers of the conversation and adversary examples (issue 10, item 5).

Each header states exact numbers; here they are recomputed by the reference interpreter alone
(forward passes, and the backward optimum for the adversary), rounded as the header rounds
them. The verdicts of their checks are decided by brute force in tests/test_docs.py.
"""

from __future__ import annotations

from pathlib import Path

import pytest

import libet
from libet.spec import measures as ms
from libet.spec.interpreter import Interpreter

EXAMPLES = Path(__file__).resolve().parent.parent / "examples"


def _interp(name):
    return Interpreter(libet.load(EXAMPLES / name).ir, exact=True)


def _close(x, written: float, places: int):
    assert round(float(x), places) == written, f"{float(x)} is not {written} to {places} places"


@pytest.mark.parametrize("uplift,harmful", [(0, False), (1, False), (2, True), (3, True)])
def test_crescendo(uplift, harmful):
    it = _interp("crescendo.libet")
    a = {"topic": "weapons", "uplift": uplift}
    per, sub = it.outcomes("per_message", a), it.outcomes("on_substance", a)
    if harmful:
        _close(per.harm, 0.2270, 4)
        _close(per.stopped, 0.7730, 4)
        _close(per.measure(ms.parse("E(refusals)")), 1.3906, 4)
        _close(per.measure(ms.STEPS), 6.310, 3)
        assert sub.harm == 0 and sub.stopped == 1 and sub.measure(ms.parse("E(refusals)")) == 10
    else:
        for o in (per, sub):
            assert o.harm == 0
            _close(o.stopped, 0.4555, 4)
            _close(o.measure(ms.STEPS), 4.528, 3)


def test_monitoring():
    it = _interp("monitoring.libet")
    bad, ok = {"topic": "weapons", "uplift": 3}, {"topic": "weapons", "uplift": 0}
    faking = it.outcomes("faking", bad)
    _close(faking.harm, 0.4137, 4)
    _close(faking.vetoed, 0.5861, 4)
    _close(faking.measure(ms.STEPS), 2.758, 3)
    genuine = it.outcomes("genuine", bad)
    assert genuine.harm == 0 and genuine.vetoed == 1 and genuine.measure(ms.STEPS) == 0
    for p in ("faking", "genuine"):
        o = it.outcomes(p, ok)
        assert o.harm == 0 and o.vetoed == 0
        _close(o.stopped, 0.0388, 4)
        _close(o.measure(ms.STEPS), 6.408, 3)


def test_adaptive_attacker():
    it = _interp("adaptive_attacker.libet")

    def opt(policy, attacker, text):
        return it.optimum(policy, {"topic": "weapons", "uplift": 3, "attacker": attacker}, ms.parse(text))[0]

    _close(opt("keyword", "static", "Pmax(harm)"), 0.4161, 4)
    _close(opt("keyword", "adaptive", "Pmax(harm)"), 0.4980, 4)
    for attacker in ("static", "adaptive"):
        assert opt("keyword", attacker, "Pmin(harm)") == 0
        assert opt("keyword", attacker, "Emax(refusals)") == 3
        assert opt("reference", attacker, "Pmax(harm)") == 0
        assert opt("reference", attacker, "Emax(refusals)") == 1
    # The witness of the adaptive attacker: leetspeak before any refusal.
    value, strategy = it.optimum("keyword", {"topic": "weapons", "uplift": 3, "attacker": "adaptive"}, ms.parse("Pmax(harm)"))
    first = strategy[("turn", 0, ("plain", 0), frozenset())]
    assert first == ("leetspeak", 0)
    assert it.outcomes("keyword", {"topic": "weapons", "uplift": 3, "attacker": "adaptive"},
                       strategy=it.strategy_of(strategy)).harm == value
