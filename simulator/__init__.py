"""libet.simulator: the Markov trajectory simulator.

Consumes: a checked IR spec (:mod:`libet.spec.ir`).
Produces: exact outcome tables (:func:`outcomes`), Monte Carlo estimates, the quantitative
checks' verdicts, experiment tables and plots, PRISM exports and trajectory graphs.

Stages, one module each: :mod:`libet.spec.vectorize` (IR expressions over numpy arrays, shared
with the checker), :mod:`.model`
(relevant variables, assignment classes, per-layer probabilities), :mod:`.exact` (backward
induction), :mod:`.table` (outcome tables and aggregates). docs/simulator.md explains the engines.
"""

from __future__ import annotations

from typing import Mapping

# Nothing here imports numpy at load time: `libet check` reads the engine table
# (:mod:`.engines`) without paying for the engines.


def __getattr__(name):
    if name in ("Aggregate", "OutcomeTable", "DEFAULT_MEASURES"):
        from . import table

        return getattr(table, name)
    raise AttributeError(name)


def outcomes(
    spec,
    policy: str,
    *,
    params: Mapping[str, object] | None = None,
    fixed: Mapping[str, object] | None = None,
    exact: bool = False,
    measures=None,
):
    """The exact outcome table of ``policy``: ``measures`` (default: the standard ones and
    the expected depth given each outcome) for every assignment of the variables that matter
    (``fixed`` ones held at their value).

    Raises:
        UsageError: unknown names, an unbounded horizon, a model too large for memory.
        EvaluationError: a reachable state whose probabilities have no valid value.
    """
    from .exact import solve
    from .model import Model
    from .table import DEFAULT_MEASURES

    return solve(Model(spec, policy, params, fixed, exact=exact), measures or DEFAULT_MEASURES)


__all__ = ["Aggregate", "DEFAULT_MEASURES", "OutcomeTable", "outcomes"]
