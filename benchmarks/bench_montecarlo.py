"""Monte Carlo benchmarks: libet's Monte Carlo engine against a straightforward numpy Monte Carlo
of the same chain, in one run, with the ratio; both checked against the exact value.

Run:  .venv/bin/python benchmarks/bench_montecarlo.py [--repeat 3] [--runs 200000]

The chains are benchmarks/sim_models.py's (one phase; ten phases in a ring), at horizons 1,000
and 10,000, solved for the harmful assignment. libet's time is ``Model`` construction + the
step tables + the simulation of --runs trajectories, estimating P(harm) (the peer's question;
"all measures" estimates the six standard measures from the same trajectories). The peer,
sim_models.mc_peer, builds its own threshold table with numpy and advances all live
trajectories one step per iteration. Both draw from PCG64 with the same seed. Each estimate
must contain the exact value (libet's exact engine) in its 95% interval (Wilson; an honest
sampler misses it about one time in twenty, so a miss is reported, not failed on).
Every time is the best of --repeat runs, libet and the peer alternating, in CPU time of this
process (``--clock wall`` for wall-clock time; see bench_simulator.py).
"""

from __future__ import annotations

import argparse
import math
import os
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)

import bench_simulator  # noqa: E402
import sim_models as sm  # noqa: E402
from bench_simulator import CLOCKS, STANDARD, best_of, load, machine  # noqa: E402

CASES = (("one", 1_000), ("one", 10_000), ("ten", 1_000), ("ten", 10_000))


def wilson(k: int, n: int, z: float = 1.959963984540054) -> tuple[float, float]:
    p = k / n
    denom = 1 + z * z / n
    centre = (p + z * z / (2 * n)) / denom
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / denom
    return centre - half, centre + half


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--runs", type=int, default=200_000)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--clock", choices=sorted(CLOCKS), default="cpu", help="CPU time of this process (default) or wall time")
    args = ap.parse_args()
    bench_simulator.clock = CLOCKS[args.clock]

    import libet
    from libet.simulator import montecarlo
    from libet.simulator.exact import solve
    from libet.simulator.model import Model
    from libet.spec import measures as ms

    print("## machine")
    for line in machine("engine: Monte Carlo (simulator/montecarlo.py, numpy; no compiled recurrence)"):
        print("  " + line)
    print(f"\n## Monte Carlo: libet and the numpy peer, {args.runs:,} trajectories, seed {args.seed} (best of runs, {args.clock} time)\n")
    print("| chain | horizon | steps | libet P(harm) | libet all measures | numpy peer | libet / peer | libet steps/s "
          "| exact P(harm) | libet estimate [95%] | peer estimate [95%] |")
    print("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|", flush=True)
    standard = [ms.parse(m) for m in STANDARD]
    rows = []
    for kind, H in CASES:
        spec = libet.loads(sm.source(kind, H)).ir
        exact = solve(Model(spec, "shallow", fixed=sm.FIXED), [ms.HARM]).aggregate(ms.HARM).value

        def harm():
            return montecarlo.run(Model(spec, "shallow", fixed=sm.FIXED), args.runs, args.seed, measures=[ms.HARM])

        def full():
            return montecarlo.run(Model(spec, "shallow", fixed=sm.FIXED), args.runs, args.seed, measures=standard)

        montecarlo.run(Model(spec, "shallow", fixed=sm.FIXED), 1000, 0, measures=[ms.HARM])  # imports (scipy)
        (t_lib, t_peer), (est, (p_peer, steps_peer)) = best_of(
            [harm, lambda: sm.mc_peer(kind, H, args.runs, args.seed)], args.repeat)
        (t_full,), _ = best_of([full], args.repeat)
        e = est[ms.HARM]
        lo, hi = wilson(round(p_peer * args.runs), args.runs)
        row = {"kind": kind, "horizon": H, "libet": t_lib, "peer": t_peer, "full": t_full,
               "inside libet": e.low <= exact <= e.high, "inside peer": lo <= exact <= hi}
        rows.append(row)
        print(f"| {'one phase' if kind == 'one' else 'ten phases'} | {H:,} | {est.steps:,} | {t_lib:.3f} s | {t_full:.3f} s "
              f"| {t_peer:.3f} s | {t_lib / t_peer:.2f}× | {est.steps / t_lib:.3g} | {exact:.6f} "
              f"| {e.value:.6f} [{e.low:.6f}, {e.high:.6f}] | {p_peer:.6f} [{lo:.6f}, {hi:.6f}] |", flush=True)
        if steps_peer != est.steps:
            print(f"  note: the peer took {steps_peer:,} steps, libet {est.steps:,}")

    print("\n## bars")
    for r in rows:  # the bar (issue 12) is on multi-phase models; one phase is shown beside it
        ratio = r["libet"] / r["peer"]
        verdict = ("met" if ratio <= 1 else "NOT met") if sm.PHASES[r["kind"]] > 1 else "not a bar"
        print(f"  {verdict}: Monte Carlo at least as fast as the numpy peer, "
              f"{r['kind']} phase(s), horizon {r['horizon']:,}: libet / peer {ratio:.2f}x")
    for r in rows:
        for who in ("libet", "peer"):
            if not r[f"inside {who}"]:
                print(f"  note: the exact value lies outside {who}'s 95% interval ({r['kind']}, horizon {r['horizon']:,})")
    print(f"  load average at the end: {load()}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
