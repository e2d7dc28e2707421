"""One loop that lexes and parses a text with a Lark LALR parser's own tables, lexers and tree
builder.

Consumes: a :class:`lark.Lark` built with ``parser="lalr"`` and ``lexer="contextual"``.
Produces: the same parse tree as ``Lark.parse`` (the same Trees, Tokens and positions), or,
for a text Lark rejects, Lark's own exception; or (:meth:`Driver.build`) no tree at all but
the values a caller's methods build from each node's children and positions, as a walk over
Lark's tree would, in the reductions themselves.

Why: on a long spec, Lark's parse is most of what ``libet check`` costs, and much of that is
the machinery between its parts rather than their work: a generator per token, a method call
per token to match and another to count lines, a Token built through two constructors, and per
token and per reduction the table lookups and assertions of a general parser state, and per
node a chain of three wrappers around ``Tree``. Here the contextual lexer and the LALR
automaton run in one function, with each state's scanner and each rule's reduction looked up
once and kept; a chain of unit reductions (an operand climbing the precedence levels) is one
step; and each rule's chain of wrappers is one function that does what they do
(:func:`_flat_builder`). The regular expressions, the parse table and the keyword callbacks are
Lark's, untouched. tests/test_lalr_run.py compares trees, every position (the containers'
too) and errors with Lark's on every example, a long generated spec, generated and mutated
specs, and a grammar with the shapes libet's lacks.

Errors: the loop does not rebuild Lark's error reports. On the first token it cannot lex or
parse it stops and parses the text again with ``Lark.parse``, which raises the exception it
always raised (with its expected terminals and interactive parser state, which the syntax
diagnostics read). A rejected text therefore costs two parses, a valid one a fraction of one.

A Lark whose internals are laid out otherwise (another version, another lexer), or whose
post-lexer does not declare ``passes_tokens_through = True`` (the loop never calls it), gives
:func:`driver` None, and the caller uses ``Lark.parse`` as it is.
"""

from __future__ import annotations

import functools
import operator
import re
from typing import Any, Callable

from lark import Lark, Token, Tree
from lark.lexer import PatternStr, UnlessCallback
from lark.parse_tree_builder import ChildFilterLALR_NoPlaceholders, ExpandSingleChild, PropagatePositions
from lark.parsers.lalr_analysis import Shift
from lark.tree import Meta

#: A state's lexer, as the loop uses it: its compiled alternatives, the callbacks by terminal
#: (keywords retyped from NAME), the ignored terminals, the terminals that may span lines.
_Scan = tuple[tuple[Any, ...], dict[str, Callable], frozenset[str], frozenset[str]]


_SHIFT, _REDUCE, _UNIT = "shift", "reduce", "unit"


def _reduction(rule, build: Callable) -> tuple[str, Any]:
    size = len(rule.expansion)
    if size == 1 and isinstance(build, operator.itemgetter):
        probe = object()
        try:
            if build([probe]) is probe:
                return (_UNIT, rule.origin.name)
        except (IndexError, KeyError, TypeError):
            pass
    # the builder for Lark's tree (parse), and the rule's shape for building without one (build)
    return (_REDUCE, (size, rule.origin.name, _flat_builder(build) or build, _shape(build)))


class _Rejected(Exception):
    """The loop met something it does not handle itself: Lark parses the text again."""


