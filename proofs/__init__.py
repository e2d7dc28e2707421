"""libet.proofs: the Z3 checker for the qualitative checks of a spec.

Consumes: a checked IR spec (:mod:`libet.spec.ir`).
Produces: :class:`libet.results.CheckResult` records, one per qualitative check (``invariant
under V``, ``complete``, ``no over-refusal``, ``safe``): PROVED with a proof summary, VIOLATED
with a counterexample the reference interpreter has replayed, or UNKNOWN with the reason.

Modules, from the entry point down (docs/proofs.md has the picture):

* :mod:`.prove` — the runner: ``prove``, ``iter_prove``, ``decide``, ``select``;
* :mod:`.kinds` — the registry of check kinds (``KINDS``, keyed by IR property type);
* :mod:`.policy` — checks of the veto as a function of the state: self-composition, the
  state checks, vacuity;
* :mod:`.safety` — the step relation of ``safe``; its engines :mod:`.bmc` (bounded model
  checking), :mod:`.induction` (k-induction), :mod:`.spacer` (Spacer) and :mod:`.race` (the
  three raced with ``horizon none``);
* :mod:`.wellformed` — strengths, probabilities and start depths where the static checker
  could not enumerate the states;
* the encoding, the only place that turns IR into Z3 terms: :mod:`.domains` (value
  representation), :mod:`.terms` (expressions), :mod:`.tables` (tabulated non-polynomial
  terms), :mod:`.rules` (the veto and the transitions, through :mod:`libet.spec.rules`;
  the ``Encoder``), :mod:`.facts` (named facts for unsat cores);
* :mod:`.solve` (budgets, the solver ladder, tracked queries, outcomes) and :mod:`.minimise`
  (smallest counterexamples);
* :mod:`.replay` (the interpreter confirms every counterexample), :mod:`.evidence`
  (counterexamples and proof summaries), :mod:`.text` and :mod:`.z3text` (text for people).

Usage::

    import libet
    from libet.proofs import prove
    results = prove(libet.load("examples/prefill.libet").ir, timeout=10)
"""

from libet.errors import InternalError
from libet.proofs.kinds import KINDS
from libet.proofs.prove import DEFAULT_TIMEOUT, decide, iter_prove, prove, select

__all__ = ["DEFAULT_TIMEOUT", "KINDS", "InternalError", "decide", "iter_prove", "prove", "select"]
