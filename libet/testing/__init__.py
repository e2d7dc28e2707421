"""libet.testing: test real veto implementations against a spec.

* :mod:`libet.testing.strategies`: Hypothesis strategies drawn from a spec (assignments,
  harmful or benign ones, states, pairs differing only in framing/context/depth, trajectories).
* :func:`conform` / :func:`assert_conforms`: a Python callable tested against the spec's
  properties (invariant under V, complete, no over-refusal, agrees with a policy), with shrunk
  counterexamples, Hypothesis's example database, exhaustive enumeration of small domains, and
  honest verdicts: PROVED only for an exhaustive run of a deterministic implementation on
  abstract states, TESTED (with the count) otherwise.
* :mod:`libet.testing.requests` and :mod:`libet.testing.transforms`: concrete requests from a
  labelled corpus and pure, seedable framing transforms (base64, leetspeak, role-play, ...).
* :mod:`libet.testing.stochastic`: sampled implementations measured with exact intervals, and
  the measured behaviour written out as a libet policy (:func:`measure`).
* the pytest plugin (:mod:`libet.testing.plugin`): ``*.libet`` checks as test items (with
  ``--libet``), the ``libet_spec`` fixture.

See docs/testing.md for a walk-through on a real guardrail.
"""

from libet.testing.conformance import (
    ConformanceCounterexample,
    ConformanceError,
    Implementation,
    ImplementationError,
    ImplementationTimeout,
    Property,
    Report,
    Request,
    assert_conforms,
    conform,
    parse_property,
    spec_properties,
)
from libet.testing.requests import Corpus, Renderer
from libet.testing.stochastic import Measurement, clopper_pearson, measure, wilson
from libet.testing.strategies import State, Trajectory, assignments, pairs, states, trajectories
from libet.testing.transforms import TRANSFORMS, compose

__all__ = [
    "TRANSFORMS",
    "ConformanceCounterexample",
    "ConformanceError",
    "Corpus",
    "Implementation",
    "ImplementationError",
    "ImplementationTimeout",
    "Measurement",
    "Property",
    "Renderer",
    "Report",
    "Request",
    "State",
    "Trajectory",
    "assert_conforms",
    "assignments",
    "clopper_pearson",
    "compose",
    "conform",
    "measure",
    "pairs",
    "parse_property",
    "spec_properties",
    "states",
    "trajectories",
    "wilson",
]
