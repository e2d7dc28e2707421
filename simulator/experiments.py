"""Experiments: sweeps of params and variables across policies, as tables and plots.

Consumes: a checked spec and one of its :class:`~libet.spec.ir.Experiment` blocks (with optional
overrides of the engine, runs, seed, params and variables).
Produces: :class:`ExperimentResult`: one row per (point of the sweep, policy) with each
measure (and, for Monte Carlo, its confidence interval), plus the metadata that makes it
reproducible (spec hash, params, seed, engine, libet version). It writes CSV, JSON and one
plot per measure (PNG and SVG).

Semantics (docs/semantics.md §8): for each point of the product of the ``vary`` lines (the last
changing fastest) and each policy, each measure is computed with the ``set`` and varied values
fixed, the worst case over ``worst over`` and the average under the declared distribution over
every other variable. With the exact engine, a sweep over variables costs one solve per
(policy, param point): the table covers every value of the swept variables at once.
"""

from __future__ import annotations

import csv
import hashlib
import io
import itertools
import json
import os
import time
from fractions import Fraction
from typing import Callable, Mapping

import attrs

from libet.errors import UsageError
from libet.spec import ir

from .exact import solve
from .model import Model

CONFIDENCE = 0.95


def spec_hash(sources: Mapping[str, str] | None, spec: ir.Spec) -> str:
    """sha256 of the spec's source files (in load order), or of its IR's repr without them."""
    h = hashlib.sha256()
    if sources:
        order = list(spec.files) or list(sources)
        for name in order:
            if name in sources:
                h.update(sources[name].encode("utf-8"))
                h.update(b"\0")
    else:
        h.update(repr(spec).encode("utf-8"))
    return h.hexdigest()


def _plain(v):
    if isinstance(v, Fraction):
        return int(v) if v.denominator == 1 else float(v)
    return v


@attrs.frozen(eq=False)
class ExperimentResult:
    """The table of one experiment and everything needed to reproduce it.

    ``rows`` is a list of dicts: ``policy``, one key per varied name, then per measure its value
    (and ``<measure> low`` / ``<measure> high`` for Monte Carlo)."""

    name: str
    title: str
    policies: tuple[str, ...]
    vary: tuple[str, ...]
    measures: tuple[str, ...]
    engine: str
    runs: int | None
    seed: int | None
    confidence: float | None
    aggregation: str
    fixed: dict
    params: dict
    spec_hash: str
    version: str
    seconds: float
    rows: list = attrs.field(factory=list)

    def to_rows(self) -> list[dict]:
        """Plain rows (lists of dicts), e.g. for ``pandas.DataFrame(result.to_rows())``."""
        return [dict(r) for r in self.rows]

    def metadata(self) -> dict:
        return {
            "experiment": self.name,
            "spec": self.title,
            "spec_sha256": self.spec_hash,
            "libet_version": self.version,
            "engine": self.engine,
            "runs": self.runs,
            "seed": self.seed,
            "confidence": self.confidence,
            "policies": list(self.policies),
            "vary": list(self.vary),
            "set": {k: _plain(v) for k, v in self.fixed.items()},
            "params": {k: _plain(v) for k, v in self.params.items()},
            "measures": list(self.measures),
            "aggregation": self.aggregation,
            "seconds": round(self.seconds, 6),
        }

    def to_json(self) -> dict:
        return {"metadata": self.metadata(), "rows": self.to_rows()}

    def columns(self) -> list[str]:
        cols = ["policy", *self.vary]
        for m in self.measures:
            cols.append(m)
            if self.engine == "mc":
                cols += [f"{m} low", f"{m} high"]
        return cols

    def to_csv(self) -> str:
        buf = io.StringIO()
        meta = self.metadata()
        for key in ("experiment", "spec_sha256", "libet_version", "engine", "runs", "seed", "aggregation"):
            buf.write(f"# {key}: {meta[key]}\n")
        buf.write(f"# params: {json.dumps(meta['params'])}\n")
        buf.write(f"# set: {json.dumps(meta['set'])}\n")
        w = csv.DictWriter(buf, fieldnames=self.columns(), extrasaction="ignore", lineterminator="\n")
        w.writeheader()
        for r in self.rows:
            w.writerow({k: _csv(v) for k, v in r.items()})
        return buf.getvalue()

    def write(self, folder: str, *, plots: bool = True) -> list[str]:
        """Write ``NAME.csv``, ``NAME.json`` and, with ``plots``, one PNG and SVG per measure
        into ``folder`` (atomically); returns the paths written."""
        from libet.clitools import write_atomic

        os.makedirs(folder, exist_ok=True)
        paths = []
        p = os.path.join(folder, f"{self.name}.csv")
        write_atomic(p, self.to_csv())
        paths.append(p)
        p = os.path.join(folder, f"{self.name}.json")
        write_atomic(p, json.dumps(self.to_json(), indent=2, default=_json_default) + "\n")
        paths.append(p)
        if plots:
            from .plots import plot_experiment

            paths += plot_experiment(self, folder)
        return paths


