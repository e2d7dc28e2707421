"""The check-kind registry: every IR property type, and the engine family that decides it.

Consumes: the check kinds the engines declare, each keyed by its IR property class:
:data:`libet.proofs.kinds.KINDS` (Z3: invariance, complete, complete at, no over-refusal,
safe) and :data:`libet.simulator.checks.KINDS` (the exact engine: bounds, gaps and outcome
invariance).
Produces: :func:`check_kinds` (property type -> (family, kind)) and :func:`family_of`.

A family is loaded only when a check of it is decided (the proofs load Z3). Adding a check kind
is one IR class, its grammar and checker case, and one kind object in the family that decides
it; the completeness test (tests/test_registries.py) fails until every IR property type is in
exactly one family.
"""

from __future__ import annotations

import importlib
from typing import Any

from libet.spec import ir

#: Each family: the module holding its ``KINDS`` table and its ``decide`` entry point.
FAMILIES: dict[str, str] = {
    "proofs": "libet.proofs.kinds",
    "simulator": "libet.simulator.checks",
}


#: How each family's checks are called in messages.
LABELS: dict[str, str] = {"proofs": "qualitative", "simulator": "quantitative"}


def kinds_of(family: str) -> dict[type, Any]:
    """The ``KINDS`` table of ``family`` (importing it)."""
    return importlib.import_module(FAMILIES[family]).KINDS


def check_kinds() -> dict[type, tuple[str, Any]]:
    """Every registered check kind: property type -> (family, kind object)."""
    out: dict[type, tuple[str, Any]] = {}
    for family in FAMILIES:
        for prop_type, kind in kinds_of(family).items():
            if prop_type in out:
                from libet.errors import InternalError

                raise InternalError(f"{prop_type.__name__} is registered by both {out[prop_type][0]} and {family}")
            out[prop_type] = (family, kind)
    return out


def family_of(prop: ir.Property) -> str:
    """The family that decides ``prop``.

    Raises:
        InternalError: no family registers the property's type (a bug: a new IR property
            without its kind).
    """
    hit = check_kinds().get(type(prop))
    if hit is None:
        from libet.errors import InternalError

        raise InternalError(f"no check kind is registered for {type(prop).__name__}")
    return hit[0]


def property_types() -> tuple[type, ...]:
    """Every property class of the IR (the members of ``ir.Property``)."""
    return tuple(ir.Property.__args__)
