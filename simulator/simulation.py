"""Simulation of policies: each policy's measures, averaged over the variables not fixed,
through the engine registry. One path for ``libet simulate`` and ``Specification.simulate``.

Consumes: a checked spec, policies, an engine name (:mod:`.engines`) and its options, params
and fixed variables (validated by the caller through spec/overrides.py), measures.
Produces: :class:`SimulationResult`: per policy the engine's result (an exact
:class:`~.table.OutcomeTable`, or Monte Carlo's :class:`~.montecarlo.MCEstimate`), with plain
rows and JSON saying how every number was obtained.
"""

from __future__ import annotations

import textwrap
from typing import Callable, Iterable, Mapping

import attrs

from libet.errors import UsageError
from libet.spec import ir
from libet.spec import measures as ms
from libet.spec.overrides import check_runs

from . import engines


@attrs.frozen(eq=False)
class SimulationResult:
    """Outcomes of several policies under one engine.

    Attributes:
        engine: the engine's name; estimates: whether its numbers are estimates (with
            intervals) rather than computed exactly.
        results: policy -> the engine's result (``aggregate(measure)`` gives each number).
        measures: the measures reported.
        params, fixed: the overrides used; runs, seed: a sampling engine's.
    """

    spec: ir.Spec
    engine: str
    policies: tuple[str, ...]
    results: dict
    measures: tuple
    params: dict = attrs.field(factory=dict)
    fixed: dict = attrs.field(factory=dict)
    runs: int | None = None
    seed: int | None = None
    exact: bool = False

    @property
    def estimates(self) -> bool:
        return engines.get(self.engine).estimates

    @property
    def harm(self):
        """The measure of the worst-case column (:func:`worst_harm`)."""
        return worst_harm(self.spec)

    @property
    def worst_column(self) -> str:
        """The exact rows' column of the largest P(harm) (Pmax(harm) in an MDP) over every
        assignment."""
        return f"max {self.harm.text}"

    def __getitem__(self, policy: str):
        return self.results[policy]

    def to_rows(self, per_assignment: bool = False) -> list[dict]:
        """One row per policy: each measure averaged over the variables not fixed (with
        ``low``/``high`` for estimates); for the exact engine also the largest P(harm) over
        every assignment and where it is attained. ``per_assignment=True`` (exact engine): one
        row per policy and assignment of the variables that matter, with its weight."""
        rows = []
        for p in self.policies:
            res = self.results[p]
            if per_assignment:
                if self.estimates:
                    raise UsageError("per-assignment rows need the exact engine")
                rows += res.rows()
                continue
            row: dict = {"policy": p}
            for m in self.measures:
                agg = res.aggregate(m)
                row[m.text] = None if agg.value is None else float(agg.value)
                if self.estimates:
                    row[f"{m.text} low"], row[f"{m.text} high"] = agg.low, agg.high
            if self.estimates:
                row.update(runs=res.runs, seed=res.seed, steps=res.steps)
            else:
                worst = res.aggregate(self.harm, worst_over=tuple(res.names))
                row[self.worst_column] = float(worst.value)
                row["worst assignment"] = worst.worst
                row["classes"] = res.n_classes
            rows.append(row)
        return rows

    rows = to_rows

    def to_pandas(self, per_assignment: bool = False):
        """:meth:`to_rows` as a ``pandas.DataFrame`` (needs pandas: ``pip install
        'libet[notebook]'``)."""
        from libet.results import to_pandas

        return to_pandas(self.to_rows(per_assignment))

    def plot(self, measure: str | None = None, *, log: bool = False):
        """A bar chart of ``measure`` (default: the first) per policy, with the confidence
        interval as an error bar when the numbers are estimates; ``log`` for a log y axis
        (small probabilities; a value of 0 is not drawn on it)."""
        from .plots import _pyplot, _yrange

        plt = _pyplot()
        texts = [m.text for m in self.measures]
        measure = measure or texts[0]
        if measure not in texts:
            raise UsageError(f"no measure {measure!r} in this result (measures: {', '.join(texts)})")
        rows = self.to_rows()
        ys = [float("nan") if r[measure] is None else r[measure] for r in rows]
        err = None
        if self.estimates:
            err = [[max(0.0, y - r[f"{measure} low"]) for y, r in zip(ys, rows)],
                   [max(0.0, r[f"{measure} high"] - y) for y, r in zip(ys, rows)]]
        width = 1.6 + 1.1 * len(rows)
        fig, ax = plt.subplots(figsize=(width, 3.6), layout="constrained")
        _yrange(ax, measure, ys + (err and [y + e for y, e in zip(ys, err[1])] or []), log)
        # on a log axis a bar stands on the axis' floor, and a value of 0 has no place
        floor = ax.get_ylim()[0] if log else 0.0
        shown = [y == y and (y > 0 or not log) for y in ys]
        policies = [r["policy"] for r in rows]
        ax.bar(policies, [y - floor if ok else 0.0 for y, ok in zip(ys, shown)], bottom=floor, yerr=err, capsize=4,
               color="#1f77b4", zorder=2)
        # a mark on each bar's top, so that a bar of height 0 is seen as 0, not as missing
        ax.scatter([p for p, ok in zip(policies, shown) if ok], [y for y, ok in zip(ys, shown) if ok], marker="_",
                   s=900, color="#222222", linewidths=1.4, zorder=4)
        hidden = [p for p, y in zip(policies, ys) if log and y == 0]
        if hidden:
            ax.text(0.99, 0.985, textwrap.fill(f"= 0, not drawn on a log axis: {', '.join(hidden)}", 40),
                    transform=ax.transAxes, fontsize=7.5, color="#57606a", ha="right", va="top", zorder=5)
        ax.set_ylabel(measure)
        ax.grid(True, axis="y", alpha=0.3, zorder=0)
        how = f"estimated by {self.engine}, {self.runs:,} runs, seed {self.seed}" if self.estimates else "computed exactly"
        ax.set_title(textwrap.fill(f"{self.spec.title}: {measure} ({how})", int(width * 10)), fontsize=9.5)
        over = ", ".join(n for n in self.spec.variables if n not in self.fixed) or "nothing"
        fig.text(0.0, 0.0, f"averaged over {over} (declared distribution)", fontsize=7, color="#444444", va="top")
        return fig

    def _repr_html_(self) -> str:
        from libet.report import esc, rows_html

        data = self.to_json()
        cols = ["policy", *data["measures"]]
        if not self.estimates:
            cols.append(self.worst_column)
        return (f"<div><p><b>{esc(data['spec'])}</b>: {esc(data['numbers'])} ({esc(data['engine'])}"
                + (f", {self.runs:,} runs, seed {self.seed}" if self.estimates else "")
                + f"); averaged over {esc(data['averaged_over'])}</p>"
                + rows_html(data["rows"], cols, data["measures"]) + "</div>")

    def to_json(self) -> dict:
        import libet

        how = ", ".join(n for n in self.spec.variables if n not in self.fixed) or "nothing"
        return {
            "spec": self.spec.title,
            "engine": self.engine + (" (rational)" if self.exact else ""),
            "numbers": "estimated (with confidence intervals)" if self.estimates else "computed exactly",
            "runs": self.runs,
            "seed": self.seed,
            "params": {n: int(v) if self.spec.params[n].integer else float(v) for n, v in self.params.items()},
            "set": dict(self.fixed),
            "averaged_over": how,
            "measures": [m.text for m in self.measures],
            "libet_version": libet.__version__,
            "rows": self.to_rows(),
        }


