"""Text for people: IR expressions, values and probabilities as a spec author writes them.

Consumes: IR expressions and concrete values.
Produces: short strings for counterexamples and proof summaries (never Z3 syntax). The
expression and number texts are spec/printer.py's, shared with the trajectory graphs.
"""

from __future__ import annotations

from fractions import Fraction

from libet.spec.printer import expr_text, format_float, number_text, value_text

__all__ = ["assignment_text", "expr_text", "format_float", "json_value", "number_text", "value_text"]


def assignment_text(a: dict, names=None) -> str:
    names = list(a) if names is None else [n for n in names if n in a]
    return ", ".join(f"{n} = {value_text(a[n])}" for n in names)


def json_value(v):
    if isinstance(v, Fraction):
        return float(v)
    return v
