"""The one place that builds Z3 terms from the IR.

Consumes: a checked :class:`~libet.spec.ir.Spec`, parameter values, and an :class:`Encoding`
(how finite domains are represented).
Produces: Z3 terms for variables, expressions, veto probabilities and transition positivity,
plus *facts*: named definitions (a reference value, a veto rule, a transition, the start) that
the checks assert under tracking literals so that an unsat core can say which facts a proof used.
No other module of :mod:`libet.proofs` turns IR into Z3 terms.

What an expression means here is what it means in the reference interpreter in exact mode
(docs/semantics.md §2):

* bools are Z3 Bools; ints are Z3 Ints (or bit-vectors offset by the domain's low end, in the
  ``bv`` encoding); enum values and phases are indices (Ints, bit-vectors, or constants of a Z3
  enumeration sort); reals are Z3 Reals built from exact rationals;
* ``exp``, ``log`` and ``pow`` with a non-integer exponent have no rational value, so they are
  *tabulated*: every value their arguments can take over the finite domains is evaluated by the
  reference interpreter in exact mode (a double made an exact rational, the rule every engine
  follows) and the term becomes a table lookup. ``pow`` with a constant integer exponent of
  magnitude at most 64 is a product, exact like the interpreter's repeated multiplication;
* a term whose arguments are all known is folded to a Python value, so a state with a concrete
  depth costs no Z3 term at all for ``depth < 5`` or ``exp(-gain * depth)``;
* with an unbounded depth (``horizon none``) a non-polynomial term over depth has no finite
  table: :class:`Unencodable` is raised with the reason and the check ends UNKNOWN, never wrong;
* a value the interpreter cannot compute (division by zero, the log of 0) is an unconstrained
  constant, like Z3's own division by zero: a proof then holds whatever the value, and a
  counterexample through such a state fails its replay with the interpreter's error.
"""

from __future__ import annotations

import itertools
from fractions import Fraction
from typing import Any, Iterable, Mapping

import attrs
import z3

from libet.errors import EvaluationError
from libet.spec import ir
from libet.spec.expand import uses_depth_or_phase
from libet.spec.interpreter import Interpreter

#: Most input combinations a non-polynomial term is tabulated over.
TABLE_LIMIT = 200_000
#: Most evaluations of a phase's step distribution (over the variables its transitions read) to
#: decide at encoding time that a transition is positive everywhere or nowhere.
POSITIVITY_LIMIT = 4096
#: Most distinct values a veto strength may take to have its product expanded into a table
#: (which keeps the veto probability linear).
STRENGTH_VALUES_LIMIT = 64


class Unencodable(Exception):
    """The query has no exact finite encoding (e.g. ``exp`` over an unbounded depth)."""

    def __init__(self, reason: str, span: ir.Span | None = None):
        self.reason = reason
        self.span = span
        super().__init__(f"{span}: {reason}" if span else reason)


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


# ---------------------------------------------------------------------------------------------
# Values: a translated expression is a Python constant (folded), a Z3 term, or an FD term.


@attrs.define(eq=False)
class FD:
    """An int in ``lo..hi`` held as a bit-vector ``bv`` that stores ``value - lo``."""

    bv: Any
    lo: int
    hi: int

    @property
    def width(self) -> int:
        return self.bv.size()


def _is_z3(v) -> bool:
    return isinstance(v, z3.ExprRef)


def _is_const(v) -> bool:
    return not isinstance(v, (z3.ExprRef, FD))


def _width(n: int) -> int:
    """Bits to hold 0..n."""
    return max(1, int(n).bit_length())


@attrs.define(eq=False)
class Sym:
    """One symbolic copy of the assignment: a term per variable and its domain constraint."""

    tag: str
    terms: dict
    domain: dict  # name -> z3 Bool (or True)
    values: dict = attrs.field(factory=dict)  # reference value name -> Bool (cache)
    cache: dict = attrs.field(factory=dict)  # terms that read neither depth nor phase

    def constraints(self) -> list:
        return [c for c in self.domain.values() if c is not True]


@attrs.define(eq=False)
class Env:
    """Where an expression is evaluated: an assignment copy, a depth and a phase.

    ``depth`` is an int (concrete), a Z3 Int or an FD term; ``depth_values`` lists the values a
    symbolic depth can take (``None`` when unbounded). ``phase`` is a phase name, a Z3 term, or
    ``None`` (a spec without a trajectory).
    """

    sym: Sym
    depth: Any
    depth_values: range | None
    phase: Any
    tag: str
    cache: dict = attrs.field(factory=dict)


@attrs.frozen
class FactInfo:
    """A named spec fact a proof may use: ``kind`` is value, rule, transition, start or shared."""

    label: str
    kind: str
    name: str
    text: str
    span: ir.Span | None = None


