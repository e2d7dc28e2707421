"""Scale benchmarks: how loading and solving grow with the shapes users write.

Run:  .venv/bin/python benchmarks/bench_scale.py [--repeat 3]

1. a variable with many values that only the reference values read (the prefill example with
   `uplift: 0..N-1`): model construction and exact solve of P(harm), summarised and with one
   row per assignment, and `libet simulate` and `libet export --prism` as a user runs them;
1b. a variable with many values that the dynamics read (`style: 0..N-1` in a transition's
   probability, every value its own class): load, model construction, exact solve of P(harm),
   and `libet export --prism`;
2b. 1,000 policies of three rules: loading and solving every one;
2. ten phases at a long horizon: loading (the static checks spend one budget for the spec)
   against solving P(harm) alone and the six measures `libet simulate` reports;
3. a flat weighted score of N terms and a chain of N/10 defs: load, one interpreter evaluation,
   one exact solve;
3b. a chain of N defs read by the transition, the start depth and a rule: load, the six
   measures, and `check` (Z3);
4. a ring of P phases (tests/test_scale.py's) and a policy of R rules, each at horizon 1,000:
   load, the exact solve of P(harm) and of the six measures, and `check` (the spec's
   `complete` and P(harm) checks).
5. phases and rules the bounds settle (spec/bounds.py): loading ten phases with and without the
   bounds, and the 8,000-term chains' load against their solve, round by round.
6. a state variable declared far past what a trajectory reaches (crescendo with `refusals:
   0..N`): every declared valuation laid out against the box of the reachable ones.

Every figure is an absolute wall time on the machine printed first (best of --repeat runs); the
growth between rows is what to read: a linear cost doubles when N doubles.
"""

from __future__ import annotations

import argparse
import os
import platform
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "tests"))


def best(fn, repeat: int) -> float:
    times = []
    for _ in range(repeat):
        t = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
    return min(times)


def many_values(repeat: int) -> None:
    import subprocess
    import tempfile

    import libet
    from libet.simulator.exact import solve
    from libet.simulator.model import Model
    from libet.spec import measures as ms

    base = open(os.path.join(HERE, "..", "examples", "prefill.libet")).read()
    print("## a variable read only by the reference values: prefill with uplift 0..N-1")
    print("Summarised: Model(keep=()), as libet simulate builds it; full: one row per assignment (the peer).")
    print("| N | assignments | table rows, summarised | model + solve, summarised (s) | model + solve, full (s) "
          "| `libet simulate` (s) | `libet export --prism` (s) |")
    print("|---:|---:|---:|---:|---:|---:|---:|")
    for n in (1_000, 10_000, 100_000, 1_000_000):
        src = base.replace("uplift: 0..3", f"uplift: 0..{n - 1}")
        spec = libet.loads(src, os.path.join(HERE, "..", "examples", "prefill_scale.libet")).ir
        summarised = best(lambda: solve(Model(spec, "shallow", keep=()), [ms.HARM]), repeat)
        rows = Model(spec, "shallow", keep=()).size
        full_model = Model(spec, "shallow") if n <= 100_000 else None
        full = best(lambda: solve(Model(spec, "shallow"), [ms.HARM]), repeat) if full_model else None
        with tempfile.TemporaryDirectory() as tmp:
            path = os.path.join(tmp, "big.libet")
            with open(path, "w") as fh:
                fh.write(src)
            cli = [sys.executable, "-m", "libet"]
            sim = best(lambda: subprocess.run([*cli, "simulate", path], check=True, capture_output=True), repeat)
            out = os.path.join(tmp, "m.prism")
            export = best(lambda: subprocess.run([*cli, "export", "--prism", path, "--policy", "shallow", "-o", out,
                                                  "--force"], check=True, capture_output=True), repeat)
        assignments = n * 3 * 41
        full_text = f"{full:.3f}" if full is not None else "refused (table too large)"
        print(f"| {n:,} | {assignments:,} | {rows} | {summarised:.3f} | {full_text} | {sim:.2f} | {export:.2f} |")


def dynamics_source(n: int, horizon: int = 16) -> str:
    """A framing variable of ``n`` values read by the transition probability (each value its
    own class, twice: the rule reads `topic` too)."""
    return f"""spec "a framing variable of {n:,} values that the dynamics read"
substance {{ topic: {{everyday, weapons}} }}
framing {{ style: 0..{n - 1} }}
value ok = topic != weapons
trajectory {{
  horizon {horizon}
  start answer
  phase answer {{
    -> answer : 1 - 0.01 * (1 + style / {n}) * exp(-0.05 * depth)
    -> stop : otherwise
  }}
}}
policy shallow {{ veto when violates ok and depth < 3 with strength 0.5 }}
"""


