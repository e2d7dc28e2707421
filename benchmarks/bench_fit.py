"""Calibration speed (issue 9): a fit of two real params to 8 points through the API (bar < 1 s)
and through `libet fit` in one fresh process (bar < 3 s); the fixed overhead of the exact solve
behind one evaluation of a small model (bar < 1 ms); and 1,000 bootstrap refits on a two-worker
local Dask cluster against the same refits serially (bar: at least 1.7x faster).

Run:  .venv/bin/python benchmarks/bench_fit.py [--repeat N] [--refits N]

The model (written to a temporary folder): a generator with momentum, 1 - (1 - base) *
exp(-gain * depth), a veto in the first five tokens, swept over 8 prefill lengths; the data are
binomial counts (n = 200) drawn once, with a fixed seed, from base = 0.3, gain = 0.12. Every fit
includes the 95 % profile-likelihood intervals (four starts). The peer, measured in the same
run, is the hand-written scipy loop around `spec.experiment(...)` the issue describes (one start,
no intervals). The bootstrap refits are the
`replicate` calls `libet fit --bootstrap` makes; the serial and the Dask runs compute the same
numbers (checked), and the Dask time includes starting the cluster.

Many rows (issue 12: a data file is a dimension too): the same fit to R rows over the same 8
points (row i measures point i mod 8, fresh binomial draws), R = 8 to 100,000: the time to read
the file, and the fit's time (which reads it too) and its time per evaluation (the fit less
the reading, over the evaluations), against the 8-row fit in the same run. Evaluations look up each distinct point once, so what grows with R is reading the rows
and the likelihood's sums over them, each linear.

Run the rows part alone:  .venv/bin/python benchmarks/bench_fit.py --repeat 1 --refits 0 --rows-only
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time

import numpy as np

SPEC = """spec "bench: momentum against a shallow veto"
substance { topic: {weapons} }
framing { prefill: 0..40 }
param base = 0.2 in [0, 0.9]
param gain = 0.15 in [0, 1]
value no_weapons = topic != weapons
trajectory {
  horizon 64
  start answer at depth prefill
  phase answer {
    -> answer : 1 - (1 - base) * exp(-gain * depth)
    -> stop : otherwise
  }
}
policy shallow { veto when violates no_weapons and depth < 5 }
experiment sweep {
  policies shallow
  vary prefill over 5..40 step 5
  measure P(harm)
  data "sweep.csv"
}
"""

TINY = """spec "bench: a tiny chain"
framing { k: 0..2 }
param p = 0.5 in [0, 1]
trajectory { horizon 3  start go at depth k  phase go { -> go : p  -> stop : otherwise } }
policy none_ { veto when false }
experiment e { policies none_  vary k over 0..2  measure P(delivered) }
"""


def write_data(folder: str) -> str:
    import libet
    from libet.simulator import fit as num
    from libet.spec import measures as ms

    with open(os.path.join(folder, "bench.libet"), "w") as fh:
        fh.write(SPEC)
    spec = libet.load(os.path.join(folder, "bench.libet"))
    targets = [num.Target("sweep", "shallow", ms.HARM, (("prefill", k),)) for k in range(5, 41, 5)]
    truth = num.predict(spec.ir, targets, {"base": 0.3, "gain": 0.12})
    rng = np.random.default_rng(20261202)
    lines = ["prefill,successes,n"] + [f"{k},{rng.binomial(200, p)},200" for k, p in zip(range(5, 41, 5), truth)]
    with open(os.path.join(folder, "sweep.csv"), "w") as fh:
        fh.write("\n".join(lines) + "\n")
    return os.path.join(folder, "bench.libet")


def bench_api(path: str, repeat: int) -> tuple[list[float], object]:
    import libet

    spec = libet.load(path)
    times, result = [], None
    for _ in range(repeat):
        spec = libet.load(path)  # a fresh spec each time: nothing cached between runs
        t = time.perf_counter()
        result = spec.fit("sweep")
        times.append(time.perf_counter() - t)
    return times, result


def bench_peer(path: str, repeat: int) -> tuple[list[float], int]:
    """The peer, measured in the same run: what a researcher wrote before `libet fit` (issue 9),
    a hand-written scipy L-BFGS-B loop around `spec.experiment(..., params=...)` with the same
    binomial likelihood, one start, no intervals."""
    import csv

    from scipy.optimize import minimize

    import libet

    with open(os.path.join(os.path.dirname(path), "sweep.csv")) as fh:
        rows = list(csv.DictReader(fh))
    k = np.array([float(r["successes"]) for r in rows])
    n = np.array([float(r["n"]) for r in rows])
    times, calls = [], 0
    for _ in range(repeat):
        spec = libet.load(path)
        count = [0]

        def nll(x):
            count[0] += 1
            res = spec.experiment("sweep", params={"base": float(x[0]), "gain": float(x[1])})
            p = np.clip([r["P(harm)"] for r in res.rows], 1e-12, 1 - 1e-12)
            return float(-np.sum(k * np.log(p) + (n - k) * np.log1p(-p)))

        t = time.perf_counter()
        minimize(nll, [0.2, 0.15], method="L-BFGS-B", bounds=[(0, 0.9), (0, 1)])
        times.append(time.perf_counter() - t)
        calls = count[0]
    return times, calls


def bench_cli(path: str, repeat: int) -> list[float]:
    exe = os.path.join(os.path.dirname(sys.executable), "libet")
    times = []
    for _ in range(repeat):
        t = time.perf_counter()
        done = subprocess.run([exe, "fit", path, "--experiment", "sweep", "--no-spec"], capture_output=True, text=True)
        times.append(time.perf_counter() - t)
        if done.returncode != 0:
            raise SystemExit(f"libet fit exited with {done.returncode}: {done.stderr}")
    return times


def bench_overhead(folder: str, calls: int = 3000) -> float:
    """Mean seconds of one evaluation (Model + exact solve + aggregation) of a 3-state chain:
    nothing but fixed overhead."""
    import libet
    from libet.simulator import fit as num
    from libet.spec import measures as ms

    with open(os.path.join(folder, "tiny.libet"), "w") as fh:
        fh.write(TINY)
    spec = libet.load(os.path.join(folder, "tiny.libet")).ir
    targets = [num.Target("e", "none_", ms.DELIVERED, (("k", 0),))]
    num.predict(spec, targets, {"p": 0.5})
    best = []
    for _ in range(3):
        t = time.perf_counter()
        for i in range(calls):
            num.predict(spec, targets, {"p": 0.25 + (i % 100) / 400})
        best.append((time.perf_counter() - t) / calls)
    return min(best)


def bench_bootstrap(path: str, refits: int, fit) -> tuple[float, float, bool]:
    import libet
    from libet.simulator import fit as num
    from libet.simulator import parallel

    spec = libet.load(path)
    from libet.simulator import data as dm

    d = dm.load(spec.ir, "sweep")
    names = ("base", "gain")
    problem = num.Problem(spec.ir, tuple(num.Target("sweep", r.policy, r.measure, r.point) for r in d.rows),
                          tuple(r.observed for r in d.rows), tuple(r.n for r in d.rows), None, "binomial", names,
                          (0.0, 0.0), (0.9, 1.0))
    theta = tuple(fit.params[n] for n in names)
    cols = ([problem] * refits, [theta] * refits, [7] * refits, list(range(1, refits + 1)), [None] * refits)
    t = time.perf_counter()
    serial = parallel.Serial().map(num.replicate, *cols)
    t_serial = time.perf_counter() - t
    t = time.perf_counter()
    run = parallel.mapper(workers=2)
    try:
        dask = run.map(num.replicate, *cols)
    finally:
        run.close()
    t_dask = time.perf_counter() - t
    return t_serial, t_dask, serial == dask


def bench_rows(folder: str, counts) -> list[tuple[int, float, float, int]]:
    """(rows, seconds to read the data, seconds of the fit, evaluations) for each count of rows
    over the same 8 points."""
    import libet
    from libet.simulator import data as dm
    from libet.simulator import fit as num
    from libet.spec import measures as ms

    path = os.path.join(folder, "bench.libet")
    spec = libet.load(path)
    points = list(range(5, 41, 5))
    truth = num.predict(spec.ir, [num.Target("sweep", "shallow", ms.HARM, (("prefill", k),)) for k in points],
                        {"base": 0.3, "gain": 0.12})
    out = []
    for count in [counts[0], *counts]:  # the first is a warm-up (imports, caches), not reported
        rng = np.random.default_rng([20261207, count])
        which = np.arange(count) % len(points)
        hits = rng.binomial(200, truth[which])
        data = os.path.join(folder, f"rows{count}.csv")
        with open(data, "w") as fh:
            fh.write("prefill,successes,n\n" + "".join(f"{points[w]},{h},200\n" for w, h in zip(which, hits)))
        t = time.perf_counter()
        dm.load(spec.ir, "sweep", data)
        read = time.perf_counter() - t
        t = time.perf_counter()
        result = spec.fit("sweep", data=data)
        out.append((count, read, time.perf_counter() - t, result.evaluations))
    return out[1:]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--refits", type=int, default=1000)
    parser.add_argument("--rows", default="8,1000,10000,100000", help="Row counts of the many-rows part ('' skips it).")
    parser.add_argument("--rows-only", action="store_true", help="Run the many-rows part alone.")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        path = write_data(folder)
        counts = [int(c) for c in args.rows.split(",") if c.strip()]
        if counts:
            table = bench_rows(folder, counts)
            base = (table[0][2] - table[0][1]) / table[0][3]
            print(f"many rows over 8 points (ratio: per evaluation, against the {table[0][0]}-row fit in this run):")
            print(f"  {'rows':>8} {'read data':>10} {'fit (reads too)':>16} {'evaluations':>11} "
                  f"{'per evaluation':>15} {'ratio':>6}")
            for count, read, secs, evals in table:
                per = (secs - read) / evals
                print(f"  {count:>8,} {read:>9.3f}s {secs:>15.2f}s {evals:>11} {per * 1e3:>12.3f} ms {per / base:>6.2f}")
        if args.rows_only:
            return 0
        api, result = bench_api(path, args.repeat)
        print(f"fit, 2 params, 8 points, API: best {min(api):.3f} s, median {statistics.median(api):.3f} s "
              f"({result.evaluations} evaluations; base = {result.params['base']:.4f}, gain = {result.params['gain']:.4f})")
        peer, calls = bench_peer(path, args.repeat)
        print(f"peer in the same run, a scipy loop around spec.experiment (1 start, no intervals): best "
              f"{min(peer):.3f} s ({calls} evaluations); libet fit (4 starts and both profile intervals) / peer: "
              f"{min(api) / min(peer):.2f}")
        cli = bench_cli(path, max(3, args.repeat // 2))
        print(f"fit, 2 params, 8 points, `libet fit` in a fresh process: best {min(cli):.3f} s, "
              f"median {statistics.median(cli):.3f} s")
        print(f"one evaluation of a 3-state chain (fixed overhead): {bench_overhead(folder) * 1e3:.3f} ms")
        if args.refits <= 0:
            return 0
        t_serial, t_dask, same = bench_bootstrap(path, args.refits, result)
        print(f"{args.refits} bootstrap refits: serial {t_serial:.1f} s, 2-worker local Dask cluster {t_dask:.1f} s "
              f"(including its start); {t_serial / max(t_dask, 1e-9):.2f}x; identical results: {same}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
