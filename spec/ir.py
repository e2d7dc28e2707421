"""The checked intermediate representation (IR) of a libet spec.

Consumes: nothing (this module only defines data).
Produces: frozen, slotted attrs classes that every engine reads: the reference interpreter
(:mod:`libet.spec.interpreter`), the Z3 encoding (:mod:`libet.proofs`) and the simulator
(:mod:`libet.simulator`).

The IR is what a spec *means*; it is built only by :mod:`libet.spec.checker` after names are
resolved and types checked, so every consumer may assume:

* every name refers to something declared, with the type recorded on the node;
* enum literals are members of the enum they are compared with;
* numbers are exact (``int`` or :class:`fractions.Fraction`), never floats;
* source spans are carried for messages but never take part in equality, so a spec and its
  formatted version have equal IR.

Expressions are trees of the ``Expr`` classes below. Named definitions (``def``) and reference
values (``value``) are kept as references (:class:`DefRef`, :class:`ValueRef`) so that proofs
can say which named facts they used; :meth:`Spec.expand` inlines them when an engine prefers a
closed term.
"""

from __future__ import annotations

import enum
import itertools
import math
import operator
from fractions import Fraction
from typing import Iterator, NamedTuple, Union

import attrs

from libet.spec import measures as _measures

# ---------------------------------------------------------------------------------------------
# Source positions


class Span(NamedTuple):
    """A region of a source file: 1-based line and column, end exclusive.

    A named tuple rather than an attrs class: a long spec makes one per node, and a frozen
    attrs instance costs ten times as much to build."""

    file: str
    line: int
    col: int
    end_line: int
    end_col: int

    def __str__(self) -> str:
        return f"{self.file}:{self.line}:{self.col}"

    def __repr__(self) -> str:
        return f"Span({self.file!r}, {self.line}, {self.col}, {self.end_line}, {self.end_col})"


def _span_field():
    # Spans are for messages only: two specs that differ only in layout have equal IR.
    return attrs.field(default=None, eq=False, repr=False, kw_only=True)


# ---------------------------------------------------------------------------------------------
# Types


class Kind(enum.Enum):
    BOOL = "bool"
    INT = "int"
    REAL = "real"
    ENUM = "enum"
    PHASE = "phase"


@attrs.frozen(slots=True)
class Type:
    """The type of an expression. ``members`` is set for enums (the domain, in order)."""

    kind: Kind
    members: tuple[str, ...] = ()

    def __str__(self) -> str:
        if self.kind is Kind.ENUM:
            return members_text(self.members)
        return self.kind.value

    @property
    def numeric(self) -> bool:
        return self.kind in (Kind.INT, Kind.REAL)


BOOL = Type(Kind.BOOL)
INT = Type(Kind.INT)
REAL = Type(Kind.REAL)
PHASE = Type(Kind.PHASE)


def enum_type(members: tuple[str, ...]) -> Type:
    return Type(Kind.ENUM, tuple(members))


#: How many members the text of an enum names before it stops (and names the last).
MEMBERS_SHOWN = 12


def members_text(members: tuple[str, ...]) -> str:
    """An enum as people read it: ``{a, b, c}``, or past MEMBERS_SHOWN members the first ten,
    how many more, and the last."""
    if len(members) <= MEMBERS_SHOWN:
        return "{" + ", ".join(members) + "}"
    head = ", ".join(members[: MEMBERS_SHOWN - 2])
    return "{" + head + f", ... {len(members) - MEMBERS_SHOWN + 1:,} more ..., {members[-1]}" + "}"


class Positions:
    """Where a member is among an enum type's members: a table per enum, formed on its first
    question and kept by the members' identity (every enum type of a spec shares its variable's
    members). ``tuple.index`` per literal would be quadratic in a long ``in`` list."""

    def __init__(self):
        self._kept: dict[int, tuple[tuple[str, ...], dict[str, int]]] = {}

    def table(self, members: tuple[str, ...]) -> dict[str, int]:
        kept = self._kept.get(id(members))
        if kept is None or kept[0] is not members:
            kept = self._kept[id(members)] = (members, {m: i for i, m in enumerate(members)})
        return kept[1]


