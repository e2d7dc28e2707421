"""The model's rules around its expressions, written once for every number type.

Consumes: values an engine has computed for a spec's expressions at some states, in whatever
number type it works in: ``float`` or :class:`~fractions.Fraction` (the interpreter), numpy
arrays over many states (the simulator), Z3 terms (the proofs), or strings of PRISM source.
Produces: the veto probability, the step distribution with ``otherwise`` resolved, and where a
step or a start ends (docs/semantics.md §4).

An engine passes the two operations that differ between number types: ``select(c, a, b)``
(``a if c else b``: Python's conditional, ``numpy.where``, ``z3.If``) and, where a sum is
needed, its numbers' ``+``. Everything else is plain arithmetic, so the rules below are the
only statement of them; the reference interpreter, the engines and the export all call them.
"""

from __future__ import annotations

from typing import Any, Callable, Iterable, Sequence

from libet.spec.ir import DELIVER, EXITS, STOP


def python_select(c, a, b):
    """``a if c else b`` for plain Python values (the interpreter's ``select``)."""
    return a if c else b


def veto_probability(fired: Iterable[tuple[Any, Any]], one, select: Callable = python_select):
    """1 − Π(1 − sᵢ) over the rules that fire: ``fired`` holds ``(condition, strength)`` per
    rule, in the policy's order; a rule whose condition is false contributes the factor 1.

    With no rule the veto probability is ``one - one`` (zero in the engine's number type)."""
    keep = one
    for condition, strength in fired:
        keep = keep * select(condition, one - strength, one)
    return one - keep


def veto_split(fired: Iterable[tuple[Any, Any, Any]], one, select: Callable = python_select, zero=None):
    """How a veto ends, by where each rule sends the trajectory.

    ``fired`` holds ``(condition, strength, then)`` per rule, in the policy's order; ``then`` is
    ``None`` for a veto that ends the trajectory, or a phase for a refusal that goes on there.
    The rules act as independent vetoes (so the veto probability is 1 − Π(1 − sᵢ) as in
    :func:`veto_probability`) and the first rule, in the policy's order, that vetoes decides
    where the trajectory goes: rule i decides with probability sᵢ Π_{j<i, cⱼ} (1 − sⱼ).

    Returns ``(ends, total)``: ``ends`` maps ``None`` and each refusal target to its
    probability (targets in order of first appearance; ``None`` first), and ``total`` is the
    veto probability, ``one - Π(1 − sᵢ)``."""
    fired = list(fired)
    if all(then is None for _, _, then in fired):  # every veto ends the trajectory: no parts to keep
        total = veto_probability(((c, s) for c, s, _ in fired), one, select)
        return {None: total}, total
    zero = one - one if zero is None else zero
    keep = one
    ends: dict = {None: zero}
    for condition, strength, then in fired:
        decide = select(condition, keep * strength, zero)
        ends[then] = ends.get(then, zero) + decide
        keep = keep * select(condition, one - strength, one)
    return ends, one - keep


def resolve_otherwise(probs: Sequence[Any], one, zero=None) -> tuple[list, Any, Any]:
    """The step distribution of a phase with ``otherwise`` resolved.

    Args:
        probs: each transition's probability in declaration order, ``None`` for the one
            ``otherwise`` (at most one; the checker enforces it).
        one: 1 in the engine's number type. ``zero`` likewise (default ``one - one``).

    Returns:
        ``(resolved, total, remainder)``: the probabilities with ``otherwise`` replaced by
        ``remainder = one - total``, the sum of the explicit ones, and the remainder (``None``
        when there is no ``otherwise``). Whether ``remainder`` may be used as it is, or must be
        clamped at zero or reported, is the engine's tolerance rule (it lies in
        [−TOLERANCE, 1] in a well-formed spec).
    """
    total = None  # the sum starts at the first term, not at zero: one operation fewer
    for p in probs:
        if p is not None:
            total = p if total is None else total + p
    if total is None:
        total = one - one if zero is None else zero
    if not any(p is None for p in probs):
        return list(probs), total, None
    remainder = one - total
    return [remainder if p is None else p for p in probs], total, remainder


def step_end(target: str, next_depth, horizon: int | None, at_horizon: str = DELIVER):
    """Where one generator step to ``target`` ends, landing at depth ``next_depth``.

    Returns ``"deliver"`` (the target is ``deliver``), ``"stop"`` (the target is ``stop``),
    ``at_horizon`` (a phase at or past the horizon: reaching the horizon ends the trajectory as
    ``horizon N then deliver|stop`` says, deliver by default), or ``None``: the trajectory goes
    on in phase ``target``. ``next_depth`` may be an array (then so is a mixed answer; see
    :func:`delivers_at`)."""
    if target == DELIVER:
        return DELIVER
    if target == STOP:
        return STOP
    if horizon is not None and next_depth >= horizon:
        return at_horizon
    return None


def delivers_at(target: str, next_depth, horizon: int | None, at_horizon: str = DELIVER):
    """Whether a step to ``target`` landing at ``next_depth`` delivers (works on arrays)."""
    if target == DELIVER:
        return True
    if target in EXITS or horizon is None or at_horizon != DELIVER:
        return False
    return next_depth >= horizon


def start_end(start_depth, horizon: int | None, at_horizon: str = DELIVER) -> str | None:
    """How a trajectory that starts at ``start_depth`` ends before any step: a start at the
    horizon (a prefill as long as the whole answer) ends at once, as reaching the horizon does
    (``at_horizon``); ``None`` when it starts below the horizon."""
    if horizon is not None and start_depth >= horizon:
        return at_horizon
    return None


def start_delivers(start_depth, horizon: int | None, at_horizon: str = DELIVER):
    """Whether a trajectory that starts at ``start_depth`` is delivered before any step."""
    return start_end(start_depth, horizon, at_horizon) == DELIVER


__all__ = [
    "DELIVER",
    "STOP",
    "delivers_at",
    "python_select",
    "resolve_otherwise",
    "start_delivers",
    "start_end",
    "step_end",
    "veto_probability",
    "veto_split",
]
