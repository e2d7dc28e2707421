"""The simulator's commands: simulate, experiments on disk, export, graph, run; bad input exits
with 2 and a message, never a traceback."""

from __future__ import annotations

import csv
import json
import os
import shutil

import pytest
from click.testing import CliRunner

import libet
from libet.cli import main
from libet.spec.interpreter import Interpreter

PREFILL = "examples/prefill.libet"


def invoke(*args):
    r = CliRunner().invoke(main, list(args), catch_exceptions=False)
    assert "Traceback" not in r.output
    return r


def test_simulate_json_matches_interpreter_average():
    r = invoke("simulate", PREFILL, "--json", "--set", "topic=weapons", "--set", "uplift=3", "--set", "persona=none",
               "--set", "observed=false", "--set", "prefill=10")
    assert r.exit_code == 0, r.output
    data = json.loads(r.output)
    rows = {row["policy"]: row for row in data["rows"]}
    spec = libet.load(PREFILL).ir
    a = {"topic": "weapons", "uplift": 3, "persona": "none", "prefill": 10, "observed": False}
    want = Interpreter(spec).outcomes("shallow", a)
    assert rows["shallow"]["P(harm)"] == pytest.approx(want.harm, abs=1e-12)
    assert rows["deep"]["P(harm)"] == 0.0


def test_simulate_monte_carlo_is_reproducible():
    a = invoke("simulate", PREFILL, "--engine", "mc", "--runs", "3000", "--seed", "5", "--json")
    b = invoke("simulate", PREFILL, "--engine", "mc", "--runs", "3000", "--seed", "5", "--json")
    assert a.exit_code == 0 and json.loads(a.output)["rows"] == json.loads(b.output)["rows"]


def test_experiment_writes_tables_and_plots(tmp_path):
    out = tmp_path / "out"
    r = invoke("simulate", PREFILL, "--experiment", "prefill_sweep", "--out", str(out))
    assert r.exit_code == 0, r.output
    names = set(os.listdir(out))
    assert {"prefill_sweep.csv", "prefill_sweep.json", "prefill_sweep_p_harm.png", "prefill_sweep_p_harm.svg"} <= names
    meta = json.loads((out / "prefill_sweep.json").read_text())["metadata"]
    assert meta["engine"] == "exact" and len(meta["spec_sha256"]) == 64 and meta["libet_version"] == libet.__version__
    # a plain CSV: the header first, no comment lines (the metadata is in the JSON beside it)
    lines = (out / "prefill_sweep.csv").read_text().splitlines()
    assert lines[0] == "policy,prefill,P(harm),P(vetoed)"
    assert not any(line.startswith("#") for line in lines)
    rows = list(csv.DictReader(lines))
    pandas = pytest.importorskip("pandas")
    assert list(pandas.read_csv(out / "prefill_sweep.csv").columns) == ["policy", "prefill", "P(harm)", "P(vetoed)"]
    shallow = [float(r["P(harm)"]) for r in rows if r["policy"] == "shallow"]
    deep = [float(r["P(harm)"]) for r in rows if r["policy"] == "deep"]
    assert shallow == sorted(shallow) and shallow[-1] > 0.9 and shallow[0] == 0.0  # rises with prefill
    assert all(x == 0.0 for x in deep)
    # the numbers are the interpreter's
    spec = libet.load(PREFILL).ir
    interp = Interpreter(spec)
    for row in rows:
        a = {"topic": "weapons", "uplift": 3, "persona": "none", "observed": False, "prefill": int(row["prefill"])}
        assert float(row["P(harm)"]) == pytest.approx(interp.outcomes(row["policy"], a).harm, abs=1e-12)
    # an existing folder is not written into without --force
    r = invoke("simulate", PREFILL, "--experiment", "prefill_sweep", "--out", str(out))
    assert r.exit_code == 2 and "--force" in r.output
    r = invoke("simulate", PREFILL, "--experiment", "prefill_sweep", "--out", str(out), "--force")
    assert r.exit_code == 0


def test_monte_carlo_experiment_records_seed(tmp_path):
    r = invoke("simulate", PREFILL, "--experiment", "prefill_sweep", "--engine", "mc", "--runs", "500", "--seed", "9",
               "--json")
    assert r.exit_code == 0
    data = json.loads(r.output)[0]
    assert data["metadata"]["seed"] == 9 and data["metadata"]["runs"] == 500
    assert "P(harm) low" in data["rows"][0]


