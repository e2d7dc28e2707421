"""Bounds of IR expressions over a spec's finite domains: interval arithmetic that settles a
static check without enumerating a single state.

Consumes: a checked :class:`~libet.spec.ir.Spec`, the depths and phases a check ranges over.
Produces: for an expression, an over-approximation of every value the reference interpreter
computes for it at any assignment, state valuation, depth and phase of that range, or
:class:`Open` when the bounds cannot say (a division by an interval holding 0, a log of one
reaching 0, a non-finite bound, an enum ordered, ...). spec/semantics.py asks
:meth:`Bounds.probabilities_settled`, :meth:`Bounds.strength_settled` and
:meth:`Bounds.start_settled` before it enumerates anything (proofs/wellformed.py asks again at
the run's params before it asks Z3): a phase whose probabilities are bounded inside [0, 1] (and
whose sum is too) is valid at every state, however many there are, and needs neither the
interpreter nor arrays. What the bounds over the whole range leave open is tried case by case
(:meth:`Bounds.by_cases`), and what that leaves open is checked as before, state by state; the
bounds never reject anything.

Values: a number is ``(lo, hi)`` (Python ints for an int, exactly; floats for a real), a bool a
mask of what it may be (:data:`MAY_FALSE`, :data:`MAY_TRUE`), an enum member or a phase the
frozenset of the names it may be.

Soundness: every real bound is the float result widened outward by one step
(``math.nextafter``), ``exp``, ``log`` and ``pow`` by a few more; since rounding to nearest is
monotone, an interval so computed holds the double-precision value of every state and the exact
rational one (the two modes of docs/semantics.md §2). Interval arithmetic forgets that two
operands are the same (``p`` and ``1 - p``), so its bounds may be loose, never wrong: the
property-based tests evaluate generated expressions at every state and check each value lies
within its bounds.

The walk follows the interpreter's shapes without recursion through them: a flat sum or
product (:meth:`~libet.spec.ir.Arith.spine`), an ``else if`` ladder, ``and``/``or`` lists and a
long chain of defs (bottom-up) each cost a loop; only real nesting, which the parser bounds,
recurses. A branch the bounds decide is not taken (``x != 0 and 1 / x > 1`` at ``x: 1..5``) is
not evaluated, as the interpreter does not evaluate it; a branch that may be taken is bounded
where it is taken, when its condition compares an int variable or the depth with an int literal
or param (``if n > 0 then k / n else 0`` over ``n: 0..1000``; :meth:`Bounds.b_Ite`).
"""

from __future__ import annotations

import itertools
import math
from typing import Iterable, Mapping

from libet.spec import ir
from libet.spec.interpreter import DEEP_DEFS, TOLERANCE
from libet.spec.overrides import check_params
from libet.spec.reads import reads_of
from libet.spec.visit import Dispatch

MAY_FALSE, MAY_TRUE = 1, 2
_EITHER = MAY_FALSE | MAY_TRUE
#: What the bounds must keep inside for a check to be settled: half the interpreter's
#: tolerance, so the states that settles are ones the check over arrays would not single out
#: either (spec/semantics.py replays those within 1e-12 of its bound).
MARGIN = TOLERANCE / 2
#: exp, log and pow come from the C library or numpy, within an ulp or two of the exact value
#: and not always monotone in the last bit: their bounds are widened by this relative amount.
_LIBM = 2.0**-48
_INF = math.inf
#: An int interval at most this wide is enumerated for ``x in {...}``.
_MEMBER_SPAN = 4096
#: A check the bounds leave open is tried again case by case (:meth:`Bounds.by_cases`): at most
#: this many cases, at most :data:`CASE_NODES` nodes evaluated over all of them, and at most
#: :data:`CASE_TOTAL` over all the splits of one :class:`CaseBudget` (a spec of a thousand rules
#: left open costs about a second of splits, not a thousand).
CASES = 64
CASE_NODES = 100_000
CASE_TOTAL = 1_000_000
#: A branch of an ``if`` is bounded where its condition narrows the variables and the depth
#: (:meth:`Bounds.b_Ite`) when bounding it costs at most this many nodes.
NARROW_NODES = 1_000


class CaseBudget:
    """What is left of :data:`CASE_TOTAL` for the splits of one check (every :class:`Bounds`
    given it shares it)."""

    def __init__(self, total: int = CASE_TOTAL):
        self.left = total


