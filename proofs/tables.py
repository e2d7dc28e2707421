"""Tabulation: non-polynomial terms, and anything else the encoder decides by enumeration.

Consumes: an expression, the symbolic state it is evaluated at (an :class:`~.domains.Env`),
and the reference interpreter in exact mode.
Produces: :class:`Inputs`, the one enumerator of the concrete inputs a symbolic state stands
for (used here, for veto strengths and for transition positivity); the interpreter's value of
a call on constant arguments; and for ``exp``, ``log`` and ``pow`` with a non-integer exponent
over symbolic arguments, a lookup table as a Z3 term. Raises :class:`Unencodable` where no
exact finite table exists.

``exp``, ``log`` and ``pow`` have no rational value, so every value their arguments can take
over the finite domains is evaluated by the reference interpreter (a double made an exact
rational, the rule every engine follows) and the term becomes a table lookup, keyed by the
argument values (so ``exp(-gain * depth)`` in ten phases shares one table). With an unbounded
depth (``horizon none``) a term over depth has no finite table: the check ends UNKNOWN, never
wrong. A value the interpreter cannot compute (division by zero, the log of 0) is an
unconstrained constant, like Z3's own division by zero.
"""

from __future__ import annotations

import itertools
import math
from fractions import Fraction
from typing import TYPE_CHECKING, Any, Iterator

import attrs
import z3

from libet.errors import EvaluationError
from libet.proofs.domains import Env, is_const, is_z3
from libet.proofs.solve import check_deadline
from libet.spec import ir
from libet.spec.printer import count_text
from libet.spec.reads import reads_of

if TYPE_CHECKING:  # pragma: no cover
    from libet.proofs.terms import Terms

#: Most input combinations a non-polynomial term is tabulated over.
TABLE_LIMIT = 200_000


class Unencodable(Exception):
    """The query has no exact finite encoding (e.g. ``exp`` over an unbounded depth)."""

    def __init__(self, reason: str, span: ir.Span | None = None):
        self.reason = reason
        self.span = span
        super().__init__(f"{span}: {reason}" if span else reason)

    def text(self) -> str:
        """The reason with the location of the term, for an UNKNOWN result."""
        return self.reason + (f" (at {self.span})" if self.span else "")


@attrs.frozen
class Inputs:
    """Concrete inputs: every combination of the values of ``domains`` (name, values), with the
    ``fixed`` values added, at each of ``depths`` and ``phases``. Iterating yields
    ``(assignment, depth, phase)``, the last name changing fastest, then the depth, the phase."""

    domains: tuple[tuple[str, tuple], ...]
    fixed: tuple[tuple[str, Any], ...] = ()
    depths: tuple[int, ...] | range = (0,)
    phases: tuple = (None,)

    @property
    def count(self) -> int:
        """How many inputs there are: an exact int, however many (``len`` would overflow past
        2^63, which 64 booleans reach)."""
        return math.prod(len(values) for _, values in self.domains) * len(self.depths) * len(self.phases)

    def key(self) -> tuple:
        """What determines the inputs (the domains follow from the names)."""
        return tuple(n for n, _ in self.domains), self.fixed, self.depths, self.phases

    def __iter__(self) -> Iterator[tuple[dict, int, Any]]:
        names = [n for n, _ in self.domains]
        for combo in itertools.product(*(values for _, values in self.domains)):
            a = dict(self.fixed)
            a.update(zip(names, combo))
            for d in self.depths:
                for p in self.phases:
                    check_deadline()  # each input is an interpreter evaluation: count its time
                    yield a, d, p


def evaluate(interp, e: ir.Expr, a, d, p):
    """The interpreter's value of ``e`` at an input: ``a`` holds the assignment and any state
    variables side by side (as :class:`Inputs` yields them); the state goes to the interpreter
    as the valuation, so it is not replaced by the initial one."""
    state = interp.spec.state
    if state:
        return interp.evaluate(e, a, d, p, {n: a[n] for n in state if n in a})
    return interp.evaluate(e, a, d, p)