class Driver:
    """Parses like ``parser.parse(text)``, faster; see the module docstring."""

    def __init__(self, parser: Lark, lexers: dict[int, Any], states: dict[int, dict], callbacks: dict,
                 start_state: int, end_state: int):
        self._parser = parser
        self._lexers = lexers
        self._start = start_state
        self._end = end_state
        self._token_callbacks = {k: f for k, f in callbacks.items() if isinstance(k, str)}
        # per state and terminal: (_SHIFT, the state to shift to), (_REDUCE, (the number of
        # children, the nonterminal made, its tree builder, its shape)) or (_UNIT, the nonterminal made)
        # for a reduction whose builder returns its one child as it is; so that the loop never
        # hashes a Rule (a Python-level __hash__)
        reductions = {rule: _reduction(rule, f) for rule, f in callbacks.items() if not isinstance(rule, str)}
        self._actions = {
            state: {kind: (_SHIFT, to) if how is Shift else reductions[to] for kind, (how, to) in acts.items()}
            for state, acts in states.items()
        }
        # build() needs every rule's shape (a builder of another shape: it parses with Lark) and
        # a method for each rule that is not inlined
        shapes = [arg[3] for code, arg in reductions.values() if code is _REDUCE]
        self._can_build = None not in shapes
        self._names = frozenset(s[0] for s in shapes if s is not None and not s[0].startswith("_"))
        # (state below, state on top, terminal) -> the state on top after the unit reductions
        # that terminal makes there (a chain such as number -> atom -> neg -> ... -> expr)
        self._units: dict[tuple[int, int, str], int] = {}
        self._scans: dict[int, _Scan] = {}
        self._new_token = getattr(Token, "_future_new", Token)

    def parse(self, text: str):
        try:
            return self._run(text, None)
        except (_Rejected, KeyError, IndexError):  # a table or stack the loop did not expect too
            return self._parser.parse(text)

    def build(self, text: str, methods: dict[str, Callable], continues: dict[str, int]):
        """Parse ``text`` and build what it means in the reductions themselves, with no parse
        tree: each node Lark would make for rule ``name`` is ``methods[name](where, kept)``,
        where ``kept`` are the children Lark would give it (their built values, tokens as they
        are; an inlined rule's children spliced in) and ``where`` is ``(line, column, end_line,
        end_column)`` of Lark's positions for it, or None where it has none. A node Lark
        collapses into its one child is that child's value.

        Returns ``(value, levels)``: the start rule's value and how many nodes deep the tree Lark
        would build is (as nodes nest: a node of rule ``name`` whose child number
        ``continues[name]`` is of the same rule is one level with it, an ``else if`` ladder).
        What the loop cannot parse Lark parses, and build returns its tree (or raises its
        exception); so does a Lark with a builder of another shape (:func:`_shape`)."""
        if not self._can_build:
            return self._parser.parse(text)
        missing = self._names - set(methods)
        if missing:
            raise ValueError(f"no method to build {', '.join(sorted(missing))}")
        try:
            return self._run(text, (methods, continues))
        except (_Rejected, KeyError, IndexError):
            return self._parser.parse(text)

    def _unit_chain(self, key: tuple[int, int, str]) -> int:
        """The state on top after the unit reductions ``key``'s terminal makes in a row (each
        pops one state and goes from the state below on its nonterminal); kept in the table."""
        below, state, kind = key
        actions = self._actions
        while True:
            code, origin = actions[state].get(kind, (None, None))
            if code is not _UNIT:
                break
            state = actions[below][origin][1]
        self._units[key] = state
        return state

    def _scan(self, state: int) -> _Scan:
        try:
            lexer = self._lexers[state]
            scanner = lexer.scanner  # built on first use, as Lark does
            callbacks = {kind: _retyper(f) for kind, f in lexer.callback.items()}
            mres = _skipping_blanks(scanner, lexer.ignore_types, callbacks) or scanner._mres
            scan = (tuple(m.match for m in mres), callbacks, lexer.ignore_types, lexer.newline_types)
        except (KeyError, AttributeError) as e:
            raise _Rejected from e
        self._scans[state] = scan
        return scan

    def _run(self, text: str, building: tuple | None):
        """The loop: Lark's tree from each rule's builder, or with ``building`` (build()'s
        methods and continues) its value from each rule's shape, each value's extent and depth
        beside it on ``where_stack`` (:func:`_build`)."""
        actions, units, scans = self._actions, self._units, self._scans
        token_callbacks, new_token = self._token_callbacks, self._new_token
        end_state = self._end
        state_stack = [self._start]
        value_stack: list = []
        where_stack: list = []
        pos, line, line_start, n = 0, 1, 0, len(text)
        while True:
            state = state_stack[-1]
            # -- lex the next token, with the lexer of the state the parser is in --
            if pos < n:
                matches, lex_callbacks, ignore, multiline = scans.get(state) or self._scan(state)
                while True:
                    for match in matches:
                        m = match(text, pos)
                        if m is not None:
                            break
                    else:
                        raise _Rejected
                    kind = m.lastgroup
                    # the scanner may have skipped blanks before the token (_skipping_blanks)
                    start = m.start(kind)
                    value, start_line, column = m.group(kind), line, start - line_start + 1
                    pos = start
                    if kind in multiline:
                        newlines = value.count("\n")
                        if newlines:
                            line += newlines
                            line_start = pos + value.rindex("\n") + 1
                    pos += len(value)
                    if kind in ignore:
                        if kind in lex_callbacks:
                            lex_callbacks[kind](new_token(kind, value, start, start_line, column, line,
                                                          pos - line_start + 1, pos))
                        if pos < n:
                            continue
                        token = None
                        break
                    token = new_token(kind, value, start, start_line, column, line, pos - line_start + 1, pos)
                    if kind in lex_callbacks:
                        token = lex_callbacks[kind](token)
                    break
            else:
                token = None
            if token is None:  # the end of the text: reduce until the start symbol is done
                kind = "$END"
            else:
                kind = token.type
            # -- feed it to the automaton: reduce as long as the table says, then shift --
            while True:
                try:
                    code, arg = actions[state][kind]
                except KeyError:
                    raise _Rejected from None
                if code is _SHIFT:
                    if token is None:
                        raise _Rejected
                    state_stack.append(arg)
                    value_stack.append(token if kind not in token_callbacks else token_callbacks[kind](token))
                    if building is not None:
                        where_stack.append((token.line, token.column, token.end_line, token.end_column, 0, None))
                    break
                if code is _UNIT:  # the value stays; only the state on top changes
                    key = (state_stack[-2], state, kind)
                    state = units.get(key)
                    if state is None:
                        state = self._unit_chain(key)
                    state_stack[-1] = state
                else:
                    size, origin, build, shape = arg
                    if size:
                        children = value_stack[-size:]
                        del state_stack[-size:]
                        del value_stack[-size:]
                    else:
                        children = []
                    state = actions[state_stack[-1]][origin][1]
                    state_stack.append(state)
                    if building is None:
                        value_stack.append(build(children))
                    else:
                        wheres = where_stack[-size:] if size else []
                        if size:
                            del where_stack[-size:]
                        value, where = _build(shape, children, wheres, building)
                        value_stack.append(value)
                        where_stack.append(where)
                if token is None and state == end_state:
                    if building is None:
                        return value_stack[-1]
                    return value_stack[-1], where_stack[-1][4]


