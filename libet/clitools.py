"""Shared pieces of the command-line interface: exit codes, loading, --set, JSON and output.

Consumes: command-line arguments.
Produces: loaded specs or a clean exit with code 2 and rendered diagnostics.

Every ``libet`` subcommand uses these, so bad input is handled the same way everywhere: the
diagnostics are printed with carets, the exit code is 2, and no traceback is ever shown.
"""

from __future__ import annotations

import json
import os
import sys
from fractions import Fraction
from typing import Any, Iterable, NoReturn

import click

from libet.errors import LibetError, UsageError
from libet.files import write_atomic  # noqa: F401  (re-exported for the commands)
from libet.spec.diagnostics import render_all
from libet.spec.loader import Loaded, load_path

#: Exit codes (DESIGN.md §5).
EXIT_PROVED = 0
EXIT_VIOLATED = 1
EXIT_BAD_INPUT = 2
EXIT_UNKNOWN = 3


def use_color(stream=None) -> bool:
    """Colour only on a terminal, and never when NO_COLOR is set."""
    stream = stream or sys.stdout
    return hasattr(stream, "isatty") and stream.isatty() and "NO_COLOR" not in os.environ


def fail(message: str, hint: str | None = None) -> NoReturn:
    """Print a usage error and exit with code 2."""
    text = f"error: {message}"
    if hint:
        text += f"\n  hint: {hint}"
    click.echo(text, err=True)
    sys.exit(EXIT_BAD_INPUT)


def load_or_exit(path: str, as_json: bool = False) -> Loaded:
    """Load and check ``path``; on errors print every diagnostic and exit with code 2.

    Warnings are printed to stderr (as text) and the loaded spec is returned.
    """
    loaded = load_path(path)
    if not loaded.ok:
        report(loaded, as_json)
        sys.exit(EXIT_BAD_INPUT)
    warnings = [d for d in loaded.diagnostics if not d.is_error]
    if warnings and not as_json:
        click.echo(render_all(warnings, loaded.sources, color=use_color(sys.stderr)), err=True)
    return loaded


def report(loaded: Loaded, as_json: bool) -> None:
    if as_json:
        emit_json([d.to_json() for d in loaded.diagnostics])
    else:
        click.echo(render_all(loaded.diagnostics, loaded.sources, color=use_color(sys.stderr)), err=True)


def parse_sets(items: Iterable[str], spec) -> tuple[dict[str, Fraction], dict[str, Any]]:
    """``--set NAME=VALUE`` options into (param overrides, variable settings).

    Raises:
        UsageError: for an unknown name, a malformed item, or a value outside the domain/range.
    """
    params: dict[str, Fraction] = {}
    variables: dict[str, Any] = {}
    for item in items:
        if "=" not in item:
            raise UsageError(f"--set takes NAME=VALUE, not {item!r}")
        name, _, text = item.partition("=")
        name, text = name.strip(), text.strip()
        if name in spec.params:
            p = spec.params[name]
            try:
                v = Fraction(text)
            except (ValueError, ZeroDivisionError):
                raise UsageError(f"param {name} takes a number, not {text!r}") from None
            if (p.lo is not None and v < p.lo) or (p.hi is not None and v > p.hi):
                raise UsageError(f"{text} lies outside the range [{float(p.lo):g}, {float(p.hi):g}] of param {name}")
            params[name] = v
        elif name in spec.variables:
            variables[name] = parse_scalar(spec.variables[name], text)
        else:
            known = ", ".join(list(spec.params) + list(spec.variables)) or "none"
            raise UsageError(f"--set {name}: no param or variable of that name (known: {known})")
    return params, variables


def parse_scalar(var, text: str):
    """A variable's value from its text form (true/false, an int, an enum member)."""
    from libet.spec import ir

    dom = var.domain
    if isinstance(dom, ir.BoolDomain):
        if text in ("true", "false"):
            return text == "true"
    elif isinstance(dom, ir.IntDomain):
        try:
            v = int(text)
        except ValueError:
            v = None
        if v is not None and dom.lo <= v <= dom.hi:
            return v
    elif text in dom.members:
        return text
    raise UsageError(f"{text!r} is not a value of {var.name} (domain {dom})")


def emit_json(obj) -> None:
    click.echo(json.dumps(obj, indent=2, default=_json_default))


def _json_default(o):
    if isinstance(o, Fraction):
        return float(o)
    if hasattr(o, "to_json"):
        return o.to_json()
    if hasattr(o, "value") and hasattr(o, "name"):  # enums
        return o.value
    raise TypeError(f"cannot serialise {type(o).__name__}")


def guard(fn):
    """Decorator for commands: a LibetError becomes a message and exit code 2, never a traceback."""
    import functools

    @functools.wraps(fn)
    def wrapper(*args, **kwargs):
        try:
            return fn(*args, **kwargs)
        except LibetError as exc:
            fail(str(exc), getattr(exc, "hint", None))

    return wrapper
