"""Measured data files: the `data` line, CSV and JSON rows checked against the spec, every
problem located (file, line, column) with a stable code and exit code 2 on the command line."""

from __future__ import annotations

import json

import pytest
from click.testing import CliRunner

import libet
from libet.cli import main
from libet.errors import DataError, UsageError
from libet.simulator import data

SPEC = """spec "one step family"
framing { k: 0..2  persona: {none, fiction} }
param p = 0.5 in [0, 1]
param q = 0.5 in [0, 1]
trajectory {
  horizon 3
  start go at depth k
  phase go { -> go : p  -> stop : otherwise }
}
policy none_ { veto when false }
policy half { veto when persona == fiction with strength q }
experiment e {
  policies none_
  vary k over 0..2
  set persona = none
  measure P(delivered)
  data "e.csv"
}
experiment two {
  policies none_, half
  vary k over 0..2
  vary persona over [none, fiction]
  measure P(delivered), P(vetoed)
}
experiment steps {
  policies half
  vary k over 0..2
  measure E(depth), E(refusals)
}
"""


@pytest.fixture
def spec_dir(tmp_path):
    (tmp_path / "s.libet").write_text(SPEC)
    (tmp_path / "e.csv").write_text("k,observed,n,source\n0,0.125,100,made up\n1,0.25,40,made up\n")
    return tmp_path


def load(d):
    return libet.load(str(d / "s.libet"))


def errors(spec, exp, path):
    with pytest.raises(DataError) as info:
        data.load(spec.ir, exp, str(path))
    return info.value


def test_data_line_parses_formats_and_resolves_beside_the_spec(spec_dir):
    s = load(spec_dir)
    exp = s.ir.experiments["e"]
    assert exp.data == "e.csv"
    assert exp.data_path() == str(spec_dir / "e.csv")
    from libet.spec.formatter import format_text

    assert '  data "e.csv"\n' in format_text(SPEC, "s.libet")
    d = data.load(s.ir, "e")  # the file the data line names
    assert [(r.row, dict(r.point), r.observed, r.n, r.successes, r.kind) for r in d.rows] == [
        (1, {"k": 0}, 0.125, 100.0, 12.5, "binomial"),
        (2, {"k": 1}, 0.25, 40.0, 10.0, "binomial"),
    ]
    assert d.sources == ("made up",) and len(d.sha256) == 64


def test_json_rows_equal_csv_rows(spec_dir):
    s = load(spec_dir)
    (spec_dir / "e.json").write_text(json.dumps({"rows": [
        {"k": 0, "observed": 0.125, "n": 100, "source": "made up"},
        {"k": 1, "observed": 0.25, "n": 40, "source": "made up"}]}, indent=1))
    a = data.load(s.ir, "e", str(spec_dir / "e.json"))
    b = data.load(s.ir, "e")
    assert a.rows == b.rows


def test_every_problem_is_located(spec_dir):
    s = load(spec_dir)
    bad = spec_dir / "bad.csv"
    bad.write_text("k,observed,n,successes\n3,0.5,10,5\n1,1.5,10,\n2,0.5,10,11\n1,0.5,0,\n")
    e = errors(s, "e", bad)
    got = [(d.code, d.span.line, d.span.col, d.message) for d in e.diagnostics]
    assert got == [
        ("E081", 2, 1, "row 1, column 'k': 3 is not a value of k (domain 0..2)"),
        ("E081", 3, 3, "row 2: observed 1.5 is a probability (P(delivered)) and must lie in [0, 1]"),
        ("E081", 4, 10, "row 3: 11 successes lie outside 0..n = 0..10"),
        ("E081", 5, 7, "row 4: n must be a positive count, not 0"),
    ]
    text = e.render()
    assert "bad.csv:4:10: error[E081]" in text and "    4 | 2,0.5,10,11\n      |          ^~" in text


def test_a_std_below_the_engines_rounding_is_refused(spec_dir):
    """A std of 1e-300 made every residual over it overflow: the fit saw infinity at every
    point and blamed the model ("no valid value, or the fit did not converge"), with numpy's
    overflow warning printed. A std below MIN_STD is refused where it is written; MIN_STD
    itself is taken."""
    s = load(spec_dir)
    bad = spec_dir / "tiny.csv"
    bad.write_text(f"k,observed,std\n0,0.5,1e-300\n1,0.25,{data.MIN_STD!r}\n")
    (d,) = errors(s, "e", bad).diagnostics
    assert (d.code, d.span.line, d.span.col, d.message) == ("E081", 2, 7, "row 1: std 1e-300 is below 1e-12")
    assert "1e-15" in d.hint


