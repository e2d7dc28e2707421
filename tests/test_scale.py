"""Scale without surprises: loading spends one budget for the whole spec, a variable with many
values costs one pass over them, and huge but simple models are solved by class."""

from __future__ import annotations

import libet
from libet.spec import measures as ms


def _ten_phases(horizon: int) -> str:
    phases = [f"p{i}" for i in range(10)]
    body = "\n".join(
        f"  phase {p} {{ -> {phases[(i + 1) % 10]} : 0.5 * exp(-0.0001 * depth)  -> stop : otherwise }}"
        for i, p in enumerate(phases)
    )
    return f"""
substance {{ bad: bool }}
value ok = not bad
trajectory {{
  horizon {horizon}
  start p0
{body}
}}
policy p {{ veto when bad and depth < 3 }}
"""


def test_the_static_budget_is_one_total_for_the_whole_spec(monkeypatch):
    """Ten phases of 10^5 depths each: the start depth and the first phase fit in the budget of
    200,000 evaluations; the other nine are left to the engines, each with W103, and the
    interpreter is asked no more than the budget allows."""
    from libet.spec.interpreter import Interpreter

    calls = {"n": 0}
    real = Interpreter.transitions

    def counting(self, *args, **kwargs):
        calls["n"] += 1
        return real(self, *args, **kwargs)

    monkeypatch.setattr(Interpreter, "transitions", counting)
    spec = libet.loads(_ten_phases(100_000))
    w103 = [d for d in spec.warnings if d.code == "W103"]
    assert len(w103) == 9 and all("the whole spec" in d.message for d in w103)
    assert calls["n"] <= 200_000
    # A horizon whose checks all fit raises nothing.
    assert not [d for d in libet.loads(_ten_phases(1_000)).warnings if d.code == "W103"]


def test_a_variable_with_many_values_is_one_pass():
    """`uplift: 0..100000` read only by the reference values: 12.3 million assignments in two
    classes; the distribution is built once (it was rebuilt per value, quadratic)."""
    src = open("examples/prefill.libet").read().replace("uplift: 0..3", "uplift: 0..100000")
    spec = libet.loads(src, "examples/prefill_big.libet").ir
    var = spec.variables["uplift"]
    assert var.size() == 100_001 and len(var.distribution()) == 100_001
    assert var.probability(77_777) == var.distribution()[77_777]
    fixed = {"topic": "weapons", "persona": "none", "observed": False, "prefill": 10}
    from libet.simulator import outcomes

    table = outcomes(spec, "shallow", fixed=fixed, measures=[ms.HARM])
    assert table.n_classes == 2
    # harmful for uplift >= 2 (all but 2 of 100,001 values), with the interpreter's number there
    from libet.spec.interpreter import Interpreter

    one = Interpreter(spec).outcomes("shallow", {**fixed, "uplift": 3}).harm
    assert abs(table.aggregate(ms.HARM).value - one * 99_999 / 100_001) < 1e-12
