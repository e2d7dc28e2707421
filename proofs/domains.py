"""How values are represented in Z3: finite domains, symbolic assignments and states.

Consumes: a checked :class:`~libet.spec.ir.Spec`, an :class:`Encoding` (how finite domains are
represented), a Z3 context, and the variables fixed to one value (``--set``).
Produces: symbolic copies of the assignment (:class:`Sym`), symbolic phases and depths, the
places an expression is evaluated (:class:`Env`), constants in the right Z3 sort, equalities
between values, Boolean connectives that fold constants, and the decoding of a Z3 model back
into concrete values. It builds no term from an IR expression (:mod:`.terms` does).

A value here is a Python constant (folded: ``bool``, ``int``, :class:`~fractions.Fraction`, an
enum member's or a phase's name), a Z3 term, or an :class:`FD` term:

* bools are Z3 Bools; ints are Z3 Ints (or, in the ``bv`` encoding, bit-vectors offset by the
  domain's low end); enum values and phases are indices (Ints, bit-vectors, or constants of a
  Z3 enumeration sort); reals are Z3 Reals built from exact rationals.
"""

from __future__ import annotations

import itertools
import sys
from fractions import Fraction
from typing import Any, Iterable, Mapping

import attrs
import z3

from libet.spec import ir


@attrs.frozen
class Encoding:
    """How finite domains become Z3 terms.

    ``finite``: ``"int"`` (enum indices and ints as Z3 Ints with bounds), ``"bv"`` (bit-vectors:
    the whole query stays in QF_BV/QF_FD when the policy does no real arithmetic) or ``"sort"``
    (enums and phases as Z3 enumeration sorts, ints as Ints).
    """

    finite: str = "int"


INT_ENCODING = Encoding("int")
BV_ENCODING = Encoding("bv")
SORT_ENCODING = Encoding("sort")


@attrs.define(eq=False)
class FD:
    """An int in ``lo..hi`` held as a bit-vector ``bv`` that stores ``value - lo``."""

    bv: Any
    lo: int
    hi: int

    @property
    def width(self) -> int:
        return self.bv.size()


def is_z3(v) -> bool:
    return isinstance(v, z3.ExprRef)


def is_const(v) -> bool:
    """Whether ``v`` is a folded Python constant (not a Z3 or FD term)."""
    return not isinstance(v, (z3.ExprRef, FD))


def _width(n: int) -> int:
    """Bits to hold 0..n."""
    return max(1, int(n).bit_length())


@attrs.define(eq=False)
class Sym:
    """One symbolic copy of the assignment: a term per variable and its domain constraint."""

    terms: dict
    domain: dict  # name -> z3 Bool (or True)
    values: dict = attrs.field(factory=dict)  # reference value name -> Bool (cache)
    cache: dict = attrs.field(factory=dict)  # terms that read neither depth nor phase

    def constraints(self) -> list:
        return [c for c in self.domain.values() if c is not True]


@attrs.define(eq=False)
class Env:
    """Where an expression is evaluated: an assignment copy, a depth, a phase and a valuation of
    the state variables.

    ``depth`` is an int (concrete), a Z3 Int or an FD term; ``depth_values`` lists the values a
    symbolic depth can take (``None`` when unbounded). ``phase`` is a phase name, a Z3 term, or
    ``None`` (a spec without a trajectory). ``state`` maps each state variable to its value
    there (a constant or a term, as for a variable); ``None`` where no state variable is read.
    """

    sym: Sym
    depth: Any
    depth_values: range | None
    phase: Any
    cache: dict = attrs.field(factory=dict)
    state: dict | None = None


def default_value(var: ir.Variable):
    """The neutral value a minimised counterexample prefers: false, 0 (or the low end), or the
    first enum member as written (e.g. ``none``)."""
    dom = var.domain
    if isinstance(dom, ir.BoolDomain):
        return False
    if isinstance(dom, ir.IntDomain):
        return 0 if dom.lo <= 0 <= dom.hi else dom.lo
    return dom.members[0]


