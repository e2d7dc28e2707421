"""Typed expressions: AST expressions to typed IR.

Consumes: a :class:`~libet.spec.checker_names.Scope` (what every name denotes) and AST
expressions (:mod:`libet.spec.ast`).
Produces: typed IR expressions (:mod:`libet.spec.ir`): every name resolved, every node typed
(bool, int, real, an enum type, phase), ints widened to real where reals meet, ``-LITERAL``
folded; and the IR of every ``def`` and ``value``, resolved on first use so that they may be
written in any order (a cycle is E031).

Diagnostics: E010 (undefined name), E013 (unknown function, wrong arity), E020 (type errors),
E021 (a literal outside its domain), E031 (cycle). An expression with an error raises
:class:`~libet.spec.checker_names.Bad` after its diagnostic; callers that go on with other
constructs use :meth:`Typer.expr_or_none`.
"""

from __future__ import annotations

from libet.spec import ast, ir
from libet.spec.checker_names import MISSING, Bad, Decl, Scope
from libet.spec.diagnostics import did_you_mean

FUNCS = {f.value: f for f in ir.Func}
#: (fewest, most) arguments of each function; None: no upper limit.
ARITY = {
    ir.Func.MIN: (2, None),
    ir.Func.MAX: (2, None),
    ir.Func.ABS: (1, 1),
    ir.Func.EXP: (1, 1),
    ir.Func.LOG: (1, 1),
    ir.Func.POW: (2, 2),
}


