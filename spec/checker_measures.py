"""Measures as written to measure objects.

Consumes: an AST measure (:class:`~libet.spec.ast.Measure`: ``P(EVENT)``, ``P(EVENT | EVENT)``,
``E(QUANTITY)``, ``E(QUANTITY | EVENT)``) and the :class:`~libet.spec.checker_names.Scope` (the
phase names, and whether the spec has a trajectory at all).
Produces: a :class:`libet.spec.measures.Measure` (whose ``text`` is the canonical spelling), or
None after an error; warnings where the measure's value is decided by its syntax alone.

Everything a measure means comes from the tables of :mod:`libet.spec.measures`: an event atom
is an entry of ``ATOMS`` (the grammar lists the same words; a test keeps the two equal) or
``visit PHASE``; a quantity is an entry of ``ACCUMULATORS``. Adding either needs no change here.

Diagnostics:

* E010: ``visit NAME`` where NAME is not a phase of the trajectory (with did-you-mean);
* E062: ``visit`` in a spec without a trajectory; ``E(...)`` of something that is not an
  accumulated quantity;
* W105: an event that can never happen: a condition (``P(harm | vetoed and delivered)``: the
  measure is undefined on every assignment), or the event with its condition
  (``P(harm | over-refusal)``, ``P(harm and vetoed)``: the measure is 0 wherever it is defined).

The warning is decided on the events' structure (outcomes and harmfulness), exactly as
:meth:`libet.spec.measures.Event.__and__` combines them; what the trajectory makes possible or
impossible (a phase no path reaches) is left to the engines.
"""

from __future__ import annotations

import attrs

from libet.spec import ast
from libet.spec import measures as ms
from libet.spec.checker_names import Scope
from libet.spec.diagnostics import did_you_mean
from libet.spec.printer import name_list

#: What each accumulated quantity is, for hints (a new accumulator without an entry is named
#: only).
_QUANTITY_WORDS = {
    "depth": "the depth at which the trajectory ends",
    "steps": "the generator steps it takes",
    "refusals": "the vetoes on the way (refusals that went on, and a final veto)",
}


def measure(node: ast.Measure, scope: Scope, extremum: str | None = None) -> ms.Measure | None:
    """The measure ``node`` denotes, or None after reporting what is wrong with it.
    ``extremum`` ("max"/"min") takes a plain measure's case over adversaries (a bound written
    ``for all adversaries``)."""
    given = None
    if node.given is not None:
        given = event(node.given, scope)
    if node.kind == "P":
        what = event(node.event, scope)
        if what is None or (node.given is not None and given is None):
            return None
        m = ms.probability(what, given)
    else:
        reward = _quantity(node.quantity, scope)
        if reward is None or (node.given is not None and given is None):
            return None
        m = ms.expectation(reward, given)
    m = attrs.evolve(m, extremum=node.extremum or extremum)
    if not _fits_model(m, scope, node.span):
        return None
    _vacuity(m, node, scope)
    return m


def _fits_model(m: ms.Measure, scope: Scope, span) -> bool:
    """In an MDP a measure needs its case over adversaries (E097); a conditional measure has
    none (E098). In a Markov chain ``Pmax`` is the plain measure (one adversary)."""
    if m.extremum is not None and m.given is not None:
        scope.d.error("E098", f"{m.text}: {ms.NO_CONDITIONAL_EXTREMUM}", span)
        return False
    if scope.mdp and m.extremum is None:
        message, hint = ms.needs_case(m)
        scope.d.error("E097", message, span, hint=hint)
        return False
    return True


def event(node: ast.Event, scope: Scope) -> ms.Event | None:
    """The conjunction of the atoms as written (their order is kept in the text), or None."""
    parts = []
    ok = True
    for atom in node.atoms:
        e = _atom(atom, scope)
        ok &= e is not None
        parts.append(e)
    return ms.conjunction(parts) if ok else None


def _atom(atom: ast.EventAtom, scope: Scope) -> ms.Event | None:
    if atom.phase is None:
        # The grammar admits exactly the words of ms.ATOMS (tests/test_language.py checks it).
        return ms.ATOMS[atom.word]
    phase = atom.phase
    if not scope.trajectories:
        scope.d.error(
            "E062",
            f"`visit {phase.text}` names a phase, but this spec has no trajectory",
            atom.span,
            hint="a phase is declared in `trajectory { ... phase NAME { ... } }`; without one, "
            "measure an outcome such as P(vetoed)",
        )
        return None
    if phase.text not in scope.phase_names:
        phases = sorted(scope.phase_names)
        scope.d.error(
            "E010",
            f"there is no phase '{phase.text}' to visit",
            phase.span,
            hint=did_you_mean(phase.text, phases) or (f"the phases are {name_list(phases)}" if phases else None),
        )
        return None
    return ms.visit(phase.text)


def _quantity(name: ast.Name, scope: Scope) -> ms.Reward | None:
    reward = ms.ACCUMULATORS.get(name.text)
    if reward is not None:
        return reward
    if name.text in ms.ATOMS or name.text.startswith("visit "):
        hint = f"E(...) is the expectation of an accumulated quantity; the probability of {name.text} is P({name.text})"
    else:
        hint = did_you_mean(name.text, ms.ACCUMULATORS) or "; ".join(
            f"E({q}) is the expectation of {_QUANTITY_WORDS.get(q, q)}" for q in ms.ACCUMULATORS
        )
    scope.d.error("E062", f"E(...) takes {ms.word_list(ms.ACCUMULATORS)}, not '{name.text}'", name.span, hint=hint)
    return None


def _vacuity(m: ms.Measure, node: ast.Measure, scope: Scope) -> None:
    """W105 when the condition can never hold, or else the event can never happen with it."""
    if m.given is not None and not m.given.outcomes:
        scope.d.warning(
            "W105",
            f"the condition '{m.given.text}' can never hold, so {m.text} is undefined on every assignment",
            node.given.span,
            hint=f"{_why_empty(node.given.atoms)}; condition on an event that can happen",
        )
        return
    if m.is_probability and not m.numerator.outcomes:
        atoms = node.event.atoms + (node.given.atoms if node.given is not None else ())
        if m.given is None:
            message = f"'{m.event.text}' can never happen, so {m.text} is 0"
        else:
            message = f"'{m.event.text}' can never happen given '{m.given.text}', so {m.text} is 0 wherever it is defined"
        scope.d.warning("W105", message, node.span, hint=_why_empty(atoms))


def _why_empty(atoms) -> str:
    """Why a conjunction of these atoms has no trajectory: the first two that exclude each
    other (two atoms always do when the whole does: each fixes one outcome or harmfulness)."""
    events = [(a.text, ms.ATOMS.get(a.word)) for a in atoms]
    for i, (ta, a) in enumerate(events):
        for tb, b in events[i + 1 :]:
            if a is None or b is None or (a & b).outcomes:
                continue
            if a.harmful is not None and b.harmful is not None and a.harmful != b.harmful:
                return f"'{ta}' is about harmful assignments and '{tb}' about benign ones"
            if ta == _outcomes(a) and tb == _outcomes(b):
                return f"a trajectory ends in one outcome, never both '{ta}' and '{tb}'"
            return f"a trajectory ends in one outcome: '{ta}' ends {_outcomes(a)}, '{tb}' ends {_outcomes(b)}"
    return "its atoms exclude each other"  # pragma: no cover - see the docstring


def _outcomes(e: ms.Event) -> str:
    return " or ".join(o for o in ms.OUTCOMES if o in e.outcomes)