# ---------------------------------------------------------------------------------------------
# Domains and declarations


class VarClass(enum.Enum):
    """The three classes of variables (DESIGN.md §1)."""

    SUBSTANCE = "substance"
    FRAMING = "framing"
    CONTEXT = "context"


Scalar = Union[bool, int, str]  # a variable's value: bool, int, or an enum member's name


@attrs.frozen(slots=True)
class BoolDomain:
    def values(self) -> tuple[bool, ...]:
        return (False, True)

    def position(self, value: bool) -> int:
        """Where ``value`` is in :meth:`values`."""
        return int(value)

    @property
    def type(self) -> Type:
        return BOOL

    def __str__(self) -> str:
        return "bool"


@attrs.frozen(slots=True)
class IntDomain:
    lo: int
    hi: int

    def values(self) -> tuple[int, ...]:
        return tuple(range(self.lo, self.hi + 1))

    def position(self, value: int) -> int:
        """Where ``value`` is in :meth:`values`."""
        return value - self.lo

    @property
    def type(self) -> Type:
        return INT

    def __str__(self) -> str:
        return f"{self.lo}..{self.hi}"


@attrs.frozen(slots=True)
class EnumDomain:
    members: tuple[str, ...]
    # each member's position, formed once: a member's index is asked per value, and
    # ``tuple.index`` would make that quadratic in the members
    _positions: dict[str, int] = attrs.field(init=False, eq=False, repr=False)

    def __attrs_post_init__(self):
        object.__setattr__(self, "_positions", {m: i for i, m in enumerate(self.members)})

    def values(self) -> tuple[str, ...]:
        return self.members

    def position(self, value: str) -> int:
        """Where ``value`` is in :meth:`values` (a ValueError for a name that is not a member,
        as ``tuple.index`` gives)."""
        try:
            return self._positions[value]
        except (KeyError, TypeError):
            raise ValueError(f"{value!r} is not a member of {self}") from None

    def __contains__(self, value) -> bool:
        try:
            return value in self._positions
        except TypeError:  # unhashable: not a member name
            return False

    @property
    def type(self) -> Type:
        return enum_type(self.members)

    def __str__(self) -> str:
        return members_text(self.members)


Domain = Union[BoolDomain, IntDomain, EnumDomain]


@attrs.frozen(slots=True)
class Variable:
    """A substance, framing or context variable with a finite domain.

    ``weights`` is the declared distribution over the domain (same order as
    ``domain.values()``, summing to 1), or ``None`` for uniform.
    """

    name: str
    cls: VarClass
    domain: Domain
    weights: tuple[Fraction, ...] | None = None
    span: Span | None = _span_field()
    #: weights written over params (``weights {a: w, b: (1 - w)}``), one per domain value; then
    #: ``weights`` holds their values at the params' defaults, and an engine takes them at its
    #: params through :func:`libet.spec.structural.bind`.
    weight_exprs: tuple[Expr, ...] | None = attrs.field(default=None, kw_only=True)

    @property
    def type(self) -> Type:
        return self.domain.type

    def size(self) -> int:
        """The number of values, without building them."""
        d = self.domain
        if isinstance(d, IntDomain):
            return d.hi - d.lo + 1
        return len(d.values())

    def distribution(self) -> tuple[Fraction, ...]:
        """The probability of every value, in domain order (one pass, however many values)."""
        if self.weights is not None:
            return self.weights
        n = self.size()
        return (Fraction(1, n),) * n

    def probability(self, value: Scalar) -> Fraction:
        if self.weights is None:
            return Fraction(1, self.size())
        d = self.domain
        return self.weights[d.position(value)]


@attrs.frozen(slots=True)
class StateVar:
    """A bounded state variable (``state { refusals: 0..3 = 0 }``): part of the trajectory's
    state beside (phase, depth), ``init`` at the start, changed by updates on transitions and
    refusals, and by the adversary at a choice point."""

    name: str
    domain: Domain
    init: Scalar
    span: Span | None = _span_field()

    @property
    def type(self) -> Type:
        return self.domain.type

    def size(self) -> int:
        d = self.domain
        return d.hi - d.lo + 1 if isinstance(d, IntDomain) else len(d.values())