#: The blanks a scanner may skip before a token (:func:`_skipping_blanks`); not the newline,
#: so that the line count stays where the loop keeps it.
_BLANKS = " \t\f\r"
_SKIP = f"[{re.escape(_BLANKS)}]*"  # the regular expression of a run of them


def _skipping_blanks(scanner, ignore: frozenset[str], callbacks: dict) -> list | None:
    """A state's regular expressions, each preceded by ``[ \\t\\f\\r]*``, or None where that
    could change a token.

    Between two tokens of a spec there is nearly always a blank, and the loop lexed each run of
    blanks as an ignored token of its own: half the matches of a long spec, each a pass through
    the loop. Skipped inside the regular expression, the run costs nothing. It lexes the same
    tokens at the same positions when the blanks are what an ignored terminal without a
    callback matches (one such token, or its end, before the token Lark would lex next) and no
    other terminal of the state may begin with a blank (:func:`_may_begin_with`), so that at a
    blank Lark's scanner would have lexed that ignored terminal. Where the token after the
    blanks does not lex, the expression backtracks to the ignored terminal over the blanks, as
    before; the loop's position then moves past them and the next scan fails as Lark's would."""
    try:
        terminals = scanner.terminals
        if scanner.g_regex_flags or not all(type(m) is re.Pattern for m in scanner._mres):
            return None
        blank = [t for t in terminals if t.name in ignore and t.name not in callbacks
                 and all(re.fullmatch(t.pattern.to_regexp(), c * 2) for c in _BLANKS)]
        if not blank or any(_may_begin_with(t.pattern.to_regexp(), _BLANKS) for t in terminals if t not in blank):
            return None
        return [re.compile(f"{_SKIP}(?:{m.pattern})", m.flags) for m in scanner._mres]
    except (AttributeError, TypeError, re.error):
        return None


