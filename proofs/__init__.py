"""libet.proofs: the Z3 checker for the qualitative checks of a spec.

Consumes: a checked IR spec (:mod:`libet.spec.ir`).
Produces: :class:`libet.results.CheckResult` records, one per qualitative check (``invariant
under V``, ``complete``, ``no over-refusal``, ``safe``): PROVED with a proof summary, VIOLATED
with a counterexample the reference interpreter has replayed, or UNKNOWN with the reason.

Modules: :mod:`.encode` (the only place that turns IR into Z3 terms), :mod:`.solve` (budgets,
the solver ladder, tracked queries), :mod:`.policy` (checks of the veto as a function),
:mod:`.safety` (bounded model checking, k-induction, Spacer), :mod:`.replay` (the interpreter
confirms every counterexample), :mod:`.evidence` (counterexamples and proof summaries),
:mod:`.prove` (the entry point), :mod:`.cli` (``libet prove``).

Usage::

    import libet
    from libet.proofs import prove
    results = prove(libet.load("examples/prefill.libet").ir, timeout=10)
"""

from libet.proofs.prove import DEFAULT_TIMEOUT, prove, select
from libet.proofs.replay import InternalError

__all__ = ["DEFAULT_TIMEOUT", "InternalError", "prove", "select"]