class Encoder:
    """Builds Z3 terms for one spec, one parameter setting and one :class:`Encoding`.

    Args:
        spec: the checked spec.
        params: parameter overrides (name -> number); the rest keep their defaults.
        encoding: how finite domains are represented.
        ctx: the Z3 context (each thread uses its own).
        fixed: variables restricted to one value (``--set``).
        track: introduce a named Boolean for every fact (value, rule, transition, start) so that
            a check can assert it under a tracking literal and read an unsat core.
    """

    def __init__(
        self,
        spec: ir.Spec,
        params: Mapping[str, Any] | None = None,
        encoding: Encoding = INT_ENCODING,
        ctx: z3.Context | None = None,
        fixed: Mapping[str, Any] | None = None,
        track: bool = False,
    ):
        self.spec = spec
        self.encoding = encoding
        self.ctx = ctx or z3.Context()
        self.fixed = dict(fixed or {})
        self.track = track
        self.interp = Interpreter(spec, params, exact=True)
        self.params = dict(self.interp.params)  # exact Fractions
        self.facts: list[tuple[str, Any]] = []  # (label, Bool) not yet asserted by the caller
        self.fact_info: dict[str, FactInfo] = {}
        self._fresh = itertools.count()
        self._sorts: dict[tuple, Any] = {}
        self._tables: dict[tuple, Any] = {}
        traj = spec.trajectory
        self.phases: tuple[str, ...] = traj.phase_names if traj is not None else ()
        self.horizon = traj.horizon if traj is not None else None
        self._reads_cache: dict[int, tuple] = {}
        self._true = z3.BoolVal(True, self.ctx)
        self._false = z3.BoolVal(False, self.ctx)
        self._folds: dict = {}
        self._pos_table: dict = {}
        self._static_memo: dict = {}
        self._reals: dict = {}
        self._table_terms: dict = {}
        self._phase_eq: dict = {}

    # -- small helpers -----------------------------------------------------------------------

    def fresh(self, prefix: str, sort=None):
        n = next(self._fresh)
        return z3.Const(f"{prefix}!{n}", sort or z3.RealSort(self.ctx))

    def bool_val(self, b: bool):
        return self._true if b else self._false

    def int_val(self, n: int):
        return z3.IntVal(int(n), self.ctx)

    def real_val(self, q):
        q = Fraction(q)
        hit = self._reals.get(q)
        if hit is None:
            hit = z3.RealVal(f"{q.numerator}/{q.denominator}", self.ctx)
            self._reals[q] = hit
        return hit

    def as_bool(self, v):
        return self.bool_val(v) if isinstance(v, bool) else v

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
        i = members.index(name)
        if self.encoding.finite == "bv":
            return z3.BitVecVal(i, _width(len(members) - 1), self.ctx)
        if self.encoding.finite == "sort":
            return self._enum_sort(tuple(members), phase)[1][i]
        return self.int_val(i)

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
        """A fresh symbolic assignment. ``names`` limits which variables get a symbol; the
        others take their default (see :func:`default_value`), as nothing the query reads
        depends on them."""
        wanted = set(self.spec.variables) if names is None else set(names)
        terms, domain = {}, {}
        for name, var in self.spec.variables.items():
            if name in self.fixed or name not in wanted:
                value = self.fixed.get(name, default_value(var))
                terms[name] = self.rep_value(var, value)
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
        return Sym(tag, terms, domain)

    def rep_value(self, var: ir.Variable, value):
        """The term (or constant) that stands for ``value`` of ``var``."""
        dom = var.domain
        if isinstance(dom, ir.BoolDomain):
            return bool(value)
        if isinstance(dom, ir.IntDomain):
            return int(value)
        return str(value)  # enum members stay names; folded and converted where compared

    def decode(self, model, sym: Sym) -> dict:
        """The concrete assignment a model gives ``sym``."""
        out = {}
        for name, var in self.spec.variables.items():
            t = sym.terms[name]
            out[name] = self._decode_value(model, var.domain, t, name)
        return out

    def _decode_value(self, model, dom, t, key):
        if isinstance(dom, ir.BoolDomain):
            if isinstance(t, bool):
                return t
            return z3.is_true(model.eval(t, model_completion=True))
        if isinstance(dom, ir.IntDomain):
            if isinstance(t, int):
                return t
            if isinstance(t, FD):
                return t.lo + model.eval(t.bv, model_completion=True).as_long()
            return model.eval(t, model_completion=True).as_long()
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
        if _is_const(a) and _is_const(b):
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
        if _is_const(t):
            return t == value
        if isinstance(dom, ir.BoolDomain):
            return t if value else z3.Not(t)
        if isinstance(dom, ir.IntDomain):
            if isinstance(t, FD):
                return self._fd_compare(t, int(value), ir.CmpOp.EQ)
            return t == int(value)
        return t == self.enum_rep(dom.members, value)

    def default_phase(self) -> str | None:
        traj = self.spec.trajectory
        return traj.start_phase if traj is not None else None

    def phase_var(self, name: str):
        """A symbolic phase and its domain constraint."""
        return self._finite_var(name, self.phases, True)

    def phase_rep(self, name: str):
        return self.enum_rep(self.phases, name, True)

    def phase_is(self, phase, name: str):
        if isinstance(phase, str) or phase is None:
            return phase == name
        key = (phase.get_id(), name)
        hit = self._phase_eq.get(key)
        if hit is None:
            hit = (phase, phase == self.phase_rep(name))  # keep `phase` alive with its id
            self._phase_eq[key] = hit
        return hit[1]

    def decode_phase(self, model, t) -> str:
        if isinstance(t, str):
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

    def env(self, sym: Sym, depth, phase, depth_values: range | None = None, tag: str = "") -> Env:
        if isinstance(depth, int):
            depth_values = range(depth, depth + 1)
        return Env(sym, depth, depth_values, phase, tag or f"{sym.tag}@{next(self._fresh)}")

    # -- facts --------------------------------------------------------------------------------

    def _fact(self, label: str, kind: str, name: str, text: str, span, formula) -> None:
        if label not in self.fact_info:
            self.fact_info[label] = FactInfo(label, kind, name, text, span)
        self.facts.append((label, formula))

    def take_facts(self) -> list[tuple[str, Any]]:
        out, self.facts = self.facts, []
        return out

    def _named(self, label: str, kind: str, name: str, text: str, span, value, sort_bool=True):
        """``value`` behind a named Boolean when tracking (the fact is ``aux == value``)."""
        if not self.track:
            return value
        aux = z3.Bool(f"{label}!{next(self._fresh)}", self.ctx)
        self._fact(label, kind, name, text, span, aux == self.as_bool(value))
        return aux

    def add_fact(self, label: str, kind: str, name: str, text: str, span, formula) -> None:
        """Record a fact the caller must assert (tracked or not)."""
        self._fact(label, kind, name, text, span, self.as_bool(formula))

    # -- expressions --------------------------------------------------------------------------

    def value(self, name: str, sym: Sym):
        """The Bool for reference value ``name`` on ``sym`` (values read substance only)."""
        hit = sym.values.get(name)
        if hit is None:
            env = self.env(sym, 0, self.default_phase(), tag=f"{sym.tag}#values")
            body = self.term(self.spec.values[name].expr, env)
            from libet.proofs.text import expr_text

            hit = self._named(
                f"value:{name}", "value", name, expr_text(self.spec.values[name].expr), self.spec.values[name].span, body
            )
            sym.values[name] = hit
        return hit

    def harmful(self, sym: Sym):
        parts = [self._not(self.value(n, sym)) for n in self.spec.values]
        return self._or(parts)

    def term(self, e: ir.Expr, env: Env):
        """The value of ``e`` in ``env``: a Python constant, a Z3 term, or an FD term.

        Memoised per state; a term that reads neither depth nor phase is memoised per
        assignment copy, so the frames of a trajectory share it."""
        key = id(e)
        cache = env.sym.cache if self._static(e) else env.cache
        hit = cache.get(key)
        if hit is not None and hit[0] is e:
            return hit[1]
        v = self._term(e, env)
        cache[key] = (e, v)
        return v

    def _static(self, e: ir.Expr) -> bool:
        """Whether ``e`` (through defs) reads neither depth nor phase."""
        hit = self._static_memo.get(id(e))
        if hit is not None and hit[0] is e:
            return hit[1]
        if isinstance(e, (ir.Depth, ir.CurrentPhase)):
            out = False
        elif isinstance(e, (ir.ValueRef, ir.Harmful)):
            out = True  # values read substance only
        elif isinstance(e, ir.DefRef):
            out = self._static(self.spec.defs[e.name].expr)
        else:
            out = all(self._static(c) for c in e.children())
        self._static_memo[id(e)] = (e, out)
        return out

    def _term(self, e: ir.Expr, env: Env):
        if isinstance(e, ir.Const):
            if e.type.kind is ir.Kind.REAL:
                return Fraction(e.value)
            if e.type.kind is ir.Kind.ENUM:
                return e.value  # a member name; converted where compared
            if e.type.kind is ir.Kind.PHASE:
                return e.value
            return e.value
        if isinstance(e, ir.VarRef):
            return env.sym.terms[e.name]
        if isinstance(e, ir.ParamRef):
            return Fraction(self.params[e.name])
        if isinstance(e, ir.DefRef):
            return self.term(self.spec.defs[e.name].expr, env)
        if isinstance(e, ir.ValueRef):
            return self.value(e.name, env.sym)
        if isinstance(e, ir.Harmful):
            return self.harmful(env.sym)
        if isinstance(e, ir.Depth):
            return env.depth
        if isinstance(e, ir.CurrentPhase):
            return env.phase
        if isinstance(e, ir.Not):
            return self._not(self.term(e.arg, env))
        if isinstance(e, ir.Logic):
            if e.op is ir.BoolOp.IMPLIES:
                a = self.term(e.args[0], env)
                if a is False:
                    return True
                b = self.term(e.args[1], env)
                return self._or([self._not(a), b])
            parts = []
            for x in e.args:  # short-circuit on a constant, like the interpreter
                v = self.term(x, env)
                if e.op is ir.BoolOp.AND and v is False:
                    return False
                if e.op is ir.BoolOp.OR and v is True:
                    return True
                parts.append(v)
            return self._and(parts) if e.op is ir.BoolOp.AND else self._or(parts)
        if isinstance(e, ir.Compare):
            return self._compare(e, env)
        if isinstance(e, ir.Member):
            return self._member(e, env)
        if isinstance(e, ir.Arith):
            return self._arith(e, env)
        if isinstance(e, ir.Neg):
            a = self.term(e.arg, env)
            if _is_const(a):
                return -a
            return -self.as_int(a)
        if isinstance(e, ir.Ite):
            c = self.term(e.cond, env)
            if c is True:
                return self._coerce(self.term(e.then, env), e.type)
            if c is False:
                return self._coerce(self.term(e.orelse, env), e.type)
            a = self._coerce(self.term(e.then, env), e.type)
            b = self._coerce(self.term(e.orelse, env), e.type)
            return self._ite(c, a, b, e.type)
        if isinstance(e, ir.Call):
            return self._call(e, env)
        raise TypeError(f"no encoding for IR node {type(e).__name__}")

    # boolean helpers with folding

    def _not(self, a):
        if isinstance(a, bool):
            return not a
        return z3.Not(a)

    def _and(self, parts):
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

    def _or(self, parts):
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

    def _coerce(self, v, ty: ir.Type):
        if ty.kind is ir.Kind.REAL:
            return self.as_real(v)
        return v

    def _ite(self, c, a, b, ty: ir.Type):
        if ty.kind is ir.Kind.BOOL:
            if _is_const(a) and _is_const(b):
                if a == b:
                    return a
                return c if a else z3.Not(c)
            return z3.If(c, self.as_bool(a), self.as_bool(b))
        if ty.kind is ir.Kind.REAL:
            if _is_const(a) and _is_const(b) and a == b:
                return a
            return z3.If(c, self.z3_real(a), self.z3_real(b))
        if ty.kind is ir.Kind.INT:
            if _is_const(a) and _is_const(b) and a == b:
                return a
            if isinstance(a, FD) and isinstance(b, FD) and a.lo == b.lo and a.width == b.width:
                return FD(z3.If(c, a.bv, b.bv), a.lo, max(a.hi, b.hi))
            return z3.If(c, self.z3_int(a), self.z3_int(b))
        # enum or phase: an index term
        members = ty.members if ty.kind is ir.Kind.ENUM else self.phases
        if isinstance(a, str) and isinstance(b, str) and a == b:
            return a
        return z3.If(c, self._index(a, members, ty), self._index(b, members, ty))

    def _index(self, v, members, ty):
        if isinstance(v, str):
            return self.enum_rep(tuple(members), v, ty.kind is ir.Kind.PHASE)
        return v

    def _compare(self, e: ir.Compare, env: Env):
        lt, rt = e.left.type, e.right.type
        a, b = self.term(e.left, env), self.term(e.right, env)
        op = e.op
        if lt.kind in (ir.Kind.ENUM, ir.Kind.PHASE) or rt.kind in (ir.Kind.ENUM, ir.Kind.PHASE):
            return self._eq_finite(a, b, lt if lt.kind in (ir.Kind.ENUM, ir.Kind.PHASE) else rt, op)
        if lt.kind is ir.Kind.BOOL:
            if _is_const(a) and _is_const(b):
                r = a == b
            else:
                r = self.as_bool(a) == self.as_bool(b)
            return r if op is ir.CmpOp.EQ else self._not(r)
        # numeric
        if _is_const(a) and _is_const(b):
            return _PY_CMP[op](a, b)
        real = lt.kind is ir.Kind.REAL or rt.kind is ir.Kind.REAL
        if not real:
            folded = self._fd_compare(a, b, op)
            if folded is not None:
                return folded
            x, y = self.z3_int(a), self.z3_int(b)
        else:
            x, y = self.z3_real(a), self.z3_real(b)
        return _Z3_CMP[op](x, y)

    def _fd_compare(self, a, b, op):
        """Compare an FD int with a constant (or two FD ints alike) without leaving QF_BV."""
        if isinstance(a, int) and isinstance(b, FD):
            return self._fd_compare(b, a, _FLIP[op])
        if isinstance(a, FD) and isinstance(b, int):
            c = b - a.lo
            w = a.width
            top = 2**w - 1
            if op is ir.CmpOp.EQ:
                return False if not (0 <= c <= top) else a.bv == z3.BitVecVal(c, w, self.ctx)
            if op is ir.CmpOp.NE:
                return True if not (0 <= c <= top) else a.bv != z3.BitVecVal(c, w, self.ctx)
            if op is ir.CmpOp.LT:
                return False if c <= 0 else (True if c > top else z3.ULT(a.bv, z3.BitVecVal(c, w, self.ctx)))
            if op is ir.CmpOp.LE:
                return False if c < 0 else (True if c >= top else z3.ULE(a.bv, z3.BitVecVal(c, w, self.ctx)))
            if op is ir.CmpOp.GT:
                return True if c < 0 else (False if c >= top else z3.UGT(a.bv, z3.BitVecVal(c, w, self.ctx)))
            if op is ir.CmpOp.GE:
                return True if c <= 0 else (False if c > top else z3.UGE(a.bv, z3.BitVecVal(c, w, self.ctx)))
        if isinstance(a, FD) and isinstance(b, FD) and a.lo == b.lo and a.width == b.width:
            f = {
                ir.CmpOp.EQ: lambda x, y: x == y,
                ir.CmpOp.NE: lambda x, y: x != y,
                ir.CmpOp.LT: z3.ULT,
                ir.CmpOp.LE: z3.ULE,
                ir.CmpOp.GT: z3.UGT,
                ir.CmpOp.GE: z3.UGE,
            }[op]
            return f(a.bv, b.bv)
        return None

    def _eq_finite(self, a, b, ty: ir.Type, op):
        if a is None or b is None:  # `phase` without a trajectory equals nothing
            r = a is b
            return r if op is ir.CmpOp.EQ else not r
        if isinstance(a, str) and isinstance(b, str):
            r = a == b
        else:
            members = ty.members if ty.kind is ir.Kind.ENUM else self.phases
            r = self._index(a, members, ty) == self._index(b, members, ty)
        if op is ir.CmpOp.EQ:
            return r
        if op is ir.CmpOp.NE:
            return self._not(r)
        raise TypeError(f"cannot order enum values with {op.value}")

    def _member(self, e: ir.Member, env: Env):
        a = self.term(e.arg, env)
        ty = e.arg.type
        if _is_const(a):
            return a in set(e.values)
        if ty.kind is ir.Kind.ENUM:
            return self._or([self._eq_finite(a, v, ty, ir.CmpOp.EQ) for v in e.values])
        if ty.kind is ir.Kind.BOOL:
            vals = set(bool(v) for v in e.values)
            if vals == {True, False}:
                return True
            return a if True in vals else (z3.Not(a) if vals else False)
        parts = []
        for v in e.values:
            c = self._fd_compare(a, int(v), ir.CmpOp.EQ) if isinstance(a, FD) else None
            parts.append(c if c is not None else self.z3_int(a) == int(v))
        return self._or(parts)

    def _arith(self, e: ir.Arith, env: Env):
        a, b = self.term(e.left, env), self.term(e.right, env)
        if e.op is ir.ArithOp.DIV:
            x, y = self.as_real(a), self.as_real(b)
            if _is_const(x) and _is_const(y):
                if y == 0:
                    return self.fresh("div0")  # no value: unconstrained (see module doc)
                return Fraction(x) / Fraction(y)
            return self.z3_real(x) / self.z3_real(y)
        real = e.type.kind is ir.Kind.REAL
        x, y = (self.as_real(a), self.as_real(b)) if real else (self.as_int(a), self.as_int(b))
        if _is_const(x) and _is_const(y):
            return {ir.ArithOp.ADD: x + y, ir.ArithOp.SUB: x - y, ir.ArithOp.MUL: x * y}[e.op]
        zero = Fraction(0) if real else 0
        if e.op is ir.ArithOp.MUL:
            if (_is_const(x) and x == 0) or (_is_const(y) and y == 0):
                return zero
            if _is_const(x) and x == 1:
                return y
            if _is_const(y) and y == 1:
                return x
        if e.op is ir.ArithOp.ADD:
            if _is_const(x) and x == 0:
                return y
            if _is_const(y) and y == 0:
                return x
        lift = self.z3_real if real else self.z3_int
        X, Y = lift(x), lift(y)
        if e.op is ir.ArithOp.ADD:
            return X + Y
        if e.op is ir.ArithOp.SUB:
            return X - Y
        return X * Y

    def _call(self, e: ir.Call, env: Env):
        fn = e.func
        real = e.type.kind is ir.Kind.REAL
        if fn in (ir.Func.MIN, ir.Func.MAX, ir.Func.ABS):
            args = [self.term(x, env) for x in e.args]
            args = [self.as_real(a) if real else self.as_int(a) for a in args]
            if all(_is_const(a) for a in args):
                if fn is ir.Func.ABS:
                    return abs(args[0])
                return (min if fn is ir.Func.MIN else max)(args)
            lift = self.z3_real if real else self.z3_int
            if fn is ir.Func.ABS:
                x = lift(args[0])
                return z3.If(x < 0, -x, x)
            acc = lift(args[0])
            for a in args[1:]:
                y = lift(a)
                acc = z3.If(y < acc, y, acc) if fn is ir.Func.MIN else z3.If(y > acc, y, acc)
            return acc
        # exp, log, pow: fold, expand an integer power, or tabulate
        args = [self.term(x, env) for x in e.args]
        if all(_is_const(a) for a in args):
            return self._fold_call(e, args)
        if fn is ir.Func.POW and _is_const(args[1]):
            y = Fraction(args[1])
            if y.denominator == 1 and abs(y) <= 64:
                base = self.z3_real(args[0])
                n = int(abs(y))
                if n == 0:
                    return Fraction(1)
                prod = base
                for _ in range(n - 1):
                    prod = prod * base
                return prod if y > 0 else self.real_val(1) / prod
        return self._tabulate(e, args, env)

    def _fold_call(self, e: ir.Call, args):
        """The interpreter's value of ``e`` on constant arguments (memoised)."""
        key = (e.func, tuple((type(a).__name__, a) for a in args), tuple(x.type for x in e.args))
        hit = self._folds.get(key, self)
        if hit is not self:
            return hit if hit is not None else self.fresh("undefined")
        consts = tuple(ir.Const(a, x.type) for a, x in zip(args, e.args))
        node = ir.Call(e.func, consts, e.type)
        try:
            value = Fraction(self.interp.compile(node)({}, 0, None))
        except EvaluationError:
            value = None
        self._folds[key] = value
        return value if value is not None else self.fresh("undefined")

    def _reads(self, e: ir.Expr):
        hit = self._reads_cache.get(id(e))
        if hit is None or hit[0] is not e:
            names = tuple(n for n in self.spec.variables if n in self.spec.reads(e))
            depth, phase = uses_depth_or_phase(self.spec, e)
            hit = (e, names, depth, phase)
            self._reads_cache[id(e)] = hit
        return hit[1:]

    def _tabulate(self, e: ir.Call, args, env: Env):
        """A lookup table for a non-polynomial call over every value its arguments can take."""
        names, reads_depth, reads_phase = self._reads(e)
        sym_depth = reads_depth and not isinstance(env.depth, int)
        if sym_depth and env.depth_values is None:
            raise Unencodable(
                f"{e.func.value}(...) depends on depth, which is unbounded (horizon none): "
                "a non-polynomial term has no exact finite table there",
                e.span,
            )
        sym_phase = reads_phase and not isinstance(env.phase, str) and env.phase is not None
        # only the variables that are symbolic in this copy need enumerating
        free = [n for n in names if not _is_const(env.sym.terms[n])]
        fixed_vals = {n: self._const_value(n, env.sym.terms[n]) for n in names if n not in free}
        domains = [self.spec.variables[n].domain.values() for n in free]
        if sym_depth:
            depths = list(env.depth_values)
        else:
            depths = [env.depth if (reads_depth and isinstance(env.depth, int)) else 0]
        if sym_phase:
            phases = list(self.phases)
        else:
            phases = [env.phase if reads_phase else self.default_phase()]
        count = len(depths) * len(phases)
        for d in domains:
            count *= len(d)
        if count > TABLE_LIMIT:
            raise Unencodable(
                f"{e.func.value}(...) would need a table of {count:,} entries (limit {TABLE_LIMIT:,})", e.span
            )
        # keyed by the node's value (spans aside), so equal terms in several phases share a table
        key = (e, tuple(free), tuple(sorted(fixed_vals.items())), tuple(depths), tuple(map(str, phases)))
        table = self._tables.get(key)
        if table is None:
            table = {}
            undefined = False
            for combo in itertools.product(*domains):
                a = dict(fixed_vals)
                a.update(zip(free, combo))
                for d in depths:
                    for p in phases:
                        try:
                            argv = tuple(self.interp.evaluate(x, a, d, p) for x in e.args)
                        except EvaluationError:
                            undefined = True
                            continue
                        if argv in table:
                            continue
                        try:
                            table[argv] = Fraction(self.interp.evaluate(e, a, d, p))
                        except EvaluationError:
                            table[argv] = None
            self._tables[key] = (table, undefined)
        else:
            table, undefined = table
        results = set(table.values())
        if len(results) == 1 and None not in results and not undefined:
            return next(iter(results))
        arg_terms = [self.z3_real(a) if x.type.kind is ir.Kind.REAL else self.z3_int(a) for a, x in zip(args, e.args)]
        term_key = (key, tuple(t.get_id() if _is_z3(t) else ("c", t) for t in arg_terms))
        hit = self._table_terms.get(term_key)
        if hit is not None:
            return hit[1]
        acc = self._lookup(table, arg_terms, e)
        self._table_terms[term_key] = (arg_terms, acc)  # keep the argument terms alive with their ids
        return acc

    def _lookup(self, table: dict, arg_terms, e: ir.Call):
        acc = self.fresh("undefined")
        for argv, r in sorted(table.items(), key=lambda kv: kv[0], reverse=True):
            conds = []
            for t, v, x in zip(arg_terms, argv, e.args):
                if _is_z3(t):
                    conds.append(t == (self.real_val(v) if x.type.kind is ir.Kind.REAL else self.int_val(v)))
                elif t != v:
                    conds.append(False)
            c = self._and(conds)
            if c is False:
                continue
            val = self.real_val(r) if r is not None else self.fresh("undefined")
            acc = val if c is True else z3.If(c, val, acc)
        return acc

    def _const_value(self, name: str, t):
        var = self.spec.variables[name]
        if isinstance(var.domain, ir.EnumDomain):
            if isinstance(t, str):
                return t
            for m in var.domain.members:
                if self.enum_rep(var.domain.members, m).eq(t):
                    return m
            raise AssertionError("unknown enum constant")
        return t

    # -- policies -----------------------------------------------------------------------------

    def rules(self, policy: str, env: Env) -> list[tuple[Any, Any]]:
        """Per rule: (fires, clamped strength) at ``env``; constants where they fold."""
        key = ("rules", policy)
        hit = env.cache.get(key)
        if hit is not None:
            return hit
        from libet.proofs.text import expr_text

        out = []
        for i, rule in enumerate(self.spec.policies[policy].rules, 1):
            c = self.term(rule.condition, env)
            s = self.as_real(self.term(rule.strength, env))
            if _is_const(s):
                s = min(max(Fraction(s), Fraction(0)), Fraction(1))
            else:
                zero, one = self.real_val(0), self.real_val(1)
                s = z3.If(s < 0, zero, z3.If(s > 1, one, s))
            text = "veto when " + expr_text(rule.condition)
            if not (isinstance(rule.strength, ir.Const) and rule.strength.value == 1):
                text += " with strength " + expr_text(rule.strength)
            label = f"rule:{policy}:{i}"
            if c is not False:
                c = self._named(label, "rule", f"{policy} rule {i}", text, rule.span, c)
            out.append((c, s))
        env.cache[key] = out
        return out

    def veto_certain(self, policy: str, env: Env):
        """v(q, d) = 1: some firing rule has strength 1."""
        return self._or([self._and([c, _ge(s, 1)]) for c, s in self.rules(policy, env)])

    def veto_zero(self, policy: str, env: Env):
        """v(q, d) = 0: every firing rule has strength 0."""
        return self._and([self._or([self._not(c), _le(s, 0)]) for c, s in self.rules(policy, env)])

    def veto_positive(self, policy: str, env: Env):
        return self._not(self.veto_zero(policy, env))

    def veto_probability(self, policy: str, env: Env):
        """v = 1 - prod over firing rules of (1 - s_i), as a Fraction or a Z3 Real.

        With constant strengths the product stays linear (each factor is a constant); a
        non-constant strength makes it a product of terms, expanded over the strength's few
        possible values when they can be listed (so it stays linear), else left non-linear."""
        keep: Any = Fraction(1)
        for rule, (c, s) in zip(self.spec.policies[policy].rules, self.rules(policy, env)):
            if c is False:
                continue
            if _is_const(s):
                if s == 0:
                    continue
                scaled = keep * (1 - s) if _is_const(keep) else keep * self.real_val(1 - s)
            else:
                scaled = self._times(keep, s, self._strength_values(rule, env))
            if c is True:
                keep = scaled
            elif _is_const(keep) and _is_const(scaled) and keep == scaled:
                continue
            else:
                keep = z3.If(c, self.z3_real(scaled), self.z3_real(keep))
        if _is_const(keep):
            return 1 - keep
        return self.real_val(1) - keep

    def _times(self, keep, s, values: list | None):
        """keep * (1 - s) for a non-constant (clamped) strength ``s``: with the list of values
        ``s`` can take, a choice among constant multiples of ``keep`` (linear); else a product."""
        k = self.z3_real(keep)
        if not values:
            return k * (self.real_val(1) - s)
        acc = k * self.real_val(1 - values[-1]) if values[-1] != 0 else k
        for v in reversed(values[:-1]):
            acc = z3.If(s == self.real_val(v), k * self.real_val(1 - v) if v != 0 else k, acc)
        return acc

    def _strength_values(self, rule: ir.Rule, env: Env) -> list | None:
        """The clamped values ``rule``'s strength takes over every input ``env`` stands for,
        by the interpreter (at most :data:`STRENGTH_VALUES_LIMIT`); ``None`` if they cannot be
        listed (too many, no finite depth range, or a value the interpreter cannot compute)."""
        names, reads_depth, reads_phase = self._reads(rule.strength)
        sym_depth = reads_depth and not isinstance(env.depth, int)
        if sym_depth and env.depth_values is None:
            return None
        free = [n for n in names if not _is_const(env.sym.terms[n])]
        fixed_vals = {n: self._const_value(n, env.sym.terms[n]) for n in names if n not in free}
        domains = [self.spec.variables[n].domain.values() for n in free]
        depths = list(env.depth_values) if sym_depth else [env.depth if isinstance(env.depth, int) else 0]
        sym_phase = reads_phase and not isinstance(env.phase, str) and env.phase is not None
        phases = list(self.phases) if sym_phase else [env.phase]
        count = len(depths) * len(phases)
        for dom in domains:
            count *= len(dom)
        if count > TABLE_LIMIT:
            return None
        key = ("strength", rule, tuple(free), tuple(sorted(fixed_vals.items())), tuple(depths), tuple(map(str, phases)))
        if key in self._folds:
            return self._folds[key]
        values: set = set()
        try:
            for combo in itertools.product(*domains):
                a = dict(fixed_vals)
                a.update(zip(free, combo))
                for d in depths:
                    for p in phases:
                        x = Fraction(self.interp.evaluate(rule.strength, a, d, p))
                        values.add(min(max(x, Fraction(0)), Fraction(1)))
                        if len(values) > STRENGTH_VALUES_LIMIT:
                            raise OverflowError
        except (EvaluationError, OverflowError):
            self._folds[key] = None
            return None
        out = sorted(values)
        self._folds[key] = out
        return out

    # -- transitions --------------------------------------------------------------------------

    def transition_probs(self, phase: str, env: Env, lazy: dict | None = None) -> list[tuple[str, Any, ir.Transition]]:
        """(target, probability, transition) for each transition of ``phase``; the
        ``otherwise`` one is 1 minus the others, clamped at 0 like the interpreter. With
        ``lazy`` (target -> known positivity) and every positivity known, no terms are built
        (the probabilities are then ``None``)."""
        if lazy is not None and all(v is not None for v in lazy.values()):
            p = self.spec.trajectory.phase(phase)
            return [(t.target, None, t) for t in p.transitions]
        key = ("probs", phase)
        hit = env.cache.get(key)
        if hit is not None:
            return hit
        p = self.spec.trajectory.phase(phase)
        out = []
        total: Any = Fraction(0)
        rest = None
        for t in p.transitions:
            if t.prob is None:
                rest = t
                out.append(None)
                continue
            x = self.as_real(self.term(t.prob, env))
            total = total + x if _is_const(total) and _is_const(x) else self.z3_real(total) + self.z3_real(x)
            out.append((t.target, x, t))
        if rest is not None:
            i = out.index(None)
            if _is_const(total):
                r = max(1 - total, Fraction(0))
            else:
                r = z3.If(total < 1, self.real_val(1) - total, self.real_val(0))
            out[i] = (rest.target, r, rest)
        env.cache[key] = out
        return out

    def transition_positive(self, phase: str, env: Env) -> dict[str, Any]:
        """target -> Bool: the step from ``phase`` to ``target`` has positive probability.

        Where the reference interpreter can list the phase's step distribution at every input
        (the variables the transitions read, times the depths ``env`` stands for) within
        :data:`POSITIVITY_LIMIT` evaluations, a transition positive at all of them is ``True``
        and one positive at none is ``False``, with no arithmetic left for the solver; the
        others are compared with 0 symbolically."""
        key = ("pos", phase)
        hit = env.cache.get(key)
        if hit is not None:
            return hit
        from libet.proofs.text import expr_text

        known = self._positivity(phase, env)
        out = {}
        for target, x, t in self.transition_probs(phase, env, lazy=known):
            if known is not None and known.get(target) is not None:
                pos = known[target]
            else:
                pos = _gt(x, 0) if _is_const(x) else x > 0
            text = f"{phase} -> {target} : " + ("otherwise" if t.prob is None else expr_text(t.prob))
            pos = self._named(f"transition:{phase}->{target}", "transition", f"{phase} -> {target}", text, t.span, pos)
            out[target] = pos
        env.cache[key] = out
        return out

    def _positivity(self, phase: str, env: Env) -> dict | None:
        """target -> True/False when the interpreter shows the transition positive at every /
        no input ``env`` stands for; ``None`` entries where it depends on them."""
        if isinstance(env.depth, int):
            depths = [env.depth]
        elif env.depth_values is not None:
            depths = list(env.depth_values)
        else:
            return None
        per_depth = [self._positivity_at(phase, d) for d in depths]
        if any(p is None for p in per_depth) or not per_depth:
            return None
        out = {}
        for target in per_depth[0]:
            flags = [p[target] for p in per_depth]
            if all(f is True for f in flags):
                out[target] = True
            elif all(f is False for f in flags):
                out[target] = False
            else:
                out[target] = None
        return out

    def _positivity_at(self, phase: str, depth: int) -> dict | None:
        key = (phase, depth)
        if key in self._pos_table:
            return self._pos_table[key]
        p = self.spec.trajectory.phase(phase)
        names: set[str] = set()
        reads_depth = False
        for t in p.transitions:
            if t.prob is not None:
                names |= set(self._reads(t.prob)[0])
                reads_depth |= self._reads(t.prob)[1]
        if not reads_depth and depth != 0:
            out = self._positivity_at(phase, 0)
            self._pos_table[key] = out
            return out
        ordered = [n for n in self.spec.variables if n in names]
        domains = [self.spec.variables[n].domain.values() for n in ordered]
        count = 1
        for dom in domains:
            count *= len(dom)
        out: dict | None = None
        if count <= POSITIVITY_LIMIT:
            seen: dict[str, set] = {}
            try:
                for combo in itertools.product(*domains):
                    a = dict(zip(ordered, combo))
                    for target, prob in self._distribution(phase, a, depth):
                        seen.setdefault(target, set()).add(prob > 0)
                out = {t: (True if v == {True} else False if v == {False} else None) for t, v in seen.items()}
            except EvaluationError:
                out = None
        self._pos_table[key] = out
        return out

    def _distribution(self, phase: str, a: dict, depth: int):
        """The interpreter's probabilities of each transition of ``phase`` (``otherwise`` as one
        minus the others, clamped at 0, as in :meth:`transition_probs`)."""
        out, total, rest = [], Fraction(0), None
        for t in self.spec.trajectory.phase(phase).transitions:
            if t.prob is None:
                rest = t.target
                continue
            x = Fraction(self.interp.evaluate(t.prob, a, depth, phase))
            out.append((t.target, x))
            total += x
        if rest is not None:
            out.append((rest, max(1 - total, Fraction(0))))
        return out

    def start_depth(self, sym: Sym):
        """The start depth on ``sym``: an int if it does not depend on the assignment."""
        traj = self.spec.trajectory
        env = self.env(sym, 0, traj.start_phase, tag=f"{sym.tag}#start")
        return self.as_int(self.term(traj.start_depth, env))


