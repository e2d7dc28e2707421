"""libet.simulator: the Markov trajectory simulator.

Consumes: a checked IR spec (:mod:`libet.spec.ir`).
Produces: exact outcome tables (:func:`outcomes`), Monte Carlo estimates, the quantitative
checks' verdicts, experiment tables and plots, PRISM exports and trajectory graphs.

Stages, one module each: :mod:`.vectorize` (IR expressions over numpy arrays), :mod:`.model`
(relevant variables, assignment classes, per-layer probabilities), :mod:`.exact` (backward
induction), :mod:`.table` (outcome tables and aggregates). docs/simulator.md explains the engines.
"""

from __future__ import annotations

from typing import Mapping

from .table import QUANTITIES, Aggregate, OutcomeTable


def outcomes(
    spec,
    policy: str,
    *,
    params: Mapping[str, object] | None = None,
    fixed: Mapping[str, object] | None = None,
    exact: bool = False,
    quantities=QUANTITIES,
) -> OutcomeTable:
    """The exact outcome table of ``policy``: every measure for every assignment of the
    variables that matter (``fixed`` ones held at their value).

    Raises:
        UsageError: unknown names, an unbounded horizon, a model too large for memory.
        EvaluationError: a reachable state whose probabilities have no valid value.
    """
    from .exact import solve
    from .model import Model

    return solve(Model(spec, policy, params, fixed, exact=exact), quantities)


__all__ = ["Aggregate", "OutcomeTable", "QUANTITIES", "outcomes"]
