"""IR expressions and values printed as a spec author writes them.

Consumes: IR expressions (:mod:`libet.spec.ir`) and concrete values.
Produces: libet source text with the names of defs and values kept and parentheses only where
the grammar's binding strengths need them (so it parses back to the same IR), and short texts
for numbers and values. Counterexamples, proof summaries and trajectory graphs all print
through it; it is one visitor pass (spec/visit.py), complete by test.
"""

from __future__ import annotations

import math
from fractions import Fraction

from libet.spec import ir
from libet.spec.visit import Dispatch

# binding strength, loosest first (spec/grammar.lark)
_ITE, _IMPLIES, _OR, _AND, _NOT, _CMP, _SUM, _PRODUCT, _NEG, _ATOM = range(10)


def expr_text(e: ir.Expr) -> str:
    """``e`` as spec source (names of defs and values kept, parentheses where needed)."""
    return _PRINTER.text(e)[0]


#: The longest text :func:`shorten` leaves whole: what a reader takes in on a line or in a box
#: of a graph (``dot`` itself refuses a quoted string past 16,384 characters).
SHOWN_CHARS = 200


def shorten(text: str, width: int = SHOWN_CHARS) -> str:
    """``text`` for a person to read: whole up to ``width`` characters, else its start cut at a
    space, then how much was left out (a weighted score of 10,000 terms is a line, not 300 KB).
    Machine-readable outputs (JSON, PRISM) keep the whole text."""
    if len(text) <= width:
        return text
    keep = width - 40
    cut = text.rfind(" ", keep // 2, keep)
    head = text[: cut if cut > 0 else keep].rstrip()
    return f"{head} … ({len(text) - len(head):,} more characters)"


def _wrap(part: tuple[str, int], level: int, strict: bool = False) -> str:
    text, prec = part
    if prec < level or (strict and prec == level):
        return f"({text})"
    return text


class Printer:
    """The pass: ``text(e)`` is ``(source, binding strength)``; one ``p_`` method per node."""

    def __init__(self):
        self.text = Dispatch(self, "p_")

    def p_Const(self, e: ir.Const):
        return value_text(e.value), _ATOM

    def _name(self, e):
        return e.name, _ATOM

    p_VarRef = p_StateRef = p_ParamRef = p_DefRef = p_ValueRef = _name

    def p_Harmful(self, e: ir.Harmful):
        return "harmful", _ATOM

    def p_Depth(self, e: ir.Depth):
        return "depth", _ATOM

    def p_CurrentPhase(self, e: ir.CurrentPhase):
        return "phase", _ATOM

    def p_Not(self, e: ir.Not):
        if isinstance(e.arg, ir.ValueRef):
            return f"violates {e.arg.name}", _ATOM
        return "not " + _wrap(self.text(e.arg), _NOT), _NOT

    def p_Logic(self, e: ir.Logic):
        if e.op is ir.BoolOp.IMPLIES:
            a, b = e.args
            return f"{_wrap(self.text(a), _IMPLIES, True)} implies {_wrap(self.text(b), _IMPLIES)}", _IMPLIES
        level = _AND if e.op is ir.BoolOp.AND else _OR
        return f" {e.op.value} ".join(_wrap(self.text(x), level) for x in e.args), level

    def p_Compare(self, e: ir.Compare):
        return f"{_wrap(self.text(e.left), _SUM)} {e.op.value} {_wrap(self.text(e.right), _SUM)}", _CMP

    def p_Member(self, e: ir.Member):
        vals = ", ".join(value_text(v) for v in e.values)
        return f"{_wrap(self.text(e.arg), _SUM)} in {{{vals}}}", _CMP

    def p_Arith(self, e: ir.Arith):
        level = _SUM if e.op in (ir.ArithOp.ADD, ir.ArithOp.SUB) else _PRODUCT
        leaf, nodes = e.spine()  # a flat chain in a loop, no recursion
        parts = [_wrap(self.text(leaf), level)]
        for n in nodes:
            parts.append(f" {n.op.value} {_wrap(self.text(n.right), level, True)}")
        return "".join(parts), level

    def p_Neg(self, e: ir.Neg):
        return "-" + _wrap(self.text(e.arg), _NEG), _NEG

    def p_Ite(self, e: ir.Ite):
        branches, last = e.ladder()  # an `else if` ladder in one loop
        arms = [f"if {self.text(c)[0]} then {self.text(t)[0]}" for c, t in branches]
        return " else ".join(arms) + f" else {_wrap(self.text(last), _ITE)}", _ITE

    def p_Call(self, e: ir.Call):
        return f"{e.func.value}({', '.join(self.text(a)[0] for a in e.args)})", _ATOM


_PRINTER = Printer()


def count_text(n: int) -> str:
    """A count for people: exact below 10^15, else its order (a state of 70 booleans has
    1,180,591,620,717,411,303,424 valuations, which no one reads)."""
    return f"{n:,}" if n < 10**15 else f"about {order_text(n)}"


def name_list(items, limit: int = 8, sep: str = ", ") -> str:
    """A list for people: at most ``limit`` items, then how many there are in all."""
    items = list(items)
    if not items:
        return "none"
    if len(items) <= limit:
        return sep.join(items)
    return sep.join(items[:limit]) + f"{sep}... ({len(items):,} in all)"


def order_text(n: int) -> str:
    """A whole number too large to read, by its first digits and its order: ``5.39e272``."""
    digits = str(n)
    return f"{digits[0]}.{digits[1:3]}e{len(digits) - 1}"


def value_text(v) -> str:
    """A variable's value or a literal: ``true``, ``3``, ``weapons``, ``0.25``."""
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, Fraction):
        return number_text(v)
    return str(v)


def number_text(q) -> str:
    """An exact number, short: ``1``, ``0.25``, ``1/3`` when that is shorter than the decimal,
    otherwise six significant digits marked as rounded (``≈0.812906``)."""
    q = Fraction(q)
    if q.denominator == 1:
        return str(q.numerator)
    f = float(q)
    short = repr(f)
    if Fraction(short) == q and len(short) <= 12:
        return short
    if q.denominator <= 1000:
        return f"{q.numerator}/{q.denominator}"
    return "≈" + format_float(q)


def format_float(q) -> str:
    """``q`` to six significant digits, even far below the smallest double."""
    q = Fraction(q)
    if q == 0:
        return "0"
    f = float(q)
    if f != 0 and math.isfinite(f):
        return f"{f:.6g}"
    # below the double range: compute the exponent from the integers
    sign = "-" if q < 0 else ""
    q = abs(q)
    exp10 = len(str(q.numerator)) - len(str(q.denominator))
    mant = q / Fraction(10) ** exp10
    while mant >= 10:
        mant /= 10
        exp10 += 1
    while mant < 1:
        mant *= 10
        exp10 -= 1
    return f"{sign}{float(mant):.5f}e{exp10}"
