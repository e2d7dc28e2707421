"""The formatter: AST back to canonical text, keeping every comment.

Consumes: a :class:`~libet.spec.parser.Parsed` (the module and its comments).
Produces: the canonical text of the file.

The canonical form puts one statement per line, indents blocks by two spaces, spaces binary
operators, and keeps what carries meaning or intent exactly as written: number literals, the
order of items, parentheses, and comments. A comment on its own line stays on its own line
before the statement that followed it; a comment at the end of a line stays at the end of that
statement's line. Runs of blank lines become one blank line.

Two guarantees, both tested: formatting is idempotent, and the formatted text has the same IR
as the original (spans aside).
"""

from __future__ import annotations

import attrs

from libet.files import read_capped
from libet.spec import ast
from libet.spec.diagnostics import Diagnostics
from libet.spec.parser import MAX_BYTES, Comment, Parsed, decode, parse
from libet.suppress import is_suppression as suppression

INDENT = "  "


@attrs.frozen
class FormatResult:
    original: str | None
    formatted: str | None  # with the original's line endings
    error: object = None  # a Loaded-like object with diagnostics and sources, when parsing failed
    bom: bool = False  # the file began with a byte order mark, which its formatted text keeps

    def file_text(self) -> str:
        """What the formatted file holds: its text, after the byte order mark it had."""
        return ("\ufeff" if self.bom else "") + self.formatted


def format_text(text: str, name: str = "<string>") -> str:
    """The canonical form of ``text``.

    Raises:
        SpecError: if ``text`` does not parse.
    """
    from libet.errors import SpecError

    d = Diagnostics()
    parsed = parse(text, name, d)
    if parsed.module is None:
        raise SpecError(d.sorted(), {name: text})
    return _Printer(parsed).run()


def format_file(path: str) -> FormatResult:
    """Format the file at ``path`` (parsing only: a file with type errors still formats), in
    its own line endings (those of most of its lines, ``\\r\\n`` or ``\\n``)."""
    from libet.spec.loader import Loaded

    d = Diagnostics()
    try:
        data = read_capped(path, MAX_BYTES)  # decode() refuses what passes the limit
    except OSError as exc:
        from libet.errors import UsageError

        raise UsageError(f"cannot read {path}: {exc.strerror}") from None
    text = decode(data, path, d)
    if text is None:
        return FormatResult(None, None, Loaded(None, tuple(d.sorted()), {}, {}))
    parsed = parse(text, path, d)
    if parsed.module is None:
        return FormatResult(text, None, Loaded(None, tuple(d.sorted()), {path: text}, {}))
    formatted = _Printer(parsed).run()
    if text.count("\r\n") * 2 > text.count("\n"):  # a file of Windows line endings keeps them
        formatted = formatted.replace("\n", "\r\n")
    return FormatResult(text, formatted, bom=data.startswith(b"\xef\xbb\xbf"))


