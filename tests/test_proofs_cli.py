"""`libet prove`: the table, evidence, JSON, DOT/SVG traces, exit codes 0/1/2/3, and bad input
that exits with 2 and a message, never a traceback; and `Specification.prove`."""

from __future__ import annotations

import json
import os
import shutil

import pytest
from click.testing import CliRunner

import libet
from libet.cli import main
from libet.errors import UsageError
from libet.results import Status

PREFILL = "examples/prefill.libet"


def invoke(*args):
    r = CliRunner().invoke(main, list(args), catch_exceptions=False)
    assert "Traceback" not in r.output
    return r


def write(tmp_path, text: str, name: str = "spec.libet") -> str:
    path = tmp_path / name
    path.write_text(text)
    return str(path)


def test_table_with_counterexamples_and_proofs_exit_1():
    r = invoke("prove", PREFILL)
    assert r.exit_code == 1, r.output
    lines = r.output.splitlines()
    assert lines[0].split() == ["policy", "check", "result", "time"]
    rows = {tuple(line.split()[:2]) + (line.split()[-3],) for line in lines[2:14]}
    assert ("shallow", "safe", "VIOLATED") in rows and ("deep", "safe", "PROVED") in rows
    assert "\nCounterexamples\n" in r.output and "\nProofs\n" in r.output
    assert "only the depth differs: 4 → 5" in r.output
    assert "reaching the horizon 64 delivers" in r.output


def test_all_proved_exit_0_and_selection_by_policy_and_check():
    r = invoke("prove", PREFILL, "--policy", "deep")
    assert r.exit_code == 0, r.output
    assert "shallow" not in r.output
    r = invoke("prove", PREFILL, "--check", "invariant under depth", "--check", "safe", "--json")
    data = json.loads(r.output)
    assert [(d["policy"], d["check"]) for d in data] == [
        ("shallow", "invariant under depth"),
        ("deep", "invariant under depth"),
        ("shallow", "safe"),
        ("deep", "safe"),
    ]


def test_json_has_status_and_counterexample():
    r = invoke("prove", PREFILL, "--json")
    assert r.exit_code == 1
    data = json.loads(r.output)
    assert len(data) == 12
    for d in data:
        assert d["status"] in ("PROVED", "VIOLATED", "UNKNOWN")
        assert ("counterexample" in d) == (d["status"] == "VIOLATED")
        assert ("proof" in d) == (d["status"] == "PROVED")
    safe = next(d for d in data if (d["policy"], d["check"]) == ("shallow", "safe"))
    cex = safe["counterexample"]
    assert cex["kind"] == "safe" and cex["assignment"]["prefill"] == 40
    assert len(cex["steps"]) == 24 and cex["end"] == "horizon"
    depth = next(d for d in data if (d["policy"], d["check"]) == ("shallow", "invariant under depth"))
    assert depth["counterexample"]["first"]["veto"] == 1.0 and depth["counterexample"]["second"]["veto"] == 0.0


def test_trace_dot_writes_dot_and_svg_and_refuses_to_overwrite(tmp_path):
    out = tmp_path / "traces"
    r = invoke("prove", PREFILL, "--check", "safe", "--trace-dot", str(out))
    assert r.exit_code == 1, r.output
    dot = (out / "shallow-safe.dot").read_text()
    assert dot.startswith("digraph trace {") and "delivered at depth 64" in dot
    assert not (out / "deep-safe.dot").exists()  # deep is proved: no trace
    if shutil.which("dot"):
        assert (out / "shallow-safe.svg").read_text().lstrip().startswith(("<?xml", "<svg"))
    r = invoke("prove", PREFILL, "--check", "safe", "--trace-dot", str(out))
    assert r.exit_code == 2 and "pass --force" in r.output
    r = invoke("prove", PREFILL, "--check", "safe", "--trace-dot", str(out), "--force")
    assert r.exit_code == 1
    # an existing folder, even one without traces in it, is not written into without --force
    other = tmp_path / "mine"
    other.mkdir()
    (other / "notes.txt").write_text("mine")
    r = invoke("prove", PREFILL, "--check", "safe", "--trace-dot", str(other))
    assert r.exit_code == 2 and "pass --force" in r.output and not (other / "shallow-safe.dot").exists()


def test_trace_dot_where_a_trace_name_is_a_folder_is_a_usage_error_before_proving(tmp_path):
    out = tmp_path / "traces"
    (out / "shallow-safe.dot").mkdir(parents=True)
    (out / "notes.txt").write_text("mine")
    r = invoke("prove", PREFILL, "--check", "safe", "--trace-dot", str(out), "--force")
    assert r.exit_code == 2, r.output  # was an internal error (IsADirectoryError), exit 70
    assert f"{out / 'shallow-safe.dot'} is a folder, where the trace of shallow · safe would be written" in r.output
    assert "hint: remove or rename it" in r.output
    assert "PROVED" not in r.output and "VIOLATED" not in r.output  # said before any check ran
    (out / "shallow-safe.dot").rmdir()
    # with --force the traces are written and every other file in the folder is kept
    r = invoke("prove", PREFILL, "--check", "safe", "--trace-dot", str(out), "--force")
    assert r.exit_code == 1 and (out / "shallow-safe.dot").is_file()
    assert (out / "notes.txt").read_text() == "mine"


