"""Shared pieces of the command-line interface: exit codes, loading, --set, JSON and output.

Consumes: command-line arguments.
Produces: loaded specs or a clean exit with code 2 and rendered diagnostics.

Every ``libet`` subcommand uses these, so bad input is handled the same way everywhere: the
diagnostics are printed with carets, the exit code is 2, and no traceback is ever shown.
"""

from __future__ import annotations

import os
import sys
from fractions import Fraction
from typing import TYPE_CHECKING, Any, Iterable, NoReturn

import click

from libet.errors import LibetError
from libet.files import json_text

if TYPE_CHECKING:  # pragma: no cover
    from libet.errors import EvaluationError
    from libet.spec.loader import Loaded

#: Exit codes (DESIGN.md §5).
EXIT_PROVED = 0
EXIT_VIOLATED = 1
EXIT_BAD_INPUT = 2
EXIT_UNKNOWN = 3


def use_color(stream=None) -> bool:
    """Colour only on a terminal, and never when NO_COLOR is set."""
    stream = stream or sys.stdout
    return hasattr(stream, "isatty") and stream.isatty() and "NO_COLOR" not in os.environ


#: Whether the command line asked for JSON (``--json`` anywhere before ``--``): then every
#: error, usage errors included, is one JSON object on stdout (:func:`emit_error`), with the
#: exit code unchanged. Set by ``libet.cli`` before click parses anything.
_JSON_MODE = False


def wants_json(args: Iterable[str]) -> bool:
    for a in args:
        if a == "--":
            return False
        if a == "--json":
            return True
    return False


#: ``libet --warnings-as-errors``: every warning left after suppression comments is an error.
_WERROR = False


def set_warnings_as_errors(flag: bool) -> None:
    global _WERROR
    _WERROR = bool(flag)


def controlled(loaded, warnings_as_errors: bool = False):
    """A loaded spec with its suppression comments applied (libet/suppress.py) and, with
    ``--warnings-as-errors``, its remaining warnings made errors."""
    from libet.suppress import as_errors, suppress

    loaded, _ = suppress(loaded)
    return as_errors(loaded) if (warnings_as_errors or _WERROR) else loaded


def set_json_mode(flag: bool) -> None:
    global _JSON_MODE
    _JSON_MODE = bool(flag)


def json_mode() -> bool:
    return _JSON_MODE


def error_object(message: str, hint: str | None = None, *, kind: str = "usage", exit_code: int = EXIT_BAD_INPUT,
                 diagnostics: list | None = None) -> dict:
    """The one JSON object every error is under ``--json``: ``ok`` false, the exit code, the
    error (its kind: usage, spec, internal; its message and hint) and, for a spec with errors,
    every diagnostic."""
    out: dict[str, Any] = {"ok": False, "exit_code": exit_code,
                           "error": {"kind": kind, "message": message, "hint": hint}}
    if diagnostics is not None:
        out["diagnostics"] = diagnostics
    return out


def emit_error(message: str, hint: str | None = None, **kw) -> None:
    emit_json(error_object(message, hint, **kw))


def interrupted() -> int:
    """Ctrl-C, said once (one JSON object under ``--json``); the exit code, 130."""
    if _JSON_MODE:
        emit_error("interrupted", exit_code=130)
    else:
        click.echo("interrupted", err=True)
    return 130


def internal_error(exc: BaseException) -> int:
    """A bug in libet, said as one: the exception's type and message, and how to see the
    traceback (one JSON object under ``--json``); the exit code, 70."""
    try:
        text = str(exc)
    except Exception:  # noqa: BLE001 - the message of a broken exception is not worth a second failure
        text = "(its message could not be read)"
    message = f"internal error: {type(exc).__name__}: {text}"
    hint = "This is a bug in libet, not in your spec. Set LIBET_DEBUG=1 to see the traceback."
    if _JSON_MODE:
        emit_error(message, hint, kind="internal", exit_code=70)
    else:
        click.echo(f"{message}\n{hint}", err=True)
    return 70


