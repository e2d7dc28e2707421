"""Names and scopes: what a spec declares, and what a name or a literal denotes.

Consumes: the ASTs of a spec's modules as ``(module, is_main)`` pairs (used files first, the
main file last), and the :class:`~libet.spec.diagnostics.Diagnostics` to report to.
Produces: a :class:`Scope`: the namespaces (variables, params, defs and values share one;
policies, experiments and phases have their own), the IR of every variable (domain, weights)
and param (default, range), the enum members and which enum types have each, the phase names;
and the resolutions other passes ask of it: a literal in a domain (:meth:`Scope.domain_literal`)
and a list of variables and classes (:meth:`Scope.var_list`).

Diagnostics: E011 (duplicate), E012 (reserved word), E022 (empty or huge domain), E023
(weights, param ranges), E021 (a literal outside its domain), E010 and E050 (a variable list
naming something that is not a variable).

The typed expressions (:mod:`.checker_exprs`) and everything after build on a Scope; nothing
here reads an expression.
"""

from __future__ import annotations

from fractions import Fraction
from typing import Iterable

import attrs

from libet.spec import ast, ir
from libet.spec.diagnostics import Diagnostics, Note, did_you_mean
from libet.spec.printer import name_list

#: Words that name built-ins or keywords in expressions; they cannot be declared.
RESERVED = frozenset(
    "depth phase harmful true false not and or implies if then else violates in "
    "substance framing context deliver stop otherwise weights adversaries".split()
)
#: Largest domain of one variable: beyond this a spec is surely a mistake.
MAX_DOMAIN = 1_000_000
#: The variable classes, as written.
CLASSES = ("substance", "framing", "context")


class Bad(Exception):
    """Aborts checking one construct after its diagnostic has been recorded."""


#: What :meth:`Scope.domain_literal` returns after reporting a literal it cannot place.
MISSING = object()


@attrs.define
class Decl:
    """A name of the shared namespace: ``kind`` is variable, param, def or value; ``node`` its
    AST (``(class, VarDecl)`` for a variable; None once it is known to have errors); ``main``
    whether the main file declares it (unused-declaration warnings are for that file only)."""

    kind: str
    node: object
    main: bool


