"""spec/lalr_run.py's loop parses exactly as Lark does: the same trees with the same positions
and token types on every example, a long generated spec and generated specs; and on texts
Lark rejects, Lark's own exception, because the loop hands those back to Lark. What it builds
in its reductions (Driver.build) is what a walk over Lark's tree builds: the same nodes, spans
and depth, on a toy grammar of other shapes and as libet's AST on every example."""

from __future__ import annotations

import os
import sys

import lark
import pytest
import strategies
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from test_lalr_tables import CHAIN, EXAMPLES

from libet.spec import lalr_run, parser

sys.path.insert(0, os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "benchmarks"))
from gen_spec import generate  # noqa: E402


@pytest.fixture(scope="module")
def both():
    """(Lark's parse, the loop's parse) of the front end's parser."""
    lark_parser = parser.lark_parser()
    driver = lalr_run.driver(lark_parser)
    assert driver is not None, "the loop does not fit this Lark: spec/lalr_run.py's driver() said no"
    return lark_parser.parse, driver.parse


#: Every position Lark keeps on a node: its own, and its container's (which includes the
#: tokens and inlined rules the tree leaves out, and which the parent's positions come from).
WHERE = ("empty", "line", "column", "end_line", "end_column", "start_pos", "end_pos", "container_line",
         "container_column", "container_start_pos", "container_end_line", "container_end_column",
         "container_end_pos")


def _nodes(tree) -> list[tuple]:
    """Every node in pre-order: a subtree's name, its number of children and every position
    attribute (``Tree.__eq__`` compares names and children only); a token's type, text and
    positions."""
    out = []
    stack = [tree]
    while stack:
        node = stack.pop()
        if isinstance(node, lark.Tree):
            out.append((node.data, len(node.children)) + tuple(getattr(node.meta, k, None) for k in WHERE))
            stack.extend(reversed(node.children))
        else:
            out.append((type(node).__name__, node.type, str(node), node.start_pos, node.line, node.column,
                        node.end_line, node.end_column, node.end_pos))
    return out


def outcome(parse, text):
    """What parsing ``text`` gives: every node with its positions, or the error's essentials."""
    try:
        return ("tree", _nodes(parse(text)))
    except lark.exceptions.UnexpectedInput as e:
        expected = getattr(e, "expected", None) or getattr(e, "allowed", None) or ()
        token = getattr(e, "token", None)
        kind = getattr(token, "type", None)
        return ("error", type(e).__name__, e.line, e.column, sorted(expected), str(token), kind)


def test_examples_parse_as_lark_parses_them(both):
    lark_parse, loop_parse = both
    assert EXAMPLES
    for path in EXAMPLES:
        with open(path, encoding="utf-8") as f:
            text = f.read()
        assert outcome(loop_parse, text) == outcome(lark_parse, text), path
    assert outcome(loop_parse, CHAIN) == outcome(lark_parse, CHAIN)


def test_a_long_spec_parses_as_lark_parses_it(both):
    lark_parse, loop_parse = both
    text = generate(2000)
    got = outcome(loop_parse, text)
    assert got[0] == "tree" and len(got[1]) > 10_000
    assert got == outcome(lark_parse, text)


@pytest.mark.parametrize(
    "text",
    [
        "",  # nothing but the end
        "   # only a comment\n\n",
        'spec "x"',
        'spec "x"   # a comment at the very end',
        'spec "x"\n\n\n  ',  # blanks at the end, after the last token
        'spec "x"\r\n\n\t use "y"',  # lines counted through the ignored blanks
        'spec "multi\nline"',  # a string does not span lines: an error in both
    ],
)
def test_edges_of_the_text(both, text):
    lark_parse, loop_parse = both
    assert outcome(loop_parse, text) == outcome(lark_parse, text)


