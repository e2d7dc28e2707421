"""`--json` on every command: the output parses as JSON, errors included (usage errors from
click, bad specs, bad values), as one object with the exit code unchanged; `graph --json -o`
writes the file and says where; `run --set` on a swept name runs with a note."""

from __future__ import annotations

import json
import os

import pytest
from click.testing import CliRunner

from libet.cli import LAZY_COMMANDS, main

EX = os.path.join(os.path.dirname(__file__), "..", "examples")
PREFILL = os.path.join(EX, "prefill.libet")
MOMENTUM = os.path.join(EX, "momentum.libet")


def invoke(*args):
    return CliRunner().invoke(main, [str(a) for a in args])


def parsed(r):
    try:
        return json.loads(r.stdout)
    except ValueError:  # pragma: no cover - the assertion message shows what was printed
        raise AssertionError(f"not JSON (exit {r.exit_code}):\n{r.output}") from None


COMMANDS = ["check", "fmt", "prove", "simulate", "export", "graph", "run", "report", "fit"]


def test_every_command_has_json():
    for name in sorted(set(LAZY_COMMANDS) | {"check", "fmt"}):
        if name == "test":  # another command family's; checked by its own tests
            continue
        r = invoke(name, "--help")
        assert "--json" in r.output, name


@pytest.mark.parametrize("name", COMMANDS)
def test_usage_errors_are_one_json_object(name, tmp_path):
    # an unknown option: click's own usage error
    r = invoke(name, "--json", "--no-such-option")
    assert r.exit_code == 2
    obj = parsed(r)
    assert obj["ok"] is False and obj["exit_code"] == 2 and obj["error"]["kind"] == "usage"
    assert "no-such-option" in obj["error"]["message"]
    # a missing argument
    r = invoke(name, "--json")
    assert r.exit_code == 2 and parsed(r)["error"]["kind"] == "usage"


@pytest.mark.parametrize("name", ["prove", "simulate", "export", "graph", "run"])
def test_bad_spec_is_one_json_object(name, tmp_path):
    bad = tmp_path / "bad.libet"
    bad.write_text('spec "x"\nsubstance { a: bool }\nvalue v = not b\n')
    args = [name, str(bad), "--json"]
    if name == "run":
        args += ["--out", str(tmp_path / "out")]
    r = invoke(*args)
    assert r.exit_code == 2
    obj = parsed(r)
    assert obj["error"]["kind"] == "spec" and obj["diagnostics"][0]["code"] == "E010"


@pytest.mark.parametrize(
    "args",
    [
        ["simulate", PREFILL, "--set", "nosuch=1"],
        ["simulate", PREFILL, "--experiment", "nosuch"],
        ["prove", PREFILL, "--check", "nosuch"],
        ["export", PREFILL],  # several policies: name one
        ["graph", PREFILL, "--policy", "nosuch"],
        ["graph", PREFILL, "--policy", "deep", "-o", "x.bmp"],
        ["simulate", PREFILL, "--runs", "0"],
    ],
)
def test_bad_values_are_one_json_object(args):
    r = invoke(*args, "--json")
    assert r.exit_code == 2
    obj = parsed(r)
    assert obj["ok"] is False and obj["error"]["message"]


def test_fmt_json(tmp_path):
    p = tmp_path / "a.libet"
    p.write_text('spec "x"\nsubstance {   a: bool }\n')
    r = invoke("fmt", "--check", "--json", p)
    assert r.exit_code == 1
    (entry,) = parsed(r)["files"]
    assert entry["status"] == "would reformat" and entry["diff"].startswith("---")
    r = invoke("fmt", "--json", p)
    assert r.exit_code == 0 and parsed(r)["files"][0]["status"] == "reformatted"
    r = invoke("fmt", "--json", p)
    assert parsed(r)["files"][0]["status"] == "unchanged"
    bad = tmp_path / "b.libet"
    bad.write_text("spec {\n")
    r = invoke("fmt", "--json", bad)
    assert r.exit_code == 2 and parsed(r)["files"][0]["status"] == "error"


def test_export_json(tmp_path):
    r = invoke("export", PREFILL, "--policy", "deep", "--json")
    assert r.exit_code == 0
    obj = parsed(r)
    assert obj["text"].lstrip().startswith("//") or "dtmc" in obj["text"]
    out = tmp_path / "m.pm"
    r = invoke("export", PREFILL, "--policy", "deep", "--json", "-o", out)
    assert r.exit_code == 0 and parsed(r)["output"] == str(out) and "dtmc" in out.read_text()
    r = invoke("export", PREFILL, "--policy", "deep", "--json", "-o", out)
    assert r.exit_code == 2 and "--force" in parsed(r)["error"]["message"]


@pytest.mark.parametrize("ext", ["dot", "svg"])
def test_graph_json_with_output_writes_the_file(tmp_path, ext):
    out = tmp_path / f"g.{ext}"
    r = invoke("graph", PREFILL, "--policy", "deep", "--json", "-o", out)
    assert r.exit_code == 0, r.output
    obj = parsed(r)
    assert obj["output"] == str(out) and obj["policy"] == "deep"
    assert out.exists() and out.stat().st_size > 100
    r = invoke("graph", PREFILL, "--policy", "deep", "--json", "-o", out)
    assert r.exit_code == 2 and out.stat().st_size > 100


def test_run_set_on_a_swept_name_runs_with_a_note(tmp_path):
    out = tmp_path / "r"
    r = invoke("run", PREFILL, "--set", "prefill=10", "--out", out, "--json")
    assert r.exit_code == 1, r.output  # the shallow policy still fails some checks
    data = parsed(r)
    (note,) = data["notes"]
    assert "prefill_sweep sweeps prefill and keeps its sweep" in note
    (exp,) = data["experiments"]
    assert exp["vary"] == ["prefill"]
    assert data["set"] == {"prefill": 10}
    assert "keeps its sweep" in (out / "report.html").read_text()
    r = invoke("run", PREFILL, "--set", "prefill=10", "--out", tmp_path / "r2")
    assert "note: --set prefill=10" in r.output


def test_run_set_on_an_experiments_set_line_keeps_its_value_with_a_note(tmp_path):
    """The experiment's `set topic = weapons` is its scenario: `run --set topic=everyday` applies
    to the checks, the experiment keeps weapons, and a note says so (it used to say nothing)."""
    r = invoke("run", PREFILL, "--set", "topic=everyday", "--out", tmp_path / "r", "--json")
    data = parsed(r)
    (note,) = data["notes"]
    assert "experiment prefill_sweep sets topic = weapons and keeps it" in note
    (exp,) = data["experiments"]
    assert exp["set"]["topic"] == "weapons" and "not_run" not in exp
    assert data["set"] == {"topic": "everyday"}