@attrs.frozen(slots=True)
class Param:
    """A real constant, overridable from the CLI and by experiments, within ``lo``..``hi``;
    ``integer`` (``param n: int = ...``) takes whole values only (the horizon and the start
    depth may read it)."""

    name: str
    default: Fraction
    lo: Fraction | None = None
    hi: Fraction | None = None
    span: Span | None = _span_field()
    integer: bool = attrs.field(default=False, kw_only=True)


# ---------------------------------------------------------------------------------------------
# Expressions


class Expr:
    """Base of all expression nodes. Every node has a ``type`` and an optional ``span``."""

    __slots__ = ()

    def children(self) -> tuple["Expr", ...]:
        return ()


@attrs.frozen(slots=True)
class Const(Expr):
    """A literal: bool, int, Fraction (real) or str (an enum member; ``type`` says which enum)."""

    value: Union[bool, int, Fraction, str]
    type: Type
    span: Span | None = _span_field()


@attrs.frozen(slots=True)
class VarRef(Expr):
    name: str
    type: Type
    span: Span | None = _span_field()


@attrs.frozen(slots=True)
class StateRef(Expr):
    """A use of a state variable (``state { refusals: 0..3 = 0 }``): its value in the current
    state of the trajectory, which transitions and refusals update (docs/semantics.md §4b)."""

    name: str
    type: Type
    span: Span | None = _span_field()


@attrs.frozen(slots=True)
class ParamRef(Expr):
    name: str
    type: Type = REAL
    span: Span | None = _span_field()


@attrs.frozen(slots=True)
class DefRef(Expr):
    """A use of a ``def``; its body is ``spec.defs[name].expr``."""

    name: str
    type: Type
    span: Span | None = _span_field()


@attrs.frozen(slots=True)
class ValueRef(Expr):
    """True when the reference value ``name`` holds. ``violates V`` is ``Not(ValueRef(V))``."""

    name: str
    type: Type = BOOL
    span: Span | None = _span_field()


@attrs.frozen(slots=True)
class Harmful(Expr):
    """True when some reference value of the spec is false."""

    type: Type = BOOL
    span: Span | None = _span_field()


@attrs.frozen(slots=True)
class Depth(Expr):
    """The current depth of the trajectory (an int, 0 at the start unless the start says)."""

    type: Type = INT
    span: Span | None = _span_field()


@attrs.frozen(slots=True)
class CurrentPhase(Expr):
    """The current phase; compared with phase names (``Const`` of type PHASE)."""

    type: Type = PHASE
    span: Span | None = _span_field()


@attrs.frozen(slots=True)
class Not(Expr):
    arg: Expr
    type: Type = BOOL
    span: Span | None = _span_field()

    def children(self):
        return (self.arg,)


class BoolOp(enum.Enum):
    AND = "and"
    OR = "or"
    IMPLIES = "implies"


@attrs.frozen(slots=True)
class Logic(Expr):
    """``and``/``or`` over two or more args; ``implies`` over exactly two."""

    op: BoolOp
    args: tuple[Expr, ...]
    type: Type = BOOL
    span: Span | None = _span_field()

    def children(self):
        return self.args


class CmpOp(enum.Enum):
    EQ = "=="
    NE = "!="
    LT = "<"
    LE = "<="
    GT = ">"
    GE = ">="

    def __call__(self, a, b):
        """The comparison itself, on any numbers with Python's operators (floats, Fractions,
        numpy arrays, Z3 terms)."""
        return _COMPARE[self](a, b)

    @property
    def function(self):
        """The comparison as a plain two-argument function (``operator.lt`` for ``<``): what a
        compiled pass calls, without the enum's lookup on every call."""
        return _COMPARE[self]

    @property
    def mirrored(self) -> "CmpOp":
        """The comparison with its sides swapped: ``a op b`` is ``b op.mirrored a``."""
        return _MIRRORED[self]

    @property
    def negated(self) -> "CmpOp":
        """The comparison that holds exactly where this one does not (on ordered values)."""
        return _NEGATED[self]


