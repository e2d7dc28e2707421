"""Golden diagnostic tests, in the style of mypy's test data.

Each file in tests/data/diagnostics/ is a small spec whose offending lines carry the expected
diagnostic in a trailing comment::

    value v = topc == weapons     # error[E010]: undefined name 'topc'

The test loads the file and asserts that the diagnostics reported are exactly those annotated:
same line, severity, code and message, nothing missing and nothing extra. Read a data file to
review the messages a user will see.
"""

from __future__ import annotations

import pathlib
import re

import pytest

from libet.spec.loader import load_path

DATA = pathlib.Path(__file__).parent / "data" / "diagnostics"
ANNOTATION = re.compile(r"#\s*(error|warning)\[(\w+)\]: (.*)$")


def expected(path: pathlib.Path) -> set[tuple[int, str, str, str]]:
    out = set()
    for lineno, line in enumerate(path.read_text().splitlines(), start=1):
        m = ANNOTATION.search(line)
        if m:
            out.add((lineno, m.group(1), m.group(2), m.group(3).strip()))
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
