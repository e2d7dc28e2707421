"""Exact-engine benchmarks: libet, Storm and a hand-written numpy peer on the same chains, in one
run, with the ratios; the fixed cost of a small solve; the peak memory of a 10^7-state solve.

Run:  .venv/bin/python benchmarks/bench_simulator.py [--repeat 3] [--sizes 10000,...]
      [--storm-repeat-big 1] [--no-storm] [--recurrence compiled|numpy]

The chains (benchmarks/sim_models.py): one phase, and ten phases in a ring, each at 10^4, 10^5,
10^6 and 10^7 transient states (horizon = states / phases), solved for the harmful assignment;
plus 1,000 framing values x horizon 1,000 (every value its own class) against Storm alone.

- libet: ``Model`` construction + the exact solve of P(harm), the question Storm and the peer
  answer (the spec is parsed and checked beforehand, untimed); "all measures" solves the six
  standard measures instead. The recurrence runs as --recurrence says (LIBET_COMPILED,
  simulator/compiled.py): ``compiled`` (the default when the install built the C loop) or
  ``numpy``. With ``compiled``, the column "numpy recurrence" times the same solve with numpy's
  blocked recurrence, in the same run.
- numpy peer: sim_models.exact_peer, the same chain written by hand (no libet code): the
  probabilities of all depths from one numpy expression each, then the backward pass.
- Storm (stormpy): parse of libet's own PRISM export of the same model (exported for P(harm),
  untimed) + sparse build + ``P=? [F "harm"]``, the faster of the default engine and
  ``only_initial_states=True``.

Every time is the best of --repeat rounds (libet and the peer alternate, so a change in the
machine's load hits both); a round of a call shorter than 20 ms repeats it to fill 20 ms and
counts the mean, as ``timeit`` does; at 10^7 states Storm runs --storm-repeat-big times. Times
are the CPU time of this process (``time.process_time``: libet, numpy and Storm all run
single-threaded in it), so that on a shared machine they do not count the time spent waiting
for a core; ``--clock wall`` measures wall-clock time instead. Values must agree to 1e-9
(libet against Storm and against the peer); the script exits 1 if any does not. The peak
memory is the VmHWM of a fresh process that loads the spec and solves it (the whole process:
Python, numpy, libet and the solve), read by that process itself from /proc/self/status.
"""

from __future__ import annotations

import argparse
import os
import platform
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
sys.path.insert(0, HERE)

import sim_models as sm  # noqa: E402

SIZES = (10**4, 10**5, 10**6, 10**7)
TOLERANCE = 1e-9
CLOCKS = {"cpu": time.process_time, "wall": time.perf_counter}
clock = time.process_time  # main() sets it from --clock
STANDARD = ("P(harm)", "P(vetoed)", "P(stopped)", "P(delivered)", "P(over-refusal)", "E(depth)")

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


def machine(engine: str | None = None) -> list[str]:
    """The machine, as docs/benchmarks.md records it; ``engine`` replaces the line on the exact
    engine's recurrence (for a script whose engine does not run it)."""
    import numpy

    model = ""
    try:
        for line in subprocess.run(["lscpu"], capture_output=True, text=True).stdout.splitlines():
            if line.startswith("Model name:"):
                model = line.split(":", 1)[1].strip()
    except OSError:
        pass
    try:
        import stormpy

        storm = stormpy.__version__
    except ImportError:
        storm = "not installed"
    return [
        f"cpu: {model or platform.processor()}",
        f"nproc: {os.cpu_count()}",
        f"python {platform.python_version()}, numpy {numpy.__version__}, stormpy {storm}",
        engine or f"exact engine's recurrence: {RECURRENCE}",
        f"date: {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}",
        f"load average at start: {load()}",
    ]


def load() -> str:
    return " ".join(f"{x:.2f}" for x in os.getloadavg())


def libet_solver(src: str, measures, fixed=None):
    """A function that builds the model and solves it, returning P(harm) (parsing untimed)."""
    import libet
    from libet.simulator.exact import solve
    from libet.simulator.model import Model
    from libet.spec import measures as ms

    spec = libet.loads(src).ir
    parsed = [ms.parse(m) for m in measures]
    fixed = sm.FIXED if fixed is None else fixed

    def run():
        return solve(Model(spec, "shallow", fixed=fixed), parsed).aggregate(ms.HARM).value

    return run


def prism_text(src: str, fixed=None) -> str:
    import libet
    from libet.simulator.prism import to_prism
    from libet.spec import measures as ms

    return to_prism(libet.loads(src).ir, "shallow", fixed=sm.FIXED if fixed is None else fixed, measures=[ms.HARM])