def inputs_at(enc: "Terms", e: ir.Expr, env: Env) -> Inputs | None:
    """The inputs that ``env`` stands for, as far as ``e`` reads them: the variables ``e`` reads
    that are symbolic in ``env``'s copy (the others are constants there), the depths a symbolic
    depth ranges over if ``e`` reads the depth, every phase if it reads a symbolic phase.
    ``None`` when ``e`` reads a depth that is unbounded."""
    spec = enc.spec
    names, reads_depth, reads_phase = reads_of(spec).facts(e)
    terms = env.sym.terms
    ordered = [n for n in spec.variables if n in names]
    if reads_depth and not isinstance(env.depth, int):
        if env.depth_values is None:
            return None
        depths = env.depth_values  # a range: counted, never listed (a horizon may be 10^8)
    else:
        depths = (env.depth if reads_depth else 0,)
    if reads_phase and not (isinstance(env.phase, str) or env.phase is None):
        phases = enc.phases
    else:
        phases = (env.phase if reads_phase else enc.default_phase(),)
    # state variables travel in the same mapping (the interpreter merges them per state)
    states = reads_of(spec).states(e) if spec.state else frozenset()
    if states:
        if env.state is None:
            return None
        terms = {**terms, **env.state}
        ordered += [n for n in spec.state if n in states]
    return Inputs(
        domains=tuple((n, tuple(enc.var_of(n).domain.values())) for n in ordered if not is_const(terms[n])),
        fixed=tuple((n, enc.constant_value(n, terms[n])) for n in ordered if is_const(terms[n])),
        depths=depths,
        phases=phases,
    )


class Tables:
    """The folded values and lookup tables of one encoder (memoised)."""

    def __init__(self, enc: "Terms"):
        self.enc = enc
        self._folds: dict = {}
        self._tables: dict = {}
        self._terms: dict = {}

    def fold(self, e: ir.Call, args) -> Any:
        """The interpreter's value of ``e`` on constant arguments (an unconstrained constant
        where it has none)."""
        key = (e.func, tuple((type(a).__name__, a) for a in args), tuple(x.type for x in e.args))
        if key not in self._folds:
            consts = tuple(ir.Const(a, x.type) for a, x in zip(args, e.args))
            try:
                self._folds[key] = Fraction(self.enc.interp.compile(ir.Call(e.func, consts, e.type))({}, 0, None))
            except EvaluationError:
                self._folds[key] = None
        value = self._folds[key]
        return value if value is not None else self.enc.fresh("undefined")

    def tabulate(self, e: ir.Call, args, env: Env):
        """A lookup table for a non-polynomial call over every value its arguments can take."""
        inputs = inputs_at(self.enc, e, env)
        if inputs is None:
            raise Unencodable(
                f"{e.func.value}(...) depends on depth, which is unbounded (horizon none): "
                "a non-polynomial term has no exact finite table there",
                e.span,
            )
        if inputs.count > TABLE_LIMIT:
            raise Unencodable(f"{e.func.value}(...) would need a table of {count_text(inputs.count)} entries (limit {TABLE_LIMIT:,})", e.span)
        # keyed by what the node says (spans aside), so equal terms in several phases share a
        # table: Reads.key, computed without recursion (hashing a nested node recurses)
        key = (self.enc.reads.key(e), inputs.key())
        hit = self._tables.get(key)
        if hit is None:
            hit = self._tables[key] = self._evaluate(e, inputs)
        table, undefined = hit
        results = set(table.values())
        if len(results) == 1 and None not in results and not undefined:
            return next(iter(results))
        enc = self.enc
        arg_terms = [enc.z3_real(a) if x.type.kind is ir.Kind.REAL else enc.z3_int(a) for a, x in zip(args, e.args)]
        term_key = (key, tuple(t.get_id() if is_z3(t) else ("c", t) for t in arg_terms))
        hit = self._terms.get(term_key)
        if hit is None:
            # keep the argument terms alive with their ids
            hit = self._terms[term_key] = (arg_terms, self._lookup(table, arg_terms, e))
        return hit[1]

    def _evaluate(self, e: ir.Call, inputs: Inputs) -> tuple[dict, bool]:
        """(argument values -> the call's value or None, whether some arguments had none)."""
        interp = self.enc.interp
        table: dict = {}
        undefined = False
        for a, d, p in inputs:
            try:
                argv = tuple(evaluate(interp, x, a, d, p) for x in e.args)
            except EvaluationError:
                undefined = True
                continue
            if argv in table:
                continue
            try:
                table[argv] = Fraction(evaluate(interp, e, a, d, p))
            except EvaluationError:
                table[argv] = None
        return table, undefined

    def _lookup(self, table: dict, arg_terms, e: ir.Call):
        enc = self.enc
        acc = enc.fresh("undefined")
        for i, (argv, r) in enumerate(sorted(table.items(), key=lambda kv: kv[0], reverse=True)):
            if not i & 255:
                check_deadline()  # a table of 10^5 entries is seconds of Z3 calls
            conds = []
            for t, v, x in zip(arg_terms, argv, e.args):
                if is_z3(t):
                    conds.append(t == (enc.real_val(v) if x.type.kind is ir.Kind.REAL else enc.int_val(v)))
                elif t != v:
                    conds.append(False)
            c = enc.and_(conds)
            if c is False:
                continue
            val = enc.real_val(r) if r is not None else enc.fresh("undefined")
            acc = val if c is True else z3.If(c, val, acc)
        return acc