class _Printer:
    def __init__(self, parsed: Parsed):
        self.module = parsed.module
        self.comments: list[Comment] = sorted(parsed.comments, key=lambda c: (c.line, c.col))
        self.out: list[str] = []
        self.last_line = 0  # the last source line accounted for
        self.fresh_block = True  # just opened a block (or at the top): no blank line needed
        self._suppressing: tuple[int, list[str]] = (0, [])  # a source line and its suppression comments

    # -- comments and blank lines --

    def _blank_if_gap(self, src_line: int):
        if not self.fresh_block and src_line > self.last_line + 1 and self.out and self.out[-1] != "":
            self.out.append("")

    def _leading(self, before_line: int, level: int):
        """Own-line comments before source line ``before_line``."""
        while self.comments and self.comments[0].line < before_line:
            c = self.comments.pop(0)
            self._blank_if_gap(c.line)
            self.out.append(INDENT * level + c.text)
            self.last_line = c.line
            self.fresh_block = False

    def _trailing(self, line: int, carried=(), copy: bool = True) -> str:
        parts = list(carried)
        while self.comments and self.comments[0].line == line:
            parts.append(self.comments.pop(0).text)
        # A suppression comment (libet/suppress.py) means its line: every statement printed
        # from that line keeps it, as the second of `param a = 1 param b = 2  # libet: ignore`
        # would otherwise lose it.
        if parts:
            self._suppressing = (line, [p for p in parts if suppression(p)])
        elif copy and self._suppressing[0] == line:
            parts = self._suppressing[1]
        return ("  " + " ".join(parts)) if parts else ""

    def emit(self, span, level: int, text: str, claim_line: int | None = None):
        """One statement: leading comments, the text, then comments at the end of its line."""
        start = span.line if span else self.last_line
        end = claim_line if claim_line is not None else (span.end_line if span else start)
        self._leading(start, level)
        self._blank_if_gap(start)
        # comments inside a multi-line statement move above it, but a suppression comment stays
        # on the statement's line, where the warnings it silences now point
        # a suppression comment on the line where this statement starts, taken by the statement
        # printed before from that line (a block's head): it is this one's too
        carried = list(self._suppressing[1]) if self._suppressing[0] == start != end else []
        while self.comments and self.comments[0].line < end:
            if suppression(self.comments[0].text):
                c = self.comments.pop(0)
                carried.append(c.text)
                self.last_line = max(self.last_line, c.line)
            else:
                self._leading(self.comments[0].line + 1, level)
        self.out.append(INDENT * level + text + self._trailing(end, carried))
        self.last_line = max(self.last_line, end)
        self.fresh_block = False

    def block(self, span, level: int, head: str, children, emit_child):
        """``head {`` children ``}``; an empty block prints as ``head {}``."""
        if not children:
            self.emit(span, level, head + " {}")
            return
        one_line = span is not None and span.line == span.end_line
        self.emit(span, level, head + " {", claim_line=None if one_line else span.line if span else None)
        self.fresh_block = True
        for child in children:
            emit_child(child, level + 1)
        if span is not None:
            self._leading(span.end_line, level + 1)
        self.out.append(INDENT * level + "}" + (self._trailing(span.end_line, copy=False) if span else ""))
        if span is not None:
            self.last_line = max(self.last_line, span.end_line)
        self.fresh_block = False

    # -- the module --

    def run(self) -> str:
        m = self.module
        if m.title is not None:
            self.emit(m.header_span, 0, f'spec "{m.title}"')
        for item in m.items:
            self.item(item)
        self._leading(10**9, 0)
        text = "\n".join(self.out).rstrip("\n")
        return text + "\n" if text else ""

    def item(self, it):
        if isinstance(it, ast.Use):
            self.emit(it.span, 0, f'use "{it.path}"')
        elif isinstance(it, ast.VarBlock):
            self.block(it.span, 0, it.cls, it.decls, lambda d, lv: self.emit(d.span, lv, self.var_decl(d)))
        elif isinstance(it, ast.StateBlock):
            self.block(it.span, 0, "state", it.decls, lambda d, lv: self.emit(d.span, lv, self.state_decl(d)))
        elif isinstance(it, ast.ParamDecl):
            rng = f" in [{it.range[0].text}, {it.range[1].text}]" if it.range else ""
            kind = f": {it.kind.text}" if it.kind is not None else ""
            self.emit(it.span, 0, f"param {it.name.text}{kind} = {it.default.text}{rng}")
        elif isinstance(it, ast.DefDecl):
            self.emit(it.span, 0, f"def {it.name.text} = {expr(it.expr)}")
        elif isinstance(it, ast.ValueDecl):
            self.emit(it.span, 0, f"value {it.name.text} = {expr(it.expr)}")
        elif isinstance(it, ast.TrajectoryDecl):
            self.block(it.span, 0, "trajectory", it.items, self.traj_item)
        elif isinstance(it, ast.PolicyDecl):
            self.block(it.span, 0, f"policy {it.name.text}", it.rules, lambda r, lv: self.emit(r.span, lv, rule(r)))
        elif isinstance(it, ast.CheckDecl):
            head = "check " + ", ".join(n.text for n in it.policies)
            self.block(it.span, 0, head, it.items, lambda c, lv: self.emit(c.span, lv, check_item(c)))
        elif isinstance(it, ast.ExperimentDecl):
            self.block(it.span, 0, f"experiment {it.name.text}", it.items, lambda e, lv: self.emit(e.span, lv, exp_item(e)))
        else:  # pragma: no cover
            raise TypeError(type(it).__name__)

    def state_decl(self, d: ast.StateDecl) -> str:
        return f"{d.name.text}: {domain(d.domain)} = {literal(d.init)}"

    def var_decl(self, d: ast.VarDecl) -> str:
        text = domain(d.domain)
        if d.weights is not None:
            text += " weights {" + ", ".join(f"{literal(k)}: {v.text if isinstance(v, ast.Num) else expr(v)}"
                                             for k, v in d.weights) + "}"
        return f"{d.name.text}: {text}"

    def traj_item(self, it, level):
        if isinstance(it, ast.Horizon):
            end = f" then {it.end}" if it.end is not None else ""
            value = expr(it.value) if isinstance(it.value, ast.Paren) else it.value
            self.emit(it.span, level, f"horizon {value}{end}")
        elif isinstance(it, ast.Start):
            at = f" at depth {expr(it.depth)}" if it.depth is not None else ""
            self.emit(it.span, level, f"start {it.phase.text}{at}")
        else:
            body = it.items or it.transitions
            self.block(it.span, level, f"phase {it.name.text}", body, lambda t, lv: self.emit(t.span, lv, phase_item(t)))


