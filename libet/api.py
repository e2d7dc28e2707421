"""The Python API: ``libet.load(path)`` and the :class:`Specification` it returns.

Consumes: a spec file path (or text).
Produces: a :class:`Specification`, a checked spec with methods for every question libet answers;
each method delegates to the engine that answers it and returns typed results.
"""

from __future__ import annotations

import os
from typing import Mapping

from libet.errors import SpecError
from libet.spec import ir
from libet.spec.diagnostics import Diagnostic
from libet.spec.interpreter import Interpreter
from libet.spec.loader import Loaded, load_path, load_text


class Specification:
    """A checked spec.

    Attributes:
        ir: the frozen IR (:class:`libet.spec.ir.Spec`).
        path: the file it was loaded from (or the name given to :func:`loads`).
        warnings: the warnings the checker found (errors would have raised).
    """

    def __init__(self, loaded: Loaded, path: str):
        assert loaded.spec is not None
        self.ir: ir.Spec = loaded.spec
        self.path = path
        self.sources = loaded.sources
        self.warnings: tuple[Diagnostic, ...] = tuple(d for d in loaded.diagnostics if not d.is_error)

    def __repr__(self) -> str:
        return f"<libet.Specification {self.ir.title!r} from {self.path}>"

    @property
    def title(self) -> str:
        return self.ir.title

    def interpreter(self, params: Mapping[str, object] | None = None, *, exact: bool = False) -> Interpreter:
        """The reference interpreter for this spec with the given param overrides."""
        return Interpreter(self.ir, params, exact=exact)

    def prove(self, policy=None, check=None, timeout=30.0, rlimit=None, params=None):
        """Decide the qualitative checks (invariance, complete, no over-refusal, safe) with Z3.

        Args:
            policy: a policy name or a list of names (default: every policy a check names).
            check: a check name as written (``"safe"``, ``"invariant under framing"``) or a list.
            timeout: seconds per check; a check not decided in time is UNKNOWN with the reason.
            rlimit: Z3's deterministic resource limit per solver call.
            params: param overrides, name -> number.

        Returns:
            a list of :class:`libet.results.CheckResult`, one per check, in the spec's order.
        """
        from libet.proofs import prove

        policies = [policy] if isinstance(policy, str) else policy
        checks = [check] if isinstance(check, str) else check
        return prove(self.ir, policies=policies, checks=checks, timeout=timeout, rlimit=rlimit, params=params)


def load(path: str | os.PathLike) -> Specification:
    """Read, parse and check a spec file and the files it uses.

    Raises:
        SpecError: when the spec has errors; ``.diagnostics`` lists all of them and
            ``.render()`` formats them with source lines and carets.
    """
    loaded = load_path(path)
    if not loaded.ok:
        raise SpecError(loaded.diagnostics, loaded.sources)
    return Specification(loaded, os.fspath(path))


def loads(text: str, name: str = "<string>") -> Specification:
    """Like :func:`load`, for spec source held in a string."""
    loaded = load_text(text, name)
    if not loaded.ok:
        raise SpecError(loaded.diagnostics, loaded.sources)
    return Specification(loaded, name)
