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

from libet.errors import LibetError
from libet.files import json_default
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
    """``--set NAME=VALUE`` options into (param overrides, variable settings), through the one
    validation (spec/overrides.py).

    Raises:
        UsageError: for an unknown name, a malformed item, or a value outside the domain/range.
    """
    from libet.spec.overrides import parse_sets as parse

    return parse(spec, items)


def emit_json(obj) -> None:
    click.echo(json.dumps(obj, indent=2, default=json_default))


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
