"""Validation of param overrides, fixed variable values, random seeds and counts: one place, one wording.

Consumes: a checked :class:`~libet.spec.ir.Spec` and what a user passed: from the command line
(``--set NAME=VALUE`` texts) or from Python (numbers of any real type, numpy scalars included,
and variable values).
Produces: exact values: params as :class:`fractions.Fraction` within their declared range,
variables as members of their domain; or a :class:`~libet.errors.UsageError` saying what is
wrong and how to fix it.

Every engine (the interpreter, Z3, the exact engine, Monte Carlo, the PRISM export), the CLI
and the Python API go through these functions, so a bad value gets the same message wherever it
is given.

A float is taken as the decimal it prints as (``0.1`` is exactly 1/10), since that is what a
person who typed it meant; any other real number (``int``, ``Fraction``, ``numpy.float64``,
``numpy.int64``, ``decimal.Decimal``) is converted exactly.
"""

from __future__ import annotations

import numbers
import re
import sys
from decimal import Decimal
from fractions import Fraction
from typing import Any, Mapping

from libet.errors import UsageError
from libet.spec import ir


def to_fraction(value: Any) -> Fraction:
    """``value`` as an exact rational (see module doc).

    Raises:
        TypeError: ``value`` is not a real number (a bool, a string, None, a complex).
        ValueError: ``value`` is not finite (NaN or an infinity).
    """
    if isinstance(value, bool) or value is None:
        raise TypeError(value)
    if isinstance(value, Fraction):
        return value
    if isinstance(value, numbers.Integral):
        return Fraction(int(value))
    if isinstance(value, Decimal):
        if not value.is_finite():
            raise ValueError(value)
        return Fraction(value)
    if isinstance(value, numbers.Rational):
        return Fraction(int(value.numerator), int(value.denominator))
    if isinstance(value, numbers.Real):
        f = float(value)
        if f != f or f in (float("inf"), float("-inf")):
            raise ValueError(value)
        return Fraction(repr(f))
    raise TypeError(value)


_LARGEST_DOUBLE = Fraction(sys.float_info.max)

#: A number as ``--set`` takes it: the spec's own literals (ASCII digits, a decimal point, an
#: exponent), a sign, or a ratio of two of them (``1/3``).
_NUMBER = re.compile(r"[+-]?(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+)(?:[eE][+-]?[0-9]+)?(?:/[0-9]+)?")
_WHOLE = re.compile(r"[+-]?[0-9]+")


def _known(names) -> str:
    return ", ".join(names) or "none"


def check_param(spec: ir.Spec, name: str, value: Any) -> Fraction:
    """The exact value of param ``name`` set to ``value``.

    Raises:
        UsageError: no such param, not a finite real number, or outside the declared range.
    """
    if name not in spec.params:
        from libet.spec.diagnostics import did_you_mean

        hint = did_you_mean(name, spec.params)
        raise UsageError(f"there is no param {name!r} (params: {_known(spec.params)})", hint or None)
    if isinstance(value, str):
        try:
            if not _NUMBER.fullmatch(value.strip()):
                raise ValueError(value)  # Fraction's own reading takes `1_0` and other scripts' digits
            q = Fraction(value.strip())
        except (ValueError, ZeroDivisionError):
            raise UsageError(f"param {name} takes a number, not {value!r}",
                             "written as in a spec (0.25, 3, 1e-6) or as a ratio (1/3)") from None
    else:
        try:
            q = to_fraction(value)
        except (TypeError, ValueError):
            raise UsageError(f"param {name} takes a finite real number, not {value!r}") from None
    p = spec.params[name]
    if p.integer and q.denominator != 1:
        raise UsageError(f"param {name} is an int param; {_show_number(q)} is not a whole number",
                         f"give a whole number, e.g. {round(q)}")
    if (p.lo is not None and q < p.lo) or (p.hi is not None and q > p.hi):
        raise UsageError(
            f"{_show_number(q)} lies outside the range [{float(p.lo):g}, {float(p.hi):g}] of param {name}",
            "the range is declared with `param NAME = DEFAULT in [LO, HI]`",
        )
    if not p.integer and abs(q) > _LARGEST_DOUBLE:  # an int param is a whole number of any size
        raise UsageError(f"param {name} is computed in double precision, and {_show_number(q)} is past the largest "
                         "double (about 1.8e308)", "give a number of magnitude below 1e308")
    if not p.integer and q and float(q) == 0:  # as the spec's own literal 1e-400 is (E023)
        raise UsageError(f"param {name} is computed in double precision, and {_show_number(q)} is 0 there "
                         "(below the smallest double, about 5e-324)", "give 0, or a number of magnitude above 1e-300")
    return q


