"""Run every benchmark script in turn (``make bench``); each prints its own figures, which
docs/benchmarks.md records with the machine they were measured on.

Run:  .venv/bin/python benchmarks/run_all.py [--repeat N]
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys

SCRIPTS = ("bench_spec.py", "bench_simulator.py", "bench_montecarlo.py", "bench_mdp.py", "bench_proofs.py", "bench_scale.py",
           "bench_testing.py", "bench_fit.py")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    here = os.path.dirname(os.path.abspath(__file__))
    status = 0
    for name in SCRIPTS:
        print(f"==> {name}", flush=True)
        done = subprocess.run([sys.executable, os.path.join(here, name), "--repeat", str(args.repeat)])
        status = status or done.returncode
    return status


if __name__ == "__main__":
    sys.exit(main())
