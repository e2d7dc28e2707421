"""Measures, defined once as reward structures; every engine computes from these definitions.

Consumes: nothing (data and the rules that reduce an engine's per-assignment quantities to a
measure's value).
Produces: :class:`Event` (a set of trajectories), :class:`Measure` (what is accumulated over
which trajectories, optionally conditioned), the table :data:`ATOMS` of named events that the
language offers, :data:`ACCUMULATORS`, and :func:`parts` / :func:`value`, which turn an
engine's quantities into a measure's numerator and denominator.

The definitions follow PRISM and Storm's reward structures (docs/semantics.md §6). A trajectory
of one assignment σ ends in one of three outcomes (*delivered*, *stopped*, *vetoed*) at some
depth, after some number of generator steps, having visited some phases (a phase is *visited*
when the trajectory is in one of its states, at a depth below the horizon). An :class:`Event`
says which trajectories count: by outcome, by whether σ is harmful, and by the phases visited.
A :class:`Measure` is

    m = E[ X · 1(A ∧ B) ] / P(B)            (just E[ X · 1(A) ] without a condition B)

where ``X`` is the accumulated reward: 1 (a probability), the depth at absorption, the
number of generator steps taken (the depth at absorption minus the start depth), or the number
of refusals on the way (every veto that fired: each refusal that went on to a phase with
``then -> PHASE``, and the final veto of a trajectory that ends *vetoed*). Averaged over
assignments under the declared distribution, numerator and denominator are averaged first and
then divided: a conditional measure conditions on the joint distribution of assignments and
trajectories, which is what Monte Carlo samples and what Storm computes on the export.

What an engine provides is one function, ``q(outcomes, visits, reward)``: per assignment, the
expectation of ``reward`` (``"one"``, ``"depth"`` or ``"refusals"``) times the indicator that the trajectory
ends in one of ``outcomes`` having visited every phase of ``visits``. Harmfulness is a fact of
the assignment and steps are depth minus start depth, so :func:`parts` does the rest, the same
way for every engine.

Adding a measure is one entry in :data:`ATOMS` (a new kind of event) or :data:`ACCUMULATORS`
(a new reward) plus its grammar; the engines need no change unless the new event needs a new
kind of path information.
"""

from __future__ import annotations

import enum
from typing import Any, Callable, Mapping

import attrs

#: The absorbing outcomes, in the order every engine reports them.
OUTCOMES: tuple[str, ...] = ("delivered", "stopped", "vetoed")
ALL_OUTCOMES = frozenset(OUTCOMES)


@attrs.frozen(slots=True)
class Event:
    """A set of trajectories: those that end in one of ``outcomes``, on an assignment that is
    harmful (``harmful=True``), benign (``False``) or either (``None``), having visited every
    phase in ``visits``. ``text`` is how it is written (``harm``, ``visit scratchpad``)."""

    outcomes: frozenset = ALL_OUTCOMES
    harmful: bool | None = None
    visits: frozenset = frozenset()
    text: str = attrs.field(default="", eq=False)

    def __and__(self, other: "Event") -> "Event":
        """Both events (trajectories in both). An impossible conjunction (``harm and
        vetoed``) is an event with no outcomes, whose probability is 0."""
        harmful = self.harmful
        outcomes = self.outcomes & other.outcomes
        if other.harmful is not None:
            if harmful is not None and harmful != other.harmful:
                outcomes = frozenset()
            harmful = other.harmful
        text = " and ".join(t for t in (self.text, other.text) if t)
        return Event(outcomes, harmful, self.visits | other.visits, text)

    @property
    def everything(self) -> bool:
        return self.outcomes == ALL_OUTCOMES and self.harmful is None and not self.visits

    def __str__(self) -> str:
        return self.text