def storm_check(text: str, repeat: int):
    """(seconds, value, configuration, states): the fastest run of Storm on ``text``."""
    import stormpy

    fd, path = tempfile.mkstemp(suffix=".pm")
    with os.fdopen(fd, "w") as fh:
        fh.write(text)
    best = None
    try:
        for _ in range(repeat):
            for name, options in (("default", {}), ("only initial states", {"only_initial_states": True})):
                t, w = clock(), time.perf_counter()
                prog = stormpy.parse_prism_program(path)
                props = stormpy.parse_properties('P=? [F "harm"]', prog)
                model = stormpy.build_model(prog, props)
                res = stormpy.model_checking(model, props[0], **options)
                value = res.get_value(model.initial_states[0])
                took, wall = clock() - t, time.perf_counter() - w
                if clock is time.process_time and took > 1.1 * wall:
                    print(f"  note: Storm used {took:.2f} s of CPU in {wall:.2f} s: more than one thread")
                if best is None or took < best[0]:
                    best = (took, value, name, model.nr_states)
                del model, res, prog
    finally:
        os.unlink(path)
    return best


#: A round of a fast function repeats it until the round takes this long (clock seconds), as
#: ``timeit``'s autorange does: the best single call of a sub-millisecond solve measured how warm
#: the interpreter was (libet's first ten calls at 10^4 states take 0.53 down to 0.30 ms).
ROUND = 0.02


def best_of(fns, repeat: int):
    """Run each of ``fns`` in turn, ``repeat`` rounds; the best time per call and the value of
    each. A round of a function that takes less than ROUND calls it as often as fills ROUND
    (the count fixed by its first call) and counts the round's mean."""
    times = [float("inf")] * len(fns)
    values = [None] * len(fns)
    calls = [0] * len(fns)
    for _ in range(repeat):
        for i, fn in enumerate(fns):
            t = clock()
            values[i] = fn()
            first = clock() - t
            if not calls[i]:
                calls[i] = max(1, min(1000, int(ROUND / max(first, 1e-6))))
            n = calls[i]
            if n > 1:
                t = clock()
                for _ in range(n):
                    values[i] = fn()
                first = (clock() - t) / n
            times[i] = min(times[i], first)
    return times, values


def numpy_recurrence(fn):
    """``fn`` with the exact engine's recurrence in numpy (LIBET_COMPILED=0) for the call."""

    def run():
        os.environ["LIBET_COMPILED"] = "0"
        try:
            return fn()
        finally:
            os.environ["LIBET_COMPILED"] = "1"

    return run


def agree(a: float, b: float) -> bool:
    return abs(a - b) <= TOLERANCE * max(1.0, abs(a))


def exact_rows(sizes, repeat: int, storm_repeat_big: int, with_storm: bool):
    rows = []
    for kind in sm.KINDS:
        for states in sizes:
            H = states // sm.PHASES[kind]
            src = sm.source(kind, H)
            harm = libet_solver(src, ("P(harm)",))
            full = libet_solver(src, STANDARD)
            harm()  # imports and first-use costs are not the chain's
            peer_repeat = repeat if kind == "one" or H <= 10**5 else max(1, min(repeat, 2))
            fns = [harm, lambda: sm.exact_peer(kind, H)]
            if RECURRENCE == "compiled":
                fns.append(numpy_recurrence(harm))
            (t_harm, t_peer, *t_numpy), (v_harm, v_peer, *v_numpy) = best_of(fns, peer_repeat)
            (t_full,), (v_full,) = best_of([full], repeat)
            row = {
                "kind": kind,
                "states": states,
                "horizon": H,
                "libet": t_harm,
                "libet all": t_full,
                "peer": t_peer,
                "value": v_harm,
                "peer value": v_peer,
                "ok peer": agree(v_harm, v_peer) and agree(v_full, v_harm) and all(agree(v, v_harm) for v in v_numpy),
                "numpy recurrence": t_numpy[0] if t_numpy else None,
            }
            if with_storm:
                s_time, s_value, config, s_states = storm_check(prism_text(src), storm_repeat_big if states >= 10**7 else repeat)
                row.update({"storm": s_time, "storm value": s_value, "storm config": config, "storm states": s_states,
                            "ok storm": agree(v_harm, s_value)})
            rows.append(row)
            print_row(row, with_storm)
    return rows


HEADER = (
    "| chain | states | horizon | libet P(harm) | libet all measures | numpy peer | libet / peer "
    "| Storm build + check | Storm / libet | P(harm) | \\|libet − peer\\| | \\|libet − Storm\\| |"
)
#: how the recurrence runs: "compiled" or "numpy" (main() sets it from --recurrence)
RECURRENCE = "numpy"


