"""Vectorised evaluation of IR expressions over whole arrays of states.

Consumes: a checked :class:`~libet.spec.ir.Spec`, param values, and an *environment*: numpy
arrays (broadcastable to one another) holding each variable's values, the depth, and the phase.
Produces: for an expression, a pair ``(value, err)``: the value at every position, and a boolean
mask of the positions where evaluating it raises in the reference interpreter.
Also, for a phase, its step probabilities checked as the interpreter's ``transitions`` checks
them (:func:`step_probabilities`). The engines' layers (simulator/model.py) and the static check
of large phases (spec/semantics.py) use both; numpy is imported only by them, so ``libet check``
on a small spec never loads it.

The numeric rules are the interpreter's (docs/semantics.md §2): float64 by default, exact
rationals (numpy object arrays of :class:`fractions.Fraction`) with ``exact=True``; ``exp``,
``log`` and ``pow`` with a non-integer exponent are computed in double precision in both modes
(numpy's double-precision routines, which may differ from the C library's in the last bit);
``pow`` with an integer exponent of magnitude at most 64 is exact in exact mode.

Errors are not raised here. The interpreter short-circuits ``and``/``or``/``implies`` and
evaluates only the taken branch of ``if``, so an expression such as ``x != 0 and 1 / x > 1`` has
no error where ``x`` is 0. The mask follows the same rule: a child's error counts only where the
interpreter would evaluate that child. The engines combine the masks into "this state has no
value" and, when such a state is reachable, replay it with the interpreter to raise its exact
message (phase, depth, assignment).

Encodings: bools are numpy bools, ints int64, reals float64 (or Fraction objects), enum values
the index of the member in the enum's declared order, the phase a Python string (the evaluator
is run once per phase).

Ints are the interpreter's and Z3's: whole numbers of any size. An int past 64 bits (a literal,
a domain's bound, a sum or product whose operands' magnitudes could reach 2^63) is held as
Python ints in an object array (or a 0-d one, which numpy's operations carry along), and an
int result that fits again is int64 again (:func:`int_arith`); int64 never wraps around.
"""

from __future__ import annotations

import math
from fractions import Fraction
from typing import Mapping

import numpy as np

from libet.errors import InternalError
from libet.spec import ir
from libet.spec.interpreter import DEEP_DEFS, TOLERANCE  # the interpreter's tolerance for [0, 1] and sums
from libet.spec.reads import reads_of
from libet.spec.rules import resolve_otherwise
from libet.spec.visit import Dispatch

_NO_ERR = False


def mask_or(a, b):
    """``a | b`` for masks or plain bools; False when neither holds anywhere."""
    if a is False or (not isinstance(a, np.ndarray) and not a):
        return b if isinstance(b, np.ndarray) or b else False
    if b is False or (not isinstance(b, np.ndarray) and not b):
        return a
    return a | b


def mask_and(m, e):
    """``e`` where ``m`` holds, for masks or plain bools; False when nothing is left."""
    if e is False or (not isinstance(e, np.ndarray) and not e):
        return False
    if not isinstance(m, np.ndarray):
        return e if m else False
    return m & e


def _to_frac(x):
    return Fraction(x)


_frac_vec = np.frompyfunc(_to_frac, 1, 1)


#: Stands for a block's depths in a comparison until they are needed (ArrayEval.v_Compare).
_DEPTHS = object()

_RAMPS: dict = {}  # dtype -> 0, 1, 2, ... of that dtype, grown on demand (see depth_ramp)


def depth_ramp(lo: int, hi: int, dtype=np.int64) -> np.ndarray:
    """The depths ``lo .. hi - 1`` as a 1-d array of ``dtype`` (int64 or float64): a slice of a
    kept ramp plus ``lo``, one pass where ``np.arange`` costs three times as much. Exact in
    float64 too, for depths below 2^53."""
    n = hi - lo
    base = _RAMPS.get(dtype)
    if base is None or base.shape[0] < n:
        base = _RAMPS[dtype] = np.arange(max(n, 1 << 16), dtype=dtype)
    return np.add(base[:n], lo, dtype=dtype)


class Block:
    """The consecutive depths ``lo .. hi - 1`` at which the layers of one block are evaluated
    (:attr:`depth`, an int array of shape (hi - lo, 1), and :attr:`real_depth`, the same
    depths as floats, each built on first use), and what the evaluators of its phases share:
    values by expression key (:meth:`libet.spec.reads.Reads.key`; only of expressions that do
    not read ``phase``) and real conversions of arrays.

    Knowing the depths are consecutive lets a comparison of the depth with a number that holds
    at every depth of the block, or at none, be decided from the two ends, and a depth used
    only as a real (``exp(-gain * depth)``) never needs its int copy."""

    __slots__ = ("lo", "hi", "_int", "_real", "memo", "real")

    def __init__(self, lo: int, hi: int, share: bool = True):
        self.lo, self.hi = lo, hi
        self._int = self._real = None
        #: None when one evaluator uses the block (nothing to share: no keys to look up)
        self.memo: dict[int, tuple] | None = {} if share else None
        self.real: dict[int, tuple] = {}

    @property
    def depth(self) -> np.ndarray:
        if self._int is None:
            self._int = depth_ramp(self.lo, self.hi)[:, None]
        return self._int

    @property
    def real_depth(self) -> np.ndarray:
        """The depths as float64, built directly (cheaper than converting the ints)."""
        if self._real is None:
            self._real = depth_ramp(self.lo, self.hi, np.float64)[:, None]
        return self._real