def fail(message: str, hint: str | None = None) -> NoReturn:
    """Print a usage error (as one JSON object under ``--json``) and exit with code 2."""
    if _JSON_MODE:
        emit_error(message, hint)
        sys.exit(EXIT_BAD_INPUT)
    text = f"error: {message}"
    if hint:
        text += f"\n  hint: {hint}"
    click.echo(text, err=True)
    sys.exit(EXIT_BAD_INPUT)


#: The texts of the files :func:`load_or_exit` read, for the caret of an error an engine finds
#: later in one of them (:func:`spec_error`).
_SOURCES: dict[str, str] = {}

#: What an engine's EvaluationError means, when the command says nothing more precise.
ENGINE_FOUND = ("found where the load's checks did not look (at other params, or past their budget); "
                "make the expression defined (and in range) there")


def spec_error(exc: "EvaluationError", hint: str = ENGINE_FOUND) -> NoReturn:
    """An expression of the spec with no value at a state an engine reached: the diagnostic
    (code, file:line:col, the line with a caret, the state), as the load's own errors are
    printed, and exit code 2."""
    from libet.spec.diagnostics import Diagnostic, render_all

    d = Diagnostic(exc.code, f"{exc.message} (at {exc.state})" if exc.state else exc.message, exc.span, hint=hint)
    if _JSON_MODE:
        emit_error(d.message, d.hint, kind="spec", diagnostics=[d.to_json()])
    else:
        click.echo(render_all([d], _SOURCES, color=use_color(sys.stderr)), err=True)
    sys.exit(EXIT_BAD_INPUT)


def load_or_exit(path: str, as_json: bool = False) -> "Loaded":
    """Load and check ``path``; on errors print every diagnostic and exit with code 2.

    Warnings are printed to stderr (as text) and the loaded spec is returned.
    """
    from libet.spec.diagnostics import render_all
    from libet.spec.loader import load_path

    as_json = as_json or _JSON_MODE
    loaded = controlled(load_path(path))
    _SOURCES.update(loaded.sources)
    if not loaded.ok:
        report(loaded, as_json)
        sys.exit(EXIT_BAD_INPUT)
    warnings = [d for d in loaded.diagnostics if not d.is_error]
    if warnings and not as_json:
        click.echo(render_all(warnings, loaded.sources, color=use_color(sys.stderr)), err=True)
    return loaded


def report(loaded: "Loaded", as_json: bool) -> None:
    """Print a spec's diagnostics: rendered with carets on stderr, or as one JSON object."""
    from libet.spec.diagnostics import render_all

    if as_json:
        errors = [d for d in loaded.diagnostics if d.is_error]
        first = errors[0] if errors else None
        where = f"{first.span}: " if first is not None and first.span else ""
        message = f"the spec has {len(errors)} error(s); first: {where}{first.message}" if first else "the spec has errors"
        emit_error(message, getattr(first, "hint", None), kind="spec",
                   diagnostics=[d.to_json() for d in loaded.diagnostics])
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


#: Where the results go when not to ``sys.stdout``: ``libet test``'s child points its stdout at
#: stderr, so that the implementation under test cannot write into them (libet/testing/isolation.py).
_RESULTS = None


def set_results_stream(stream) -> None:
    global _RESULTS
    _RESULTS = stream


def echo_result(text: str, nl: bool = True) -> None:
    """A line of the results (not a message): to the results' stream."""
    click.echo(text, nl=nl, file=_RESULTS)


def emit_json(obj) -> None:
    echo_result(json_text(obj))


def guard(fn):
    """Decorator for commands: a LibetError becomes a message and exit code 2, never a traceback
    (an EvaluationError a diagnostic with its caret, :func:`spec_error`)."""
    import functools

    from libet.errors import EvaluationError

    @functools.wraps(fn)
    def wrapper(*args, **kwargs):
        try:
            return fn(*args, **kwargs)
        except EvaluationError as exc:
            spec_error(exc)
        except LibetError as exc:
            fail(str(exc), getattr(exc, "hint", None))

    return wrapper
