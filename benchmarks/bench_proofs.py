"""Benchmarks of the Z3 checker (libet.proofs), against the bars of issue 3.

* invariance on rule-list policies, 50 framing variables x 64 values: <= 0.1 s per check;
* threshold (weighted-sum) policies over the same, and over 200 variables x 256 values: <= 2 s;
* BMC of ``safe`` on a horizon-64 trajectory with 10 phases: <= 1 s;
* issue 12: weighted-sum invariance over 200 variables <= 1 s; BMC of ``safe`` at horizon
  1,000 decided within 10 s (an UNKNOWN misses its bar whatever its time).

Usage:
    python benchmarks/bench_proofs.py            # the bars: one line per check, then a summary
    python benchmarks/bench_proofs.py --ladder   # every solver configuration on every family
    python benchmarks/bench_proofs.py --repeat 5 # median of 5 runs per check

Results are recorded in docs/benchmarks.md ("## Proofs") and docs/proofs.md (the ladder).
Times are the wall time of each check as :func:`libet.proofs.prove` reports it (encoding,
solving, minimising and replaying the counterexample, vacuity checks), not loading the spec.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))

import libet  # noqa: E402
from libet.proofs import prove  # noqa: E402

# ---------------------------------------------------------------------------------------------
# Spec generators (deterministic: the weights come from a fixed formula, no randomness)


def _header(title: str, n: int, size: int) -> list[str]:
    out = [f'spec "{title}"', "", "substance {", "  topic: {everyday, chemistry, weapons}", "  uplift: 0..3", "}", "framing {"]
    out += [f"  x{i}: 0..{size - 1}" for i in range(n)]
    out += ["}", "context {", "  observed: bool", "}", "value no_uplift = not (topic == weapons and uplift >= 2)"]
    out += ["trajectory {", "  horizon 16", "  start answer", "  phase answer {", "    -> answer : 0.9", "    -> deliver : otherwise", "  }", "}"]
    return out


def rule_list_spec(n: int = 50, size: int = 64) -> str:
    """Rule-list policies: ``genuine`` keys on substance only; ``rules`` mixes framing rules in
    (a framing exception that routes around the value, and strength-1 rules over framing)."""
    out = _header(f"rule lists over {n} framing variables x {size} values", n, size)
    out.append("policy genuine {")
    out.append("  veto when violates no_uplift")
    out.append("  veto when topic == weapons and uplift == 1 and observed")
    out.append("}")
    out.append("policy rules {")
    out.append(f"  veto when violates no_uplift and x0 != {size // 3}")
    for i in range(1, min(n, 20)):
        a, b = (i * 7) % size, (i * 13) % size
        out.append(f"  veto when topic == chemistry and x{i} > {max(a, b)} and x{(i * 3) % n} < {min(a, b) + 1}")
    out.append("}")
    out.append("check genuine, rules {")
    out.append("  invariant under framing")
    out.append("  invariant under observed")
    out.append("  complete")
    out.append("  no over-refusal")
    out.append("}")
    return "\n".join(out) + "\n"


def _weights(n: int) -> list[str]:
    # fixed, distinct, positive weights with two decimals
    return [f"{0.01 + ((i * 37) % 97) / 100:.2f}" for i in range(n)]


def threshold_spec(n: int = 50, size: int = 64) -> str:
    """Weighted-sum policies: ``framed`` thresholds a weighted sum of the framing variables
    (routable: not invariant under framing); ``substantive`` thresholds uplift and topic only,
    with strengths below 1 that grow with the sum."""
    out = _header(f"threshold policies over {n} framing variables x {size} values", n, size)
    w = _weights(n)
    total = " + ".join(f"{w[i]} * x{i}" for i in range(n))
    theta = round(sum(float(x) for x in w) * (size - 1) * 0.6, 2)
    out.append(f"def suspicion = {total}")
    out.append("policy framed {")
    out.append(f"  veto when violates no_uplift and suspicion >= {theta}")
    out.append("}")
    out.append("policy substantive {")
    out.append("  veto when violates no_uplift")
    out.append("  veto when topic == chemistry and 0.4 * uplift + 0.2 >= 1 with strength 0.5")
    out.append("}")
    out.append("check framed, substantive {")
    out.append("  invariant under framing")
    out.append("  invariant under observed")
    out.append("  complete")
    out.append("  no over-refusal")
    out.append("}")
    return "\n".join(out) + "\n"


def bmc_spec(phases: int = 10, horizon: int = 64) -> str:
    """A 10-phase generator with momentum (exp over depth), loops and a prefill start. Policies:
    shallow (violated: a prefill past its depth window), deep (proved at once), late (proved, but
    only after 48 frames: paths run until the veto at depth 48; p9, the phase that delivers, is
    vetoed), fiction (violated: a framing
    exception)."""
    out = [
        f'spec "BMC: {phases} phases, horizon {horizon}"',
        "substance {",
        "  topic: {everyday, chemistry, weapons}",
        "  uplift: 0..3",
        "}",
        "framing {",
        "  persona: {none, fiction, researcher}",
        f"  prefill: 0..{horizon // 2}",
        "}",
        "param base = 0.2 in [0, 1]",
        "param gain = 0.15 in [0, 1]",
        "value no_uplift = not (topic == weapons and uplift >= 2)",
        "trajectory {",
        f"  horizon {horizon}",
        "  start p0 at depth prefill",
    ]
    for j in range(phases):
        nxt = f"p{j + 1}" if j + 1 < phases else "p0"
        out.append(f"  phase p{j} {{")
        out.append(f"    -> {nxt} : 0.5 * (1 - (1 - base) * exp(-gain * depth))")
        out.append(f"    -> p{j} : if persona == fiction then 0.4 else 0.3")
        if j == phases - 1:
            out.append("    -> deliver : 0.05")
        out.append("    -> stop : otherwise")
        out.append("  }")
    out.append("}")
    out.append("policy shallow { veto when violates no_uplift and depth < 8 }")
    out.append("policy deep { veto when violates no_uplift }")
    out.append("policy late { veto when violates no_uplift and (phase == p9 or depth >= 48) }")
    out.append("policy fiction { veto when violates no_uplift and persona != fiction }")
    out.append("check shallow, deep, late, fiction { safe }")
    return "\n".join(out) + "\n"


def coloring_spec(n: int, k: int, p: float, seed: int = 1) -> str:
    """Pure finite-domain logic: rules `veto when xi == xj` over the edges of a random graph
    (fixed seed), so `complete` asks for a proper k-colouring of it (the QF_FD family)."""
    import random

    rnd = random.Random(seed)
    cols = ", ".join(f"c{i}" for i in range(k))
    out = [f'spec "colouring {n} nodes, {k} colours"', "substance { s: bool }", "framing {"]
    out += [f"  x{i}: {{{cols}}}" for i in range(n)]
    out += ["}", "value ok = not s", "trajectory { horizon 2  start p  phase p { -> deliver : 1 } }", "policy clash {"]
    for i in range(n):
        for j in range(i + 1, n):
            if rnd.random() < p:
                out.append(f"  veto when x{i} == x{j}")
    out += ["}", "check clash { complete }"]
    return "\n".join(out) + "\n"


def conversation_spec(horizon: int = 64) -> str:
    """A conversation with three state variables (a saturating refusal count, an escalation
    level, an encoding the adversary picks at every turn once a refusal has happened) and two
    phases. Policies: keyword (violated: the adversary picks an encoding the rule does not
    read), counting (proved: refuses twice and goes on, then vetoes for good), escalating
    (proved: every path must climb the escalation level before anything delivers, and the veto
    fires from level 2)."""
    out = [
        f'spec "conversation: three state variables, horizon {horizon}"',
        "substance { topic: {everyday, weapons} }",
        "framing { persona: {none, fiction} }",
        "state { refusals: 0..3 = 0  escalation: 0..4 = 0  encoding: {plain, base64, leet} = plain }",
        "value no_weapons = not (topic == weapons)",
        "trajectory {",
        f"  horizon {horizon} then stop",
        "  start turn",
        "  phase turn {",
        "    choose encoding when refusals > 0",
        "    -> answer : if escalation >= 2 then 0.5 else 0.3",
        "    -> turn : 0.5 then escalation = min(escalation + 1, 4)",
        "    -> stop : otherwise",
        "  }",
        "  phase answer {",
        "    -> deliver : if escalation >= 1 then 0.4 else 0",
        "    -> turn : 0.4",
        "    -> stop : otherwise",
        "  }",
        "}",
        "policy keyword { veto when violates no_weapons and encoding == plain then -> turn"
        " then refusals = min(refusals + 1, 3) }",
        "policy counting {",
        "  veto when violates no_weapons and refusals < 2 then -> turn then refusals = min(refusals + 1, 3)",
        "  veto when violates no_weapons and refusals >= 2",
        "}",
        "policy escalating { veto when violates no_weapons and escalation >= 1 }",
        "check keyword, counting, escalating { safe }",
    ]
    return "\n".join(out) + "\n"


FAMILIES = {
    "rule-list 50x64": (lambda: rule_list_spec(50, 64), 0.1, ("invariant",)),
    "threshold 50x64": (lambda: threshold_spec(50, 64), 2.0, ("invariant", "complete", "no over-refusal")),
    # issue 12: weighted-sum invariance over 200 variables under 1 s
    "threshold 200x256": (lambda: threshold_spec(200, 256), 1.0, ("invariant", "complete", "no over-refusal")),
    "bmc 10 phases, horizon 64": (lambda: bmc_spec(10, 64), 1.0, ("safe",)),
    # issue 12: BMC `safe` at horizon 1,000 decided (not UNKNOWN) within 10 s
    "bmc 10 phases, horizon 1000": (lambda: bmc_spec(10, 1000), 10.0, ("safe",)),
    # issue 10: BMC `safe` with three state variables and choice points, horizon 64, under 2 s
    "conversation, 3 state vars, h 64": (lambda: conversation_spec(64), 2.0, ("safe",)),
}
#: measured by --ladder only (no bar): where bit-blasting to SAT pays off
LADDER_ONLY = {
    "colouring 45 nodes, 4 colours": (lambda: coloring_spec(45, 4, 0.22), None, ("complete",)),
    "colouring 80 nodes, 6 colours": (lambda: coloring_spec(80, 6, 0.15), None, ("complete",)),
}


def run_bars(repeat: int) -> bool:
    ok = True
    print(f"{'family':28} {'policy':12} {'check':26} {'result':9} {'median s':>9} {'bar s':>6}")
    for family, (make, bar, prefixes) in FAMILIES.items():
        spec = libet.loads(make(), family).ir
        times: dict = {}
        status: dict = {}
        for _ in range(repeat):
            for r in prove(spec, timeout=30):
                if not r.check.startswith(prefixes):
                    continue
                times.setdefault((r.policy, r.check), []).append(r.seconds)
                status[(r.policy, r.check)] = r.status.value
        for (pol, chk), ts in times.items():
            med = statistics.median(ts)
            decided = status[(pol, chk)] != "UNKNOWN"
            flag = "" if med <= bar and decided else "  OVER THE BAR" if decided else "  NOT DECIDED"
            ok &= med <= bar and decided
            print(f"{family:28} {pol:12} {chk:26} {status[(pol, chk)]:9} {med:9.3f} {bar:6.1f}{flag}")
    return ok


def run_ladder(repeat: int) -> None:
    """Every rung of every ladder on every family, the decision alone (no vacuity, no replay)."""
    import z3

    from libet.proofs import bmc
    from libet.proofs import policy as pc
    from libet.proofs.kinds import KINDS
    from libet.proofs.solve import (
        BMC_INCREMENTAL,
        BMC_UNROLLED,
        ONESHOT_INT,
        QFFD_BV,
        SMT_BV,
        SMT_INT,
        SMT_SORT,
        Budget,
    )
    from libet.spec import ir

    rungs = [SMT_INT, ONESHOT_INT, QFFD_BV, SMT_BV, SMT_SORT]
    print(f"{'family':28} {'policy':12} {'check':26} " + " ".join(f"{r.name:>14}" for r in rungs))
    for family, (make, _bar, prefixes) in {**FAMILIES, **LADDER_ONLY}.items():
        spec = libet.loads(make(), family).ir
        for c in spec.checks:
            if type(c.prop) not in KINDS or not c.name.startswith(prefixes):
                continue
            cells = []
            todo = [BMC_UNROLLED, BMC_INCREMENTAL] if isinstance(c.prop, ir.Safe) else rungs
            for rung in todo:
                ts, st = [], ""
                for _ in range(repeat):
                    t0 = time.perf_counter()
                    try:
                        if isinstance(c.prop, ir.Safe):
                            fn = bmc.unrolled if rung is BMC_UNROLLED else bmc.incremental
                            out = fn(spec, c.policy, rung, Budget(30), None, None, z3.Context())
                        elif isinstance(c.prop, ir.Invariance):
                            out = pc.invariance(spec, c.policy, c.prop, rung, Budget(30), ctx=z3.Context())
                        else:
                            harmful = isinstance(c.prop, ir.Complete)
                            out = pc.state_check(spec, c.policy, harmful, rung, Budget(30), ctx=z3.Context())
                        st = out.status
                    except Exception as exc:  # a rung that cannot take the query
                        st = "n/a:" + type(exc).__name__
                    ts.append(time.perf_counter() - t0)
                mark = "" if st in ("proved", "violated") else "?"
                cells.append(f"{rung.name}={statistics.median(ts):.3f}{mark}")
            print(f"{family:28} {c.policy:12} {c.name:26} " + " ".join(cells))


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--ladder", action="store_true", help="time every solver configuration")
    ap.add_argument("--repeat", type=int, default=3)
    args = ap.parse_args()
    if args.ladder:
        run_ladder(args.repeat)
        return 0
    ok = run_bars(args.repeat)
    print("all bars met" if ok else "SOME BARS MISSED")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
