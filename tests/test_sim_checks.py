"""Quantitative checks (bounds and gaps) against brute force through the reference interpreter."""

from __future__ import annotations

import itertools

import pytest
from hypothesis import HealthCheck, given, settings
from strategies import specs

import libet
from libet.results import Status
from libet.simulator.checks import KINDS, quantitative_checks
from libet.spec import ir
from libet.spec.interpreter import Interpreter


def brute_bound(spec, check):
    """max (or min) over the for-all variables of the weighted average over the rest."""
    prop = check.prop
    interp = Interpreter(spec)
    names = list(spec.variables)
    V = [n for n in names if n in prop.for_all]
    rest = [n for n in names if n not in V]
    best = None
    for vv in itertools.product(*[spec.variables[n].domain.values() for n in V]):
        total = 0.0
        for rv in itertools.product(*[spec.variables[n].domain.values() for n in rest]):
            a = dict(zip(V, vv))
            a.update(zip(rest, rv))
            w = 1.0
            for n in rest:
                w *= float(spec.variables[n].probability(a[n]))
            total += w * interp.outcomes(check.policy, a).measure(prop.measure)
        if best is None or (total < best if prop.op is ir.CmpOp.GE else total > best):
            best = total
    return best


def brute_gap(spec, check, exact=False):
    prop = check.prop
    interp = Interpreter(spec, exact=exact)
    names = list(spec.variables)
    outside = [n for n in names if n not in prop.under]
    values = {}
    for a in spec.assignments():
        key = tuple(a[n] for n in outside)
        values.setdefault(key, []).append(interp.outcomes(check.policy, a).measure(prop.measure))
    return max(max(v) - min(v) for v in values.values())


def verdicts(spec):
    return {(r.policy, r.check): r for r in quantitative_checks(spec)}


def test_prefill_bound_and_gap():
    spec = libet.load("examples/prefill.libet").ir
    res = verdicts(spec)
    shallow = res[("shallow", "P(harm) <= 0.01 for all framing")]
    assert shallow.status is Status.VIOLATED
    cx = shallow.counterexample
    assert cx.worst["prefill"] == 40 and cx.worst["persona"] == "any"
    check = next(c for c in spec.checks if c.policy == "shallow" and isinstance(c.prop, ir.Bound))
    assert cx.value == pytest.approx(brute_bound(spec, check), abs=1e-9)
    assert cx.replayed
    assert "prefill=40" in cx.describe()
    assert res[("deep", "P(harm) <= 0.01 for all framing")].status is Status.PROVED
    assert res[("shallow", "gap P(harm) under observed <= 0.05")].status is Status.PROVED


def test_bounds_on_one_measure_replay_it_once(monkeypatch):
    """Each bound's value is replayed by the reference interpreter; bounds on the same measure
    and worst case share that replay (300 of them took 56 s, one replay each). Every bound is
    still judged against its own number, and the witness says it was replayed."""
    from libet.simulator import checks as checks_module

    calls = []
    replay = checks_module._replay
    monkeypatch.setattr(checks_module, "_replay", lambda *a: calls.append(a[1].name) or replay(*a))
    src = open("examples/prefill.libet").read()
    bounds = [0.001, 0.02, 0.05, 0.5, 0.9]
    src += "\ncheck shallow {\n" + "\n".join(f"  P(harm) <= {b} for all framing" for b in bounds) + "\n}\n"
    spec = libet.loads(src, "examples/prefill.libet").ir
    res = quantitative_checks(spec, policies=["shallow"])
    ours = [r for r in res if r.check in {f"P(harm) <= {b} for all framing" for b in bounds}]
    assert len(calls) == 1 and len(ours) == len(bounds)  # with the example's own `<= 0.01`: one replay for six
    value = ours[0].counterexample.value
    for r in ours:
        b = float(r.check.split()[2])
        assert r.status is (Status.VIOLATED if value > b else Status.PROVED)
        assert (r.counterexample or r.proof).replayed


def test_alignment_faking_gap_is_the_brute_force_gap():
    spec = libet.load("examples/alignment_faking.libet").ir
    for check in spec.checks:
        if isinstance(check.prop, ir.Gap):
            r = verdicts(spec)[(check.policy, check.name)]
            gap = brute_gap(spec, check)
            assert (r.status is Status.VIOLATED) == (gap > float(check.prop.bound))
            if r.status is Status.VIOLATED:
                w = r.counterexample
                assert w.gap == pytest.approx(gap, abs=1e-9)
                assert list(w.differs) == ["observed"]
                assert w.to_json()["differs"] == ["observed"]


@settings(max_examples=40, deadline=None, suppress_health_check=list(HealthCheck))
@given(specs())
def test_generated_checks_match_brute_force(src):
    spec = libet.loads(src).ir
    res = verdicts(spec)
    for check in spec.checks:
        if type(check.prop) not in KINDS:  # decided by the proofs
            continue
        r = res[(check.policy, check.name)]
        if isinstance(check.prop, ir.Bound):
            value = brute_bound(spec, check)
            bound = float(check.prop.bound)
            if abs(value - bound) <= 1e-9:
                assert r.status in (Status.PROVED, Status.VIOLATED, Status.UNKNOWN)
                continue
            holds = value <= bound if check.prop.op is ir.CmpOp.LE else value >= bound
        elif isinstance(check.prop, ir.OutcomeInvariance):
            # decided exactly: PROVED only when the gap is 0 in rationals
            value = brute_gap(spec, check, exact=True)
            holds = value == 0
        else:
            value = brute_gap(spec, check)
            if abs(value - float(check.prop.bound)) <= 1e-9:
                continue
            holds = value <= float(check.prop.bound)
        assert r.status is (Status.PROVED if holds else Status.VIOLATED), (check.name, value, r)
        assert r.engine.startswith("exact")
        assert r.to_json()["status"] == r.status.value
