"""The IR -> Z3 term pass: the value of an expression at a symbolic state.

Consumes: a checked :class:`~libet.spec.ir.Spec`, parameter values, an
:class:`~.domains.Encoding`, and expressions with the state they are evaluated at (an
:class:`~.domains.Env`).
Produces: each expression's value as a folded Python constant, a Z3 term or an
:class:`~.domains.FD` term; reference values and *harmful* as Booleans named as facts
(:mod:`.facts`). Non-polynomial calls are handed to :mod:`.tables`.

What an expression means here is what it means in the reference interpreter in exact mode
(docs/semantics.md §2), one method per IR node class (``t_<Node>``, through
:class:`~libet.spec.visit.Dispatch`; a test asserts none is missing). A term whose arguments
are all known is folded to a Python value, so a state with a concrete depth costs no Z3 term
for ``depth < 5`` or ``exp(-gain * depth)``. ``pow`` with a constant integer exponent of
magnitude at most 64 is a product, exact like the interpreter's repeated multiplication.
"""

from __future__ import annotations

import operator
from fractions import Fraction
from typing import Any, Mapping

import z3

from libet.errors import InternalError
from libet.proofs.domains import FD, INT_ENCODING, Domains, Encoding, Env, Sym, is_const
from libet.proofs.facts import Facts
from libet.proofs.solve import check_deadline
from libet.proofs.tables import Tables
from libet.proofs.text import expr_text
from libet.spec import ir
from libet.spec.interpreter import DEEP_DEFS, Interpreter
from libet.spec.reads import reads_of
from libet.spec.structural import bind
from libet.spec.visit import Dispatch

_ARITH = {ir.ArithOp.ADD: operator.add, ir.ArithOp.SUB: operator.sub, ir.ArithOp.MUL: operator.mul}
_FINITE = (ir.Kind.ENUM, ir.Kind.PHASE)
#: Largest constant integer exponent ``pow`` is expanded into a product for.
POW_EXPAND_MAX = 64