@pytest.mark.parametrize(
    "args,needle",
    [
        (["simulate", PREFILL, "--experiment", "nope"], "no experiment"),
        (["simulate", PREFILL, "--set", "gain=7"], "outside the range"),
        (["simulate", PREFILL, "--set", "nope=1"], "no param or variable"),
        (["simulate", "examples/crescendo.libet", "--set", "refusals=2"],
         "'refusals' is a state variable, which the trajectory changes as it goes; it starts at 0 (`refusals: 0..3 = 0`"),
        (["simulate", PREFILL, "--policy", "nope"], "no policy"),
        (["simulate", PREFILL, "--experiment", "prefill_sweep", "--set", "prefill=3"], "conflicts"),
        # the experiment's `set topic = weapons` won over --set in silence: the rows were weapons'
        (["simulate", PREFILL, "--experiment", "prefill_sweep", "--set", "topic=everyday"],
         "--set topic=everyday conflicts with experiment 'prefill_sweep', which sets topic = weapons"),
        # ignored in silence before: the experiment's own policies and measures were run
        (["simulate", PREFILL, "--experiment", "prefill_sweep", "--policy", "deep"], "--policy is for a simulation without --experiment"),
        (["simulate", PREFILL, "--experiment", "prefill_sweep", "--measure", "P(vetoed)"], "--measure is for"),
        (["simulate", PREFILL, "--experiment", "prefill_sweep", "--exact", "--engine", "mc"], "--exact (rational arithmetic) is for the exact engine, not mc"),
        (["simulate", "examples/guards/profanity.libet", "--experiment", "all"], "declares no experiment"),
        (["export", "--prism", PREFILL], "--policy"),
        (["graph", PREFILL, "--policy", "deep", "-o", "x.txt"], "format"),
        (["simulate", "does-not-exist.libet"], ""),
    ],
)
def test_bad_input_exits_2(args, needle):
    r = invoke(*args)
    assert r.exit_code == 2, r.output
    assert needle in r.output


def test_an_mdp_and_a_model_the_engine_refuses_are_still_exported(tmp_path):
    """Solving P(harm) before the export refused every MDP (P(harm) of an MDP needs its case over
    adversaries) and every model of more than 64 read variables (numpy's axes), which the export
    writes without a table. An MDP is solved for Pmax(harm), which tries every option; a model the
    engine refuses is exported with a comment saying it was not solved."""
    r = invoke("export", "--prism", "examples/adaptive_attacker.libet", "--policy", "keyword")
    assert r.exit_code == 0, r.output
    assert "\nmdp\n" in r.output and "Pmax=?" in r.output
    bad = tmp_path / "mdp.libet"
    bad.write_text(_VALID_AT_DEFAULT.replace("substance { topic: {everyday, weapons} }",
                                             "substance { topic: {everyday, weapons} }\nstate { e: {p, q} = p }")
                   .replace("phase go { -> go : if topic == everyday", "phase go { choose e  -> go : if topic == everyday"))
    assert invoke("export", "--prism", str(bad), "--set", "a=0.3").exit_code == 0
    r = invoke("export", "--prism", str(bad), "--set", "a=0.5")
    assert r.exit_code == 2 and "error[E041]: probability of '-> go' in phase 'go' is 1.5" in r.output
    wide = tmp_path / "wide.libet"
    names = [f"v{i}" for i in range(66)]
    wide.write_text("substance { " + "  ".join(f"{n}: 0..1" for n in names) + " }\n"
                    "value ok = " + " + ".join(names) + " < 60\n"
                    "trajectory { horizon 3  start a  phase a { -> deliver : 0.5  -> stop : otherwise } }\n"
                    "policy v { veto when violates ok with strength 0.5 }\n")
    r = invoke("export", "--prism", str(wide), *[f"--set={n}=1" for n in names[:63]])
    assert r.exit_code == 0, r.output
    assert r.output.startswith("// not solved by libet before the export (model too large") and "\ndtmc\n" in r.output


def test_an_experiment_keeps_its_set_lines_value_given_again():
    r = invoke("simulate", PREFILL, "--experiment", "prefill_sweep", "--set", "topic=weapons", "--json")
    assert r.exit_code == 0, r.output
    assert json.loads(r.output)[0]["metadata"]["set"]["topic"] == "weapons"