_COMPARE = {
    CmpOp.EQ: operator.eq,
    CmpOp.NE: operator.ne,
    CmpOp.LT: operator.lt,
    CmpOp.LE: operator.le,
    CmpOp.GT: operator.gt,
    CmpOp.GE: operator.ge,
}
_MIRRORED = {CmpOp.EQ: CmpOp.EQ, CmpOp.NE: CmpOp.NE, CmpOp.LT: CmpOp.GT, CmpOp.LE: CmpOp.GE, CmpOp.GT: CmpOp.LT,
             CmpOp.GE: CmpOp.LE}
_NEGATED = {CmpOp.EQ: CmpOp.NE, CmpOp.NE: CmpOp.EQ, CmpOp.LT: CmpOp.GE, CmpOp.LE: CmpOp.GT, CmpOp.GT: CmpOp.LE,
            CmpOp.GE: CmpOp.LT}


@attrs.frozen(slots=True)
class Compare(Expr):
    op: CmpOp
    left: Expr
    right: Expr
    type: Type = BOOL
    span: Span | None = _span_field()

    def children(self):
        return (self.left, self.right)


@attrs.frozen(slots=True)
class Member(Expr):
    """``arg in {v1, v2, ...}``: membership of an enum, int or bool value in a finite set."""

    arg: Expr
    values: tuple[Scalar, ...]
    type: Type = BOOL
    span: Span | None = _span_field()

    def children(self):
        return (self.arg,)


class ArithOp(enum.Enum):
    ADD = "+"
    SUB = "-"
    MUL = "*"
    DIV = "/"


@attrs.frozen(slots=True)
class Arith(Expr):
    """Binary arithmetic. ``/`` is real division (the result is real even on ints)."""

    op: ArithOp
    left: Expr
    right: Expr
    type: Type
    span: Span | None = _span_field()

    def children(self):
        return (self.left, self.right)

    def spine(self, stop=None) -> tuple[Expr, tuple["Arith", ...]]:
        """A left-nested chain of ``+``/``-`` (or of ``*``/``/``) as its leftmost operand and
        its nodes, innermost first: ``a + b - c`` is ``(a, (a + b, a + b - c))``, ``n / 2 * k``
        is ``(n, (n / 2, n / 2 * k))``. Passes walk the chain in a loop, so a flat sum or
        product of 10^4 terms (a weighted score, a run of divisions) costs no recursion; only
        real nesting, which the parser bounds, does. Each node keeps its own type (in ``n * 2
        / 3`` the product is an int, the quotient a real). ``stop(node)`` true ends the chain at ``node`` (a pass that already has its value
        treats it as the leftmost operand)."""
        group = _SPINE.get(self.op)
        if group is None:
            return self.left, (self,)
        nodes = [self]
        node: Expr = self.left
        while isinstance(node, Arith) and _SPINE.get(node.op) == group and not (stop and stop(node)):
            nodes.append(node)
            node = node.left
        nodes.reverse()
        return node, tuple(nodes)


_SPINE = {ArithOp.ADD: "sum", ArithOp.SUB: "sum", ArithOp.MUL: "product", ArithOp.DIV: "product"}


@attrs.frozen(slots=True)
class Neg(Expr):
    arg: Expr
    type: Type
    span: Span | None = _span_field()

    def children(self):
        return (self.arg,)


@attrs.frozen(slots=True)
class Ite(Expr):
    cond: Expr
    then: Expr
    orelse: Expr
    type: Type
    span: Span | None = _span_field()

    def children(self):
        return (self.cond, self.then, self.orelse)

    def ladder(self) -> tuple[tuple[tuple[Expr, Expr], ...], Expr]:
        """An ``else if`` ladder as its branches ``((cond, then), ...)`` in order and the last
        ``else``: ``if a then x else if b then y else z`` is ``(((a, x), (b, y)), z)``. Passes
        walk a ladder in a loop, so one of 10^4 branches costs no recursion (the nesting limit
        is for real nesting; the parser does not count a ladder's steps)."""
        branches = []
        node: Expr = self
        while isinstance(node, Ite):
            branches.append((node.cond, node.then))
            node = node.orelse
        return tuple(branches), node