def print_header(with_storm: bool) -> None:
    extra = " numpy recurrence | Storm / numpy recurrence |" if RECURRENCE == "compiled" else ""
    print(HEADER + extra)
    print("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|" + ("---:|---:|" if extra else ""), flush=True)


def print_row(r: dict, with_storm: bool) -> None:
    chain = "one phase" if r["kind"] == "one" else "ten phases"
    storm = (
        f"{r['storm']:.3g} s ({r['storm config']}, {r['storm states']:,} states) | {r['storm'] / r['libet']:.0f}×"
        if with_storm else "– | –"
    )
    diff_storm = f"{abs(r['value'] - r['storm value']):.1e}" if with_storm else "–"
    print(
        f"| {chain} | {r['states']:,} | {r['horizon']:,} | {r['libet'] * 1e3:.2f} ms | {r['libet all'] * 1e3:.2f} ms "
        f"| {r['peer'] * 1e3:.2f} ms | {r['libet'] / r['peer']:.2f}× | {storm} | {r['value']:.12g} "
        f"| {abs(r['value'] - r['peer value']):.1e} | {diff_storm} |" + numpy_columns(r, with_storm),
        flush=True,
    )


def numpy_columns(r: dict, with_storm: bool) -> str:
    if r["numpy recurrence"] is None:
        return ""
    ratio = f"{r['storm'] / r['numpy recurrence']:.0f}×" if with_storm else "–"
    return f" {r['numpy recurrence'] * 1e3:.2f} ms | {ratio} |"


def framings_row(repeat: int):
    fixed = {"topic": "weapons"}
    harm = libet_solver(FRAMINGS, ("P(harm)",), fixed)
    harm()
    (t,), (v,) = best_of([harm], repeat)
    s_time, s_value, config, states = storm_check(prism_text(FRAMINGS, fixed), repeat)
    print(
        f"| 1,000 framings × horizon 1,000 | {states:,} Storm states | libet {t * 1e3:.1f} ms | Storm {s_time:.2f} s "
        f"({config}) | {s_time / t:.0f}× | \\|libet − Storm\\| {abs(v - s_value):.1e} |",
        flush=True,
    )
    return agree(v, s_value)


def product_accuracy(sizes) -> None:
    """One phase's P(harm) is the product of the chain's continuation probabilities: print how
    far libet's and the peer's (np.prod) are from that product in 60-digit decimals (each of the
    n multiplications rounds by at most 5e-60 there), in ulps of the result."""
    from decimal import Decimal, localcontext

    import numpy as np

    print("\n## accuracy of one phase's P(harm): distance from the product of the same factors in 60-digit decimals")
    for states in sizes:
        factors = sm.one_factors(states)
        with localcontext() as ctx:
            ctx.prec = 60
            exact = Decimal(1)
            for v in factors.tolist():
                exact *= Decimal(v)
            ulp = Decimal(float(np.spacing(float(exact))))
            far = {name: float(abs(Decimal(x) - exact) / ulp)
                   for name, x in (("libet", libet_solver(sm.source("one", states), ("P(harm)",))()),
                                   ("np.prod (the peer)", float(np.prod(factors))))}
        print(f"  {states:,} states: " + ", ".join(f"{name} {d:.2f} ulp" for name, d in far.items()))