_TINY = """substance { topic: {weapons} }
framing { k: 0..1 }
value no_weapons = topic != weapons
trajectory { horizon 10 then stop  start go at depth k  phase go { -> go : 1 - 1e-18  -> deliver : otherwise } }
policy p { veto when harmful with strength 1e-30 }
experiment e { policies p vary k over 0..1 measure P(harm), P(vetoed) }
"""


def test_an_experiment_with_exact_is_solved_in_rational_arithmetic(tmp_path):
    """`--exact` was dropped for an experiment: the rows were the doubles' 0 (1 - 1e-18 is 1.0 in
    a double) under a header saying "computed exactly"."""
    from fractions import Fraction

    path = tmp_path / "tiny.libet"
    path.write_text(_TINY)
    (data,) = json.loads(invoke("simulate", str(path), "--experiment", "e", "--exact", "--json").output)
    assert data["metadata"]["engine"] == "exact (rational)"
    # by hand: start at depth k, go on with 1 - 1e-18 at each of 10 - k steps, the veto of 1e-30
    # first; harm is the mass that stops at the horizon unvetoed... of what goes on each step
    go, veto = 1 - Fraction(1, 10**18), Fraction(1, 10**30)
    for row in data["rows"]:
        on = [((1 - veto) * go) ** i for i in range(10 - row["k"])]  # still going at each step
        # each step: the veto first, then go on or deliver (harm); at the horizon `then stop`
        assert row["P(vetoed)"] == pytest.approx(float(sum(x * veto for x in on)), rel=1e-12)
        assert row["P(harm)"] == pytest.approx(float(sum(x * (1 - veto) * (1 - go) for x in on)), rel=1e-12)
        assert row["P(harm)"] > 0 and row["P(vetoed)"] > 0
    r = invoke("simulate", str(path), "--experiment", "e", "--exact")
    assert "computed exactly, in rational arithmetic" in " ".join(r.output.split())
    (plain,) = json.loads(invoke("simulate", str(path), "--experiment", "e", "--json").output)
    assert plain["metadata"]["engine"] == "exact" and plain["rows"][0]["P(harm)"] == 0.0


def test_export_prism_file(tmp_path):
    out = tmp_path / "m.pm"
    r = invoke("export", "--prism", PREFILL, "--policy", "shallow", "--set", "topic=weapons", "-o", str(out))
    assert r.exit_code == 0
    text = out.read_text()
    assert text.startswith("// libet export") and 'label "harm"' in text and "dtmc" in text
    r = invoke("export", "--prism", PREFILL, "--policy", "shallow", "-o", str(out))
    assert r.exit_code == 2  # exists


#: Valid at its declared param (0.6), a probability of 1.5 at a = 0.5, which only an engine sees.
_VALID_AT_DEFAULT = """param a = 0.2 in [0, 1]
substance { topic: {everyday, weapons} }
value no_weapons = topic != weapons
trajectory {
  horizon 5
  start go
  phase go { -> go : if topic == everyday then a * 3 else 0.5  -> deliver : otherwise }
}
policy p { veto when harmful with strength 0.1 }
"""


@pytest.mark.parametrize("command", ["export", "simulate"])
def test_a_probability_out_of_range_at_set_params_is_the_specs_error_with_its_caret(tmp_path, command):
    """The export writes expressions, which nothing evaluated at `--set a=0.5`: it wrote a
    branch of probability 1.5 that Storm read without complaint, exit 0. Both commands now
    report the spec's E041 as the load does: file:line:col, the line and a caret, the state."""
    path = tmp_path / "m.libet"
    path.write_text(_VALID_AT_DEFAULT)
    out = tmp_path / "m.pm"
    extra = ["--prism", "-o", str(out)] if command == "export" else []
    assert invoke(command, str(path), *extra, "--set", "a=0.3").exit_code == 0
    if out.exists():
        out.unlink()
    r = invoke(command, str(path), *extra, "--set", "a=0.5")
    assert r.exit_code == 2
    assert f"{path}:7:22: error[E041]: probability of '-> go' in phase 'go' is 1.5" in r.output
    assert "assignment {topic=everyday}" in r.output
    assert "    7 |   phase go { -> go : if topic" in r.output and "^~~~" in r.output
    assert not out.exists()
    data = json.loads(invoke(command, str(path), *extra, "--set", "a=0.5", "--json").output)
    assert data["error"]["kind"] == "spec" and data["diagnostics"][0]["code"] == "E041"