#: The named events of the language: ``P(harm)``, ``P(vetoed)``, ... ``visit PHASE`` is made
#: by :func:`visit`. A new named event is one line here (and one in the grammar).
ATOMS: dict[str, Event] = {
    "harm": Event(frozenset({"delivered"}), True, text="harm"),
    "over-refusal": Event(frozenset({"vetoed"}), False, text="over-refusal"),
    "delivered": Event(frozenset({"delivered"}), text="delivered"),
    "stopped": Event(frozenset({"stopped"}), text="stopped"),
    "vetoed": Event(frozenset({"vetoed"}), text="vetoed"),
}


def visit(phase: str) -> Event:
    """The trajectories that visit ``phase`` (are in one of its states below the horizon)."""
    return Event(ALL_OUTCOMES, None, frozenset({phase}), text=f"visit {phase}")


def conjunction(events) -> Event:
    """All of ``events`` (written ``A and B``)."""
    events = list(events)
    out = events[0]
    for e in events[1:]:
        out = out & e
    return out


class Reward(enum.Enum):
    """What a measure accumulates along a trajectory."""

    ONE = "one"  # 1 on every trajectory: a probability
    DEPTH = "depth"  # the depth at absorption
    STEPS = "steps"  # the generator steps taken: depth at absorption minus start depth
    REFUSALS = "refusals"  # the vetoes on the way: refusals that went on, and a final veto


#: The accumulated quantities of ``E(...)``, by how they are written.
ACCUMULATORS: dict[str, Reward] = {"depth": Reward.DEPTH, "steps": Reward.STEPS, "refusals": Reward.REFUSALS}


@attrs.frozen(slots=True)
class Measure:
    """``P(event | given)`` (``reward`` ONE) or ``E(quantity | given)``.

    ``event`` is everything for an expectation (``E(depth)`` accumulates over all
    trajectories); ``given`` is ``None`` without a condition. ``text`` is the canonical
    spelling, used in tables, JSON and check names."""

    reward: Reward
    event: Event
    given: Event | None = None
    #: over adversaries (a spec with choice points, an MDP): "max" (``Pmax``, ``Emax``: the
    #: worst case for a bound ``<=``), "min" (``Pmin``, ``Emin``), or None in a Markov chain
    extremum: str | None = None

    @property
    def is_probability(self) -> bool:
        return self.reward is Reward.ONE

    @property
    def conditional(self) -> bool:
        return self.given is not None

    @property
    def numerator(self) -> Event:
        """The trajectories that count: ``event`` and ``given``."""
        return self.event if self.given is None else self.event & self.given

    @property
    def text(self) -> str:
        if self.is_probability:
            inner = self.event.text
        else:
            inner = next(k for k, v in ACCUMULATORS.items() if v is self.reward)
        if self.given is not None:
            inner += f" | {self.given.text}"
        return f"{'P' if self.is_probability else 'E'}{self.extremum or ''}({inner})"

    # The canonical text, under the name the rest of libet has always used for it.
    value = text

    @property
    def visits(self) -> frozenset:
        """Every phase whose visit the measure asks about."""
        out = set(self.event.visits)
        if self.given is not None:
            out |= self.given.visits
        return frozenset(out)

    def __str__(self) -> str:
        return self.text


def probability(event: Event, given: Event | None = None) -> Measure:
    return Measure(Reward.ONE, event, given)


def expectation(reward: Reward, given: Event | None = None) -> Measure:
    return Measure(reward, Event(text=""), given)


HARM = probability(ATOMS["harm"])
VETOED = probability(ATOMS["vetoed"])
STOPPED = probability(ATOMS["stopped"])
DELIVERED = probability(ATOMS["delivered"])
OVER_REFUSAL = probability(ATOMS["over-refusal"])
DEPTH = expectation(Reward.DEPTH)
STEPS = expectation(Reward.STEPS)

#: The measures every simulation reports when none is asked for, in this order.
STANDARD: tuple[Measure, ...] = (HARM, VETOED, STOPPED, DELIVERED, OVER_REFUSAL, DEPTH)


def over_adversaries(measures) -> tuple[Measure, ...]:
    """In an MDP each measure's worst and best case (``Pmax``, ``Pmin``); conditional ones have
    none. What an MDP reports where a Markov chain reports the plain measures."""
    return tuple(attrs.evolve(m, extremum=e) for m in measures if m.given is None for e in EXTREMA)