def test_more_trials_than_double_precision_resolves_are_refused(spec_dir):
    """With n = 10^200 the likelihood's rounding dwarfed its cut-off and every profile looked
    flat ("not pinned down by the data"); past MAX_N trials a row is refused, MAX_N is taken."""
    s = load(spec_dir)
    bad = spec_dir / "many.csv"
    bad.write_text(f"k,observed,n\n0,0.125,1e200\n1,0.25,{data.MAX_N}\n")
    (d,) = errors(s, "e", bad).diagnostics
    assert (d.code, d.span.line, d.span.col, d.message) == ("E081", 2, 9, "row 1: n 1e+200 is more than 10^12 trials")


def test_an_expected_count_past_the_horizon_is_refused(spec_dir):
    """An expectation of depth, steps or refusals lies in 0..horizon: 1e300 was taken, and
    squared past double precision, the fit blamed the model. The horizon itself is taken."""
    s = load(spec_dir)
    bad = spec_dir / "steps.csv"
    bad.write_text("k,measure,observed\n0,E(depth),1e300\n1,E(refusals),3.5\n2,E(depth),3\n")
    got = [(d.span.line, d.span.col, d.message) for d in errors(s, "steps", bad).diagnostics]
    assert got == [
        (2, 12, "row 1: observed 1e+300 is an expectation of a count of steps (E(depth)) and cannot exceed the horizon, 3"),
        (3, 15, "row 2: observed 3.5 is an expectation of a count of steps (E(refusals)) and cannot exceed the horizon, 3"),
    ]


def test_unknown_and_missing_columns(spec_dir):
    s = load(spec_dir)
    bad = spec_dir / "cols.csv"
    bad.write_text("kk,persona,observed\n1,none,0.5\n")
    msgs = [(d.code, d.span.col, d.message) for d in errors(s, "e", bad).diagnostics]
    assert msgs[0][:2] == ("E080", 1) and "column 'kk' is no variable or param" in msgs[0][2]
    assert msgs[1][:2] == ("E080", 4) and "does not vary variable persona" in msgs[1][2]
    assert any("no column 'k'" in m for _, _, m in msgs)


def test_several_policies_and_measures_need_their_columns(spec_dir):
    s = load(spec_dir)
    bad = spec_dir / "two.csv"
    bad.write_text("k,persona,observed\n1,none,0.5\n")
    msgs = [d.message for d in errors(s, "two", bad).diagnostics]
    assert msgs == ["no column 'policy': experiment 'two' has 2 policies (none_, half)",
                    "no column 'measure': experiment 'two' has 2 measures (P(delivered), P(vetoed))"]
    good = spec_dir / "two_ok.csv"
    good.write_text("k,persona,policy,measure,observed,std\n1,fiction,half,P(vetoed),0.5,0.1\n")
    (row,) = data.load(s.ir, "two", str(good)).rows
    assert row.policy == "half" and row.measure.text == "P(vetoed)" and row.kind == "gaussian"


def test_mixed_likelihoods_and_json_errors(spec_dir):
    s = load(spec_dir)
    bad = spec_dir / "mixed.csv"
    bad.write_text("k,observed,n,std\n0,0.5,10,\n1,0.5,,0.1\n")
    (d,) = errors(s, "e", bad).diagnostics
    assert d.code == "E080" and d.message.startswith("rows take different likelihoods: binomial (first in row 1)")
    j = spec_dir / "bad.json"
    j.write_text('[\n  {"k": 0, "observed": 0.5},\n  {"k": 1, "observed": "lots"}\n]\n')
    (d,) = errors(s, "e", j).diagnostics
    assert (d.code, d.span.line, d.span.col) == ("E081", 3, 24) and "'lots' is not a number" in d.message
    j.write_text("[{")
    (d,) = errors(s, "e", j).diagnostics
    assert d.code == "E080" and "not valid JSON" in d.message