class Func(enum.Enum):
    """Built-in functions. ``exp``, ``log`` and ``pow`` are non-polynomial."""

    MIN = "min"
    MAX = "max"
    ABS = "abs"
    EXP = "exp"
    LOG = "log"
    POW = "pow"



#: Functions with no polynomial form: exact over a finite domain (tabulated), not over an
#: unbounded depth.
NONPOLYNOMIAL = frozenset({Func.EXP, Func.LOG, Func.POW})


@attrs.frozen(slots=True)
class Call(Expr):
    func: Func
    args: tuple[Expr, ...]
    type: Type
    span: Span | None = _span_field()

    def children(self):
        return self.args


def walk(expr: Expr) -> Iterator[Expr]:
    """Every node of ``expr`` (pre-order), with an explicit stack (no recursion limit)."""
    stack = [expr]
    while stack:
        node = stack.pop()
        yield node
        stack.extend(reversed(node.children()))


# ---------------------------------------------------------------------------------------------
# Named definitions, values, the trajectory, policies


@attrs.frozen(slots=True)
class Definition:
    """``def name = expr``: a named expression usable anywhere after resolution."""

    name: str
    expr: Expr
    span: Span | None = _span_field()

    @property
    def type(self) -> Type:
        return self.expr.type


@attrs.frozen(slots=True)
class ReferenceValue:
    """``value name = expr``: a boolean predicate over substance variables only."""

    name: str
    expr: Expr
    span: Span | None = _span_field()


DELIVER = "deliver"
STOP = "stop"
EXITS = (DELIVER, STOP)  # transition targets that end the trajectory


@attrs.frozen(slots=True)
class Update:
    """``var = expr`` after a transition or a refusal (``then refusals = refusals + 1``). The
    updates of one step are simultaneous: every right-hand side reads the state before the
    step. ``expr`` reads state variables, params and literals only (the checker's rule)."""

    var: str
    expr: Expr
    span: Span | None = _span_field()


@attrs.frozen(slots=True)
class Transition:
    """``-> target : prob [then updates]``. ``target`` is a phase name, ``deliver`` or ``stop``.

    ``prob`` is ``None`` for ``otherwise``: one minus the sum of the phase's other transitions.
    ``updates`` change the state variables on the way to ``target`` (empty: the state stays).
    """

    target: str
    prob: Expr | None
    span: Span | None = _span_field()
    updates: tuple[Update, ...] = attrs.field(default=(), kw_only=True)


@attrs.frozen(slots=True)
class Choice:
    """``choose var [in {options}] [when cond]`` in a phase: at each state of the phase, before
    the policy acts, the adversary sets ``var`` to one of ``options`` (domain order, never
    empty) when ``cond`` holds there (always when ``None``); otherwise ``var`` keeps its value.
    The choices of one phase are made jointly. A spec with a choice is an MDP."""

    var: str
    options: tuple[Scalar, ...]
    when: Expr | None = None
    span: Span | None = _span_field()


@attrs.frozen(slots=True)
class Phase:
    name: str
    transitions: tuple[Transition, ...]
    span: Span | None = _span_field()
    choices: tuple[Choice, ...] = attrs.field(default=(), kw_only=True)


