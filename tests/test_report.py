"""The HTML report of `libet run` and `libet report`: what the page holds, where it is written,
and that it is rebuilt from the folder alone. The page in a real browser: test_report_browser.py."""

from __future__ import annotations

import json
import os
import re
import shutil

import pytest
from click.testing import CliRunner

import libet
from libet import report
from libet.cli import main

EXAMPLES = os.path.join(os.path.dirname(__file__), "..", "examples")


@pytest.fixture(scope="module")
def run_folder(tmp_path_factory):
    out = str(tmp_path_factory.mktemp("run") / "prefill")
    spec = libet.load(os.path.join(EXAMPLES, "prefill.libet"))
    summary = spec.run(out, timeout=30)
    return out, summary


def test_run_writes_the_report_with_every_check_and_experiment(run_folder):
    out, summary = run_folder
    page = open(os.path.join(out, "report.html"), encoding="utf-8").read()
    assert os.path.join(out, "report.html") in summary.files
    for r in summary.results:
        assert f'data-check="{report.esc(r.policy + ": " + r.check)}"' in page
    for e in summary.experiments:
        assert f'data-experiment="{e.name}"' in page
        assert page.count(f'data-plot="{e.name}_') == len(e.measures)
    for policy in ("shallow", "deep"):
        assert f'data-graph="{policy}"' in page
    # self-contained: nothing is fetched
    assert "http://" not in page.replace("http://www.w3.org", "").replace("http://purl.org", "").replace(
        "http://creativecommons.org", "").replace("http://matplotlib.org", "")
    assert "<img" not in page and "src=" not in page
    # the trace of the violated safe check, and how numbers were obtained
    assert "path probability" in page
    assert "computed exactly" in page
    assert summary.data["spec_sha256"] in page


def test_report_rebuilds_from_the_folder_alone(run_folder, tmp_path):
    out, _ = run_folder
    moved = str(tmp_path / "moved")
    shutil.copytree(out, moved)
    before = open(os.path.join(moved, "report.html"), encoding="utf-8").read()
    os.unlink(os.path.join(moved, "report.html"))
    res = CliRunner().invoke(main, ["report", moved])
    assert res.exit_code == 0, res.output
    after = open(os.path.join(moved, "report.html"), encoding="utf-8").read()
    assert after.count("data-check=") == before.count("data-check=")
    assert after.count("<svg") == before.count("<svg")
    # a report libet wrote is rebuilt in place; another file is not overwritten without --force
    assert CliRunner().invoke(main, ["report", moved]).exit_code == 0
    mine = tmp_path / "mine.html"
    mine.write_text("my notes")
    res = CliRunner().invoke(main, ["report", moved, "-o", str(mine)])
    assert res.exit_code == 2 and "--force" in res.output
    assert mine.read_text() == "my notes"
    assert CliRunner().invoke(main, ["report", moved, "-o", str(mine), "--force"]).exit_code == 0
    res = CliRunner().invoke(main, ["report", moved, "--json"])
    assert res.exit_code == 0 and json.loads(res.output)["report"].endswith("report.html")


