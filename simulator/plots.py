"""Plots of experiments that people can read: one figure per measure.

Consumes: an :class:`~libet.simulator.experiments.ExperimentResult`.
Produces: matplotlib figures (:func:`figure`, for ``ExperimentResult.plot()`` in a notebook) and
``NAME_<measure>.png`` and ``.svg`` files (:func:`plot_experiment`; Agg backend, no display
needed; SVGs carry no date and fixed ids, so reruns give identical files).

How the sweep is drawn:

- The first varied name is the x axis. A numeric one is drawn as lines with markers; a
  categorical one (an enum, a bool) or none at all (the policies are the x axis) as grouped
  bars, because joining categories with lines would invent an order between them.
- A second varied name makes facets, one panel per value, with a shared y axis; past
  ``FACETS_DRAWN`` values, that many evenly spaced ones (the title says how many of how many;
  the CSV has every row). Any further varied names are spelled in the series' labels.
- Each policy (series) has its own colour, marker and line style, so equal lines stay visible
  (a line of more than ``MARKED_POINTS`` points has no markers: they would merge).
- The y axis fits the data (probabilities start at 0); ``log=True`` gives a log axis.
- A bound check on the measure for a policy in the experiment (``P(harm) <= 0.01``) is drawn
  as a horizontal line, labelled with the check.
- Estimates (Monte Carlo) carry error bars: the confidence interval of each point.
- The legend sits outside the data; the footer names the fixed values, the params, how the
  other variables are combined (average or worst case) and whether the numbers are exact.
"""

from __future__ import annotations

import io
import math
import os
import re
import textwrap

#: At most this many panels, one per value of the second varied name.
FACETS_DRAWN = 12
#: A line of more points than this is drawn without markers.
MARKED_POINTS = 60

COLORS = ["#1f77b4", "#d62728", "#2ca02c", "#ff7f0e", "#9467bd", "#8c564b", "#e377c2", "#17becf"]
MARKERS = ["o", "s", "^", "D", "v", "P", "X", "*"]
STYLES = ["-", "--", ":", "-."]


def _slug(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9]+", "_", text).strip("_").lower()


def _pyplot():
    import matplotlib

    if matplotlib.get_backend().lower() not in ("agg",) and not _interactive():
        matplotlib.use("Agg", force=True)
    import matplotlib.pyplot as plt

    return plt


def _interactive() -> bool:
    """Inside IPython/Jupyter the notebook's own backend is kept (figures display inline)."""
    import sys

    return "IPython" in sys.modules and "ipykernel" in sys.modules


def _v(x) -> str:
    if isinstance(x, bool):
        return "true" if x else "false"
    if isinstance(x, float):
        return f"{x:g}"
    return str(x)


def _y(v) -> float:
    """A number to plot; an undefined one (a condition of probability 0) is a gap."""
    return float("nan") if v is None else float(v)


def footer(result) -> str:
    """The facts a reader needs under the plot: what was fixed, the params, how the rest was
    combined, and how the numbers were obtained."""
    parts = []
    if result.fixed:
        parts.append("fixed: " + ", ".join(f"{k} = {_v(v)}" for k, v in result.fixed.items()))
    params = {k: v for k, v in result.params.items() if v != "varied"}
    if params:
        parts.append("params: " + ", ".join(f"{k} = {_v(float(v))}" for k, v in params.items()))
    parts.append(result.aggregation)
    if result.estimates:
        conf = result.confidence or 0.95
        parts.append(f"estimated: {result.engine}, {result.runs:,} runs per point, seed {result.seed}; "
                     f"error bars are {conf:.0%} confidence intervals")
    else:
        parts.append("computed exactly")
    return "; ".join(parts)