def needs_case(m: Measure, in_bound: bool = True) -> tuple[str, str]:
    """Why a plain measure means nothing in an MDP (E097), and the hint (which names the bound
    form ``for all adversaries`` where the measure may be a bound's): the checker and the API
    say the same."""
    word = "P" if m.is_probability else "E"
    inner = m.text[1:]
    return (
        f"{m.text} depends on the adversary: this trajectory has choice points (an MDP)",
        f"say which case: {word}max{inner} (the largest over adversaries) or {word}min{inner}"
        + (", or write the bound `for all adversaries`" if in_bound and m.is_probability else ""),
    )


def as_measure(m, phases=()) -> Measure:
    """``m`` as the Python API takes a measure: a :class:`Measure`, or its text (:func:`parse`).

    Raises:
        UsageError: neither, or a text that is no measure.
    """
    from libet.errors import UsageError

    if isinstance(m, Measure):
        return m
    if not isinstance(m, str):
        raise UsageError(f"a measure is its text, e.g. 'P(harm)', or a Measure, not {m!r}")
    try:
        return parse(m, phases)
    except ValueError as exc:
        raise UsageError(str(exc)) from None


def parse(text: str, phases=()) -> Measure:
    """A measure from its canonical text (``"P(harm | delivered)"``, ``"E(steps)"``), for the
    command line and the Python API. ``phases`` are the names ``visit`` may take.

    Raises:
        ValueError: the text is not a measure (the message lists the forms).
    """
    s = " ".join(text.split())
    forms = (
        "P(EVENT), P(EVENT | EVENT), E(depth), E(steps), E(refusals), E(depth | EVENT), "
        "and over adversaries Pmax(EVENT), Pmin(EVENT), Emax(QUANTITY), Emin(QUANTITY)"
    )
    extremum = None
    for word in EXTREMA:
        if s[1:1 + len(word)] == word:
            extremum, s = word, s[0] + s[1 + len(word):]
    if len(s) < 4 or s[1] != "(" or s[-1] != ")" or s[0] not in "PE":
        raise ValueError(f"{text!r} is not a measure; the forms are {forms}")
    inner = s[2:-1]
    head, _, cond = inner.partition("|")
    given = _event(cond.strip(), phases, text) if cond else None
    if given is not None and extremum is not None:
        raise ValueError(f"{text!r}: a conditional measure has no worst or best case here; {NO_CONDITIONAL_EXTREMUM}")
    if s[0] == "P":
        return attrs.evolve(probability(_event(head.strip(), phases, text), given), extremum=extremum)
    reward = ACCUMULATORS.get(head.strip())
    if reward is None:
        raise ValueError(f"{text!r}: E(...) takes {word_list(ACCUMULATORS)}, not {head.strip()!r}")
    return attrs.evolve(expectation(reward, given), extremum=extremum)


#: The words after P or E that take a measure's worst or best case over adversaries.
EXTREMA = ("max", "min")

#: Why ``Pmax(A | B)`` is refused (the checker and the API say the same).
NO_CONDITIONAL_EXTREMUM = (
    "the extremum of a ratio is not found by value iteration (the adversary that maximises "
    "P(A and B) need not maximise P(A | B)); ask for Pmax(A and B) and Pmin(B) instead"
)


def word_list(words) -> str:
    """``a, b or c``: the words of a message, in order."""
    words = list(words)
    return words[0] if len(words) == 1 else ", ".join(words[:-1]) + " or " + words[-1]


def _event(text: str, phases, whole: str) -> Event:
    parts = []
    for atom in (a.strip() for a in text.split(" and ")):
        if atom in ATOMS:
            parts.append(ATOMS[atom])
        elif atom.startswith("visit ") and atom[6:].strip() in phases:
            parts.append(visit(atom[6:].strip()))
        else:
            names = ", ".join(list(ATOMS) + ["visit PHASE"])
            raise ValueError(f"{whole!r}: {atom!r} is not an event (events: {names})")
    return conjunction(parts)