def _may_begin_with(pattern: str, chars: str) -> bool:
    """Whether a match of ``pattern`` may begin with one of ``chars``; True where unsure (a
    construct this reading does not know, or one it would have to read more closely)."""
    try:  # the re module's own parser, whose layout has been stable since Python 3.0
        from re import _constants as c
        from re import _parser as sre
    except ImportError:
        return True

    def lead(ops) -> tuple[bool, bool]:
        """(may begin with one of chars, may match the empty string) for a sequence."""
        for op, arg in ops:
            if op is c.LITERAL:
                may, empty = chr(arg) in chars, False
            elif op is c.IN:
                may, empty = _in_may_hold(arg, chars, c), False
            elif op is c.SUBPATTERN:
                may, empty = lead(arg[-1])
            elif op is c.BRANCH:
                alts = [lead(alt) for alt in arg[1]]
                may, empty = any(a for a, _ in alts), any(e for _, e in alts)
            elif op in (c.MAX_REPEAT, c.MIN_REPEAT, getattr(c, "POSSESSIVE_REPEAT", None)):
                may, empty = lead(arg[2])
                empty = empty or arg[0] == 0
            elif op in (c.AT, c.ASSERT, c.ASSERT_NOT):  # zero width
                may, empty = False, True
            else:  # any character, a back reference, ...
                return True, False
            if may:
                return True, empty
            if not empty:
                return False, False
        return False, True

    try:
        return lead(sre.parse(pattern))[0]
    except Exception:  # noqa: BLE001 - a pattern this reading cannot follow: assume the worst
        return True


def _in_may_hold(items, chars: str, c) -> bool:
    """Whether a character class (the parsed ``[...]``) may match one of ``chars``."""
    held = set()
    for op, arg in items:
        if op is c.LITERAL:
            held.add(chr(arg))
        elif op is c.RANGE:
            held.update(ch for ch in chars if arg[0] <= ord(ch) <= arg[1])
        elif op is c.CATEGORY and arg in (c.CATEGORY_DIGIT, c.CATEGORY_WORD):
            pass  # no blank is a digit or a word character
        else:  # a negation, spaces, anything else
            return True
    return any(ch in held for ch in chars)


def _retyper(callback: Callable) -> Callable:
    """Lark's callback that retypes a token spelling a keyword (``UnlessCallback``: a NAME
    ``veto`` becomes VETO), as one dict lookup when every keyword is a plain string: Lark tries
    each keyword's regular expression in turn, for every name. Any other callback as it is."""
    scanner = getattr(callback, "scanner", None)
    if type(callback) is not UnlessCallback or getattr(scanner, "g_regex_flags", 1):
        return callback
    terminals = getattr(scanner, "terminals", None) or ()
    if not terminals or any(type(t.pattern) is not PatternStr or t.pattern.flags for t in terminals):
        return callback
    keywords = {}
    for t in reversed(terminals):  # the first of two with one spelling wins, as in Lark's scan
        keywords[t.pattern.value] = t.name

    def retype(token: Token) -> Token:
        kind = keywords.get(token.value)
        if kind is not None:
            token.type = kind
        return token

    return retype


