"""The checker: resolves names, checks types and builds the frozen IR.

Consumes: the ASTs of a spec's main file and of the files it uses (from :mod:`.loader`).
Produces: an :class:`~libet.spec.ir.Spec`, or ``None``, and diagnostics in either case.

Passes, in order:

1. *declare*: collect every declaration into its namespace (duplicates, reserved words);
2. *resolve*: turn each expression into typed IR (undefined names, type errors, out-of-domain
   literals, functions and their arity), defs in dependency order (cycles are errors);
3. *structure*: trajectory, policies, checks and experiments;
4. *semantics* (only when 1-3 found no errors): reference values read substance only;
   transition probabilities and veto strengths lie in [0, 1] and sum to 1, checked by the
   reference interpreter over the finite domains where the state space is small enough;
   unreachable phases and unused declarations (warnings).
"""

from __future__ import annotations

from fractions import Fraction
from typing import Iterable

import attrs

from libet.errors import EvaluationError
from libet.spec import ast, ir
from libet.spec.diagnostics import Diagnostics, Note, did_you_mean
from libet.spec import measures as ms

#: Words that name built-ins or keywords in expressions; they cannot be declared.
RESERVED = frozenset(
    "depth phase harmful true false not and or implies if then else violates in "
    "substance framing context deliver stop otherwise weights".split()
)
#: Largest number of (assignment, phase, depth) states the probability checks enumerate.
ENUMERATION_BUDGET = 200_000
#: Largest domain of one variable, and largest horizon: beyond these a spec is surely a mistake.
MAX_DOMAIN = 1_000_000
MAX_HORIZON = 100_000_000
#: Depths checked for a trajectory with ``horizon none``.
UNBOUNDED_CHECK_DEPTHS = 1024

_FUNCS = {f.value: f for f in ir.Func}
_ARITY = {
    ir.Func.MIN: (2, None),
    ir.Func.MAX: (2, None),
    ir.Func.ABS: (1, 1),
    ir.Func.EXP: (1, 1),
    ir.Func.LOG: (1, 1),
    ir.Func.POW: (2, 2),
}
_MEASURES = {
    "harm": ms.HARM,
    "vetoed": ms.VETOED,
    "stopped": ms.STOPPED,
    "delivered": ms.DELIVERED,
    "over-refusal": ms.OVER_REFUSAL,
    "depth": ms.DEPTH,
}


class _Bad(Exception):
    """Aborts checking one expression after its diagnostic has been recorded."""


@attrs.define
class _Decl:
    kind: str  # variable, param, def, value
    node: object
    main: bool