def domain(dom) -> str:
    if isinstance(dom, ast.BoolDom):
        return "bool"
    if isinstance(dom, ast.IntDom):
        return f"{dom.lo}..{dom.hi}"
    return "{" + ", ".join(m.text for m in dom.members) + "}"


def phase_item(t) -> str:
    if isinstance(t, ast.ChoiceDecl):
        text = f"choose {t.var.text}"
        if t.options is not None:
            text += " in {" + ", ".join(literal(o) for o in t.options) + "}"
        if t.when is not None:
            text += f" when {expr(t.when)}"
        return text
    return transition(t)


def updates(us) -> str:
    return " then " + ", ".join(f"{u.var.text} = {expr(u.expr)}" for u in us) if us else ""


def transition(t: ast.TransitionDecl) -> str:
    return f"-> {t.target.text} : {'otherwise' if t.prob is None else expr(t.prob)}{updates(t.updates)}"


def rule(r: ast.RuleDecl) -> str:
    text = f"veto when {expr(r.condition)}"
    if r.strength is not None:
        text += f" with strength {expr(r.strength)}"
    if r.then is not None:
        text += f" then -> {r.then.text}{updates(r.updates)}"
    return text


def measure(m: ast.Measure) -> str:
    """``P(harm and visit scratchpad | delivered)``: atoms in the order written, one space
    around ``and`` and ``|`` (the canonical text of spec/measures.py)."""
    return m.text


def check_item(c: ast.CheckItem) -> str:
    under = ", ".join(n.text for n in c.under)
    if c.kind == "invariant":
        return f"invariant under {under}"
    if c.kind == "outcome invariant":
        return f"invariant {measure(c.measure)} under {under}"
    if c.kind == "complete at":
        return f"complete at {under}"
    if c.kind not in ("bound", "gap"):  # a keyword check is its own canonical text
        return c.kind
    if c.kind == "bound":
        return f"{measure(c.measure)} {c.op} {c.bound.text}" + (f" for all {under}" if c.under else "")
    return f"gap {measure(c.measure)} under {under} <= {c.bound.text}"


def exp_item(e: ast.ExpItem) -> str:
    k, a = e.kind, e.args
    if k in ("policies", "worst"):
        return ("policies " if k == "policies" else "worst over ") + ", ".join(n.text for n in a)
    if k == "vary":
        name, sw = a
        if sw.lo is not None:
            step = f" step {sw.step.text}" if sw.step is not None else ""
            return f"vary {name.text} over {sw.lo.text}..{sw.hi.text}{step}"
        return f"vary {name.text} over [" + ", ".join(literal(v) for v in sw.values) + "]"
    if k == "set":
        return "set " + ", ".join(f"{n.text} = {literal(v)}" for n, v in a)
    if k == "measure":
        return "measure " + ", ".join(measure(m) for m in a)
    if k == "engine":
        return f"engine {a[0].text}"
    if k == "data":
        return f'data "{a[0].text}"'
    return f"{k} {a[0].text}"


literal = ast.literal_text


def expr(e) -> str:
    """Canonical text of an expression; parentheses exactly where the source had them."""
    if isinstance(e, ast.Num):
        return e.text
    if isinstance(e, ast.BoolLit):
        return "true" if e.value else "false"
    if isinstance(e, ast.NameExpr):
        return e.name
    if isinstance(e, ast.Keyword):
        return e.word
    if isinstance(e, ast.Violates):
        return f"violates {e.value.text}"
    if isinstance(e, ast.Call):
        return f"{e.func.text}(" + ", ".join(expr(a) for a in e.args) + ")"
    if isinstance(e, ast.Unary):
        return f"not {expr(e.arg)}" if e.op == "not" else f"-{expr(e.arg)}"
    if isinstance(e, ast.Chain):
        parts = [expr(e.args[0])]
        for op, a in zip(e.ops, e.args[1:]):
            parts += [op, expr(a)]
        return " ".join(parts)
    if isinstance(e, ast.Compare):
        return f"{expr(e.left)} {e.op} {expr(e.right)}"
    if isinstance(e, ast.Implies):
        return f"{expr(e.left)} implies {expr(e.right)}"
    if isinstance(e, ast.MemberExpr):
        return f"{expr(e.arg)} in {{" + ", ".join(literal(v) for v in e.values) + "}"
    if isinstance(e, ast.Ite):  # an `else if` ladder in one loop
        arms = []
        while isinstance(e, ast.Ite):
            arms.append(f"if {expr(e.cond)} then {expr(e.then)}")
            e = e.orelse
        return " else ".join(arms) + f" else {expr(e)}"
    if isinstance(e, ast.Paren):
        return f"({expr(e.expr)})"
    raise TypeError(type(e).__name__)  # pragma: no cover