# ---- from an engine's quantities to a measure -------------------------------------------------

#: An engine's quantities: ``q(outcomes, visits, reward)`` with ``reward`` "one" or "depth",
#: per assignment (a number, or an array over assignments).
Quantities = Callable[[frozenset, frozenset, str], Any]


def restrict(x, harmful, which: bool | None, select: Callable, zero):
    """``x`` on the assignments whose harmfulness is ``which`` (zero elsewhere)."""
    if which is None:
        return x
    return select(harmful, x, zero) if which else select(harmful, zero, x)


def expected(
    event: Event, reward: Reward, q: Quantities, harmful, start_depth, select: Callable, zero
):
    """E[reward · 1(event)] per assignment, from the engine's quantities ``q``."""
    if not event.outcomes:
        return zero * q(frozenset({OUTCOMES[0]}), frozenset(), "one")
    if reward is Reward.ONE:
        x = q(event.outcomes, event.visits, "one")
    elif reward is Reward.DEPTH:
        x = q(event.outcomes, event.visits, "depth")
    elif reward is Reward.REFUSALS:
        x = q(event.outcomes, event.visits, "refusals")
    else:
        x = q(event.outcomes, event.visits, "depth") - start_depth * q(event.outcomes, event.visits, "one")
    return restrict(x, harmful, event.harmful, select, zero)


def parts(m: Measure, q: Quantities, harmful, start_depth, select: Callable, zero) -> tuple[Any, Any]:
    """``(numerator, denominator)`` of ``m`` per assignment; the denominator is ``None`` for a
    measure without a condition. Average both over assignments, then divide (:func:`ratio`)."""
    num = expected(m.numerator, m.reward, q, harmful, start_depth, select, zero)
    if m.given is None:
        return num, None
    den = expected(m.given, Reward.ONE, q, harmful, start_depth, select, zero)
    return num, den


def ratio(num, den):
    """``num / den`` for plain numbers, ``None`` (undefined) where ``den`` is 0; ``num`` alone
    when ``den`` is None (no condition)."""
    if den is None:
        return num
    if not den:
        return None
    return num / den


def value(m: Measure, q: Quantities, harmful: bool, start_depth, zero=0) -> Any:
    """The value of ``m`` for one assignment from plain-number quantities (the interpreter's
    path); ``None`` when ``m`` is conditioned on an event of probability 0."""
    from libet.spec.rules import python_select

    num, den = parts(m, q, harmful, start_depth, python_select, zero)
    return ratio(num, den)


def by_text(measures) -> Mapping[str, Measure]:
    return {m.text: m for m in measures}


# ---- what engines must compute ------------------------------------------------------------------

#: One quantity an engine computes per assignment: (outcome, phases that must have been
#: visited, reward "one" or "depth").
Column = tuple


def columns(measures) -> list[Column]:
    """The quantities an engine must compute so that :func:`parts` can answer every measure
    of ``measures``: per outcome, visit set and reward, in a stable order."""
    out: dict = {}

    def need(event: Event, reward: Reward):
        rewards = {Reward.ONE: ("one",), Reward.STEPS: ("one", "depth"), Reward.REFUSALS: ("refusals",)}.get(
            reward, ("depth",)
        )
        for o in OUTCOMES:
            if o in event.outcomes:
                for r in rewards:
                    out[(o, event.visits, r)] = None
        if not event.outcomes:  # an impossible event: its value is zero times any quantity
            out[(OUTCOMES[0], frozenset(), "one")] = None

    for m in measures:
        need(m.numerator, m.reward)
        if m.given is not None:
            need(m.given, Reward.ONE)
    return list(out)


def tracked_phases(measures) -> tuple[str, ...]:
    """The phases whose visits ``measures`` ask about, sorted (engines track these)."""
    out: set = set()
    for m in measures:
        out |= m.visits
    return tuple(sorted(out))