def dynamics_values(repeat: int) -> None:
    import subprocess
    import tempfile

    import libet
    from libet.simulator.exact import solve
    from libet.simulator.model import Model
    from libet.spec import measures as ms

    print("\n## a variable the dynamics read: style 0..N-1 in the probability, horizon 16, 2N classes")
    print("| N | classes | states | load (s) | model (s) | solve P(harm) (s) | model + solve per 10^6 states (s) "
          "| `libet export --prism` (s) |")
    print("|---:|---:|---:|---:|---:|---:|---:|---:|")
    for n in (1_000, 10_000, 100_000, 1_000_000):
        src = dynamics_source(n)
        load = best(lambda: libet.loads(src), repeat)
        spec = libet.loads(src).ir
        model = best(lambda: Model(spec, "shallow"), repeat)
        m = Model(spec, "shallow")
        solved = best(lambda: solve(m, [ms.HARM]), repeat)
        states = m.n_classes * m.horizon
        with tempfile.TemporaryDirectory() as tmp:
            path = os.path.join(tmp, "dyn.libet")
            with open(path, "w") as fh:
                fh.write(src)
            out = os.path.join(tmp, "m.prism")
            export = best(lambda: subprocess.run([sys.executable, "-m", "libet", "export", "--prism", path, "-o", out,
                                                  "--force"], check=True, capture_output=True), repeat)
        per = (model + solved) / states * 1e6
        print(f"| {n:,} | {m.n_classes:,} | {states:,} | {load:.3f} | {model:.3f} | {solved:.3f} | {per:.3f} | {export:.2f} |",
              flush=True)


def many_policies(repeat: int) -> None:
    import libet
    from libet.simulator import outcomes
    from libet.spec import measures as ms

    print("\n## policies of 3 rules each: loading, then P(harm) of every policy by the exact engine")
    print("| policies | load (s) | solve all (s) | per policy (ms) |")
    print("|---:|---:|---:|---:|")
    for k in (100, 1_000):
        lines = ['spec "many policies"', "substance { topic: {everyday, chemistry, weapons}", " uplift: 0..3 }",
                 "framing { persona: {none, fiction, researcher} }", "value ok = not (topic == weapons and uplift >= 2)",
                 "trajectory { horizon 32  start answer", " phase answer { -> answer : 0.9  -> stop : otherwise } }"]
        for i in range(k):
            lines.append(f"policy p{i} {{ veto when violates ok and depth < {i % 30}\n"
                         f"  veto when persona == fiction and uplift >= {i % 4} with strength 0.{i % 9 + 1}\n"
                         f"  veto when topic == chemistry and depth >= {i % 17} with strength 0.5 }}")
        src = "\n".join(lines) + "\n"
        load = best(lambda: libet.loads(src), repeat)
        spec = libet.loads(src).ir
        solve_all = best(lambda: [outcomes(spec, p, measures=[ms.HARM]) for p in spec.policies], repeat)
        print(f"| {k:,} | {load:.2f} | {solve_all:.3f} | {solve_all / k * 1000:.2f} |")


def ten_phases(repeat: int) -> None:
    import numpy  # noqa: F401  (`libet simulate` has imported it before it loads the spec)
    from test_scale import _ten_phases

    import libet
    from libet.simulator import outcomes
    from libet.spec import measures as ms
    from libet.spec import semantics
    from libet.spec.diagnostics import Diagnostics
    from libet.spec.interpreter import Interpreter

    print("\n## ten phases, loading against solving (issue 12: loading never costs more than solving)")
    print("Load: parse + every check, the static probability checks included (one state at a time")
    print("or over arrays, spec/semantics.py's plan), with numpy imported, as in `libet simulate`.")
    print("Solve: the exact engine, the harmful assignment. The probability check is the part of the")
    print("load that grows with the model (semantics._transitions, timed alone on the loaded spec).")
    print("| horizon | load (s) | of it, the probability check (s) | solve P(harm) (s) "
          "| solve six measures, as `libet simulate` (s) | check / P(harm) |")
    print("|---:|---:|---:|---:|---:|---:|")
    harmful = {"bad": True}
    for h in (1_000, 10_000, 100_000, 1_000_000):
        src = _ten_phases(h)
        load_s = best(lambda: libet.loads(src), repeat)
        spec = libet.loads(src).ir
        check_s = best(lambda: semantics._transitions(spec, Interpreter(spec), Diagnostics(), semantics._Budget()),
                       repeat)
        harm_s = best(lambda: outcomes(spec, "p", fixed=harmful, measures=[ms.HARM]), repeat)
        six_s = best(lambda: outcomes(spec, "p", fixed=harmful), repeat)
        print(f"| {h:,} | {load_s:.4f} | {check_s:.4f} | {harm_s:.4f} | {six_s:.4f} | {check_s / harm_s:.2f} |")