class Open(Exception):
    """The bounds cannot settle the expression (see module doc)."""


def _down(x: float) -> float:
    return math.nextafter(x, -_INF)


def _up(x: float) -> float:
    return math.nextafter(x, _INF)


def _finite(lo: float, hi: float) -> tuple[float, float]:
    if not (math.isfinite(lo) and math.isfinite(hi)):
        raise Open("a bound is not finite")
    return lo, hi


def _widened(lo: float, hi: float) -> tuple[float, float]:
    """A float result's bounds one step outward (exact ones need none, but telling them apart
    costs more than the step)."""
    return _finite(_down(lo), _up(hi))


def _libm(lo: float, hi: float) -> tuple[float, float]:
    return _finite(lo - abs(lo) * _LIBM - 5e-324, hi + abs(hi) * _LIBM + 5e-324)


def _number(q) -> tuple[float, float]:
    """A real literal's or param's bounds: its double, or the doubles either side of it when
    the double is not exactly it (0.1)."""
    try:
        f = float(q)
    except OverflowError:
        raise Open("a number past the largest double") from None
    if type(q) is not float and f.as_integer_ratio() != (q.numerator, q.denominator):
        return _widened(f, f)
    return (f, f)


def _real(v) -> tuple[float, float]:
    """A number's bounds as reals: an int interval's as doubles (every int in it is held by a
    double within them), or Open past the largest double, where the interpreter raises."""
    lo, hi = v
    if type(lo) is float:
        return v
    try:
        flo, fhi = float(lo), float(hi)
    except OverflowError:
        raise Open("an int past the largest double") from None
    return (flo if flo <= lo else _down(flo)), (fhi if fhi >= hi else _up(fhi))


def _hull(a, b):
    """The least value holding both ``a`` and ``b``."""
    if type(a) is tuple:  # numbers
        return (min(a[0], b[0]), max(a[1], b[1]))
    return a | b  # bool masks, sets of names


def _decide(may_true: bool, may_false: bool) -> int:
    return (MAY_TRUE if may_true else 0) | (MAY_FALSE if may_false else 0)


