"""The one idiom for passes over IR expressions: a dispatch table keyed by node class.

Consumes: a pass object with one method per expression node class, named ``PREFIX + class
name`` (``c_Const``, ``c_Arith``, ...).
Produces: :class:`Dispatch`, which calls the method for a node's class, and
:func:`missing_cases`, which names the node classes a pass has no method for.

Every pass over expressions (the interpreter's compiler, the vectorised evaluator, the Z3
terms, the PRISM printer, inlining) uses it, and a test asserts that each is complete, as
pySMT's walkers assert ``is_complete()``: a node class added to the IR without a case in some
pass fails that test, instead of being printed as a class name or evaluated wrongly at run time.
"""

from __future__ import annotations

import weakref
from typing import Any, Callable

from libet.spec import ir


def expression_classes() -> tuple[type, ...]:
    """Every concrete expression node class of the IR: those :mod:`libet.spec.ir` names. (A
    class attrs rebuilt with slots leaves the class it replaced among ``__subclasses__()``
    until a full garbage collection, which a long load holds off: counted, it was an 18th.)"""
    out = []
    stack = list(ir.Expr.__subclasses__())
    while stack:
        cls = stack.pop()
        if getattr(ir, cls.__name__, None) is cls and cls not in out:
            out.append(cls)
        stack.extend(cls.__subclasses__())
    return tuple(sorted(out, key=lambda c: c.__name__))


def missing_cases(pass_type: type, prefix: str) -> list[str]:
    """The expression node classes ``pass_type`` has no ``PREFIX + name`` method for."""
    return [c.__name__ for c in expression_classes() if not callable(getattr(pass_type, prefix + c.__name__, None))]


_TABLES: dict[tuple[type, str], dict[type, Callable]] = {}


def _table(pass_type: type, prefix: str) -> dict[type, Callable]:
    # Per pass class, not per pass object: a pass is made often (one per layer of the chain).
    key = (pass_type, prefix)
    hit = _TABLES.get(key)
    if hit is None:
        hit = {}
        for cls in expression_classes():
            fn = getattr(pass_type, prefix + cls.__name__, None)
            if fn is not None:
                hit[cls] = fn
        _TABLES[key] = hit
    return hit


class Dispatch:
    """Calls ``owner.<prefix><ClassName>(node, *args)`` for a node; an unknown node class is
    an :class:`~libet.errors.InternalError` (a pass that is not complete is a bug).

    It holds its owner weakly: a pass keeps its dispatcher as an attribute, and a strong
    reference back would make every pass object a reference cycle, freed only by the garbage
    collector (the simulator makes one per layer of the chain, each holding arrays)."""

    __slots__ = ("_owner", "_table")

    def __init__(self, owner: Any, prefix: str):
        self._owner = weakref.ref(owner)
        self._table = _table(type(owner), prefix)

    def __call__(self, node: ir.Expr, *args):
        fn = self._table.get(type(node))
        owner = self._owner()
        if fn is None:
            from libet.errors import InternalError

            raise InternalError(f"{type(owner).__name__} has no case for the IR node {type(node).__name__}")
        return fn(owner, node, *args)