def _csv(v):
    if isinstance(v, bool):
        return "true" if v else "false"
    if v is None:
        return ""
    if isinstance(v, float):
        return repr(v)
    return v


def _json_default(o):
    if isinstance(o, Fraction):
        return float(o)
    raise TypeError(type(o).__name__)


def run_experiment(
    spec: ir.Spec,
    name: str,
    *,
    params: Mapping[str, object] | None = None,
    fixed: Mapping[str, object] | None = None,
    engine: str | None = None,
    runs: int | None = None,
    seed: int | None = None,
    sources: Mapping[str, str] | None = None,
    progress: Callable[[int], None] | None = None,
    confidence: float = CONFIDENCE,
) -> ExperimentResult:
    """Run the experiment ``name`` of ``spec``.

    Args:
        params, fixed: command-line ``--set`` overrides (params, variables); they apply under
            the experiment's own ``set`` and ``vary`` lines, which win.
        engine, runs, seed: override the experiment's own.
        sources: the spec's source texts (for the hash recorded with the results).
        progress: called with a number of units of work done (for a progress bar).

    Raises:
        UsageError: unknown experiment, or an override that conflicts with it.
    """
    import libet

    if name not in spec.experiments:
        raise UsageError(f"there is no experiment {name!r} (experiments: {', '.join(spec.experiments) or 'none'})")
    exp = spec.experiments[name]
    engine = engine or exp.engine
    if engine not in ("exact", "mc"):
        raise UsageError(f"unknown engine {engine!r}; the engines are exact and mc")
    runs = exp.runs if runs is None else runs
    seed = exp.seed if seed is None else seed
    if runs < 1:
        raise UsageError("runs must be at least 1")
    started = time.perf_counter()
    base_params = dict(params or {})
    base_fixed = dict(fixed or {})
    for n, v in exp.set:
        if n in spec.params:
            base_params[n] = v
        else:
            base_fixed[n] = v
    vary_names = tuple(v.name for v in exp.vary)
    for n in vary_names:
        base_params.pop(n, None)
        base_fixed.pop(n, None)
    param_vary = [v for v in exp.vary if v.name in spec.params]
    var_vary = [v for v in exp.vary if v.name not in spec.params]
    measures = exp.measures
    rows_by_key: dict = {}
    aggregation = ""
    points = list(itertools.product(*[v.values for v in exp.vary])) if exp.vary else [()]
    for pi, policy in enumerate(exp.policies):
        pvals_list = list(itertools.product(*[v.values for v in param_vary])) if param_vary else [()]
        for pvals in pvals_list:
            pset = dict(base_params)
            pset.update({v.name: x for v, x in zip(param_vary, pvals)})
            if engine == "exact":
                tab = solve(Model(spec, policy, pset, base_fixed))
                for vvals in itertools.product(*[v.values for v in var_vary]) if var_vary else [()]:
                    point_fixed = {v.name: x for v, x in zip(var_vary, vvals)}
                    row = {}
                    for m in measures:
                        agg = tab.aggregate(m, fixed=point_fixed, worst_over=exp.worst_over)
                        row[m.value] = agg.value
                        aggregation = _aggregation_text(spec, exp, base_fixed)
                    key = (policy, pvals, vvals)
                    rows_by_key[key] = row
                    if progress:
                        progress(1)
            else:
                from . import montecarlo

                for vvals in itertools.product(*[v.values for v in var_vary]) if var_vary else [()]:
                    point_fixed = dict(base_fixed)
                    point_fixed.update({v.name: x for v, x in zip(var_vary, vvals)})
                    point_index = points.index(_point(exp, param_vary, var_vary, pvals, vvals))
                    row = _mc_point(spec, exp, policy, pset, point_fixed, runs, seed, pi, point_index, confidence)
                    rows_by_key[(policy, pvals, vvals)] = row
                    aggregation = _aggregation_text(spec, exp, base_fixed)
                    if progress:
                        progress(1)
    rows = []
    for policy in exp.policies:
        for point in points:
            values = dict(zip(vary_names, point))
            pvals = tuple(values[v.name] for v in param_vary)
            vvals = tuple(values[v.name] for v in var_vary)
            row = {"policy": policy}
            row.update({k: _plain(x) for k, x in values.items()})
            for k, x in rows_by_key[(policy, pvals, vvals)].items():
                row[k] = float(x) if isinstance(x, Fraction) else x
            rows.append(row)
    used_params = {}
    from .model import param_values

    used_params = {k: v for k, v in param_values(spec, {k: v for k, v in base_params.items()}, True).items()}
    for v in param_vary:
        used_params[v.name] = "varied"
    return ExperimentResult(
        name=name,
        title=spec.title,
        policies=exp.policies,
        vary=vary_names,
        measures=tuple(m.value for m in measures),
        engine=engine,
        runs=runs if engine == "mc" else None,
        seed=seed if engine == "mc" else None,
        confidence=confidence if engine == "mc" else None,
        aggregation=aggregation or _aggregation_text(spec, exp, base_fixed),
        fixed={k: v for k, v in base_fixed.items()},
        params=used_params,
        spec_hash=spec_hash(sources, spec),
        version=libet.__version__,
        seconds=time.perf_counter() - started,
        rows=rows,
    )


