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


def _nodes(tree) -> list[tuple]:
    """Every node of a parse tree in pre-order with its positions (``Tree.__eq__`` compares
    data and children only, not positions)."""
    out = []
    stack = [tree]
    while stack:
        node = stack.pop()
        if isinstance(node, lark.Tree):
            m = node.meta
            where = tuple(getattr(m, k, None) for k in ("line", "column", "end_line", "end_column", "start_pos", "end_pos"))
            out.append((node.data, len(node.children)) + where)
            stack.extend(reversed(node.children))
        else:
            out.append((node.type, str(node), node.line, node.column, node.end_line, node.end_column))
    return out


#: Every level of the precedence chain, alone and nested, with positions that differ per level.
CHAIN = """spec "every level"
substance { topic: {a, b}  n: 0..3 }
param k = 0.5
def d = if n > 1 then -n * 2 + 1 else (n - 1) / 2
value ok = not (topic == b) or topic in {a} implies n <= 2 and max(n, 1) >= 1
trajectory {
  horizon 4
  start s
  phase s { -> s : k * exp(-0.1 * depth)  -> stop : otherwise }
}
policy p { veto when violates ok and depth < 2 with strength 1 - k }
"""


def test_unit_rules_pass_their_child_through():
    grammar = parser.grammar_text()
    plain = parser.build_parser(grammar)
    fast = parser.build_parser(grammar)
    # the chain expr, ite, implies, or_, and_, not_ (two), compare, sum, product, neg, atom
    assert parser.pass_units_through(fast) == 12
    assert EXAMPLES
    for path in EXAMPLES:
        with open(path, encoding="utf-8") as f:
            text = f.read()
        assert _nodes(fast.parse(text)) == _nodes(plain.parse(text)), path
    shown = _nodes(fast.parse(CHAIN))
    assert shown == _nodes(plain.parse(CHAIN))
    line = CHAIN.split("\n")[3]
    col = line.index("-n") + 1
    start = CHAIN.index(line) + col - 1
    assert ("neg", 1, 4, col, 4, col + 2, start, start + 2) in shown  # `-n` keeps its own positions
    # what the parser of the front end uses
    assert parser.lark_parser().parser.parser.parser.callbacks is not plain.parser.parser.parser.callbacks


def test_a_parser_laid_out_otherwise_is_left_alone():
    class Other:  # a Lark whose front end has no LALR callbacks where this version keeps them
        parser = None

    assert parser.pass_units_through(Other()) == 0
