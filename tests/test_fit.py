"""libet fit and Specification.fit: estimates and intervals checked against closed forms and
independent searches, the fitted spec, predictions, warnings, and bad input (exit 2 or 3)."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest
from click.testing import CliRunner
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy.optimize import brentq

import libet
from libet.cli import main
from libet.errors import FitError

# P(delivered) from depth k is step^(3 - k): each of the 3 - k steps goes on with `step`.
SPEC = """spec "geometric"
framing {{ k: 0..2 }}
param p = 0.5 in [0, 1]
param r = 0.5 in [0, 1]
param unused = 0.5 in [0, 1]
trajectory {{
  horizon 3
  start go at depth k
  phase go {{ -> go : {step}  -> stop : otherwise }}
}}
policy none_ {{ veto when false }}
experiment e {{
  policies none_
  vary k over 0..2
  measure P(delivered)
  data "e.csv"
}}
"""


def make(tmp_path, rows: str, step: str = "p"):
    (tmp_path / "s.libet").write_text(SPEC.format(step=step))
    (tmp_path / "e.csv").write_text(rows)
    return libet.load(str(tmp_path / "s.libet"))


def invoke(*args):
    r = CliRunner().invoke(main, [str(a) for a in args], catch_exceptions=False)
    assert "Traceback" not in r.output
    return r


def test_binomial_estimate_and_profile_interval_match_the_closed_form(tmp_path):
    s = make(tmp_path, "k,successes,n\n0,30,80\n")
    r = s.fit("e", params=["p"])
    # P = p^3, so the MLE is the cube root of the observed rate.
    (est,) = r.estimates
    assert est.value == pytest.approx((30 / 80) ** (1 / 3), abs=1e-5)
    # The profile interval is invariant under q = p^3: solve the binomial likelihood ratio on q.

    def ll(q):
        return 30 * math.log(q) + 50 * math.log(1 - q)

    top = ll(30 / 80)
    low = brentq(lambda q: 2 * (top - ll(q)) - 3.841458820694124, 1e-9, 30 / 80)
    high = brentq(lambda q: 2 * (top - ll(q)) - 3.841458820694124, 30 / 80, 1 - 1e-9)
    assert est.low == pytest.approx(low ** (1 / 3), abs=1e-4)
    assert est.high == pytest.approx(high ** (1 / 3), abs=1e-4)
    assert not est.low_at_bound and not est.high_at_bound
    assert r.likelihood == "binomial" and r.goodness["df"] == 0 and r.goodness["p_value"] is None
    # the saturated binomial log-likelihood: log C(80, 30) + 30 log(3/8) + 50 log(5/8)
    want = math.lgamma(81) - math.lgamma(31) - math.lgamma(51) + ll(30 / 80)
    assert r.loglik == pytest.approx(want, abs=1e-6)
    assert r.rows[0].kind == "fitted" and r.rows[0].value == pytest.approx(30 / 80, abs=1e-6)


def test_gaussian_and_least_squares_agree_with_a_grid_search(tmp_path):
    grid = np.linspace(0, 1, 200_001)
    s = make(tmp_path, "k,observed,std\n1,0.30,0.02\n2,0.60,0.05\n")
    r = s.fit("e", params=["p"])
    chi = ((0.30 - grid ** 2) / 0.02) ** 2 + ((0.60 - grid) / 0.05) ** 2
    assert r.params["p"] == pytest.approx(grid[np.argmin(chi)], abs=2e-5)
    assert r.goodness["statistic"] == "chi2" and r.goodness["value"] == pytest.approx(chi.min(), rel=1e-4)
    inside = grid[chi - chi.min() <= 3.841458820694124]
    assert r.estimates[0].low == pytest.approx(inside.min(), abs=1e-4)
    assert r.estimates[0].high == pytest.approx(inside.max(), abs=1e-4)
    s = make(tmp_path, "k,observed\n1,0.30\n2,0.60\n")
    r = s.fit("e", params=["p"])
    sse = (0.30 - grid ** 2) ** 2 + (0.60 - grid) ** 2
    assert r.likelihood == "least squares" and r.params["p"] == pytest.approx(grid[np.argmin(sse)], abs=2e-5)
    assert r.goodness["value"] == pytest.approx(math.sqrt(sse.min() / 2), rel=1e-3)


def test_default_params_are_the_ranged_ones_the_experiment_reads(tmp_path):
    s = make(tmp_path, "k,successes,n\n0,30,80\n1,40,80\n", step="p * (1 - 0.5 * r)")
    r = s.fit("e")
    assert [e.name for e in r.estimates] == ["p", "r"]  # `unused` is read by nothing


def test_a_param_nothing_reads_is_refused(tmp_path):
    s = make(tmp_path, "k,successes,n\n0,30,80\n")
    with pytest.raises(FitError, match="nothing in experiment 'e' reads param unused") as info:
        s.fit("e", params=["p", "unused"])
    assert info.value.exit_code == 2
    r = invoke("fit", tmp_path / "s.libet", "--experiment", "e", "--params", "p,unused", "--no-spec")
    assert r.exit_code == 2 and "reads param unused" in r.output


def test_data_the_model_cannot_reach(tmp_path):
    # at most 0.5^3 = 0.125 from depth 0, whatever p
    s = make(tmp_path, "k,successes,n\n0,90,100\n", step="0.5 * p")
    with pytest.raises(FitError, match="the data contradict the model: row 1 .*observed 0.9, but the model reaches at "
                       "most 0.125") as info:
        s.fit("e", params=["p"])
    assert info.value.exit_code == 2
    r = invoke("fit", tmp_path / "s.libet", "--experiment", "e", "--params", "p", "--no-spec")
    assert r.exit_code == 2 and "contradict" in r.output
    # many such rows: the first ten, and how many more
    s = make(tmp_path, "k,successes,n\n" + "0,90,100\n" * 25, step="0.5 * p")
    with pytest.raises(FitError) as info:
        s.fit("e", params=["p"])
    text = str(info.value)
    assert text.count("observed 0.9, but the model reaches at most 0.125") == 10
    assert "row 10 (" in text and "row 11 (" not in text and "; and 15 more rows (over p in [0, 1]" in text


def test_no_convergence_exits_3(tmp_path):
    # the model has no valid value anywhere but at the spec's start: every start fails
    s = make(tmp_path, "k,successes,n\n0,90,100\n", step="p / (1 - r) - 0.1")
    spec_text = (tmp_path / "s.libet").read_text().replace("param r = 0.5 in [0, 1]", "param r = 0.5 in [0.5, 0.9]")
    (tmp_path / "s.libet").write_text(spec_text.replace("param p = 0.5 in [0, 1]", "param p = 0.05 in [0, 1]"))
    s = libet.load(str(tmp_path / "s.libet"))
    with pytest.raises(FitError) as info:
        s.fit("e", params=["r"], starts=1, overrides={"p": 0.9})
    assert info.value.exit_code == 3 and "did not converge" in str(info.value)


def test_flat_profile_and_bound_warnings(tmp_path):
    # r changes the model by at most 0.1 %: the data cannot pin it down
    s = make(tmp_path, "k,successes,n\n0,8,10\n", step="p * (1 - 0.001 * r)")
    r = s.fit("e", params=["p", "r"])
    assert any("param r is not pinned down by the data" in w for w in r.warnings)
    est = {e.name: e for e in r.estimates}
    assert est["r"].low_at_bound and est["r"].high_at_bound
    # every trial a success: the MLE is p = 1, the top of the range
    s = make(tmp_path, "k,successes,n\n0,10,10\n")
    r = s.fit("e", params=["p"])
    assert r.params["p"] == pytest.approx(1.0, abs=1e-6)
    assert any("param p is fitted at the bound 1 of its range" in w for w in r.warnings)


def test_fitted_spec_records_the_fit_and_loads(tmp_path):
    s = make(tmp_path, "k,successes,n\n0,30,80\n1,30,60\n")
    out = tmp_path / "sub" / "fitted.libet"
    r = s.fit("e", params=["p"])  # where it is written is decided by write_spec
    r.write_spec(str(out))
    text = out.read_text()
    assert f"sha256 {r.data_sha256}" in text and "95% profile-likelihood interval" in text
    f = libet.load(str(out))
    assert float(f.ir.params["p"].default) == pytest.approx(r.params["p"], abs=1e-6)
    assert float(f.ir.params["r"].default) == 0.5  # untouched
    assert f.ir.experiments["e"].data == "../e.csv"  # still finds the data from the new folder
    again = f.fit("e", params=["p"])
    assert again.params["p"] == pytest.approx(r.params["p"], abs=1e-6)
    with pytest.raises(libet.LibetError, match="exists; pass --force"):
        r.write_spec(str(out))


def test_holdout_and_predictions_with_bootstrap_intervals(tmp_path):
    s = make(tmp_path, "k,successes,n\n0,27,200\n1,90,200\n2,150,200\n")
    a = s.fit("e", params=["p"], holdout=[2], bootstrap=40, seed=3, predict=["e"])
    assert [r.row for r in a.rows] == [1, 3] and [r.row for r in a.holdout] == [2]
    (h,) = a.holdout
    p = a.params["p"]
    assert h.kind == "predicted" and h.value == pytest.approx(p ** 2, abs=1e-9)
    assert h.low < h.value < h.high and h.observed == 0.45
    assert [(x.kind, x.point["k"]) for x in a.predictions] == [("predicted", 0), ("predicted", 1), ("predicted", 2)]
    assert a.predictions[0].value == pytest.approx(p ** 3, abs=1e-9)
    b = s.fit("e", params=["p"], holdout=[2], bootstrap=40, seed=3, predict=["e"])
    assert (b.holdout[0].low, b.holdout[0].high) == (h.low, h.high)  # seeded: identical
    c = s.fit("e", params=["p"], holdout=[2], bootstrap=40, seed=4, predict=["e"])
    assert (c.holdout[0].low, c.holdout[0].high) != (h.low, h.high)
    assert a.holdout_error()["mae"] == pytest.approx(abs(p ** 2 - 0.45), abs=1e-9)


def test_a_row_held_out_twice_is_refused_and_a_fit_without_freedom_says_so(tmp_path):
    """`holdout=[1, 1]` was taken as [1] without a word; a fit of as many params as rows printed
    "(-1 df: no test)" (or 0 df)."""
    s = make(tmp_path, "k,successes,n\n0,27,200\n1,90,200\n2,150,200\n", step="p * r")
    with pytest.raises(libet.UsageError, match="--holdout names row 1 twice"):
        s.fit("e", params=["p"], holdout=[1, 1])
    r = s.fit("e", params=["p", "r"], holdout=[1, 2])
    assert r.goodness["df"] == -1
    assert "(no test: 2 params fitted to 1 row(s) leave no degree of freedom)" in r.describe()
    assert "df: no test" not in r.describe()


def test_python_numbers_of_any_type_are_accepted(tmp_path):
    s = make(tmp_path, "k,successes,n\n0,30,80\n", step="p * r")
    results = [s.fit("e", params=["p"], overrides={"r": v}).params["p"] for v in (1, np.int64(1), np.float64(1.0))]
    assert results[0] == results[1] == results[2] == pytest.approx((30 / 80) ** (1 / 3), abs=1e-5)


def test_cli_fit_labels_numbers_writes_files_and_refuses_overwrite(tmp_path):
    make(tmp_path, "k,successes,n\n0,27,200\n1,90,200\n2,150,200\n")
    spec = tmp_path / "s.libet"
    r = invoke("fit", spec, "--experiment", "e", "--params", "p", "--holdout", "2", "--bootstrap", "20",
               "--plot", tmp_path / "pv.svg")
    assert r.exit_code == 0, r.output
    assert "fitted params (95% profile-likelihood intervals):" in r.output
    assert "  fitted    none_ P(delivered)" in r.output or "fitted    e: none_ P(delivered) at k=0" in r.output
    assert "predicted e: none_ P(delivered) at k=1" in r.output
    assert (tmp_path / "s.fitted.libet").exists() and "<svg" in (tmp_path / "pv.svg").read_text()
    r = invoke("fit", spec, "--experiment", "e", "--params", "p")
    assert r.exit_code == 2 and "exists; pass --force" in r.output
    r = invoke("fit", spec, "--experiment", "e", "--params", "p", "--json", "--force", "--holdout", "1-2",
               "--bootstrap", "10")
    out = json.loads(r.output)
    assert r.exit_code == 0 and out["estimates"][0]["kind"] == "fitted"
    assert [x["kind"] for x in out["holdout"]] == ["predicted", "predicted"]
    r = invoke("fit", spec, "--experiment", "e", "--holdout", "9", "--no-spec")
    assert r.exit_code == 2 and "--holdout 9: the data file has rows 1..3" in r.output
    r = invoke("fit", spec, "--experiment", "nope", "--no-spec")
    assert r.exit_code == 2 and "there is no experiment 'nope'" in r.output


HORIZON = """spec "a horizon to fit"
framing { k: 0..1 }
param h: int = 3 in [2, 10]
param p = 0.5 in [0.5, 1]
trajectory {
  horizon h
  start go at depth k
  phase go { -> go : p  -> stop : otherwise }
}
policy none_ { veto when false }
experiment e {
  policies none_
  vary k over 0..1
  measure P(delivered)
}
"""


def test_int_params_are_fitted_by_a_profile_scan(tmp_path):
    (tmp_path / "h.libet").write_text(HORIZON)
    s = libet.load(str(tmp_path / "h.libet"))
    # P(delivered) from depth k is p^(h - k); at p = 0.9, h = 6: 0.9^6 and 0.9^5 of 5000 trials
    n = 5000
    rows = f"k,successes,n\n0,{round(0.9 ** 6 * n)},{n}\n1,{round(0.9 ** 5 * n)},{n}\n"
    (tmp_path / "h.csv").write_text(rows)
    r = s.fit("e", data=str(tmp_path / "h.csv"))
    est = {e.name: e for e in r.estimates}
    assert est["h"].value == 6 and est["p"].value == pytest.approx(0.9, abs=0.01)
    # an independent scan: for each h the best p on a fine grid, and the 95% cut-off
    k = np.array([round(0.9 ** 6 * n), round(0.9 ** 5 * n)])
    grid = np.linspace(0.5, 1 - 1e-9, 50_001)
    prof = {}
    for h in range(2, 11):
        q = np.stack([grid ** h, grid ** (h - 1)])
        ll = (k[:, None] * np.log(q) + (n - k[:, None]) * np.log1p(-q)).sum(axis=0)
        prof[h] = -2 * ll.max()
    top = min(prof.values())
    inside = [h for h, v in prof.items() if v - top <= 3.841458820694124]
    assert (est["h"].low, est["h"].high) == (min(inside), max(inside))
    assert any("hold the int params (h) at their estimates" in w for w in r.warnings)
    out = tmp_path / "h.fitted.libet"
    r.write_spec(str(out))
    assert libet.load(str(out)).ir.trajectory.horizon == 6


def test_values_at_equals_aggregate_point_by_point():
    from libet.simulator.exact import solve
    from libet.simulator.model import Model
    from libet.spec import measures as ms

    s = libet.load("examples/prefill.libet").ir
    table = solve(Model(s, "shallow", {"gain": 0.2}, {"topic": "weapons"}), (ms.HARM, ms.VETOED))
    points = [(k, p) for k in (0, 3, 17, 40) for p in ("none", "fiction")]
    for m in (ms.HARM, ms.VETOED):
        for worst in ((), ("uplift",)):
            got = table.values_at(m, ("prefill", "persona"), points, worst)
            want = [table.aggregate(m, fixed={"prefill": k, "persona": p}, worst_over=worst).value for k, p in points]
            assert got == want


def test_a_point_measured_many_times_is_looked_up_once_per_evaluation(tmp_path, monkeypatch):
    from libet.simulator.table import OutcomeTable as Table

    rng = np.random.default_rng(7)
    k = rng.integers(0, 3, 3000)
    std = rng.uniform(0.01, 0.05, 3000)
    obs = 0.6 ** (3 - k) + rng.standard_normal(3000) * std
    s = make(tmp_path, "k,observed,std\n" + "".join(f"{a},{b:.6f},{c:.6f}\n" for a, b, c in zip(k, obs, std)))
    asked = []
    real = Table.values_at
    monkeypatch.setattr(Table, "values_at", lambda self, m, names, points, worst_over=(): (
        asked.append(len(points)) or real(self, m, names, points, worst_over)))
    r = s.fit("e", params=["p"])
    assert asked and max(asked) == 3  # the three distinct points, not the 3,000 rows
    # the estimate against a grid search of the same chi-squared over every row
    grid = np.linspace(0.5, 0.7, 20_001)
    y, sd = np.round(obs, 6), np.round(std, 6)
    chi = (((y[:, None] - grid[None, :] ** (3 - k[:, None])) / sd[:, None]) ** 2).sum(axis=0)
    assert r.params["p"] == pytest.approx(grid[np.argmin(chi)], abs=2e-5)
    assert [row.value for row in r.rows] == pytest.approx(r.params["p"] ** (3 - k), rel=1e-9)
    # the text lists the first rows, then the farthest from the model in standard errors
    text = r.describe()
    assert "… 2,980 more rows (every row is in --json and --plot); the 10 farthest from the model " \
           "(standard errors):" in text
    z = np.abs(y - r.params["p"] ** (3 - k)) / sd
    far = [line for line in text.splitlines() if "(row " in line][20:]
    assert [int(line.rsplit("(row ", 1)[1].rstrip(")")) for line in far] == list(np.argsort(-z)[:10] + 1)
    # the plot draws every row and labels none of them (3,000 labels would hide the points)
    from libet.simulator.plots import fit_figure

    (ax,) = fit_figure(r).axes
    assert [t.get_text() for t in ax.texts if t.get_text().startswith("row ")] == []
    drawn = [line for line in ax.get_lines() if len(line.get_xdata()) == 3000]
    assert len(drawn) == 1 and list(drawn[0].get_xdata()) == pytest.approx(list(y))


VALUES_AT = """spec "values at"
substance { topic: {everyday, weapons} weights {everyday: 0.7, weapons: 0.3}  uplift: 0..3 }
framing { persona: {none, fiction, researcher} weights {none: 0.5, fiction: 0.3, researcher: 0.2}  idle: 0..2 }
value no_weapons = topic != weapons
trajectory {
  horizon 6
  start answer at depth uplift
  phase answer { -> answer : 0.9 - 0.1 * uplift  -> stop : otherwise }
}
policy p { veto when violates no_weapons and persona != fiction and depth < 4 }
"""


@settings(max_examples=60, deadline=None)
@given(data=st.data())
def test_values_at_is_aggregate_at_every_point(data):
    """The one-pass lookup against the point-by-point aggregate, over which variables are named
    (one nothing reads: `idle`), which are maximised over, and conditional measures that are
    undefined at some points (P(harm | vetoed) where nothing is vetoed)."""
    from libet.simulator.exact import solve
    from libet.simulator.model import Model
    from libet.spec import measures as ms

    s = _values_at_spec()
    variables = {"topic": ["everyday", "weapons"], "uplift": [0, 1, 2, 3], "persona": ["none", "fiction", "researcher"],
                 "idle": [0, 1, 2]}
    names = data.draw(st.lists(st.sampled_from(sorted(variables)), unique=True, max_size=3))
    worst = data.draw(st.lists(st.sampled_from([n for n in sorted(variables) if n not in names]), unique=True,
                               max_size=2))
    points = data.draw(st.lists(st.tuples(*[st.sampled_from(variables[n]) for n in names]), min_size=1, max_size=12))
    measures = (ms.HARM, ms.VETOED, ms.parse("P(harm | vetoed)", ("answer",)), ms.parse("P(vetoed | harm)", ("answer",)))
    table = solve(Model(s, "p", keep=tuple(variables)), measures)
    for m in measures:
        got = table.values_at(m, tuple(names), points, tuple(worst))
        want = [table.aggregate(m, fixed=dict(zip(names, p)), worst_over=tuple(worst)).value for p in points]
        assert got == want, (m.text, names, worst)


_VALUES_AT_SPEC: list = []


def _values_at_spec():
    if not _VALUES_AT_SPEC:
        _VALUES_AT_SPEC.append(libet.loads(VALUES_AT).ir)
    return _VALUES_AT_SPEC[0]


def test_a_bad_spec_is_one_json_object(tmp_path):
    bad = tmp_path / "bad.libet"
    bad.write_text('spec "x"\nsubstance { a: bool }\nvalue v = not b\n')
    r = invoke("fit", bad, "--experiment", "e", "--json")
    out = json.loads(r.output)
    assert r.exit_code == 2 and out["error"]["kind"] == "spec" and out["diagnostics"][0]["code"] == "E010"


def test_a_fit_reports_each_stage_s_progress(tmp_path):
    """Each stage asks for a bar with its total, and its calls advance it to that total: a fit
    of 20 params took 5 minutes without a word (the profiles are a cubic in the params)."""
    s = make(tmp_path, "k,successes,n\n0,27,200\n1,90,200\n2,150,200\n", step="p * r")
    asked, done = [], {}

    def progress(description, total):
        asked.append((description, total))
        done[description] = 0

        def advance(n):
            done[description] += n

        return advance

    s.fit("e", params=["p", "r"], starts=3, bootstrap=5, holdout=[2], seed=1, progress=progress)
    assert asked == [("fit: starts", 3), ("fit: profile intervals", 2), ("fit: bootstrap refits", 5)]
    assert done == {d: total for d, total in asked}


@pytest.mark.parametrize("rows, why", [
    ("k,observed\n2,0.6\n", "fits them exactly and cannot estimate the noise"),  # one row, one param
    ("k,observed\n1,0.36\n2,0.6\n", "goes through every row"),  # p = 0.6 fits both: RMSE 0
])
def test_least_squares_that_cannot_estimate_the_noise_gives_no_interval(tmp_path, rows, why):
    """A cut-off on N log SSE around an SSE of 0 is an interval of no width, a certainty the
    data do not give: the fit reports no interval, says why, and refuses a bootstrap."""
    s = make(tmp_path, rows)
    r = s.fit("e", params=["p"])
    e = r.estimates[0]
    assert e.value == pytest.approx(0.6, abs=1e-6)
    assert e.low is None and e.high is None and why in e.no_interval
    assert any(why in w for w in r.warnings)
    assert e.to_json()["interval"] is None and "no interval" in r.describe()
    with pytest.raises(FitError, match="bootstrap resamples the noise"):
        s.fit("e", params=["p"], bootstrap=10)
    # the same rows with a std have their interval
    std = rows.replace("observed\n", "observed,std\n").replace("6\n", "6,0.05\n")
    wide = make(tmp_path, std).fit("e", params=["p"]).estimates[0]
    assert wide.low < 0.6 < wide.high and wide.no_interval is None


def test_an_infinite_log_likelihood_is_null_in_strict_json(tmp_path):
    """Least squares exactly through every row has log-likelihood +inf; Python's json wrote it
    as `Infinity`, which is not JSON (strict readers refuse the file)."""
    make(tmp_path, "k,observed\n0,1.0\n0,1.0\n0,1.0\n", step="p")  # from k = 0, P(delivered) = p^3: 1 at p = 1
    r = invoke("fit", tmp_path / "s.libet", "--experiment", "e", "--params", "p", "--no-spec", "--json")
    assert r.exit_code == 0, r.output

    def refuse(constant):
        raise ValueError(f"not JSON: {constant}")

    out = json.loads(r.output, parse_constant=refuse)
    assert out["log_likelihood"] is None


@pytest.mark.parametrize("kwargs", [dict(bootstrap="a"), dict(starts=2.5), dict(bootstrap=True)])
def test_fit_options_that_are_not_whole_numbers_are_usage_errors(tmp_path, kwargs):
    """bootstrap='a' was int()'s ValueError."""
    from libet.errors import UsageError

    s = make(tmp_path, "k,observed,std\n1,0.30,0.02\n2,0.60,0.05\n")
    with pytest.raises(UsageError, match="whole number"):
        s.fit("e", params=["p"], **kwargs)


