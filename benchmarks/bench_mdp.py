"""MDP benchmark: an adversarial conversation of about 10^6 states, Pmax(harm) by libet's
layered value iteration and by Storm on libet's PRISM export of the same model, in one run.

Run:  .venv/bin/python benchmarks/bench_mdp.py [--repeat 3] [--horizon 64]

The model: a conversation of `horizon` turns with three state variables, escalation 0..31,
refusals 0..31 and the encoding (16 values) the adversary picks at every turn, so 16,384
valuations x 64 depths = 1,048,576 transient states for libet (every valuation, reachable or
not). Storm builds the reachable part of the export, where each state before the adversary's
choice and after it is its own state (the `ch` flag), so its state count is printed too.

- libet: Model construction + the layered solve of Pmax(harm) (the spec is parsed and checked
  beforehand, untimed).
- Storm (stormpy): parse of the export + sparse build + `Pmax=? [F "harm"]`, all timed.

Times are CPU time of this process (libet, numpy and Storm are single-threaded here), the best
of --repeat (Storm: --storm-repeat). The values must agree to 1e-9, or the script exits 1.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)

from bench_simulator import load, machine  # noqa: E402

FIXED = {"topic": "weapons"}


def source(horizon: int) -> str:
    return f"""
spec "bench: an adaptive attacker, 16 encodings x escalation x refusals"
substance {{ topic: {{everyday, weapons}} }}
state {{
  escalation: 0..31 = 0
  refusals: 0..31 = 0
  encoding: {{e0, e1, e2, e3, e4, e5, e6, e7, e8, e9, e10, e11, e12, e13, e14, e15}} = e0
}}
value ok = topic != weapons
def seen = encoding in {{e0, e1, e2, e3, e4, e5, e6, e7}}
trajectory {{
  horizon {horizon} then stop
  start turn
  phase turn {{
    choose encoding
    -> deliver : if escalation >= 8 then 0.02 + 0.001 * escalation else 0
    -> stop : 0.01 + 0.0005 * refusals
    -> turn : otherwise then escalation = min(escalation + 1, 31)
  }}
}}
policy keyword {{
  veto when violates ok and seen with strength 0.5 then -> turn
    then refusals = min(refusals + 1, 31), escalation = max(escalation - 2, 0)
  veto when violates ok and refusals >= 12 with strength 0.3
}}
"""


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--storm-repeat", type=int, default=1)
    parser.add_argument("--horizon", type=int, default=64)
    args = parser.parse_args()
    if args.storm_repeat < 1:
        parser.error("--storm-repeat must be at least 1 (the run compares libet with Storm)")
    import libet
    from libet.simulator.layered import solve
    from libet.simulator.model import Model
    from libet.simulator.prism import prism_properties, to_prism
    from libet.spec import measures as ms

    for line in machine("engine: layered value iteration (simulator/layered.py, numpy; no compiled recurrence)"):
        print(line)
    spec = libet.loads(source(args.horizon)).ir
    m = ms.parse("Pmax(harm)")
    best = float("inf")
    value = None
    for _ in range(args.repeat):
        t = time.process_time()
        table = solve(Model(spec, "keyword", fixed=FIXED), [m])
        best = min(best, time.process_time() - t)
        value = float(table.aggregate(m).value)
    states = spec.state_count() * args.horizon
    print(f"libet: {states:,} states (valuations x depths), Pmax(harm) = {value:.12f}, {best:.3f} s")
    text = to_prism(spec, "keyword", fixed=FIXED, measures=[m])
    (_, prop, _), = prism_properties(spec, "keyword", [m], fixed=FIXED)
    import stormpy

    storm_best = float("inf")
    for _ in range(args.storm_repeat):
        fd, path = tempfile.mkstemp(suffix=".pm")
        with os.fdopen(fd, "w") as fh:
            fh.write(text)
        try:
            t = time.process_time()
            prog = stormpy.parse_prism_program(path)
            props = stormpy.parse_properties(prop, prog)
            model = stormpy.build_model(prog, props)
            res = stormpy.model_checking(model, props[0], only_initial_states=True)
            storm_value = res.get_value(model.initial_states[0])
            storm_best = min(storm_best, time.process_time() - t)
        finally:
            os.unlink(path)
    print(f"storm: {model.nr_states:,} states, {model.nr_choices:,} choices, Pmax(harm) = {storm_value:.12f}, "
          f"{storm_best:.3f} s (parse + build + check)")
    ok = abs(storm_value - value) <= 1e-9
    print(f"ratio storm / libet: {storm_best / best:.1f}x; values agree to 1e-9: {ok}; load at end: {load()}")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