class ArrayEval:
    """Evaluates expressions of one spec over arrays.

    Args:
        spec: the checked spec.
        params: every param's value (float, or Fraction in exact mode).
        env: variable name -> array of values (encoded as above); arrays broadcast together.
        depth: the depth, an int array (or int) broadcastable with the variables; None if the
            expressions evaluated do not read ``depth``.
        phase: the current phase's name, or None.
        exact: compute reals as Fractions.
        overrides: ``id(node) -> (value, err)`` for nodes already evaluated elsewhere (the
            engines substitute precomputed per-class values of depth-independent subterms).
        block: instead of ``depth``, a :class:`Block` of consecutive depths, passed to the
            evaluators of every phase over the same environment: what does not read ``phase``
            is evaluated once for all of them, and an expression written twice
            (``exp(-gain * depth)`` in every phase) once.
        kept: the keys (:meth:`libet.spec.reads.Reads.key`) of the nodes whose values are kept
            for a second use (:meth:`libet.spec.reads.Reads.reused`); any other value is let go
            once its parent has it, so a pass over large arrays writes into memory still in
            cache. None (the default) keeps every value.
    """

    def __init__(
        self,
        spec: ir.Spec,
        params: Mapping[str, object],
        env: Mapping[str, object],
        depth=None,
        phase: str | None = None,
        *,
        exact: bool = False,
        overrides: Mapping[int, tuple] | None = None,
        block: Block | None = None,
        kept: frozenset[int] | None = None,
    ):
        self.spec = spec
        self.params = params
        self.env = env
        self._depth = depth
        self.phase = phase
        self.exact = exact
        self.overrides = overrides or {}
        self._memo: dict[int, tuple] = {}
        self._bounds: dict[int, int] = {}  # id(int node) -> a bound on its values' magnitude
        self._keep: list = []  # keeps memoised nodes alive so ids stay unique
        self._kept = kept
        self._in_chain = False  # a long def chain is being evaluated bottom-up (v_DefRef)
        self._real_cache: dict[int, tuple] = {} if block is None else block.real
        self._shared = None if block is None else block.memo
        self._reads = reads_of(spec)
        self._dispatch = Dispatch(self, "v_")
        #: (first, last) depth of a block: a comparison of the depth with a number is decided
        #: from the two ends when it holds at every depth or at none
        self._depth_span = None
        self._block = block
        if block is not None and block.hi - block.lo > 1:
            self._depth_span = (block.lo, block.hi - 1)

    @property
    def depth(self):
        """The depths evaluated at (an int array, an int, or None)."""
        return self._depth if self._block is None else self._block.depth

    def _is_depth(self, x) -> bool:
        """Whether ``x`` is the array of the depths themselves (without building it)."""
        if x is _DEPTHS:
            return True
        d = self._depth if self._block is None else self._block._int
        return d is not None and x is d

    # -- conversions -------------------------------------------------------------------------

    def real(self, x):
        """``x`` (bool/int/real array or scalar) as a real: float64, or Fractions in exact mode."""
        if self.exact:
            if isinstance(x, np.ndarray):
                if x.dtype == object and not (x.size and type(x.flat[0]) is int):
                    return x  # Fractions already (Python ints past int64 are made Fractions)
                return _frac_vec(x.astype(object) if x.dtype != object else x)
            return Fraction(x) if not isinstance(x, Fraction) else x
        if isinstance(x, np.ndarray):
            if x.dtype == np.float64:
                return x
            block = self._block
            if block is not None and x is block._int:
                return block.real_depth
            hit = self._real_cache.get(id(x))
            if hit is not None and hit[0] is x:
                return hit[1]
            r = x.astype(np.float64)
            self._real_cache[id(x)] = (x, r)
            return r
        return float(x)

    def _encode_const(self, c: ir.Const):
        v = c.value
        kind = c.type.kind
        if kind is ir.Kind.REAL:
            return Fraction(v) if self.exact else float(v)
        if kind is ir.Kind.ENUM:
            return self.spec.positions(c.type.members)[v]
        if kind is ir.Kind.BOOL:
            return bool(v)
        if kind is ir.Kind.INT and not -_INT64 <= v < _INT64:
            return np.array(v, dtype=object)  # past 64 bits: numpy carries Python ints along
        return v  # int or a phase name

    # -- evaluation --------------------------------------------------------------------------

    def __call__(self, expr: ir.Expr):
        """``(value, err)`` of ``expr``: ``err`` is False or a bool array (see module doc)."""
        key = id(expr)
        hit = self.overrides.get(key)
        if hit is not None:
            return hit
        hit = self._memo.get(key)
        if hit is not None:
            return hit
        shared = self._shared
        kept = self._kept
        if shared is not None and not self._reads.phase(expr):
            k = self._reads.key(expr)
            out = shared.get(k)
            if out is None:
                out = self._dispatch(expr)
                if kept is None or k in kept:
                    shared[k] = out
        else:
            out = self._dispatch(expr)
            if kept is not None and self._reads.key(expr) not in kept:
                return out
        self._memo[key] = out
        self._keep.append(expr)
        return out

    def _known(self, e: ir.Expr) -> bool:
        """Whether ``e``'s value is at hand (memoised, an override, or shared)."""
        key = id(e)
        if key in self._memo or key in self.overrides:
            return True
        return self._shared is not None and not self._reads.phase(e) and self._reads.key(e) in self._shared

    def value(self, expr: ir.Expr):
        return self(expr)[0]

    # One method per IR node class (spec/visit.py); ``__call__`` memoises and dispatches.

    def v_Const(self, e: ir.Const):
        return self._encode_const(e), _NO_ERR

    def v_VarRef(self, e: ir.VarRef):
        try:
            return self.env[e.name], _NO_ERR
        except KeyError:
            raise InternalError(f"variable {e.name!r} is not in the evaluation environment") from None

    def v_StateRef(self, e: ir.StateRef):
        # a state variable's values over the evaluated states, in the same environment
        try:
            return self.env[e.name], _NO_ERR
        except KeyError:
            raise InternalError(f"state variable {e.name!r} is not in the evaluation environment") from None

    def v_ParamRef(self, e: ir.ParamRef):
        return self.params[e.name], _NO_ERR

    def v_DefRef(self, e: ir.DefRef):
        body = self.spec.defs[e.name].expr
        if self._in_chain or reads_of(self.spec).def_depth(e.name) < DEEP_DEFS:
            return self(body)
        # A long chain of defs: evaluate it bottom-up, each body once (memoised), so reaching
        # this one costs no recursion through the chain. The defs met on the way up, and in
        # this one's body, are evaluated already: only the first deep def walks the chain.
        self._in_chain = True
        try:
            for dep in reads_of(self.spec).def_closure(e.name):
                self(self.spec.defs[dep].expr)
            return self(body)
        finally:
            self._in_chain = False

    def v_ValueRef(self, e: ir.ValueRef):
        return self(self.spec.values[e.name].expr)

    def v_Harmful(self, e: ir.Harmful):
        return self(self.spec.harm_expr())

    def v_Depth(self, e: ir.Depth):
        depth = self.depth
        if depth is None:
            raise InternalError("'depth' is not in the evaluation environment")
        return depth, _NO_ERR

    def _operand(self, e: ir.Expr, real: bool):
        """``self(e)``, except that the depths of a block, as an operand of a real operation,
        are the block's float depths, with no int copy built first."""
        if real and type(e) is ir.Depth and self._block is not None and not self.exact:
            return self._block.real_depth, _NO_ERR
        return self(e)

    def v_CurrentPhase(self, e: ir.CurrentPhase):
        if self.phase is None:
            raise InternalError("'phase' is not in the evaluation environment")
        return self.phase, _NO_ERR

    def v_Not(self, e: ir.Not):
        v, err = self(e.arg)
        return np.logical_not(v) if isinstance(v, np.ndarray) else (not v), err

    def v_Member(self, e: ir.Member):
        v, err = self(e.arg)
        t = e.arg.type
        if t.kind is ir.Kind.ENUM:
            places = self.spec.positions(t.members)
            allowed = [places[x] for x in e.values if x in places]
        elif t.kind is ir.Kind.BOOL:
            allowed = [bool(x) for x in e.values]
        else:
            allowed = list(e.values)
        if isinstance(v, np.ndarray):
            return np.isin(v, allowed), err
        return v in allowed, err

    def v_Neg(self, e: ir.Neg):
        v, err = self(e.arg)
        if e.type.kind is ir.Kind.REAL:
            return -self.real(v), err
        return -(_wide(v) if self._bound(e.arg, v) >= _INT64 else v), err  # -(-2^63) is past int64

    def v_Ite(self, e: ir.Ite):
        branches, last = e.ladder()
        if len(branches) > 1:
            return self._ladder(e, branches, last)
        c, ec = self(e.cond)
        t, et = self(e.then)
        o, eo = self(e.orelse)
        if e.type.kind is ir.Kind.REAL:
            (t, ct), (o, co) = self._real_of(e.then, t), self._real_of(e.orelse, o)
            et, eo = mask_or(et, ct), mask_or(eo, co)
        err = mask_or(ec, mask_or(mask_and(c, et), mask_and(np.logical_not(c), eo)))
        if isinstance(c, (bool, np.bool_)) and not isinstance(t, np.ndarray) and not isinstance(o, np.ndarray):
            return (t if c else o), err
        return np.where(c, t, o), err

    def _ladder(self, e: ir.Ite, branches, last):
        """An ``else if`` ladder in one loop: the value of the first branch whose condition
        holds (``np.select``), an error where the interpreter would meet one (a condition it
        evaluates, or the branch it takes)."""
        real = e.type.kind is ir.Kind.REAL
        conds, values = [], []
        err = _NO_ERR
        open_ = True  # where no earlier condition held: the interpreter reads the next one
        for c_expr, t_expr in branches:
            c, ec = self(c_expr)
            t, et = self(t_expr)
            if real:
                t, ct = self._real_of(t_expr, t)
                et = mask_or(et, ct)
            err = mask_or(err, mask_or(mask_and(open_, ec), mask_and(mask_and(open_, c), et)))
            conds.append(mask_and(open_, c))
            values.append(t)
            open_ = mask_and(open_, np.logical_not(c))
        o, eo = self(last)
        if real:
            o, co = self._real_of(last, o)
            eo = mask_or(eo, co)
        err = mask_or(err, mask_and(open_, eo))
        shape = np.broadcast_shapes(*(np.shape(x) for x in conds + values + [o]))
        out = np.select([np.broadcast_to(c, shape) for c in conds], [np.broadcast_to(v, shape) for v in values],
                        np.broadcast_to(o, shape))
        return (out[()] if out.shape == () else out), err

    def v_Logic(self, e: ir.Logic):
        vals = []
        err = _NO_ERR
        # `reach`: where the interpreter evaluates the next argument.
        reach = True
        if e.op is ir.BoolOp.IMPLIES:
            f, ef = self(e.args[0])
            g, eg = self(e.args[1])
            err = mask_or(ef, mask_and(f, eg))
            return np.logical_or(np.logical_not(f), g), err
        last = len(e.args) - 1
        for i, arg in enumerate(e.args):
            v, ea = self(arg)
            err = mask_or(err, mask_and(reach, ea))
            vals.append(v)
            if i < last:  # nothing is evaluated after the last argument
                step = v if e.op is ir.BoolOp.AND else np.logical_not(v)
                reach = step if reach is True else np.logical_and(reach, step)
        if e.op is ir.BoolOp.AND:
            return _reduce(np.logical_and, vals), err
        return _reduce(np.logical_or, vals), err

    def v_Compare(self, e: ir.Compare):
        # In a block, the depth compared with a number is decided from the block's two ends
        # when it can be, without building the depths (_DEPTHS stands for them until then).
        lazy = self._depth_span is not None
        left, el = (_DEPTHS, _NO_ERR) if lazy and type(e.left) is ir.Depth else self(e.left)
        right, er = (_DEPTHS, _NO_ERR) if lazy and type(e.right) is ir.Depth else self(e.right)
        lt, rt = e.left.type, e.right.type
        if lt.kind is ir.Kind.ENUM and rt.kind is ir.Kind.ENUM and lt.members != rt.members:
            union = {m: i for i, m in enumerate(dict.fromkeys(lt.members + rt.members))}
            left = np.asarray([union[m] for m in lt.members])[left]
            right = np.asarray([union[m] for m in rt.members])[right]
        if not self.exact and {lt.kind, rt.kind} == _INT_AND_REAL and left is not _DEPTHS and right is not _DEPTHS:
            left, right = self._mixed(e, left, right)
        op = e.op
        if self._depth_span is not None:
            uniform = self._depth_compare(op, left, right)
            if uniform is not None:
                return uniform, mask_or(el, er)
            left = self.depth if left is _DEPTHS else left
            right = self.depth if right is _DEPTHS else right
        if op is ir.CmpOp.EQ:
            v = left == right
        elif op is ir.CmpOp.NE:
            v = left != right
        elif op is ir.CmpOp.LT:
            v = left < right
        elif op is ir.CmpOp.LE:
            v = left <= right
        elif op is ir.CmpOp.GT:
            v = left > right
        else:
            v = left >= right
        return v, mask_or(el, er)

    def _mixed(self, e: ir.Compare, left, right):
        """The operands of an int compared with a double, as the interpreter compares them:
        exactly, as numbers. numpy would make the int a double first, which is exact only up to
        2^53 in magnitude (1000000000000000001 > 1e18 holds, and does not as doubles); past it,
        both sides are compared as Python numbers."""
        int_left = e.left.type.kind is ir.Kind.INT
        i, r = (left, right) if int_left else (right, left)
        if self._bound(e.left if int_left else e.right, i) < _EXACT_DOUBLE:
            return left, right
        i = _wide(i)
        r = r.astype(object) if isinstance(r, np.ndarray) else float(r)
        return (i, r) if int_left else (r, i)

    def _depth_compare(self, op: ir.CmpOp, left, right):
        """``depth op number`` (either side) as one bool when it is the same at every depth of
        the span: a comparison with a number is monotone in the depth, so its two ends decide
        it without a pass over the depths; None when it differs (then it is computed)."""
        if self._is_depth(left) and not isinstance(right, np.ndarray):
            c = right
        elif self._is_depth(right) and not isinstance(left, np.ndarray):
            c, op = left, op.mirrored
        else:
            return None
        if isinstance(c, (bool, np.bool_)) or not isinstance(c, (int, float, Fraction, np.integer, np.floating)):
            return None
        lo, hi = self._depth_span
        if op is ir.CmpOp.LT:
            ends = (lo < c, hi < c)
        elif op is ir.CmpOp.LE:
            ends = (lo <= c, hi <= c)
        elif op is ir.CmpOp.GT:
            ends = (lo > c, hi > c)
        elif op is ir.CmpOp.GE:
            ends = (lo >= c, hi >= c)
        elif not lo <= c <= hi or c != int(c):  # EQ/NE with no depth of the span (NaN included)
            return np.bool_(op is ir.CmpOp.NE)
        else:
            return None
        return np.bool_(ends[0]) if ends[0] == ends[1] else None

    def v_Arith(self, e: ir.Arith):
        # A flat sum or product in a loop (ir.Arith.spine), from the innermost node whose
        # value is already known (memoised, or an override) or the leftmost operand.
        leaf, nodes = e.spine(self._known)
        acc = self._operand(leaf, bool(nodes) and nodes[0].type.kind is ir.Kind.REAL)
        for n in nodes:
            acc = self._arith(n, acc, self._operand(n.right, n.type.kind is ir.Kind.REAL))
        return acc

    def _arith(self, e: ir.Arith, left, right):
        """``e``'s operation on its operands' ``(value, err)`` pairs."""
        x, ex = left
        y, ey = right
        err = mask_or(ex, ey)
        real = e.type.kind is ir.Kind.REAL
        if e.op is ir.ArithOp.DIV:
            zero = y == 0
            (x, cx), (y, cy) = self._real_of(e.left, x), self._real_of(e.right, y)
            err = mask_or(err, mask_or(cx, cy))
            if isinstance(zero, np.ndarray):
                if zero.any():
                    err = mask_or(err, zero)
                    y = np.where(zero, self.real(1), y)
            elif zero:
                return self.real(0) * (x if isinstance(x, np.ndarray) else 1), mask_or(err, _full_true(x))
            return x / y, err
        if not real:
            bx, by = self._bound(e.left, x), self._bound(e.right, y)
            self._bounds[id(e)] = bx * by if e.op is ir.ArithOp.MUL else bx + by
            return int_arith(e.op, x, y, (bx, by)), err
        (x, cx), (y, cy) = self._real_of(e.left, x), self._real_of(e.right, y)
        err = mask_or(err, mask_or(cx, cy))
        if e.op is ir.ArithOp.ADD:
            return x + y, err
        if e.op is ir.ArithOp.SUB:
            return x - y, err
        return x * y, err

    def _real_of(self, e: ir.Expr, v):
        """``(v as a real, err)`` for ``e``'s value ``v`` as an operand of a real operation. In
        double precision an int past the largest double (about 1.8e308) has no double value,
        as in the interpreter: those positions are errors (their value 0.0). A rational takes
        any int."""
        if self.exact or e.type.kind is not ir.Kind.INT:
            return self.real(v), _NO_ERR
        if isinstance(v, np.ndarray):
            if v.dtype != object or _magnitude(v) < _DOUBLE_SAFE:
                return self.real(v), _NO_ERR
            past = np.frompyfunc(_no_double, 1, 1)(v).astype(bool)
            return np.where(past, 0, v).astype(np.float64), (past if past.any() else _NO_ERR)
        return (0.0, True) if _no_double(v) else (float(v), _NO_ERR)

    def _bound(self, e: ir.Expr, v) -> int:
        """A bound on the magnitude of int ``e``'s value ``v``: an int operation's from its
        operands' (no pass over its result), a variable's or the depths' array scanned once
        per evaluator, anything else scanned."""
        b = self._bounds.get(id(e))
        if b is not None:
            return b
        b = _magnitude(v)
        if isinstance(v, np.ndarray) and type(e) in (ir.VarRef, ir.StateRef, ir.Depth):
            self._bounds[id(e)] = b  # the same array whenever this evaluator meets e
        return b

    def v_Call(self, e: ir.Call):
        args = [self(a) for a in e.args]
        err = _NO_ERR
        for _, ea in args:
            err = mask_or(err, ea)
        vals = [v for v, _ in args]
        fn = e.func
        real = e.type.kind is ir.Kind.REAL
        if real and fn is not ir.Func.ABS:  # a real function's arguments are reals (abs keeps its type)
            converted = [self._real_of(a, v) for a, v in zip(e.args, vals)]
            vals = [v for v, _ in converted]
            for _, c in converted:
                err = mask_or(err, c)
        if fn in (ir.Func.MIN, ir.Func.MAX):
            if not any(isinstance(v, np.ndarray) for v in vals):
                return (min if fn is ir.Func.MIN else max)(vals), err
            ufunc = np.minimum if fn is ir.Func.MIN else np.maximum
            return _reduce(ufunc, vals), err
        if fn is ir.Func.ABS:
            v = vals[0]
            if not real and self._bound(e.args[0], v) >= _INT64:  # abs(-2^63) is past int64
                v = _wide(v)
            return abs(v) if not isinstance(v, np.ndarray) else np.abs(v), err
        if fn is ir.Func.EXP:
            return self._exp(vals[0], err)
        if fn is ir.Func.LOG:
            return self._log(vals[0], err)
        if fn is ir.Func.POW:
            return self._pow(vals[0], vals[1], err)
        raise InternalError(f"no vectorised case for the function {fn.value}")

    # -- non-polynomial functions: double precision in both modes ------------------------------

    def _as_float(self, x):
        if isinstance(x, np.ndarray):
            return self.real(x) if x.dtype != object else x.astype(np.float64)
        return float(x)

    def _back(self, r):
        """A double result back into the mode's reals."""
        if not self.exact:
            return r
        if isinstance(r, np.ndarray):
            return _frac_vec(r.astype(object))
        return Fraction(r)

    def _exact_elementwise(self, fn, *args):
        """Exact mode: ``fn`` (a math function on doubles) element by element, as the
        interpreter computes it, each result back as a Fraction; OverflowError marks an error."""
        arrays = np.broadcast_arrays(*[np.asarray(a, dtype=object) for a in args])
        out = np.empty(arrays[0].shape, dtype=object)
        err = np.zeros(arrays[0].shape, dtype=bool)
        for idx in np.ndindex(out.shape):
            try:
                r = fn(*[a[idx] for a in arrays])
            except (OverflowError, ValueError, ZeroDivisionError):
                r, err[idx] = Fraction(0), True
            out[idx] = r
        if out.shape == ():
            return out[()], bool(err)
        return out, err

    def _exp(self, x, err):
        if self.exact:
            r, e = self._exact_elementwise(lambda a: Fraction(math.exp(float(a))), x)
            return r, (mask_or(err, e) if np.any(e) else err)
        fx = self._as_float(x)
        try:
            # numpy raises the overflow flag of a finite argument whose exp is infinite, so
            # the common case needs no pass over the result to look for one.
            with np.errstate(over="raise", under="ignore", invalid="ignore", divide="ignore"):
                r = np.exp(fx)
        except FloatingPointError:  # rare: build the mask only then
            with np.errstate(all="ignore"):
                r = np.exp(fx)
            over = np.isinf(r) & np.isfinite(fx)
            if np.any(over):
                err = mask_or(err, over)
                r = np.where(over, 0.0, r)
        return self._back(r), err

    def _log(self, x, err):
        if self.exact:
            r, e = self._exact_elementwise(lambda a: Fraction(math.log(float(a))) if a > 0 else _raise(), x)
            return r, (mask_or(err, e) if np.any(e) else err)
        bad = x <= 0
        if np.any(bad):
            err = mask_or(err, bad)
            x = np.where(bad, 1, x)
        with np.errstate(all="ignore"):
            r = np.log(self._as_float(x))
        return self._back(r), err

    def _pow(self, x, y, err):
        if self.exact:
            r, e = self._exact_elementwise(_exact_pow, x, y)
            return r, (mask_or(err, e) if np.any(e) else err)
        fx, fy = self._as_float(x), self._as_float(y)
        with np.errstate(all="ignore"):
            integral = (np.floor(fy) == fy) & (np.abs(fy) <= 64)
            zero_neg = (fx == 0) & (fy < 0)
            neg_frac = (fx < 0) & ~integral
            bad = zero_neg | neg_frac
            sx = np.where(bad, 1.0, fx)
            r = np.power(sx, fy)
            over = np.isinf(r) & np.isfinite(sx) & np.isfinite(fy)
        bad = bad | over
        if np.any(bad):
            err = mask_or(err, bad)
            r = np.where(bad, 0.0, r)
        return r, err