def _point(exp, param_vary, var_vary, pvals, vvals):
    values = {v.name: x for v, x in zip(param_vary, pvals)}
    values.update({v.name: x for v, x in zip(var_vary, vvals)})
    return tuple(values[v.name] for v in exp.vary)


def _aggregation_text(spec, exp, fixed) -> str:
    named = set(v.name for v in exp.vary) | set(fixed) | set(exp.worst_over)
    rest = [n for n in spec.variables if n not in named]
    parts = []
    if exp.worst_over:
        parts.append("worst case over " + ", ".join(exp.worst_over))
    if rest:
        parts.append("average over " + ", ".join(rest) + " (declared distribution; uniform unless weighted)")
    return "; ".join(parts) or "every variable fixed"


def _mc_point(spec, exp, policy, pset, fixed, runs, seed, policy_index, point_index, confidence) -> dict:
    """Monte Carlo at one point: per assignment of ``worst over``, ``runs`` trajectories; the
    worst estimate per measure. The seed of each run derives from (seed, policy, point)."""
    import numpy as np

    from . import montecarlo

    worst = [n for n in exp.worst_over if n not in fixed]
    combos = list(itertools.product(*[spec.variables[n].domain.values() for n in worst])) if worst else [()]
    best: dict = {}
    for ci, combo in enumerate(combos):
        f = dict(fixed)
        f.update(dict(zip(worst, combo)))
        model = Model(spec, policy, pset, f)
        sub = int(np.random.SeedSequence([seed, policy_index, point_index, ci]).generate_state(1)[0])
        est = montecarlo.run(model, runs, sub, confidence=confidence)
        for m in exp.measures:
            e = est[m]
            if m.value not in best or e.value > best[m.value][0]:
                best[m.value] = (e.value, e.low, e.high)
    row = {}
    for m in exp.measures:
        v, lo, hi = best[m.value]
        row[m.value] = v
        row[f"{m.value} low"] = lo
        row[f"{m.value} high"] = hi
    return row