def figure(result, measure: str | None = None, *, log: bool = False):
    """The matplotlib figure of one measure of ``result`` (default: its first)."""
    plt = _pyplot()
    measure = measure or result.measures[0]
    if measure not in result.measures:
        from libet.errors import UsageError

        raise UsageError(f"the experiment has no measure {measure!r} (measures: {', '.join(result.measures)})")
    vary = list(result.vary)
    x_name = vary[0] if vary else None
    facet = vary[1] if len(vary) >= 2 else None
    rest = vary[2:]
    facet_values = list(dict.fromkeys(r[facet] for r in result.rows)) if facet else [None]
    facet_count = len(facet_values)
    if facet_count > FACETS_DRAWN:  # evenly spaced values, the first and the last among them
        facet_values = [facet_values[i] for i in
                        sorted({round(k * (facet_count - 1) / (FACETS_DRAWN - 1)) for k in range(FACETS_DRAWN)})]
    n = len(facet_values)
    ncols = min(n, 4)
    nrows = math.ceil(n / ncols)
    width = 7.2 if n == 1 else 3.4 * ncols + 1.6
    if getattr(result, "thresholds", {}).get(measure):
        width += 2.2  # the legend outside names the check; the data keeps its width
    fig, axes = plt.subplots(nrows, ncols, figsize=(width, 3.6 * nrows + 0.9), squeeze=False, sharey=True,
                             layout="constrained", dpi=110)
    xs_all = list(dict.fromkeys(r[x_name] for r in result.rows)) if x_name else list(result.policies)
    x_at = {x: i for i, x in enumerate(xs_all)}
    categorical = x_name is None or any(isinstance(x, (str, bool)) for x in xs_all)
    # the rows of each panel and series, in one pass
    cells: dict = {}
    series: dict = {}  # the series in the order they first appear
    for r in result.rows:
        key = ("all policies",) if x_name is None else (r["policy"],) + tuple(r[o] for o in rest)
        series.setdefault(key)
        cells.setdefault(r[facet] if facet else None, {}).setdefault(key, []).append(r)
    series_keys = list(series)
    values: list[float] = []
    handles: dict = {}
    zeros: dict[str, list[int]] = {}  # label -> [points at 0, points]: a log axis cannot show them
    for fi, fv in enumerate(facet_values):
        ax = axes[fi // ncols][fi % ncols]
        panel = cells.get(fv, {})
        nser = len(series_keys)
        bar_w = 0.8 / max(nser, 1)
        for si, key in enumerate(series_keys):
            srows = panel.get(key)
            if not srows:
                continue
            label = key[0] + ("" if not rest else " (" + ", ".join(f"{o}={_v(v)}" for o, v in zip(rest, key[1:])) + ")")
            color, marker, style = COLORS[si % len(COLORS)], MARKERS[si % len(MARKERS)], STYLES[si % len(STYLES)]
            ys = [_y(r[measure]) for r in srows]
            values += [y for y in ys if not math.isnan(y)]
            z = zeros.setdefault(label, [0, 0])
            z[0] += sum(1 for y in ys if y <= 0)
            z[1] += sum(1 for y in ys if not math.isnan(y))
            err = None
            if result.estimates and f"{measure} low" in srows[0]:
                lo = [_y(r[f"{measure} low"]) for r in srows]
                hi = [_y(r[f"{measure} high"]) for r in srows]
                values += [h for h in hi if not math.isnan(h)]
                err = [[max(0.0, y - a) if not (math.isnan(y) or math.isnan(a)) else 0.0 for y, a in zip(ys, lo)],
                       [max(0.0, b - y) if not (math.isnan(y) or math.isnan(b)) else 0.0 for y, b in zip(ys, hi)]]
            if categorical:
                cats = [r["policy"] for r in srows] if x_name is None else [r[x_name] for r in srows]
                pos = [x_at[c] + (si - (nser - 1) / 2) * bar_w for c in cats]
                colors = [COLORS[x_at[c] % len(COLORS)] for c in cats] if x_name is None else color
                h = ax.bar(pos, [0.0 if math.isnan(y) else y for y in ys], width=bar_w * 0.92, color=colors,
                           yerr=err, capsize=3 if err else 0, ecolor="#333333", label=label, zorder=2)
                # a marker on each bar's top, so a bar of height 0 is seen as 0, not as missing
                ax.scatter(pos, ys, marker="_", s=(bar_w * 60) ** 2 / 4, color="#222222", linewidths=1.4, zorder=4)
            else:
                xs = [r[x_name] for r in srows]
                if len(xs) > MARKED_POINTS:  # markers this dense would merge into a thick line
                    marker = None
                if err is not None:
                    h = ax.errorbar(xs, ys, yerr=err, color=color, marker=marker, linestyle=style, markersize=4,
                                    linewidth=1.6, capsize=2.5, elinewidth=0.9, label=label, zorder=3)
                else:
                    h = ax.plot(xs, ys, color=color, marker=marker, linestyle=style, markersize=4.5 - 0.6 * (si % 3),
                                linewidth=1.8, label=label, zorder=3 + si)[0]
            handles.setdefault(label, h)
        if categorical:
            ax.set_xticks(range(len(xs_all)))
            ax.set_xticklabels([_v(x) for x in xs_all])
        ax.set_xlabel(x_name or "policy")
        if fi % ncols == 0:
            ax.set_ylabel(measure)
        if facet is not None:
            ax.set_title(f"{facet} = {_v(fv)}", fontsize=9.5)
        ax.grid(True, axis="y", alpha=0.3, zorder=0)
        if not categorical:
            ax.grid(True, axis="x", alpha=0.15, zorder=0)
    for j in range(n, nrows * ncols):
        axes[j // ncols][j % ncols].set_visible(False)
    data = [v for v in values if not math.isnan(v)]
    if data and all(v == 0 for v in data):
        for fi in range(n):  # bars of height 0 are hard to see: say it
            axes[fi // ncols][fi % ncols].text(0.5, 0.55, f"{measure} = 0 everywhere", transform=axes[fi // ncols][fi % ncols].transAxes,
                                               ha="center", va="center", fontsize=9, color="#57606a")
    for t in getattr(result, "thresholds", {}).get(measure, []):
        for fi in range(n):
            h = axes[fi // ncols][fi % ncols].axhline(t["bound"], color="#6e7781", linestyle=(0, (6, 3)),
                                                      linewidth=1.2, zorder=1)
        values.append(float(t["bound"]))
        handles.setdefault(f"check {t['check']}\n(for {', '.join(t['policies'])})", h)
    _yrange(axes[0][0], measure, values, log)
    hidden = [(lab, z) for lab, z in zeros.items() if z[0]]
    if log and hidden:
        said = "; ".join(f"{lab} {'everywhere' if z[0] == z[1] else f'at {z[0]} of {z[1]} points'}" for lab, z in hidden)
        axes[0][0].text(0.01, 0.015, textwrap.fill(f"= 0, not drawn on a log axis: {said}", 90),
                        transform=axes[0][0].transAxes, fontsize=7.5, color="#57606a", ha="left", va="bottom")
    if len(handles) > 1 or getattr(result, "thresholds", {}).get(measure) or x_name is not None:
        fig.legend(list(handles.values()), list(handles), loc="outside right upper", fontsize=8,
                   title="policy" if x_name is not None else None, title_fontsize=8, frameon=False)
    how = f"estimated by {result.engine}" if result.estimates else "computed exactly"
    by = ""
    if facet:
        by = f", by {facet}" + (f" ({n} of its {facet_count} values)" if n < facet_count else "")
    title = f"{result.name}: {measure} vs {x_name or 'policy'}{by} ({how})"
    if n == 1:
        axes[0][0].set_title(title, fontsize=10)
    else:
        fig.suptitle(title, fontsize=10.5)
    fig.text(0.0, 0.0, textwrap.fill(footer(result), 150 if n > 1 else 115), fontsize=7, color="#444444",
             ha="left", va="top", transform=fig.transFigure)
    return fig


def _yrange(ax, measure: str, values: list[float], log: bool) -> None:
    """Fit the y axis to the data: a probability or a gap starts at 0 and ends a little above
    the largest value (at most 1.02); ``log`` gives a log axis over the positive values."""
    probability = measure.startswith(("P(", "Pmax(", "Pmin(", "gap"))
    finite = [v for v in values if not math.isnan(v)]
    if log:
        ax.set_yscale("log", nonpositive="mask")
        pos = [v for v in finite if v > 0]
        if pos:
            ax.set_ylim(min(pos) / 2, max(pos) * 2)
        return
    if not finite:
        ax.set_ylim(0, 1)
        return
    lo, hi = min(finite), max(finite)
    if probability or lo >= 0:
        top = hi * 1.12 if hi > 0 else 1.0
        if probability:
            top = min(top, 1.02) if hi <= 1 else top
        ax.set_ylim(0, top)
    else:
        pad = (hi - lo) * 0.08 or abs(hi) * 0.1 or 1.0
        ax.set_ylim(lo - pad, hi + pad)


def save(fig, stem: str) -> list[str]:
    """Write ``stem.png`` and ``stem.svg`` atomically (the SVG with no date, fixed ids, text as
    text); returns the paths."""
    import matplotlib

    from libet.files import write_atomic

    paths = []
    for ext in PLOT_FORMATS:
        buf = io.BytesIO()
        kwargs = {"metadata": {"Date": None}} if ext == "svg" else {}
        with matplotlib.rc_context({"svg.fonttype": "none", "svg.hashsalt": "libet"}):
            fig.savefig(buf, format=ext, bbox_inches="tight", pad_inches=0.12, **kwargs)
        write_atomic(f"{stem}.{ext}", buf.getvalue())
        paths.append(f"{stem}.{ext}")
    return paths


def svg_text(fig) -> str:
    """A figure as SVG text (for HTML displays)."""
    import matplotlib

    buf = io.BytesIO()
    with matplotlib.rc_context({"svg.fonttype": "none", "svg.hashsalt": "libet"}):
        fig.savefig(buf, format="svg", bbox_inches="tight", pad_inches=0.12, metadata={"Date": None})
    return buf.getvalue().decode("utf-8")


def plot_stems(result) -> list[tuple[str, str]]:
    """``(measure, file stem)`` of each measure's plot of experiment ``result``: ``NAME_SLUG``,
    and ``NAME_SLUG_2``, ``_3`` ... where measures make the same slug (``P(visit a and visit
    b)`` and ``P(visit a_and_visit_b)``, or slugs differing only in case), which wrote one file
    over the other."""
    seen: set[str] = set()
    out = []
    for measure in result.measures:
        stem = base = f"{result.name}_{_slug(measure)}"
        n = 1
        while stem.lower() in seen:
            n += 1
            stem = f"{base}_{n}"
        seen.add(stem.lower())
        out.append((measure, stem))
    return out


PLOT_FORMATS = ("png", "svg")


def plot_experiment(result, folder: str, *, log: bool = False) -> list[str]:
    """One PNG and one SVG per measure of ``result`` in ``folder``; returns the paths."""
    plt = _pyplot()
    paths = []
    for measure, stem in plot_stems(result):
        fig = figure(result, measure, log=log)
        try:
            paths += save(fig, os.path.join(folder, stem))
        finally:
            plt.close(fig)
    return paths


def png_bytes(fig) -> bytes:
    """A figure as PNG bytes."""
    buf = io.BytesIO()
    fig.savefig(buf, format="png", bbox_inches="tight", pad_inches=0.12)
    return buf.getvalue()


def fit_figure(result):
    """Predicted versus observed for a fit (:class:`libet.fit.FitResult`): one point per data
    row, observed (with its error bar: the std, or the binomial standard error at the observed
    rate) on x, the model's value on y (with its bootstrap interval when there is one); rows the
    fit used are *fitted*, held-out rows *predicted*; the diagonal is perfect agreement. Each row
    is labelled with its number; past ``result.ROWS_LISTED`` rows none is (the labels would hide
    the points: the text lists the farthest) and the points are drawn small and light."""
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(5.6, 5.0))
    everything = []
    for rows, kind, what, marker, color in ((result.rows, "fitted", "rows the fit used", "o", "#1f77b4"),
                                            (result.holdout, "predicted", "held-out rows", "s", "#d62728")):
        if not rows:
            continue
        x = [r.observed for r in rows]
        y = [r.value for r in rows]
        xerr = [r.error_bar or 0.0 for r in rows]
        yerr = [[max(r.value - r.low, 0.0) if r.low is not None else 0.0 for r in rows],
                [max(r.high - r.value, 0.0) if r.high is not None else 0.0 for r in rows]]
        many = len(rows) > result.ROWS_LISTED
        style = dict(markersize=2, capsize=0, alpha=0.25, elinewidth=0.5) if many else dict(capsize=3)
        label = f"{kind} ({len(rows):,} {what})" if many else f"{kind} ({what})"
        ax.errorbar(x, y, xerr=xerr, yerr=yerr, fmt=marker, color=color, ecolor=color, label=label, **style)
        for r in () if many else rows:
            ax.annotate(f"row {r.row}", (r.observed, r.value), textcoords="offset points", xytext=(5, 4), fontsize=7)
        everything += x + y + [r.high for r in rows if r.high is not None] + [r.low for r in rows if r.low is not None]
    lo = min(everything + [0.0])
    hi = max(everything + [1e-9])
    pad = 0.05 * (hi - lo or 1)
    ax.plot([lo - pad, hi + pad], [lo - pad, hi + pad], color="#888", lw=0.8, ls="--", label="perfect agreement")
    ax.set_xlim(lo - pad, hi + pad)
    ax.set_ylim(lo - pad, hi + pad)
    ax.set_xlabel("observed (error bar: one standard error)")
    intervals = f", {int(LEVEL_PCT)}% bootstrap interval" if result.bootstrap else ""
    ax.set_ylabel(f"model (fitted or predicted{intervals})")
    ax.set_title(f"{result.experiment}: model versus data", fontsize=10)
    est = "; ".join(f"{e.name} = {e.value:.4g}" for e in result.estimates)
    ax.text(0.01, -0.16, textwrap.fill(f"fitted: {est}; data sha256 {result.data_sha256[:12]}", 90),
            transform=ax.transAxes, fontsize=7, va="top")
    ax.legend(fontsize=8, loc="upper left")
    return fig


LEVEL_PCT = 95