def test_a_problem_late_in_a_long_file_is_located_where_it_is(spec_dir):
    s = load(spec_dir)
    rows = [{"k": i % 3, "observed": 0.5, "std": 0.1} for i in range(5000)]
    rows[4321] = {"k": 1, "observed": True, "std": 0.1}
    rows.append({"observed": 0.5, "std": 0.1, "k": 7})
    j = spec_dir / "long.json"
    j.write_text("[\n" + ",\n".join("  " + json.dumps(r) for r in rows) + "\n]\n")
    lines = j.read_text().splitlines()
    got = [(d.span.line, d.span.col, d.message) for d in errors(s, "e", j).diagnostics]
    assert got == [(4323, lines[4322].index("true") + 1, "row 4322, column 'observed': true is not a number"),
                   (5002, lines[5001].index("7") + 1, "row 5001, column 'k': 7 is not a value of k (domain 0..2)")]
    c = spec_dir / "long.csv"
    c.write_text("k,observed,std\n" + "1,0.5,0.1\n" * 5000 + "1,  0.5x,0.1\n")
    (d,) = errors(s, "e", c).diagnostics
    assert (d.span.line, d.span.col, d.message) == (5002, 5, "row 5001, column 'observed': '0.5x' is not a number")


def test_a_file_of_many_bad_rows_reports_the_first_and_counts_the_rest(spec_dir):
    s = load(spec_dir)
    bad = spec_dir / "percent.csv"
    bad.write_text("k,observed,n\n" + "".join(f"1,{i}%,10\n" for i in range(200)))
    diags = errors(s, "e", bad).diagnostics
    assert len(diags) == data.MAX_REPORTED
    assert [d.span.line for d in diags] == list(range(2, data.MAX_REPORTED + 2))
    assert [n.message for n in diags[-1].notes] == [
        f"{200 - data.MAX_REPORTED} more problems in this file are not shown; fix these and read it again"]
    assert all(not d.notes for d in diags[:-1])


def test_a_row_without_its_policy_says_which_are_possible(spec_dir):
    s = load(spec_dir)
    bad = spec_dir / "nopolicy.csv"
    bad.write_text("k,persona,policy,measure,observed\n1,none,,P(vetoed),0.5\n")
    (d,) = errors(s, "two", bad).diagnostics
    assert (d.code, d.span.line, d.span.col) == ("E080", 2, 8)
    assert d.message == "row 1: no policy; experiment 'two' has 2 (none_, half)"


def test_missing_data_is_a_usage_error(spec_dir):
    s = load(spec_dir)
    with pytest.raises(UsageError, match="experiment 'two' has no data file"):
        data.load(s.ir, "two")
    with pytest.raises(UsageError, match="cannot read the data file"):
        data.load(s.ir, "e", str(spec_dir / "nope.csv"))


def test_cli_data_errors_exit_2_with_carets(spec_dir):
    (spec_dir / "e.csv").write_text("k,observed\n9,0.5\n")
    r = CliRunner().invoke(main, ["fit", str(spec_dir / "s.libet"), "--experiment", "e", "--no-spec"])
    assert r.exit_code == 2 and "Traceback" not in r.output
    assert "e.csv:2:1: error[E081]: row 1, column 'k': 9 is not a value of k (domain 0..2)" in r.output
    r = CliRunner().invoke(main, ["fit", str(spec_dir / "s.libet"), "--experiment", "e", "--no-spec", "--json"])
    out = json.loads(r.output)
    assert r.exit_code == 2 and out["error"]["kind"] == "data" and out["diagnostics"][0]["code"] == "E081"


@pytest.mark.parametrize("sep, said", [(";", "';'"), ("\t", "a tab")])
def test_a_file_separated_otherwise_than_by_commas_says_so(spec_dir, sep, said):
    """A spreadsheet exported in a locale whose separator is ';' was three errors about a
    column named 'k;observed;n'."""
    s = load(spec_dir)
    bad = spec_dir / "semi.csv"
    bad.write_text(sep.join(["k", "observed", "n"]) + "\n" + sep.join(["0", "0,125", "100"]) + "\n")
    (d,) = errors(s, "e", bad).diagnostics
    assert d.code == "E080" and f"separated by {said}" in d.message and "comma-separated" in d.message
    assert "JSON" in d.hint