def small_overhead(runs: int = 2000) -> dict:
    """The whole cost of a small solve (one phase, horizon 10): Model + solve, P(harm) alone and
    the six standard measures; median and best of ``runs``."""
    out = {}
    for label, measures in (("P(harm)", ("P(harm)",)), ("all measures", STANDARD)):
        fn = libet_solver(sm.source("one", 10), measures)
        for _ in range(50):
            fn()
        times = []
        for _ in range(runs):
            t = time.perf_counter()
            fn()
            times.append(time.perf_counter() - t)
        times.sort()
        out[label] = (times[len(times) // 2], times[0])
    return out


_MEMORY_CHILD = """
import sys
sys.path.insert(0, {here!r})


def high_water_kb():
    # This process's own peak resident set (ru_maxrss of a child can include its parent's peak).
    with open("/proc/self/status") as fh:
        for line in fh:
            if line.startswith("VmHWM:"):
                return int(line.split()[1])


import sim_models as sm
import libet
from libet.simulator.exact import solve
from libet.simulator.model import Model
from libet.spec import measures as ms
spec = libet.loads(sm.source({kind!r}, {horizon})).ir
before = high_water_kb()
table = solve(Model(spec, "shallow", fixed=sm.FIXED), ms.STANDARD)
print(before, high_water_kb(), table.aggregate(ms.HARM).value)
"""


def peak_memory(kind: str, states: int) -> tuple[float, float]:
    """(VmHWM before the solve, VmHWM after it) in MB of a fresh process solving ``kind`` at
    ``states`` for the six standard measures."""
    code = _MEMORY_CHILD.format(here=HERE, kind=kind, horizon=states // sm.PHASES[kind])
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.split()
    return int(out[0]) / 1024, int(out[1]) / 1024


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--sizes", default=",".join(str(s) for s in SIZES), help="transient states, comma-separated")
    ap.add_argument("--storm-repeat-big", type=int, default=1, help="Storm runs at 10^7 states (each takes tens of seconds)")
    ap.add_argument("--no-storm", action="store_true", help="skip Storm (the ratios against it are then not measured)")
    ap.add_argument("--clock", choices=sorted(CLOCKS), default="cpu", help="CPU time of this process (default) or wall time")
    ap.add_argument("--recurrence", choices=("compiled", "numpy"), default=None,
                    help="how the exact engine runs its recurrence (default: compiled when the install built it)")
    ap.add_argument("--accuracy-max", type=int, default=10**6,
                    help="largest one-phase chain whose product is also computed in 60-digit decimals (10^7: about 10 s)")
    args = ap.parse_args()
    global clock, RECURRENCE
    clock = CLOCKS[args.clock]
    from libet.simulator import compiled

    RECURRENCE = args.recurrence or ("compiled" if compiled.available() else "numpy")
    os.environ["LIBET_COMPILED"] = "1" if RECURRENCE == "compiled" else "0"
    sizes = tuple(int(s) for s in args.sizes.split(","))
    with_storm = not args.no_storm
    if with_storm:
        try:
            import stormpy  # noqa: F401
        except ImportError:
            print("stormpy is not installed (pip install -e '.[dev]'); running without Storm")
            with_storm = False
    print("## machine")
    for line in machine():
        print("  " + line)
    ok = True

    print(f"\n## exact engine: libet, the numpy peer and Storm on the same chain (best of runs, {args.clock} time)\n")
    print_header(with_storm)
    rows = exact_rows(sizes, args.repeat, args.storm_repeat_big, with_storm)
    ok &= all(r["ok peer"] and r.get("ok storm", True) for r in rows)
    if with_storm:
        print()
        ok &= framings_row(args.repeat)

    product_accuracy([n for n in sizes if n <= args.accuracy_max])

    over = small_overhead()
    print("\n## fixed cost of a small solve (one phase, horizon 10: Model + solve), 2,000 runs")
    for label, (median, fastest) in over.items():
        print(f"  {label}: median {median * 1e3:.3f} ms, best {fastest * 1e3:.3f} ms")

    print("\n## peak memory of a 10^7-state solve (six standard measures), VmHWM of a fresh process"
          f" (recurrence: {RECURRENCE})")
    mem = {}
    for kind in sm.KINDS:
        before, after = peak_memory(kind, 10**7)
        mem[kind] = after
        print(f"  {kind} phase(s): {after:.1f} MB (of which {before:.1f} MB before the solve: Python, numpy, libet, the spec)")

    print("\n## bars")
    big = [r for r in rows if r["states"] >= 10**6]
    median = over["P(harm)"][0]
    for r in rows:
        met = r["libet"] <= 1.3 * r["peer"]
        # where the ratio fails, say what the fixed cost alone (model and solve at horizon 10)
        # costs against the peer, and what the rest of libet's time does
        fixed = "" if met else (f" (the small solve alone, {median * 1e3:.3f} ms, is {median / r['peer']:.1f}x the peer; "
                                f"the time beyond it, {max(0.0, r['libet'] - median) / r['peer']:.2f}x)")
        print(f"  {'met' if met else 'NOT met'}: libet within 1.3x of the numpy peer, "
              f"{r['kind']} phase(s), {r['states']:,} states: {r['libet'] / r['peer']:.2f}x{fixed}")
    if with_storm:
        for r in big:
            ratio = r["storm"] / r["libet"]
            print(f"  {'met' if ratio >= 100 else 'NOT met'}: at least 100x faster than Storm, {r['kind']} phase(s), "
                  f"{r['states']:,} states: {ratio:.0f}x")
    print(f"  {'met' if median < 1e-3 else 'NOT met'}: small solve under 1 ms: median {median * 1e3:.3f} ms")
    for kind, mb in mem.items():
        print(f"  {'met' if mb < 150 else 'NOT met'}: 10^7-state solve under 150 MB, {kind} phase(s): {mb:.1f} MB")
    print(f"  values agree to {TOLERANCE:g} (libet, peer, Storm): {'yes' if ok else 'NO'}")
    print(f"  load average at the end: {load()}")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