def chains(repeat: int) -> None:
    from test_scale import _chains

    import libet
    from libet.simulator import outcomes
    from libet.spec import measures as ms
    from libet.spec import semantics
    from libet.spec.diagnostics import Diagnostics
    from libet.spec.interpreter import Interpreter

    print("\n## a weighted score of N terms, a product of N factors, a chain of N/10 defs")
    print("The static checks: the phase's probabilities and the rules' strengths at every state")
    print("(semantics._transitions and _strengths, timed alone on the loaded spec, numpy imported).")
    print("| N | load (s) | of it, the static checks (s) | one interpreter step (s) | exact solve, one assignment (s) |")
    print("|---:|---:|---:|---:|---:|")
    a = {"bad": True, "f0": True, "f1": False, "f2": True, "f3": False, "f4": True}

    def static_checks(spec):
        interp, d = Interpreter(spec), Diagnostics()
        semantics._transitions(spec, interp, d, semantics._Budget())
        semantics._strengths(spec, interp, d, semantics._Budget())

    for n in (1_000, 2_000, 4_000, 8_000):
        src = _chains(n, n // 10)
        load_s = best(lambda: libet.loads(src), repeat)
        spec = libet.loads(src).ir
        check_s = best(lambda: static_checks(spec), repeat)
        interp = Interpreter(spec)
        step_s = best(lambda: interp.transitions(a, "a", 1), repeat)
        solve_s = best(lambda: outcomes(spec, "weighted", fixed=a, measures=[ms.HARM]), repeat)
        print(f"| {n:,} | {load_s:.2f} | {check_s:.2f} | {step_s:.4f} | {solve_s:.3f} |")


def bounds(repeat: int) -> None:
    import numpy  # noqa: F401  (as in `libet simulate`)
    from test_scale import _chains, _ten_phases

    import libet
    from libet.spec.bounds import Bounds

    def without(fn):
        saved = Bounds.probabilities_settled, Bounds.strength_settled
        Bounds.probabilities_settled = Bounds.strength_settled = lambda self, x: False
        try:
            return fn()
        finally:
            Bounds.probabilities_settled, Bounds.strength_settled = saved

    def w103(src):
        return sum(d.code == "W103" for d in libet.loads(src).warnings)

    print("\n## phases and rules settled by their bounds (spec/bounds.py): loading with and without them")
    print("| horizon | without the bounds (s) | W103 | with them (s) | W103 |")
    print("|---:|---:|---:|---:|---:|")
    for h in (10_000, 100_000, 1_000_000, 10_000_000):
        src = _ten_phases(h, complement=False)
        off = without(lambda: best(lambda: libet.loads(src), repeat))
        on = best(lambda: libet.loads(src), repeat)
        print(f"| {h:,} | {off:.4f} | {without(lambda: w103(src))} | {on:.4f} | {w103(src)} |")
    src = _chains(8000, 800)
    print("\nthe 8,000-term chains: each round a fresh load, then simulate() of every measure on it")
    print("| round | load (s) | simulate (s) | load / simulate |")
    print("|---:|---:|---:|---:|")
    for i in range(max(repeat, 5)):
        t = time.perf_counter()
        spec = libet.loads(src, "chains.libet")
        t1 = time.perf_counter()
        spec.simulate("weighted")
        t2 = time.perf_counter()
        print(f"| {i + 1} | {t1 - t:.2f} | {t2 - t1:.2f} | {(t1 - t) / (t2 - t1):.2f} |")


def def_chains(repeat: int) -> None:
    from test_scale import _def_chain

    import libet

    print("\n## a chain of N defs, each using the last and the one seven below (tests/test_scale.py's),")
    print("read by the transition, the start depth and a rule: load, the six measures, `check` (Z3's `complete`)")
    print("| N | load (s) | simulate (s) | `check` (s) |")
    print("|---:|---:|---:|---:|")
    for n in (1_000, 2_000, 4_000, 8_000, 16_000):
        src = _def_chain(n)
        load_s = best(lambda: libet.loads(src), repeat)
        spec = libet.loads(src)
        sim_s = best(lambda: spec.simulate("p"), repeat)
        check_s = best(lambda: spec.check(timeout=120), 1)
        print(f"| {n:,} | {load_s:.3f} | {sim_s:.3f} | {check_s:.2f} |", flush=True)


def phases_and_rules(repeat: int, phases=(100, 200, 400, 800, 1_600, 3_200), rules=(250, 500, 1_000, 2_000, 4_000)) -> None:
    import numpy  # noqa: F401  (`libet simulate` has imported it before it loads the spec)
    from test_scale import _ring, _ruled

    import libet
    from libet.simulator import outcomes
    from libet.simulator.model import Model
    from libet.spec import measures as ms

    checks = "\ncheck p { complete  P(harm) <= 0.9 }\n"
    print("\n## many phases and many rules, horizon 1,000 (states: phases x 1,000 x classes)")
    print("`check`: the spec's `complete` (Z3) and `P(harm) <= 0.9` (exact engine, replayed by the interpreter")
    print("while the replay, weighed by the rules and transitions each state evaluates, is within its budget). Per 10^6 states: the P(harm) solve over the model's states")
    print("(phases x depths x classes), for the rows of phases, whose states grow with them.")
    print("| shape | states | load (s) | solve P(harm) (s) | solve six measures (s) | `check` (s) | P(harm) per 10^6 states (s) |")
    print("|---|---:|---:|---:|---:|---:|---:|")
    for label, src in [(f"{p:,} phases", _ring(p, 1000)) for p in phases] + [(f"{r:,} rules", _ruled(r)) for r in rules]:
        src += checks
        load_s = best(lambda: libet.loads(src), repeat)
        spec = libet.loads(src)
        harm_s = best(lambda: outcomes(spec.ir, "p", measures=[ms.HARM]), repeat)
        six_s = best(lambda: outcomes(spec.ir, "p"), repeat)
        check_s = best(lambda: spec.check("p", timeout=120), 1)
        m = Model(spec.ir, "p")
        states = len(m.phases) * m.horizon * m.n_classes
        per = f"{harm_s / states * 1e6:.3f}" if label.endswith("phases") else "–"
        print(f"| {label} | {states:,} | {load_s:.3f} | {harm_s:.3f} | {six_s:.3f} | {check_s:.2f} | {per} |", flush=True)


def reachable(repeat: int) -> None:
    from test_sim_state import _reachable_box

    import libet
    from libet.simulator.layered import Layers
    from libet.simulator.model import Model

    print("\n## a state variable declared far past what a trajectory reaches: crescendo with refusals 0..N")
    print("The six measures of both policies (`simulate()`), laying out every declared valuation")
    print("and only the box of the reachable ones (simulator/layered.py, reachable_box).")
    print("| refusals | horizon | valuations declared | laid out | every declared (s) | the reachable box (s) | ratio |")
    print("|---:|---:|---:|---:|---:|---:|---:|")
    text = open(os.path.join(HERE, "..", "examples", "crescendo.libet")).read()
    path = os.path.join(HERE, "..", "examples", "crescendo.libet")
    for n, h in ((1_000, 100), (10_000, 100), (100_000, 10), (100_000, 100)):
        src = text.replace("refusals: 0..3 = 0", f"refusals: 0..{n} = 0").replace("horizon 10 then stop", f"horizon {h} then stop")
        spec = libet.loads(src, path)
        with _reachable_box(on=False):  # every declared valuation laid out, as before the box
            whole = best(lambda: spec.simulate(), repeat if n * h <= 10**6 else 1)
        boxed = best(lambda: spec.simulate(), repeat)
        val = Layers(Model(spec.ir, "per_message")).val
        print(f"| 0..{n:,} | {h} | {val.declared:,} | {val.count:,} | {whole:.2f} | {boxed:.3f} | {whole / boxed:.0f}x |", flush=True)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    sections = {f.__name__: f for f in (many_values, dynamics_values, many_policies, ten_phases, chains, def_chains, phases_and_rules, bounds, reachable)}
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--only", choices=sections, action="append", help="run only this section (repeatable)")
    args = ap.parse_args()
    print(f"machine: {platform.machine()}, {os.cpu_count()} cores, python {platform.python_version()}\n")
    for name in args.only or sections:
        sections[name](args.repeat)


if __name__ == "__main__":
    main()