@pytest.mark.skipif(shutil.which("dot") is None, reason="graphviz's dot is not installed")
def test_graph_svg(tmp_path):
    out = tmp_path / "g.svg"
    r = invoke("graph", PREFILL, "--policy", "shallow", "-o", str(out))
    assert r.exit_code == 0
    svg = out.read_text()
    assert "<svg" in svg and "veto when violates no_weapon_uplift" in svg and "otherwise" in svg


@pytest.mark.skipif(shutil.which("dot") is None, reason="graphviz's dot is not installed")
def test_a_graph_dot_cannot_lay_out_in_time_is_an_error_and_a_note_in_run(tmp_path, monkeypatch):
    """`dot` took minutes on a ring of 100 phases and `libet graph` (and `libet run`, which draws
    every policy) waited without a word. Past its time `libet graph` says so with what to do;
    `libet run` keeps the DOT file and notes that the SVG is missing."""
    from libet.simulator import graph

    monkeypatch.setattr(graph, "DOT_SECONDS", 0.001)  # less than dot takes to start
    out = tmp_path / "g.svg"
    r = invoke("graph", PREFILL, "--policy", "shallow", "-o", str(out))
    assert r.exit_code == 2 and not out.exists()
    assert "did not lay the graph out within 0.001 s" in r.output and "write a .dot file instead" in r.output
    res = tmp_path / "res"
    r = invoke("run", PREFILL, "--out", str(res), "--timeout", "5")
    assert r.exit_code == 1, r.output  # the shallow policy violates checks, as without the note
    assert sorted(os.listdir(res / "graphs")) == ["deep.dot", "shallow.dot"]
    notes = json.loads((res / "results.json").read_text())["notes"]
    assert any(n.startswith("the graph of policy shallow is in graphs/shallow.dot only: the `dot` program did not") for n in notes)


def test_graph_json():
    r = invoke("graph", PREFILL, "--policy", "deep", "--json")
    data = json.loads(r.output)
    assert data["phases"] == ["answer"] and data["veto"][0]["when"] == "violates no_weapon_uplift"


@pytest.mark.slow
def test_run_writes_everything_and_exits_1(tmp_path):
    out = tmp_path / "res"
    r = invoke("run", PREFILL, "--out", str(out), "--timeout", "20")
    assert r.exit_code == 1, r.output  # the shallow policy violates checks
    data = json.loads((out / "results.json").read_text())
    statuses = {(c["policy"], c["check"]): c["status"] for c in data["checks"]}
    assert statuses[("shallow", "P(harm) <= 0.01 for all framing")] == "VIOLATED"
    assert statuses[("deep", "P(harm) <= 0.01 for all framing")] == "PROVED"
    assert statuses[("deep", "safe")] == "PROVED"
    assert len(statuses) == len(libet.load(PREFILL).ir.checks)
    assert (out / "experiments" / "prefill_sweep_p_harm.svg").exists()
    assert (out / "graphs" / "shallow.dot").exists()
    assert (out / "checks.csv").exists()
    r = invoke("run", PREFILL, "--out", str(out))
    assert r.exit_code == 2


PHASED = '''spec "phased"
substance { topic: {everyday, weapons} }
value ok = topic != weapons
trajectory {
  horizon 6
  start plan at depth 0
  phase plan { -> act : 1 }
  phase act { -> act : 0.5  -> deliver : otherwise }
}
policy p {
  veto when violates ok and phase == act
  veto when phase == plan and phase == act
}
'''


def test_graph_draws_only_rules_that_can_fire_per_phase(tmp_path):
    path = tmp_path / "phased.libet"
    path.write_text(PHASED)
    r = invoke("graph", str(path), "--json")
    assert r.exit_code == 0, r.output
    data = json.loads(r.output)
    assert data["veto_by_phase"]["plan"] == []
    assert [x["when"] for x in data["veto_by_phase"]["act"]] == ["violates ok and phase == act"]
    # nothing goes to stop: the outcome is left out
    assert data["outcomes"] == ["delivered", "vetoed"]
    dot = invoke("graph", str(path)).output
    assert "stopped" not in dot
    assert dot.count("veto when") == 1
    assert dot.count('-> __vetoed') == 1