def test_set_overrides_a_param_and_restricts_a_variable(tmp_path):
    path = write(
        tmp_path,
        """spec "param"
substance { s: bool }
framing { f: 0..2 }
param k = 1 in [0, 1]
value ok = not s
trajectory { horizon 3  start p at depth f  phase p { -> p : 1 } }
policy strong { veto when violates ok with strength k }
policy shallow { veto when violates ok and depth < 1 }
check strong, shallow { complete  safe }
""",
    )
    r = invoke("prove", path, "--policy", "strong", "--json")
    assert {d["check"]: d["status"] for d in json.loads(r.output)} == {"complete": "PROVED", "safe": "PROVED"}
    r = invoke("prove", path, "--policy", "strong", "--json", "--set", "k=0.5")
    assert {d["check"]: d["status"] for d in json.loads(r.output)} == {"complete": "VIOLATED", "safe": "VIOLATED"}
    # shallow is beaten by starting at depth f >= 1 (f = 3 would be the horizon: delivered at
    # once, whatever the veto); restricted to f = 0 it is safe
    r = invoke("prove", path, "--policy", "shallow", "--check", "safe", "--json")
    assert json.loads(r.output)[0]["status"] == "VIOLATED"
    r = invoke("prove", path, "--policy", "shallow", "--check", "safe", "--json", "--set", "f=0")
    assert json.loads(r.output)[0]["status"] == "PROVED"
    assert json.loads(r.output)[0]["details"]["fixed"] == {"f": 0}


def test_unknown_exits_3(tmp_path):
    xs = "\n".join(f"  x{i}: 0..255" for i in range(80))
    total = " + ".join(f"0.{i % 9 + 1} * x{i}" for i in range(80))
    path = write(
        tmp_path,
        f"""spec "big"
substance {{ s: bool }}
framing {{
{xs}
}}
value ok = not s
trajectory {{ horizon 2  start p  phase p {{ -> deliver : 1 }} }}
policy framed {{ veto when violates ok and {total} >= 5000 }}
check framed {{ invariant under framing }}
""",
    )
    r = invoke("prove", path, "--rlimit", "1")
    assert r.exit_code == 3, r.output
    assert "UNKNOWN" in r.output and "resource limit" in r.output


@pytest.mark.parametrize(
    "args, message",
    [
        (["--policy", "nope"], "no policy 'nope'"),
        (["--check", "invariant under nothing"], "no qualitative check"),
        (["--set", "gain=7"], "outside the range"),
        (["--set", "prefill=99"], "is not a value of prefill"),
        (["--set", "nothing=1"], "no param or variable"),
        (["--timeout", "0"], "0"),
        (["--rlimit", "-3"], "-3"),
    ],
)
def test_bad_options_exit_2_with_a_message(args, message):
    r = invoke("prove", PREFILL, *args)
    assert r.exit_code == 2, r.output
    assert message in r.output


def test_bad_files_exit_2_with_diagnostics(tmp_path):
    r = invoke("prove", str(tmp_path / "missing.libet"))
    assert r.exit_code == 2 and "not found" in r.output
    path = write(tmp_path, 'spec "broken"\npolicy p { veto when nothing_here }\n')
    r = invoke("prove", path)
    assert r.exit_code == 2 and "E010" in r.output
    r = invoke("prove", path, "--json")
    assert r.exit_code == 2 and json.loads(r.output)["diagnostics"][0]["code"] == "E010"


def test_a_spec_error_found_only_while_proving_is_a_diagnostic(tmp_path):
    # 1000**3 states are too many for the checker to try every strength (warning W103); the
    # strength exceeds 1 exactly where the rule fires, which the counterexample's replay meets
    path = write(
        tmp_path,
        """spec "late error"
substance { s: bool }
framing { a: 0..999  b: 0..999  c: 0..999 }
value ok = not s
trajectory { horizon 2  start p  phase p { -> deliver : 1 } }
policy loud { veto when a + b + c >= 2500 with strength (a + b + c) / 1000 }
check loud { no over-refusal }
""",
    )
    r = invoke("prove", path)
    assert r.exit_code == 2, r.output
    assert "E042" in r.output and "veto strength" in r.output
    assert "spec.libet:6:" in r.output  # the location of the strength


