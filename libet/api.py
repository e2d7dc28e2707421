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

    def simulate(self, policy=None, *, engine="exact", runs=10_000, seed=0, params=None, fixed=None, exact=False):
        """Outcome probabilities of the policies (exact backward induction, or Monte Carlo).

        Args:
            policy: a policy name or a list of names (default: every policy).
            engine: ``"exact"`` or ``"mc"``.
            runs, seed: Monte Carlo's trajectories and seed (reproducible bit for bit).
            params: param overrides, name -> number; fixed: variables held at one value.
            exact: rational arithmetic (small models, exact engine).

        Returns:
            a :class:`libet.simulator.simulation.SimulationResult`; ``.to_rows()`` gives one
            dict per policy (averaged over the variables not fixed), ``[policy]`` the outcome
            table (exact) or the estimates (Monte Carlo).
        """
        from libet.simulator.simulation import simulate

        policies = [policy] if isinstance(policy, str) else policy
        return simulate(self.ir, policies, engine=engine, runs=runs, seed=seed, params=params, fixed=fixed, exact=exact)

    def experiment(self, name, *, engine=None, runs=None, seed=None, params=None, fixed=None):
        """Run the experiment ``name``; returns a
        :class:`libet.simulator.experiments.ExperimentResult` (``.to_rows()``, ``.to_csv()``,
        ``.write(folder)`` for CSV, JSON and plots)."""
        from libet.simulator.experiments import run_experiment

        return run_experiment(
            self.ir, name, params=params, fixed=fixed, engine=engine, runs=runs, seed=seed, sources=self.sources
        )


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
