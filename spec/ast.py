"""The abstract syntax tree: the spec as written, with source spans.

Consumes: nothing (data only); built by :mod:`libet.spec.parser`.
Produces: nodes read by :mod:`libet.spec.checker` (into the IR) and :mod:`libet.spec.formatter`
(back into canonical text).

The AST keeps what the user wrote, including parentheses (:class:`Paren`) and the order of
items, so the formatter can reprint it faithfully; meaning is assigned only by the checker.
"""

from __future__ import annotations

from fractions import Fraction
from typing import Union

import attrs

from libet.spec.ir import Span


def _span():
    return attrs.field(eq=False, repr=False, kw_only=True, default=None)


@attrs.frozen(slots=True)
class Name:
    text: str
    span: Span | None = _span()


# ---- expressions -------------------------------------------------------------------------


@attrs.frozen(slots=True)
class Num:
    """A number literal; ``text`` as written, ``value`` an int or Fraction."""

    text: str
    value: Union[int, Fraction]
    span: Span | None = _span()


@attrs.frozen(slots=True)
class BoolLit:
    value: bool
    span: Span | None = _span()


@attrs.frozen(slots=True)
class NameExpr:
    """A name in an expression: a variable, param, def, value, enum member or phase name."""

    name: str
    span: Span | None = _span()


@attrs.frozen(slots=True)
class Keyword:
    """``depth``, ``phase`` or ``harmful``."""

    word: str
    span: Span | None = _span()


@attrs.frozen(slots=True)
class Violates:
    value: Name
    span: Span | None = _span()


@attrs.frozen(slots=True)
class Call:
    func: Name
    args: tuple
    span: Span | None = _span()


@attrs.frozen(slots=True)
class Unary:
    """``not x`` or ``-x``."""

    op: str
    arg: object
    span: Span | None = _span()


@attrs.frozen(slots=True)
class Chain:
    """``a op b op c ...`` for and/or (one op) and for +,- or *,/ (``ops[i]`` before
    ``args[i+1]``), evaluated left to right."""

    ops: tuple[str, ...]
    args: tuple
    span: Span | None = _span()


@attrs.frozen(slots=True)
class Compare:
    op: str
    left: object
    right: object
    span: Span | None = _span()


@attrs.frozen(slots=True)
class Implies:
    left: object
    right: object
    span: Span | None = _span()


@attrs.frozen(slots=True)
class MemberExpr:
    arg: object
    values: tuple  # of literals
    span: Span | None = _span()


@attrs.frozen(slots=True)
class Ite:
    cond: object
    then: object
    orelse: object
    span: Span | None = _span()


@attrs.frozen(slots=True)
class Paren:
    expr: object
    span: Span | None = _span()


Expr = Union[Num, BoolLit, NameExpr, Keyword, Violates, Call, Unary, Chain, Compare, Implies, MemberExpr, Ite, Paren]
Literal = Union[Num, BoolLit, NameExpr]


def literal_text(lit: Literal) -> str:
    """A literal as written in the source (numbers keep their spelling)."""
    if isinstance(lit, Num):
        return lit.text
    if isinstance(lit, BoolLit):
        return "true" if lit.value else "false"
    return lit.name


# ---- declarations ------------------------------------------------------------------------


@attrs.frozen(slots=True)
class Use:
    path: str
    span: Span | None = _span()


@attrs.frozen(slots=True)
class BoolDom:
    span: Span | None = _span()


@attrs.frozen(slots=True)
class IntDom:
    lo: int
    hi: int
    span: Span | None = _span()


@attrs.frozen(slots=True)
class EnumDom:
    members: tuple[Name, ...]
    span: Span | None = _span()


@attrs.frozen(slots=True)
class VarDecl:
    name: Name
    domain: Union[BoolDom, IntDom, EnumDom]
    weights: tuple | None  # of (literal, Num | NameExpr | Paren): a name or (expr) reads params
    span: Span | None = _span()


@attrs.frozen(slots=True)
class VarBlock:
    cls: str
    decls: tuple[VarDecl, ...]
    span: Span | None = _span()


@attrs.frozen(slots=True)
class StateDecl:
    name: Name
    domain: Union[BoolDom, IntDom, EnumDom]
    init: object  # a literal (Num, NameExpr, BoolLit)
    span: Span | None = _span()


@attrs.frozen(slots=True)
class StateBlock:
    decls: tuple[StateDecl, ...]
    span: Span | None = _span()


@attrs.frozen(slots=True)
class UpdateDecl:
    var: Name
    expr: object
    span: Span | None = _span()


@attrs.frozen(slots=True)
class ChoiceDecl:
    """``choose var [in {options}] [when cond]``; ``options`` None when not written."""

    var: Name
    options: tuple | None
    when: object | None
    span: Span | None = _span()


@attrs.frozen(slots=True)
class ParamDecl:
    name: Name
    default: Num
    range: tuple[Num, Num] | None
    span: Span | None = _span()
    kind: Name | None = None  # `param n: int = ...`