def test_report_of_a_damaged_folder_says_what_is_missing_and_shows_no_script(run_folder, tmp_path):
    """Graphs deleted, an experiment's JSON and a plot's SVG overwritten: the page showed an empty
    table, said "the spec has no trajectory", and pasted the edited SVG, script and all, into
    itself. Each problem is now said on the page where it would be and as a warning."""
    out, _ = run_folder
    damaged = str(tmp_path / "damaged")
    shutil.copytree(out, damaged)
    shutil.rmtree(os.path.join(damaged, "graphs"))
    with open(os.path.join(damaged, "experiments", "prefill_sweep.json"), "w") as fh:
        fh.write("{bad")
    plot = sorted(f for f in os.listdir(os.path.join(damaged, "experiments")) if f.endswith(".svg"))[0]
    with open(os.path.join(damaged, "experiments", plot), "w") as fh:
        fh.write('<svg><script>alert("x")</script></svg>')
    res = CliRunner().invoke(main, ["report", damaged])
    assert res.exit_code == 0, res.output
    assert "warning: experiments/prefill_sweep.json is not the JSON libet wrote" in res.output
    assert f"warning: experiments/{plot} is not an SVG libet wrote (it holds script, or no <svg>): not shown" in res.output
    assert "warning: graphs/shallow.dot is missing from the folder" in res.output
    page = open(os.path.join(damaged, "report.html"), encoding="utf-8").read()
    assert "<script>alert" not in page and 'alert("x")' not in page
    assert "the spec has no trajectory" not in page
    assert page.count('class="warn"') >= 4
    data = json.loads(CliRunner().invoke(main, ["report", damaged, "--json"]).output)
    assert len(data["problems"]) == 6


@pytest.mark.parametrize("setup", ["missing", "empty", "bad-json", "bad-shape"])
def test_report_of_a_bad_folder_is_a_usage_error(tmp_path, setup):
    folder = tmp_path / "f"
    if setup != "missing":
        folder.mkdir()
    if setup == "bad-json":
        (folder / "results.json").write_text("{not json")
    if setup == "bad-shape":  # a check without its status, as a hand edit leaves it: was a KeyError
        (folder / "results.json").write_text('{"spec": "s", "checks": [{"policy": "p"}]}')
    res = CliRunner().invoke(main, ["report", str(folder)])
    assert res.exit_code == 2
    assert "error:" in res.output and "Traceback" not in res.output
    res = CliRunner().invoke(main, ["report", str(folder), "--json"])
    assert res.exit_code == 2


def test_inline_svgs_get_distinct_ids():
    svg = '<?xml version="1.0"?><svg><defs><path id="m1"/></defs><use xlink:href="#m1"/><g clip-path="url(#m1)"/></svg>'
    a, b = report.inline_svg(svg, "a"), report.inline_svg(svg, "b")
    assert "<?xml" not in a
    assert 'id="a-m1"' in a and 'href="#a-m1"' in a and "url(#a-m1)" in a
    assert 'id="b-m1"' in b


def test_run_table_fits_80_columns(tmp_path):
    import subprocess
    import sys

    env = {**os.environ, "COLUMNS": "80", "NO_COLOR": "1"}
    done = subprocess.run([sys.executable, "-m", "libet", "run", os.path.abspath(os.path.join(EXAMPLES, "prefill.libet")),
                           "--out", "r"], capture_output=True, text=True, env=env, timeout=300, cwd=tmp_path)
    assert done.returncode == 1, done.stderr
    lines = done.stdout.splitlines()
    assert max(len(line) for line in lines) <= 80
    # whole words: every check name is on one line of the table
    for check in ("invariant under framing", "P(harm) <= 0.01 for all framing", "gap P(harm) under observed <= 0.05"):
        assert any(check in line for line in lines), check
    assert any(line.startswith("shallow, safe: ") for line in lines)  # the evidence below the table
    assert "report: r/report.html" in done.stdout


MC_SPEC = '''spec "sampled"
substance { topic: {everyday, weapons}  uplift: 0..2 }
framing { persona: {none, fiction} }
value safe_topic = not (topic == weapons and uplift >= 1)
trajectory {
  horizon 4
  start go at depth 0
  phase go { -> go : 0.8  -> stop : otherwise }
}
policy p { veto when violates safe_topic and persona == none }
check p { P(harm) <= 0.01 for all framing }
experiment sampled {
  policies p
  vary persona over [none, fiction]
  set topic = weapons, uplift = 2
  measure P(harm)
  engine mc
  runs 500
  seed 11
}
'''


