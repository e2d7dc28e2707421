"""Simulator benchmarks: libet's exact engine against Storm on the same model, Monte Carlo
throughput, and the peak memory of a 10^6-state exact solve.

Run:  .venv/bin/python benchmarks/bench_simulator.py [--repeat 3]

Models (written here as libet source, exported with libet's PRISM export for Storm):

1. one phase, horizon 10^6 (10^6 transient states), momentum transitions with exp;
2. 1,000 framing assignments x horizon 1,000 (10^6 states in all): the continuation
   probability depends on the framing variable, so every assignment is its own class;
3. Monte Carlo on a one-phase horizon-1,000 model: trajectory steps per second on one core.

libet's time is Model construction + exact solve of P(harm) (the question Storm answers), and
separately the full outcome table (all measures and expected depths). Storm's time is parsing
the exported PRISM file + building the sparse model + checking P=? [F "harm"]; the fastest of
the configurations tried is reported. Peak memory of the exact solve is measured in a fresh
subprocess (ru_maxrss minus the interpreter's baseline after imports).
"""

from __future__ import annotations

import argparse
import os
import platform
import subprocess
import sys
import tempfile
import time

ONE_PHASE = """
spec "bench: one phase, horizon 10^6"
substance { topic: {everyday, weapons} }
param base = 0.2
param gain = 0.000005
value ok = topic != weapons
trajectory {
  horizon 1000000
  start answer
  phase answer {
    -> answer : 1 - (1 - base) * exp(-gain * depth) * 0.00001
    -> stop : otherwise
  }
}
policy shallow { veto when violates ok and depth < 5 with strength 0.5 }
"""

FRAMINGS = """
spec "bench: 1,000 framings x horizon 1,000"
substance { topic: {everyday, weapons} }
framing { style: 0..999 }
param gain = 0.002
value ok = topic != weapons
trajectory {
  horizon 1000
  start answer
  phase answer {
    -> answer : 1 - 0.001 * (1 + style / 1000) * exp(-gain * depth)
    -> stop : otherwise
  }
}
policy shallow { veto when violates ok and depth < 3 with strength 0.5 }
"""

MC = """
spec "bench: Monte Carlo"
substance { topic: {everyday, weapons} }
param gain = 0.01
value ok = topic != weapons
trajectory {
  horizon 1000
  start answer
  phase answer {
    -> answer : 1 - 0.002 * exp(-gain * depth)
    -> stop : otherwise
  }
}
policy shallow { veto when violates ok and depth < 3 with strength 0.2 }
"""


def machine() -> str:
    try:
        lscpu = subprocess.run(["lscpu"], capture_output=True, text=True).stdout.splitlines()[:10]
    except OSError:
        lscpu = []
    return "\n".join(lscpu + [f"nproc: {os.cpu_count()}", f"python: {platform.python_version()}"])


def libet_solve(src: str, fixed: dict, measures):
    import libet
    from libet.simulator.exact import solve
    from libet.simulator.model import Model
    from libet.spec import measures as ms

    spec = libet.loads(src).ir
    t = time.perf_counter()
    table = solve(Model(spec, "shallow", fixed=fixed), [ms.parse(m) for m in measures])
    value = table.aggregate(ms.HARM).value
    return time.perf_counter() - t, value


def storm_check(prism_text: str):
    import stormpy

    fd, path = tempfile.mkstemp(suffix=".pm")
    with os.fdopen(fd, "w") as fh:
        fh.write(prism_text)
    best = None
    try:
        for name, options in (("sparse, default", {}), ("sparse, only initial states", {"only_initial_states": True})):
            t = time.perf_counter()
            prog = stormpy.parse_prism_program(path)
            props = stormpy.parse_properties('P=? [F "harm"]', prog)
            model = stormpy.build_model(prog, props)
            res = stormpy.model_checking(model, props[0], **options)
            value = res.get_value(model.initial_states[0])
            took = time.perf_counter() - t
            if best is None or took < best[0]:
                best = (took, value, name, model.nr_states)
    finally:
        os.unlink(path)
    return best