@attrs.frozen(slots=True)
class DefDecl:
    name: Name
    expr: object
    span: Span | None = _span()


@attrs.frozen(slots=True)
class ValueDecl:
    name: Name
    expr: object
    span: Span | None = _span()


@attrs.frozen(slots=True)
class Horizon:
    value: Union[int, str, "Paren"]  # an int, the word written (`none` or an int param), or (expr)
    end: str | None = None  # `then stop` / `then deliver` as written, None when not written
    span: Span | None = _span()


@attrs.frozen(slots=True)
class Start:
    phase: Name
    depth: object | None
    span: Span | None = _span()


@attrs.frozen(slots=True)
class TransitionDecl:
    target: Name
    prob: object | None  # None for `otherwise`
    span: Span | None = _span()
    updates: tuple[UpdateDecl, ...] = ()


@attrs.frozen(slots=True)
class PhaseDecl:
    name: Name
    transitions: tuple[TransitionDecl, ...]
    span: Span | None = _span()
    choices: tuple[ChoiceDecl, ...] = ()
    items: tuple = ()  # choices and transitions as written (the formatter keeps the order)


@attrs.frozen(slots=True)
class TrajectoryDecl:
    items: tuple  # Horizon | Start | PhaseDecl, as written
    span: Span | None = _span()


@attrs.frozen(slots=True)
class RuleDecl:
    condition: object
    strength: object | None
    then: Name | None = None  # `then -> PHASE`: the phase a refusal continues in
    span: Span | None = _span()
    updates: tuple[UpdateDecl, ...] = ()


@attrs.frozen(slots=True)
class PolicyDecl:
    name: Name
    rules: tuple[RuleDecl, ...]
    span: Span | None = _span()


@attrs.frozen(slots=True)
class EventAtom:
    """One atom of an event: a named event (``harm``, ``vetoed``, ... with ``phase`` None) or
    ``visit PHASE`` (``word == "visit"``)."""

    word: str
    phase: Name | None = None
    span: Span | None = _span()

    @property
    def text(self) -> str:
        return self.word if self.phase is None else f"visit {self.phase.text}"


@attrs.frozen(slots=True)
class Event:
    """``ATOM and ATOM ...`` as written (one atom or more)."""

    atoms: tuple[EventAtom, ...]
    span: Span | None = _span()

    @property
    def text(self) -> str:
        return " and ".join(a.text for a in self.atoms)


@attrs.frozen(slots=True)
class Measure:
    """``P(event)`` / ``P(event | given)`` (``kind == "P"``, ``quantity`` None) or
    ``E(quantity)`` / ``E(quantity | given)`` (``kind == "E"``, ``event`` None). The quantity
    is the name written (``depth``, ``steps``, or a mistake the checker reports)."""

    kind: str
    event: Event | None = None
    quantity: Name | None = None
    given: Event | None = None
    span: Span | None = _span()
    extremum: str | None = None  # "max" / "min": Pmax, Emin, ...

    @property
    def text(self) -> str:
        inner = self.event.text if self.kind == "P" else self.quantity.text
        if self.given is not None:
            inner += f" | {self.given.text}"
        return f"{self.kind}{self.extremum or ''}({inner})"


@attrs.frozen(slots=True)
class CheckItem:
    """One line of a check block. ``kind`` is invariant, outcome invariant (``invariant P(m)
    under V``), complete at (``under`` holds the phases), bound, gap, or the words of a keyword
    check (``complete``, ``no over-refusal``, ``safe``: the ``name`` of its IR property); the
    other fields are set as the kind needs."""

    kind: str
    under: tuple[Name, ...] = ()
    measure: Measure | None = None
    op: str | None = None
    bound: Num | None = None
    span: Span | None = _span()


@attrs.frozen(slots=True)
class CheckDecl:
    policies: tuple[Name, ...]
    items: tuple[CheckItem, ...]
    span: Span | None = _span()


@attrs.frozen(slots=True)
class Sweep:
    """``lo..hi [step s]`` (``values`` empty) or ``[v1, v2, ...]`` (``lo`` None)."""

    lo: Num | None = None
    hi: Num | None = None
    step: Num | None = None
    values: tuple = ()
    span: Span | None = _span()


@attrs.frozen(slots=True)
class ExpItem:
    """One line of an experiment: ``kind`` is policies, vary, set, measure, worst, engine,
    runs, seed or data; ``args`` holds what follows the keyword (for data, the path as a
    :class:`Name` whose span is the string's)."""

    kind: str
    args: tuple
    span: Span | None = _span()


@attrs.frozen(slots=True)
class ExperimentDecl:
    name: Name
    items: tuple[ExpItem, ...]
    span: Span | None = _span()


@attrs.frozen(slots=True)
class Module:
    """One source file."""

    title: str | None
    items: tuple
    file: str
    header_span: Span | None = _span()
    span: Span | None = _span()
