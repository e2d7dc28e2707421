"""Golden diagnostic tests, in the style of mypy's test data.

Each file in tests/data/diagnostics/ is a small spec whose offending lines carry the expected
diagnostic in a trailing comment::

    value v = topc == weapons     # error[E010]: undefined name 'topc'

The test loads the file and asserts that the diagnostics reported are exactly those annotated:
same line, severity, code and message, nothing missing and nothing extra. A line holding only a
comment ``# hint: ...`` asserts the hint of the diagnostic annotated on the line above it (and
``# hint: none`` that it has none); diagnostics without such a line may have any hint. Read a
data file to review the messages (and hints) a user will see.
"""

from __future__ import annotations

import pathlib
import re

import pytest

from libet.spec.loader import load_path

DATA = pathlib.Path(__file__).parent / "data" / "diagnostics"
ANNOTATION = re.compile(r"#\s*(error|warning)\[(\w+)\]: (.*)$")
HINT = re.compile(r"^\s*#\s*hint: (.*)$")


def expected(path: pathlib.Path) -> set[tuple[int, str, str, str]]:
    out = set()
    for lineno, line in enumerate(path.read_text().splitlines(), start=1):
        m = ANNOTATION.search(line)
        if m:
            out.add((lineno, m.group(1), m.group(2), m.group(3).strip()))
    return out


def expected_hints(path: pathlib.Path) -> dict[tuple[int, str], str | None]:
    """(line, code) of an annotated diagnostic -> its hint, from ``# hint:`` lines below it."""
    out = {}
    lines = path.read_text().splitlines()
    for lineno, line in enumerate(lines, start=1):
        h = HINT.match(line)
        if h:
            above = ANNOTATION.search(lines[lineno - 2]) if lineno >= 2 else None
            assert above, f"{path.name}:{lineno}: a '# hint:' line must follow an annotated line"
            out[(lineno - 1, above.group(2))] = None if h.group(1).strip() == "none" else h.group(1).strip()
    return out


@pytest.mark.parametrize("path", sorted(DATA.glob("*.libet")), ids=lambda p: p.stem)
def test_golden_diagnostics(path):
    want = expected(path)
    assert want, f"{path.name} has no annotations"
    loaded = load_path(str(path))
    got = {(d.span.line, d.severity, d.code, d.message) for d in loaded.diagnostics}
    assert got == want, "\nmissing: " + repr(sorted(want - got)) + "\nunexpected: " + repr(sorted(got - want))
    for d in loaded.diagnostics:
        assert d.span.file == str(path) and d.span.col >= 1
    hints = {(d.span.line, d.code): d.hint for d in loaded.diagnostics}
    for key, hint in expected_hints(path).items():
        assert hints[key] == hint, f"line {key[0]} {key[1]}: hint {hints[key]!r}, expected {hint!r}"