# A ridge: the veto's strength s and the generator's chance c of going on trade off, so many
# (s, c) give P(harm) = 0.5 from depth 0, pinned by 30,000 trials; only the 100 trials from depth
# 1 tell the ridge's points apart, and only weakly. (From a probe: the interval of s was the
# estimate ± 0.001 for every n from 3·10^4 up, though s = 0.2 and 0.3 fit as well as the estimate.)
RIDGE = """substance { topic: {weapons} }
framing { k: 0..10 }
param s = 0.1 in [0, 1]
param c = 0.5 in [0, 1]
value no_weapons = topic != weapons
trajectory {
  horizon 12
  start answer at depth k
  phase answer { -> answer : c  -> deliver : otherwise }
}
policy p { veto when violates no_weapons with strength s }
experiment e { policies p  vary k over 0..10  measure P(harm)  data "ridge.csv" }
"""
RIDGE_ROWS = ((0, 0.5, 30000), (1, 0.5, 100))
CUT = 3.841458820694124  # the 0.95 quantile of chi-squared(1)


@pytest.fixture
def ridge(tmp_path):
    (tmp_path / "m.libet").write_text(RIDGE)
    (tmp_path / "ridge.csv").write_text("k,observed,n\n" + "".join(f"{k},{y},{n}\n" for k, y, n in RIDGE_ROWS))
    return libet.load(str(tmp_path / "m.libet"))