class Checker:
    """Checks the modules of one spec. Use :func:`check`."""

    def __init__(self, modules: list[tuple[ast.Module, bool]], diags: Diagnostics):
        self.modules = modules
        self.d = diags
        self.names: dict[str, _Decl] = {}
        self.policies: dict[str, ast.PolicyDecl] = {}
        self.experiments: dict[str, ast.ExperimentDecl] = {}
        self.trajectories: list[ast.TrajectoryDecl] = []
        self.checks: list[ast.CheckDecl] = []
        self.members: dict[str, list[ir.Type]] = {}  # enum member name -> enum types having it
        self.variables: dict[str, ir.Variable] = {}
        self.params: dict[str, ir.Param] = {}
        self.defs: dict[str, ir.Definition] = {}
        self.values: dict[str, ir.ReferenceValue] = {}
        self.phase_names: set[str] = set()
        self._resolving: list[str] = []
        self.title = "untitled"

    # ---- pass 1: declarations ---------------------------------------------------------------

    def declare(self):
        for module, main in self.modules:
            if main and module.title is not None:
                self.title = module.title
            for item in module.items:
                if isinstance(item, ast.VarBlock):
                    for decl in item.decls:
                        self._declare_name(decl.name, "variable", (item.cls, decl), main)
                elif isinstance(item, ast.ParamDecl):
                    self._declare_name(item.name, "param", item, main)
                elif isinstance(item, ast.DefDecl):
                    self._declare_name(item.name, "def", item, main)
                elif isinstance(item, ast.ValueDecl):
                    self._declare_name(item.name, "value", item, main)
                elif isinstance(item, ast.PolicyDecl):
                    self._declare_other(self.policies, "policy", item)
                elif isinstance(item, ast.ExperimentDecl):
                    self._declare_other(self.experiments, "experiment", item)
                elif isinstance(item, ast.TrajectoryDecl):
                    self.trajectories.append(item)
                elif isinstance(item, ast.CheckDecl):
                    self.checks.append(item)

    def _declare_name(self, name: ast.Name, kind: str, node, main: bool):
        if not self._allowed_name(name):
            return
        prior = self.names.get(name.text)
        if prior is not None:
            first = prior.node[1] if prior.kind == "variable" else prior.node
            self.d.error(
                "E011",
                f"'{name.text}' is already declared as a {prior.kind}",
                name.span,
                hint="rename one of them; variables, params, defs and values share one namespace",
                notes=[Note("first declared here", first.name.span)],
            )
            return
        self.names[name.text] = _Decl(kind, node, main)

    def _declare_other(self, table: dict, kind: str, node):
        if not self._allowed_name(node.name):
            return
        if node.name.text in table:
            self.d.error(
                "E011",
                f"{kind} '{node.name.text}' is declared twice",
                node.name.span,
                hint=f"rename one of the two {kind}s",
                notes=[Note("first declared here", table[node.name.text].name.span)],
            )
            return
        table[node.name.text] = node

    def _allowed_name(self, name: ast.Name) -> bool:
        if name.text in RESERVED:
            self.d.error(
                "E012",
                f"'{name.text}' is a reserved word and cannot be declared",
                name.span,
                hint=f"choose another name, e.g. '{name.text}_'",
            )
            return False
        return True

    # ---- pass 2a: domains and params ----------------------------------------------------------

    def build_variables(self):
        for name, decl in self.names.items():
            if decl.kind == "variable":
                cls, node = decl.node
                var = self._variable(ir.VarClass(cls), node)
                if var is not None:
                    self.variables[name] = var
            elif decl.kind == "param":
                p = self._param(decl.node)
                if p is not None:
                    self.params[name] = p
        for var in self.variables.values():
            if isinstance(var.domain, ir.EnumDomain):
                for m in var.domain.members:
                    types = self.members.setdefault(m, [])
                    if var.type not in types:
                        types.append(var.type)
        for m in self.members:
            if m in self.names:
                decl = self.names[m]
                node = decl.node[1] if decl.kind == "variable" else decl.node
                self.d.error(
                    "E011",
                    f"'{m}' is both an enum value and a {decl.kind}",
                    node.name.span,
                    hint=f"rename the {decl.kind} or the enum value: in an expression '{m}' would be ambiguous",
                )

    def _variable(self, cls: ir.VarClass, node: ast.VarDecl) -> ir.Variable | None:
        dom = node.domain
        if isinstance(dom, ast.BoolDom):
            domain = ir.BoolDomain()
        elif isinstance(dom, ast.IntDom):
            if dom.lo > dom.hi:
                self.d.error(
                    "E022",
                    f"the domain {dom.lo}..{dom.hi} of '{node.name.text}' is empty",
                    dom.span,
                    hint=f"write the smaller bound first: {dom.hi}..{dom.lo}",
                )
                return None
            if dom.hi - dom.lo + 1 > MAX_DOMAIN:
                self.d.error(
                    "E022",
                    f"the domain {dom.lo}..{dom.hi} of '{node.name.text}' has {dom.hi - dom.lo + 1:,} values; "
                    f"the limit is {MAX_DOMAIN:,}",
                    dom.span,
                    hint="a finite domain is enumerated; model a large quantity in coarser buckets",
                )
                return None
            domain = ir.IntDomain(dom.lo, dom.hi)
        else:
            if not dom.members:
                self.d.error(
                    "E022",
                    f"the domain of '{node.name.text}' is empty",
                    dom.span,
                    hint="list at least one value, e.g. {none, fiction}",
                )
                return None
            seen: dict[str, ast.Name] = {}
            for m in dom.members:
                if m.text in seen:
                    self.d.error("E011", f"'{m.text}' appears twice in the domain of '{node.name.text}'", m.span)
                    return None
                if m.text in RESERVED:
                    self._allowed_name(m)
                    return None
                seen[m.text] = m
            domain = ir.EnumDomain(tuple(m.text for m in dom.members))
        weights = None
        if node.weights is not None:
            weights = self._weights(node, domain)
            if weights is None:
                return None
        return ir.Variable(node.name.text, cls, domain, weights, span=node.name.span)

    def _weights(self, node: ast.VarDecl, domain) -> tuple[Fraction, ...] | None:
        values = domain.values()
        given: dict = {}
        for key, num in node.weights:
            v = self._domain_literal(key, domain, node.name.text)
            if v is _MISSING:
                return None
            if v in given:
                self.d.error("E023", f"weight for {_show(v)} given twice", key.span)
                return None
            if num.value < 0:
                self.d.error("E023", f"weight {num.text} is negative", num.span, hint="weights are probabilities")
                return None
            given[v] = Fraction(num.value)
        missing = [v for v in values if v not in given]
        if missing:
            self.d.error(
                "E023",
                f"weights of '{node.name.text}' leave out {', '.join(_show(v) for v in missing)}",
                node.span,
                hint="give a weight (possibly 0) to every value of the domain",
            )
            return None
        total = sum(given.values())
        if total != 1:
            self.d.error(
                "E023",
                f"weights of '{node.name.text}' sum to {float(total):g}, not 1",
                node.span,
                hint="weights are a probability distribution over the domain",
            )
            return None
        return tuple(given[v] for v in values)

    def _param(self, node: ast.ParamDecl) -> ir.Param | None:
        default = Fraction(node.default.value)
        lo = hi = None
        if node.range is not None:
            lo, hi = Fraction(node.range[0].value), Fraction(node.range[1].value)
            if lo > hi:
                self.d.error("E023", f"the range [{node.range[0].text}, {node.range[1].text}] is empty", node.range[0].span)
                return None
            if not lo <= default <= hi:
                self.d.error(
                    "E023",
                    f"default {node.default.text} of '{node.name.text}' lies outside its range "
                    f"[{node.range[0].text}, {node.range[1].text}]",
                    node.default.span,
                )
                return None
        return ir.Param(node.name.text, default, lo, hi, span=node.name.span)

    # ---- pass 2b: expressions -------------------------------------------------------------------

    def _named(self, name: str):
        """Resolve a def or value (memoised); None if it has errors or is in a cycle."""
        table = self.defs if self.names[name].kind == "def" else self.values
        if name in table:
            return table[name]
        decl = self.names[name]
        if name in self._resolving:
            cycle = self._resolving[self._resolving.index(name) :] + [name]
            self.d.error(
                "E031",
                "definitions refer to each other in a cycle: " + " -> ".join(cycle),
                decl.node.name.span,
                hint="a def or value cannot depend on itself",
            )
            raise _Bad
        if decl.node is None:  # failed before
            raise _Bad
        self._resolving.append(name)
        try:
            e = self.expr(decl.node.expr)
            if decl.kind == "value":
                self._expect(e, ir.BOOL, decl.node.expr, "a reference value")
                table[name] = ir.ReferenceValue(name, e, span=decl.node.name.span)
            else:
                table[name] = ir.Definition(name, e, span=decl.node.name.span)
        except _Bad:
            self.names[name] = _Decl(decl.kind, None, decl.main)  # report it once only
            raise
        finally:
            self._resolving.pop()
        return table[name]

    def expr_or_none(self, node) -> ir.Expr | None:
        try:
            return self.expr(node)
        except _Bad:
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
            name = node.value.text
            if name not in self.names or self.names[name].kind != "value":
                kind = self.names[name].kind if name in self.names else None
                self.d.error(
                    "E010",
                    f"'{name}' is not a reference value" + (f" (it is a {kind})" if kind else ""),
                    node.value.span,
                    hint=did_you_mean(name, self._of_kind("value")) or "declare it with `value NAME = ...`",
                )
                raise _Bad
            self._named(name)
            return ir.Not(ir.ValueRef(name, span=node.value.span), span=span)
        if isinstance(node, ast.Unary):
            arg = self.expr(node.arg)
            if node.op == "not":
                self._expect(arg, ir.BOOL, node.arg, "'not'")
                return ir.Not(arg, span=span)
            self._numeric(arg, node.arg, "'-'")
            if isinstance(arg, ir.Const):  # fold so that `-2` and the literal -2 are one IR
                return ir.Const(-arg.value, arg.type, span=span)
            return ir.Neg(arg, arg.type, span=span)
        if isinstance(node, ast.Chain):
            return self._chain(node)
        if isinstance(node, ast.Implies):
            a, b = self.expr(node.left), self.expr(node.right)
            self._expect(a, ir.BOOL, node.left, "'implies'")
            self._expect(b, ir.BOOL, node.right, "'implies'")
            return ir.Logic(ir.BoolOp.IMPLIES, (a, b), span=span)
        if isinstance(node, ast.Compare):
            return self._compare(node)
        if isinstance(node, ast.MemberExpr):
            arg = self.expr(node.arg)
            if arg.type.kind in (ir.Kind.REAL, ir.Kind.PHASE):
                self.d.error("E020", f"'in' needs an enum, int or bool on the left, not {arg.type}", node.arg.span)
                raise _Bad
            domain = self._domain_of(arg)
            values = []
            for lit in node.values:
                v = self._domain_literal(lit, domain, _describe_expr(node.arg))
                if v is _MISSING:
                    raise _Bad
                values.append(v)
            return ir.Member(arg, tuple(values), span=span)
        if isinstance(node, ast.Ite):
            c = self.expr(node.cond)
            self._expect(c, ir.BOOL, node.cond, "the condition of 'if'")
            t, o = self._unify(node.then, node.orelse, want, "the branches of 'if'")
            ty = ir.REAL if (t.type != o.type and t.type.numeric) else t.type
            return ir.Ite(c, t, o, ty, span=span)
        if isinstance(node, ast.Call):
            return self._call(node)
        raise TypeError(f"unknown AST node {type(node).__name__}")  # pragma: no cover

    def _name(self, node: ast.NameExpr, want: ir.Type | None) -> ir.Expr:
        name, span = node.name, node.span
        decl = self.names.get(name)
        if decl is not None:
            if decl.kind == "variable":
                if name not in self.variables:
                    raise _Bad
                return ir.VarRef(name, self.variables[name].type, span=span)
            if decl.kind == "param":
                if name not in self.params:
                    raise _Bad
                return ir.ParamRef(name, span=span)
            if decl.kind == "def":
                d = self._named(name)
                return ir.DefRef(name, d.type, span=span)
            self._named(name)
            return ir.ValueRef(name, span=span)
        if want is not None and want.kind is ir.Kind.PHASE:
            if name in self.phase_names:
                return ir.Const(name, ir.PHASE, span=span)
            self.d.error("E010", f"there is no phase '{name}'", span, hint=did_you_mean(name, self.phase_names))
            raise _Bad
        if want is not None and want.kind is ir.Kind.ENUM:
            if name in want.members:
                return ir.Const(name, want, span=span)
            self.d.error(
                "E021",
                f"'{name}' is not a value of the enum {want}",
                span,
                hint=did_you_mean(name, want.members) or f"the values are {', '.join(want.members)}",
            )
            raise _Bad
        types = self.members.get(name)
        if types:
            # Without a type from context, a member of several enums takes the first; an
            # operand beside it is then resolved against that enum (see _unify).
            return ir.Const(name, types[0], span=span)
        if name in self.phase_names:
            return ir.Const(name, ir.PHASE, span=span)
        candidates = list(self.names) + list(self.members)
        hint = did_you_mean(name, candidates)
        if name in self.policies:
            hint = "a policy cannot be used in an expression; name a value or a def"
        self.d.error("E010", f"undefined name '{name}'", span, hint=hint or "declare it as a variable, param, def or value")
        raise _Bad

    def _chain(self, node: ast.Chain) -> ir.Expr:
        if node.ops[0] in ("and", "or"):
            op = ir.BoolOp.AND if node.ops[0] == "and" else ir.BoolOp.OR
            args = []
            for a_node in node.args:
                a = self.expr(a_node)
                self._expect(a, ir.BOOL, a_node, f"'{node.ops[0]}'")
                if isinstance(a, ir.Logic) and a.op is op:
                    args.extend(a.args)
                else:
                    args.append(a)
            return ir.Logic(op, tuple(args), span=node.span)
        left = self.expr(node.args[0])
        self._numeric(left, node.args[0], f"'{node.ops[0]}'")
        for op, r_node in zip(node.ops, node.args[1:]):
            right = self.expr(r_node)
            self._numeric(right, r_node, f"'{op}'")
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
                f"'{node.op}' compares numbers, but this is {_a(bad.type)}",
                bad.span or node.span,
                hint="use == or != for enums, bools and phases",
            )
            raise _Bad
        return ir.Compare(op, a, b, span=node.span)

    def _unify(self, left_node, right_node, want, what: str) -> tuple[ir.Expr, ir.Expr]:
        """Check two operands that must have one type; a bare name takes the other's type."""
        left_bare = _bare(left_node) and left_node.name not in self.names
        right_bare = _bare(right_node) and right_node.name not in self.names
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
            f"{what} needs operands of one type, but got {_a(a.type)} and {_a(b.type)}",
            _join(a.span, b.span),
            hint=None,
        )
        raise _Bad

    def _call(self, node: ast.Call) -> ir.Expr:
        fname = node.func.text
        func = _FUNCS.get(fname)
        if func is None:
            self.d.error(
                "E013",
                f"unknown function '{fname}'",
                node.func.span,
                hint=did_you_mean(fname, _FUNCS) or "the functions are " + ", ".join(_FUNCS),
            )
            raise _Bad
        lo, hi = _ARITY[func]
        n = len(node.args)
        if n < lo or (hi is not None and n > hi):
            want = f"{lo}" if lo == hi else f"at least {lo}"
            self.d.error("E013", f"{fname} takes {want} argument(s), not {n}", node.span)
            raise _Bad
        args = []
        for a_node in node.args:
            a = self.expr(a_node)
            self._numeric(a, a_node, f"{fname}()")
            args.append(a)
        if func in (ir.Func.MIN, ir.Func.MAX, ir.Func.ABS) and all(a.type == ir.INT for a in args):
            ty = ir.INT
        else:
            ty = ir.REAL
        return ir.Call(func, tuple(args), ty, span=node.span)

    def _expect(self, e: ir.Expr, ty: ir.Type, node, what: str):
        if e.type != ty:
            self.d.error("E020", f"{what} needs {_a(ty)}, but this is {_a(e.type)}", node.span or e.span)
            raise _Bad

    def _numeric(self, e: ir.Expr, node, what: str):
        if not e.type.numeric:
            self.d.error("E020", f"{what} needs a number, but this is {_a(e.type)}", node.span or e.span)
            raise _Bad

    def _domain_of(self, e: ir.Expr):
        if isinstance(e, ir.VarRef):
            return self.variables[e.name].domain
        if e.type.kind is ir.Kind.ENUM:
            return ir.EnumDomain(e.type.members)
        if e.type.kind is ir.Kind.BOOL:
            return ir.BoolDomain()
        return None  # an int expression: any int

    def _domain_literal(self, lit, domain, owner: str):
        """The scalar a literal denotes in ``domain``, or _MISSING after a diagnostic."""
        if isinstance(domain, ir.EnumDomain) or (domain is None and isinstance(lit, ast.NameExpr)):
            members = domain.members if domain is not None else ()
            if isinstance(lit, ast.NameExpr) and lit.name in members:
                return lit.name
            shown = lit.name if isinstance(lit, ast.NameExpr) else ast.literal_text(lit)
            self.d.error(
                "E021",
                f"{shown} is not a value of '{owner}' {{{', '.join(members)}}}",
                lit.span,
                hint=did_you_mean(shown, members) if members else None,
            )
            return _MISSING
        if isinstance(domain, ir.BoolDomain):
            if isinstance(lit, ast.BoolLit):
                return lit.value
            self.d.error("E021", f"{ast.literal_text(lit)} is not a value of '{owner}' (a bool)", lit.span, hint="write true or false")
            return _MISSING
        # int domain (or an int expression)
        if isinstance(lit, ast.Num) and isinstance(lit.value, int):
            if domain is not None and not domain.lo <= lit.value <= domain.hi:
                self.d.error(
                    "E021",
                    f"{lit.value} lies outside the domain {domain} of '{owner}'",
                    lit.span,
                    hint=f"the values are {domain.lo} to {domain.hi}",
                )
                return _MISSING
            return lit.value
        self.d.error("E021", f"{ast.literal_text(lit)} is not a whole number, as '{owner}' needs", lit.span)
        return _MISSING

    def _of_kind(self, kind: str) -> list[str]:
        return [n for n, d in self.names.items() if d.kind == kind]

    # ---- pass 3: trajectory, policies, checks, experiments -----------------------------------------

    def trajectory(self) -> ir.Trajectory | None:
        if not self.trajectories:
            return None
        for extra in self.trajectories[1:]:
            self.d.error(
                "E040",
                "a spec has one trajectory; this is a second",
                extra.span,
                notes=[Note("the first is here", self.trajectories[0].span)],
            )
        node = self.trajectories[0]
        horizons = [i for i in node.items if isinstance(i, ast.Horizon)]
        starts = [i for i in node.items if isinstance(i, ast.Start)]
        phases = [i for i in node.items if isinstance(i, ast.PhaseDecl)]
        ok = True
        for label, items in (("horizon", horizons), ("start", starts)):
            if not items:
                self.d.error(
                    "E040",
                    f"the trajectory has no '{label}'",
                    node.span,
                    hint="write `horizon 64` (or `horizon none`, for proofs only)"
                    if label == "horizon"
                    else "write `start PHASE` or `start PHASE at depth EXPR`",
                )
                ok = False
            for extra in items[1:]:
                self.d.error("E040", f"the trajectory has a second '{label}'", extra.span)
                ok = False
        if not phases:
            self.d.error("E040", "the trajectory has no phases", node.span, hint="add `phase NAME { -> deliver : 1 }`")
            return None
        horizon = None
        if horizons:
            h = horizons[0].value
            if isinstance(h, str):
                if h != "none":
                    self.d.error("E040", f"horizon must be a whole number or 'none', not '{h}'", horizons[0].span)
                    ok = False
            elif not 1 <= h <= MAX_HORIZON:
                self.d.error("E040", f"the horizon must lie in 1..{MAX_HORIZON:,}", horizons[0].span,
                             hint="for an unbounded trajectory write `horizon none`")
                ok = False
            else:
                horizon = h
        seen: dict[str, ast.PhaseDecl] = {}
        for p in phases:
            if not self._allowed_name(p.name):
                ok = False
                continue
            if p.name.text in self.names:
                decl = self.names[p.name.text]
                first = decl.node[1] if decl.kind == "variable" else decl.node
                self.d.error(
                    "E011",
                    f"phase '{p.name.text}' has the name of a {decl.kind}",
                    p.name.span,
                    hint="rename one of them: in `phase == NAME` the name would be ambiguous",
                    notes=[Note(f"the {decl.kind} is declared here", first.name.span if first else None)],
                )
                ok = False
            if p.name.text in seen:
                self.d.error(
                    "E011",
                    f"phase '{p.name.text}' is declared twice",
                    p.name.span,
                    notes=[Note("first declared here", seen[p.name.text].name.span)],
                )
                ok = False
            seen[p.name.text] = p
        self.phase_names = set(seen)
        ir_phases = []
        for p in seen.values():
            phase = self._phase(p)
            ok &= phase is not None
            if phase is not None:
                ir_phases.append(phase)
        start_phase, start_depth = None, ir.Const(0, ir.INT)
        if starts:
            s = starts[0]
            if s.phase.text not in self.phase_names:
                self.d.error(
                    "E010",
                    f"there is no phase '{s.phase.text}' to start in",
                    s.phase.span,
                    hint=did_you_mean(s.phase.text, self.phase_names),
                )
                ok = False
            start_phase = s.phase.text
            if s.depth is not None:
                e = self.expr_or_none(s.depth)
                if e is None:
                    ok = False
                elif e.type != ir.INT:
                    self.d.error("E020", f"the start depth must be a whole number, but this is {_a(e.type)}", s.depth.span)
                    ok = False
                else:
                    for n in ir.walk(e):
                        if isinstance(n, (ir.Depth, ir.CurrentPhase)):
                            self.d.error("E040", "the start depth cannot read 'depth' or 'phase'", n.span)
                            ok = False
                    start_depth = e
        if not ok:
            return None
        return ir.Trajectory(horizon, start_phase, start_depth, tuple(ir_phases), span=node.span)

    def _phase(self, p: ast.PhaseDecl) -> ir.Phase | None:
        if not p.transitions:
            self.d.error(
                "E040",
                f"phase '{p.name.text}' has no transitions",
                p.span,
                hint="every phase needs transitions whose probabilities sum to 1, e.g. `-> deliver : 1`",
            )
            return None
        targets: dict[str, ast.TransitionDecl] = {}
        otherwise = None
        out = []
        ok = True
        for t in p.transitions:
            name = t.target.text
            if name not in self.phase_names and name not in ir.EXITS:
                self.d.error(
                    "E010",
                    f"'{name}' is not a phase, 'deliver' or 'stop'",
                    t.target.span,
                    hint=did_you_mean(name, list(self.phase_names) + list(ir.EXITS)),
                )
                ok = False
            if name in targets:
                self.d.error(
                    "E040",
                    f"phase '{p.name.text}' has two transitions to '{name}'",
                    t.target.span,
                    hint="merge them into one transition by adding their probabilities",
                )
                ok = False
            targets[name] = t
            if t.prob is None:
                if otherwise is not None:
                    self.d.error("E040", f"phase '{p.name.text}' has two 'otherwise' transitions", t.span)
                    ok = False
                otherwise = t
                out.append(ir.Transition(name, None, span=t.span))
                continue
            e = self.expr_or_none(t.prob)
            if e is None:
                ok = False
                continue
            if not e.type.numeric:
                self.d.error("E020", f"a transition probability must be a number, but this is {_a(e.type)}", t.prob.span)
                ok = False
                continue
            out.append(ir.Transition(name, e, span=t.span))
        return ir.Phase(p.name.text, tuple(out), span=p.span) if ok else None

    def policy(self, node: ast.PolicyDecl) -> ir.Policy | None:
        rules = []
        ok = True
        if not node.rules:
            self.d.warning(
                "W104",
                f"policy '{node.name.text}' has no rules: it never vetoes",
                node.name.span,
                hint="fine as a baseline (the generator alone); otherwise add `veto when ...`",
            )
        for r in node.rules:
            c = self.expr_or_none(r.condition)
            if c is not None and c.type != ir.BOOL:
                self.d.error("E020", f"a veto condition must be a bool, but this is {_a(c.type)}", r.condition.span)
                c = None
            s = ir.Const(Fraction(1), ir.REAL)
            if r.strength is not None:
                s = self.expr_or_none(r.strength)
                if s is not None and not s.type.numeric:
                    self.d.error("E020", f"a veto strength must be a number, but this is {_a(s.type)}", r.strength.span)
                    s = None
            if c is None or s is None:
                ok = False
                continue
            rules.append(ir.Rule(c, s, span=r.span))
        return ir.Policy(node.name.text, tuple(rules), span=node.name.span) if ok else None

    def _var_list(self, names: Iterable[ast.Name], allow_depth: bool, what: str) -> tuple[tuple[str, ...], bool] | None:
        out: dict[str, None] = {}  # ordered set
        depth = False
        ok = True
        for n in names:
            if n.text == "depth":
                if not allow_depth:
                    self.d.error("E050", f"{what} cannot range over depth", n.span)
                    ok = False
                depth = True
            elif n.text in ("substance", "framing", "context"):
                members = self._by_class().get(n.text, [])
                if not members:
                    self.d.error("E050", f"the spec declares no {n.text} variables", n.span)
                    ok = False
                out.update(dict.fromkeys(members))
            elif n.text in self.variables:
                out[n.text] = None
            else:
                kind = self.names[n.text].kind if n.text in self.names else None
                self.d.error(
                    "E010" if kind is None else "E050",
                    f"'{n.text}' is not a variable" + (f" (it is a {kind})" if kind else ""),
                    n.span,
                    hint=did_you_mean(n.text, list(self.variables) + ["depth", "substance", "framing", "context"])
                    if kind is None
                    else f"{what} ranges over variables, a class (substance, framing, context) or depth",
                )
                ok = False
        return (tuple(out), depth) if ok else None

    def _by_class(self) -> dict[str, list[str]]:
        if not hasattr(self, "_class_cache"):
            self._class_cache: dict[str, list[str]] = {}
            for v, var in self.variables.items():
                self._class_cache.setdefault(var.cls.value, []).append(v)
        return self._class_cache

    def checks_ir(self, trajectory: ir.Trajectory | None) -> list[ir.Check]:
        out = []
        for block in self.checks:
            policies = []
            for p in block.policies:
                if p.text not in self.policies:
                    self.d.error("E010", f"there is no policy '{p.text}'", p.span, hint=did_you_mean(p.text, self.policies))
                else:
                    policies.append(p.text)
            for item in block.items:
                prop = self._property(item, trajectory)
                if prop is not None:
                    out.extend(ir.Check(p, prop, span=item.span) for p in policies)
        return out

    def _property(self, item: ast.CheckItem, trajectory) -> ir.Property | None:
        written = tuple(n.text for n in item.under)
        if item.kind == "invariant":
            r = self._var_list(item.under, True, "invariance")
            return None if r is None else ir.Invariance(r[0], r[1], written=written)
        if item.kind == "complete":
            return ir.Complete()
        if item.kind == "no-over-refusal":
            return ir.NoOverRefusal()
        if item.kind == "safe":
            if trajectory is None and not self.trajectories:
                self.d.error("E050", "'safe' needs a trajectory", item.span, hint="declare `trajectory { ... }`")
                return None
            return ir.Safe()
        # bound and gap: the exact engine, so a finite horizon
        measure = _MEASURES[item.measure.outcome]
        bound = Fraction(item.bound.value)
        if not self._quantitative_ok(item, trajectory, measure, bound):
            return None
        r = self._var_list(item.under, False, "a quantitative check")
        if r is None:
            return None
        if item.kind == "bound":
            return ir.Bound(measure, ir.CmpOp(item.op), bound, r[0], written=written)
        return ir.Gap(measure, r[0], bound, written=written)

    def _quantitative_ok(self, item, trajectory, measure, bound) -> bool:
        what = "a gap check" if item.kind == "gap" else f"'{measure.value} {item.op} ...'"
        if not self.trajectories:
            self.d.error("E061", f"{what} needs a trajectory", item.span, hint="declare `trajectory { ... }`")
            return False
        if trajectory is not None and trajectory.horizon is None:
            self.d.error(
                "E061",
                f"{what} needs a finite horizon; this trajectory has `horizon none`",
                item.span,
                hint="probabilities are computed exactly up to the horizon; give one, e.g. `horizon 64`",
            )
            return False
        if measure.is_probability and not 0 <= bound <= 1:
            self.d.error("E023", f"a probability bound must lie in [0, 1], not {item.bound.text}", item.bound.span)
            return False
        if bound < 0:
            self.d.error("E023", f"the bound {item.bound.text} is negative", item.bound.span)
            return False
        return True

    def experiment(self, node: ast.ExperimentDecl, trajectory) -> ir.Experiment | None:
        ok = True
        seen: dict[str, ast.ExpItem] = {}
        fields: dict = {"vary": [], "set": []}
        for item in node.items:
            if item.kind in seen and item.kind not in ("vary", "set"):
                self.d.error(
                    "E060",
                    f"experiment '{node.name.text}' has a second '{item.kind}' line",
                    item.span,
                    hint="list everything on one line, separated by commas",
                    notes=[Note("the first is here", seen[item.kind].span)],
                )
                ok = False
                continue
            seen[item.kind] = item
            try:
                self._exp_item(item, fields)
            except _Bad:
                ok = False
        if not self.trajectories:
            self.d.error("E061", f"experiment '{node.name.text}' needs a trajectory", node.name.span)
            return None
        if trajectory is not None and trajectory.horizon is None:
            self.d.error(
                "E061",
                f"experiment '{node.name.text}' runs on a trajectory without a horizon",
                node.name.span,
                hint="simulation needs a finite horizon; replace `horizon none` with e.g. `horizon 64`",
            )
            ok = False
        if "policies" not in seen:
            self.d.error("E060", f"experiment '{node.name.text}' names no policies", node.name.span, hint="add `policies P, Q`")
            ok = False
        names = [v.name for v in fields["vary"]] + [n for n, _ in fields["set"]]
        for n in set(names):
            if names.count(n) > 1:
                self.d.error("E060", f"'{n}' is varied or set more than once in experiment '{node.name.text}'", node.name.span)
                ok = False
        for n in fields.get("worst", ()):
            if n in names:
                self.d.error("E060", f"'{n}' is varied or set, so the worst case cannot range over it", node.name.span)
                ok = False
        if not ok:
            return None
        return ir.Experiment(
            node.name.text,
            fields["policies"],
            tuple(fields["vary"]),
            tuple(fields["set"]),
            fields.get("measure", (ms.HARM, ms.VETOED)),
            tuple(fields.get("worst", ())),
            fields.get("engine", "exact"),
            fields.get("runs", 10_000),
            fields.get("seed", 0),
            span=node.name.span,
        )

    def _exp_item(self, item: ast.ExpItem, fields: dict):
        k = item.kind
        if k == "policies":
            for p in item.args:
                if p.text not in self.policies:
                    self.d.error("E010", f"there is no policy '{p.text}'", p.span, hint=did_you_mean(p.text, self.policies))
                    raise _Bad
            fields["policies"] = tuple(p.text for p in item.args)
        elif k == "vary":
            name, sweep = item.args
            fields["vary"].append(ir.Vary(name.text, self._sweep(name, sweep), span=item.span))
        elif k == "set":
            for name, lit in item.args:
                fields["set"].append((name.text, self._setting(name, lit)))
        elif k == "measure":
            fields["measure"] = tuple(dict.fromkeys(_MEASURES[m.outcome] for m in item.args))
        elif k == "worst":
            r = self._var_list(item.args, False, "the worst case")
            if r is None:
                raise _Bad
            fields["worst"] = r[0]
        elif k == "engine":
            word = item.args[0]
            from libet.simulator.engines import ENGINES

            if word.text not in ENGINES:
                self.d.error("E060", f"unknown engine '{word.text}'", word.span, hint=f"the engines are {', '.join(ENGINES)}")
                raise _Bad
            fields["engine"] = word.text
        elif k in ("runs", "seed"):
            num = item.args[0]
            if k == "runs" and num.value < 1:
                self.d.error("E023", "runs must be at least 1", num.span)
                raise _Bad
            fields[k] = num.value

    def _target(self, name: ast.Name):
        """The variable or param an experiment line names, or raise after a diagnostic."""
        if name.text in self.variables:
            return self.variables[name.text]
        if name.text in self.params:
            return self.params[name.text]
        self.d.error(
            "E010",
            f"'{name.text}' is not a variable or param",
            name.span,
            hint=did_you_mean(name.text, list(self.variables) + list(self.params)),
        )
        raise _Bad

    def _setting(self, name: ast.Name, lit):
        target = self._target(name)
        if isinstance(target, ir.Variable):
            v = self._domain_literal(lit, target.domain, name.text)
            if v is _MISSING:
                raise _Bad
            return v
        return self._param_value(target, lit)

    def _param_value(self, p: ir.Param, lit) -> Fraction:
        if not isinstance(lit, ast.Num):
            self.d.error("E020", f"param '{p.name}' takes a number", lit.span)
            raise _Bad
        v = Fraction(lit.value)
        if (p.lo is not None and v < p.lo) or (p.hi is not None and v > p.hi):
            self.d.error("E023", f"{lit.text} lies outside the range [{_num(p.lo)}, {_num(p.hi)}] of param '{p.name}'", lit.span)
            raise _Bad
        return v

    def _sweep(self, name: ast.Name, sweep: ast.Sweep) -> tuple:
        target = self._target(name)
        if sweep.lo is None:
            return tuple(self._setting(name, lit) for lit in sweep.values)
        lo, hi = Fraction(sweep.lo.value), Fraction(sweep.hi.value)
        if isinstance(target, ir.Variable) and not isinstance(target.domain, ir.IntDomain):
            example = ", ".join(str(v).lower() for v in target.domain.values()[:2])
            self.d.error(
                "E060",
                f"'{name.text}' is {_a(target.type)}; sweep it over a list, e.g. [{example}]",
                sweep.span,
            )
            raise _Bad
        integral = isinstance(target, ir.Variable)
        if sweep.step is None and not integral:
            self.d.error("E060", f"sweeping param '{name.text}' over a range needs a step", sweep.span, hint="add `step 0.1`")
            raise _Bad
        step = Fraction(sweep.step.value) if sweep.step is not None else Fraction(1)
        if step <= 0 or lo > hi:
            self.d.error("E060", "a sweep needs lo <= hi and a positive step", sweep.span)
            raise _Bad
        if integral and (step.denominator != 1 or lo.denominator != 1 or hi.denominator != 1):
            self.d.error("E060", f"'{name.text}' is a whole number: sweep it with whole bounds and step", sweep.span)
            raise _Bad
        count = int((hi - lo) / step) + 1
        if count > 100_000:
            self.d.error("E060", f"the sweep has {count} points; the limit is 100000", sweep.span)
            raise _Bad
        values = [lo + i * step for i in range(count)]
        out = []
        for v in values:
            if integral:
                dom = target.domain
                if not dom.lo <= v <= dom.hi:
                    self.d.error("E021", f"{int(v)} lies outside the domain {dom} of '{name.text}'", sweep.span)
                    raise _Bad
                out.append(int(v))
            else:
                if (target.lo is not None and v < target.lo) or (target.hi is not None and v > target.hi):
                    self.d.error(
                        "E023",
                        f"{float(v):g} lies outside the range [{_num(target.lo)}, {_num(target.hi)}] of param '{name.text}'",
                        sweep.span,
                    )
                    raise _Bad
                out.append(v)
        return tuple(out)

    # ---- the whole --------------------------------------------------------------------------------

    def run(self) -> ir.Spec | None:
        main = next(m for m, is_main in self.modules if is_main)
        if not main.items:
            self.d.error(
                "E004",
                "the spec is empty: it declares nothing",
                main.header_span or ir.Span(main.file, 1, 1, 1, 1),
                hint="declare at least the substance of requests, e.g. `substance { topic: {benign, harmful} }`; "
                "docs/tutorial.md walks through a first spec",
            )
            return None
        self.declare()
        self.build_variables()
        # Phase names are needed to resolve `phase == NAME` anywhere; collect them first.
        for t in self.trajectories[:1]:
            self.phase_names = {i.name.text for i in t.items if isinstance(i, ast.PhaseDecl)}
        for name in list(self.names):
            if self.names[name].kind in ("def", "value"):
                try:
                    self._named(name)
                except _Bad:
                    pass
        trajectory = self.trajectory()
        policies = {}
        for name, node in self.policies.items():
            p = self.policy(node)
            if p is not None:
                policies[name] = p
        checks = self.checks_ir(trajectory)
        experiments = {}
        for name, node in self.experiments.items():
            e = self.experiment(node, trajectory)
            if e is not None:
                experiments[name] = e
        if self.d.has_errors:
            return None
        spec = ir.Spec(
            title=self.title,
            variables=self.variables,
            params=self.params,
            defs={n: self.defs[n] for n in self.names if n in self.defs},
            values={n: self.values[n] for n in self.names if n in self.values},
            trajectory=trajectory,
            policies=policies,
            checks=tuple(checks),
            experiments=experiments,
            files=(main.file,) + tuple(m.file for m, is_main in self.modules if not is_main),
        )
        from libet.spec import semantics

        semantics.check(spec, self, self.d)
        return None if self.d.has_errors else spec


