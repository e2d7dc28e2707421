"""Typed results shared by every engine: one check's verdict, with its evidence.

Consumes: nothing (data only); produced by :mod:`libet.proofs` (qualitative checks, Z3) and
:mod:`libet.simulator` (quantitative checks, the exact engine).
Produces: :class:`CheckResult` records that the CLI renders as a table or JSON, and that the
Python API returns.

A counterexample or proof summary is any object with ``describe() -> str`` (plain text for
people) and ``to_json() -> dict``; each engine defines its own kinds.
"""

from __future__ import annotations

import enum
from typing import Any, Iterable, Protocol

import attrs


class Status(enum.Enum):
    """PROVED: holds on the whole finite domain (a proof, or an exhaustive enumeration of a
    deterministic implementation). TESTED: no violation among the examples tried (a sample, or
    an exhaustive run whose implementation is not known to be deterministic); ``details``
    says how many. VIOLATED: a counterexample. UNKNOWN: undecided, with the reason."""

    PROVED = "PROVED"
    TESTED = "TESTED"
    VIOLATED = "VIOLATED"
    UNKNOWN = "UNKNOWN"


class Evidence(Protocol):
    def describe(self) -> str: ...

    def to_json(self) -> dict: ...


@attrs.frozen
class CheckResult:
    """The verdict of one check on one policy.

    Attributes:
        policy: the policy's name.
        check: the check's canonical text, e.g. ``"invariant under framing"``.
        status: PROVED, VIOLATED or UNKNOWN.
        seconds: wall time spent on this check.
        engine: what decided it, e.g. ``"z3 self-composition"``, ``"z3 bmc"``, ``"exact"``.
        counterexample: for VIOLATED, what shows it (replayed by the reference interpreter).
        proof: for PROVED, what the proof used (facts, invariant), when the engine says.
        reason: for UNKNOWN, why (a timeout, a resource limit, a non-linear term, ...).
        warnings: vacuity and other remarks that qualify the verdict.
        details: engine-specific facts (the bound reached, the solver configuration, ...).
    """

    policy: str
    check: str
    status: Status
    seconds: float = 0.0
    engine: str = ""
    counterexample: Any = None
    proof: Any = None
    reason: str | None = None
    warnings: tuple[str, ...] = ()
    details: dict = attrs.field(factory=dict)

    def to_json(self) -> dict:
        out: dict[str, Any] = {
            "policy": self.policy,
            "check": self.check,
            "status": self.status.value,
            "seconds": round(self.seconds, 6),
            "engine": self.engine,
        }
        if self.counterexample is not None:
            out["counterexample"] = self.counterexample.to_json()
        if self.proof is not None:
            out["proof"] = self.proof.to_json()
        if self.reason is not None:
            out["reason"] = self.reason
        if self.warnings:
            out["warnings"] = list(self.warnings)
        if self.details:
            out["details"] = self.details
        return out


def exit_code(results: Iterable[CheckResult]) -> int:
    """DESIGN.md §5: 1 if any check is violated, else 3 if any is unknown, else 0 (every check
    proved or, for sampled properties, TESTED with no violation found)."""
    statuses = {r.status for r in results}
    if Status.VIOLATED in statuses:
        return 1
    if Status.UNKNOWN in statuses:
        return 3
    return 0