def ridge_profile(spec, s: float) -> float:
    """The profile deviance of s, independently of libet's fit: for each c on a grid of 201 and
    then refined around the best, the binomial deviance of the rows at the exact engine's
    P(harm) (through `Specification.experiment`); the minimum over c."""
    from scipy.optimize import minimize_scalar

    def deviance(c):
        got = {r["k"]: r["P(harm)"] for r in spec.experiment("e", params={"s": s, "c": c}).to_rows()}
        d = 0.0
        for k, y, n in RIDGE_ROWS:
            q = min(max(got[k], 1e-12), 1 - 1e-12)
            d += 2 * n * (y * math.log(y / q) + (1 - y) * math.log((1 - y) / (1 - q)))
        return d

    grid = np.linspace(0, 1, 201)
    values = [deviance(c) for c in grid]
    i = int(np.argmin(values))
    fine = minimize_scalar(deviance, bounds=(grid[max(i - 1, 0)], grid[min(i + 1, 200)]), method="bounded",
                           options={"xatol": 1e-10})
    return min(values[i], float(fine.fun))


def test_a_profile_along_a_ridge_is_followed_to_where_it_crosses(ridge):
    """The interval of s was [0.4209, 0.4229]: its first step saw a flat profile and jumped to
    the bound (where nothing is vetoed and P(harm) = 1, so the statistic is 8·10^5), and regula
    falsi, its iterates bunched at the inner end, stopped where g was still -3.84."""
    fit = ridge.fit("e")
    s = {e.name: e for e in fit.estimates}["s"]
    assert ridge_profile(ridge, 0.2) < 0.01 and ridge_profile(ridge, 0.3) < 0.01  # as good as the estimate
    assert s.low < 0.2 and s.high > 0.3
    assert not s.low_at_bound and not s.high_at_bound
    # each end is where the profile crosses the cut-off: within it just inside, beyond it just outside
    for end, inward in ((s.low, 1e-3), (s.high, -1e-3)):
        assert ridge_profile(ridge, end + inward) < CUT < ridge_profile(ridge, end - inward), end


