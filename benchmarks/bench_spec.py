"""Benchmark the language front end and the reference interpreter (issue 2's bars).

1. ``libet check`` on a generated spec of 10,000+ lines, as a user runs it (a fresh process,
   wall time including start-up), best of N. Bar: under 2 s.
2. Reference-interpreter veto-probability queries per second on examples/prefill.libet, over a
   fixed list of random states (assignment, phase, depth). Bar: at least 100,000 per second.

Usage: python benchmarks/bench_spec.py [--lines 10000] [--repeat 3] [--peer PYTHON]

``--peer PYTHON``: also time ``PYTHON -m libet check`` on the same file, alternating with this
install's runs, and print the ratio: PYTHON is the interpreter of another install of libet (an
older commit in its own venv, say), so the comparison shares the machine's load.
"""

from __future__ import annotations

import argparse
import os
import random
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
sys.path.insert(0, HERE)

from gen_spec import generate  # noqa: E402


def bench_check(lines: int, repeat: int, peer: str | None = None) -> None:
    text = generate(lines)
    runners = {"this install": sys.executable}
    if peer:
        runners["peer"] = peer
    with tempfile.TemporaryDirectory() as tmp:
        path = os.path.join(tmp, "big.libet")
        with open(path, "w") as fh:
            fh.write(text)
        n_lines = text.count("\n")
        times: dict[str, list[float]] = {k: [] for k in runners}
        for _ in range(repeat):
            for name, python in runners.items():
                t0 = time.perf_counter()
                # from the temporary folder, so that no source tree in the current folder is imported
                r = subprocess.run([python, "-m", "libet", "check", path], capture_output=True, text=True, cwd=tmp)
                times[name].append(time.perf_counter() - t0)
                assert r.returncode == 0, r.stderr[-2000:]
        from libet.spec.loader import load_path

        t0 = time.perf_counter()
        load_path(path)
        in_process = time.perf_counter() - t0
    print(f"libet check, generated spec of {n_lines:,} lines ({len(text) / 1e3:.0f} kB), load average {os.getloadavg()[0]:.2f}:")
    for name, ts in times.items():
        print(f"  {name}: process wall time, best of {repeat}: {min(ts):.2f} s, median {sorted(ts)[len(ts) // 2]:.2f} s "
              f"(all: {', '.join(f'{t:.2f}' for t in ts)})")
    if peer:
        print(f"  this install / peer (best): {min(times['this install']) / min(times['peer']):.2f}")
    print(f"  in-process load_path (parse + check): {in_process:.2f} s")


def bench_interpreter(queries: int) -> None:
    import libet

    spec = libet.load(os.path.join(ROOT, "examples", "prefill.libet"))
    interp = spec.interpreter()
    rng = random.Random(0)
    states = []
    names = list(spec.ir.variables)
    doms = [spec.ir.variables[n].domain.values() for n in names]
    phases = spec.ir.trajectory.phase_names
    for _ in range(1000):
        a = {n: rng.choice(d) for n, d in zip(names, doms)}
        states.append((a, rng.choice(phases), rng.randrange(spec.ir.trajectory.horizon)))
    policies = list(spec.ir.policies)
    veto = interp.veto_probability
    best = 0.0
    for _ in range(3):
        t0 = time.perf_counter()
        n = 0
        while n < queries:
            for a, ph, d in states:
                for p in policies:
                    veto(p, a, ph, d)
            n += len(states) * len(policies)
        rate = n / (time.perf_counter() - t0)
        best = max(best, rate)
    print(f"reference interpreter, examples/prefill.libet, policies {', '.join(policies)}:")
    print(f"  veto_probability queries per second, best of 3 runs of {queries:,}: {best:,.0f}")


if __name__ == "__main__":
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--lines", type=int, default=10_000)
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--queries", type=int, default=300_000)
    ap.add_argument("--peer", help="the python of another libet install, timed alternately on the same file")
    args = ap.parse_args()
    bench_check(args.lines, args.repeat, args.peer)
    bench_interpreter(args.queries)
