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
import os
import time
from fractions import Fraction
from typing import Callable, Mapping

import attrs

from libet.errors import UsageError
from libet.spec import ir
from libet.spec.overrides import check_fixed, check_overrides, check_params, check_runs, check_seed
from libet.spec.printer import name_list, value_text

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
    #: measure text -> the bound checks on it of the experiment's policies (drawn on the plots):
    #: ``{"check": text, "bound": float, "op": "<=", "policies": [...]}``
    thresholds: dict = attrs.field(factory=dict)
    #: the exact engine in rational arithmetic (``--exact``), each number rounded once at the end
    exact: bool = False

    def to_rows(self) -> list[dict]:
        """Plain rows (lists of dicts), e.g. for ``pandas.DataFrame(result.to_rows())``."""
        return [dict(r) for r in self.rows]

    def metadata(self) -> dict:
        return {
            "experiment": self.name,
            "spec": self.title,
            "spec_sha256": self.spec_hash,
            "libet_version": self.version,
            "engine": self.engine + (" (rational)" if self.exact else ""),
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

    def to_pandas(self):
        """The rows as a ``pandas.DataFrame`` (needs pandas: ``pip install 'libet[notebook]'``);
        the metadata is in ``.metadata()``."""
        from libet.results import to_pandas

        return to_pandas(self.to_rows(), self.columns())

    def plot(self, measure: str | None = None, *, log: bool = False):
        """The matplotlib figure of ``measure`` (default: the first) against the sweep, drawn as
        the written plots are (:mod:`.plots`); ``log`` for a log y axis."""
        from .plots import figure

        return figure(self, measure, log=log)

    def _repr_html_(self) -> str:
        import matplotlib.pyplot as plt

        from libet.report import experiment_html

        from .plots import figure, svg_text

        svgs = []
        for m in self.measures:
            fig = figure(self, m)
            try:
                svgs.append((m, svg_text(fig)))
            finally:
                plt.close(fig)
        return experiment_html(self.metadata(), self.rows, svgs, anchor=f"exp-{self.name}-{id(self)}")

    @property
    def estimates(self) -> bool:
        """Whether the numbers are estimates with intervals (a sampling engine)."""
        from .engines import get

        return get(self.engine).estimates

    def columns(self) -> list[str]:
        cols = ["policy", *self.vary]
        for m in self.measures:
            cols.append(m)
            if self.estimates:
                cols += [f"{m} low", f"{m} high"]
        return cols

    def to_csv(self) -> str:
        """The rows as a plain CSV (a header line, then one line per row), readable by
        ``pandas.read_csv`` and spreadsheets as is; the metadata that makes it reproducible
        (spec hash, engine, seed, params, fixed values, averaging) is in ``NAME.json`` beside
        it (:meth:`write`)."""
        buf = io.StringIO()
        w = csv.DictWriter(buf, fieldnames=self.columns(), extrasaction="ignore", lineterminator="\n")
        w.writeheader()
        for r in self.rows:
            w.writerow({k: _csv(v) for k, v in r.items()})
        return buf.getvalue()

    def write(self, folder: str, *, plots: bool = True, log: bool = False, force: bool = False) -> list[str]:
        """Write ``NAME.csv``, ``NAME.json`` and, with ``plots``, one PNG and SVG per measure
        into ``folder`` (atomically; ``log`` for log y axes); returns the paths written.

        Raises:
            UsageError: one of those files exists and ``force`` is not given (nothing is
                written then).
        """
        from libet.files import json_text, write_atomic

        from .plots import PLOT_FORMATS, plot_stems

        if os.path.exists(folder) and not os.path.isdir(folder):
            raise UsageError(f"{folder} is a file, not a folder to write experiment {self.name}'s files into")
        tables = [os.path.join(folder, f"{self.name}.{ext}") for ext in ("csv", "json")]
        if not force:
            drawn = [os.path.join(folder, f"{stem}.{ext}") for _, stem in plot_stems(self) for ext in PLOT_FORMATS]
            there = [p for p in tables + (drawn if plots else []) if os.path.exists(p)]
            if there:
                raise UsageError(f"{there[0]} exists" + (f" (and {len(there) - 1} more of experiment {self.name}'s files)"
                                                          if len(there) > 1 else ""),
                                 "pass force=True (--force on the command line) to overwrite them, or write elsewhere")
        os.makedirs(folder, exist_ok=True)
        write_atomic(tables[0], self.to_csv())
        write_atomic(tables[1], json_text(self.to_json()) + "\n")
        paths = list(tables)
        if plots:
            from .plots import plot_experiment

            paths += plot_experiment(self, folder, log=log)
        return paths


def _csv(v):
    if isinstance(v, bool):
        return "true" if v else "false"
    if v is None:
        return ""
    if isinstance(v, float):
        return repr(v)
    return v


def run_experiment(
    spec: ir.Spec,
    name: str,
    *,
    params: Mapping[str, object] | None = None,
    fixed: Mapping[str, object] | None = None,
    engine: str | None = None,
    runs: int | None = None,
    seed: int | None = None,
    exact: bool = False,
    sources: Mapping[str, str] | None = None,
    progress: Callable[[int], None] | None = None,
    confidence: float = CONFIDENCE,
    workers: int | None = None,
    scheduler: str | None = None,
) -> ExperimentResult:
    """Run the experiment ``name`` of ``spec``.

    Args:
        params, fixed: overrides (``--set`` or Python); a name the experiment varies, or
            sets to another value in a ``set`` line, may not be overridden.
        engine, runs, seed: override the experiment's own (``engine`` a name in
            :mod:`.engines`).
        exact: the exact engine in rational arithmetic (``--exact``; small models).
        sources: the spec's source texts (for the hash recorded with the results).
        progress: called with a number of units of work done (for a progress bar).
        workers, scheduler: solve the (policy, param point) pieces on dask.distributed
            (:mod:`.parallel`): a local cluster of N workers, or a running scheduler; the
            numbers are the same as serially (each piece is a pure call with its own seed).

    Raises:
        UsageError: unknown experiment or engine, ``exact`` with a sampling engine, or an
            override of a name it varies or sets.
    """
    import libet

    from . import engines

    if name not in spec.experiments:
        from libet.spec.diagnostics import did_you_mean

        raise UsageError(
            f"there is no experiment {name!r} (experiments: {name_list(spec.experiments)})",
            did_you_mean(name, spec.experiments),
        )
    exp = spec.experiments[name]
    info = engines.get(engine or exp.engine)
    if exact and info.estimates:
        raise UsageError(f"--exact (rational arithmetic) is for the exact engine, not {info.name}",
                         "drop --exact, or run the experiment with --engine exact")
    runs = exp.runs if runs is None else runs
    runs, seed = check_runs(runs), check_seed(exp.seed if seed is None else seed)
    params = check_overrides(spec, params)
    fixed = check_fixed(spec, fixed)
    vary_names = tuple(v.name for v in exp.vary)
    clash = [n for n in vary_names if n in params or n in fixed]
    if clash:
        raise UsageError(
            f"--set {clash[0]} conflicts with experiment {name!r}, which varies it",
            f"drop --set {clash[0]}=... for this experiment",
        )
    for n, v in exp.set:  # a `set` line is the experiment's scenario: it is not overridden in silence
        given = params.get(n, fixed.get(n, v))
        if given != v:
            raise UsageError(
                f"--set {n}={value_text(given)} conflicts with experiment {name!r}, which sets {n} = {value_text(v)}",
                f"drop --set {n}=... for this experiment, or change its `set` line",
            )
    started = time.perf_counter()
    base_params = dict(params)
    base_fixed = dict(fixed)
    for n, v in exp.set:
        if n in spec.params:
            base_params[n] = v
        else:
            base_fixed[n] = v
    param_vary = [v for v in exp.vary if v.name in spec.params]
    var_vary = [v for v in exp.vary if v.name not in spec.params]
    measures = exp.measures
    rows_by_key: dict = {}
    points = list(itertools.product(*[v.values for v in exp.vary])) if exp.vary else [()]
    pieces = [(pi, policy, pvals) for pi, policy in enumerate(exp.policies)
              for pvals in (itertools.product(*[v.values for v in param_vary]) if param_vary else [()])]
    from .parallel import Serial, mapper

    run = mapper(workers, scheduler)
    try:
        n = len(pieces)
        done = run.map(_piece, [spec] * n, [name] * n, [info.name] * n, [p[0] for p in pieces],
                       [p[1] for p in pieces], [p[2] for p in pieces], [base_params] * n, [base_fixed] * n,
                       [runs] * n, [seed] * n, [exact] * n, [confidence] * n,
                       [progress if isinstance(run, Serial) else None] * n)
    finally:
        run.close()
    for (pi, policy, pvals), rows in zip(pieces, done):
        for vvals, row in rows.items():
            rows_by_key[(policy, pvals, vvals)] = row
        if progress and not isinstance(run, Serial):
            progress(len(rows))
    rows = []
    for policy in exp.policies:
        for point in points:
            values = dict(zip(vary_names, point))
            pvals = tuple(values[v.name] for v in param_vary)
            vvals = tuple(values[v.name] for v in var_vary)
            row = {"policy": policy}
            row.update({k: _plain(x) for k, x in values.items()})
            for text, (value, low, high) in rows_by_key[(policy, pvals, vvals)].items():
                row[text] = float(value) if isinstance(value, Fraction) else value
                if info.estimates:
                    row[f"{text} low"], row[f"{text} high"] = low, high
            rows.append(row)
    used_params = dict(check_params(spec, base_params))
    for v in param_vary:
        used_params[v.name] = "varied"
    sampled = info.estimates
    return ExperimentResult(
        name=name,
        title=spec.title,
        policies=exp.policies,
        vary=vary_names,
        measures=tuple(m.text for m in measures),
        engine=info.name,
        runs=runs if sampled else None,
        seed=seed if sampled else None,
        confidence=confidence if sampled else None,
        aggregation=_aggregation_text(spec, exp, base_fixed),
        fixed=dict(base_fixed),
        params=used_params,
        spec_hash=spec_hash(sources, spec),
        version=libet.__version__,
        seconds=time.perf_counter() - started,
        rows=rows,
        thresholds=_thresholds(spec, exp),
        exact=exact,
    )


def _piece(spec, name, engine, pi, policy, pvals, base_params, base_fixed, runs, seed, exact, confidence, progress):
    """The rows of one (policy, param point) of experiment ``name``: a pure call (Dask runs it
    on a worker). An engine whose one run answers for every assignment (exact) runs once; one
    that samples a distribution (Monte Carlo) once per point and per combination of the
    worst-case variables, each with its own derived seed."""
    from . import engines

    exp = spec.experiments[name]
    info = engines.get(engine)
    run_engine = info.load()
    param_vary = [v for v in exp.vary if v.name in spec.params]
    var_vary = [v for v in exp.vary if v.name not in spec.params]
    var_points = list(itertools.product(*[v.values for v in var_vary])) if var_vary else [()]
    pset = dict(base_params)
    pset.update({v.name: x for v, x in zip(param_vary, pvals)})
    measures = exp.measures
    # the variables swept or maximised over keep their axes; others read only through values
    # may be summarised (model.Summary)
    keep = tuple(v.name for v in var_vary) + tuple(exp.worst_over)
    if info.covers_assignments:
        # one table answers for every point: each measure is looked up at all of them at once
        table = run_engine(Model(spec, policy, pset, base_fixed, keep=keep, exact=exact), measures)
        names = tuple(v.name for v in var_vary)
        columns = [table.values_at(m, names, var_points, exp.worst_over) for m in measures]
        if progress:
            progress(len(var_points))
        texts = [m.text for m in measures]
        return {vvals: {t: (col[i], None, None) for t, col in zip(texts, columns)} for i, vvals in enumerate(var_points)}
    out = {}
    places = {v.name: {x: i for i, x in enumerate(v.values)} for v in exp.vary}  # unique: the checker's E060
    for vvals in var_points:
        point_fixed = {v.name: x for v, x in zip(var_vary, vvals)}
        point_index = _point_index(exp, places, {v.name: x for v, x in zip([*param_vary, *var_vary], [*pvals, *vvals])})
        row = _sampled_point(spec, exp, run_engine, policy, pset, {**base_fixed, **point_fixed},
                             runs, seed, pi, point_index, confidence)
        out[vvals] = {text: (agg.value, agg.low, agg.high) for text, agg in row.items()}
        if progress:
            progress(1)
    return out


def _thresholds(spec: ir.Spec, exp: ir.Experiment) -> dict:
    """The bound checks (``P(harm) <= 0.01 ...``) of the experiment's policies on its measures,
    by measure text, one entry per check text (with the policies it is written for)."""
    texts = {m.text for m in exp.measures}
    out: dict = {}
    for c in spec.checks:
        if isinstance(c.prop, ir.Bound) and c.prop.measure.text in texts and c.policy in exp.policies:
            entries = out.setdefault(c.prop.measure.text, [])
            for e in entries:
                if e["check"] == c.name:
                    e["policies"].append(c.policy)
                    break
            else:
                entries.append({"check": c.name, "bound": float(c.prop.bound), "op": c.prop.op.value,
                                "policies": [c.policy]})
    return out


def _point_index(exp, places: Mapping, values: Mapping) -> int:
    """The place of a point (``values``: each varied name -> its value) in the sweep's order,
    the product of the varied values in the experiment's order (its seed derives from it).
    ``places``: each varied name -> each of its values -> its place among them."""
    index = 0
    for v in exp.vary:
        index = index * len(v.values) + places[v.name][values[v.name]]
    return index


def _aggregation_text(spec, exp, fixed) -> str:
    named = set(v.name for v in exp.vary) | set(fixed) | set(exp.worst_over)
    rest = [n for n in spec.variables if n not in named]
    parts = []
    if exp.worst_over:
        parts.append("worst case over " + ", ".join(exp.worst_over))
    if rest:
        parts.append("average over " + ", ".join(rest) + " (declared distribution; uniform unless weighted)")
    return "; ".join(parts) or "every variable fixed"


def _sampled_point(spec, exp, run_engine, policy, pset, fixed, runs, seed, policy_index, point_index, confidence) -> dict:
    """A sampling engine at one point: per assignment of ``worst over``, ``runs``
    trajectories; per measure the largest estimate (or the least, for nothing here: sweeps
    report the worst case as the largest). The seed of each run derives from (seed, policy,
    point, combination), so a point's numbers do not depend on the others."""
    import numpy as np

    worst = [n for n in exp.worst_over if n not in fixed]
    combos = list(itertools.product(*[spec.variables[n].domain.values() for n in worst])) if worst else [()]
    best: dict = {}
    for ci, combo in enumerate(combos):
        f = dict(fixed)
        f.update(dict(zip(worst, combo)))
        sub = int(np.random.SeedSequence([seed, policy_index, point_index, ci]).generate_state(1)[0])
        result = run_engine(Model(spec, policy, pset, f), exp.measures, runs=runs, seed=sub, confidence=confidence)
        for m in exp.measures:
            agg = result.aggregate(m, fixed=f)
            old = best.get(m.text)
            if old is None or (agg.value is not None and (old.value is None or agg.value > old.value)):
                best[m.text] = agg
    return best