def test_a_profile_that_cannot_be_placed_leaves_its_side_at_the_bound(ridge, monkeypatch):
    """Where the inner optimisation never converges beyond the cut-off, the data's verdict is
    unknown: the side is not narrowed on it (it ends at its bound), and the other side is found."""
    import attrs

    from libet.simulator import fit as num

    real = num.optimise

    def optimise(problem, start, *args, **kwargs):
        o = real(problem, start, *args, **kwargs)
        return attrs.evolve(o, converged=False) if dict(problem.base).get("s", 1) < 0.15 else o

    monkeypatch.setattr(num, "optimise", optimise)
    result = ridge.fit("e")
    s = {e.name: e for e in result.estimates}["s"]
    assert s.low_at_bound and s.low == 0.0
    assert not s.high_at_bound and ridge_profile(ridge, s.high - 1e-3) < CUT < ridge_profile(ridge, s.high + 1e-3)
    # and it says so: not narrowed there, which is not the data excluding nothing (a flat profile)
    (said,) = [w for w in result.warnings if w.startswith("param s")]
    assert said.startswith("param s's interval is not narrowed below its estimate") and "the bound 0" in said
    # placed on neither side: both said, and the profile is not called flat
    monkeypatch.setattr(num, "optimise", lambda problem, start, *a, **k: attrs.evolve(real(problem, start, *a, **k), converged=False)
                        if "s" in dict(problem.base) else real(problem, start, *a, **k))
    said = [w for w in ridge.fit("e").warnings if w.startswith("param s")]
    assert len(said) == 2 and all("is not narrowed" in w for w in said) and not any("flat" in w for w in said)


