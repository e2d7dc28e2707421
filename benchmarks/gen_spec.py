"""Generate a large, realistic, well-formed spec for the checker benchmark.

The spec mixes every kind of declaration in the proportions a big real spec would have:
many substance and framing variables, defs and values over them, a trajectory with many
phases, many policies with several rules each, check blocks and experiments.

Usage: python benchmarks/gen_spec.py LINES > big.libet
"""

from __future__ import annotations

import sys


def generate(lines: int) -> str:
    out = ['spec "generated benchmark spec"', ""]
    n = max(1, lines // 10)  # each unit below is about 10 lines
    out.append("substance {")
    for i in range(n // 4 + 1):
        out.append(f"  topic{i}: {{benign, dual_use, hazardous}}")
        out.append(f"  uplift{i}: 0..3")
    out.append("}")
    out.append("framing {")
    for i in range(n // 4 + 1):
        out.append(f"  persona{i}: {{none, fiction, researcher, roleplay}}")
        out.append(f"  encoded{i}: bool")
    out.append("}")
    out.append("context {\n  observed: bool\n  prefill: 0..8\n}")
    out.append("param base = 0.2 in [0, 1]")
    out.append("param gain = 0.05 in [0, 1]")
    vars_ = n // 4 + 1
    for i in range(n):
        v = i % vars_
        out.append(f"# unit {i}: a hazard definition, its reference value and a policy")
        out.append(f"def hazardous{i} = topic{v} == hazardous and uplift{v} >= {1 + i % 3}")
        out.append(f"value safe{i} = not hazardous{i} or uplift{v} <= {i % 4}")
        out.append(f"policy p{i} {{")
        out.append(f"  veto when violates safe{i}")
        out.append(f"  veto when persona{v} == none and hazardous{i} with strength {0.5 + (i % 5) / 10}")
        out.append(f"  veto when depth < {1 + i % 7} and encoded{v} with strength 0.25")
        out.append("}")
        out.append(f"check p{i} {{ invariant under framing complete }}")
        out.append("")
    out.append("trajectory {")
    out.append("  horizon 32")
    out.append("  start q0 at depth prefill")
    phases = max(2, n // 50)
    for j in range(phases):
        nxt = f"q{j + 1}" if j + 1 < phases else "deliver"
        out.append(f"  phase q{j} {{")
        out.append(f"    -> {nxt} : 1 - (1 - base) * exp(-gain * depth)")
        out.append("    -> stop : otherwise")
        out.append("  }")
    out.append("}")
    return "\n".join(out) + "\n"


if __name__ == "__main__":
    sys.stdout.write(generate(int(sys.argv[1]) if len(sys.argv) > 1 else 10_000))