def depth_changes(e: ir.Compare, c) -> tuple[int, ...]:
    """The depths d >= 1 at which ``e``, a comparison of ``depth`` with the number ``c`` (either
    side), differs from its value at d - 1: one for an order (``depth < 4.5``: 5), two for an
    equality with an integer (``depth == 3``: 3 and 4), none otherwise (a bool, NaN, an
    infinity). Between them a block of depths has the comparison decided from its two ends
    (:meth:`ArrayEval._depth_compare`)."""
    if isinstance(c, (bool, np.bool_)) or not isinstance(c, (int, float, Fraction, np.integer, np.floating)):
        return ()
    if isinstance(c, (float, np.floating)) and not math.isfinite(c):
        return ()
    op = e.op if type(e.left) is ir.Depth else e.op.mirrored
    if op in (ir.CmpOp.LT, ir.CmpOp.GE):  # changes at the first depth >= c
        d = math.ceil(c)
    elif op in (ir.CmpOp.LE, ir.CmpOp.GT):  # at the first depth > c
        d = math.floor(c) + 1
    elif c == int(c):  # == or !=: on at c, off again at c + 1
        return tuple(x for x in (int(c), int(c) + 1) if x >= 1)
    else:
        return ()
    return (int(d),) if d >= 1 else ()


