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


#: The colour of each verdict on a terminal.
STATUS_COLOR = {Status.PROVED: "green", Status.TESTED: "cyan", Status.VIOLATED: "red", Status.UNKNOWN: "yellow"}


def text_sections(sections: Iterable[tuple[str, list[tuple[str, str]]]]) -> list[str]:
    """Titled lists for people, as text lines: each ``(title, [(head, body), ...])`` is a blank
    line, the title, then ``- head`` with the body indented below; empty sections are left out."""
    lines: list[str] = []
    for title, items in sections:
        if not items:
            continue
        lines += ["", title]
        for head, body in items:
            lines.append(f"- {head}")
            lines.extend("  " + x for x in body.splitlines())
    return lines


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

    def text(self) -> str:
        """The evidence as its engine words it (counterexample, trace, proof summary; several
        lines), or the reason it is UNKNOWN."""
        ev = self.counterexample or self.proof
        return ev.describe() if ev is not None and hasattr(ev, "describe") else (self.reason or "")

    #: The columns of :meth:`to_row`, in order (an empty table has them too).
    COLUMNS = ("policy", "check", "status", "engine", "seconds", "detail")

    def to_row(self) -> dict:
        """One flat row (for tables and pandas): the evidence on one line."""
        return dict(zip(self.COLUMNS, (self.policy, self.check, self.status.value, self.engine, self.seconds,
                                       " ".join(self.text().split()))))

    def _repr_html_(self) -> str:
        from libet.report import checks_html

        return checks_html([{**self.to_json(), "text": self.text()}])


class CheckResults(list):
    """A list of :class:`CheckResult` (what ``Specification.check()`` returns) that shows as one
    table in a notebook and converts to rows and to pandas."""

    def to_rows(self) -> list[dict]:
        return [r.to_row() for r in self]

    def to_pandas(self):
        """A ``pandas.DataFrame`` with one row per check (needs pandas: ``pip install
        'libet[notebook]'``)."""
        return to_pandas(self.to_rows(), list(CheckResult.COLUMNS))

    @property
    def exit_code(self) -> int:
        return exit_code(self)

    def _repr_html_(self) -> str:
        from libet.report import checks_html

        return checks_html([{**r.to_json(), "text": r.text()} for r in self], filters=False)


def to_pandas(rows: list[dict], columns: list[str] | None = None):
    """Rows as a ``pandas.DataFrame``.

    Raises:
        UsageError: pandas is not installed (the hint says how to install it).
    """
    try:
        import pandas
    except ImportError:
        from libet.errors import UsageError

        raise UsageError("to_pandas() needs pandas, which is not installed",
                         "pip install 'libet[notebook]' (or pip install pandas)") from None
    return pandas.DataFrame(rows, columns=columns)


def exit_code(results: Iterable[CheckResult]) -> int:
    """DESIGN.md §5: 1 if any check is violated, else 3 if any is unknown, else 0 (every check
    proved or, for sampled properties, TESTED with no violation found)."""
    statuses = {r.status for r in results}
    if Status.VIOLATED in statuses:
        return 1
    if Status.UNKNOWN in statuses:
        return 3
    return 0