@attrs.frozen(slots=True)
class Trajectory:
    """The generator: phases over depth. ``horizon`` is ``None`` for an unbounded trajectory.
    ``at_horizon`` is what reaching the horizon is: ``deliver`` (the default) or ``stop``
    (``horizon N then stop``: an agent that never acted within N steps did nothing)."""

    horizon: int | None
    start_phase: str
    start_depth: Expr
    phases: tuple[Phase, ...]
    at_horizon: str = DELIVER
    span: Span | None = _span_field()
    #: a horizon written over int params (``horizon h``); then ``horizon`` is its value at the
    #: defaults, and an engine takes it at its params (:func:`libet.spec.structural.bind`)
    horizon_expr: Expr | None = attrs.field(default=None, kw_only=True)
    #: whether `then deliver|stop` was written (W106 is for the default left unsaid)
    at_horizon_written: bool = attrs.field(default=False, eq=False, kw_only=True)
    # name -> phase: every engine looks a phase up at every layer and step, so a spec of P
    # phases must not pay P for each look-up
    _by_name: dict = attrs.field(init=False, eq=False, repr=False)

    def __attrs_post_init__(self):
        object.__setattr__(self, "_by_name", {p.name: p for p in reversed(self.phases)})  # the first of a name

    def phase(self, name: str) -> Phase:
        """The phase called ``name`` (KeyError when there is none)."""
        return self._by_name[name]

    @property
    def phase_names(self) -> tuple[str, ...]:
        return tuple(p.name for p in self.phases)


@attrs.frozen(slots=True)
class Rule:
    """``veto when condition [with strength s] [then -> PHASE]``; ``strength`` defaults to
    ``Const(1)``. ``then`` is ``None`` for a veto that ends the trajectory (*vetoed*), or the
    phase a refusal continues in: the refusal ends the turn, and the conversation goes on in
    ``then`` at the next depth."""

    condition: Expr
    strength: Expr
    span: Span | None = _span_field()
    then: str | None = None
    #: state updates of a refusal that goes on (``then -> turn then refusals = refusals + 1``)
    updates: tuple[Update, ...] = attrs.field(default=(), kw_only=True)


@attrs.frozen(slots=True)
class Policy:
    name: str
    rules: tuple[Rule, ...]
    span: Span | None = _span_field()


# ---------------------------------------------------------------------------------------------
# Checks


# Measures (P(harm), E(depth | vetoed), ...) are reward structures, defined in one place:
# :mod:`libet.spec.measures`. ``ir.Measure`` is that class.
Measure = _measures.Measure


@attrs.frozen(slots=True)
class Invariance:
    """``invariant under V``: veto probability equal for assignments differing only in
    ``variables`` (and, when ``depth`` is set, at every pair of depths; when ``phase`` is set,
    at every pair of phases)."""

    variables: tuple[str, ...]
    depth: bool = False
    written: tuple[str, ...] = attrs.field(default=(), eq=False)  # as the user wrote it
    phase: bool = False

    @property
    def name(self) -> str:
        return "invariant under " + ", ".join(self.written or self.variables)


@attrs.frozen(slots=True)
class Complete:
    """Every harmful assignment is vetoed with probability 1 at every state."""

    name = "complete"
    needs_trajectory = False


@attrs.frozen(slots=True)
class CompleteAt:
    """``complete at PHASES``: every harmful assignment is vetoed with probability 1 at every
    depth of the listed phases (and nothing is claimed about the others)."""

    phases: tuple[str, ...]
    needs_trajectory = True

    @property
    def name(self) -> str:
        return "complete at " + ", ".join(self.phases)


@attrs.frozen(slots=True)
class NoOverRefusal:
    """No benign assignment is ever vetoed (veto probability 0 at every state)."""

    name = "no over-refusal"
    needs_trajectory = False


@attrs.frozen(slots=True)
class Safe:
    """No harmful assignment reaches *delivered* along positive-probability steps."""

    name = "safe"
    needs_trajectory = True


@attrs.frozen(slots=True)
class Bound:
    """``P(m) <= bound for all V`` (or ``>=``). For each assignment of ``for_all`` the measure,
    averaged over the remaining variables under their distribution, satisfies the bound."""

    measure: Measure
    op: CmpOp  # LE or GE
    bound: Fraction
    for_all: tuple[str, ...]
    written: tuple[str, ...] = attrs.field(default=(), eq=False)

    @property
    def name(self) -> str:
        text = f"{self.measure.text} {self.op.value} {_num(self.bound)}"
        if self.written or self.for_all:
            text += " for all " + ", ".join(self.written or self.for_all)
        return text