def test_graph_of_rules_too_large_to_decide_in_time_draws_them_as_may_fire(monkeypatch):
    """Encoding a policy over a weighted score of 8,000 terms took 5 s a phase, with no limit;
    past the graph's budget every rule not yet decided is drawn (None: it may fire)."""
    import time

    from test_scale import _chains

    from libet.simulator import graph

    spec = libet.loads(_chains(8000, 800), "chains.libet").ir
    monkeypatch.setattr(graph, "GRAPH_TIMEOUT", 0.5)
    started = time.perf_counter()
    fires = graph.can_fire(spec, "weighted")
    assert time.perf_counter() - started < 0.5 + 3.0  # a generous margin
    assert fires == {"a": [None, None]}
    assert graph.graph_data(spec, "weighted")  # drawn all the same


@pytest.mark.parametrize("command", ["simulate", "run"])
def test_log_y_draws_every_written_plot_on_a_log_axis(tmp_path, monkeypatch, command):
    from libet.simulator import plots

    drawn = []
    figure = plots.figure

    def spy(result, measure=None, *, log=False):
        fig = figure(result, measure, log=log)
        drawn.append((measure, fig.axes[0].get_yscale()))
        return fig

    monkeypatch.setattr(plots, "figure", spy)
    out = str(tmp_path / "out")
    args = ["simulate", PREFILL, "--experiment", "all"] if command == "simulate" else ["run", PREFILL, "--timeout", "5"]
    r = invoke(*args, "--out", out, "--log-y")
    assert r.exit_code in (0, 1), r.output
    assert drawn and all(scale == "log" for _, scale in drawn), drawn
    drawn.clear()
    r = invoke(*args, "--out", out, "--force")
    assert drawn and all(scale == "linear" for _, scale in drawn), drawn


@pytest.mark.parametrize("command", ["simulate", "graph", "export"])
def test_a_spec_without_a_policy_says_so(tmp_path, command):
    """An empty table (simulate) and 'the spec has several policies ... policies: none' (graph,
    export) were what a spec with no policy got."""
    path = tmp_path / "s.libet"
    path.write_text("substance { x: bool }\nvalue ok = x\ntrajectory { horizon 2 start a phase a { -> a : 1 } }\n")
    r = CliRunner().invoke(main, [command, str(path)])
    assert r.exit_code == 2 and "the spec has no policy" in r.output, r.output


def test_long_work_off_a_terminal_reports_plain_lines(monkeypatch):
    """Off a terminal (a log, a CI job) a long run used to say nothing until it ended; it now
    reports a line every PROGRESS_LINE_EVERY seconds on stderr with the work done and the time
    left, and nothing on stdout, which keeps the table alone. A job quicker than that says
    nothing (every other test runs with the default and sees no such line)."""
    from libet.commands import simulate

    monkeypatch.setattr(simulate, "PROGRESS_LINE_EVERY", 0.0)
    r = CliRunner().invoke(main, ["simulate", PREFILL, "--engine", "mc", "--runs", "20000"], catch_exceptions=False)
    assert r.exit_code == 0
    lines = r.stderr.splitlines()
    # both policies' trajectories, 20,000 each
    assert lines and all(x.startswith("mc engine, runs: ") and " of 40,000 (" in x and x.endswith(" s left") for x in lines)
    assert " of 40,000 (" not in r.stdout
    monkeypatch.setattr(simulate, "PROGRESS_LINE_EVERY", 30.0)
    quick = CliRunner().invoke(main, ["simulate", PREFILL, "--engine", "mc", "--runs", "20000"], catch_exceptions=False)
    assert quick.exit_code == 0 and quick.stderr == ""


def test_a_duration_is_said_in_its_unit():
    from libet.commands.simulate import _duration

    assert [_duration(s) for s in (5, 89, 600, 7200, 10**6)] == ["5 s", "89 s", "10 min", "2.0 h", "12 days"]


def test_an_int_param_is_an_int_in_the_json(tmp_path):
    """`param k: int` was written 4.0 in `simulate --json` and in run's results.json."""
    path = tmp_path / "k.libet"
    path.write_text("param k: int = 3 in [1, 9]\nparam g = 0.5 in [0, 1]\nsubstance { a: bool }\nvalue v = a\n"
                    "trajectory { horizon k  start s  phase s { -> s : g  -> deliver : otherwise } }\n"
                    "policy p { veto when not v }\n")
    data = json.loads(invoke("simulate", str(path), "--set", "k=4", "--set", "g=0.25", "--json").output)
    assert data["params"] == {"k": 4, "g": 0.25} and type(data["params"]["k"]) is int
    assert invoke("run", str(path), "--set", "k=4", "--out", str(tmp_path / "r")).exit_code == 0
    assert json.loads((tmp_path / "r" / "results.json").read_text())["params"] == {"k": 4}
