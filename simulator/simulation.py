"""Typed results of ``Specification.simulate()``: per policy, an exact outcome table or Monte
Carlo estimates, converting to plain rows for notebooks and pandas.

Consumes: a checked spec and the options of one simulation.
Produces: :class:`SimulationResult`.
"""

from __future__ import annotations

from typing import Iterable, Mapping

import attrs

from libet.errors import UsageError
from libet.spec import ir
from libet.spec import measures as ms

from .table import OutcomeTable

MEASURES = ms.STANDARD


@attrs.frozen(eq=False)
class SimulationResult:
    """Outcomes of several policies.

    Attributes:
        engine: ``"exact"`` or ``"mc"``.
        tables: policy -> :class:`~libet.simulator.table.OutcomeTable` (exact engine).
        estimates: policy -> :class:`~libet.simulator.montecarlo.MCEstimate` (Monte Carlo).
        params, fixed: the overrides used; runs, seed: Monte Carlo's.
    """

    engine: str
    policies: tuple[str, ...]
    tables: dict = attrs.field(factory=dict)
    estimates: dict = attrs.field(factory=dict)
    params: dict = attrs.field(factory=dict)
    fixed: dict = attrs.field(factory=dict)
    runs: int | None = None
    seed: int | None = None

    def __getitem__(self, policy: str):
        if policy in self.tables:
            return self.tables[policy]
        if policy in self.estimates:
            return self.estimates[policy]
        raise KeyError(policy)

    def to_rows(self, per_assignment: bool = False) -> list[dict]:
        """One row per policy: each measure averaged over the variables not fixed (with
        ``low``/``high`` for Monte Carlo). ``per_assignment=True`` (exact engine): one row per
        policy and assignment of the variables that matter, with its weight."""
        rows = []
        for p in self.policies:
            if self.engine == "exact":
                tab: OutcomeTable = self.tables[p]
                if per_assignment:
                    rows += tab.rows()
                    continue
                row = {"policy": p}
                for m in MEASURES:
                    v = tab.aggregate(m).value
                    row[m.value] = float(v) if v is not None else None
                rows.append(row)
            else:
                if per_assignment:
                    raise UsageError("per-assignment rows need the exact engine")
                est = self.estimates[p]
                row = {"policy": p, "runs": est.runs, "seed": est.seed}
                for m in MEASURES:
                    e = est[m]
                    row[m.value] = e.value
                    row[f"{m.value} low"] = e.low
                    row[f"{m.value} high"] = e.high
                rows.append(row)
        return rows

    rows = to_rows


def simulate(
    spec: ir.Spec,
    policies: Iterable[str] | None = None,
    *,
    engine: str = "exact",
    runs: int = 10_000,
    seed: int = 0,
    params: Mapping[str, object] | None = None,
    fixed: Mapping[str, object] | None = None,
    exact: bool = False,
    confidence: float = 0.95,
) -> SimulationResult:
    """Solve (``engine="exact"``) or sample (``"mc"``) every policy in ``policies``."""
    from . import montecarlo
    from .exact import solve
    from .model import Model

    pols = tuple(spec.policies) if policies is None else tuple(policies)
    if engine not in ("exact", "mc"):
        raise UsageError(f"unknown engine {engine!r}; the engines are exact and mc")
    tables, estimates = {}, {}
    for p in pols:
        model = Model(spec, p, params, fixed, exact=exact and engine == "exact")
        if engine == "exact":
            tables[p] = solve(model)
        else:
            estimates[p] = montecarlo.run(model, runs, seed, confidence=confidence)
    return SimulationResult(
        engine, pols, tables, estimates, dict(params or {}), dict(fixed or {}),
        runs if engine == "mc" else None, seed if engine == "mc" else None,
    )