def check_params(spec: ir.Spec, overrides: Mapping[str, Any] | None) -> dict[str, Fraction]:
    """Every param's exact value: the defaults with ``overrides`` applied (each checked)."""
    values = spec.default_params()
    for name, v in _mapping(overrides, "params").items():
        values[name] = check_param(spec, name, v)
    return values


def engine_params(spec: ir.Spec, overrides: Mapping[str, Any] | None, exact: bool) -> dict:
    """Every param's value (:func:`check_params`) in an engine's number type: an int param
    (``param n: int``) as a Python int in both modes, since an int of the spec is a whole
    number of any size (docs/semantics.md §2; as a double, ``n * 10^17 + 1`` lost its last
    digit in double precision alone); a real one as a Fraction (``exact``) or a double."""
    return {n: int(v) if spec.params[n].integer else (v if exact else float(v))
            for n, v in check_params(spec, overrides).items()}


def _mapping(given, what: str) -> Mapping:
    """``given`` if it is a mapping (or None: empty), else a usage error naming ``what``."""
    if given is None:
        return {}
    if not isinstance(given, Mapping):
        example = "{'gain': 0.3}" if what == "params" else "{'topic': 'weapons'}"
        raise UsageError(f"{what} takes a dict of names to values, e.g. {example}, not {type(given).__name__}")
    return given


def check_overrides(spec: ir.Spec, overrides: Mapping[str, Any] | None) -> dict[str, Fraction]:
    """Only the ``overrides``, each checked and exact."""
    return {name: check_param(spec, name, v) for name, v in _mapping(overrides, "params").items()}


def check_value(spec: ir.Spec, name: str, value: Any):
    """``value`` as a value of variable ``name``: a bool, an int in range or an enum member's
    name. A string is parsed as its text form (``true``, ``3``, ``weapons``), so the command
    line and Python share this function.

    Raises:
        UsageError: no such variable, or not a value of its domain.
    """
    if name not in spec.variables:
        from libet.spec.diagnostics import did_you_mean

        hint = did_you_mean(name, spec.variables)
        raise UsageError(f"there is no variable {name!r} (variables: {_known(spec.variables)})", hint or None)
    var = spec.variables[name]
    dom = var.domain
    if isinstance(value, str):
        text = value.strip()
        if isinstance(dom, ir.BoolDomain) and text in ("true", "false"):
            return text == "true"
        if isinstance(dom, ir.IntDomain) and _WHOLE.fullmatch(text):  # not int()'s `1_0` or `１`
            value = int(text)
        if isinstance(dom, ir.EnumDomain) and text in dom:
            return text
    if isinstance(dom, ir.BoolDomain):
        if isinstance(value, bool) or _numpy_bool(value):
            return bool(value)
    elif isinstance(dom, ir.IntDomain):
        if isinstance(value, numbers.Integral) and not isinstance(value, bool) and dom.lo <= int(value) <= dom.hi:
            return int(value)
    elif isinstance(value, str) and value in dom:
        return value
    raise UsageError(f"{value!r} is not a value of {name} (domain {dom})", _value_hint(dom, value))


