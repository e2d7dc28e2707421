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
        from libet.suppress import suppress

        assert loaded.spec is not None
        loaded, _ = suppress(loaded)  # `# libet: ignore[CODE]` comments
        self.ir: ir.Spec = loaded.spec
        self.path = path
        self.sources = loaded.sources
        self.warnings: tuple[Diagnostic, ...] = tuple(d for d in loaded.diagnostics if not d.is_error)

    def __repr__(self) -> str:
        return f"<libet.Specification {self.ir.title!r} from {self.path}>"

    @property
    def title(self) -> str:
        return self.ir.title

    def _repr_html_(self) -> str:
        from libet.report import esc, spec_summary, summary_html

        warn = f"<p>{len(self.warnings)} warning(s): " + esc("; ".join(d.message for d in self.warnings)) + "</p>" \
            if self.warnings else ""
        return (f"<div><p><b>{esc(self.title)}</b> <small>({esc(self.path)})</small></p>"
                f"{summary_html(spec_summary(self.ir))}{warn}</div>")

    def interpreter(self, params: Mapping[str, object] | None = None, *, exact: bool = False) -> Interpreter:
        """The reference interpreter for this spec with the given param overrides."""
        return Interpreter(self.ir, params, exact=exact)

    def check(self, policy=None, check=None, *, timeout=30.0, rlimit=None, params=None, fixed=None, exact=False):
        """Decide every check of the spec, qualitative (Z3) and quantitative (the exact engine).

        Args:
            policy: a policy name or a list of names (default: every policy a check names).
            check: a check name as written (``"safe"``, ``"P(harm) <= 0.01 for all framing"``)
                or a list of them.
            timeout: seconds per qualitative check; one not decided in time is UNKNOWN.
            rlimit: Z3's deterministic resource limit per solver call.
            params: param overrides, name -> number; fixed: variables held at one value.
            exact: decide the quantitative checks in rational arithmetic (small models).

        Returns:
            a :class:`libet.results.CheckResults` (a list of :class:`libet.results.CheckResult`,
            one per check, in the spec's order, that shows as a table in a notebook and has
            ``.to_rows()`` and ``.to_pandas()``).
        """
        from libet import orchestrate
        from libet.results import CheckResults

        return CheckResults(orchestrate.check(
            self.ir, policies=_names(policy), checks=_names(check), timeout=timeout, rlimit=rlimit,
            params=params, fixed=fixed, exact=exact,
        ))

    def prove(self, policy=None, check=None, timeout=30.0, rlimit=None, params=None, fixed=None):
        """Decide only the qualitative checks (invariance, complete, no over-refusal, safe)
        with Z3; arguments as :meth:`check`."""
        from libet import orchestrate
        from libet.results import CheckResults

        return CheckResults(orchestrate.check(
            self.ir, policies=_names(policy), checks=_names(check), families=["proofs"], timeout=timeout,
            rlimit=rlimit, params=params, fixed=fixed,
        ))

    def simulate(self, policy=None, *, engine="exact", runs=10_000, seed=0, params=None, fixed=None, exact=False,
                 measures=None, progress=None):
        """Measures of the policies (the exact engine, or Monte Carlo).

        Args:
            policy: a policy name or a list of names (default: every policy).
            engine: a name in the engine registry: ``"exact"`` or ``"mc"``.
            runs, seed: Monte Carlo's trajectories and seed (reproducible bit for bit).
            params: param overrides, name -> number; fixed: variables held at one value.
            exact: rational arithmetic (small models, exact engine).
            measures: measures as text (``"P(visit plan)"``) or :mod:`libet.spec.measures`
                objects (default: the standard ones).
            progress: ``progress(description, total)`` may return ``advance(n)``, asked once
                before the engine runs (units: depths solved, or Monte Carlo's trajectories).

        Returns:
            a :class:`libet.simulator.simulation.SimulationResult`; ``.to_rows()`` gives one
            dict per policy (averaged over the variables not fixed), ``[policy]`` the outcome
            table (exact) or the estimates (Monte Carlo).
        """
        from libet import orchestrate

        return orchestrate.simulate(
            self.ir, _names(policy), engine=engine, runs=runs, seed=seed, params=params, fixed=fixed, exact=exact,
            measures=self._measures(measures), progress=progress,
        )

    def experiment(self, name, *, engine=None, runs=None, seed=None, params=None, fixed=None, exact=False,
                   workers=None, scheduler=None):
        """Run the experiment ``name``; returns a
        :class:`libet.simulator.experiments.ExperimentResult` (``.to_rows()``, ``.to_csv()``,
        ``.write(folder)`` for CSV, JSON and plots). ``exact``: the exact engine in rational
        arithmetic. ``workers`` / ``scheduler``: solve its (policy, param point) pieces on
        dask.distributed (``libet[dask]``), same numbers."""
        from libet.simulator.experiments import run_experiment

        return run_experiment(
            self.ir, name, params=params, fixed=fixed, engine=engine, runs=runs, seed=seed, exact=exact,
            sources=self.sources, workers=workers, scheduler=scheduler,
        )

    def fit(self, experiment, *, data=None, params=None, holdout=(), starts=4, seed=0, bootstrap=0, predict=(),
            overrides=None, workers=None, scheduler=None, out=None, progress=None):
        """Fit params to the measured points of ``experiment`` (``libet fit``): maximum
        likelihood (binomial with n, Gaussian with std, least squares otherwise) within the
        declared ranges, from ``starts`` seeded starts, with 95 % profile-likelihood intervals.

        Args:
            data: a CSV or JSON file (default: the experiment's ``data`` line).
            params: names of the params to fit (default: every ranged param the experiment
                reads and neither varies nor sets).
            holdout: data row numbers (from 1) left out and predicted.
            bootstrap: parametric bootstrap refits for prediction intervals.
            predict: names of experiments to predict at every point.
            overrides: values of other params; workers / scheduler: Dask (``libet[dask]``).
            out: where the fitted spec will be written (``data`` paths are rewritten for it).
            progress: ``progress(description, total)`` may return ``advance(n)``, asked once
                per stage (the int scan, the starts, the profiles, the bootstrap).

        Returns:
            a :class:`libet.fit.FitResult` (``.params``, ``.estimates``, ``.describe()``,
            ``.to_json()``, ``.fitted_source``, ``.write_spec(path)``, ``.plot()``).
        """
        from libet.fit import fit

        return fit(self.ir, experiment, data=data, params=_names(params), holdout=holdout, starts=starts, seed=seed,
                   bootstrap=bootstrap, predict=_names(predict) or (), overrides=overrides, workers=workers,
                   scheduler=scheduler, sources=self.sources, out_path=out, progress=progress)

    def run(self, out, *, params=None, fixed=None, timeout=30.0, force=False, log_y=False):
        """What ``libet run`` does: every check and experiment, and a graph per policy, written
        into the folder ``out`` (``log_y``: the plots on log y axes); returns a
        :class:`libet.orchestrate.RunSummary`."""
        from libet import orchestrate

        return orchestrate.run(self.ir, out, sources=self.sources, params=params, fixed=fixed, timeout=timeout,
                               force=force, log_y=log_y)

    def compare(self, a, b, *, timeout=30.0, params=None, fixed=None):
        """Compare policies ``a`` and ``b`` (``libet diff``): are they equivalent, does one
        veto whenever the other does, and if not the smallest assignment and state where they
        differ with both veto probabilities; and the exact P(harm) and P(over-refusal) of
        each. Returns a :class:`libet.compare.Comparison` (``.equivalent``, ``.a_covers_b``,
        ``.differences``, ``.deltas()``, ``.to_json()``)."""
        from libet.compare import compare

        return compare(self.ir, a, b, timeout=timeout, params=params, fixed=fixed)

    def _measures(self, measures):
        if measures is None:
            return None
        from libet.spec import measures as ms

        phases = self.ir.trajectory.phase_names if self.ir.trajectory else ()
        return [ms.as_measure(m, phases) for m in ([measures] if isinstance(measures, (str, ms.Measure)) else measures)]


def _names(x):
    """A name or names (a policy, a check, params) as a list, or None for all of them."""
    if x is None or isinstance(x, str):
        return None if x is None else [x]
    try:
        names = list(x)
    except TypeError:
        raise TypeError(f"expected a name or a list of names, not {type(x).__name__}") from None
    if not all(isinstance(n, str) for n in names):
        raise TypeError(f"expected names (str), not {', '.join(sorted({type(n).__name__ for n in names if not isinstance(n, str)}))}")
    return names


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
    if not isinstance(text, str):
        raise TypeError(f"loads takes the spec's text (a str), not {type(text).__name__}"
                        + ("; libet.load reads a file" if isinstance(text, (bytes, os.PathLike)) else ""))
    loaded = load_text(text, name)
    if not loaded.ok:
        raise SpecError(loaded.diagnostics, loaded.sources)
    return Specification(loaded, name)