class Scope:
    """Every declaration of one spec, and the resolution of names and literals against them."""

    def __init__(self, modules: list[tuple[ast.Module, bool]], diags: Diagnostics):
        self.modules = modules
        self.d = diags
        self.title = "untitled"
        self.names: dict[str, Decl] = {}
        self.policies: dict[str, ast.PolicyDecl] = {}
        self.experiments: dict[str, ast.ExperimentDecl] = {}
        self.trajectories: list[ast.TrajectoryDecl] = []
        self.checks: list[ast.CheckDecl] = []
        self.variables: dict[str, ir.Variable] = {}
        self.state: dict[str, ir.StateVar] = {}  # the state variables (``state { ... }``)
        #: variables whose weights are written over params: the weight per domain value (AST)
        self.weight_asts: dict[str, tuple] = {}
        self.params: dict[str, ir.Param] = {}
        self.members: dict[str, list[ir.Type]] = {}  # enum member name -> enum types having it
        self.positions = ir.Positions()  # each enum's members -> their places, formed once
        self.phase_names: set[str] = set()
        self.mdp = False  # whether the trajectory has a choice point (docs/semantics.md §4b)
        self._classes: dict[str, list[str]] | None = None

    # ---- declarations -------------------------------------------------------------------------

    def declare(self) -> None:
        """Collect every declaration into its namespace (duplicates and reserved words are
        reported here), then build the variables and params and collect the phase names."""
        for module, main in self.modules:
            if main and module.title is not None:
                self.title = module.title
            for item in module.items:
                if isinstance(item, ast.VarBlock):
                    for decl in item.decls:
                        self._declare_name(decl.name, "variable", (item.cls, decl), main)
                elif isinstance(item, ast.StateBlock):
                    for decl in item.decls:
                        self._declare_name(decl.name, "state variable", decl, main)
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
        self._build_variables()
        # `phase == NAME` may stand anywhere, so the phase names are known before any
        # expression is resolved (the trajectory pass narrows them to the valid ones).
        for t in self.trajectories[:1]:
            self.phase_names = {i.name.text for i in t.items if isinstance(i, ast.PhaseDecl)}
            self.mdp = any(isinstance(i, ast.PhaseDecl) and i.choices for i in t.items)

    def _declare_name(self, name: ast.Name, kind: str, node, main: bool) -> None:
        if not self.allowed_name(name):
            return
        prior = self.names.get(name.text)
        if prior is not None:
            self.d.error(
                "E011",
                f"'{name.text}' is already declared as a {prior.kind}",
                name.span,
                hint="rename one of them; variables, params, defs and values share one namespace",
                notes=[Note("first declared here", self.decl_span(prior))],
            )
            return
        self.names[name.text] = Decl(kind, node, main)

    def _declare_other(self, table: dict, kind: str, node) -> None:
        if not self.allowed_name(node.name):
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

    def allowed_name(self, name: ast.Name) -> bool:
        """False, after E012, when ``name`` is a reserved word."""
        if name.text in RESERVED:
            self.d.error(
                "E012",
                f"'{name.text}' is a reserved word and cannot be declared",
                name.span,
                hint=f"choose another name, e.g. '{name.text}_'",
            )
            return False
        return True

    @staticmethod
    def decl_span(decl: Decl):
        node = decl.node[1] if decl.kind == "variable" and decl.node is not None else decl.node
        return node.name.span if node is not None else None

    def of_kind(self, kind: str) -> list[str]:
        return [n for n, d in self.names.items() if d.kind == kind]

    # ---- variables and params -----------------------------------------------------------------

    def _build_variables(self) -> None:
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
            elif decl.kind == "state variable":
                s = self._state_var(decl.node)
                if s is not None:
                    self.state[name] = s
        for var in list(self.variables.values()) + list(self.state.values()):
            if isinstance(var.domain, ir.EnumDomain):
                for m in var.domain.members:
                    types = self.members.setdefault(m, [])
                    if var.type not in types:
                        types.append(var.type)
        for m in self.members:
            if m in self.names:
                decl = self.names[m]
                self.d.error(
                    "E011",
                    f"'{m}' is both an enum value and a {decl.kind}",
                    self.decl_span(decl),
                    hint=f"rename the {decl.kind} or the enum value: in an expression '{m}' would be ambiguous",
                )

    def _variable(self, cls: ir.VarClass, node: ast.VarDecl) -> ir.Variable | None:
        domain = self._domain(node)
        if domain is None:
            return None
        weights = None
        if node.weights is not None:
            weights = self._weights(node, domain)
            if weights is None:
                return None
        return ir.Variable(node.name.text, cls, domain, weights, span=node.name.span)

    def _state_var(self, node: ast.StateDecl) -> ir.StateVar | None:
        domain = self._domain(node)
        if domain is None:
            return None
        init = self.domain_literal(node.init, domain, node.name.text)
        if init is MISSING:
            return None
        return ir.StateVar(node.name.text, domain, init, span=node.name.span)

    def _domain(self, node) -> ir.Domain | None:
        """The IR domain of a variable's or state variable's declaration, or None after E022."""
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
                if not self.allowed_name(m):
                    return None
                seen[m.text] = m
            domain = ir.EnumDomain(tuple(m.text for m in dom.members))
        return domain

    def _weights(self, node: ast.VarDecl, domain) -> tuple[Fraction, ...] | None:
        values = domain.values()
        given: dict = {}
        written = any(not isinstance(num, ast.Num) for _, num in node.weights)
        for key, num in node.weights:
            v = self.domain_literal(key, domain, node.name.text)
            if v is MISSING:
                return None
            if v in given:
                self.d.error("E023", f"weight for {show(v)} given twice", key.span)
                return None
            if written:  # over params: typed and checked once the params are known (structural.py)
                given[v] = num
                continue
            if num.value < 0:
                self.d.error("E023", f"weight {num.text} is negative", num.span, hint="weights are probabilities")
                return None
            given[v] = Fraction(num.value)
        missing = [v for v in values if v not in given]
        if missing:
            self.d.error(
                "E023",
                f"weights of '{node.name.text}' leave out {name_list(show(v) for v in missing)}",
                node.span,
                hint="give a weight (possibly 0) to every value of the domain",
            )
            return None
        if written:
            self.weight_asts[node.name.text] = tuple(given[v] for v in values)
            return tuple(Fraction(1, len(values)) for _ in values)  # replaced by their values at the defaults
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
        integer = node.kind is not None
        if integer:
            if node.kind.text != "int":
                self.d.error("E020", f"a param is real, or `int` for whole numbers; not '{node.kind.text}'",
                             node.kind.span, hint=f"write `param {node.name.text}: int = ...` or drop the kind")
                return None
            whole = [n for n in (node.default, *(node.range or ())) if Fraction(n.value).denominator != 1]
            if whole:
                self.d.error("E023", f"int param '{node.name.text}' takes whole numbers, not {whole[0].text}",
                             whole[0].span)
                return None
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
        return ir.Param(node.name.text, default, lo, hi, span=node.name.span, integer=integer)

    # ---- literals and variable lists ----------------------------------------------------------

    def domain_literal(self, lit, domain, owner: str):
        """The scalar a literal denotes in ``domain`` (None: any int), or :data:`MISSING` after
        a diagnostic. ``owner`` names what the domain belongs to, for the message."""
        if isinstance(domain, ir.EnumDomain) or (domain is None and isinstance(lit, ast.NameExpr)):
            members = domain.members if domain is not None else ()
            if isinstance(lit, ast.NameExpr) and domain is not None and lit.name in domain:
                return lit.name
            shown = lit.name if isinstance(lit, ast.NameExpr) else ast.literal_text(lit)
            self.d.error(
                "E021",
                f"{shown} is not a value of '{owner}' {domain if domain is not None else '{}'}",
                lit.span,
                hint=did_you_mean(shown, members) if members else None,
            )
            return MISSING
        if isinstance(domain, ir.BoolDomain):
            if isinstance(lit, ast.BoolLit):
                return lit.value
            self.d.error("E021", f"{ast.literal_text(lit)} is not a value of '{owner}' (a bool)", lit.span, hint="write true or false")
            return MISSING
        # an int domain (or an int expression)
        if isinstance(lit, ast.Num) and isinstance(lit.value, int):
            if domain is not None and not domain.lo <= lit.value <= domain.hi:
                self.d.error(
                    "E021",
                    f"{lit.value} lies outside the domain {domain} of '{owner}'",
                    lit.span,
                    hint=f"the values are {domain.lo} to {domain.hi}",
                )
                return MISSING
            return lit.value
        self.d.error("E021", f"{ast.literal_text(lit)} is not a whole number, as '{owner}' needs", lit.span)
        return MISSING

    def by_class(self) -> dict[str, list[str]]:
        """The variables of each class (``"substance"``, ...), in declaration order."""
        if self._classes is None:
            self._classes = {}
            for v, var in self.variables.items():
                self._classes.setdefault(var.cls.value, []).append(v)
        return self._classes

    def var_list(
        self, names: Iterable[ast.Name], allow_depth: bool, what: str, allow_state: bool = False
    ) -> tuple[tuple[str, ...], bool] | None:
        """The variables a list such as ``framing, observed`` names (classes expanded, in the
        order written, each once) and whether it names ``depth``; None after a diagnostic.
        ``what`` names the construct for the message (``"a quantitative check"``);
        ``allow_state``: state variables may be named too (veto invariance)."""
        out: dict[str, None] = {}  # an ordered set
        depth = False
        ok = True
        for n in names:
            if n.text == "depth":
                if not allow_depth:
                    self.d.error("E050", f"{what} cannot range over depth", n.span)
                    ok = False
                depth = True
            elif n.text in CLASSES:
                members = self.by_class().get(n.text, [])
                if not members:
                    self.d.error("E050", f"the spec declares no {n.text} variables", n.span)
                    ok = False
                out.update(dict.fromkeys(members))
            elif n.text in self.variables:
                out[n.text] = None
            elif n.text in self.state and allow_state:
                out[n.text] = None
            elif n.text in self.state:
                self.d.error(
                    "E050",
                    f"'{n.text}' is a state variable: it changes along the trajectory, and {what} ranges over "
                    "assignments, which are fixed for a whole trajectory",
                    n.span,
                    hint="`invariant under NAME` asks whether the veto depends on a state variable",
                )
                ok = False
            elif n.text in self.names and self.names[n.text].kind in ("variable", "state variable"):
                ok = False  # declared, but its declaration was refused with its own error
            else:
                kind = self.names[n.text].kind if n.text in self.names else None
                self.d.error(
                    "E010" if kind is None else "E050",
                    f"'{n.text}' is not a variable" + (f" (it is a {kind})" if kind else ""),
                    n.span,
                    hint=did_you_mean(n.text, list(self.variables) + ["depth", *CLASSES])
                    if kind is None
                    else f"{what} ranges over variables, a class (substance, framing, context) or depth",
                )
                ok = False
        return (tuple(out), depth) if ok else None


# ---- small helpers shared by the checker's modules ----------------------------------------------


def show(v) -> str:
    """A domain value as it is written in a spec."""
    if isinstance(v, bool):
        return "true" if v else "false"
    return str(v)


def num(q) -> str:
    """A range bound for a message (``-inf`` for an open one)."""
    return "-inf" if q is None else f"{float(q):g}"