_MISSING = object()


def check(modules: list[tuple[ast.Module, bool]], diags: Diagnostics) -> ir.Spec | None:
    """Check the parsed modules of one spec into IR: ``(module, is_main)`` pairs in declaration
    order (used files first, the main file, marked True, last)."""
    return Checker(modules, diags).run()


# ---- small helpers -------------------------------------------------------------------------------


def _bare(node) -> bool:
    while isinstance(node, ast.Paren):
        node = node.expr
    return isinstance(node, ast.NameExpr)


def _a(ty: ir.Type) -> str:
    if ty.kind is ir.Kind.ENUM:
        return f"an enum {ty}"
    return {"bool": "a bool", "int": "an int", "real": "a real", "phase": "a phase"}[ty.kind.value]


def _join(a, b):
    if a is None or b is None:
        return a or b
    if a.file != b.file:
        return a
    return ir.Span(a.file, a.line, a.col, b.end_line, b.end_col)


def _show(v) -> str:
    if isinstance(v, bool):
        return "true" if v else "false"
    return str(v)


def _num(q) -> str:
    return "-inf" if q is None else f"{float(q):g}"


def _describe_expr(node) -> str:
    while isinstance(node, ast.Paren):
        node = node.expr
    if isinstance(node, ast.NameExpr):
        return node.name
    return "the expression"
