"""Helpers over IR expressions: inlining named definitions and collecting what an expression reads.

Consumes: a :class:`~libet.spec.ir.Spec` and an expression of it.
Produces: a closed expression (``expand``); what an expression reads is :mod:`.reads`.

Nesting depth is bounded by the parser (see ``parser.MAX_NESTING``), so recursion is safe here.
"""

from __future__ import annotations

import attrs

from libet.spec import ir


def map_children(node: ir.Expr, f) -> ir.Expr:
    """``node`` with ``f`` applied to each direct child expression."""
    if isinstance(node, (ir.Not, ir.Neg)):
        return attrs.evolve(node, arg=f(node.arg))
    if isinstance(node, ir.Member):
        return attrs.evolve(node, arg=f(node.arg))
    if isinstance(node, (ir.Logic, ir.Call)):
        return attrs.evolve(node, args=tuple(f(a) for a in node.args))
    if isinstance(node, (ir.Compare, ir.Arith)):
        return attrs.evolve(node, left=f(node.left), right=f(node.right))
    if isinstance(node, ir.Ite):
        return attrs.evolve(node, cond=f(node.cond), then=f(node.then), orelse=f(node.orelse))
    return node


def expand(spec: ir.Spec, expr: ir.Expr) -> ir.Expr:
    memo: dict[str, ir.Expr] = {}

    def go(node: ir.Expr) -> ir.Expr:
        if isinstance(node, ir.DefRef):
            key = "def:" + node.name
            if key not in memo:
                memo[key] = go(spec.defs[node.name].expr)
            return memo[key]
        if isinstance(node, ir.ValueRef):
            key = "value:" + node.name
            if key not in memo:
                memo[key] = go(spec.values[node.name].expr)
            return memo[key]
        if isinstance(node, ir.Harmful):
            return go(spec.harm_expr())
        return map_children(node, go)

    return go(expr)


def uses_depth_or_phase(spec: ir.Spec, expr: ir.Expr) -> tuple[bool, bool]:
    """Whether ``expr`` (through named definitions) reads ``depth`` and ``phase``."""
    from libet.spec.reads import reads_of

    _, depth, phase = reads_of(spec).facts(expr)
    return depth, phase
