"""Calibration: ``libet fit`` and ``Specification.fit``, from measured data to a fitted spec.

Consumes: a checked spec, an experiment with measured data (``data "FILE"`` or a path), the
params to fit (default: every param with a declared range that the experiment reads and neither
varies nor sets), held-out rows, and options (starts, seed, bootstrap replicates, experiments
to predict, a Dask cluster).
Produces: a :class:`FitResult`: estimates with 95 % profile-likelihood intervals, the
log-likelihood and a goodness-of-fit figure, warnings (a flat profile, an estimate at a bound),
the fitted value of every row (labelled *fitted*), predictions with bootstrap intervals for
held-out rows and for whole experiments (labelled *predicted*), the fitted spec's source, and a
predicted-versus-observed plot.

This module directs; the numerics are in :mod:`libet.simulator.fit` (pure functions) and the
data in :mod:`libet.simulator.data`. Work that splits into independent calls (the starts, the
profiles, the bootstrap replicates) goes through one *mapper*: in order in this process by
default, or on dask.distributed (``workers=N`` starts a local cluster, ``scheduler=ADDRESS``
joins one); both give the same numbers, since each call's random draws have their own seed.
"""

from __future__ import annotations

import math
import os
import re
import time
from fractions import Fraction
from typing import Any, Callable, ClassVar, Iterable, Mapping, Sequence

import attrs
import numpy as np

from libet.errors import FitError, UsageError
from libet.simulator.parallel import mapper
from libet.spec import ir
from libet.spec.overrides import check_overrides, check_seed, check_whole
from libet.spec.printer import name_list
from libet.spec.reads import params_read

#: The interval level of every reported interval.
LEVEL = 0.95


# ---------------------------------------------------------------------------------------------
# Results


@attrs.frozen
class Estimate:
    """A fitted param: its value, its 95 % profile-likelihood interval ``[low, high]`` (each
    end flagged when it is the range's bound), its range and the spec's value. ``low`` and
    ``high`` are None, and ``no_interval`` says why, where the likelihood gives no interval (a
    least-squares fit that cannot estimate the noise)."""

    name: str
    value: float
    low: float | None
    high: float | None
    low_at_bound: bool
    high_at_bound: bool
    lo: float
    hi: float
    default: float
    no_interval: str | None = None

    def without_interval(self, why: str) -> "Estimate":
        return attrs.evolve(self, low=None, high=None, low_at_bound=False, high_at_bound=False, no_interval=why)

    def interval_text(self) -> str:
        """``[low, high]`` (a bound's end marked), or ``no interval`` (the fit's warnings say why)."""
        if self.low is None:
            return "no interval"
        lo = f"{self.low:.6g}" + (" (bound)" if self.low_at_bound else "")
        hi = f"{self.high:.6g}" + (" (bound)" if self.high_at_bound else "")
        return f"[{lo}, {hi}]"

    def to_json(self) -> dict:
        out = {"param": self.name, "estimate": self.value, "kind": "fitted",
               "interval": None if self.low is None else [self.low, self.high], "interval_kind": "95% profile likelihood",
               "low_at_bound": self.low_at_bound, "high_at_bound": self.high_at_bound,
               "range": [self.lo, self.hi], "spec_value": self.default}
        if self.no_interval is not None:
            out["no_interval"] = self.no_interval
        return out


@attrs.frozen
class Row:
    """One point with the model's value there: ``kind`` is ``fitted`` (a row the fit used) or
    ``predicted`` (a held-out row, or a point of an experiment); ``low``/``high`` the bootstrap
    interval of the model's value (None without bootstrap)."""

    kind: str
    experiment: str
    policy: str
    measure: str
    point: dict
    value: float
    low: float | None = None
    high: float | None = None
    observed: float | None = None
    error_bar: float | None = None
    row: int | None = None

    def to_json(self) -> dict:
        out = {"kind": self.kind, "experiment": self.experiment, "policy": self.policy, "measure": self.measure,
               **{k: _plain(v) for k, v in self.point.items()}, "value": self.value,
               "interval": None if self.low is None else [self.low, self.high]}
        if self.row is not None:
            out.update(row=self.row, observed=self.observed, std_error=self.error_bar,
                       error=self.value - self.observed)
        return out


def _plain(v):
    if isinstance(v, Fraction):
        return int(v) if v.denominator == 1 else float(v)
    return v


#: Past this many data rows the text lists the first and the farthest from the model (all are
#: in the JSON and the plot).
ROWS_LISTED = 40


