"""Inlining named definitions: a closed term for engines that prefer one.

Consumes: a :class:`~libet.spec.ir.Spec` and an expression of it.
Produces: the expression with every ``def``, reference value and ``harmful`` inlined
(``expand``); what an expression reads is :mod:`.reads`.

The walk uses an explicit stack and memoises by node, so a flat sum of 10^4 terms or a chain of
a thousand defs each using the last costs no recursion, and a shared subterm is rebuilt once.
"""

from __future__ import annotations

import attrs

from libet.spec import ir


def _rebuild(node: ir.Expr, kids: list) -> ir.Expr:
    """``node`` with its direct children replaced by ``kids`` (in ``children()`` order)."""
    if not kids:
        return node
    if isinstance(node, (ir.Not, ir.Neg, ir.Member)):
        return attrs.evolve(node, arg=kids[0])
    if isinstance(node, (ir.Logic, ir.Call)):
        return attrs.evolve(node, args=tuple(kids))
    if isinstance(node, (ir.Compare, ir.Arith)):
        return attrs.evolve(node, left=kids[0], right=kids[1])
    if isinstance(node, ir.Ite):
        return attrs.evolve(node, cond=kids[0], then=kids[1], orelse=kids[2])
    from libet.errors import InternalError

    raise InternalError(f"expand cannot rebuild the IR node {type(node).__name__}")


def expand(spec: ir.Spec, expr: ir.Expr) -> ir.Expr:
    """``expr`` with every ``def``, value and ``harmful`` inlined (a closed term)."""

    def below(node: ir.Expr) -> tuple[ir.Expr, ...]:
        if isinstance(node, ir.DefRef):
            return (spec.defs[node.name].expr,)
        if isinstance(node, ir.ValueRef):
            return (spec.values[node.name].expr,)
        if isinstance(node, ir.Harmful):
            return (spec.harm_expr(),)
        return node.children()

    done: dict[int, ir.Expr] = {}
    keep: list = []  # ids are keys: keep the nodes alive
    stack = [(expr, False)]
    while stack:
        node, ready = stack.pop()
        if id(node) in done:
            continue
        kids = below(node)
        if not ready:
            stack.append((node, True))
            stack.extend((k, False) for k in kids if id(k) not in done)
            continue
        out = [done[id(k)] for k in kids]
        done[id(node)] = out[0] if isinstance(node, (ir.DefRef, ir.ValueRef, ir.Harmful)) else _rebuild(node, out)
        keep.append(node)
    return done[id(expr)]
