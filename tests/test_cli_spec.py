"""`libet check`, `libet fmt`, `libet --version`, and how diagnostics are rendered."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest
from click.testing import CliRunner

import libet
from libet.cli import main
from libet.spec.diagnostics import render_all
from libet.spec.loader import load_text


def invoke(*args):
    return CliRunner().invoke(main, list(args), catch_exceptions=False)


def test_version():
    r = invoke("--version")
    assert r.exit_code == 0 and r.output.strip() == f"libet, version {libet.__version__}"


def test_check_prints_a_summary(tmp_path):
    p = tmp_path / "s.libet"
    p.write_text(
        'spec "Small"\nsubstance { topic: {a, b}\n uplift: 0..3 }\nframing { persona: {none, fiction} }\n'
        "value v = topic == a\ntrajectory { horizon 8 start q phase q { -> q : 0.5 -> stop : otherwise } }\n"
        "policy p { veto when violates v }\ncheck p { complete }\n"
    )
    r = invoke("check", str(p))
    assert r.exit_code == 0
    assert "warning[W102]: variable 'uplift' is never used" in r.stderr
    assert r.stdout.splitlines() == [
        f"{p}: ok — Small",
        "  substance:  topic {a, b} (2), uplift 0..3 (4)",
        "  framing:    persona {none, fiction} (2)",
        "  assignments: 16",
        "  values:     v",
        "  policies:   p",
        "  trajectory: phases q; horizon 8, 8 states per assignment",
        "  checks:     1; experiments: none",
    ]


def test_check_json(tmp_path):
    good = tmp_path / "good.libet"
    good.write_text("substance { x: bool }\nvalue v = x\n")
    bad = tmp_path / "bad.libet"
    bad.write_text("substance { x: bool }\nvalue v = y\n")
    r = invoke("check", "--json", str(good), str(bad))
    assert r.exit_code == 2
    out = json.loads(r.output)
    assert [e["ok"] for e in out] == [True, False]
    assert out[0]["summary"]["assignments"] == 2
    (d,) = out[1]["diagnostics"]
    assert d["code"] == "E010" and d["severity"] == "error"
    assert d["location"] == {"file": str(bad), "line": 2, "col": 11, "end_line": 2, "end_col": 12}
    assert d["message"] == "undefined name 'y'"


def test_check_reports_all_errors_of_a_file_at_once(tmp_path):
    p = tmp_path / "many.libet"
    p.write_text("substance { x: bool }\nvalue a = y\nvalue b = x + 1\npolicy p { veto when z }\n")
    r = invoke("check", str(p))
    assert r.exit_code == 2
    assert r.output.count("error[") == 3 and "3 error(s), 0 warning(s)" in r.output


def test_rendered_diagnostic_has_location_source_line_caret_and_hint():
    text = "substance {\n  topic: {everyday, weapons}\n}\nvalue v = topic == wepons\n"
    loaded = load_text(text, "demo.libet")
    assert render_all(loaded.diagnostics, loaded.sources) == (
        "demo.libet:4:20: error[E021]: 'wepons' is not a value of the enum {everyday, weapons}\n"
        "    4 | value v = topic == wepons\n"
        "      |                    ^~~~~~\n"
        "  hint: did you mean 'weapons'?\n"
        "1 error(s), 0 warning(s)"
    )


def test_duplicate_diagnostic_points_at_the_first_declaration():
    loaded = load_text("substance { x: bool }\ncontext { x: bool }\nvalue v = x\n", "d.libet")
    text = render_all(loaded.diagnostics, loaded.sources)
    assert "d.libet:2:11: error[E011]: 'x' is already declared as a variable" in text
    assert "note: d.libet:1:13: first declared here" in text


def test_fmt_check_and_rewrite(tmp_path):
    p = tmp_path / "f.libet"
    p.write_text("substance{x:bool}\nvalue v=x\n")
    r = invoke("fmt", "--check", str(p))
    assert r.exit_code == 1 and "would reformat" in r.output
    assert p.read_text() == "substance{x:bool}\nvalue v=x\n"  # --check changes nothing
    r = invoke("fmt", str(p))
    assert r.exit_code == 0
    assert p.read_text() == "substance {\n  x: bool\n}\nvalue v = x\n"
    assert invoke("fmt", "--check", str(p)).exit_code == 0


def test_fmt_diff(tmp_path):
    p = tmp_path / "f.libet"
    p.write_text("substance{x:bool}\n")
    r = invoke("fmt", "--diff", str(p))
    assert r.exit_code == 1 and "+  x: bool" in r.output and "-substance{x:bool}" in r.output


def test_fmt_refuses_a_file_that_does_not_parse(tmp_path):
    p = tmp_path / "f.libet"
    p.write_text("substance {\n")
    r = invoke("fmt", str(p))
    assert r.exit_code == 2 and "error[E001]" in r.output
    assert p.read_text() == "substance {\n"


def test_unknown_command_and_missing_argument_exit_2():
    assert invoke("frobnicate").exit_code == 2
    assert invoke("check").exit_code == 2


def test_color_only_on_a_terminal(tmp_path):
    p = tmp_path / "b.libet"
    p.write_text("substance { x: bool }\nvalue v = y\n")
    r = subprocess.run([sys.executable, "-m", "libet", "check", str(p)], capture_output=True, text=True)
    assert r.returncode == 2 and "\x1b[" not in r.stderr


def test_load_raises_one_exception_with_every_diagnostic(tmp_path):
    p = tmp_path / "b.libet"
    p.write_text("substance { x: bool }\nvalue a = y\nvalue b = z\n")
    with pytest.raises(libet.SpecError) as info:
        libet.load(p)
    assert [d.code for d in info.value.diagnostics] == ["E010", "E010"]
    assert isinstance(info.value, libet.LibetError)
    assert "b.libet:2:11" in info.value.render()


def test_rendered_measure_diagnostics_point_at_the_phase_and_say_how_to_fix_it():
    text = (
        "substance { topic: {everyday, weapons} }\n"
        "value ok = topic == everyday\n"
        "trajectory { horizon 4  start answer  phase answer { -> scratchpad : 0.5  -> deliver : otherwise }\n"
        "  phase scratchpad { -> answer : 1 } }\n"
        "policy p { veto when violates ok }\n"
        "check p { P(visit scratchpd) <= 0.05 }\n"
    )
    loaded = load_text(text, "m.libet")
    assert render_all(loaded.diagnostics, loaded.sources) == (
        "m.libet:6:19: error[E010]: there is no phase 'scratchpd' to visit\n"
        "    6 | check p { P(visit scratchpd) <= 0.05 }\n"
        "      |                   ^~~~~~~~~\n"
        "  hint: did you mean 'scratchpad'?\n"
        "1 error(s), 0 warning(s)"
    )


def test_check_json_reports_a_measure_warning_and_exits_0(tmp_path):
    p = tmp_path / "w.libet"
    p.write_text(
        "substance { topic: {everyday, weapons} }\nvalue ok = topic == everyday\n"
        "trajectory { horizon 4  start answer  phase answer { -> deliver : 1 } }\n"
        "policy p { veto when violates ok }\ncheck p { P(harm | vetoed and stopped) <= 0.05 }\n"
    )
    r = invoke("check", "--json", str(p))
    assert r.exit_code == 0
    (entry,) = json.loads(r.output)
    (d,) = entry["diagnostics"]
    assert (d["code"], d["severity"]) == ("W105", "warning")
    assert d["location"]["line"] == 5 and d["location"]["col"] == 20
    assert d["message"] == (
        "the condition 'vetoed and stopped' can never hold, so P(harm | vetoed and stopped) is undefined on every assignment"
    )


WARNED = '''spec "w"
substance { a: bool }
param unused = 0.5COMMENT
value v = not a
policy p { veto when violates v }
'''


@pytest.mark.parametrize("comment,suppressed", [
    ("  # libet: ignore[W102]", True),
    ("  # libet: ignore[w102, W101]", True),
    ("  # libet: ignore", True),
    ("  # libet: ignore[W101]", False),
    ("", False),
])
def test_a_suppression_comment_silences_a_warning_on_its_line(tmp_path, comment, suppressed):
    p = tmp_path / "w.libet"
    p.write_text(WARNED.replace("COMMENT", comment))
    r = invoke("check", "--json", str(p))
    (entry,) = json.loads(r.output)
    codes = [d["code"] for d in entry["diagnostics"]]
    assert ("W102" not in codes) == suppressed
    assert entry["suppressed"] == (1 if suppressed else 0)
    assert r.exit_code == 0
    spec = libet.load(str(p))
    assert any(d.code == "W102" for d in spec.warnings) != suppressed


def test_warnings_as_errors(tmp_path):
    p = tmp_path / "w.libet"
    p.write_text(WARNED.replace("COMMENT", ""))
    r = invoke("check", "--warnings-as-errors", str(p))
    assert r.exit_code == 2 and "made an error by --warnings-as-errors" in r.output
    r = invoke("--warnings-as-errors", "simulate", str(p), "--json")
    assert r.exit_code == 2 and json.loads(r.stdout)["error"]["kind"] == "spec"
    p.write_text(WARNED.replace("COMMENT", "  # libet: ignore[W102]"))
    assert invoke("check", "--warnings-as-errors", str(p)).exit_code == 0


def test_an_unknown_code_in_a_suppression_comment_is_named(tmp_path):
    p = tmp_path / "w.libet"
    p.write_text(WARNED.replace("COMMENT", "  # libet: ignore[W1O2]"))
    r = invoke("check", str(p))
    assert r.exit_code == 0
    assert "unknown code W1O2 in a suppression comment" in r.output