def _raise():
    raise ValueError


def _exact_pow(x, y):
    """The interpreter's pow in exact mode (docs/semantics.md §2)."""
    if x == 0 and y < 0:
        raise ZeroDivisionError
    if y == int(y) and abs(y) <= 64:
        return Fraction(x) ** int(y)
    if x < 0:
        raise ValueError
    return Fraction(math.pow(float(x), float(y)))


def _reduce(ufunc, vals):
    out = vals[0]
    for v in vals[1:]:
        out = ufunc(out, v)
    return out


_INT64 = 1 << 63  # int64 holds -_INT64 .. _INT64 - 1
_EXACT_DOUBLE = 1 << 53  # every int of smaller magnitude is a double exactly
_DOUBLE_SAFE = 1 << 1023  # every int of smaller magnitude has a double (rounded)
_INT_AND_REAL = frozenset((ir.Kind.INT, ir.Kind.REAL))


def _no_double(x) -> bool:
    """Whether int ``x`` is past the largest double (its conversion overflows)."""
    try:
        float(x)
    except OverflowError:
        return True
    return False


def _magnitude(v) -> int:
    """The largest magnitude of an int operand (an int64 or object array, or a number)."""
    if isinstance(v, np.ndarray):
        if v.size == 0:
            return 0
        return max(int(v.max()), -int(v.min()))
    return abs(int(v))