class Typer:
    """Resolves and types the expressions of one spec against its :class:`Scope`."""

    def __init__(self, scope: Scope):
        self.scope = scope
        self.d = scope.d
        self.defs: dict[str, ir.Definition] = {}
        self._rounding: dict[str, bool] = {}  # def -> whether it computes a real that may round (W108)
        self.values: dict[str, ir.ReferenceValue] = {}
        self._resolving: list[str] = []

    def resolve_declarations(self) -> None:
        """Resolve every def and value (each reports its own errors once)."""
        for name in list(self.scope.names):
            if self.scope.names[name].kind in ("def", "value"):
                try:
                    self.named(name)
                except Bad:
                    pass

    def named(self, name: str):
        """The IR of a def or value (memoised); raises Bad if it has errors or is in a cycle."""
        names = self.scope.names
        decl = names[name]
        table = self.defs if decl.kind == "def" else self.values
        if name in table:
            return table[name]
        if name in self._resolving:
            cycle = self._resolving[self._resolving.index(name) :] + [name]
            self.d.error(
                "E031",
                "definitions refer to each other in a cycle: " + " -> ".join(cycle),
                decl.node.name.span,
                hint="a def or value cannot depend on itself",
            )
            raise Bad
        if decl.node is None:  # failed before
            raise Bad
        self._resolving.append(name)
        try:
            e = self.expr(decl.node.expr)
            if decl.kind == "value":
                self.expect(e, ir.BOOL, decl.node.expr, "a reference value")
                table[name] = ir.ReferenceValue(name, e, span=decl.node.name.span)
            else:
                table[name] = ir.Definition(name, e, span=decl.node.name.span)
        except Bad:
            names[name] = Decl(decl.kind, None, decl.main)  # report it once only
            raise
        finally:
            self._resolving.pop()
        return table[name]

    def expr_or_none(self, node) -> ir.Expr | None:
        try:
            return self.expr(node)
        except Bad:
            return None

    def expr(self, node, want: ir.Type | None = None) -> ir.Expr:
        """Typed IR for an AST expression; ``want`` resolves bare enum and phase names."""
        span = node.span
        if isinstance(node, ast.Paren):
            return self.expr(node.expr, want)
        if isinstance(node, ast.Num):
            if isinstance(node.value, int):
                return ir.Const(node.value, ir.INT, span=span)
            return ir.Const(node.value, ir.REAL, span=span)
        if isinstance(node, ast.BoolLit):
            return ir.Const(node.value, ir.BOOL, span=span)
        if isinstance(node, ast.NameExpr):
            return self._name(node, want)
        if isinstance(node, ast.Keyword):
            return {"depth": ir.Depth, "phase": ir.CurrentPhase, "harmful": ir.Harmful}[node.word](span=span)
        if isinstance(node, ast.Violates):
            return self._violates(node)
        if isinstance(node, ast.Unary):
            arg = self.expr(node.arg)
            if node.op == "not":
                self.expect(arg, ir.BOOL, node.arg, "'not'")
                return ir.Not(arg, span=span)
            self.numeric(arg, node.arg, "'-'")
            if isinstance(arg, ir.Const):  # fold so that `-2` and the literal -2 are one IR
                return ir.Const(-arg.value, arg.type, span=span)
            return ir.Neg(arg, arg.type, span=span)
        if isinstance(node, ast.Chain):
            return self._chain(node)
        if isinstance(node, ast.Implies):
            a, b = self.expr(node.left), self.expr(node.right)
            self.expect(a, ir.BOOL, node.left, "'implies'")
            self.expect(b, ir.BOOL, node.right, "'implies'")
            return ir.Logic(ir.BoolOp.IMPLIES, (a, b), span=span)
        if isinstance(node, ast.Compare):
            return self._compare(node)
        if isinstance(node, ast.MemberExpr):
            return self._member(node)
        if isinstance(node, ast.Ite):
            return self._ite(node, want)
        if isinstance(node, ast.Call):
            return self._call(node)
        raise TypeError(f"unknown AST node {type(node).__name__}")  # pragma: no cover

    def _ite(self, node: ast.Ite, want) -> ir.Expr:
        """``if ... then ... else ...``, an ``else if`` ladder in one loop (no recursion per
        branch): the branches are typed in order, each against the next one's value as the
        nested form would (a bare enum name takes its type from the other branch), and the
        nested IR is built from the last ``else`` outwards."""
        rungs = []
        while isinstance(node, ast.Ite):
            rungs.append(node)
            node = node.orelse
        conds = []
        names = self.scope.names
        for r in rungs:
            c = self.expr(r.cond)
            self.expect(c, ir.BOOL, r.cond, "the condition of 'if'")
            conds.append(c)
        # As nested: a branch that is not a bare name is typed first and its enum (or phase)
        # type resolves the bare names below it; a bare name takes the type of what follows.
        typed = {}
        for i, r in enumerate(rungs[:-1]):
            if not (_bare(r.then) and _unparen(r.then).name not in names):
                typed[i] = t = self.expr(r.then, want)
                if t.type.kind in (ir.Kind.ENUM, ir.Kind.PHASE):
                    want = t.type
        t, o = self._unify(rungs[-1].then, rungs[-1].orelse, want, "the branches of 'if'")
        ty = ir.REAL if (t.type != o.type and t.type.numeric) else t.type
        out = ir.Ite(conds[-1], t, o, ty, span=rungs[-1].span)
        for i in range(len(rungs) - 2, -1, -1):
            r, c = rungs[i], conds[i]
            t = typed.get(i) or self.expr(r.then, out.type if out.type.kind in (ir.Kind.ENUM, ir.Kind.PHASE) else want)
            if not (t.type == out.type or (t.type.numeric and out.type.numeric)):
                self.d.error(
                    "E020",
                    f"the branches of 'if' needs operands of one type, but got {type_words(t.type)} and {type_words(out.type)}",
                    _join(t.span, out.span),
                )
                raise Bad
            ty = ir.REAL if (t.type != out.type and t.type.numeric) else t.type
            out = ir.Ite(c, t, out, ty, span=r.span)
        return out

    def _violates(self, node: ast.Violates) -> ir.Expr:
        name = node.value.text
        names = self.scope.names
        if name not in names or names[name].kind != "value":
            kind = names[name].kind if name in names else None
            if name == "harmful":
                hint = (
                    "`harmful` already means that some reference value is violated (the disjunction "
                    "of all of them): write `harmful`, not `violates harmful`"
                )
            else:
                hint = did_you_mean(name, self.scope.of_kind("value")) or "declare it with `value NAME = ...`"
            self.d.error(
                "E010",
                f"'{name}' is not a reference value" + (f" (it is a {kind})" if kind else ""),
                node.value.span,
                hint=hint,
            )
            raise Bad
        self.named(name)
        return ir.Not(ir.ValueRef(name, span=node.value.span), span=node.span)

    def _name(self, node: ast.NameExpr, want: ir.Type | None) -> ir.Expr:
        scope = self.scope
        name, span = node.name, node.span
        decl = scope.names.get(name)
        if decl is not None:
            if decl.kind == "variable":
                if name not in scope.variables:
                    raise Bad
                return ir.VarRef(name, scope.variables[name].type, span=span)
            if decl.kind == "state variable":
                if name not in scope.state:
                    raise Bad
                return ir.StateRef(name, scope.state[name].type, span=span)
            if decl.kind == "param":
                if name not in scope.params:
                    raise Bad
                return ir.ParamRef(name, ir.INT if scope.params[name].integer else ir.REAL, span=span)
            if decl.kind == "def":
                d = self.named(name)
                return ir.DefRef(name, d.type, span=span)
            self.named(name)
            return ir.ValueRef(name, span=span)
        if want is not None and want.kind is ir.Kind.PHASE:
            if name in scope.phase_names:
                return ir.Const(name, ir.PHASE, span=span)
            self.d.error("E010", f"there is no phase '{name}'", span, hint=did_you_mean(name, scope.phase_names))
            raise Bad
        if want is not None and want.kind is ir.Kind.ENUM:
            if name in scope.positions.table(want.members):
                return ir.Const(name, want, span=span)
            self.d.error(
                "E021",
                f"'{name}' is not a value of the enum {want}",
                span,
                hint=did_you_mean(name, want.members) or f"the values are {ir.members_text(want.members)}",
            )
            raise Bad
        types = scope.members.get(name)
        if types:
            # Without a type from context, a member of several enums takes the first; an
            # operand beside it is then resolved against that enum (see _unify).
            return ir.Const(name, types[0], span=span)
        if name in scope.phase_names:
            return ir.Const(name, ir.PHASE, span=span)
        hint = did_you_mean(name, list(scope.names) + list(scope.members))
        if name in scope.policies:
            hint = "a policy cannot be used in an expression; name a value or a def"
        self.d.error("E010", f"undefined name '{name}'", span, hint=hint or "declare it as a variable, param, def or value")
        raise Bad

    def _chain(self, node: ast.Chain) -> ir.Expr:
        if node.ops[0] in ("and", "or"):
            op = ir.BoolOp.AND if node.ops[0] == "and" else ir.BoolOp.OR
            args = []
            for a_node in node.args:
                a = self.expr(a_node)
                self.expect(a, ir.BOOL, a_node, f"'{node.ops[0]}'")
                if isinstance(a, ir.Logic) and a.op is op:
                    args.extend(a.args)
                else:
                    args.append(a)
            return ir.Logic(op, tuple(args), span=node.span)
        left = self.expr(node.args[0])
        self.numeric(left, node.args[0], f"'{node.ops[0]}'")
        for op, r_node in zip(node.ops, node.args[1:]):
            right = self.expr(r_node)
            self.numeric(right, r_node, f"'{op}'")
            aop = ir.ArithOp(op)
            if aop is ir.ArithOp.DIV or ir.REAL in (left.type, right.type):
                ty = ir.REAL
            else:
                ty = ir.INT
            span = _join(left.span, right.span) or node.span
            left = ir.Arith(aop, left, right, ty, span=span)
        return left

    def _compare(self, node: ast.Compare) -> ir.Expr:
        op = ir.CmpOp(node.op)
        a, b = self._unify(node.left, node.right, None, f"'{node.op}'")
        if op not in (ir.CmpOp.EQ, ir.CmpOp.NE) and not (a.type.numeric and b.type.numeric):
            bad = a if not a.type.numeric else b
            self.d.error(
                "E020",
                f"'{node.op}' compares numbers, but this is {type_words(bad.type)}",
                bad.span or node.span,
                hint="use == or != for enums, bools and phases",
            )
            raise Bad
        if op in (ir.CmpOp.EQ, ir.CmpOp.NE) and ir.REAL in (a.type, b.type) and (self._rounds(a) or self._rounds(b)):
            self.d.warning(
                "W108",
                f"'{node.op}' compares reals: in double precision (the engines' default) `3 * 0.1 == 0.3` is false, "
                "in exact rationals (Z3, --exact) true, so the engines can disagree on it",
                node.span,
                hint="compare with a tolerance, e.g. `abs(a - b) < 1e-9`, or compare ints",
            )
        return ir.Compare(op, a, b, span=node.span)

    def _rounds(self, e: ir.Expr) -> bool:
        """Whether ``e`` computes a real a double may round: real arithmetic (``n * 0.1``, ``a
        / b``) or ``exp``, ``log`` or ``pow``, in it or in a def it reads. A param, a literal or
        ``min`` of them is the same number in both arithmetics, and ``r != 0``, the guard
        before a division, is exact in both. Each def is looked at once (``_rounding``)."""
        stack = [e]
        while stack:
            node = stack.pop()
            t = type(node)
            if t is ir.Arith and (node.type.kind is ir.Kind.REAL or node.op is ir.ArithOp.DIV):
                return True
            if t is ir.Call and node.func in (ir.Func.EXP, ir.Func.LOG, ir.Func.POW):
                return True
            if t is ir.DefRef:
                hit = self._rounding.get(node.name)
                if hit is None:
                    d = self.defs.get(node.name)
                    self._rounding[node.name] = False  # a def read twice below is looked at once
                    hit = self._rounding[node.name] = d is not None and self._rounds(d.expr)
                if hit:
                    return True
                continue
            stack.extend(node.children())
        return False

    def _member(self, node: ast.MemberExpr) -> ir.Expr:
        arg = self.expr(node.arg)
        if arg.type.kind in (ir.Kind.REAL, ir.Kind.PHASE):
            self.d.error("E020", f"'in' needs an enum, int or bool on the left, not {arg.type}", node.arg.span)
            raise Bad
        domain = self._domain_of(arg)
        values = []
        for lit in node.values:
            v = self.scope.domain_literal(lit, domain, _describe(node.arg))
            if v is MISSING:
                raise Bad
            values.append(v)
        return ir.Member(arg, tuple(values), span=node.span)

    def _unify(self, left_node, right_node, want, what: str) -> tuple[ir.Expr, ir.Expr]:
        """Check two operands that must have one type; a bare name takes the other's type."""
        names = self.scope.names
        left_bare = _bare(left_node) and _unparen(left_node).name not in names
        right_bare = _bare(right_node) and _unparen(right_node).name not in names
        if left_bare and not right_bare:
            b = self.expr(right_node, want)
            a = self.expr(left_node, b.type if b.type.kind in (ir.Kind.ENUM, ir.Kind.PHASE) else want)
        else:
            a = self.expr(left_node, want)
            b = self.expr(right_node, a.type if a.type.kind in (ir.Kind.ENUM, ir.Kind.PHASE) else want)
        if a.type == b.type or (a.type.numeric and b.type.numeric):
            return a, b
        self.d.error(
            "E020",
            f"{what} needs operands of one type, but got {type_words(a.type)} and {type_words(b.type)}",
            _join(a.span, b.span),
        )
        raise Bad

    def _call(self, node: ast.Call) -> ir.Expr:
        fname = node.func.text
        func = FUNCS.get(fname)
        if func is None:
            self.d.error(
                "E013",
                f"unknown function '{fname}'",
                node.func.span,
                hint=did_you_mean(fname, FUNCS) or "the functions are " + ", ".join(FUNCS),
            )
            raise Bad
        lo, hi = ARITY[func]
        n = len(node.args)
        if n < lo or (hi is not None and n > hi):
            want = f"{lo}" if lo == hi else f"at least {lo}"
            self.d.error("E013", f"{fname} takes {want} argument(s), not {n}", node.span)
            raise Bad
        args = []
        for a_node in node.args:
            a = self.expr(a_node)
            self.numeric(a, a_node, f"{fname}()")
            args.append(a)
        if func in (ir.Func.MIN, ir.Func.MAX, ir.Func.ABS) and all(a.type == ir.INT for a in args):
            ty = ir.INT
        else:
            ty = ir.REAL
        return ir.Call(func, tuple(args), ty, span=node.span)

    def expect(self, e: ir.Expr, ty: ir.Type, node, what: str) -> None:
        """E020 and Bad unless ``e`` has type ``ty``."""
        if e.type != ty:
            self.d.error("E020", f"{what} needs {type_words(ty)}, but this is {type_words(e.type)}", node.span or e.span)
            raise Bad

    def numeric(self, e: ir.Expr, node, what: str) -> None:
        """E020 and Bad unless ``e`` is a number."""
        if not e.type.numeric:
            self.d.error("E020", f"{what} needs a number, but this is {type_words(e.type)}", node.span or e.span)
            raise Bad

    def _domain_of(self, e: ir.Expr):
        if isinstance(e, ir.VarRef):
            return self.scope.variables[e.name].domain
        if isinstance(e, ir.StateRef):
            return self.scope.state[e.name].domain
        if e.type.kind is ir.Kind.ENUM:
            return ir.EnumDomain(e.type.members)
        if e.type.kind is ir.Kind.BOOL:
            return ir.BoolDomain()
        return None  # an int expression: any int


def type_words(ty: ir.Type) -> str:
    """A type with its article, for messages: ``an int``, ``an enum {a, b}``."""
    if ty.kind is ir.Kind.ENUM:
        return f"an enum {ty}"
    return {"bool": "a bool", "int": "an int", "real": "a real", "phase": "a phase"}[ty.kind.value]


def _unparen(node):
    while isinstance(node, ast.Paren):
        node = node.expr
    return node


def _bare(node) -> bool:
    return isinstance(_unparen(node), ast.NameExpr)


def _join(a, b):
    if a is None or b is None:
        return a or b
    if a.file != b.file:
        return a
    return ir.Span(a.file, a.line, a.col, b.end_line, b.end_col)


def _describe(node) -> str:
    node = _unparen(node)
    if isinstance(node, ast.NameExpr):
        return node.name
    return "the expression"

