"""Diagnostics: records of what is wrong with a spec, collected (never raised) and rendered.

Consumes: spans and codes from the parser and the checker.
Produces: :class:`Diagnostic` records, rendered as text (file:line:col, the source line, a
caret under the span, the code, the message and a hint) or as JSON-ready dicts.

Every code is registered in :data:`CODES` with a one-line summary; docs/reference.md lists them.
A code never changes meaning once released, so scripts can match on it.
"""

from __future__ import annotations

import difflib
from typing import Iterable, Sequence

import attrs

from libet.spec.ir import Span

#: Every diagnostic code, with what it means. Errors are E..., warnings W...
CODES: dict[str, str] = {
    "E001": "syntax error",
    "E002": "the file cannot be read (missing, not UTF-8, or too large)",
    "E003": "expression nested too deeply",
    "E004": "the spec is empty",
    "E010": "undefined name",
    "E011": "duplicate name",
    "E012": "reserved word used as a name",
    "E013": "unknown function or wrong number of arguments",
    "E020": "type error",
    "E021": "literal outside the variable's domain",
    "E022": "empty or malformed domain",
    "E023": "bad number (range, weight or count)",
    "E030": "a reference value reads something other than substance",
    "E031": "definitions refer to each other in a cycle",
    "E040": "malformed trajectory",
    "E041": "transition probability outside [0, 1] or not summing to 1",
    "E042": "veto strength outside [0, 1]",
    "E043": "start depth outside 0..horizon",
    "E044": "an expression has no value at some state (division by zero, log of a non-positive)",
    "E050": "malformed check",
    "E060": "malformed experiment",
    "E061": "experiment or quantitative check on a trajectory without a horizon",
    "E062": "malformed measure (E(...) of something other than an accumulated quantity, `visit` without a trajectory)",
    "E070": "import error (missing file, cycle, or a declaration a used file may not hold)",
    "E080": "malformed data file (unknown or missing column, bad row, mixed likelihoods)",
    "E081": "a data value out of range (outside a variable's domain or a param's range, a rate outside [0, 1], successes above n)",
    "E093": "a state update gives a value outside its variable's domain",
    "E094": "a state update reads something other than state variables, params and literals",
    "E095": "a state variable updated twice in one step, or chosen twice in one phase",
    "E096": "a choice point with no options, or an option listed twice",
    "E097": "a measure or check in an MDP without its case over adversaries (Pmax, Pmin)",
    "E098": "a conditional measure over adversaries",
    "W101": "unreachable phase",
    "W102": "unused declaration",
    "W103": "probability check skipped: the state space is too large to enumerate",
    "W104": "policy has no rules",
    "W105": "a measure names an event that can never happen (the measure is 0, or undefined if it is the condition)",
    "W106": "a refusal goes on while reaching the horizon delivers",
    "W107": "state updates on a step that ends the trajectory",
    "W108": "computed reals compared with == or !=: double precision and exact rationals can disagree",
}


@attrs.frozen(slots=True)
class Note:
    """A secondary location, e.g. where a duplicate name was first declared."""

    message: str
    span: Span | None = None


@attrs.frozen(slots=True)
class Diagnostic:
    """One finding. ``severity`` is ``"error"`` or ``"warning"``."""

    code: str
    message: str
    span: Span | None
    hint: str | None = None
    severity: str = "error"
    notes: tuple[Note, ...] = ()

    def __attrs_post_init__(self):
        if self.code not in CODES:  # pragma: no cover - a programming error in libet
            raise ValueError(f"unregistered diagnostic code {self.code}")

    @property
    def is_error(self) -> bool:
        return self.severity == "error"

    def to_json(self) -> dict:
        def loc(span):
            if span is None:
                return None
            return {
                "file": span.file,
                "line": span.line,
                "col": span.col,
                "end_line": span.end_line,
                "end_col": span.end_col,
            }

        return {
            "severity": self.severity,
            "code": self.code,
            "message": self.message,
            "hint": self.hint,
            "location": loc(self.span),
            "notes": [{"message": n.message, "location": loc(n.span)} for n in self.notes],
        }


