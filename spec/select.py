"""Selecting checks by policy and by name: one place for the facade and the engines' own APIs.

Consumes: a checked :class:`~libet.spec.ir.Spec`, policy names and check names as a user writes
them (``"invariant under a,b"`` is ``"invariant under a, b"``), and which checks are eligible.
Produces: the selected checks in the spec's order, or a UsageError naming the closest name.
"""

from __future__ import annotations

from typing import Callable, Iterable

from libet.errors import UsageError
from libet.spec import ir
from libet.spec.diagnostics import did_you_mean
from libet.spec.printer import name_list


def canonical(name: str) -> str:
    """A check name with its spacing made canonical (``invariant under a,b`` = ``a, b``)."""
    return " ".join(name.replace(",", " , ").split()).replace(" ,", ",")


def select_checks(
    spec: ir.Spec,
    policies: Iterable[str] | None = None,
    checks: Iterable[str] | None = None,
    eligible: Callable[[ir.Check], bool] | None = None,
    what: str = "check",
) -> list[ir.Check]:
    """The checks the selections name among the ``eligible`` ones, in the spec's order.

    Raises:
        UsageError: a policy or a check name the spec does not have (with the closest name).
    """
    pool = [c for c in spec.checks if eligible is None or eligible(c)]
    pols = list(policies) if policies is not None else None
    names = list(checks) if checks is not None else None
    for p in pols or ():
        if p not in spec.policies:
            raise UsageError(
                f"no policy '{p}' in the spec (policies: {name_list(spec.policies)})",
                did_you_mean(p, spec.policies),
            )
    available = list(dict.fromkeys(c.name for c in pool))
    known = {canonical(a) for a in available}
    for n in names or ():
        if canonical(n) not in known:
            raise UsageError(
                f"no {what} '{n}' in the spec ({what}s: {name_list(available)})", did_you_mean(n, available)
            )
    wanted = {canonical(n) for n in names} if names is not None else None
    return [c for c in pool if (pols is None or c.policy in pols) and (wanted is None or canonical(c.name) in wanted)]
