"""Plots of experiments: each measure against the swept value, one line per policy.

Consumes: an :class:`~libet.simulator.experiments.ExperimentResult`.
Produces: ``NAME_<measure>.png`` and ``.svg`` per measure (matplotlib, Agg backend, no display
needed; SVGs carry no date so reruns give identical files).

With several ``vary`` lines the first is the x axis and each combination of the others gets its
own line per policy; with none, the policies are the x axis. Monte Carlo results are drawn with
their confidence band.
"""

from __future__ import annotations

import io
import os
import re


def _slug(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9]+", "_", text).strip("_").lower()


def plot_experiment(result, folder: str) -> list[str]:
    import matplotlib

    matplotlib.use("Agg", force=True)
    import matplotlib.pyplot as plt

    from libet.files import write_atomic

    paths = []
    x_name = result.vary[0] if result.vary else None
    others = list(result.vary[1:])
    for measure in result.measures:
        fig, ax = plt.subplots(figsize=(7, 4.2), dpi=110)
        series: dict = {}
        for row in result.rows:
            key = (row["policy"],) + tuple(row[o] for o in others)
            series.setdefault(key, []).append(row)
        categorical = False
        for key, rows in series.items():
            label = key[0] + ("" if not others else " (" + ", ".join(f"{o}={_v(v)}" for o, v in zip(others, key[1:])) + ")")
            if x_name is None:
                xs = [row["policy"] for row in rows]
                categorical = True
            else:
                xs = [row[x_name] for row in rows]
                categorical = any(isinstance(x, (str, bool)) for x in xs)
                if categorical:
                    xs = [_v(x) for x in xs]
            ys = [_y(row[measure]) for row in rows]
            ax.plot(xs, ys, marker="o", markersize=3.5, linewidth=1.6, label=label)
            if result.estimates and f"{measure} low" in rows[0]:
                lo = [_y(row[f"{measure} low"]) for row in rows]
                hi = [_y(row[f"{measure} high"]) for row in rows]
                if not categorical:
                    ax.fill_between(xs, lo, hi, alpha=0.18)
                else:
                    ax.vlines(xs, lo, hi, alpha=0.5)
        ax.set_xlabel(x_name or "policy")
        ax.set_ylabel(measure)
        if measure.startswith("P("):
            ax.set_ylim(-0.02, 1.02)
        engine = f"estimated: {result.engine}, {result.runs:,} runs" if result.estimates else "computed exactly"
        ax.set_title(f"{result.name}: {measure} vs {x_name or 'policy'} ({engine})", fontsize=10)
        ax.grid(True, alpha=0.3)
        ax.legend(title="policy", fontsize=8)
        if result.aggregation:
            fig.text(0.01, 0.01, result.aggregation, fontsize=6.5, alpha=0.7)
        fig.tight_layout(rect=(0, 0.03, 1, 1))
        stem = os.path.join(folder, f"{result.name}_{_slug(measure)}")
        for ext in ("png", "svg"):
            buf = io.BytesIO()
            kwargs = {"metadata": {"Date": None}} if ext == "svg" else {}
            fig.savefig(buf, format=ext, **kwargs)
            write_atomic(f"{stem}.{ext}", buf.getvalue())
            paths.append(f"{stem}.{ext}")
        plt.close(fig)
    return paths


def _y(v) -> float:
    """A number to plot; an undefined one (a condition of probability 0) is a gap."""
    return float("nan") if v is None else v


def _v(x) -> str:
    if isinstance(x, bool):
        return "true" if x else "false"
    return str(x)
