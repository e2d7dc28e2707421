"""Start-up of the `libet` command: `libet --help`, `libet --version` and `libet check` on a
small file, each in a fresh process, wall time; and what `import libet.cli` loads. The bar
(issue 11): under 0.3 s for `--help` and for `check` on a small file.

Run:  .venv/bin/python benchmarks/bench_startup.py [--repeat N]

Prints one line per command: the best and the median of N runs, and the baseline of a Python
that imports nothing (`python -c pass`, with the same site-packages), so the figures can be
read against what the interpreter itself costs on the machine.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
SMALL = os.path.join(ROOT, "examples", "prefill.libet")


def timed(cmd: list[str], repeat: int) -> list[float]:
    out = []
    for _ in range(repeat):
        t = time.perf_counter()
        done = subprocess.run(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        out.append(time.perf_counter() - t)
        if done.returncode not in (0, 1):
            raise SystemExit(f"{' '.join(cmd)} exited with {done.returncode}")
    return out


def heavy_modules() -> list[str]:
    """Engine modules `import libet.cli` must not load."""
    code = ("import sys, libet.cli; print(' '.join(m for m in ('z3', 'numpy', 'matplotlib', 'scipy', "
            "'lark', 'libet.spec.ir', 'importlib.metadata', 'rich') if m in sys.modules))")
    return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True).stdout.split()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--repeat", type=int, default=7)
    args = parser.parse_args()
    libet = os.path.join(os.path.dirname(sys.executable), "libet")
    rows = [
        ("python -c pass (baseline)", [sys.executable, "-c", "pass"]),
        ("libet --help", [libet, "--help"]),
        ("libet --version", [libet, "--version"]),
        ("libet check examples/prefill.libet", [libet, "check", SMALL]),
    ]
    timed(rows[1][1], 1)  # warm the file cache
    for name, cmd in rows:
        ts = timed(cmd, args.repeat)
        print(f"{name:40} best {min(ts):.3f} s   median {statistics.median(ts):.3f} s   "
              f"(runs: {', '.join(f'{t:.3f}' for t in ts)})")
    print(f"{'import libet.cli loads':40} {', '.join(heavy_modules()) or 'none of z3, numpy, matplotlib, scipy, lark, rich'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