def _wide(v):
    """An int operand as Python ints: an object array, or an int."""
    if isinstance(v, np.ndarray):
        return v if v.dtype == object else v.astype(object)
    return int(v)


def narrow(v):
    """An int result as int64 when every value fits, else as it is (Python ints)."""
    if isinstance(v, np.ndarray) and v.dtype == object and (v.size == 0 or -_INT64 <= v.min() and v.max() < _INT64):
        return v.astype(np.int64)
    return v


def int_arith(op: ir.ArithOp, x, y, bounds: tuple[int, int] | None = None):
    """``x op y`` for ints (``+``, ``-`` or ``*``), exact whatever their size: in int64 when
    the operands' magnitudes keep every result within it, else in Python ints, narrowed back
    to int64 when the result fits (int64 alone would wrap around and give another number than
    the interpreter and Z3). ``bounds``: bounds on the operands' magnitudes, when known
    (ArrayEval's, with no pass over them); where they do not settle it the operands decide."""
    def fits(bx, by):  # both operands int64 (0 times a huge one is not), and every result
        return bx < _INT64 and by < _INT64 and (bx * by if op is ir.ArithOp.MUL else bx + by) < _INT64

    wide = not fits(*bounds) if bounds is not None else True
    if wide:
        wide = not fits(_magnitude(x), _magnitude(y))
    if wide:
        x, y = _wide(x), _wide(y)
    if op is ir.ArithOp.ADD:
        r = x + y
    elif op is ir.ArithOp.SUB:
        r = x - y
    else:
        r = x * y
    return narrow(r) if wide else r


