"""State variables and choice points: updates, choices, and what an MDP's measures must say.

Consumes: the :class:`~libet.spec.checker_names.Scope` (the state variables, already built
with their domains and initial values) and a :class:`~libet.spec.checker_exprs.Typer`.
Produces: the IR updates of a transition or a refusal (:func:`updates`) and the choice points of
a phase (:func:`choices`)
(:mod:`.checker_measures` says what an MDP's measures must say), all per docs/semantics.md §4b.

Diagnostics: E010 (an update or a choice of something that is not a state variable), E020 (an
update or option of the wrong type, a `when` that is not a bool), E021 (an option outside the
domain), E094 (an update that reads more than the state, params and literals), E095 (a
variable updated twice in one step, or chosen twice in one phase), E096 (a choice with no
options). E093 (an update's value outside its
domain) needs evaluation and is found by :mod:`.semantics`.
"""

from __future__ import annotations

from libet.spec import ast, ir
from libet.spec.checker_exprs import Typer, type_words
from libet.spec.checker_names import MISSING, Scope
from libet.spec.diagnostics import Note, did_you_mean


def _state_var(scope: Scope, name: ast.Name, what: str) -> ir.StateVar | None:
    var = scope.state.get(name.text)
    if var is not None:
        return var
    decl = scope.names.get(name.text)
    if decl is not None and decl.kind == "state variable":
        return None  # declared, refused with its own error
    kind = f" (it is a {decl.kind})" if decl is not None else ""
    hint = did_you_mean(name.text, scope.state) or (
        "declare it in `state { NAME: DOMAIN = INITIAL }`"
        + ("; substance, framing and context variables are fixed for a whole trajectory" if decl is not None else "")
    )
    scope.d.error("E010", f"{what} '{name.text}': it is not a state variable{kind}", name.span, hint=hint)
    return None


def updates(scope: Scope, typer: Typer, nodes: tuple[ast.UpdateDecl, ...]) -> tuple[ir.Update, ...] | None:
    """The IR updates of one step, or None after a diagnostic."""
    out = []
    ok = True
    first: dict[str, ast.UpdateDecl] = {}
    for u in nodes:
        var = _state_var(scope, u.var, "cannot update")
        if u.var.text in first:
            scope.d.error(
                "E095",
                f"'{u.var.text}' is updated twice in one step",
                u.var.span,
                hint="the updates of a step are simultaneous (each reads the state before the step): "
                "write one update per variable",
                notes=[Note("first updated here", first[u.var.text].var.span)],
            )
            ok = False
        first.setdefault(u.var.text, u)
        e = typer.expr_or_none(u.expr)
        if var is None or e is None:
            ok = False
            continue
        bad = _offending(e, typer)
        if bad is not None:
            scope.d.error(
                "E094",
                f"an update reads {_what(bad)}; it may read state variables, params and literals only",
                bad.span or u.expr.span,
                hint="keep a turn counter as a state variable (`turn = min(turn + 1, 9)`)"
                if isinstance(bad, ir.Depth)
                else "an update is a function of the state, so a step's next state is fixed; let the "
                "transition's probability depend on the rest instead (two transitions with their updates)",
            )
            ok = False
            continue
        if not _fits(var, e):
            scope.d.error(
                "E020",
                f"'{u.var.text}' holds {type_words(var.type)}, but this update gives {type_words(e.type)}",
                u.expr.span,
            )
            ok = False
            continue
        out.append(ir.Update(u.var.text, e, span=u.span))
    return tuple(out) if ok else None


def _fits(var: ir.StateVar, e: ir.Expr) -> bool:
    if isinstance(var.domain, ir.IntDomain):
        return e.type == ir.INT
    return e.type == var.type


def _offending(e: ir.Expr, typer: Typer):
    """The first node (through defs) an update may not read, or None."""
    stack = [e]
    seen = set()
    while stack:
        n = stack.pop()
        if id(n) in seen:
            continue
        seen.add(id(n))
        if isinstance(n, (ir.VarRef, ir.Depth, ir.CurrentPhase, ir.ValueRef, ir.Harmful)):
            return n
        if isinstance(n, ir.DefRef):
            stack.append(typer.defs[n.name].expr)
            continue
        stack.extend(n.children())
    return None


def _what(n: ir.Expr) -> str:
    if isinstance(n, ir.VarRef):
        return f"the variable '{n.name}'"
    if isinstance(n, ir.Depth):
        return "'depth'"
    if isinstance(n, ir.CurrentPhase):
        return "'phase'"
    return "a reference value"


def choices(scope: Scope, typer: Typer, p: ast.PhaseDecl) -> tuple[ir.Choice, ...] | None:
    """The choice points of phase ``p``, or None after a diagnostic."""
    out = []
    ok = True
    first: dict[str, ast.ChoiceDecl] = {}
    for c in p.choices:
        var = _state_var(scope, c.var, "the adversary cannot choose")
        if c.var.text in first:
            scope.d.error(
                "E095",
                f"'{c.var.text}' is chosen twice in phase '{p.name.text}'",
                c.var.span,
                hint="one choice point per variable and phase; list every option in one `choose ... in {...}`",
                notes=[Note("first chosen here", first[c.var.text].var.span)],
            )
            ok = False
        first.setdefault(c.var.text, c)
        when = None
        if c.when is not None:
            when = typer.expr_or_none(c.when)
            if when is not None and when.type != ir.BOOL:
                scope.d.error("E020", f"`when` needs a bool, but this is {type_words(when.type)}", c.when.span)
                when = None
            if when is None:
                ok = False
        if var is None:
            ok = False
            continue
        if c.options is None:
            options = var.domain.values()
        else:
            if not c.options:
                scope.d.error(
                    "E096",
                    f"the choice of '{c.var.text}' has no options",
                    c.span,
                    hint=f"list at least one value of {var.domain}, or drop `in {{}}` to let the adversary pick any",
                )
                ok = False
                continue
            picked = []
            for lit in c.options:
                v = scope.domain_literal(lit, var.domain, c.var.text)
                if v is MISSING:
                    ok = False
                elif v in picked:
                    scope.d.error("E096", f"the option {ast.literal_text(lit)} is listed twice", lit.span)
                    ok = False
                else:
                    picked.append(v)
            values = var.domain.values()
            options = tuple(v for v in values if v in picked)  # domain order
        if ok:
            out.append(ir.Choice(c.var.text, tuple(options), when, span=c.span))
    return tuple(out) if ok else None
