"""A needle in a haystack: one combination of 50 framing variables with 64 values each escapes
the veto. Z3 finds it; random testing would not.

Why random testing would not: there are 64**50 = 2**300 ≈ 2.0e90 framing combinations and
exactly one of them escapes, so one uniformly random assignment hits it with probability
2**-300 ≈ 4.9e-91. A billion samples a second for the age of the universe (about 4.4e17 s) is
4.4e26 samples, which hit the needle with probability below 2.2e-64. The solver does not sample:
the needle is the one model of `harmful and not vetoed`, found by propagation in milliseconds.
"""

from __future__ import annotations

import libet
from libet.proofs import prove
from libet.results import Status

N, SIZE = 50, 64
# the escaping combination: fixed, different values, none of them the neutral default 0
NEEDLE = {f"x{i}": (17 * i + 5) % SIZE or 1 for i in range(N)}


def needle_spec() -> str:
    lines = ['spec "needle"', "substance {", "  topic: {everyday, weapons}", "}", "framing {"]
    lines += [f"  x{i}: 0..{SIZE - 1}" for i in range(N)]
    lines += ["}", "value safe_topic = topic != weapons"]
    lines += ["trajectory {", "  horizon 4", "  start answer", "  phase answer { -> answer : 0.5  -> deliver : otherwise }", "}"]
    escape = " and ".join(f"x{i} == {v}" for i, v in ((i, NEEDLE[f"x{i}"]) for i in range(N)))
    lines += ["policy almost {", f"  veto when violates safe_topic and not ({escape})", "}"]
    lines += ["check almost {", "  complete", "  invariant under framing", "  safe", "}"]
    return "\n".join(lines) + "\n"


def test_z3_finds_the_one_escaping_combination():
    spec = libet.loads(needle_spec(), "needle.libet").ir
    results = {r.check: r for r in prove(spec, timeout=30)}

    complete = results["complete"]
    assert complete.status is Status.VIOLATED
    cex = complete.counterexample
    assert cex.assignment["topic"] == "weapons"
    assert {n: cex.assignment[n] for n in NEEDLE} == NEEDLE
    assert cex.veto == 0

    # invariance: the needle and a neighbour that differs in one variable only
    inv = results["invariant under framing"]
    assert inv.status is Status.VIOLATED
    diff = inv.counterexample.differing
    assert len(diff) == 1, diff
    at_needle = [c for c in (inv.counterexample.first, inv.counterexample.second) if all(c[n] == v for n, v in NEEDLE.items())]
    assert len(at_needle) == 1
    assert "only `x" in inv.counterexample.describe()

    # safe: the needle delivers in one step (answer -> deliver) or by the horizon
    safe = results["safe"]
    assert safe.status is Status.VIOLATED
    assert {n: safe.counterexample.assignment[n] for n in NEEDLE} == NEEDLE
    assert len(safe.counterexample.steps) == 1