class Bounds:
    """The bounds of a spec's expressions over one range of states: every assignment and state
    valuation, the depths ``depths`` (a range; None when nothing evaluated reads the depth)
    and the phases ``phases``. Params stand at ``params`` (overrides of their defaults, checked
    as every engine checks them; the static checks take the defaults). Each def's bounds are
    worked out once (memoised by name)."""

    def __init__(self, spec: ir.Spec, depths: range | None, phases: Iterable[str] | None,
                 shared: dict | None = None, params: Mapping[str, object] | None = None,
                 case: Mapping[tuple, object] | None = None, cases: CaseBudget | None = None):
        self.spec = spec
        self._range = (depths, phases, params)
        self.depth = None if depths is None or not len(depths) else (depths[0], depths[-1])
        self.phases = None if phases is None else frozenset(phases)
        #: one case of :meth:`by_cases`: ("var", name) -> the variable's value, ("def", name)
        #: -> a bool def's mask (MAY_TRUE or MAY_FALSE)
        self._case = case or {}
        self._cases = cases or CaseBudget()
        self._defs: dict[str, object] = {}
        #: the bounds of the defs that read no phase, which hold for every range of these
        #: depths: a dict the caller shares between such ranges, or this one's own
        self._shared = self._defs if shared is None else shared
        self._in_chain = False
        self._reads = reads_of(spec)
        self._params = check_params(spec, params)
        self._dispatch = Dispatch(self, "b_")

    def __call__(self, e: ir.Expr):
        """``e``'s bounds, or Open."""
        return self._dispatch(e)

    # -- leaves --------------------------------------------------------------------------

    def b_Const(self, e: ir.Const):
        v, kind = e.value, e.type.kind
        if kind is ir.Kind.REAL:
            return _number(v)
        if kind is ir.Kind.BOOL:
            return MAY_TRUE if v else MAY_FALSE
        if kind is ir.Kind.INT:
            return (v, v)
        return frozenset((v,))  # an enum member or a phase name

    def _domain(self, domain: ir.Domain):
        if isinstance(domain, ir.IntDomain):
            return (domain.lo, domain.hi)
        if isinstance(domain, ir.BoolDomain):
            return _EITHER
        return frozenset(domain.members)

    def b_VarRef(self, e: ir.VarRef):
        hit = self._case.get(("var", e.name))
        if hit is not None:
            return hit
        return self._domain(self.spec.variables[e.name].domain)

    def b_StateRef(self, e: ir.StateRef):
        hit = self._case.get(("state", e.name))
        if hit is not None:
            return hit
        return self._domain(self.spec.state[e.name].domain)

    def b_ParamRef(self, e: ir.ParamRef):
        v = self._params[e.name]
        if e.type.kind is ir.Kind.INT:
            return (int(v), int(v))
        return _number(v)

    def b_Depth(self, e: ir.Depth):
        if self.depth is None:
            raise Open("no depths")
        return self.depth

    def b_CurrentPhase(self, e: ir.CurrentPhase):
        if self.phases is None:
            raise Open("no phases")
        return self.phases

    def b_DefRef(self, e: ir.DefRef):
        hit = self._case.get(("def", e.name))
        if hit is not None:
            return hit
        hit = self._def(e.name)
        if hit is None:
            if not self._in_chain and self._reads.def_depth(e.name) >= DEEP_DEFS:
                # a long chain of defs, bottom-up: each body once, no recursion through it
                self._in_chain = True
                try:
                    for dep in self._reads.def_closure(e.name):
                        if self._def(dep) is None:
                            self._settle(dep)
                finally:
                    self._in_chain = False
            hit = self._settle(e.name)
        if type(hit) is Open:
            raise hit  # a def read where the bounds cannot say
        return hit

    def _def(self, name: str):
        hit = self._shared.get(name)
        return self._defs.get(name) if hit is None else hit

    def _settle(self, name: str):
        """Def ``name``'s bounds, or the Open they end in (only a def that is read fails),
        kept where they hold: for these depths, or for this range alone if it reads the phase."""
        body = self.spec.defs[name].expr
        return self._kept(self._defs if self._reads.phase(body) else self._shared, name, body)

    def _kept(self, store: dict, key, body: ir.Expr):
        """``body``'s bounds or the Open they end in, worked out once and kept in ``store``."""
        hit = store.get(key)
        if hit is None:
            try:
                hit = self(body)
            except Open as exc:
                hit = exc
            store[key] = hit
        return hit

    def b_ValueRef(self, e: ir.ValueRef):
        return self._value(("value", e.name), self.spec.values[e.name].expr)

    def b_Harmful(self, e: ir.Harmful):
        return self._value(("harmful",), self.spec.harm_expr())

    def _value(self, key: tuple, body: ir.Expr):
        """A reference value's bounds (or ``harmful``'s), worked out once: a value reads
        substance only, so they hold for every range (``violates ok`` in each of 10^4 rungs)."""
        hit = self._kept(self._shared, key, body)
        if type(hit) is Open:
            raise hit
        return hit

    # -- bools ---------------------------------------------------------------------------

    def b_Not(self, e: ir.Not):
        return _negate(self(e.arg))

    def b_Logic(self, e: ir.Logic):
        if e.op is ir.BoolOp.IMPLIES:
            f = self(e.args[0])
            if not f & MAY_TRUE:
                return MAY_TRUE  # the interpreter does not evaluate the consequent
            g = self(e.args[1])
            return _decide(bool(f & MAY_FALSE or g & MAY_TRUE), bool(f & MAY_TRUE and g & MAY_FALSE))
        # `and` goes on while an argument may be true; `or` while one may be false
        go_on, stop = (MAY_TRUE, MAY_FALSE) if e.op is ir.BoolOp.AND else (MAY_FALSE, MAY_TRUE)
        may_stop = False
        for arg in e.args:
            m = self(arg)
            may_stop = may_stop or bool(m & stop)
            if not m & go_on:  # this one decides: the rest are not evaluated
                return stop
        return go_on | (stop if may_stop else 0)

    def b_Compare(self, e: ir.Compare):
        a, b = self(e.left), self(e.right)
        op = e.op
        if type(a) is tuple:
            if type(a[0]) is float or type(b[0]) is float:  # ints against reals: as numbers, exactly
                a, b = (a if type(a[0]) is float else _real(a)), (b if type(b[0]) is float else _real(b))
            (alo, ahi), (blo, bhi) = a, b
            if op is ir.CmpOp.LT:
                return _decide(alo < bhi, ahi >= blo)
            if op is ir.CmpOp.LE:
                return _decide(alo <= bhi, ahi > blo)
            if op is ir.CmpOp.GT:
                return _decide(ahi > blo, alo <= bhi)
            if op is ir.CmpOp.GE:
                return _decide(ahi >= blo, alo < bhi)
            apart = ahi < blo or bhi < alo
            one = alo == ahi == blo == bhi
            eq = _decide(not apart, not one)
        elif type(a) is frozenset:
            if op not in (ir.CmpOp.EQ, ir.CmpOp.NE):
                raise Open("an ordered comparison of names")
            eq = _decide(bool(a & b), not (len(a) == 1 and a == b))
        else:  # bools
            pairs = [(x, y) for x in (False, True) if a & (MAY_TRUE if x else MAY_FALSE)
                     for y in (False, True) if b & (MAY_TRUE if y else MAY_FALSE)]
            if op not in (ir.CmpOp.EQ, ir.CmpOp.NE):
                return _decide(any(op(x, y) for x, y in pairs), not all(op(x, y) for x, y in pairs))
            eq = _decide(any(x == y for x, y in pairs), any(x != y for x, y in pairs))
        if op is ir.CmpOp.EQ:
            return eq
        return _negate(eq)

    def b_Member(self, e: ir.Member):
        v = self(e.arg)
        allowed = frozenset(e.values)
        if type(v) is frozenset:
            return _decide(bool(v & allowed), bool(v - allowed))
        if type(v) is int:  # a bool
            possible = {x for x in (False, True) if v & (MAY_TRUE if x else MAY_FALSE)}
            return _decide(bool(possible & allowed), bool(possible - allowed))
        lo, hi = v
        inside = [x for x in allowed if type(x) is int and lo <= x <= hi]
        if hi - lo < _MEMBER_SPAN:
            return _decide(bool(inside), len(inside) < hi - lo + 1)
        return _decide(bool(inside), True)

    # -- numbers -------------------------------------------------------------------------

    def b_Neg(self, e: ir.Neg):
        lo, hi = self(e.arg)
        return (-hi, -lo)

    def b_Ite(self, e: ir.Ite):
        """The hull of the branches that may be taken, each bounded where it is taken: a
        condition comparing an int variable or the depth with an int literal or param narrows it
        in the branch (``if n > 0 then k / n``), its negation in the branches after it
        (:meth:`_narrowed`)."""
        branches, last = e.ladder()
        real = e.type.kind is ir.Kind.REAL
        out = None
        before: dict = {}  # what the conditions so far not holding narrow
        for cond, then in branches:
            m = self(cond)
            if m & MAY_TRUE:
                where = self._narrowed(cond, True, before)
                if where is not None:  # None: the narrowing shows the branch is never taken
                    v = self._under(then, where)
                    v = _real(v) if real else v
                    out = v if out is None else _hull(out, v)
            if not m & MAY_FALSE:
                if out is None:
                    raise Open("no branch of the if is taken")
                return out  # this branch is taken wherever the earlier ones are not
            before = self._narrowed(cond, False, before)
            if before is None:  # no state gets past this condition
                if out is None:
                    raise Open("no branch of the if is taken")  # the bounds contradict themselves
                return out
        v = self._under(last, before)
        v = _real(v) if real else v
        return v if out is None else _hull(out, v)

    def _narrowed(self, cond: ir.Expr, holds: bool, where: dict) -> dict | None:
        """``where`` (intervals of int variables and the depth: ``("var", name)``, ``("state",
        name)``, ``"depth"``) narrowed further by ``cond`` holding (``holds``) or not; None where
        that leaves no value. Read: comparisons of such a variable or the depth with an int
        literal or param, ``not``, an ``and`` that holds and an ``or`` that does not (each of their parts
        then holds, or does not); anything else narrows nothing."""
        out = where  # copied when first narrowed: most conditions narrow nothing
        todo = [(cond, holds)]
        while todo:
            c, h = todo.pop()
            kind = type(c)
            if kind is ir.Not:
                todo.append((c.arg, not h))
            elif kind is ir.Logic and c.op is (ir.BoolOp.AND if h else ir.BoolOp.OR):
                todo.extend((a, h) for a in c.args)
            elif kind is ir.Compare:
                found = _compared(c, self._params)
                if found is None:
                    continue
                key, node, op, k = found
                lo, hi = out.get(key) or self(node)
                lo, hi = _satisfying(op if h else op.negated, k, lo, hi)
                if lo > hi:
                    return None
                if out is where:
                    out = dict(where)
                out[key] = (lo, hi)
        return out

    def _under(self, e: ir.Expr, where: dict):
        """``e``'s bounds where the variables and the depth lie in ``where``'s intervals: in a
        case of its own (nothing it works out is kept for this range), when ``e`` reads one of
        them and costs at most NARROW_NODES to bound; else its bounds over the whole range."""
        if not where or self._reads.size(e) > NARROW_NODES:
            return self(e)
        names, depth, _ = self._reads.facts(e)
        states = self._reads.states(e) if self.spec.state else frozenset()
        if not any((k == "depth" and depth) or (k != "depth" and k[1] in (names if k[0] == "var" else states))
                   for k in where):
            return self(e)
        depths, phases, params = self._range
        if "depth" in where:
            lo, hi = where["depth"]
            depths = range(lo, hi + 1)
        case = {**self._case, **{k: v for k, v in where.items() if k != "depth"}}
        return Bounds(self.spec, depths, phases, params=params, case=case, cases=self._cases)(e)

    def b_Arith(self, e: ir.Arith):
        leaf, nodes = e.spine()
        acc = self(leaf)
        for n in nodes:
            acc = self._arith(n, acc, self(n.right))
        return acc

    def _arith(self, n: ir.Arith, x, y):
        op = n.op
        if op is ir.ArithOp.DIV or n.type.kind is ir.Kind.REAL:
            (a, b), (c, d) = _real(x), _real(y)
            if op is ir.ArithOp.ADD:
                return _widened(a + c, b + d)
            if op is ir.ArithOp.SUB:
                return _widened(a - d, b - c)
            if op is ir.ArithOp.DIV:
                if c <= 0 <= d:
                    raise Open("a division by an interval holding 0")
                corners = (a / c, a / d, b / c, b / d)
            else:
                corners = (a * c, a * d, b * c, b * d)
            return _widened(min(corners), max(corners))
        (a, b), (c, d) = x, y  # ints: exact
        if op is ir.ArithOp.ADD:
            return (a + c, b + d)
        if op is ir.ArithOp.SUB:
            return (a - d, b - c)
        corners = (a * c, a * d, b * c, b * d)
        return (min(corners), max(corners))

    def b_Call(self, e: ir.Call):
        fn = e.func
        real = e.type.kind is ir.Kind.REAL
        if fn is ir.Func.MIN or fn is ir.Func.MAX:
            vals = [self(a) for a in e.args]
            if real:
                vals = [_real(v) for v in vals]
            pick = min if fn is ir.Func.MIN else max
            return (pick(v[0] for v in vals), pick(v[1] for v in vals))
        if fn is ir.Func.ABS:
            lo, hi = self(e.args[0])
            if lo >= 0:
                return (lo, hi)
            if hi <= 0:
                return (-hi, -lo)
            return (0.0 if real else 0, max(-lo, hi))
        if fn is ir.Func.EXP:
            lo, hi = _real(self(e.args[0]))
            try:
                return _libm(max(0.0, math.exp(lo)), math.exp(hi))
            except OverflowError:
                raise Open("exp may overflow") from None
        if fn is ir.Func.LOG:
            lo, hi = _real(self(e.args[0]))
            if not lo > 0:
                raise Open("a log of an interval reaching 0")
            return _libm(math.log(lo), math.log(hi))
        x, y = self(e.args[0]), self(e.args[1])
        return self._pow(_real(x), _real(y))

    def _pow(self, x, y):
        """``pow`` over a box where it is monotone in each argument: the base positive (then it
        is monotone in both), or the exponent one integer of magnitude at most 64 (the
        interpreter's exact powers) and the base's interval not holding 0 for a negative one."""
        (a, b), (c, d) = x, y
        try:
            if a > 0:
                corners = [math.pow(p, q) for p in (a, b) for q in (c, d)]
                return _libm(min(corners), max(corners))
            if c == d and c == int(c) and abs(c) <= 64:
                k = int(c)
                if k < 0 and a <= 0 <= b:
                    raise Open("pow(0, negative)")
                corners = [a**k, b**k]
                if k > 0 and k % 2 == 0 and a <= 0 <= b:
                    corners.append(0.0)
                return _libm(min(corners), max(corners))
        except (OverflowError, ZeroDivisionError):
            raise Open("pow may overflow") from None
        raise Open("pow of a base that may be 0 or negative")

    # -- the checks ----------------------------------------------------------------------

    def probabilities_settled(self, phase: ir.Phase) -> bool:
        """Whether ``phase``'s probabilities are valid at every state of the range: each
        bounded inside [0, 1] and their sum inside [0, 1] (with ``otherwise``) or at 1 (without),
        within :data:`MARGIN`, and none with a state where it has no value; if the bounds over
        the whole range cannot say, case by case (:meth:`by_cases`)."""
        exprs = [t.prob for t in phase.transitions if t.prob is not None]
        return self._probabilities(phase) or self.by_cases(exprs, lambda b: b._probabilities(phase))

    def strength_settled(self, rule: ir.Rule) -> bool:
        """Whether ``rule``'s strength is valid at every state of the range: its condition has
        a value everywhere, and where it may hold the strength is bounded inside [0, 1] within
        :data:`MARGIN`; if the bounds over the whole range cannot say, case by case. A constant
        strength is valid or not whatever the condition, as the checker has it
        (spec/semantics.py checks it once, the condition unread)."""
        exprs = [rule.strength] if isinstance(rule.strength, ir.Const) else [rule.condition, rule.strength]
        return self._strength(rule) or self.by_cases(exprs, lambda b: b._strength(rule))

    def start_settled(self) -> bool:
        """Whether the start depth is a whole number in 0..horizon at every assignment (the
        bounds of an int expression at depth 0 in the start phase)."""
        traj = self.spec.trajectory
        try:
            lo, hi = self(traj.start_depth)
        except Open:
            return False
        return type(lo) is int and type(hi) is int and lo >= 0 and (traj.horizon is None or hi <= traj.horizon)

    def by_cases(self, exprs: list[ir.Expr], settled) -> bool:
        """``settled(bounds)`` in every case of a split of the range, each case's bounds worked
        out afresh: interval arithmetic forgets that two transitions read the same thing, and
        within a case it is one value. The split fixes the variables of fewest values that
        ``exprs`` read (a bool, an enum, a small int) and the bool defs an ``if`` of theirs
        tests directly (``if last_step then 0 else go_on`` beside ``if last_step then go_on else
        0``), as many as :data:`CASES` cases allow, when all the cases cost at most
        :data:`CASE_NODES` evaluated nodes and what is left of the check's :class:`CaseBudget`.
        A def split on must have a value everywhere. The cases cover every state, so settled in
        each is settled."""
        size = self._reads.size(exprs)
        if self._case or 2 * size > CASE_NODES:
            return False  # a case is not split again; nor is what two cases cannot afford
        splits = self._splits(exprs)
        cost = math.prod(len(values) for _, values in splits) * size
        if not splits or cost > CASE_NODES or cost > self._cases.left:
            return False
        self._cases.left -= cost
        depths, phases, params = self._range
        keys = [key for key, _ in splits]
        for combo in itertools.product(*(values for _, values in splits)):
            case = Bounds(self.spec, depths, phases, params=params, case=dict(zip(keys, combo)))
            if not settled(case):
                return False
        return True

    def _splits(self, exprs: list[ir.Expr]) -> list[tuple[tuple, list]]:
        """What :meth:`by_cases` may fix, fewest values first within :data:`CASES` cases:
        ``(("def", name), [MAY_TRUE, MAY_FALSE])`` for a bool def an ``if`` tests (when its
        bounds have a value everywhere), ``(("var", name), [value bounds, ...])`` for a variable
        of at most :data:`CASES` values."""
        out: list[tuple[tuple, list]] = []
        seen = set()
        for e in exprs:
            for node in ir.walk(e):
                if type(node) is ir.Ite:
                    for cond, _ in node.ladder()[0]:
                        if type(cond) is ir.DefRef and cond.name not in seen:
                            seen.add(cond.name)
                            try:
                                self(cond)
                            except Open:
                                continue
                            out.append((("def", cond.name), [MAY_TRUE, MAY_FALSE]))
        names = self._reads.variables(exprs)
        sized = sorted((self.spec.variables[n].size(), n) for n in self.spec.variables if n in names)
        for size, n in sized:
            if size > CASES:
                break
            out.append((("var", n), [_point(self.spec.variables[n], v) for v in self.spec.variables[n].domain.values()]))
        kept, cases = [], 1
        for split in sorted(out, key=lambda s: len(s[1])):
            if cases * len(split[1]) <= CASES:
                kept.append(split)
                cases *= len(split[1])
        return kept

    def _probabilities(self, phase: ir.Phase) -> bool:
        try:
            total = (0.0, 0.0)
            rest = False
            for t in phase.transitions:
                if t.prob is None:
                    rest = True
                    continue
                lo, hi = _real(self(t.prob))
                if not (-MARGIN <= lo and hi <= 1 + MARGIN):
                    return False
                total = _widened(total[0] + lo, total[1] + hi)
        except Open:
            return False
        if rest:
            return total[1] <= 1 + MARGIN
        return 1 - MARGIN <= total[0] and total[1] <= 1 + MARGIN

    def _strength(self, rule: ir.Rule) -> bool:
        """The strength is read only where the condition holds, and is bounded there
        (``veto when n > 0 with strength 1 / n``: :meth:`_narrowed`)."""
        try:
            if isinstance(rule.strength, ir.Const):  # valid or not whatever the condition
                lo, hi = _real(self(rule.strength))
            elif not self(rule.condition) & MAY_TRUE:
                return True
            else:
                where = self._narrowed(rule.condition, True, {})
                if where is None:  # the condition never holds
                    return True
                lo, hi = _real(self._under(rule.strength, where))
        except Open:
            return False
        return -MARGIN <= lo and hi <= 1 + MARGIN