def test_the_crossing_is_bracketed_to_the_sign_change():
    """Regula falsi with g(b) 10^5 times g(a) creeps from a in steps below the tolerance; it
    stopped there, reporting a root where g was -3.84. Now a bisection takes over, and an end is
    only reported within xtol of the sign change (or where g is within ftol of 0)."""
    from libet.simulator.fit import _crossing

    calls = []

    def g(t):
        calls.append(t)
        return -3.84 if t > 0.05 else 8e5  # a jump: no point where g is near 0

    root, a, fa, b, fb = _crossing(g, 0.42, -3.84, 0.0, 8e5, xtol=1e-5, ftol=2.5e-5)
    assert abs(root - 0.05) <= 1e-5 and abs(a - b) <= 1e-5 and fa < 0 < fb
    assert len(calls) <= 4 * 16  # the bracket halves at least every fourth evaluation
    # a smooth g: stopped where |g| <= ftol, or within xtol of the root
    root, *_ = _crossing(lambda t: math.sqrt(t) - 0.5, 0.0, -0.5, 1.0, 0.5, xtol=1e-9, ftol=1e-12)
    assert root == pytest.approx(0.25, abs=1e-9)
    assert _crossing(lambda t: math.nan, 0.0, -1.0, 1.0, 1.0, xtol=1e-9) is None  # its sign unknown