_FD_CMP = {
    ir.CmpOp.EQ: lambda x, y: x == y,
    ir.CmpOp.NE: lambda x, y: x != y,
    ir.CmpOp.LT: z3.ULT,
    ir.CmpOp.LE: z3.ULE,
    ir.CmpOp.GT: z3.UGT,
    ir.CmpOp.GE: z3.UGE,
}
FLIP = {
    ir.CmpOp.EQ: ir.CmpOp.EQ,
    ir.CmpOp.NE: ir.CmpOp.NE,
    ir.CmpOp.LT: ir.CmpOp.GT,
    ir.CmpOp.LE: ir.CmpOp.GE,
    ir.CmpOp.GT: ir.CmpOp.LT,
    ir.CmpOp.GE: ir.CmpOp.LE,
}


class Domains:
    """The representation of one spec's values in one :class:`Encoding` and Z3 context.

    Args:
        spec: the checked spec.
        encoding: how finite domains are represented.
        ctx: the Z3 context (each thread uses its own).
        fixed: variables restricted to one value (``--set``); they are constants, not symbols.
    """

    def __init__(self, spec: ir.Spec, encoding: Encoding, ctx: z3.Context | None, fixed: Mapping[str, Any] | None):
        self.spec = spec
        self.encoding = encoding
        self.ctx = ctx or z3.Context()
        self.fixed = dict(fixed or {})
        traj = spec.trajectory
        self.phases: tuple[str, ...] = traj.phase_names if traj is not None else ()
        self.horizon = traj.horizon if traj is not None else None
        self.counter = itertools.count()  # suffixes that keep fresh Z3 names apart
        self._sorts: dict[tuple, Any] = {}
        self._reals: dict = {}
        self._phase_eq: dict = {}
        self._true = z3.BoolVal(True, self.ctx)
        self._false = z3.BoolVal(False, self.ctx)

    # -- constants and conversions ---------------------------------------------------------

    def fresh(self, prefix: str):
        """A fresh unconstrained Real (a value the interpreter cannot compute)."""
        return z3.Const(f"{prefix}!{next(self.counter)}", z3.RealSort(self.ctx))

    def int_val(self, n: int):
        return z3.IntVal(int(n), self.ctx)

    def real_val(self, q):
        q = Fraction(q)
        hit = self._reals.get(q)
        if hit is None:
            hit = z3.RealVal(f"{_digits(q.numerator)}/{_digits(q.denominator)}", self.ctx)
            self._reals[q] = hit
        return hit

    def as_bool(self, v):
        """A Boolean value as a Z3 Bool (a Python bool becomes ``True``/``False`` in Z3)."""
        if isinstance(v, bool):
            return self._true if v else self._false
        return v

    def as_int(self, v):
        """An int-typed value as a Z3 Int term (or a Python int if constant)."""
        if isinstance(v, FD):
            off = z3.BV2Int(v.bv, is_signed=False)
            return off + v.lo if v.lo else off
        return v

    def as_real(self, v):
        """A numeric value as a Z3 Real term, or a Fraction if constant."""
        if isinstance(v, bool):
            raise TypeError("bool is not numeric")
        if isinstance(v, (int, Fraction)):
            return Fraction(v)
        v = self.as_int(v)
        if z3.is_int(v):
            return z3.ToReal(v)
        return v

    def z3_int(self, v):
        v = self.as_int(v)
        return self.int_val(v) if isinstance(v, int) else v

    def z3_real(self, v):
        v = self.as_real(v)
        return self.real_val(v) if isinstance(v, Fraction) else v

    # -- Boolean connectives that fold constants -------------------------------------------

    def not_(self, a):
        if isinstance(a, bool):
            return not a
        return z3.Not(a)

    def and_(self, parts: Iterable):
        out = []
        for p in parts:
            if p is False:
                return False
            if p is True:
                continue
            out.append(p)
        if not out:
            return True
        return out[0] if len(out) == 1 else z3.And(*out)

    def or_(self, parts: Iterable):
        out = []
        for p in parts:
            if p is True:
                return True
            if p is False:
                continue
            out.append(p)
        if not out:
            return False
        return out[0] if len(out) == 1 else z3.Or(*out)

    # -- finite domains ----------------------------------------------------------------------

    def _enum_sort(self, members: tuple[str, ...], phase: bool):
        key = ("phase" if phase else "enum", members)
        hit = self._sorts.get(key)
        if hit is None:
            n = len(self._sorts)
            prefix = "phase" if phase else f"E{n}"
            sort, consts = z3.EnumSort(f"{prefix}_sort{n}", [f"{prefix}.{m}" for m in members], ctx=self.ctx)
            hit = (sort, consts)
            self._sorts[key] = hit
        return hit

    def enum_rep(self, members: tuple[str, ...], name: str, phase: bool = False):
        """The term for member ``name`` of an enum (or, with ``phase``, of the phases)."""
        i = self.spec.positions(members)[name] if type(members) is tuple else members.index(name)
        if self.encoding.finite == "bv":
            return z3.BitVecVal(i, _width(len(members) - 1), self.ctx)
        if self.encoding.finite == "sort":
            return self._enum_sort(tuple(members), phase)[1][i]
        return self.int_val(i)

    def index(self, v, members, ty: ir.Type):
        """An enum or phase value as its index term (a name becomes its constant)."""
        if isinstance(v, str):
            return self.enum_rep(tuple(members), v, ty.kind is ir.Kind.PHASE)
        return v

    def _finite_var(self, name: str, members: tuple[str, ...], phase: bool):
        """A symbolic index over ``members`` and its domain constraint."""
        n = len(members)
        if self.encoding.finite == "bv":
            w = _width(n - 1)
            t = z3.BitVec(name, w, self.ctx)
            dom = True if n == 2**w else z3.ULE(t, z3.BitVecVal(n - 1, w, self.ctx))
            return t, dom
        if self.encoding.finite == "sort":
            sort, _ = self._enum_sort(tuple(members), phase)
            return z3.Const(name, sort), True
        t = z3.Int(name, self.ctx)
        return t, z3.And(t >= 0, t <= n - 1) if n > 1 else (t == 0)

    def new_assignment(self, tag: str, names: Iterable[str] | None = None) -> Sym:
        """A fresh symbolic assignment whose symbols end in ``tag``. ``names`` limits which
        variables get a symbol; the others take their default (see :func:`default_value`), as
        nothing the query reads depends on them."""
        wanted = set(self.spec.variables) if names is None else set(names)
        terms, domain = {}, {}
        for name, var in self.spec.variables.items():
            if name in self.fixed or name not in wanted:
                value = self.fixed.get(name, default_value(var))
                terms[name] = _constant(var, value)
                domain[name] = True
                continue
            sym = f"{name}{tag}"
            dom = var.domain
            if isinstance(dom, ir.BoolDomain):
                terms[name] = z3.Bool(sym, self.ctx)
                domain[name] = True
            elif isinstance(dom, ir.IntDomain):
                if self.encoding.finite == "bv":
                    w = _width(dom.hi - dom.lo)
                    b = z3.BitVec(sym, w, self.ctx)
                    terms[name] = FD(b, dom.lo, dom.hi)
                    span = dom.hi - dom.lo
                    domain[name] = True if span == 2**w - 1 else z3.ULE(b, z3.BitVecVal(span, w, self.ctx))
                else:
                    t = z3.Int(sym, self.ctx)
                    terms[name] = t
                    domain[name] = z3.And(t >= dom.lo, t <= dom.hi) if dom.lo < dom.hi else (t == dom.lo)
            else:
                t, c = self._finite_var(sym, dom.members, False)
                terms[name] = t
                domain[name] = c
        return Sym(terms, domain)

    def constant_value(self, name: str, t):
        """The concrete value of variable (or state variable) ``name`` that the constant ``t``
        stands for."""
        var = self.var_of(name)
        if isinstance(var.domain, ir.EnumDomain) and not isinstance(t, str):
            for m in var.domain.members:
                if self.enum_rep(var.domain.members, m).eq(t):
                    return m
            raise AssertionError("unknown enum constant")
        return t

    def decode(self, model, sym: Sym) -> dict:
        """The concrete assignment a model gives ``sym``."""
        return {name: self._decode_value(model, var.domain, sym.terms[name]) for name, var in self.spec.variables.items()}

    def _decode_value(self, model, dom, t):
        if isinstance(dom, ir.BoolDomain):
            if isinstance(t, bool):
                return t
            return z3.is_true(model.eval(t, model_completion=True))
        if isinstance(dom, ir.IntDomain):
            return self.decode_depth(model, t)  # an int, an FD term or a Z3 Int, like a depth
        if isinstance(t, str):
            return t
        return dom.members[self._decode_index(model, t, dom.members, False)]

    def _decode_index(self, model, t, members, phase: bool) -> int:
        v = model.eval(t, model_completion=True)
        if self.encoding.finite == "sort":
            consts = self._enum_sort(tuple(members), phase)[1]
            for i, c in enumerate(consts):
                if v.eq(c):
                    return i
            raise AssertionError(f"unexpected enum value {v}")
        return v.as_long()

    def equal(self, a, b):
        """Equality of two values of one variable (or one depth) in this encoding."""
        if is_const(a) and is_const(b):
            return a == b
        if isinstance(a, FD) and isinstance(b, FD):
            return a.bv == b.bv
        if isinstance(a, FD) or isinstance(b, FD):
            return self.z3_int(a) == self.z3_int(b)
        if isinstance(a, bool) or isinstance(b, bool):
            return self.as_bool(a) == self.as_bool(b)
        return a == b

    def equal_value(self, var: ir.Variable, t, value):
        """``t`` (a term of ``var``) equals the concrete ``value``."""
        dom = var.domain
        if is_const(t):
            return t == value
        if isinstance(dom, ir.BoolDomain):
            return t if value else z3.Not(t)
        if isinstance(dom, ir.IntDomain):
            if isinstance(t, FD):
                return self.fd_compare(t, int(value), ir.CmpOp.EQ)
            return t == int(value)
        return t == self.enum_rep(dom.members, value)

    def fd_compare(self, a, b, op: ir.CmpOp):
        """Compare an FD int with a constant (or two FD ints alike) without leaving QF_BV;
        ``None`` when neither form applies."""
        if isinstance(a, int) and isinstance(b, FD):
            return self.fd_compare(b, a, FLIP[op])
        if isinstance(a, FD) and isinstance(b, int):
            c = b - a.lo
            w = a.width
            top = 2**w - 1
            k = z3.BitVecVal(c, w, self.ctx) if 0 <= c <= top else None
            if op is ir.CmpOp.EQ:
                return False if k is None else a.bv == k
            if op is ir.CmpOp.NE:
                return True if k is None else a.bv != k
            if op is ir.CmpOp.LT:
                return False if c <= 0 else (True if c > top else z3.ULT(a.bv, k))
            if op is ir.CmpOp.LE:
                return False if c < 0 else (True if c >= top else z3.ULE(a.bv, k))
            if op is ir.CmpOp.GT:
                return True if c < 0 else (False if c >= top else z3.UGT(a.bv, k))
            return True if c <= 0 else (False if c > top else z3.UGE(a.bv, k))
        if isinstance(a, FD) and isinstance(b, FD) and a.lo == b.lo and a.width == b.width:
            return _FD_CMP[op](a.bv, b.bv)
        return None

    # -- phases and depths -------------------------------------------------------------------

    def default_phase(self) -> str | None:
        traj = self.spec.trajectory
        return traj.start_phase if traj is not None else None

    def phase_var(self, name: str):
        """A symbolic phase and its domain constraint."""
        return self._finite_var(name, self.phases, True)

    def phase_is(self, phase, name: str):
        """``phase`` (a name or a symbolic phase) is the phase ``name``."""
        if isinstance(phase, str) or phase is None:
            return phase == name
        key = (phase.get_id(), name)
        hit = self._phase_eq.get(key)
        if hit is None:
            hit = (phase, phase == self.enum_rep(self.phases, name, True))  # keep `phase` alive with its id
            self._phase_eq[key] = hit
        return hit[1]

    def decode_phase(self, model, t) -> str | None:
        if isinstance(t, str) or t is None:
            return t
        return self.phases[self._decode_index(model, t, self.phases, True)]

    def depth_var(self, name: str, lo: int = 0, hi: int | None = None, fd: bool = False):
        """A symbolic depth in ``lo..hi`` (``hi=None``: unbounded) and its constraint. With
        ``fd`` and the ``bv`` encoding the depth is an FD term."""
        if fd and self.encoding.finite == "bv" and hi is not None:
            w = _width(hi - lo)
            b = z3.BitVec(name, w, self.ctx)
            span = hi - lo
            dom = True if span == 2**w - 1 else z3.ULE(b, z3.BitVecVal(span, w, self.ctx))
            return FD(b, lo, hi), dom
        t = z3.Int(name, self.ctx)
        if hi is None:
            return t, t >= lo
        return t, z3.And(t >= lo, t <= hi)

    def decode_depth(self, model, d) -> int:
        if isinstance(d, int):
            return d
        if isinstance(d, FD):
            return d.lo + model.eval(d.bv, model_completion=True).as_long()
        return model.eval(d, model_completion=True).as_long()

    def env(self, sym: Sym, depth, phase, depth_values: range | None = None, state: dict | None = None) -> Env:
        """The state (``depth``, ``phase``, ``state``) of assignment copy ``sym``; a symbolic
        depth ranges over ``depth_values`` (``None``: unbounded); ``state`` holds the state
        variables' values (:meth:`new_state`)."""
        if isinstance(depth, int):
            depth_values = range(depth, depth + 1)
        return Env(sym, depth, depth_values, phase, state=state)

    # -- state variables -----------------------------------------------------------------------

    def var_of(self, name: str):
        """The declaration of a variable or a state variable (the names are disjoint)."""
        var = self.spec.variables.get(name)
        return var if var is not None else self.spec.state[name]

    def initial_state(self) -> dict:
        """Every state variable at its initial value, as folded constants."""
        return {n: _constant(v, v.init) for n, v in self.spec.state.items()}

    def state_constant(self, name: str, value):
        """The folded constant for ``value`` of state variable ``name``."""
        return _constant(self.spec.state[name], value)

    def new_state(self, tag: str, names: Iterable[str] | None = None, base: Mapping | None = None) -> tuple[dict, list]:
        """A symbolic valuation of the state variables: a fresh symbol (``x@tag``) for each
        of ``names`` (default: all), the others as in ``base`` (default: their initial values);
        and the domain constraints of the symbols."""
        wanted = set(self.spec.state) if names is None else set(names)
        base = self.initial_state() if base is None else base
        terms, domain = {}, []
        for name, var in self.spec.state.items():
            if name not in wanted:
                terms[name] = base[name]
                continue
            t, c = self.symbol(f"{name}@{tag}", var.domain)
            terms[name] = t
            if c is not True:
                domain.append(c)
        return terms, domain

    def symbol(self, sym: str, dom):
        """A fresh symbol of a finite domain and its constraint (as :meth:`new_assignment`)."""
        if isinstance(dom, ir.BoolDomain):
            return z3.Bool(sym, self.ctx), True
        if isinstance(dom, ir.IntDomain):
            if self.encoding.finite == "bv":
                w = _width(dom.hi - dom.lo)
                b = z3.BitVec(sym, w, self.ctx)
                span = dom.hi - dom.lo
                return FD(b, dom.lo, dom.hi), (True if span == 2**w - 1 else z3.ULE(b, z3.BitVecVal(span, w, self.ctx)))
            t = z3.Int(sym, self.ctx)
            return t, (z3.And(t >= dom.lo, t <= dom.hi) if dom.lo < dom.hi else (t == dom.lo))
        return self._finite_var(sym, dom.members, False)

    def decode_state(self, model, state: Mapping) -> dict:
        """The concrete valuation a model gives the state terms ``state``."""
        return {n: self._decode_value(model, v.domain, state[n]) for n, v in self.spec.state.items()}

    def equal_state(self, name: str, a, b):
        """Equality of two values of state variable ``name`` (constants, terms, enum names)."""
        dom = self.spec.state[name].domain
        if isinstance(dom, ir.EnumDomain):
            a = self.index(a, dom.members, dom.type) if isinstance(a, str) else a
            b = self.index(b, dom.members, dom.type) if isinstance(b, str) else b
        elif isinstance(dom, ir.BoolDomain):
            if not (is_const(a) and is_const(b)):
                return self.as_bool(a) == self.as_bool(b)
        return self.equal(a, b)


def _constant(var: ir.Variable, value):
    """The folded constant that stands for ``value`` of ``var``."""
    dom = var.domain
    if isinstance(dom, ir.BoolDomain):
        return bool(value)
    if isinstance(dom, ir.IntDomain):
        return int(value)
    return str(value)  # enum members stay names; converted where compared


def _digits(n: int) -> str:
    """``str(n)``, past Python's default limit of 4,300 digits too: exact arithmetic on a spec's
    numbers (a chain of a thousand products by 0.999999) makes such rationals, and Z3 reads
    them as decimal text."""
    try:
        return str(n)
    except ValueError:
        limit = sys.get_int_max_str_digits()
        sys.set_int_max_str_digits(0)
        try:
            return str(n)
        finally:
            sys.set_int_max_str_digits(limit)