@attrs.frozen(slots=True)
class Gap:
    """``gap P(m) under V <= bound``: the largest difference in the measure between two
    assignments that differ only in ``under``."""

    measure: Measure
    under: tuple[str, ...]
    bound: Fraction
    written: tuple[str, ...] = attrs.field(default=(), eq=False)

    @property
    def name(self) -> str:
        return f"gap {self.measure.text} under {', '.join(self.written or self.under)} <= {_num(self.bound)}"


@attrs.frozen(slots=True)
class OutcomeInvariance:
    """``invariant P(m) under V``: the measure is the same for any two assignments that differ
    only in ``under`` (the gap is exactly 0), where ``invariant under V`` says so of the veto
    alone."""

    measure: Measure
    under: tuple[str, ...]
    written: tuple[str, ...] = attrs.field(default=(), eq=False)

    @property
    def name(self) -> str:
        return f"invariant {self.measure.text} under {', '.join(self.written or self.under)}"


Property = Union[Invariance, Complete, CompleteAt, NoOverRefusal, Safe, Bound, Gap, OutcomeInvariance]

#: The properties written as their own name in a check block (grammar rule ``keyword_check``),
#: by that name. A new keyword check is a class with ``name`` and ``needs_trajectory`` here.
KEYWORD_PROPERTIES: dict[str, type] = {cls.name: cls for cls in (Complete, NoOverRefusal, Safe)}


def property_name(prop: Property) -> str:
    """The canonical text of a property, as written in a check block (used to select checks);
    each property class says it as its ``name``."""
    return prop.name


def _num(q: Fraction) -> str:
    if q.denominator == 1:
        return str(q.numerator)
    text = repr(float(q))
    return text if Fraction(text) == q else f"{q.numerator}/{q.denominator}"


@attrs.frozen(slots=True)
class Check:
    """One property of one policy: a ``check P, Q { ... }`` block yields one per pair."""

    policy: str
    prop: Property
    span: Span | None = _span_field()

    @property
    def name(self) -> str:
        return property_name(self.prop)



# ---------------------------------------------------------------------------------------------
# Experiments


@attrs.frozen(slots=True)
class Vary:
    """``vary name over ...``: a variable or param swept over ``values`` in order."""

    name: str
    values: tuple[Union[Scalar, Fraction], ...]
    span: Span | None = _span_field()


@attrs.frozen(slots=True)
class Experiment:
    """A sweep: for each point of the product of ``vary`` and each policy, each measure.

    Variables neither varied nor set are aggregated: the worst case (the largest value of the
    measure) over those in ``worst_over``, and the average under their declared distribution
    over the rest. Every reported number says which variables were treated how.
    """

    name: str
    policies: tuple[str, ...]
    vary: tuple[Vary, ...]
    set: tuple[tuple[str, Union[Scalar, Fraction]], ...]
    measures: tuple[Measure, ...]
    worst_over: tuple[str, ...] = ()
    engine: str = "exact"  # a name in the engine registry (libet.simulator.engines)
    runs: int = 10_000
    seed: int = 0
    #: ``data "FILE"``: the measured points bound to the experiment, as written, and the span of
    #: the string (paths resolve against the spec file's folder: :meth:`data_path`).
    data: str | None = None
    data_span: Span | None = _span_field()
    span: Span | None = _span_field()

    def data_path(self) -> str | None:
        """The data file's path, relative to the folder of the spec file that names it."""
        import os

        if self.data is None:
            return None
        if os.path.isabs(self.data) or self.data_span is None or self.data_span.file.startswith("<"):
            return self.data
        return os.path.join(os.path.dirname(self.data_span.file), self.data)


# ---------------------------------------------------------------------------------------------
# The whole spec


Assignment = dict  # name -> Scalar, for every variable of the spec