def default_measures(spec: ir.Spec) -> tuple:
    """The standard measures, or in an MDP their worst and best cases over adversaries (a plain
    measure of an MDP depends on the adversary, E097)."""
    return ms.over_adversaries(ms.STANDARD) if spec.is_mdp else ms.STANDARD


def worst_harm(spec: ir.Spec):
    """The measure whose largest value over every assignment an exact row reports beside the
    averages: P(harm), or Pmax(harm) in an MDP."""
    return attrs.evolve(ms.HARM, extremum="max") if spec.is_mdp else ms.HARM


def simulate(
    spec: ir.Spec,
    policies: Iterable[str] | None = None,
    *,
    engine: str = engines.DEFAULT,
    runs: int = 10_000,
    seed: int = 0,
    params: Mapping[str, object] | None = None,
    fixed: Mapping[str, object] | None = None,
    exact: bool = False,
    measures=None,
    confidence: float = 0.95,
    progress: Callable[[str, int], Callable[[int], None] | None] | None = None,
) -> SimulationResult:
    """Run ``engine`` on every policy in ``policies`` (default all) for ``measures`` (default
    :func:`default_measures`). ``progress(description, total)`` may return ``advance(n)`` (a
    progress bar), asked once the models are built, in the engine's units of work
    (:mod:`.engines`: depths solved or trajectories run, over every policy).

    Raises:
        UsageError: an unknown engine, policy, param or variable; ``exact`` with a sampling
            engine; a measure without its case over adversaries in an MDP.
    """
    from .model import Model

    info = engines.get(engine)
    if exact and info.estimates:
        raise UsageError(f"--exact (rational arithmetic) is for the exact engine, not {engine}")
    pols = tuple(spec.policies) if policies is None else tuple(policies)
    measures = tuple(measures or default_measures(spec))
    if spec.is_mdp:
        for m in measures:
            if m.extremum is None:
                raise UsageError(*ms.needs_case(m, in_bound=False))
    if info.work == "runs":  # counted for the progress before the engine, which checks them too, sees them
        runs = check_runs(runs)
    run = info.load()
    # The exact engine's rows also report the largest P(harm) (Pmax in an MDP) over every assignment.
    harm = worst_harm(spec)
    solved = measures if info.estimates or harm in measures else measures + (harm,)
    # keep=(): every number here is an average or the worst case over every assignment, so
    # variables read only through values may be summarised (model.Summary)
    models = {p: Model(spec, p, params, fixed, exact=exact, keep=()) for p in pols}
    total = sum(info.total_work(m, runs) for m in models.values())
    advance = progress(f"{info.name} engine, {info.work}", total) if progress is not None and total > 0 else None
    results = {p: run(m, solved, runs=runs, seed=seed, confidence=confidence, progress=advance)
               for p, m in models.items()}
    sampled = info.estimates
    return SimulationResult(
        spec, info.name, pols, results, measures, dict(params or {}), dict(fixed or {}),
        runs if sampled else None, seed if sampled else None, exact,
    )
