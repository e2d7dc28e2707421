"""Structural params: a horizon and variable weights written over params, fixed per evaluation.

Consumes: a checked spec whose trajectory has ``horizon_expr`` (``horizon h``, ``horizon (2 *
h)`` over ``int`` params) or whose variables have ``weight_exprs`` (``weights {a: w, b: (1 -
w)}``), and param values. (A start depth over int params needs nothing here: it is an ordinary
expression, evaluated per assignment like any other.)
Produces: :func:`bind`: the spec with those expressions evaluated at the params, an ordinary IR
with a literal horizon and literal weights, which every engine (the interpreter, the exact and
Monte Carlo engines, Z3, the PRISM export) takes through its one entry point; params are
constants within one evaluation, so this is the whole meaning (docs/semantics.md). For the
checker, :func:`type_weights` types the weight expressions and :func:`defaults` puts their
values at the defaults into the IR and checks every corner of the params' declared ranges.

A weight expression affine in the params (``w``, ``1 - w``, ``0.2 + 0.5 * w``) forms a
distribution at every value in the box of the ranges exactly when it does at its corners (an
affine function takes its extremes at corners, and an affine sum equal to 1 at every corner of
a box is 1 throughout), so for those the corner check is a proof; a non-affine one is checked at
the corners and the defaults, and again at every value an engine is given.
"""

from __future__ import annotations

import itertools
from fractions import Fraction
from typing import Mapping

import attrs

from libet.errors import EvaluationError, UsageError
from libet.spec import ir

#: Corners checked at most (2 ** params read); beyond, the defaults only and every use.
MAX_CORNERS = 64
#: Bound specs kept per spec (one per distinct value of the structural params).
CACHE = 4096


def structural_params(spec: ir.Spec) -> tuple[str, ...]:
    """The params the horizon or any weight expression reads, in declaration order."""
    hit = spec.memo.get("structural_params")
    if hit is None:
        exprs = expressions(spec)
        read = {n.name for e in exprs for n in ir.walk(e) if isinstance(n, ir.ParamRef)}
        hit = spec.memo["structural_params"] = tuple(n for n in spec.params if n in read)
    return hit


def expressions(spec: ir.Spec) -> list[ir.Expr]:
    out = []
    if spec.trajectory is not None and spec.trajectory.horizon_expr is not None:
        out.append(spec.trajectory.horizon_expr)
    for v in spec.variables.values():
        if v.weight_exprs is not None:
            out += list(v.weight_exprs)
    return out


def is_structural(spec: ir.Spec) -> bool:
    return bool(expressions(spec))


def bind(spec: ir.Spec, params: Mapping[str, object] | None = None) -> ir.Spec:
    """``spec`` with its horizon and weights evaluated at ``params`` (overrides of the
    defaults, checked as everywhere); ``spec`` itself when nothing structural reads a param.

    Raises:
        UsageError: at these values the horizon is not a whole number in 1..MAX_HORIZON, or
            the weights of a variable are not a probability distribution (the message names
            the values).
    """
    origin = spec.memo.get("bound_from")
    if origin is not None:  # bound already: bind the original at these params
        return bind(origin, params)
    if not is_structural(spec):
        return spec
    from libet.spec.overrides import check_params

    values = check_params(spec, params)
    names = structural_params(spec)
    key = tuple(values[n] for n in names)
    cache = spec.memo.setdefault("bound", {})
    hit = cache.get(key)
    if hit is not None:
        return hit
    at = ", ".join(f"{n} = {_show(values[n])}" for n in names)
    try:
        bound = _evaluate(spec, values)
    except _Bad as exc:
        raise UsageError(f"at {at}: {exc}", exc.hint) from None
    if len(cache) >= CACHE:
        cache.clear()
    cache[key] = bound
    return bound


class _Bad(Exception):
    def __init__(self, message: str, hint: str | None = None, span=None):
        self.hint = hint
        self.span = span
        super().__init__(message)