def test_python_api_prove():
    spec = libet.load(PREFILL)
    results = spec.prove(policy="shallow", check=["safe", "complete"], timeout=10)
    assert [(r.check, r.status) for r in results] == [("complete", Status.VIOLATED), ("safe", Status.VIOLATED)]
    assert results[1].counterexample.start_depth == 40
    with pytest.raises(UsageError):
        spec.prove(policy="nope")
    with pytest.raises(UsageError):
        spec.prove(params={"gain": 5})


def test_demo_runs_on_every_example():
    for path in sorted(os.listdir("examples")):
        if path.endswith(".libet"):
            r = invoke("prove", os.path.join("examples", path), "--timeout", "30")
            assert r.exit_code in (0, 1), (path, r.output)


def test_a_probability_out_of_range_where_the_checker_could_not_look_is_a_diagnostic(tmp_path):
    # the strength is fine (at most 2997/3000), the probability of `-> deliver` is not (2997/2500)
    path = write(
        tmp_path,
        """spec "late error"
substance { s: bool }
framing { a: 0..999  b: 0..999  c: 0..999 }
value ok = not s
trajectory { horizon 2  start p  phase p { -> deliver : (a + b + c) / 2500  -> stop : otherwise } }
policy loud { veto when a + b + c >= 2500 with strength (a + b + c) / 3000 }
check loud { safe }
""",
    )
    r = invoke("prove", path)
    assert r.exit_code == 2, r.output
    assert "E041" in r.output and "probability of '-> deliver'" in r.output
    assert "spec.libet:5:" in r.output


def test_a_start_depth_beyond_the_horizon_where_the_checker_could_not_look_is_a_diagnostic(tmp_path):
    path = write(
        tmp_path,
        """spec "late error"
substance { s: bool }
framing { a: 0..999  b: 0..999 }
value ok = not s
trajectory { horizon 10  start p at depth (if a == 999 and b == 998 then 11 else 0)  phase p { -> deliver : 1 } }
policy deep { veto when violates ok }
check deep { safe }
""",
    )
    r = invoke("prove", path)
    assert r.exit_code == 2, r.output
    assert "E043" in r.output and "a=999, b=998" in r.output


@pytest.mark.parametrize(
    "setting, message, hint",
    [
        ("observed=True", "'True' is not a value of observed (domain bool)", "a bool is written true or false"),
        ("uplift=3.0", "'3.0' is not a value of uplift (domain 0..3)", "write it as a whole number: 3"),
        ("prefill=1e1", "'1e1' is not a value of prefill (domain 0..40)", "write it as a whole number: 10"),
        ("topic=WEAPONS", "'WEAPONS' is not a value of topic", "did you mean 'weapons'? (names are case-sensitive)"),
        ("topic=weapon", "'weapon' is not a value of topic", "did you mean 'weapons'?"),
        # a number past the largest double in six digits, not its 401
        ("gain=1e400", "error: 1e+400 lies outside the range [0, 1] of param gain", "the range is declared with `param NAME = DEFAULT in [LO, HI]`"),
        # Python's readings of a number took these (as 0.1, 0.1 and 1, and 0 in every engine)
        ("gain=0_1", "param gain takes a number, not '0_1'", "written as in a spec (0.25, 3, 1e-6) or as a ratio (1/3)"),
        ("gain=０.1", "param gain takes a number, not '０.1'", "written as in a spec"),
        ("gain=1e-400", "param gain is computed in double precision, and 1e-400 is 0 there", "give 0, or a number"),
        ("prefill=1_0", "'1_0' is not a value of prefill (domain 0..40)", "write it as a whole number: 10"),
    ],
)
def test_a_near_miss_in_set_gets_a_hint(setting, message, hint):
    r = invoke("simulate", PREFILL, "--set", setting)
    assert r.exit_code == 2, r.output
    assert message in r.output and f"hint: {hint}" in r.output, r.output
    assert len(r.output) < 400


def test_a_real_param_past_the_largest_double_is_refused_in_words(tmp_path):
    """An unranged real param set to 1e400 was an internal OverflowError in every engine."""
    path = write(tmp_path, """substance { x: 0..3 }
param big = 2
value ok = x < 2
trajectory { horizon 3 start a phase a { -> a : min(1, 0.1 * big) -> stop : otherwise } }
policy p { veto when violates ok }
check p { safe }
""")
    for command in ("simulate", "prove"):
        r = invoke(command, path, "--set", "big=1e400")
        assert r.exit_code == 2, r.output
        assert "param big is computed in double precision, and 1e+400 is past the largest double" in r.output
        assert "internal error" not in r.output
    assert invoke("simulate", path, "--set", "big=-1e300").exit_code == 2  # E041, the spec's own error


def test_a_value_far_from_any_gets_no_hint():
    r = invoke("simulate", PREFILL, "--set", "uplift=9")
    assert r.exit_code == 2 and "9 is not a value of uplift (domain 0..3)" in r.output and "hint" not in r.output