@pytest.mark.parametrize(
    "text",
    [
        'spec "x"\n vetoo',  # a word no state takes
        'spec "x"\npolicy p { veto when }',  # a token the table has no action for
        "substance { a: 0.. }",
        'spec "x" &',  # a character no lexer matches
        "policy p { veto when a ==",  # the end too early
        'spec "unclosed',
    ],
)
def test_rejected_texts_raise_what_lark_raises(both, text):
    lark_parse, loop_parse = both
    got = outcome(loop_parse, text)
    assert got[0] == "error"
    assert got == outcome(lark_parse, text)
    with pytest.raises(lark.exceptions.UnexpectedInput) as e:
        loop_parse(text)
    if isinstance(e.value, lark.exceptions.UnexpectedToken):
        # the syntax hints read the parser's stack from it (spec/parser.py's _stack)
        assert e.value.interactive_parser is not None


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(strategies.specs(max_horizon=4), st.data())
def test_generated_and_mutated_specs(both, text, data):
    """Generated specs, and each with a slice cut out, repeated or replaced by a token of the
    language: the loop and Lark agree, tree for tree or error for error."""
    lark_parse, loop_parse = both
    assert outcome(loop_parse, text)[0] == "tree"
    assert outcome(loop_parse, text) == outcome(lark_parse, text)
    i = data.draw(st.integers(0, len(text)), label="at")
    j = data.draw(st.integers(i, min(len(text), i + 12)), label="to")
    piece = data.draw(st.sampled_from(["", text[i:j] * 2, " ", "\n", "(", ")", "{", "}", "->", "veto", "and",
                                       "not", "1.5", "x", '"s"', "#", "..", "==", "-", "then"]), label="with")
    mutated = text[:i] + piece + text[j:]
    assert outcome(loop_parse, mutated) == outcome(lark_parse, mutated)


def test_every_builder_is_flattened():
    """Each of the grammar's rules is built by the loop's one function, or passes its child
    through, so a change of Lark's chain of wrappers shows here rather than as a slower parse."""
    driver = lalr_run.driver(parser.lark_parser())
    codes = {}
    for acts in driver._actions.values():
        for code, arg in acts.values():
            if code == lalr_run._REDUCE:
                codes[id(arg)] = arg[2].__qualname__
    assert codes and set(codes.values()) == {"_flat_builder.<locals>.flat"}


def test_keywords_are_retyped_by_one_lookup():
    """A name that spells a keyword is retyped by a dict lookup in every state the examples
    reach, not by Lark's scan of each keyword's expression (so a change in Lark shows here)."""
    driver = lalr_run.driver(parser.lark_parser())
    for path in EXAMPLES:
        with open(path, encoding="utf-8") as f:
            driver.parse(f.read())
    kinds = {f.__qualname__ for _, callbacks, _, _ in driver._scans.values() for f in callbacks.values()}
    assert kinds == {"_retyper.<locals>.retype"}


@pytest.mark.parametrize("text", ["let x", "LET x", "Let let", "lets x", "x"])
def test_a_keyword_with_flags_keeps_lark_s_retyping(text):
    grammar = 'start: item*\n?item: kw | NAME\n!kw: "let"i NAME\nNAME: /[a-zA-Z]+/\n%ignore " "'
    toy = lark.Lark(grammar, parser="lalr", lexer="contextual", propagate_positions=True, maybe_placeholders=False)
    driver = lalr_run.driver(toy)
    assert outcome(driver.parse, text) == outcome(toy.parse, text)
    kept = {type(f).__name__ for _, callbacks, _, _ in driver._scans.values() for f in callbacks.values()}
    assert kept == {"UnlessCallback"}



def _skips_blanks(driver) -> set[bool]:
    """For each state the driver has lexed in: whether its scanner skips blanks itself."""
    return {m.__self__.pattern.startswith(lalr_run._SKIP) for matches, *_ in driver._scans.values() for m in matches}


def test_libet_s_scanners_skip_the_blanks_before_a_token(both):
    driver = lalr_run.driver(parser.lark_parser())
    for path in EXAMPLES:
        with open(path, encoding="utf-8") as f:
            driver.parse(f.read())
    assert _skips_blanks(driver) == {True}


@pytest.mark.parametrize(
    ("pattern", "may"),
    [
        (r"-?[0-9]+", False), (r"#[^\n]*", False), (r"(substance|framing)(?![a-z])", False), (r"\w+", False),
        (r"(?:x|y)*z", False), (r" ?x", True), (r"x?\ty", True), (r"[^a]", True), (r"\s+", True),
        (r"(?:a|\ b)", True), (r".", True), (r"[\x00-\x7f]", True), (r"(?=a)b", False),
    ],
)
def test_which_patterns_may_begin_with_a_blank(pattern, may):
    assert lalr_run._may_begin_with(pattern, lalr_run._BLANKS) is may


#: A terminal that begins with a blank: a state that may lex it must lex blanks as Lark does.
BLANK_LED = r"""
start: item*
?item: NAME | INDENTED | "[" NAME* "]"
NAME: /[a-z]+/
INDENTED: /\t[0-9]+/
%ignore /[ \t\f\r\n]+/
"""


