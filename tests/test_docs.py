"""The documentation cannot rot: every libet block in docs/reference.md and docs/tutorial.md
is checked, the diagnostics table lists every code with a trigger that produces it, and every
example spec checks clean.

Convention for fenced blocks marked ```libet (documented at the top of docs/reference.md): the
first line of the block says what it is.

    # complete                a whole spec; it must load with no diagnostic at all
    # complete, warns W102    a whole spec; it loads, and its warnings are exactly those listed
    # error E021              a whole spec that must be rejected with exactly these error codes
    # fragment                a piece of a larger spec, shown for its syntax; not checked

A libet block without one of these first lines fails the test, so nothing is left unchecked
by accident. Blocks are loaded as if they were files in examples/, so `use "values/common.libet"`
resolves to the examples' shared values.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

import libet
from libet.spec.diagnostics import CODES
from libet.spec.loader import load_path, load_text

ROOT = Path(__file__).resolve().parent.parent
DOCS = [ROOT / "docs" / "reference.md", ROOT / "docs" / "tutorial.md"]
EXAMPLES = ROOT / "examples"

_FENCE = re.compile(r"^```libet[ \t]*\n(.*?)^```[ \t]*$", re.S | re.M)
_MARK = re.compile(r"#\s*(complete|error|fragment)\b(?:\s*,?\s*warns)?\s*(.*)$")


def _blocks():
    out = []
    for doc in DOCS:
        if not doc.exists():
            continue
        text = doc.read_text(encoding="utf-8")
        for m in _FENCE.finditer(text):
            line = text.count("\n", 0, m.start()) + 1
            out.append(pytest.param(m.group(1), id=f"{doc.name}:{line}"))
    return out


def _codes(rest: str) -> set[str]:
    return set(re.findall(r"\b[EW]\d{3}\b", rest))


@pytest.mark.parametrize("source", _blocks())
def test_doc_block(source: str):
    first = source.split("\n", 1)[0].strip()
    m = _MARK.fullmatch(first)
    assert m, f"a libet block must start with '# complete', '# error CODE' or '# fragment', not {first!r}"
    kind, rest = m.group(1), m.group(2)
    if kind == "fragment":
        return
    loaded = load_text(source, str(EXAMPLES / "doc_block.libet"))
    errors = {d.code for d in loaded.diagnostics if d.is_error}
    warnings = {d.code for d in loaded.diagnostics if not d.is_error}
    shown = "\n".join(f"{d.code}: {d.message}" for d in loaded.diagnostics)
    if kind == "complete":
        assert loaded.ok, f"the block should load but has errors:\n{shown}"
        assert warnings == _codes(rest), f"expected warnings {sorted(_codes(rest))}, got:\n{shown}"
        # The public API agrees.
        libet.loads(source, str(EXAMPLES / "doc_block.libet"))
    else:
        want = _codes(rest)
        assert want, "an '# error' block must name the codes it expects"
        assert not loaded.ok and errors == want, f"expected errors {sorted(want)}, got:\n{shown}"


def test_docs_exist_and_have_blocks():
    for doc in DOCS:
        assert doc.exists(), f"{doc} is missing"
    assert len(_blocks()) >= 10


# ---- the diagnostics table of docs/reference.md ------------------------------------------------

_ROW = re.compile(r"^\| `([EW]\d{3})` \| ([^|]*) \| (.*) \|\s*$", re.M)


def _table() -> dict[str, tuple[str, str]]:
    text = (ROOT / "docs" / "reference.md").read_text(encoding="utf-8")
    return {m.group(1): (m.group(2).strip(), m.group(3).strip()) for m in _ROW.finditer(text)}


def test_table_lists_every_code():
    table = _table()
    assert set(table) == set(CODES), (
        f"docs/reference.md section 12 is out of date: missing {sorted(set(CODES) - set(table))}, "
        f"unknown {sorted(set(table) - set(CODES))}"
    )
    for code, (meaning, _) in table.items():
        assert meaning == CODES[code], f"{code}: the table says {meaning!r}, CODES says {CODES[code]!r}"


# Codes whose trigger cannot be written as one line of source: the test builds the input.
_SPECIAL = {"E002", "E003", "E004"}


@pytest.mark.parametrize("code", sorted(set(_table()) - _SPECIAL))
def test_table_trigger(code: str):
    _, trigger = _table()[code]
    m = re.fullmatch(r"`([^`]*)`", trigger)
    assert m, f"{code}: the trigger should be one line of spec source in backticks, not {trigger!r}"
    loaded = load_text(m.group(1), str(EXAMPLES / "doc_block.libet"))
    got = [d.code for d in loaded.diagnostics]
    assert code in got, f"{code}: the trigger {m.group(1)!r} produced {got}"


def test_special_triggers(tmp_path):
    def codes(path):
        return [d.code for d in load_path(path).diagnostics]

    # E002: missing, not UTF-8, too large.
    assert "E002" in codes(tmp_path / "missing.libet")
    bad = tmp_path / "latin1.libet"
    bad.write_bytes(b"substance { caf\xe9: bool }\n")
    assert "E002" in codes(bad)
    big = tmp_path / "big.libet"
    big.write_text("# padding\n" * 500_000)
    assert "E002" in codes(big)
    # E003: nesting deeper than the parser accepts.
    deep = tmp_path / "deep.libet"
    deep.write_text("def d = " + "(" * 200 + "1" + ")" * 200 + "\n")
    assert "E003" in codes(deep)
    # E004: nothing declared.
    for text in ("", "# only a comment\n"):
        empty = tmp_path / "empty.libet"
        empty.write_text(text)
        assert "E004" in codes(empty)


# ---- the examples ---------------------------------------------------------------------------------


def _examples():
    return sorted(EXAMPLES.glob("*.libet")) + sorted((EXAMPLES / "values").glob("*.libet"))


@pytest.mark.parametrize("path", _examples(), ids=lambda p: str(p.relative_to(EXAMPLES)))
def test_example_checks_clean(path: Path):
    loaded = load_path(path)
    shown = "\n".join(f"{d.span}: {d.code}: {d.message}" for d in loaded.diagnostics)
    assert loaded.ok and not loaded.diagnostics, f"{path.name} should check with no diagnostics:\n{shown}"