def test_report_says_estimated_with_intervals_and_the_seed(tmp_path):
    spec = libet.loads(MC_SPEC, "sampled.libet")
    out = str(tmp_path / "r")
    spec.run(out)
    page = open(os.path.join(out, "report.html"), encoding="utf-8").read()
    assert "estimated by mc (500 runs per point, seed 11)" in page
    assert "95% confidence intervals" in page
    assert re.search(r"<td class=\"num\">[0-9.]+ \[[0-9.]+, [0-9.]+\]</td>", page)
    assert "sampled: seed 11, 500 runs" in page  # provenance
    data = json.loads(open(os.path.join(out, "experiments", "sampled.json")).read())
    assert data["metadata"]["seed"] == 11
    csv_text = open(os.path.join(out, "experiments", "sampled.csv")).read()
    assert csv_text.splitlines()[0] == "policy,persona,P(harm),P(harm) low,P(harm) high"


def test_an_experiment_whose_sweep_reaches_an_invalid_state_is_not_run_and_the_rest_stands(tmp_path):
    """At h = 1 the start depth k = 2 passes the horizon: valid at the declared h = 10, which is
    what the load checks, so only the sweep meets it. `libet run` stopped there and printed only
    that error; the check and the other experiment stand, and the sweep is NOT RUN with it."""
    spec = tmp_path / "intp.libet"
    spec.write_text("""param h: int = 10 in [1, 20]
substance { topic: {everyday, weapons} }
framing { k: 0..5 }
value no_weapons = topic != weapons
trajectory { horizon h  start answer at depth k  phase answer { -> answer : 0.5  -> deliver : otherwise } }
policy p { veto when violates no_weapons and depth < 2 }
check p { P(vetoed) <= 1 }
experiment e { policies p  vary h over 1..20 }
experiment fine { policies p  vary h over 5..20 }
""")
    out = tmp_path / "r"
    r = CliRunner().invoke(main, ["run", str(spec), "--out", str(out)])
    assert r.exit_code == 3, r.output
    data = json.loads((out / "results.json").read_text())
    assert [c["status"] for c in data["checks"]] == ["PROVED"]
    e, fine = data["experiments"]
    assert e["not_run"] == (f"{spec}:5:47: start depth 2 must be a non-negative integer, at most the horizon 1 "
                            "(at assignment {topic=everyday, k=2}) (error[E043])")
    assert fine["files"] and "not_run" not in fine
    assert [r["h"] for r in json.loads((out / "experiments" / "fine.json").read_text())["rows"]] == list(range(5, 21))


def test_an_experiment_too_large_to_run_is_reported_not_run_and_the_rest_stands(tmp_path):
    """One experiment's model too large to solve: the checks, the other experiment, the graphs
    and the report are still written, that experiment is NOT RUN with the refusal, and the run
    exits 3 (not decided) when nothing is violated. Before, the refusal was all `libet run`
    printed, and nothing was written."""
    from test_scale import _wide

    spec = tmp_path / "wide.libet"
    narrow = ", ".join(f"f{i} = false" for i in range(40))
    spec.write_text(_wide(40, f"check p {{ complete }}\nexperiment wide {{ policies p }}\n"
                              f"experiment narrow {{ policies p  set {narrow} }}\n"))
    out = tmp_path / "r"
    r = CliRunner().invoke(main, ["run", str(spec), "--out", str(out)])
    assert r.exit_code == 3, r.output
    assert "NOT RUN" in r.output and "model too large" in r.output and "1 proved, 1 experiment not run" in r.output
    data = json.loads((out / "results.json").read_text())
    assert [c["status"] for c in data["checks"]] == ["PROVED"]
    wide, narrow = data["experiments"]
    assert wide["name"] == "wide" and wide["not_run"].startswith("model too large")
    assert narrow["name"] == "narrow" and narrow["files"] and "not_run" not in narrow
    html = (out / "report.html").read_text()
    assert 'data-experiment="wide"' in html and "not run: model too large" in html
    assert 'data-experiment="narrow"' in html