def _farthest(rows: Sequence[Row], count: int = ROWS_LISTED // 4) -> tuple[list[Row], str]:
    """The ``count`` data rows farthest from the model, farthest first, and the unit of the
    distance: standard errors where the data give them, else the absolute error."""
    scaled = any(r.error_bar for r in rows)

    def distance(r: Row) -> float:
        return abs(r.value - r.observed) / (r.error_bar if scaled and r.error_bar else 1.0)

    return sorted(rows, key=distance, reverse=True)[:count], "standard errors" if scaled else "absolute error"


@attrs.frozen(eq=False)
class FitResult:
    experiment: str
    data_path: str
    data_sha256: str
    likelihood: str
    estimates: tuple[Estimate, ...]
    loglik: float
    goodness: dict
    warnings: tuple[str, ...]
    rows: tuple[Row, ...]
    holdout: tuple[Row, ...]
    predictions: tuple[Row, ...]
    starts: int
    starts_agreeing: int
    seed: int
    bootstrap: int
    bootstrap_failed: int
    runner: str
    seconds: float
    evaluations: int
    fitted_source: str | None
    sources: tuple[str, ...] = ()
    #: what the fitted spec is written from (so :meth:`write_spec` can place its data paths)
    spec: Any = attrs.field(default=None, repr=False)
    spec_sources: Any = attrs.field(default=None, repr=False)
    out_path: str | None = attrs.field(default=None, repr=False)
    #: (for the plot) past this many rows the text lists the first and the farthest
    ROWS_LISTED: ClassVar[int] = ROWS_LISTED

    @property
    def params(self) -> dict[str, float]:
        return {e.name: e.value for e in self.estimates}

    def holdout_error(self) -> dict | None:
        """Mean absolute and root-mean-square error of the held-out predictions."""
        if not self.holdout:
            return None
        err = np.array([r.value - r.observed for r in self.holdout])
        return {"rows": len(err), "mae": float(np.mean(np.abs(err))), "rmse": float(np.sqrt(np.mean(err ** 2)))}

    def to_json(self) -> dict:
        return {
            "experiment": self.experiment,
            "data": {"path": self.data_path, "sha256": self.data_sha256, "sources": list(self.sources)},
            "likelihood": self.likelihood,
            "estimates": [e.to_json() for e in self.estimates],
            "log_likelihood": self.loglik,
            "goodness_of_fit": self.goodness,
            "warnings": list(self.warnings),
            "rows": [r.to_json() for r in self.rows],
            "holdout": [r.to_json() for r in self.holdout],
            "holdout_error": self.holdout_error(),
            "predictions": [r.to_json() for r in self.predictions],
            "starts": self.starts, "starts_agreeing": self.starts_agreeing, "seed": self.seed,
            "bootstrap": self.bootstrap, "bootstrap_failed": self.bootstrap_failed,
            "runner": self.runner, "seconds": round(self.seconds, 6), "evaluations": self.evaluations,
        }

    def describe(self) -> str:
        out = [f"fit of experiment {self.experiment} to {self.data_path} (sha256 {self.data_sha256[:12]}…), "
               f"{self.likelihood} likelihood, {len(self.rows)} row(s)"]
        out.append("fitted params (95% profile-likelihood intervals):")
        for e in self.estimates:
            out.append(f"  {e.name} = {e.value:.6g}  {e.interval_text()}  (range [{e.lo:g}, {e.hi:g}]; spec had {e.default:g})")
        g = self.goodness
        gof = f"{g['statistic']} = {g['value']:.4g}"
        if g.get("p_value") is not None:
            gof += f" on {g['df']} df, p = {g['p_value']:.3g}"
        elif g["statistic"] != "RMSE":
            gof += (f" ({g['df']} df: no test)" if g["df"] > 0 else
                    f" (no test: {g['params']} params fitted to {g['rows']} row(s) leave no degree of freedom)")
        out.append(f"log-likelihood {self.loglik:.6g}; {gof}")
        out.append(f"{self.starts} start(s), {self.starts_agreeing} reached the best; seed {self.seed}; {self.runner}; "
                   f"{self.evaluations} evaluations in {self.seconds:.2f} s")
        out.append("rows (fitted = the model at the estimates):")
        out += _listed(self.rows)
        if self.holdout:
            e = self.holdout_error()
            out.append(f"held-out rows (predicted; error MAE {e['mae']:.4g}, RMSE {e['rmse']:.4g}):")
            out += _listed(self.holdout)
        if self.predictions:
            out.append(f"predictions ({self.bootstrap} bootstrap refits, {self.bootstrap_failed} failed; "
                       f"{int(LEVEL * 100)}% intervals):")
            out += ["  " + _row_text(r) for r in self.predictions]
        for w in self.warnings:
            out.append(f"warning: {w}")
        return "\n".join(out)

    def plot(self):
        """The predicted-versus-observed figure (matplotlib): each row's observed value with its
        error bar against the model's value (fitted rows and held-out predictions apart, with
        their bootstrap intervals when there are)."""
        from libet.simulator.plots import fit_figure

        return fit_figure(self)

    def write_plot(self, path: str, *, force: bool = False) -> list[str]:
        """Write the plot as ``path`` (PNG or SVG by suffix); refuses an existing file without ``force``."""
        import matplotlib.pyplot as plt

        from libet.files import write_atomic
        from libet.simulator.plots import png_bytes, svg_text

        fig = self.plot()
        try:
            data = svg_text(fig) if path.lower().endswith(".svg") else png_bytes(fig)
        finally:
            plt.close(fig)
        write_atomic(path, data, overwrite=force)
        return [path]

    def write_spec(self, path: str, *, force: bool = False) -> str:
        """Write the fitted spec to ``path`` (atomically; an existing file only with ``force``),
        its ``data`` paths relative to ``path``'s folder."""
        from libet.files import write_atomic

        text = self.fitted_source
        if text is None:
            raise UsageError("the fitted spec needs the spec's source text", "fit through libet.load(path).fit(...)")
        if self.spec is not None and os.path.abspath(path) != os.path.abspath(self.out_path or ""):
            info = {"experiment": self.experiment, "data_path": self.data_path, "data_sha256": self.data_sha256,
                    "rows": self.rows, "likelihood": self.likelihood, "goodness": self.goodness,
                    "loglik": self.loglik, "warnings": self.warnings}
            text = fitted_source(self.spec, self.spec_sources, self.estimates, info, path)
        write_atomic(path, text, overwrite=force)
        return path


def _listed(rows: Sequence[Row]) -> list[str]:
    """The lines of a table of data rows: every row, or for a long one the first rows in file
    order, then the rows farthest from the model."""
    if len(rows) <= ROWS_LISTED:
        return ["  " + _row_text(r) for r in rows]
    first = ROWS_LISTED // 2
    far, unit = _farthest(rows)
    return (["  " + _row_text(r) for r in rows[:first]]
            + [f"  … {len(rows) - first:,} more rows (every row is in --json and --plot); the {len(far)} farthest "
               f"from the model ({unit}):"]
            + ["  " + _row_text(r) for r in far])


def _row_text(r: Row) -> str:
    pt = ", ".join(f"{k}={_plain(v)}" for k, v in r.point.items())
    head = f"{r.kind:9} {r.policy} {r.measure} at {pt or '(no varied names)'}"
    if r.experiment:
        head = f"{r.kind:9} {r.experiment}: {r.policy} {r.measure} at {pt or '(no varied names)'}"
    val = f"{r.value:.4g}"
    if r.low is not None:
        val += f" [{r.low:.4g}, {r.high:.4g}]"
    if r.observed is not None:
        eb = f" ± {r.error_bar:.3g}" if r.error_bar is not None else ""
        val += f"   observed {r.observed:.4g}{eb} (row {r.row})"
    return f"{head}: {val}"


# ---------------------------------------------------------------------------------------------
# The fit


def fit(
    spec: ir.Spec,
    experiment: str,
    *,
    data: str | None = None,
    params: Iterable[str] | None = None,
    holdout: Iterable[int] = (),
    starts: int = 4,
    seed: int = 0,
    bootstrap: int = 0,
    predict: Iterable[str] = (),
    overrides: Mapping[str, Any] | None = None,
    workers: int | None = None,
    scheduler: str | None = None,
    sources: Mapping[str, str] | None = None,
    out_path: str | None = None,
    progress: Callable[[str, int], Callable[[int], None] | None] | None = None,
) -> FitResult:
    """Fit params of ``spec`` to the measured points of ``experiment`` by maximum likelihood.

    Args:
        data: the data file (default: the experiment's ``data`` line).
        params: the params to fit (default: see module doc).
        holdout: data row numbers (from 1) left out of the fit and predicted.
        starts: local optimisations, from the spec's values then from points drawn in the box.
        seed: the seed of the starts and the bootstrap.
        bootstrap: parametric bootstrap refits for prediction intervals (0: none; held-out rows
            and ``predict`` then get point predictions only).
        predict: experiments of the spec whose every point is predicted.
        overrides: values of other params (``--set``).
        workers, scheduler: run starts, profiles and refits on Dask (see module doc).
        sources: the spec's source texts (for the fitted spec).
        out_path: where the fitted spec will be written (its ``data`` paths are made relative
            to that folder).
        progress: ``progress(description, total)`` may return ``advance(n)`` (a progress bar),
            asked once for each stage: the int scan, the starts, the profiles, the bootstrap.

    Raises:
        UsageError, DataError: bad arguments or data (exit code 2).
        FitError: no convergence (3), data the model cannot reach or a param nothing reads (2).
    """
    from libet.simulator import data as data_mod
    from libet.simulator import fit as num

    started = time.perf_counter()
    dataset = data_mod.load(spec, experiment, data)
    exp = spec.experiments[experiment]
    base = check_overrides(spec, overrides)
    names = _choose_params(spec, exp, params, base)
    starts, bootstrap, seed = check_whole(starts, "starts", 1), check_whole(bootstrap, "bootstrap", 0), check_seed(seed)
    held = _holdout(dataset, holdout)
    fit_rows = [r for r in dataset.rows if r.row not in held]
    held_rows = [r for r in dataset.rows if r.row in held]
    if len(fit_rows) < 1:
        raise UsageError("holding out every row leaves nothing to fit")
    predict = list(dict.fromkeys(predict))
    for p in predict:
        if p not in spec.experiments:
            from libet.spec.diagnostics import did_you_mean

            raise UsageError(f"--predict: there is no experiment {p!r}", did_you_mean(p, spec.experiments))

    def targets(rows):
        return tuple(num.Target(experiment, r.policy, r.measure, r.point) for r in rows)

    int_names = tuple(n for n in names if spec.params[n].integer)
    names = tuple(n for n in names if not spec.params[n].integer)  # the real params, optimised
    lo = tuple(float(spec.params[n].lo) for n in names)
    hi = tuple(float(spec.params[n].hi) for n in names)
    kind = dataset.kind
    base_items = tuple((k, v) for k, v in base.items() if k not in names and k not in int_names)

    plan = num.Plan(spec, targets(fit_rows))  # one for every problem below: they share the rows
    observed = tuple(r.observed for r in fit_rows)
    ns = tuple(r.n for r in fit_rows) if kind == "binomial" else None
    stds = tuple(r.std for r in fit_rows) if kind == "gaussian" else None

    def make(int_values) -> num.Problem:
        return num.Problem(spec, plan.targets, observed, ns, stds, kind, names, lo, hi,
                           base_items + tuple(zip(int_names, int_values)), plan)

    defaults = [float(base.get(n, spec.params[n].default)) for n in names]
    run = mapper(workers, scheduler)
    evaluations = 0
    try:
        int_estimates: list = []
        if int_names:  # a profile scan over every whole value in the ranges
            grid = _int_grid(spec, int_names)
            # every scan point starts where the reals' optimum lies at the spec's int values
            at_default = num.optimise(make(tuple(int(spec.params[n].default) for n in int_names)), defaults)
            evaluations += at_default.evaluations
            begin = at_default.theta if at_default.converged else tuple(defaults)
            scans = run.map(num.optimise, [make(g) for g in grid], [begin] * len(grid),
                            advance=_stage(progress, "fit: scanning the int params", len(grid)))
            evaluations += sum(o.evaluations for o in scans)
            ok = [(o.stat, g) for o, g in zip(scans, grid) if o.converged]
            if not ok:
                raise FitError(f"the model has no valid value, or the fit did not converge, at any of the {len(grid)} "
                               f"values of {', '.join(int_names)} scanned", exit_code=3)
            best_int = min(ok)[1]
            int_estimates = _int_profile(spec, int_names, grid, scans, best_int)
            problem = make(best_int)
        else:
            problem = make(())
        if not names:
            starts = 1
        first = [problem] * starts
        # every start to a loose tolerance, then the best polished to a tight one
        opts = run.map(num.optimise, first, num.starts(problem, defaults, starts, seed), [None] * starts,
                       [False] * starts, advance=_stage(progress, "fit: starts", starts))
        evaluations += sum(o.evaluations for o in opts)
        good = [o for o in opts if o.converged]
        if not good:
            why = "; ".join(dict.fromkeys(o.message for o in opts))
            raise FitError(f"the fit did not converge from any of {starts} start(s): {why}",
                           "try more starts (--starts), narrower param ranges, or fewer params (--params)",
                           exit_code=3)
        best = min(good, key=lambda o: o.stat)
        agree = sum(1 for o in good if o.stat - best.stat <= 1e-6 * max(1.0, abs(best.stat)))
        if names:
            polished = num.optimise(problem, best.theta)
            evaluations += polished.evaluations
            if polished.converged and polished.stat <= best.stat:
                best = polished
        theta = np.asarray(best.theta)
        values = problem.values(theta)
        _reachable(problem, dataset, fit_rows, values, opts)
        noiseless = _noiseless(kind, problem.observed, values, len(names) + len(int_names))
        if noiseless is None:
            ints = run.map(num.profile, [problem] * len(names), [tuple(theta)] * len(names), [best.stat] * len(names),
                           list(range(len(names))), advance=_stage(progress, "fit: profile intervals", len(names)))
            evaluations += sum(i.evaluations for i in ints)
            warnings = _warnings(spec, names, theta, lo, hi, ints, problem)
            reals = [Estimate(n, float(theta[i]), i_.low, i_.high, i_.low_at_bound, i_.high_at_bound, lo[i], hi[i],
                              defaults[i]) for i, (n, i_) in enumerate(zip(names, ints))]
        else:  # the profile is degenerate: an interval of no width would claim a certainty there is not
            warnings = [f"no intervals: {noiseless}"]
            reals = [Estimate(n, float(theta[i]), None, None, False, False, lo[i], hi[i], defaults[i], noiseless)
                     for i, n in enumerate(names)]
            int_estimates = [e.without_interval(noiseless) for e in int_estimates]
        for e in int_estimates:
            if e.value in (e.lo, e.hi) and e.lo != e.hi:
                warnings.append(f"int param {e.name} is fitted at the bound {e.value:g} of its range: the likelihood "
                                "would rise beyond it; widen the range if values there make sense")
            if e.low_at_bound and e.high_at_bound:
                warnings.append(f"int param {e.name} is not pinned down by the data: every value in [{e.lo:g}, "
                                f"{e.hi:g}] lies within the 95% cut-off (a flat profile)")
        if int_names and names:
            warnings.append(f"the intervals of {', '.join(names)} and the bootstrap hold the int params "
                            f"({', '.join(int_names)}) at their estimates")
        estimates = tuple(int_estimates) + tuple(reals)
        # predictions: held-out rows, then every point of the experiments asked for
        pred_targets = list(targets(held_rows))
        for p in predict:
            pred_targets += _experiment_targets(spec, p)
        fitted_params = problem.params(theta)
        point_preds = num.predict(spec, tuple(pred_targets), fitted_params) if pred_targets else np.empty(0)
        lows = highs = [None] * len(pred_targets)
        row_lows = row_highs = [None] * len(fit_rows)
        failed = 0
        if bootstrap:
            sigma = None
            if kind == "least squares":
                if noiseless is not None:
                    raise FitError(f"a least-squares bootstrap resamples the noise, and {noiseless}",
                                   "give each row n or std, or fit fewer params")
                df = len(fit_rows) - len(names)
                sigma = math.sqrt(float(np.sum((np.asarray(problem.observed) - values) ** 2)) / df)
            everything = num.Plan(spec, tuple(pred_targets) + problem.targets)  # formed once, for every refit
            reps = run.map(num.replicate, [problem] * bootstrap, [tuple(theta)] * bootstrap, [seed] * bootstrap,
                           list(range(1, bootstrap + 1)), [sigma] * bootstrap, [everything] * bootstrap,
                           advance=_stage(progress, "fit: bootstrap refits", bootstrap))
            ok = [p for t, p in reps if t is not None]
            failed = bootstrap - len(ok)
            if ok:
                arr = np.asarray(ok)
                q = np.quantile(arr, [(1 - LEVEL) / 2, (1 + LEVEL) / 2], axis=0)
                k = len(pred_targets)
                lows, highs = list(q[0, :k]), list(q[1, :k])
                row_lows, row_highs = list(q[0, k:]), list(q[1, k:])
            if failed > bootstrap // 10:
                warnings.append(f"{failed} of {bootstrap} bootstrap refits did not converge; the intervals rest on "
                                f"the {bootstrap - failed} that did")
    finally:
        run.close()
    rows = tuple(
        Row("fitted", experiment, r.policy, r.measure.text, dict(r.point), float(values[i]),
            _f(row_lows[i]), _f(row_highs[i]), r.observed, r.error_bar(), r.row)
        for i, r in enumerate(fit_rows)
    )
    held_out = tuple(
        Row("predicted", experiment, r.policy, r.measure.text, dict(r.point), float(point_preds[i]),
            _f(lows[i]), _f(highs[i]), r.observed, r.error_bar(), r.row)
        for i, r in enumerate(held_rows)
    )
    k0 = len(held_rows)
    preds = tuple(
        Row("predicted", t.experiment, t.policy, t.measure.text, dict(t.point), float(point_preds[k0 + j]),
            _f(lows[k0 + j]), _f(highs[k0 + j]))
        for j, t in enumerate(pred_targets[k0:])
    )
    result_wo_source = dict(
        experiment=experiment, data_path=dataset.path, data_sha256=dataset.sha256, likelihood=kind,
        estimates=estimates, loglik=problem.loglik(values), goodness=problem.goodness(values, len(int_names)),
        warnings=tuple(warnings), rows=rows, holdout=held_out, predictions=preds, starts=starts,
        starts_agreeing=agree, seed=seed, bootstrap=bootstrap, bootstrap_failed=failed, runner=run.name,
        evaluations=evaluations, sources=dataset.sources,
    )
    # the fitted spec needs the source text (a Specification has it; a bare IR does not)
    text = fitted_source(spec, sources, estimates, result_wo_source, out_path) if sources else None
    return FitResult(**result_wo_source, seconds=time.perf_counter() - started, fitted_source=text, spec=spec,
                     spec_sources=sources, out_path=out_path)


def _f(x):
    return None if x is None else float(x)


#: Most combinations of int-param values a fit scans.
MAX_SCAN = 5000


def _int_grid(spec: ir.Spec, names) -> list[tuple[int, ...]]:
    import itertools

    ranges = [range(int(spec.params[n].lo), int(spec.params[n].hi) + 1) for n in names]
    count = math.prod(len(r) for r in ranges)
    if count > MAX_SCAN:
        raise UsageError(f"fitting int params {', '.join(names)} scans {count:,} combinations; the limit is "
                         f"{MAX_SCAN:,}", "narrow their ranges, or fit fewer of them at once")
    return list(itertools.product(*ranges))


def _stage(progress, description: str, total: int):
    """The ``advance`` of one stage of a fit, or None (no progress asked for, nothing to do)."""
    return progress(description, total) if progress is not None and total > 0 else None


#: A least-squares fit this close to every row (RMSE, relative to the rows' scale) is exact.
EXACT_FIT = 1e-6


def _noiseless(kind: str, observed, values, params: int) -> str | None:
    """Why a least-squares fit cannot estimate the noise, which its intervals rest on, or None:
    no more rows than params (any data is fitted exactly), or a model through every row (an
    RMSE below ``EXACT_FIT`` of the rows' scale: no measured rate is that precise, and what is
    left is the optimiser's tolerance). Its profile is then degenerate, and the cut-off gives an
    interval of about no width. Binomial and Gaussian rows carry their own noise (n, std)."""
    if kind != "least squares":
        return None
    y = np.asarray(observed, dtype=float)
    if len(y) <= params:
        return (f"a least-squares fit of {params} param(s) to {len(y)} row(s) fits them exactly and cannot estimate "
                "the noise; give each row n or std, or add rows")
    rmse = math.sqrt(float(np.mean((y - np.asarray(values, dtype=float)) ** 2)))
    if rmse <= EXACT_FIT * max(1.0, float(np.max(np.abs(y)))):
        return (f"the model goes through every row (RMSE {rmse:.3g}), so least squares estimates the noise as 0; "
                "give each row n or std")
    return None


def _int_profile(spec, names, grid, scans, best) -> list[Estimate]:
    """Per int param: the profile over the scan (for each value, the best statistic over the
    other ints and the reals), and the values within the 95 % cut-off (their hull)."""
    from libet.simulator.fit import CHI2_95

    top = min(o.stat for o in scans if o.converged)
    out = []
    for i, n in enumerate(names):
        prof: dict[int, float] = {}
        for g, o in zip(grid, scans):
            if o.converged:
                prof[g[i]] = min(prof.get(g[i], math.inf), o.stat)
        inside = [v for v, s in prof.items() if s - top <= CHI2_95]
        lo, hi = int(spec.params[n].lo), int(spec.params[n].hi)
        out.append(Estimate(n, float(best[i]), float(min(inside)), float(max(inside)), min(inside) == lo,
                            max(inside) == hi, float(lo), float(hi), float(spec.params[n].default)))
    return out


def _choose_params(spec: ir.Spec, exp: ir.Experiment, params, base) -> tuple[str, ...]:
    policies = [spec.policies[p] for p in exp.policies]
    exprs = [x for pol in policies for r in pol.rules for x in (r.condition, r.strength)]
    traj = spec.trajectory
    if traj is not None:
        exprs += [t.prob for p in traj.phases for t in p.transitions if t.prob is not None]
        exprs.append(traj.start_depth)
    from libet.spec.structural import expressions

    exprs += expressions(spec)  # a horizon or weights over params
    read = params_read(spec, exprs)
    fixed_here = {v.name for v in exp.vary} | {n for n, _ in exp.set}
    if params is None:
        names = [n for n, p in spec.params.items()
                 if p.lo is not None and n in read and n not in fixed_here and n not in base]
        if not names:
            raise FitError(f"experiment {exp.name!r} reads no param with a declared range that it neither varies "
                           "nor sets, so there is nothing to fit",
                           "declare a range (`param gain = 0.15 in [0, 1]`) or name the params with --params")
        return tuple(names)
    names = list(dict.fromkeys(params))
    if not names:
        raise UsageError("--params names no param")
    for n in names:
        if n not in spec.params:
            from libet.spec.diagnostics import did_you_mean

            raise UsageError(f"there is no param {n!r} (params: {name_list(spec.params)})",
                             did_you_mean(n, spec.params))
        p = spec.params[n]
        if p.lo is None:
            raise UsageError(f"param {n} has no declared range; a fit searches within it",
                             f"declare one: `param {n} = {_num(p.default)} in [LO, HI]`")
        if n in fixed_here:
            raise UsageError(f"experiment {exp.name!r} varies or sets param {n}, so its data cannot fit it",
                             "fit it with another experiment, or drop it from --params")
        if n in base:
            raise UsageError(f"param {n} is both fitted and given a value with --set")
        if n not in read:
            raise FitError(f"nothing in experiment {exp.name!r} reads param {n}: its policies "
                           f"({', '.join(exp.policies)}) and the trajectory do not use it, so the data say "
                           "nothing about it", "drop it from --params")
    return tuple(names)


def _num(q) -> str:
    return str(q.numerator) if q.denominator == 1 else f"{float(q):g}"


def _holdout(dataset, holdout) -> set[int]:
    held = set()
    count = len(dataset.rows)
    numbers = {r.row for r in dataset.rows}
    for h in holdout:
        if isinstance(h, bool) or int(h) != h or int(h) not in numbers:
            raise UsageError(f"--holdout {h!r}: the data file has rows 1..{count}")
        if int(h) in held:
            raise UsageError(f"--holdout names row {int(h)} twice", "name each row once, e.g. --holdout 2,5-7")
        held.add(int(h))
    return held


def parse_rows(text: str) -> list[int]:
    """``3,5-7`` as [3, 5, 6, 7] (the ``--holdout`` syntax)."""
    out = []
    for part in (p.strip() for p in text.split(",")):
        m = re.fullmatch(r"(\d+)(?:\s*-\s*(\d+))?", part)
        if not m:
            raise UsageError(f"--holdout takes row numbers such as 3 or 2,5-7, not {text!r}")
        a, b = int(m.group(1)), int(m.group(2) or m.group(1))
        if b < a:
            raise UsageError(f"--holdout: the range {part} is empty")
        out += range(a, b + 1)
    return out


def _reachable(problem, dataset, rows, values, opts) -> None:
    """Data that contradict the model: a row whose observed value lies more than 4 standard
    errors beyond every value the model took at any param point the optimiser tried, and where
    the fitted value is that extreme: no param value in the ranges gets near it."""
    seen_lo = np.minimum.reduce([values] + [problem.values(o.start) for o in opts if math.isfinite(o.stat)])
    seen_hi = np.maximum.reduce([values] + [problem.values(o.start) for o in opts if math.isfinite(o.stat)])
    corners = []
    for c in _corners(problem):
        try:
            corners.append(problem.values(c))
        except Exception:  # noqa: BLE001 - an invalid corner tells nothing
            continue
    if corners:
        seen_lo = np.minimum(seen_lo, np.min(corners, axis=0))
        seen_hi = np.maximum(seen_hi, np.max(corners, axis=0))
    bad = []
    for i, r in enumerate(rows):
        se = r.error_bar()
        if se is None or se == 0:
            se = 0.02 * max(abs(r.observed), 1e-3) + 1e-9
        if r.observed > seen_hi[i] + 4 * se and values[i] >= seen_hi[i] - 1e-9:
            bad.append(f"row {r.row} ({r.label()}): observed {r.observed:.4g}, but the model reaches at most "
                       f"{seen_hi[i]:.4g}")
        elif r.observed < seen_lo[i] - 4 * se and values[i] <= seen_lo[i] + 1e-9:
            bad.append(f"row {r.row} ({r.label()}): observed {r.observed:.4g}, but the model reaches at least "
                       f"{seen_lo[i]:.4g}")
    if bad:
        ranges = ", ".join(f"{n} in [{a:g}, {b:g}]" for n, a, b in zip(problem.names, problem.lo, problem.hi))
        listed = "; ".join(bad[:10]) + (f"; and {len(bad) - 10:,} more rows" if len(bad) > 10 else "")
        raise FitError("the data contradict the model: " + listed + f" (over {ranges}, at every start, "
                       "corner and the best fit)",
                       "the model cannot produce these values at any param value in the declared ranges: widen "
                       "a range, fit another param, or revise the model")


def _corners(problem) -> list:
    if len(problem.names) > 6:
        return []
    import itertools

    return [tuple(c) for c in itertools.product(*zip(problem.lo, problem.hi))]


def _warnings(spec, names, theta, lo, hi, ints, problem) -> list[str]:
    out = []
    for i, n in enumerate(names):
        width = hi[i] - lo[i]
        if theta[i] - lo[i] <= 1e-6 * width or hi[i] - theta[i] <= 1e-6 * width:
            bound = lo[i] if theta[i] - lo[i] <= 1e-6 * width else hi[i]
            out.append(f"param {n} is fitted at the bound {bound:g} of its range: the likelihood would rise "
                       "beyond it; widen the range if values there make sense, or the model may be wrong")
        if ints[i].flat:
            out.append(f"param {n} is not pinned down by the data: its profile likelihood stays within the 95% "
                       f"cut-off across the whole range [{lo[i]:g}, {hi[i]:g}] (a flat profile)")
        for side in ints[i].unplaced:
            bound, where = (lo[i], "below") if side == "low" else (hi[i], "above")
            out.append(f"param {n}'s interval is not narrowed {where} its estimate: no fit of the other params "
                       f"converged where its profile likelihood meets the 95% cut-off there, so its {side} end is "
                       f"the bound {bound:g}, not a value the data exclude beyond")
    return out


def _experiment_targets(spec: ir.Spec, name: str) -> list:
    import itertools

    from libet.simulator.fit import Target

    exp = spec.experiments[name]
    out = []
    for policy in exp.policies:
        for values in itertools.product(*[v.values for v in exp.vary]) if exp.vary else [()]:
            point = tuple((v.name, x) for v, x in zip(exp.vary, values))
            for m in exp.measures:
                out.append(Target(name, policy, m, point))
    return out


# ---------------------------------------------------------------------------------------------
# The fitted spec


def _decimal(x: float, lo: float, hi: float) -> str:
    """``x`` as a short decimal literal (6 significant digits, more if rounding would leave the
    range); never exponent notation, which the grammar's numbers do not need."""
    for digits in (6, 9, 12, 17):
        text = f"{x:.{digits}g}"
        if "e" in text:
            text = f"{x:.{digits + 12}f}".rstrip("0").rstrip(".")
        if lo <= float(text) <= hi:
            return text
    return repr(min(max(x, lo), hi))


def fitted_source(spec: ir.Spec, sources: Mapping[str, str] | None, estimates: Sequence[Estimate], info: dict,
                  out_path: str | None) -> str:
    """The main spec file with every fitted param's default replaced by its estimate, a
    comment recording the data file's hash, the estimates and intervals, and ``data`` paths
    rewritten relative to ``out_path``'s folder."""
    from libet.spec import ast
    from libet.spec.diagnostics import Diagnostics
    from libet.spec.parser import parse

    main = spec.files[0] if spec.files else None
    if not sources or main not in sources:
        raise UsageError("the fitted spec needs the spec's source text", "load the spec with libet.load(path)")
    text = sources[main]
    parsed = parse(text, main, Diagnostics())
    module = parsed.module
    offsets = _line_offsets(text)
    edits = []
    by_name = {e.name: e for e in estimates}
    for item in module.items:
        if isinstance(item, ast.ParamDecl) and item.name.text in by_name:
            e = by_name[item.name.text]
            sp = item.default.span
            edits.append((_off(offsets, sp.line, sp.col), _off(offsets, sp.end_line, sp.end_col),
                          _decimal(e.value, e.lo, e.hi)))
        if isinstance(item, ast.ExperimentDecl) and out_path is not None:
            for it in item.items:
                if it.kind == "data":
                    sp = it.args[0].span
                    old = os.path.join(os.path.dirname(main), it.args[0].text)
                    new = os.path.relpath(old, os.path.dirname(os.path.abspath(out_path)) or ".") \
                        if not os.path.isabs(it.args[0].text) else it.args[0].text
                    edits.append((_off(offsets, sp.line, sp.col), _off(offsets, sp.end_line, sp.end_col),
                                  '"' + new.replace(os.sep, "/") + '"'))
    for start, end, new in sorted(edits, reverse=True):
        text = text[:start] + new + text[end:]
    import libet

    g = info["goodness"]
    lines = [
        f"# Fitted by libet {libet.__version__} (`libet fit --experiment {info['experiment']}`):",
        f"#   data {info['data_path']} (sha256 {info['data_sha256']}), {len(info['rows'])} row(s), "
        f"{info['likelihood']} likelihood",
    ]
    for e in estimates:
        interval = "no interval" if e.low is None else f"95% profile-likelihood interval [{e.low:.6g}, {e.high:.6g}]"
        lines.append(f"#   {e.name} = {_decimal(e.value, e.lo, e.hi)}  (fitted; {interval}; the spec had {e.default:g})")
    gof = f"{g['statistic']} = {g['value']:.4g}"
    if g.get("p_value") is not None:
        gof += f" on {g['df']} df (p = {g['p_value']:.3g})"
    lines.append(f"#   log-likelihood {info['loglik']:.6g}; {gof}")
    for w in info["warnings"]:
        lines.append(f"#   warning: {w}")
    return "\n".join(lines) + "\n\n" + text


def _line_offsets(text: str) -> list[int]:
    out = [0]
    for i, ch in enumerate(text):
        if ch == "\n":
            out.append(i + 1)
    return out


def _off(offsets, line, col) -> int:
    return offsets[line - 1] + col - 1