class Terms(Domains):
    """Z3 terms for one spec, one parameter setting and one :class:`~.domains.Encoding`.

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
        spec = bind(spec, params)  # a horizon or weights over params, at these params
        super().__init__(spec, encoding, ctx, fixed)
        self.interp = Interpreter(spec, params, exact=True)
        self.params = dict(self.interp.params)  # exact Fractions
        self.reads = reads_of(spec)
        self.facts = Facts(self.ctx, track, self.counter)
        self.tables = Tables(self)
        self._dispatch = Dispatch(self, "t_")
        self._built = 0  # terms built, to look at the check's deadline every thousand
        self._in_chain = False  # a long def chain is being encoded bottom-up (t_DefRef)

    # -- reference values ----------------------------------------------------------------------

    def value(self, name: str, sym: Sym):
        """The Bool for reference value ``name`` on ``sym`` (values read substance only)."""
        hit = sym.values.get(name)
        if hit is None:
            v = self.spec.values[name]
            body = self.term(v.expr, self.env(sym, 0, self.default_phase()))
            hit = sym.values[name] = self.facts.name(f"value:{name}", "value", name, expr_text(v.expr), v.span, body)
        return hit

    def harmful(self, sym: Sym):
        return self.or_([self.not_(self.value(n, sym)) for n in self.spec.values])

    # -- expressions ---------------------------------------------------------------------------

    def term(self, e: ir.Expr, env: Env):
        """The value of ``e`` in ``env``: a Python constant, a Z3 term, or an FD term.

        Memoised per state; a term that reads neither depth nor phase is memoised per
        assignment copy, so the frames of a trajectory share it."""
        key = id(e)
        cache = env.cache if self.reads.dynamic(e) else env.sym.cache
        hit = cache.get(key)
        if hit is not None and hit[0] is e:
            return hit[1]
        self._built += 1
        if not self._built & 1023:  # encoding a large spec counts against the check's budget
            check_deadline()
        v = self._dispatch(e, env)
        cache[key] = (e, v)
        return v

    def t_Const(self, e: ir.Const, env: Env):
        if e.type.kind is ir.Kind.REAL:
            return Fraction(e.value)
        return e.value  # enum members and phases stay names; converted where compared

    def t_VarRef(self, e: ir.VarRef, env: Env):
        return env.sym.terms[e.name]

    def t_StateRef(self, e: ir.StateRef, env: Env):
        # the state variables' values travel with the state (Env.state), not the assignment:
        # a trajectory's steps share one assignment and each has its own valuation
        if env.state is None:
            raise InternalError(f"state variable {e.name!r} read where the encoding gives no state")
        return env.state[e.name]

    def t_ParamRef(self, e: ir.ParamRef, env: Env):
        return Fraction(self.params[e.name])

    def t_DefRef(self, e: ir.DefRef, env: Env):
        defs = self.spec.defs
        if self._in_chain or self.reads.def_depth(e.name) < DEEP_DEFS:
            return self.term(defs[e.name].expr, env)
        # A long chain of defs: encoded bottom-up, each body once (memoised in env), so
        # reaching this one costs no recursion through the chain; the defs met on the way up,
        # and in this one's body, are encoded already.
        self._in_chain = True
        try:
            for dep in self.reads.def_closure(e.name):
                self.term(defs[dep].expr, env)
            return self.term(defs[e.name].expr, env)
        finally:
            self._in_chain = False

    def t_ValueRef(self, e: ir.ValueRef, env: Env):
        return self.value(e.name, env.sym)

    def t_Harmful(self, e: ir.Harmful, env: Env):
        return self.harmful(env.sym)

    def t_Depth(self, e: ir.Depth, env: Env):
        return env.depth

    def t_CurrentPhase(self, e: ir.CurrentPhase, env: Env):
        return env.phase

    def t_Not(self, e: ir.Not, env: Env):
        return self.not_(self.term(e.arg, env))

    def t_Logic(self, e: ir.Logic, env: Env):
        if e.op is ir.BoolOp.IMPLIES:
            a = self.term(e.args[0], env)
            if a is False:
                return True
            return self.or_([self.not_(a), self.term(e.args[1], env)])
        parts = []
        for x in e.args:  # short-circuit on a constant, like the interpreter
            v = self.term(x, env)
            if e.op is ir.BoolOp.AND and v is False:
                return False
            if e.op is ir.BoolOp.OR and v is True:
                return True
            parts.append(v)
        return self.and_(parts) if e.op is ir.BoolOp.AND else self.or_(parts)

    def t_Compare(self, e: ir.Compare, env: Env):
        lt, rt = e.left.type, e.right.type
        a, b = self.term(e.left, env), self.term(e.right, env)
        op = e.op
        if lt.kind in _FINITE or rt.kind in _FINITE:
            return self._eq_finite(a, b, lt if lt.kind in _FINITE else rt, op)
        if lt.kind is ir.Kind.BOOL:
            r = a == b if is_const(a) and is_const(b) else self.as_bool(a) == self.as_bool(b)
            return r if op is ir.CmpOp.EQ else self.not_(r)
        # numeric
        if is_const(a) and is_const(b):
            return op(a, b)
        if lt.kind is ir.Kind.REAL or rt.kind is ir.Kind.REAL:
            return op(self.z3_real(a), self.z3_real(b))
        folded = self.fd_compare(a, b, op)
        if folded is not None:
            return folded
        return op(self.z3_int(a), self.z3_int(b))

    def _eq_finite(self, a, b, ty: ir.Type, op):
        if a is None or b is None:  # `phase` without a trajectory equals nothing
            r = a is b
            return r if op is ir.CmpOp.EQ else not r
        if isinstance(a, str) and isinstance(b, str):
            r = a == b
        else:
            members = ty.members if ty.kind is ir.Kind.ENUM else self.phases
            r = self.index(a, members, ty) == self.index(b, members, ty)
        if op is ir.CmpOp.EQ:
            return r
        if op is ir.CmpOp.NE:
            return self.not_(r)
        raise TypeError(f"cannot order enum values with {op.value}")

    def t_Member(self, e: ir.Member, env: Env):
        a = self.term(e.arg, env)
        ty = e.arg.type
        if is_const(a):
            return a in set(e.values)
        if ty.kind is ir.Kind.ENUM:
            return self.or_([self._eq_finite(a, v, ty, ir.CmpOp.EQ) for v in e.values])
        if ty.kind is ir.Kind.BOOL:
            vals = set(bool(v) for v in e.values)
            if vals == {True, False}:
                return True
            return a if True in vals else (z3.Not(a) if vals else False)
        parts = []
        for v in e.values:
            c = self.fd_compare(a, int(v), ir.CmpOp.EQ) if isinstance(a, FD) else None
            parts.append(c if c is not None else self.z3_int(a) == int(v))
        return self.or_(parts)

    def t_Arith(self, e: ir.Arith, env: Env):
        # A flat sum or product in a loop (ir.Arith.spine), so a weighted score of 10^4 terms
        # costs no recursion.
        leaf, nodes = e.spine()
        acc = self.term(leaf, env)
        for n in nodes:
            acc = self._arith(n, acc, self.term(n.right, env))
        return acc

    def _arith(self, e: ir.Arith, a, b):
        """``e``'s operation on its operands' values."""
        if e.op is ir.ArithOp.DIV:
            x, y = self.as_real(a), self.as_real(b)
            if is_const(x) and is_const(y):
                if y == 0:
                    return self.fresh("div0")  # no value: unconstrained (see tables' module doc)
                return Fraction(x) / Fraction(y)
            return self.z3_real(x) / self.z3_real(y)
        real = e.type.kind is ir.Kind.REAL
        x, y = (self.as_real(a), self.as_real(b)) if real else (self.as_int(a), self.as_int(b))
        if is_const(x) and is_const(y):
            return _ARITH[e.op](x, y)
        if e.op is ir.ArithOp.MUL:
            if (is_const(x) and x == 0) or (is_const(y) and y == 0):
                return Fraction(0) if real else 0
            if is_const(x) and x == 1:
                return y
            if is_const(y) and y == 1:
                return x
        if e.op is ir.ArithOp.ADD:
            if is_const(x) and x == 0:
                return y
            if is_const(y) and y == 0:
                return x
        lift = self.z3_real if real else self.z3_int
        return _ARITH[e.op](lift(x), lift(y))

    def t_Neg(self, e: ir.Neg, env: Env):
        a = self.term(e.arg, env)
        return -a if is_const(a) else -self.as_int(a)

    def t_Ite(self, e: ir.Ite, env: Env):
        branches, last = e.ladder()
        if len(branches) > 1:  # an `else if` ladder: folded from the last `else`, in a loop
            out = self._coerce(self.term(last, env), e.type)
            for c_expr, t_expr in reversed(branches):
                c = self.term(c_expr, env)
                if c is True:
                    out = self._coerce(self.term(t_expr, env), e.type)
                elif c is not False:
                    out = self.ite(c, self._coerce(self.term(t_expr, env), e.type), out, e.type)
            return out
        c = self.term(e.cond, env)
        if c is True:
            return self._coerce(self.term(e.then, env), e.type)
        if c is False:
            return self._coerce(self.term(e.orelse, env), e.type)
        a = self._coerce(self.term(e.then, env), e.type)
        b = self._coerce(self.term(e.orelse, env), e.type)
        return self.ite(c, a, b, e.type)

    def _coerce(self, v, ty: ir.Type):
        return self.as_real(v) if ty.kind is ir.Kind.REAL else v

    def ite(self, c, a, b, ty: ir.Type):
        """``a if c else b`` for values of type ``ty`` (folded where both are equal constants)."""
        if ty.kind is ir.Kind.BOOL:
            if is_const(a) and is_const(b):
                if a == b:
                    return a
                return c if a else z3.Not(c)
            return z3.If(c, self.as_bool(a), self.as_bool(b))
        if is_const(a) and is_const(b) and a == b:
            return a
        if ty.kind is ir.Kind.REAL:
            return z3.If(c, self.z3_real(a), self.z3_real(b))
        if ty.kind is ir.Kind.INT:
            if isinstance(a, FD) and isinstance(b, FD) and a.lo == b.lo and a.width == b.width:
                return FD(z3.If(c, a.bv, b.bv), a.lo, max(a.hi, b.hi))
            return z3.If(c, self.z3_int(a), self.z3_int(b))
        # enum or phase: an index term
        members = ty.members if ty.kind is ir.Kind.ENUM else self.phases
        return z3.If(c, self.index(a, members, ty), self.index(b, members, ty))

    def t_Call(self, e: ir.Call, env: Env):
        fn = e.func
        args = [self.term(x, env) for x in e.args]
        if fn in (ir.Func.MIN, ir.Func.MAX, ir.Func.ABS):
            real = e.type.kind is ir.Kind.REAL
            args = [self.as_real(a) if real else self.as_int(a) for a in args]
            if all(is_const(a) for a in args):
                return abs(args[0]) if fn is ir.Func.ABS else (min if fn is ir.Func.MIN else max)(args)
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
        if all(is_const(a) for a in args):
            return self.tables.fold(e, args)
        if fn is ir.Func.POW and is_const(args[1]):
            y = Fraction(args[1])
            if y.denominator == 1 and abs(y) <= POW_EXPAND_MAX:
                if y == 0:
                    return Fraction(1)
                base = self.z3_real(args[0])
                prod = base
                for _ in range(int(abs(y)) - 1):
                    prod = prod * base
                return prod if y > 0 else self.real_val(1) / prod
        return self.tables.tabulate(e, args, env)