def _value_hint(dom, value: Any) -> str | None:
    """What the value closest to ``value`` in ``dom`` is spelled like, for a near miss
    (``True`` for a bool, ``WEAPONS`` for ``weapons``, ``3.0`` for an int)."""
    text = str(value).strip()
    if isinstance(dom, ir.BoolDomain):
        return "a bool is written true or false" if text.lower() in ("true", "false", "1", "0", "yes", "no") else None
    if isinstance(dom, ir.IntDomain):
        try:
            whole = Fraction(text)
        except (ValueError, ZeroDivisionError):
            return None
        if whole.denominator == 1 and dom.lo <= whole <= dom.hi:
            return f"write it as a whole number: {whole.numerator}"
        return None
    same = [m for m in dom.members if m.lower() == text.lower()]
    if same:
        return f"did you mean '{same[0]}'? (names are case-sensitive)"
    from libet.spec.diagnostics import did_you_mean

    return did_you_mean(text, list(dom.members)) or None


def _numpy_bool(value) -> bool:
    """numpy's bool scalar (``bool_``; named ``bool`` in numpy 2), without importing numpy."""
    t = type(value)
    return t.__module__ == "numpy" and t.__name__ in ("bool_", "bool")


def check_fixed(spec: ir.Spec, fixed: Mapping[str, Any] | None) -> dict:
    """``fixed`` with every value checked against its variable's domain."""
    return {name: check_value(spec, name, v) for name, v in _mapping(fixed, "fixed").items()}


def parse_sets(spec: ir.Spec, items) -> tuple[dict[str, Fraction], dict[str, Any]]:
    """``--set NAME=VALUE`` texts into (param overrides, fixed variables), each checked.

    Raises:
        UsageError: a malformed item, an unknown name, or a value out of its domain or range.
    """
    params: dict[str, Fraction] = {}
    variables: dict[str, Any] = {}
    for item in items:
        if "=" not in item:
            raise UsageError(f"--set takes NAME=VALUE, not {item!r}", "e.g. --set gain=0.3 or --set topic=weapons")
        name, _, text = item.partition("=")
        name = name.strip()
        if name in spec.params:
            params[name] = check_param(spec, name, text)
        elif name in spec.variables:
            variables[name] = check_value(spec, name, text)
        elif name in spec.state:
            var = spec.state[name]
            init = str(var.init).lower() if isinstance(var.init, bool) else str(var.init)
            raise UsageError(
                f"--set {name}: '{name}' is a state variable, which the trajectory changes as it goes; "
                f"it starts at {init} (`{name}: {var.domain} = {init}` in the spec)",
                "change its initial value in the spec's state block; --set gives params and the "
                "substance, framing and context variables a value",
            )
        else:
            from libet.spec.diagnostics import did_you_mean

            hint = did_you_mean(name, list(spec.params) + list(spec.variables))
            known = _known(list(spec.params) + list(spec.variables))
            raise UsageError(f"--set {name}: no param or variable of that name (known: {known})", hint or None)
    return params, variables


def _show_number(q: Fraction) -> str:
    """``q`` for a message: whole numbers of up to 15 digits as they are, any other in six
    significant digits (a number past the largest double too: `--set gain=1e400`)."""
    if q.denominator == 1 and abs(q.numerator) < 10**15:
        return str(q.numerator)
    from decimal import Context, Decimal

    ctx = Context(prec=6)
    return format(ctx.divide(Decimal(q.numerator), Decimal(q.denominator)).normalize(ctx), "g")


def check_seed(seed: Any) -> int:
    """A random seed as the engines take it: a whole number >= 0 (numpy's ``SeedSequence``
    takes no other), or a UsageError."""
    if isinstance(seed, bool) or not isinstance(seed, numbers.Integral) or seed < 0:
        raise UsageError(f"a seed is a whole number >= 0, not {seed!r}", "e.g. seed=0; the same seed gives the same numbers")
    return int(seed)


def check_whole(value: Any, what: str, least: int) -> int:
    """An option that counts (runs, examples, samples, ...): a whole number >= ``least``, or a
    UsageError."""
    if isinstance(value, bool) or not isinstance(value, numbers.Integral) or value < least:
        raise UsageError(f"{what} must be a whole number, at least {least}, not {value!r}")
    return int(value)


def check_runs(runs: Any) -> int:
    """A number of Monte Carlo trajectories: a whole number >= 1, or a UsageError."""
    return check_whole(runs, "runs", 1)
