"""Notebook displays: `_repr_html_` on specs, check results (and the list check() returns),
experiment results and simulation results; `.to_pandas()`; `.plot()` returning a figure."""

from __future__ import annotations

import html
import html.parser
import os

import pytest

import libet
from libet.results import CheckResults

PREFILL = os.path.join(os.path.dirname(__file__), "..", "examples", "prefill.libet")


class _Checker(html.parser.HTMLParser):
    """Fails on a closing tag that does not match the open one (the HTML nests)."""

    VOID = {"br", "img", "meta", "hr", "input", "link", "path", "rect", "circle", "line", "polyline", "polygon",
            "ellipse", "use", "stop"}

    def __init__(self):
        super().__init__()
        self.stack = []

    def handle_starttag(self, tag, attrs):
        if tag not in self.VOID:
            self.stack.append(tag)

    def handle_startendtag(self, tag, attrs):
        pass

    def handle_endtag(self, tag):
        if tag in self.VOID:
            return
        assert self.stack and self.stack[-1] == tag, (tag, self.stack[-5:])
        self.stack.pop()


def well_formed(text: str) -> str:
    c = _Checker()
    c.feed(text)
    c.close()
    assert c.stack == []
    return text


@pytest.fixture(scope="module")
def spec():
    return libet.load(PREFILL)


def test_spec_html(spec):
    page = well_formed(spec._repr_html_())
    assert spec.title in page and "shallow, deep" in page and "2,952" in page


def test_check_results_html_and_pandas(spec):
    results = spec.check(check=["safe", "P(harm) <= 0.01 for all framing"])
    assert isinstance(results, CheckResults) and len(results) == 4
    page = well_formed(results._repr_html_())
    for r in results:
        assert html.escape(r.check) in page and r.status.value in page
    assert "path probability" in page  # the trace of the violated safe check
    one = well_formed(results[0]._repr_html_())
    assert results[0].policy in one
    df = results.to_pandas()
    assert list(df.columns) == ["policy", "check", "status", "engine", "seconds", "detail"]
    assert sorted(df["status"]) == ["PROVED", "PROVED", "VIOLATED", "VIOLATED"]
    assert results.exit_code == 1
    # no checks: the same columns, no rows (it had no columns, so df["status"] raised KeyError)
    empty = CheckResults().to_pandas()
    assert list(empty.columns) == list(df.columns) and len(empty) == 0


def test_experiment_html_pandas_and_plot(spec):
    import matplotlib.figure

    r = spec.experiment("prefill_sweep")
    page = well_formed(r._repr_html_())
    assert page.count("<svg") == len(r.measures)
    assert "computed exactly" in page
    df = r.to_pandas()
    assert list(df.columns) == ["policy", "prefill", "P(harm)", "P(vetoed)"]
    assert len(df) == 18
    fig = r.plot()
    assert isinstance(fig, matplotlib.figure.Figure)
    assert fig.axes[0].get_ylabel() == "P(harm)"
    # the bound check on P(harm) is drawn
    assert any(abs(line.get_ydata()[0] - 0.01) < 1e-12 for line in fig.axes[0].get_lines()
               if len(set(line.get_ydata())) == 1)
    fig2 = r.plot("P(vetoed)", log=True)
    assert fig2.axes[0].get_yscale() == "log"
    # P(harm) of the deep policy is 0 at every point, which a log axis cannot show: the plot says so
    notes = [t.get_text() for t in r.plot("P(harm)", log=True).axes[0].texts]
    assert any("not drawn on a log axis" in t and "deep everywhere" in t for t in notes), notes
    assert not any("log axis" in t.get_text() for t in fig.axes[0].texts)
    with pytest.raises(libet.UsageError):
        r.plot("P(nothing)")


def test_monte_carlo_experiment_has_error_bars_and_intervals(spec):
    r = spec.experiment("prefill_sweep", engine="mc", runs=300, seed=1)
    page = well_formed(r._repr_html_())
    assert "estimated by mc" in page and "confidence intervals" in page
    df = r.to_pandas()
    assert {"P(harm) low", "P(harm) high"} <= set(df.columns)
    fig = r.plot()
    assert fig.axes[0].containers  # error bars


def test_simulation_html_pandas_and_plot(spec):
    s = spec.simulate()
    page = well_formed(s._repr_html_())
    assert "computed exactly" in page and "shallow" in page
    df = s.to_pandas()
    assert set(df["policy"]) == {"shallow", "deep"}
    fig = s.plot("P(harm)")
    assert fig.axes[0].get_ylabel() == "P(harm)"
    mc = spec.simulate(engine="mc", runs=200, seed=3)
    assert "estimated" in mc._repr_html_()
    mc.plot()


def test_a_simulation_plot_on_a_log_axis(spec):
    """reference.md shows `.plot("P(vetoed)", log=True)`, which was a TypeError on a simulation
    result. On a log axis a bar stands on the axis' floor (from 0 it was not drawn at all), and
    a policy whose value is 0 is named instead of drawn."""
    s = spec.simulate()
    harm = {r["policy"]: r["P(harm)"] for r in s.to_rows()}
    assert harm["deep"] == 0 and harm["shallow"] > 0
    fig = s.plot("P(harm)", log=True)
    ax = fig.axes[0]
    assert ax.get_yscale() == "log"
    floor = ax.get_ylim()[0]
    (shallow, deep) = ax.patches
    assert shallow.get_y() == floor and shallow.get_y() + shallow.get_height() == pytest.approx(harm["shallow"])
    assert deep.get_height() == 0
    assert any("= 0, not drawn on a log axis: deep" in t.get_text() for t in ax.texts)
    assert fig.axes[0].get_title().startswith("Prefilling versus a deep veto: P(harm)")
    assert s.plot("P(harm)").axes[0].get_yscale() == "linear"


def test_a_table_takes_a_measure_by_its_text(spec):
    """An exact table's `aggregate("P(harm)")` was an AttributeError deep in spec/measures.py,
    where the Monte Carlo estimate took the text; `at(None)` a bare TypeError."""
    from libet.spec import measures as ms

    table = spec.simulate()["shallow"]
    def same(a, b):
        return (a.value, a.how, a.worst) == (b.value, b.how, b.worst)

    assert same(table.aggregate("P(harm)"), table.aggregate(ms.HARM))
    cond = ms.parse("P(harm | delivered)")
    assert same(table.aggregate("P(harm | delivered)", fixed={"topic": "weapons"}), table.aggregate(cond, fixed={"topic": "weapons"}))
    assert (table.array("P(vetoed)") == table.array(ms.parse("P(vetoed)"))).all()
    with pytest.raises(libet.UsageError, match="'nope' is not an event"):
        table.aggregate("P(nope)")
    with pytest.raises(libet.UsageError, match="a measure is its text"):
        table.aggregate(3)
    with pytest.raises(libet.UsageError, match="solved without the quantities E\\(refusals\\) needs"):
        table.aggregate("E(refusals)")
    with pytest.raises(libet.UsageError, match="at\\(\\) takes an assignment"):
        table.at(None)
    mc = spec.simulate(engine="mc", runs=100)["shallow"]
    assert mc.aggregate("P(harm)").value == mc["P(harm)"].value
    with pytest.raises(libet.UsageError, match="these runs did not estimate E\\(refusals\\)"):
        mc["E(refusals)"]


def test_to_pandas_without_pandas_is_a_clear_error(spec, monkeypatch):
    import sys

    monkeypatch.setitem(sys.modules, "pandas", None)
    with pytest.raises(libet.UsageError, match="needs pandas"):
        spec.check(check=["complete"]).to_pandas()