class Diagnostics:
    """A collector: passes append to it; nothing is raised until the caller decides."""

    def __init__(self):
        self.items: list[Diagnostic] = []

    def error(self, code: str, message: str, span: Span | None, hint: str | None = None, notes=()):
        self.items.append(Diagnostic(code, message, span, hint, "error", tuple(notes)))

    def warning(self, code: str, message: str, span: Span | None, hint: str | None = None, notes=()):
        self.items.append(Diagnostic(code, message, span, hint, "warning", tuple(notes)))

    @property
    def has_errors(self) -> bool:
        return any(d.is_error for d in self.items)

    def sorted(self) -> list[Diagnostic]:
        def key(d: Diagnostic):
            s = d.span
            return (s.file, s.line, s.col) if s else ("", 0, 0)

        return sorted(self.items, key=key)


def did_you_mean(name: str, candidates: Iterable[str]) -> str | None:
    """A hint naming the closest candidate, or None when nothing is close (or ``name`` is no
    text: the API's `experiment(None)` reached difflib)."""
    if not isinstance(name, str):
        return None
    close = difflib.get_close_matches(name, list(candidates), n=1, cutoff=0.6)
    return f"did you mean '{close[0]}'?" if close else None


# ---- rendering -----------------------------------------------------------------------------

_COLORS = {"error": "\x1b[1;31m", "warning": "\x1b[1;33m", "note": "\x1b[1;36m"}
_RESET = "\x1b[0m"
_BOLD = "\x1b[1m"


def render(d: Diagnostic, sources: dict[str, str], color: bool = False) -> str:
    """``file:line:col: severity[code]: message``, the source line, a caret, hint and notes."""
    return _render(d, sources, color, {})


def _render(d: Diagnostic, sources: dict[str, str], color: bool, split: dict[str, list[str]]) -> str:
    """:func:`render`, with each source's lines split once into ``split`` for many diagnostics."""

    def paint(text, style):
        return f"{_COLORS.get(style, _BOLD)}{text}{_RESET}" if color else text

    where = f"{d.span}: " if d.span else ""
    lines = [f"{paint(where, 'bold') if where else ''}{paint(d.severity, d.severity)}[{d.code}]: {d.message}"]
    lines += _excerpt(d.span, sources, paint, d.severity, split)
    if d.hint:
        lines.append(f"  {paint('hint', 'note')}: {d.hint}")
    for n in d.notes:
        lines.append(f"  {paint('note', 'note')}: {n.span}: {n.message}" if n.span else f"  note: {n.message}")
    return "\n".join(lines)


def _excerpt(span: Span | None, sources: dict[str, str], paint, severity, split: dict[str, list[str]]) -> list[str]:
    if span is None or span.file not in sources:
        return []
    src_lines = split.get(span.file)
    if src_lines is None:
        src_lines = split[span.file] = sources[span.file].split("\n")
    if not (1 <= span.line <= len(src_lines)):
        return []
    line = src_lines[span.line - 1].rstrip("\r")
    # a tab is shown as one space (the caret's column counts it as one character)
    if len(line) > 160:  # keep a long (or binary) line readable: show a window around the span
        start = max(0, span.col - 60)
        shown = ("..." if start else "") + line[start : start + 120].replace("\t", " ") + "..."
        col = span.col - start + (3 if start else 0)
    else:
        shown = line.replace("\t", " ")
        col = span.col
    width = span.end_col - span.col if span.end_line == span.line else len(line) - span.col + 1
    width = max(1, min(width, max(1, len(shown) - col + 1)))
    gutter = f"{span.line:>5} | "
    caret = " " * (len(gutter) - 2) + "| " + " " * (col - 1) + paint("^" + "~" * (width - 1), severity)
    return [gutter + shown, caret]


def render_all(diags: Sequence[Diagnostic], sources: dict[str, str], color: bool = False) -> str:
    split: dict[str, list[str]] = {}
    out = [_render(d, sources, color, split) for d in diags]
    errors = sum(d.is_error for d in diags)
    warnings = len(diags) - errors
    if diags:
        out.append(f"{errors} error(s), {warnings} warning(s)")
    return "\n".join(out)
