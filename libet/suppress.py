"""Diagnostics control: per-line suppression comments for warnings, and warnings as errors.

Consumes: a :class:`~libet.spec.loader.Loaded` (its diagnostics and source texts).
Produces: the same with the suppressed warnings left out, and how many were.

A warning is suppressed by a comment on the line it points at::

    param unused = 0.5   # libet: ignore[W102]
    unused_var: bool     # libet: ignore[W102, W101]
    x: bool              # libet: ignore        (every warning on the line)

Errors are never suppressed: a spec with an error does not mean anything to check. A code in a
comment that is no warning code is named by ``libet check`` (``unknown_codes``), so a typo does
not silently suppress nothing. The comment is found in the source text, not by the parser, so
it works on any line.
"""

from __future__ import annotations

import re

import attrs

_COMMENT = re.compile(r"#\s*libet:\s*ignore(?:\[([A-Za-z0-9_,\s]*)\])?")


def is_suppression(comment: str) -> bool:
    """Whether ``comment`` (a ``# ...`` comment's text) is a suppression comment."""
    return _COMMENT.search(comment) is not None


def line_codes(text: str) -> dict[int, frozenset[str] | None]:
    """Per 1-based line: the codes its suppression comment names (None: every code)."""
    out: dict[int, frozenset[str] | None] = {}
    for i, line in enumerate(text.splitlines(), 1):
        if "libet:" not in line:
            continue
        m = _COMMENT.search(line)
        if not m:
            continue
        if m.group(1) is None:
            out[i] = None
        else:
            out[i] = frozenset(c.strip().upper() for c in m.group(1).split(",") if c.strip())
    return out


def unknown_codes(sources: dict[str, str]) -> list[tuple[str, int, str]]:
    """(file, line, code) for each code in a suppression comment that is no warning code."""
    from libet.spec.diagnostics import CODES

    bad = []
    for name, text in sources.items():
        for line, codes in line_codes(text).items():
            for c in sorted(codes or ()):
                if c not in CODES or not c.startswith("W"):
                    bad.append((name, line, c))
    return bad


def suppress(loaded):
    """``loaded`` without the warnings a suppression comment on their line names; returns
    ``(loaded, number suppressed)``."""
    tables = {name: line_codes(text) for name, text in (loaded.sources or {}).items()}
    kept, dropped = [], 0
    for d in loaded.diagnostics:
        if not d.is_error and d.span is not None:
            codes = tables.get(d.span.file, {}).get(d.span.line, ())
            if codes is None or (codes and d.code in codes):
                dropped += 1
                continue
        kept.append(d)
    if not dropped:
        return loaded, 0
    return attrs.evolve(loaded, diagnostics=tuple(kept)), dropped


def as_errors(loaded):
    """``loaded`` with every warning made an error (``--warnings-as-errors``): the spec is then
    not ok when it has a warning."""
    if not any(not d.is_error for d in loaded.diagnostics):
        return loaded
    ds = tuple(d if d.is_error else attrs.evolve(d, severity="error",
                                                 message=d.message + " (a warning, made an error by --warnings-as-errors)")
               for d in loaded.diagnostics)
    return attrs.evolve(loaded, diagnostics=ds)