def _compared(c: ir.Compare, params: Mapping):
    """``(key, node, op, k)`` for a comparison ``node op k`` of an int variable or the depth
    with an int literal or int param (at its value in ``params``; on the left, mirrored), else
    None."""
    op, a, b = c.op, c.left, c.right
    if _int_constant(a, params) is not None:
        a, b, op = b, a, op.mirrored
    k = _int_constant(b, params)
    if k is None:
        return None
    if type(a) is ir.Depth:
        return "depth", a, op, k
    if type(a) in (ir.VarRef, ir.StateRef) and a.type.kind is ir.Kind.INT:
        return ("var" if type(a) is ir.VarRef else "state", a.name), a, op, k
    return None


def _int_constant(e: ir.Expr, params: Mapping) -> int | None:
    """The value of an int literal or an int param, else None."""
    if e.type.kind is not ir.Kind.INT:
        return None
    if type(e) is ir.Const and type(e.value) is int:
        return e.value
    if type(e) is ir.ParamRef:
        return int(params[e.name])
    return None


def _satisfying(op: ir.CmpOp, k: int, lo: int, hi: int) -> tuple[int, int]:
    """The part of ``lo .. hi`` where ``x op k`` holds, as an interval (``!=`` cuts only an
    end); empty when lo > hi."""
    if op is ir.CmpOp.LT:
        return lo, min(hi, k - 1)
    if op is ir.CmpOp.LE:
        return lo, min(hi, k)
    if op is ir.CmpOp.GT:
        return max(lo, k + 1), hi
    if op is ir.CmpOp.GE:
        return max(lo, k), hi
    if op is ir.CmpOp.EQ:
        return max(lo, k), min(hi, k)
    if k == lo:  # NE
        return lo + 1, hi
    if k == hi:
        return lo, hi - 1
    return lo, hi


def _point(var: ir.Variable, v):
    """The bounds of variable ``var`` at its value ``v``."""
    if isinstance(var.domain, ir.IntDomain):
        return (v, v)
    if isinstance(var.domain, ir.BoolDomain):
        return MAY_TRUE if v else MAY_FALSE
    return frozenset((v,))


def _negate(m: int) -> int:
    return ((m & MAY_TRUE) and MAY_FALSE) | ((m & MAY_FALSE) and MAY_TRUE)
