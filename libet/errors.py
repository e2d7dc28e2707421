"""The exception hierarchy of libet: one root, :class:`LibetError`.

Every exception a user can meet derives from :class:`LibetError`; the CLI catches that root,
renders it, and exits with code 2 (bad spec or command) without a traceback. Anything else that
escapes is a bug in libet and is reported as one.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Sequence

if TYPE_CHECKING:  # pragma: no cover
    from libet.spec.diagnostics import Diagnostic
    from libet.spec.ir import Span


class LibetError(Exception):
    """Root of libet's exceptions. Catch this to handle every error libet raises on purpose."""


class SpecError(LibetError):
    """Raised by :func:`libet.load` when a spec has errors.

    ``diagnostics`` holds every diagnostic of the file (errors and warnings), each with a
    location, a stable code, a message and a hint. Fix the errors it lists and load again.
    """

    def __init__(self, diagnostics: Sequence["Diagnostic"], sources: dict[str, str] | None = None):
        self.diagnostics = tuple(diagnostics)
        self.sources = sources or {}
        errors = [d for d in self.diagnostics if d.severity == "error"]
        first = errors[0] if errors else (self.diagnostics[0] if self.diagnostics else None)
        summary = f"{len(errors)} error(s)"
        if first is not None:
            summary += f"; first: {first.span}: {first.message}" if first.span else f"; first: {first.message}"
        super().__init__(summary)

    def render(self, color: bool = False) -> str:
        """All diagnostics as text, each with its source line and a caret under the span."""
        from libet.spec.diagnostics import render_all

        return render_all(self.diagnostics, self.sources, color=color)


class DataError(SpecError):
    """Raised when a measured data file (``data "FILE"``, ``libet fit --data``) does not fit
    the spec: an unknown column, a value outside its variable's domain or its param's range, a
    rate outside [0, 1], more successes than trials. ``diagnostics`` locates each problem by
    file, line and column (the data row and column are named in the message)."""


class FitError(LibetError):
    """Raised when a fit cannot give an honest answer: the optimiser did not converge from any
    start, the data ask for values the model cannot reach at any param value in the declared
    ranges, or a param to fit is read by nothing in the experiment. ``exit_code`` is 2 for bad
    input (the data or the choice of params) and 3 when the fit itself is undecided."""

    def __init__(self, message: str, hint: str | None = None, exit_code: int = 2):
        self.hint = hint
        self.exit_code = exit_code
        super().__init__(message)


class EvaluationError(LibetError):
    """Raised when an expression has no value at a concrete state: a division by zero, the log
    of a non-positive number, a probability outside [0, 1], transitions that do not sum to 1.

    ``span`` locates the expression; ``state`` names the phase, depth and assignment. Change the
    spec so that the expression is defined (and in range) at that state.
    """

    def __init__(self, message: str, span: "Span | None" = None, state: str | None = None, code: str = "E044"):
        self.code = code  # the diagnostic code used when the checker finds this statically
        self.message = message
        self.span = span
        self.state = state
        where = f"{span}: " if span else ""
        at = f" (at {state})" if state else ""
        super().__init__(f"{where}{message}{at}")


class UsageError(LibetError):
    """Raised for a wrong command or API call (an unknown policy, a bad ``--set``, an output
    folder that exists). The message says what is wrong; ``hint``, when set, how to fix it."""

    def __init__(self, message: str, hint: str | None = None):
        self.hint = hint
        super().__init__(message)

    def text(self) -> str:
        """The message and its hint on one line, for a result that records why it is missing."""
        return str(self) + (f" ({self.hint})" if self.hint else "")


class InternalError(LibetError):
    """Raised when two engines disagree, e.g. a Z3 counterexample or an exact-engine number that
    the reference interpreter does not confirm. This is a bug in libet, never a verdict: please
    report it with the spec and the command that showed it."""

    def __init__(self, message: str):
        super().__init__(f"internal error (a bug in libet; please report it): {message}")
