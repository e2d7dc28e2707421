"""Benchmark libet.testing (issue 8's bars), pinned to one core.

1. 10,000 conformance examples (``invariant under framing`` on examples/prefill.libet, whose
   188,928 states are above the exhaustive limit, so every example is sampled) against a
   pure-Python veto. Bar: under 10 s. libet's own overhead per example is the run's time minus
   the time of calling the function alone on the same requests (two per example: a pair),
   divided by the examples. Bar: under 0.5 ms.
2. Exhaustive enumeration of 10^5 assignments (a generated spec with exactly 100,000). Bar:
   under 5 s.
3. For reference: the same 10,000 examples searched by Hypothesis (``search="hypothesis"``),
   and a rendered corpus run (transforms applied to every request).

Usage: python benchmarks/bench_testing.py [--examples 10000] [--repeat 3]
"""

from __future__ import annotations

import argparse
import os
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)

BIG = """
spec "10^5 assignments"
substance { a: 0..9  b: 0..9 }
framing { f: 0..9  g: 0..9  h: 0..9 }
value ok = a + b < 15
trajectory { horizon 1  start s  phase s { -> deliver : 1 } }
policy p { veto when violates ok }
"""


def veto(s):
    return s["topic"] == "weapons" and s["uplift"] >= 2


def big_veto(s):
    return s["a"] + s["b"] >= 15


def pin() -> str:
    try:
        cpu = sorted(os.sched_getaffinity(0))[0]
        os.sched_setaffinity(0, {cpu})
        return f"pinned to core {cpu}"
    except (AttributeError, OSError):  # pragma: no cover - not Linux
        return "not pinned"


def best(fn, repeat: int) -> float:
    times = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return min(times)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--examples", type=int, default=10_000)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    print(pin())
    import libet
    from libet.testing import conform
    from libet.testing.conformance import Space

    spec = libet.load(os.path.join(ROOT, "examples", "prefill.libet"))
    n = args.examples

    def sampled():
        r = conform(spec, veto, properties=["invariant under framing"], examples=n, database=None)
        assert r.results[0].details["examples"] == n and not r.results[0].details["exhaustive"]

    t_run = best(sampled, args.repeat)
    # the function alone, on 2n requests like the ones the run makes
    space = Space(spec.ir)
    import random

    rng = random.Random(0)
    reqs = [space.request((rng.choice(range(len(space.substance))),) + tuple(rng.choice(v) for v in space.values[1:])).state
            for _ in range(2 * n)]

    def alone():
        for s in reqs:
            veto(s)

    t_alone = best(alone, args.repeat)
    overhead_ms = (t_run - t_alone) / n * 1000
    print(f"1. {n:,} sampled examples (invariant under framing, prefill.libet): {t_run:.3f} s "
          f"(bar 10 s); the function alone on {2 * n:,} requests: {t_alone:.4f} s; "
          f"libet's overhead {overhead_ms:.4f} ms per example (bar 0.5 ms)")

    big = libet.loads(BIG)
    assert big.ir.assignment_count() == 100_000

    def exhaustive():
        r = conform(big, big_veto, properties=["invariant under framing"], deterministic=True, database=None)
        res = r.results[0]
        assert res.details["examples"] == 100_000 and res.status.value == "PROVED", res

    t_ex = best(exhaustive, args.repeat)
    print(f"2. exhaustive enumeration of 100,000 assignments (invariant under framing, PROVED): {t_ex:.3f} s (bar 5 s)")

    m = min(n, 2000)

    def hyp():
        conform(spec, veto, properties=["invariant under framing"], examples=m, database=None, search="hypothesis")

    t_h = best(hyp, 1)
    print(f"3. Hypothesis search, {m:,} examples: {t_h:.3f} s ({t_h / m * 1000:.3f} ms per example)")

    guards = os.path.join(ROOT, "examples", "guards")
    gspec = libet.load(os.path.join(guards, "profanity.libet"))

    def words(text):
        return "shit" in text.lower()

    def rendered():
        conform(gspec, words, properties=["invariant under wrapper", "complete", "no over-refusal"],
                corpus=os.path.join(guards, "corpus.csv"), bindings=os.path.join(guards, "bindings.toml"),
                variants=10, database=None)

    t_r = best(rendered, args.repeat)
    size = 12 * 9 * 4 * 10
    print(f"4. rendered corpus, {size:,} requests x 3 properties (transforms applied to each): {t_r:.3f} s "
          f"({t_r / (3 * size) * 1000:.4f} ms per request)")
    ok = t_run < 10 and overhead_ms < 0.5 and t_ex < 5
    print("bars met" if ok else "BARS NOT MET")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
