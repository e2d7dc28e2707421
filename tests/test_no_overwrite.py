"""Nothing a user had is overwritten without --force: every command's every output option,
pointed at an existing file and at an existing folder, refuses with exit code 2 and leaves
them as they were; with --force it writes. A table below names every output option, and a
test fails when a command grows a path option the table does not classify."""

from __future__ import annotations

import os

import click
import pytest
from click.testing import CliRunner

import libet
from libet.cli import main

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
PREFILL = os.path.join(ROOT, "examples", "prefill.libet")
GREENBLATT = os.path.join(ROOT, "examples", "calibration", "greenblatt.libet")
SENTINEL = "the user's own file\n"

IMPL = "def deep(s):\n    return s['topic'] == 'weapons' and s['uplift'] >= 2\n"


def _args(command: str, tmp, option: str | None = None) -> list[str]:
    """Arguments that make ``command`` produce output (its output option comes after them)."""
    if command == "report":
        results = tmp / "results"
        r = CliRunner().invoke(main, ["run", PREFILL, "--out", str(results), "--timeout", "5"])
        assert r.exit_code in (0, 1), r.output
        return ["report", str(results)]
    if command == "test":
        impl = tmp / "impl.py"
        impl.write_text(IMPL)
        return ["test", PREFILL, "--veto", f"{impl}:deep", "--property", "complete", "--set", "prefill=0"]
    if command == "fit":
        # with --plot, no fitted spec (it would go beside the example, in the repository)
        return ["fit", GREENBLATT, "--experiment", "compliance_gap", "--starts", "1"] + (
            ["--no-spec"] if option == "--plot" else [])
    return {
        "export": ["export", "--prism", PREFILL, "--policy", "deep"],
        "graph": ["graph", PREFILL, "--policy", "deep"],
        "prove": ["prove", PREFILL, "--check", "safe"],
        "run": ["run", PREFILL, "--timeout", "5"],
        "simulate": ["simulate", PREFILL, "--experiment", "all"],
    }[command]


#: (command, option, what it writes, the name the output gets): every output of every command.
OUTPUTS = [
    ("export", "-o", "file", "model.prism"),
    ("fit", "--out", "file", "fitted.libet"),
    ("fit", "--plot", "file", "fit.png"),
    ("graph", "-o", "file", "graph.svg"),
    ("prove", "--trace-dot", "folder", "traces"),
    ("report", "-o", "file", "page.html"),
    ("run", "--out", "folder", "results-out"),
    ("simulate", "--out", "folder", "sim-out"),
    ("test", "--write-policy", "file", "measured.libet"),
]

#: Path options and arguments that are only read.
INPUTS = {("check", "files"), ("diff", "file"), ("export", "file"), ("fit", "file"), ("fit", "data"),
          ("fmt", "files"), ("graph", "file"),
          ("prove", "file"), ("report", "folder"), ("run", "file"), ("simulate", "file"), ("test", "file"),
          ("test", "corpus"), ("test", "bind")}


def invoke(args):
    r = CliRunner().invoke(main, args, catch_exceptions=False)
    assert "Traceback" not in r.output
    return r


def test_every_path_option_of_every_command_is_classified():
    ctx = click.Context(main)
    seen = set()
    for name in main.list_commands(ctx):
        for p in main.get_command(ctx, name).params:
            if isinstance(p.type, click.Path) or p.name in ("file", "files", "folder"):
                seen.add((name, p.name))
    outputs = {(c, _param_name(c, opt)) for c, opt, _, _ in OUTPUTS}
    assert seen == INPUTS | outputs, "a new path option: add it to OUTPUTS (and test it) or to INPUTS"


def _param_name(command: str, opt: str) -> str:
    cmd = main.get_command(click.Context(main), command)
    return next(p.name for p in cmd.params if opt in getattr(p, "opts", ()))


def _user_file(path):
    path.write_text(SENTINEL)


def _user_folder(path):
    path.mkdir()
    (path / "notes.txt").write_text(SENTINEL)


def _untouched(path, kind):
    if kind == "file":
        return path.is_file() and path.read_bytes() == SENTINEL.encode()
    return path.is_dir() and sorted(os.listdir(path)) == ["notes.txt"] and (path / "notes.txt").read_text() == SENTINEL