@pytest.mark.parametrize("text", ["a  b", "a\t1", "a \t1 b", "[ a  b ]", "a  ", "  ", "a \t", "a  !", "[\t2]"])
def test_a_terminal_that_begins_with_a_blank_keeps_lark_s_lexing(text):
    toy = lark.Lark(BLANK_LED, parser="lalr", lexer="contextual", propagate_positions=True,
                    maybe_placeholders=False)
    driver = lalr_run.driver(toy)
    assert outcome(driver.parse, text) == outcome(toy.parse, text)
    # a state whose scanner may lex INDENTED lexes blanks one by one; inside brackets it skips
    for matches, *_ in driver._scans.values():
        pattern = matches[0].__self__.pattern
        assert pattern.startswith(lalr_run._SKIP) is ("INDENTED" not in pattern)


#: A grammar with what libet's does not have: a single child passed up with the tokens around
#: it (its container grows past its own positions), over several lines, and kept tokens.
TOY = r"""
start: item*
?item: "(" item ")" | pair | NAME | kw
pair: NAME "=" _value
_value: NUMBER | "[" NAME* "]"
!kw: "let" NAME
NAME: /[a-z]+/
NUMBER: /[0-9]+/
%ignore /\s+/
"""


@pytest.mark.parametrize(
    "text",
    [
        "a",
        "(a)",
        "((\n a\n )\n)",
        "(x = [a b\n c])",
        "(let\n (q)) z = 1 (\n(b = 2)\n)",
        "(x = 1\n)",  # the container ends a line below the node
        "(\n x = 1)",  # ... and starts a line above it
        "z (\n\n let q)",
        "\n(  (let y\n )\n\n)",
        "",
    ],
)
def test_a_grammar_with_other_shapes_parses_as_lark_parses_it(text):
    toy = lark.Lark(TOY, parser="lalr", lexer="contextual", propagate_positions=True,
                    maybe_placeholders=False)
    driver = lalr_run.driver(toy)
    assert driver is not None
    assert outcome(driver.parse, text) == outcome(toy.parse, text)


def test_a_builder_of_another_shape_is_kept():
    def build(children):
        return children

    assert lalr_run._flat_builder(build) is None


def test_unit_chains_are_kept_and_reused(both):
    _, loop_parse = both
    driver = lalr_run.driver(parser.lark_parser())
    driver.parse(CHAIN)
    chains = dict(driver._units)
    assert chains  # the precedence chain was climbed in one step at least once
    driver.parse(CHAIN)
    assert driver._units == chains  # a second parse found every chain it needed kept


def test_a_table_the_loop_does_not_expect_hands_the_text_to_lark(both):
    """A goto missing from the table (the loop's KeyError) is not a crash: Lark parses."""
    lark_parse, _ = both
    driver = lalr_run.driver(parser.lark_parser())
    for acts in driver._actions.values():
        acts.pop("expr", None)
    assert outcome(driver.parse, CHAIN) == outcome(lark_parse, CHAIN)


def test_a_lark_laid_out_otherwise_gets_no_loop():
    class Other:  # no LALR front end where this Lark version keeps it
        parser = None

    assert lalr_run.driver(Other()) is None


def test_a_post_lexer_that_may_change_tokens_gets_no_loop():
    class Rewrites:  # does not declare passes_tokens_through: the loop could not run it
        always_accept = ("NAME",)

        def process(self, stream):
            for t in stream:
                yield t

    built = lark.Lark(parser.grammar_text(), parser="lalr", lexer="contextual", propagate_positions=True,
                      maybe_placeholders=False, postlex=Rewrites())
    assert lalr_run.driver(built) is None
    plain = parser.build_parser(parser.grammar_text())  # with the front end's post-lexer
    assert lalr_run.driver(plain) is not None


# ---- Driver.build: the values built in the reductions ------------------------------------------


def _as_built(tree, levels_at=None):
    """What Driver.build gives with :func:`_recording` methods, computed from Lark's tree: each
    node as (name, its own (line, column, end_line, end_column) or None, its children), tokens
    as they are; and the tree's depth in nodes (``levels_at``: a rule -> the child place where
    one of the same rule is one level with it)."""
    levels_at = levels_at or {}
    done: dict[int, tuple] = {}
    stack = [(tree, False)]
    while stack:  # post-order, without recursion: the tree may be deep
        node, seen = stack.pop()
        if not isinstance(node, lark.Tree) or id(node) in done:
            continue
        if not seen:
            stack.append((node, True))
            stack.extend((c, False) for c in node.children)
            continue
        kids, depth = [], 0
        for i, c in enumerate(node.children):
            if isinstance(c, lark.Tree):
                value, d = done[id(c)]
                kids.append(value)
                depth = max(depth, d - (i == levels_at.get(node.data) and c.data == node.data))
            else:
                kids.append(c)
        m = node.meta
        where = None if m.empty else (m.line, m.column, m.end_line, m.end_column)
        done[id(node)] = ((node.data, where, tuple(kids)), depth + 1)
    return done[id(tree)] if isinstance(tree, lark.Tree) else (tree, 0)


