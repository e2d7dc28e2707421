"""The shipped LALR tables (spec/grammar.tables.json) are the grammar's: same digest, and the
parser read from them parses and rejects exactly as the parser built from grammar.lark."""

from __future__ import annotations

import glob
import json
import os

import lark
import pytest

from libet.spec import lalr_tables, parser

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
EXAMPLES = sorted(glob.glob(os.path.join(ROOT, "examples", "**", "*.libet"), recursive=True))


def shipped() -> dict:
    path = os.path.join(ROOT, "spec", lalr_tables.TABLES)
    with open(path, encoding="utf-8") as f:
        return json.load(f)


def test_tables_are_computed_from_this_grammar():
    doc = shipped()
    assert doc["grammar_sha256"] == lalr_tables.grammar_digest(parser.grammar_text()), (
        "spec/grammar.tables.json is stale: run `make grammar` after editing spec/grammar.lark"
    )


def test_loaded_parser_parses_like_the_built_one():
    grammar = parser.grammar_text()
    loaded = lalr_tables.load(grammar, postlex=parser._WholeWords())
    built = parser.build_parser(grammar)
    if shipped()["lark"] != lark.__version__:
        # Tables from another Lark version are not trusted: the loader refuses them and the
        # parser is built from the grammar instead.
        assert loaded is None
        return
    assert loaded is not None
    assert EXAMPLES
    for path in EXAMPLES:
        with open(path, encoding="utf-8") as f:
            text = f.read()
        assert loaded.parse(text) == built.parse(text), path
    for bad in ('spec "x"\n vetoo', 'spec "x"\npolicy p { veto when }', "substance { a: 0.. }"):
        with pytest.raises(lark.exceptions.UnexpectedInput) as from_tables:
            loaded.parse(bad)
        with pytest.raises(lark.exceptions.UnexpectedInput) as from_grammar:
            built.parse(bad)
        a, b = from_tables.value, from_grammar.value
        assert (type(a), a.line, a.column) == (type(b), b.line, b.column)
        assert set(getattr(a, "expected", ()) or ()) == set(getattr(b, "expected", ()) or ())


def test_tables_for_another_grammar_are_ignored():
    assert lalr_tables.load(parser.grammar_text() + "\n// edited\n", postlex=parser._WholeWords()) is None


def test_round_trip_of_int_keyed_tables():
    tables = {"states": {0: {"A": [0, 1]}, 7: {}}, "names": ["x", (1, 2)]}
    text = json.dumps(lalr_tables._encode(tables))
    assert json.loads(text, object_hook=lalr_tables._decode_ints) == {
        "states": {0: {"A": [0, 1]}, 7: {}},
        "names": ["x", [1, 2]],
    }
