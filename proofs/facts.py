"""Named spec facts, so that an unsat core can say which parts of a spec a proof used.

Consumes: Boolean terms the encoder defines for a part of the spec (a reference value, a veto
rule's condition, a transition's positivity, the start depth, a variable two copies share).
Produces: with tracking, a named Boolean standing for each such term plus the definition
``name == term`` for the query to assert under a tracking literal (:class:`~.solve.Query`);
and :class:`FactInfo`, what a proof summary prints about each fact. Without tracking the terms
are used as they are and nothing is recorded beyond the definitions a caller adds.
"""

from __future__ import annotations

import itertools
from typing import Any

import attrs
import z3

from libet.spec import ir


@attrs.frozen
class FactInfo:
    """A named spec fact a proof may use: ``kind`` is value, rule, transition, start or shared."""

    label: str
    kind: str
    name: str
    text: str
    span: ir.Span | None = None


class Facts:
    """The facts of one encoder: what is pending for the query to assert, and what each is.

    Args:
        ctx: the encoder's Z3 context.
        track: whether :meth:`name` puts a named Boolean in front of each term.
        counter: the encoder's counter of fresh names.
    """

    def __init__(self, ctx: z3.Context, track: bool, counter: itertools.count):
        self.ctx = ctx
        self.track = track
        self.counter = counter
        self.info: dict[str, FactInfo] = {}
        self._pending: list[tuple[str, Any]] = []

    def add(self, label: str, kind: str, name: str, text: str, span, formula) -> None:
        """Record the fact ``formula`` (a Z3 Bool or a Python bool) for the query to assert."""
        if label not in self.info:
            self.info[label] = FactInfo(label, kind, name, text, span)
        if isinstance(formula, bool):
            formula = z3.BoolVal(formula, self.ctx)
        self._pending.append((label, formula))

    def name(self, label: str, kind: str, name: str, text: str, span, value):
        """``value`` behind a named Boolean when tracking (the fact is ``aux == value``)."""
        if not self.track:
            return value
        aux = z3.Bool(f"{label}!{next(self.counter)}", self.ctx)
        self.add(label, kind, name, text, span, aux == (z3.BoolVal(value, self.ctx) if isinstance(value, bool) else value))
        return aux

    def take(self) -> list[tuple[str, Any]]:
        """The facts recorded since the last call (the query asserts them)."""
        out, self._pending = self._pending, []
        return out