@pytest.mark.parametrize("command,option,kind,name", OUTPUTS, ids=[f"{c} {o}" for c, o, _, _ in OUTPUTS])
@pytest.mark.parametrize("existing", ["file", "folder"])
def test_an_existing_output_is_refused_without_force(tmp_path, command, option, kind, name, existing):
    args = _args(command, tmp_path, option)
    target = tmp_path / name
    (_user_file if existing == "file" else _user_folder)(target)
    r = invoke([*args, option, str(target)])
    assert r.exit_code == 2, r.output
    assert _untouched(target, existing), f"{command} {option} changed the user's {existing}"
    assert str(target) in r.output or os.path.basename(str(target)) in r.output, r.output


@pytest.mark.parametrize("command,option,kind,name", OUTPUTS, ids=[f"{c} {o}" for c, o, _, _ in OUTPUTS])
def test_force_writes_over_an_existing_output_of_its_kind(tmp_path, command, option, kind, name):
    args = _args(command, tmp_path, option)
    target = tmp_path / name
    (_user_file if kind == "file" else _user_folder)(target)
    r = invoke([*args, option, str(target), "--force"])
    assert r.exit_code in (0, 1), r.output
    assert not _untouched(target, kind)


def test_run_default_folder_is_not_overwritten(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    _user_folder(tmp_path / "prefill-results")
    r = invoke(["run", PREFILL, "--timeout", "5"])
    assert r.exit_code == 2, r.output
    assert _untouched(tmp_path / "prefill-results", "folder")


def test_report_default_page_that_libet_did_not_write_is_not_overwritten(tmp_path):
    args = _args("report", tmp_path)
    page = tmp_path / "results" / "report.html"
    page.write_text(SENTINEL)
    r = invoke(args)
    assert r.exit_code == 2, r.output
    assert page.read_text() == SENTINEL


def test_an_experiment_result_is_written_over_existing_files_only_with_force(tmp_path):
    """`ExperimentResult.write` (the Python API) replaced a user's NAME.csv in silence, where every
    command refuses; and two measures of one slug wrote one plot over the other."""
    spec = libet.loads("""substance { topic: {everyday, weapons} }
value no_weapons = topic != weapons
trajectory {
  horizon 4
  start a
  phase a { -> a_and_visit_b : 0.5  -> b : otherwise }
  phase b { -> a : 0.5 -> deliver : otherwise }
  phase a_and_visit_b { -> a : 0.5 -> deliver : otherwise }
}
policy p { veto when violates no_weapons and phase == b }
experiment e { policies p  vary topic over [everyday, weapons]  measure P(visit a and visit b), P(visit a_and_visit_b) }
""")
    result = spec.experiment("e")
    written = result.write(str(tmp_path), plots=True)
    names = sorted(os.path.basename(p) for p in written)
    assert names == ["e.csv", "e.json", "e_p_visit_a_and_visit_b.png", "e_p_visit_a_and_visit_b.svg",
                     "e_p_visit_a_and_visit_b_2.png", "e_p_visit_a_and_visit_b_2.svg"]
    assert len(set(written)) == 6 and all(os.path.getsize(p) > 0 for p in written)
    (tmp_path / "e.csv").write_text(SENTINEL)
    with pytest.raises(libet.UsageError, match=r"e\.csv exists \(and 5 more of experiment e's files\)") as exc:
        result.write(str(tmp_path))
    assert "force=True" in exc.value.hint
    assert (tmp_path / "e.csv").read_text() == SENTINEL
    fresh = tmp_path / "fresh"
    fresh.mkdir()
    (fresh / "e_p_visit_a_and_visit_b_2.svg").write_text(SENTINEL)  # only a plot's file there
    with pytest.raises(libet.UsageError, match=r"e_p_visit_a_and_visit_b_2\.svg exists$"):
        result.write(str(fresh))
    assert os.listdir(fresh) == ["e_p_visit_a_and_visit_b_2.svg"]  # nothing written
    assert result.write(str(fresh), plots=False) == [str(fresh / "e.csv"), str(fresh / "e.json")]
    result.write(str(fresh), force=True)
    assert (fresh / "e_p_visit_a_and_visit_b_2.svg").read_text() != SENTINEL
