"""The parser's LALR(1) tables, computed once and shipped as JSON beside the grammar.

Consumes: the text of ``grammar.lark`` and the post-lexer the parser uses.
Produces: a ready :class:`lark.Lark` parser read from ``grammar.tables.json``, or None when
that file is missing, unreadable, or was computed from another grammar text or another Lark
version (the caller then builds the parser from the grammar, which is slower but the same).

Why: building the LALR tables from the grammar is most of what ``libet check`` costs on a
small file (about 0.16 s of 0.25 s on the development machine); reading them back takes about
0.02 s. Lark's own cache is a pickle, and loading a pickle runs code, which libet never does
on anything it reads (DESIGN.md §7); this file is JSON, read into tables and regular
expressions only. It is a build artefact of ``grammar.lark``, which stays the single source
of truth: the file records the SHA-256 of the grammar it was computed from and is ignored when
that does not match. Regenerate it after editing the grammar::

    make grammar        # = python -m libet.spec.lalr_tables

and tests/test_lalr_tables.py fails until you do.
"""

from __future__ import annotations

import hashlib
import json
import sys
from importlib import resources
from typing import Any

import lark
from lark import Lark
from lark.grammar import Rule
from lark.lexer import TerminalDef

#: The file beside grammar.lark in the libet.spec package.
TABLES = "grammar.tables.json"
#: Bump when the layout of the file changes.
FORMAT = 1
#: Lark options that are objects, not data: passed again when the tables are loaded.
_OBJECT_OPTIONS = ("postlex",)


def grammar_digest(grammar: str) -> str:
    return hashlib.sha256(grammar.encode("utf-8")).hexdigest()


def dumps(parser: Lark, grammar: str) -> str:
    """The JSON text of ``parser``'s tables, stamped with ``grammar``'s digest."""
    data, memo = parser.memo_serialize([TerminalDef, Rule])
    data["options"] = {k: v for k, v in data["options"].items() if k not in _OBJECT_OPTIONS}
    doc = {
        "format": FORMAT,
        "grammar_sha256": grammar_digest(grammar),
        "lark": lark.__version__,
        "data": _encode(data),
        "memo": _encode(memo),
    }
    return json.dumps(doc, separators=(",", ":"), sort_keys=True) + "\n"


def load(grammar: str, **objects: Any) -> Lark | None:
    """The parser read from the shipped tables, or None when they do not fit ``grammar``."""
    try:
        text = resources.files("libet.spec").joinpath(TABLES).read_text(encoding="utf-8")
        doc = json.loads(text, object_hook=_decode_ints)
    except (OSError, ValueError):
        return None
    if not (
        isinstance(doc, dict)
        and doc.get("format") == FORMAT
        and doc.get("grammar_sha256") == grammar_digest(grammar)
        and doc.get("lark") == lark.__version__
    ):
        return None
    try:
        return Lark._load_from_dict(doc["data"], doc["memo"], **objects)
    except Exception:  # noqa: BLE001 - a damaged file is a cache miss, never an error
        return None


def _encode(x: Any) -> Any:
    """JSON-ready ``x``: dicts keyed by ints (Lark's memo and parse states) are tagged."""
    if isinstance(x, dict):
        if all(isinstance(k, str) for k in x):
            return {k: _encode(v) for k, v in x.items()}
        if all(isinstance(k, int) for k in x):
            return {"#int": [[k, _encode(v)] for k, v in x.items()]}
        raise TypeError(f"a table keyed by {sorted({type(k).__name__ for k in x})} cannot be written as JSON")
    if isinstance(x, (list, tuple)):
        return [_encode(v) for v in x]
    if x is None or isinstance(x, (str, int, float, bool)):
        return x
    raise TypeError(f"a {type(x).__name__} in the parser tables cannot be written as JSON")


def _decode_ints(d: dict) -> dict:
    if len(d) == 1 and "#int" in d:
        return {k: v for k, v in d["#int"]}
    return d


def main() -> int:
    """Recompute the tables from grammar.lark and write them beside it."""
    from libet.files import write_atomic
    from libet.spec import parser

    grammar = parser.grammar_text()
    target = resources.files("libet.spec").joinpath(TABLES)
    write_atomic(str(target), dumps(parser.build_parser(grammar), grammar))
    print(f"wrote {target}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