@attrs.frozen(slots=True)
class Spec:
    """A checked spec. Mappings are keyed by name and keep declaration order."""

    title: str
    variables: dict[str, Variable] = attrs.field(eq=False)
    params: dict[str, Param] = attrs.field(eq=False)
    defs: dict[str, Definition] = attrs.field(eq=False)
    values: dict[str, ReferenceValue] = attrs.field(eq=False)
    trajectory: Trajectory | None
    policies: dict[str, Policy] = attrs.field(eq=False)
    checks: tuple[Check, ...]
    experiments: dict[str, Experiment] = attrs.field(eq=False)
    files: tuple[str, ...] = attrs.field(default=(), eq=False)  # the main file, then its uses
    #: the trajectory's state variables (``state { ... }``), in declaration order
    state: dict[str, StateVar] = attrs.field(factory=dict, eq=False, kw_only=True)
    # Equality compares the mappings as ordered item lists (dicts ignore order otherwise).
    _key: tuple = attrs.field(init=False, eq=True, repr=False)
    # Derived facts that engines share (the harm expression, read sets), made on first use.
    memo: dict = attrs.field(init=False, factory=dict, eq=False, repr=False)

    def __attrs_post_init__(self):
        object.__setattr__(
            self,
            "_key",
            tuple(
                tuple(m.items())
                for m in (
                    self.variables,
                    self.state,
                    self.params,
                    self.defs,
                    self.values,
                    self.policies,
                    self.experiments,
                )
            ),
        )

    # -- variables and assignments -------------------------------------------------------

    def variables_of(self, cls: VarClass) -> tuple[str, ...]:
        return tuple(n for n, v in self.variables.items() if v.cls is cls)

    def assignment_count(self, names: tuple[str, ...] | None = None) -> int:
        names = tuple(self.variables) if names is None else names
        return math.prod(self.variables[n].size() for n in names)

    def assignments(
        self, names: tuple[str, ...] | None = None, fixed: dict | None = None
    ) -> Iterator[dict]:
        """All assignments of ``names`` (default: every variable), in declaration order, the
        last variable changing fastest; ``fixed`` values are merged into each."""
        names = tuple(self.variables) if names is None else tuple(names)
        fixed = dict(fixed or {})
        domains = [self.variables[n].domain.values() for n in names]
        for combo in itertools.product(*domains):
            a = dict(fixed)
            a.update(zip(names, combo))
            yield a

    def default_params(self) -> dict[str, Fraction]:
        return {n: p.default for n, p in self.params.items()}

    # -- state and adversaries ---------------------------------------------------------

    @property
    def initial_state(self) -> dict:
        """Every state variable at its initial value (empty without a ``state`` block)."""
        return {n: v.init for n, v in self.state.items()}

    def state_count(self) -> int:
        """The number of valuations of the state variables (1 without any)."""
        count = 1
        for v in self.state.values():
            count *= v.size()
        return count

    @property
    def is_mdp(self) -> bool:
        """Whether some phase has a choice point (``choose``): then the model is an MDP and
        its measures are taken at their worst or best case over adversaries."""
        t = self.trajectory
        return t is not None and any(p.choices for p in t.phases)

    # -- expressions ---------------------------------------------------------------------

    def expand(self, expr: Expr) -> Expr:
        """``expr`` with every ``def``, value and ``harmful`` inlined (a closed term)."""
        from libet.spec.expand import expand

        return expand(self, expr)

    def harm_expr(self) -> Expr:
        """The expression for *harmful*: some reference value is false (``False`` if none).

        Built once per spec, so engines that memoise by node identity share its subterms."""
        hit = self.memo.get("harm")
        if hit is None:
            violated = tuple(Not(ValueRef(n)) for n in self.values)
            if not violated:
                hit = Const(False, BOOL)
            elif len(violated) == 1:
                hit = violated[0]
            else:
                hit = Logic(BoolOp.OR, violated)
            self.memo["harm"] = hit
        return hit

    def positions(self, members: tuple[str, ...]) -> dict[str, int]:
        """Each of an enum type's ``members`` -> its place: one :class:`Positions` per spec, so
        every engine forms an enum's table once."""
        hit = self.memo.get("positions")
        if hit is None:
            hit = self.memo["positions"] = Positions()
        return hit.table(members)

    def reads(self, expr: Expr) -> frozenset[str]:
        """The variables ``expr`` reads, through defs, values and ``harmful``."""
        from libet.spec.reads import reads_of

        return reads_of(self).variables(expr)

    @property
    def bounded(self) -> bool:
        return self.trajectory is not None and self.trajectory.horizon is not None