def compare(label: str, src: str, fixed: dict, repeat: int) -> dict:
    import libet
    from libet.simulator.prism import to_prism
    from libet.spec import measures as ms

    spec = libet.loads(src).ir
    # Storm answers P(harm): export just that (no depth rewards, so no extra absorbing states).
    text = to_prism(spec, "shallow", fixed=fixed, measures=[ms.HARM])
    harm_only = min(libet_solve(src, fixed, ("P(harm)",))[0] for _ in range(repeat))
    full = ("P(harm)", "P(vetoed)", "P(stopped)", "P(delivered)", "P(over-refusal)", "E(depth)")
    t_full, value = min(libet_solve(src, fixed, full) for _ in range(repeat))
    s_time, s_value, config, states = min(storm_check(text) for _ in range(max(1, repeat - 1)))
    row = {
        "model": label,
        "storm states": states,
        "libet P(harm) only (s)": harm_only,
        "libet all measures (s)": t_full,
        "storm build+check (s)": s_time,
        "storm config": config,
        "ratio (P(harm) only)": s_time / harm_only,
        "ratio (all measures)": s_time / t_full,
        "libet P(harm)": value,
        "storm P(harm)": s_value,
        "|difference|": abs(value - s_value),
    }
    return row


def mc_throughput(runs: int) -> dict:
    import libet
    from libet.simulator import montecarlo
    from libet.simulator.model import Model

    spec = libet.loads(MC).ir
    model = Model(spec, "shallow", fixed={"topic": "weapons"})
    tables = montecarlo.Tables(model)
    t = time.perf_counter()
    est = montecarlo.run(model, runs, 1, tables=tables)
    took = time.perf_counter() - t
    return {"runs": runs, "steps": est.steps, "seconds": took, "steps per second": est.steps / took}


_MEMORY_CHILD = """
import resource, sys, tracemalloc
sys.path.insert(0, {root!r})


def high_water_kb():
    # VmHWM belongs to this process's own address space; Linux keeps ru_maxrss across exec,
    # so it would report the parent's peak (Storm's models) when that was larger.
    try:
        with open("/proc/self/status") as fh:
            for line in fh:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1])
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss


import libet
from libet.simulator.exact import solve
from libet.simulator.model import Model
spec = libet.loads({src!r}).ir
before = high_water_kb()
tracemalloc.start()
solve(Model(spec, "shallow", fixed={{"topic": "weapons"}}))
current, peak = tracemalloc.get_traced_memory()
print(peak, before, high_water_kb())
"""


def peak_memory() -> dict:
    """Peak memory allocated during the solve (tracemalloc sees numpy's buffers), measured in a
    fresh process so nothing else is counted."""
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    code = _MEMORY_CHILD.format(root=root, src=ONE_PHASE)
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.split()
    return {
        "peak MB allocated during the solve": int(out[0]) / 2**20,
        "peak RSS of the whole process, MB (Python, numpy, libet, the spec, the solve)": int(out[2]) / 1024,
        "of which before the solve, MB": int(out[1]) / 1024,
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--mc-runs", type=int, default=200_000)
    args = ap.parse_args()
    os.environ.setdefault("OMP_NUM_THREADS", "1")
    print("## machine\n" + machine() + "\n")
    rows = [
        compare("one phase, horizon 10^6", ONE_PHASE, {"topic": "weapons"}, args.repeat),
        compare("1,000 framings x horizon 1,000", FRAMINGS, {"topic": "weapons"}, args.repeat),
    ]
    for r in rows:
        print(f"## {r['model']}")
        for k, v in r.items():
            print(f"  {k}: {v:.4g}" if isinstance(v, float) else f"  {k}: {v}")
    mc = mc_throughput(args.mc_runs)
    print("## Monte Carlo (one core)")
    for k, v in mc.items():
        print(f"  {k}: {v:.4g}" if isinstance(v, float) else f"  {k}: {v}")
    mem = peak_memory()
    print("## peak memory of the 10^6-state exact solve (all measures)")
    for k, v in mem.items():
        print(f"  {k}: {v:.1f}")


if __name__ == "__main__":
    main()