def driver(parser: Lark) -> Driver | None:
    """A :class:`Driver` for ``parser``, or None when its internals are not laid out as this
    module expects (it then parses with ``parser.parse``)."""
    try:
        frontend = parser.parser
        lexer = frontend.lexer
        lexer = getattr(lexer, "lexer", lexer)  # behind the post-lexer connector
        automaton = frontend.parser.parser
        table = automaton.parse_table
        (start,) = table.start_states.values()
        (end,) = table.end_states.values()
        lexers, states, callbacks = lexer.lexers, table.states, automaton.callbacks
    except (AttributeError, ValueError):
        return None
    postlex = getattr(frontend.lexer, "postlexer", None)
    if postlex is not None and getattr(postlex, "passes_tokens_through", False) is not True:
        return None  # a post-lexer that may change the tokens: only Lark knows how to run it
    if not (isinstance(lexers, dict) and isinstance(states, dict) and isinstance(callbacks, dict)):
        return None
    if "_meta" not in getattr(Tree("probe", []), "__dict__", ()):
        return None  # _propagate reads a tree's Meta where Lark keeps it
    return Driver(parser, lexers, states, callbacks, start, end)


# ---- values built in the reductions ---------------------------------------------------------


class _Inlined(list):
    """The children of an inlined rule's node (``_name``), for its parent to splice in, with
    what stands beside each (``wheres``)."""

    __slots__ = ("wheres",)


def _build(shape, children: list, wheres: list, building) -> tuple[Any, tuple]:
    """The value of one reduction in Driver.build, and what stands beside it: ``(line, column,
    end_line, end_column, levels, rule)``, its extent (Lark's container positions: from its
    first child with positions to its last, the tokens a tree leaves out included; four Nones
    where no child has positions), how many nodes deep it is and the rule that made it (None
    for a token)."""
    name, to_include, expand1 = shape
    methods, continues = building
    first = last = _NOWHERE
    for w in wheres:
        if w[0] is not None:
            first = w
            break
    if first is not _NOWHERE:
        for w in reversed(wheres):
            if w[0] is not None:
                last = w
                break
    if to_include is None:
        kept, kept_wheres = children, wheres
    else:
        kept, kept_wheres = [], []
        for i, inline in to_include:
            if not inline:
                kept.append(children[i])
                kept_wheres.append(wheres[i])
            elif kept:
                kept += children[i]
                kept_wheres += children[i].wheres
            else:  # as Lark does: take over the inlined child's own list (left recursion)
                kept = children[i]
                kept_wheres = kept.wheres
    where = (first[0], first[1], last[2], last[3])
    if expand1 and len(kept) == 1:  # the node is its one child
        w = kept_wheres[0]
        if w[5] is None:  # a token, which Lark passes up with its own positions only
            return kept[0], w
        return kept[0], (*where, w[4], w[5])
    if name[0] == "_":
        if type(kept) is not _Inlined:
            kept = _Inlined(kept)
            kept.wheres = kept_wheres
        return kept, (*where, 0, None)
    at = continues.get(name, -1)
    levels = 0
    for j, w in enumerate(kept_wheres):
        deep = w[4] - (j == at and w[5] == name)  # an `else if` is one level with its `if`
        if deep > levels:
            levels = deep
    return methods[name](where if where[0] is not None else None, kept), (*where, levels + 1, name)


_NOWHERE = (None, None, None, None, 0, None)


# ---- Lark's tree builder, flattened --------------------------------------------------------
#
# Lark builds a node through a chain of wrappers (lark/parse_tree_builder.py): the position
# propagation around the child filter around the single-child expansion around ``Tree``. Each
# is a Python call, and the propagation looks for the first and last positioned child with a
# generator and a dozen ``getattr`` with defaults. :func:`_flat_builder` reads the chain of one
# rule and returns one function that does what the chain does, in the same order, with the
# same attributes set on the same objects; a chain of any other shape keeps Lark's builder.


def _shape(build: Callable) -> tuple[str, tuple[tuple[int, bool], ...] | None, bool] | None:
    """What a builder of Lark's usual chain, ``PropagatePositions(ChildFilterLALR_NoPlaceholders(
    ExpandSingleChild(partial(Tree, name))))`` (either middle part may be absent), does:
    ``(name, to_include, expand1)``, the node's name, the children it keeps as ``(index,
    inline)`` (None: all of them; ``inline``: the child is an inlined rule's, its children are
    spliced in) and whether a single kept child stands for the node. None for a builder of
    another shape."""
    if type(build) is not PropagatePositions or build.node_filter is not None:
        return None
    inner = build.node_builder
    to_include = None
    if type(inner) is ChildFilterLALR_NoPlaceholders:
        to_include = tuple((i, bool(expand)) for i, expand in inner.to_include)
        inner = inner.node_builder
    expand1 = type(inner) is ExpandSingleChild
    if expand1:
        inner = inner.node_builder
    plain_tree = isinstance(inner, functools.partial) and inner.func is Tree and not inner.keywords
    if not (plain_tree and len(inner.args) == 1):
        return None
    return inner.args[0], to_include, expand1


