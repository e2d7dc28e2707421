"""The engine registry: every simulation engine under one name and one signature.

Consumes: nothing at import (this table is light: ``libet check`` validates ``engine NAME``
against it without loading numpy).
Produces: :data:`ENGINES`, name -> :class:`EngineInfo`, and :func:`get`, which loads an engine's
implementation on first use.

One signature, as networkx keeps its ``pagerank*`` algorithms under one call:

    run(model, measures, *, runs, seed, confidence, progress) -> EngineResult

``model`` is a :class:`~libet.simulator.model.Model` (one policy; its fixed variables and
params), ``measures`` the :class:`~libet.spec.measures.Measure` objects wanted. An
:class:`~libet.simulator.results.EngineResult` answers ``aggregate(measure, fixed=...,
worst_over=..., minimise=...)`` with an :class:`~libet.simulator.results.Aggregate` (the value,
its interval when it is an estimate, the worst-case assignment, how it was aggregated).

``progress``, when given, is called with a number of units of work done, as the work goes
(a progress bar's ``advance``); ``work`` names the unit: ``"runs"``, trajectories finished
(``runs`` in all), or ``"depths"``, depths solved (the model's horizon in all).

``covers_assignments`` says whether one run answers for every assignment of the variables it
does not fix (the exact engine's table does), or only for the distribution it sampled (Monte
Carlo): experiments then run it once per point and per worst-case combination.

Adding an engine: one entry here and one module with ``run``.
"""

from __future__ import annotations

import importlib
from typing import Callable

import attrs


@attrs.frozen
class EngineInfo:
    """One engine: its name, what it is, and where its ``run`` lives (``module:function``)."""

    name: str
    description: str
    entry: str
    covers_assignments: bool
    estimates: bool  # numbers are estimates with confidence intervals (else computed exactly)
    work: str  # what run's progress(n) counts: "runs" (trajectories) or "depths" (solved)

    def total_work(self, model, runs: int) -> int:
        """How many units of :attr:`work` one run on ``model`` does in all."""
        return runs if self.work == "runs" else model.horizon

    def load(self) -> Callable:
        module, _, fn = self.entry.partition(":")
        return getattr(importlib.import_module(module), fn)


ENGINES: dict[str, EngineInfo] = {
    e.name: e
    for e in (
        EngineInfo(
            "exact",
            "backward induction over the layered chain; every number computed exactly (float64, or rationals)",
            "libet.simulator.exact:run",
            covers_assignments=True,
            estimates=False,
            work="depths",
        ),
        EngineInfo(
            "mc",
            "Monte Carlo: seeded, vectorised trajectories; every number an estimate with its interval",
            "libet.simulator.montecarlo:run_engine",
            covers_assignments=False,
            estimates=True,
            work="runs",
        ),
    )
}

DEFAULT = "exact"


def names() -> tuple[str, ...]:
    return tuple(ENGINES)


def get(name: str) -> EngineInfo:
    """The engine called ``name``.

    Raises:
        UsageError: no engine has that name (the message lists them).
    """
    info = ENGINES.get(name)
    if info is None:
        from libet.errors import UsageError

        raise UsageError(f"unknown engine {name!r}; the engines are {', '.join(ENGINES)}")
    return info