def _full_true(x):
    if isinstance(x, np.ndarray):
        return np.ones(x.shape, dtype=bool)
    return np.bool_(True)


def index_grids(shape: tuple[int, ...]) -> np.ndarray:
    """(len(shape), prod(shape)): each axis's index at every point of the product of axes of
    these lengths, flattened with the last axis fastest (as ``Spec.assignments`` orders them)."""
    # Not np.indices: it makes an array of one axis per name, past numpy's 64 axes for a
    # product of 70 variables, most of them fixed to one value.
    size = math.prod(shape)
    out = np.empty((len(shape), size), dtype=np.int64)
    if size == 0:
        return out
    inner = 1  # how many points each index of an axis spans: the product of the axes after it
    for k in range(len(shape) - 1, -1, -1):
        out[k] = np.tile(np.repeat(np.arange(shape[k], dtype=np.int64), inner), size // (shape[k] * inner))
        inner *= shape[k]
    return out


def encode_value(var: ir.Variable, value) -> int | bool:
    """A variable's value in the evaluator's encoding."""
    if isinstance(var.domain, ir.EnumDomain):
        return var.domain.position(value)
    return value


def domain_array(var: ir.Variable, values=None) -> np.ndarray:
    """The encoded values of ``var`` (all of its domain, or ``values``) as an array."""
    dom = var.domain
    if isinstance(dom, ir.EnumDomain):
        if values is None:
            return np.arange(len(dom.members), dtype=np.int64)
        return np.fromiter((dom.position(v) for v in values), dtype=np.int64, count=len(values))
    vals = dom.values() if values is None else values
    if isinstance(dom, ir.BoolDomain):
        return np.asarray([bool(v) for v in vals], dtype=bool)
    if not (-_INT64 <= dom.lo and dom.hi < _INT64):
        return np.asarray(vals, dtype=object)  # bounds past 64 bits: Python ints (int_arith)
    return np.asarray(vals, dtype=np.int64)


# -- a phase's step probabilities over arrays, checked as the interpreter checks them ---------


def step_probabilities(raw, one, zero, tol: float = TOLERANCE, *, defer: bool = False):
    """A phase's step probabilities with ``otherwise`` resolved, and the mask of the states
    where the interpreter's ``transitions`` raises (a probability with no value or outside
    [-tol, 1 + tol], an ``otherwise`` remainder below -tol, or a sum without ``otherwise`` more
    than tol from 1), or False. ``raw``: per transition in declaration order, ``(value, err)``
    or None for ``otherwise``. The cheap test (:func:`within_range`) decides the common case.

    With ``defer``, an ``otherwise`` the cheap test decided may come as a :class:`Remainder`,
    which computes ``1 - sum`` only if someone asks (P(harm) of one phase never does)."""
    if tol == TOLERANCE:
        probs, bad = within_range(raw, one, zero, defer=defer)
        if probs is not None:
            return probs, bad
    return checked_steps(raw, one, zero, tol)


class Remainder:
    """The ``otherwise`` probability ``one - total`` of a phase whose explicit probabilities
    the cheap test (:func:`within_range`) accepted, so it needs no check and no clamp; computed
    on the first :meth:`value`."""

    __slots__ = ("one", "total", "_value")

    def __init__(self, one, total):
        self.one, self.total, self._value = one, total, None

    def value(self):
        if self._value is None:
            self._value = self.one - self.total
        return self._value


def resolved(p):
    """A step probability as :func:`step_probabilities` returns it, with a deferred
    :class:`Remainder` computed."""
    return p.value() if type(p) is Remainder else p


def within_range(raw, one, zero, *, defer: bool = False):
    """The step probabilities of a phase, when a cheap test shows every one is valid: no
    expression error, every explicit probability at least 0 (one minimum each), and their sum at
    most 1 (one maximum; with no ``otherwise``, also at least 1 - TOLERANCE and at most
    1 + TOLERANCE). Then each probability lies in [0, 1], since float addition of non-negative
    numbers never decreases (p_i <= sum), and ``1 - sum`` needs no check and no clamp. Returns
    (probabilities with ``otherwise`` resolved, False), or (None, None) when the test does not
    decide: :func:`checked_steps` then checks every state. With ``defer``, the ``otherwise``
    entry is a :class:`Remainder`."""
    tol = TOLERANCE
    probs = []
    for r in raw:
        if r is None:
            probs.append(None)
            continue
        p, err = r
        if err is not False or not (np.min(p) >= 0 if _float_array(p) else _is_number(p) and p >= 0):
            return None, None
        probs.append(p)
    if defer and any(p is None for p in probs):
        explicit = [p for p in probs if p is not None]
        total = resolve_otherwise(explicit, one, zero)[1]
        remainder = Remainder(one, total)
        resolved = [remainder if p is None else p for p in probs]
    else:
        resolved, total, remainder = resolve_otherwise(probs, one, zero)
    if _float_array(total):
        if not total.size:
            return None, None
        high = total.max()
        low = total.min() if remainder is None else 1
    elif _is_number(total):
        high = low = total
    else:
        return None, None
    if remainder is not None and high <= 1:
        return resolved, False
    if remainder is None and high <= 1 + tol and low >= 1 - tol:
        return resolved, False
    return None, None


def _float_array(x) -> bool:
    return isinstance(x, np.ndarray) and x.dtype == np.float64


def _is_number(x) -> bool:
    return isinstance(x, (int, float, np.floating, np.integer)) and not isinstance(x, bool)


def checked_steps(raw, one, zero, tol):
    """The step probabilities of a phase and the mask of its bad states, state by state: a
    probability outside [-tol, 1 + tol] or with no value is bad (and set to 0); the ``otherwise``
    remainder is bad below -tol and clamped at 0; with no ``otherwise`` the sum must lie within
    tol of 1."""
    probs = []
    tbad = False
    for r in raw:
        if r is None:
            probs.append(None)
            continue
        p, ep = r
        out = outside(p, -tol, 1 + tol)
        tbad = mask_or(tbad, mask_or(ep, out))
        if out is not False:
            p = np.where(out, 0, p)
        probs.append(p)
    probs, total, remainder = resolve_otherwise(probs, one, zero)
    if remainder is not None:
        rest = raw.index(None)
        if isinstance(remainder, np.ndarray) and remainder.dtype != object and remainder.size:
            low = remainder.min()  # one reduction decides both the check and the clamp
            if not low >= -tol:
                tbad = mask_or(tbad, outside(remainder, -tol, None))
            if not low >= 0:  # clamp what rounding left below 0
                probs[rest] = np.maximum(remainder, zero)
        else:
            tbad = mask_or(tbad, outside(remainder, -tol, None))
            probs[rest] = np.maximum(remainder, zero) if isinstance(remainder, np.ndarray) else max(remainder, zero)
    else:
        tbad = mask_or(tbad, outside(total, 1 - tol, 1 + tol))
    return probs, tbad


def outside(x, lo, hi):
    """The mask of ``x`` outside [lo, hi] (NaN counts as outside), or False when nothing is.

    Two reductions decide the common case (everything inside) without building a mask."""
    if isinstance(x, np.ndarray) and x.dtype != object:
        if x.size == 0:
            return False
        # NaN fails every comparison, so a NaN anywhere fails these too
        if (lo is None or x.min() >= lo) and (hi is None or x.max() <= hi):
            return False
        inside = np.ones(x.shape, dtype=bool)
        if lo is not None:
            inside &= x >= lo
        if hi is not None:
            inside &= x <= hi
        return ~inside
    inside = True
    if lo is not None:
        inside = inside & (x >= lo)
    if hi is not None:
        inside = inside & (x <= hi)
    if isinstance(inside, np.ndarray):
        return ~inside if not inside.all() else False
    return False if inside else np.bool_(True)