def _evaluate(spec: ir.Spec, values: Mapping[str, Fraction]) -> ir.Spec:
    from libet.spec.checker_structure import MAX_HORIZON
    from libet.spec.interpreter import Interpreter

    interp = Interpreter(spec, values, exact=True, bind=False)
    traj = spec.trajectory
    if traj is not None and traj.horizon_expr is not None:
        h = _value(interp, traj.horizon_expr, traj.start_phase)
        if h != int(h) or not 1 <= h <= MAX_HORIZON:
            raise _Bad(f"the horizon is {_show(h)}; it must be a whole number in 1..{MAX_HORIZON:,}",
                       "narrow the ranges of the params the horizon reads", traj.horizon_expr.span)
        traj = attrs.evolve(traj, horizon=int(h))
    variables = dict(spec.variables)
    for name, var in spec.variables.items():
        if var.weight_exprs is None:
            continue
        ws = tuple(Fraction(_value(interp, e, None)) for e in var.weight_exprs)
        for v, w, e in zip(var.domain.values(), ws, var.weight_exprs):
            if w < 0:
                raise _Bad(f"the weight of {name} = {_literal(v)} is {_show(w)}, below 0",
                           "weights are probabilities", e.span)
        total = sum(ws)
        if abs(total - 1) > Fraction(1, 10 ** 12):
            raise _Bad(f"the weights of {name} sum to {_show(total)}, not 1",
                       "weights over params must form a distribution at every value the params may take, "
                       "e.g. {a: w, b: (1 - w)}", var.span)
        variables[name] = attrs.evolve(var, weights=ws)
    bound = attrs.evolve(spec, variables=variables, trajectory=traj)
    bound.memo["bound_from"] = spec
    return bound


def _value(interp, e: ir.Expr, phase):
    try:
        return interp.compile(e)({}, 0, phase)
    except EvaluationError as exc:
        raise _Bad(exc.message, None, e.span) from None


def _show(q) -> str:
    q = Fraction(q)
    return str(q.numerator) if q.denominator == 1 else f"{float(q):g}"


def _literal(v) -> str:
    if isinstance(v, bool):
        return "true" if v else "false"
    return str(v)


# ---------------------------------------------------------------------------------------------
# The checker's part


def type_weights(scope, typer, d) -> None:
    """Type the weights written over params (``scope.weight_asts``) and put them on the
    variables as ``weight_exprs``; E020 for a weight that is not a number, E023 for one that
    reads anything but params and numbers."""
    from libet.spec.checker_names import Bad

    for name, nodes in scope.weight_asts.items():
        exprs = []
        for node in nodes:
            try:
                e = typer.expr(node)
                typer.numeric(e, node, "a weight")
            except Bad:
                exprs = None
                break
            bad = next((n for n in ir.walk(e) if not isinstance(n, _PARAM_ONLY)), None)
            if bad is not None:
                d.error("E023", "a weight may read params and numbers only", bad.span or node.span,
                        hint="weights are a distribution fixed for a whole run; a param can make them fittable")
                exprs = None
                break
            exprs.append(e)
        if exprs is not None and name in scope.variables:
            scope.variables[name] = attrs.evolve(scope.variables[name], weight_exprs=tuple(exprs))


_PARAM_ONLY = (ir.ParamRef, ir.Const, ir.Arith, ir.Neg, ir.Call, ir.Ite, ir.Compare, ir.Logic, ir.Not)


def defaults(spec: ir.Spec, d) -> ir.Spec | None:
    """The spec with its structural expressions at the params' defaults, after checking them
    there and at every corner of the declared ranges (see module doc); None after an error
    (E040 for the horizon, E023 for weights), which names the param values."""
    if not is_structural(spec):
        return spec
    names = structural_params(spec)
    base = spec.default_params()
    points = [dict(base)]
    ranged = [n for n in names if spec.params[n].lo is not None]
    if len(ranged) and 2 ** len(ranged) <= MAX_CORNERS:
        for corner in itertools.product(*[(spec.params[n].lo, spec.params[n].hi) for n in ranged]):
            points.append({**base, **dict(zip(ranged, corner))})
    out = None
    for i, values in enumerate(points):
        try:
            bound = _evaluate(spec, values)
        except _Bad as exc:
            at = ", ".join(f"{n} = {_show(values[n])}" for n in names)
            what = "the defaults" if i == 0 else "a corner of the params' ranges"
            code = "E040" if "horizon" in str(exc) else "E023"
            d.error(code, f"at {at} ({what}): {exc}", exc.span, hint=exc.hint)
            return None
        if i == 0:
            out = bound
    # the spec at its defaults, but still open to other values: drop the bound marker
    out = attrs.evolve(out)
    return out