def default_value(var: ir.Variable):
    """The neutral value a minimised counterexample prefers: false, 0 (or the low end), or the
    first enum member as written (e.g. ``none``)."""
    dom = var.domain
    if isinstance(dom, ir.BoolDomain):
        return False
    if isinstance(dom, ir.IntDomain):
        return 0 if dom.lo <= 0 <= dom.hi else dom.lo
    return dom.members[0]


def _ge(s, c):
    """``s >= c``: a bool for a constant ``s``, a Z3 Bool otherwise."""
    return s >= c


def _le(s, c):
    return s <= c


def _gt(s, c):
    return s > c


_PY_CMP = {
    ir.CmpOp.EQ: lambda a, b: a == b,
    ir.CmpOp.NE: lambda a, b: a != b,
    ir.CmpOp.LT: lambda a, b: a < b,
    ir.CmpOp.LE: lambda a, b: a <= b,
    ir.CmpOp.GT: lambda a, b: a > b,
    ir.CmpOp.GE: lambda a, b: a >= b,
}
_Z3_CMP = _PY_CMP
_FLIP = {
    ir.CmpOp.EQ: ir.CmpOp.EQ,
    ir.CmpOp.NE: ir.CmpOp.NE,
    ir.CmpOp.LT: ir.CmpOp.GT,
    ir.CmpOp.LE: ir.CmpOp.GE,
    ir.CmpOp.GT: ir.CmpOp.LT,
    ir.CmpOp.GE: ir.CmpOp.LE,
}


def reads_of_policy(spec: ir.Spec, policy: str) -> tuple[frozenset[str], bool, bool]:
    """Variables, depth and phase that the rules of ``policy`` read (through defs and values)."""
    names: set[str] = set()
    depth = phase = False
    for r in spec.policies[policy].rules:
        for x in (r.condition, r.strength):
            names |= spec.reads(x)
            d, p = uses_depth_or_phase(spec, x)
            depth |= d
            phase |= p
    return frozenset(names), depth, phase