def _recording(driver) -> dict:
    """A method for every rule Driver.build may call, each recording what it was given."""
    return {n: (lambda where, kept, n=n: (n, where, tuple(kept))) for n in driver._names}


def test_build_gives_what_lark_trees_give_on_a_grammar_with_other_shapes():
    toy = lark.Lark(TOY, parser="lalr", lexer="contextual", propagate_positions=True, maybe_placeholders=False)
    driver = lalr_run.driver(toy)
    for text in ["a", "(a)", "((\n a\n )\n)", "(x = [a b\n c])", "(let\n q) z = 1 (\n(b = 2)\n)", "(x = 1\n)",
                 "(\n x = 1)", "z (\n\n let q)", "\n(  (let y\n )\n\n)", "", "a b c d e f g h"]:
        assert driver.build(text, _recording(driver), {}) == _as_built(toy.parse(text)), text


def test_build_counts_levels_as_the_tree_nests():
    # `item` nested in itself at place 0 is one level with it: a ladder of the toy grammar
    grammar = 'start: item\nitem: "(" item ")" | "[" item "]" | NAME\nNAME: /[a-z]+/\n%ignore " "'
    toy = lark.Lark(grammar, parser="lalr", lexer="contextual", propagate_positions=True, maybe_placeholders=False)
    driver = lalr_run.driver(toy)
    for text in ["a", "(a)", "((([a])))", "[[[(a)]]]", "(" * 50 + "a" + ")" * 50]:
        built = driver.build(text, _recording(driver), {"item": 0})
        assert built == _as_built(toy.parse(text), {"item": 0}), text
        assert built[1] == 2  # start, and the one ladder of items
        assert driver.build(text, _recording(driver), {})[1] == text.count("(") + text.count("[") + 2


def test_build_hands_what_it_cannot_parse_to_lark():
    toy = lark.Lark(TOY, parser="lalr", lexer="contextual", propagate_positions=True, maybe_placeholders=False)
    driver = lalr_run.driver(toy)
    with pytest.raises(lark.exceptions.UnexpectedInput):
        driver.build("(a", _recording(driver), {})
    for acts in driver._actions.values():  # a table the loop does not expect: Lark's tree
        acts.pop("item", None)
    assert isinstance(driver.build("(a)", _recording(driver), {}), lark.Tree)
    with pytest.raises(ValueError, match="no method to build"):
        driver.build("a", {}, {})


def test_every_rule_of_the_grammar_has_a_method_to_build_it():
    driver = lalr_run.driver(parser.lark_parser())
    assert driver._can_build
    assert set(parser._RULE_METHODS) == driver._names


def _ast_nodes(node) -> list:
    """Every node of an AST in pre-order with its span (attrs' equality leaves spans out)."""
    import attrs

    out, stack = [], [node]
    while stack:
        n = stack.pop()
        if attrs.has(type(n)):
            out.append((type(n).__name__, getattr(n, "span", None)))
            stack.extend(getattr(n, f.name) for f in attrs.fields(type(n)))
        elif isinstance(n, (tuple, list)):
            out.append(("sequence", len(n)))
            stack.extend(n)
        else:
            out.append(repr(n))
    return out


def _by_tree(text: str, file: str):
    order, deep = parser._postorder(parser._parse_tree(text))
    assert deep is None
    return parser._ToAst(file).transform(order)


@pytest.mark.parametrize("path", EXAMPLES + ["CHAIN", "generated"])
def test_the_ast_built_in_the_reductions_is_the_one_built_from_the_tree(path):
    if path == "CHAIN":
        text = CHAIN
    elif path == "generated":
        text = generate(1000)
    else:
        with open(path, encoding="utf-8") as f:
            text = f.read()
    built, _ = parser._build(text, path)
    assert built is not None
    assert _ast_nodes(built) == _ast_nodes(_by_tree(text, path))


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(strategies.specs(max_horizon=4))
def test_generated_specs_build_the_ast_the_tree_gives(text):
    built, _ = parser._build(text, "g.libet")
    assert built is not None
    assert _ast_nodes(built) == _ast_nodes(_by_tree(text, "g.libet"))