def _flat_builder(build: Callable) -> Callable | None:
    """One function doing what a builder of Lark's usual chain (:func:`_shape`) does, or None
    for a builder of another shape."""
    shape = _shape(build)
    if shape is None:
        return None
    name, to_include, expand1 = shape

    def flat(children: list):
        if to_include is None:
            kept = children
        else:
            kept = []
            for i, expand in to_include:
                if expand:
                    if kept:
                        kept += children[i].children
                    else:  # as Lark does: the inlined child's own list (left recursion)
                        kept = children[i].children
                else:
                    kept.append(children[i])
        if expand1 and len(kept) == 1:
            node = kept[0]
            if not isinstance(node, Tree):
                return node
            _propagate(node.meta, children)
        else:
            node = Tree(name, kept, meta := Meta())
            _propagate(meta, children)
        return node

    return flat


#: The attributes a child lends a parent's start and end, each as (the container's, its own).
_START = (("container_line", "line"), ("container_column", "column"), ("container_start_pos", "start_pos"))
_END = (("container_end_line", "end_line"), ("container_end_column", "end_column"), ("container_end_pos", "end_pos"))


def _lent(c, names):
    """The (line, column, position) child ``c`` lends a parent's start (``names`` = _START) or
    end (_END), or None: Lark's ``_pp_get_meta``, and its container positions where a node has
    them (a child passed up through tokens the tree leaves out)."""
    if isinstance(c, Tree):
        m = c.meta
        if m.empty:
            return None
    elif isinstance(c, Token):
        m = c
    elif hasattr(c, "__lark_meta__"):
        m = c.__lark_meta__()
    else:
        return None
    (c1, o1), (c2, o2), (c3, o3) = names
    return getattr(m, c1, getattr(m, o1)), getattr(m, c2, getattr(m, o2)), getattr(m, c3, getattr(m, o3))


def _propagate(meta, children: list) -> None:
    """Lark's ``PropagatePositions``: a node starts where its first positioned child's
    container starts and ends where its last one's ends; a node that already has positions (a
    single child passed up) keeps them, and only its container grows.

    The two common children are read directly: a token (slots, no container attributes) and a
    tree this loop built (a Meta with its container set, or none yet: Lark's ``meta`` property
    would make an empty one, which lends nothing)."""
    for c in children:
        kind = type(c)
        if kind is Token:
            first = (c.line, c.column, c.start_pos)
        elif kind is Tree and (m := c._meta) is None:
            continue
        elif kind is Tree and not m.empty and "container_start_pos" in m.__dict__:
            first = (m.container_line, m.container_column, m.container_start_pos)
        else:
            first = _lent(c, _START)
            if first is None:
                continue
        if not hasattr(meta, "line"):
            meta.line, meta.column, meta.start_pos = first
            meta.empty = False
        meta.container_line, meta.container_column, meta.container_start_pos = first
        break
    for c in reversed(children):
        kind = type(c)
        if kind is Token:
            last = (c.end_line, c.end_column, c.end_pos)
        elif kind is Tree and (m := c._meta) is None:
            continue
        elif kind is Tree and not m.empty and "container_end_pos" in m.__dict__:
            last = (m.container_end_line, m.container_end_column, m.container_end_pos)
        else:
            last = _lent(c, _END)
            if last is None:
                continue
        if not hasattr(meta, "end_line"):
            meta.end_line, meta.end_column, meta.end_pos = last
            meta.empty = False
        meta.container_end_line, meta.container_end_column, meta.container_end_pos = last
        break
