"""The four calibrated examples of examples/calibration/ fit in CI: each reproduces its published
points (an exact fit: as many params as points), and the estimates, intervals and point
predictions docs/calibration.md states are what a fresh fit gives (the docs cannot rot)."""

from __future__ import annotations

import math
import re
from pathlib import Path

import pytest

import libet

ROOT = Path(__file__).resolve().parent.parent
DOC = (ROOT / "docs" / "calibration.md").read_text(encoding="utf-8")

#: example file -> (experiment with data, experiment predicted, the doc section's file name,
#: the predicted-table's header word -> variable)
EXAMPLES = {
    "qi_finetune": ("finetune_attack", "finetune_curve", "steps"),
    "greenblatt": ("compliance_gap", None, None),
    "zhao_cot": ("hijack", "preamble_length", "preamble"),
    "qi_prefill": ("prefill_attack", "prefill_curve", None),
}


def section(name: str) -> str:
    start = DOC.index(f"(`{name}.libet`)")
    end = DOC.find("\n### ", start)
    return DOC[start:end if end > 0 else len(DOC)]


def close(value: float, shown: str) -> bool:
    """``value`` rounds to the figure shown (three significant digits, or as printed)."""
    digits = len(shown.replace("0.", "").lstrip("0").replace(".", "")) or 1
    x = float(shown)
    if x == 0:
        return abs(value) < 1e-3
    unit = 10 ** (math.floor(math.log10(abs(x))) - digits + 1)
    return abs(value - x) <= 0.5 * unit * 1.0001 + 1e-12


@pytest.mark.parametrize("name", [pytest.param(n, marks=pytest.mark.slow) if n == "qi_prefill" else n
                                  for n in EXAMPLES])
def test_example_fits_its_points_and_the_docs(name):
    exp, predicted, var = EXAMPLES[name]
    spec = libet.load(ROOT / "examples" / "calibration" / f"{name}.libet")
    fit = spec.fit(exp, predict=[predicted] if predicted else ())
    for row in fit.rows:  # as many params as points: the model reproduces every one
        assert abs(row.value - row.observed) <= 0.25 * row.error_bar, row
    text = section(name)
    rows = re.findall(r"^\| `(\w+)` \| ([\d.]+) \| \[([\d.]+), ([\d.]+)\] \|$", text, re.M)
    assert rows, f"no estimates table in the {name} section"
    est = {e.name: e for e in fit.estimates}
    ints = re.findall(r"^\| `(\w+)` \(int\) \| (\d+) \| (\d+) to (\d+) ", text, re.M)
    for param, value, low, high in ints:
        e = est[param]
        assert (e.value, e.low, e.high) == (int(value), int(low), int(high)), (param, e)
    for param, value, low, high in rows:
        e = est[param]
        assert close(e.value, value) and close(e.low, low) and close(e.high, high), (param, e)
    if var is None:
        return
    header = re.search(r"^\| [a-z ]+ \| ([\d |]+) \|$", text, re.M)
    values = re.search(r"^\| P\(harm\), predicted \| ([\d. |]+) \|$", text, re.M)
    points = [int(x) for x in header.group(1).split(" | ")]
    shown = values.group(1).split(" | ")
    got = {p.point[var]: p.value for p in fit.predictions}
    for point, figure in zip(points, shown):
        assert close(got[point], figure), (point, got[point], figure)
