"""Bad input of every kind gets diagnostics with a location and exit code 2, never a traceback.

The property: for any bytes, loading ends in either an IR or a non-empty list of diagnostics,
each with a file, line and column; nothing else (no exception) escapes. Inputs come from
mutating the example specs and from the grammar itself (hypothesis.extra.lark.from_lark).
"""

from __future__ import annotations

import glob
import os
import subprocess
import sys

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from hypothesis.extra.lark import from_lark

import libet
from libet.spec.loader import load_path, load_text
from libet.spec.parser import build_parser, grammar_text

EXAMPLES = {p: open(p).read() for p in sorted(glob.glob("examples/*.libet"))}
# Every measure form, so that mutation reaches the measure syntax and its checks too.
EXAMPLES["<measures>"] = """substance { topic: {everyday, weapons} }
framing { prefill: 0..3 }
value ok = topic == everyday
trajectory {
  horizon 6
  start answer at depth prefill
  phase answer { -> scratchpad : 0.2  -> answer : 0.5  -> deliver : otherwise }
  phase scratchpad { -> answer : 1 }
}
policy p { veto when violates ok }
check p {
  P(visit scratchpad) <= 0.5 for all framing
  P(harm | delivered) <= 0.5
  gap P(harm and visit scratchpad | delivered) under prefill <= 1
  E(depth | vetoed) >= 1
  E(steps) <= 6
}
experiment e { policies p  measure P(vetoed | visit scratchpad), E(steps | delivered), P(over-refusal) }
"""
# The constructs of issue 10 (what a check covers, refusals that go on), so mutation reaches them.
EXAMPLES["<conversation>"] = """substance { topic: {everyday, weapons} }
framing { persona: {none, fiction} }
value ok = topic == everyday
trajectory {
  horizon 6 then stop
  start turn
  phase turn { -> turn : 0.5  -> answer : otherwise }
  phase answer { -> turn : 0.5  -> deliver : otherwise }
}
policy p { veto when violates ok and phase == answer with strength 0.9 then -> turn  veto when violates ok }
check p {
  invariant under phase, persona
  complete at answer, turn
  invariant P(harm) under framing
  E(refusals | harm) <= 2
}
"""


def assert_ir_or_located_diagnostics(loaded):
    if loaded.ok:
        assert loaded.spec is not None
        return
    errors = [d for d in loaded.diagnostics if d.is_error]
    assert errors, "a failed load must say why"
    for d in errors:
        assert d.span is not None and d.span.line >= 1 and d.span.col >= 1, d
        assert d.message


@st.composite
def mutated_examples(draw):
    text = draw(st.sampled_from(sorted(EXAMPLES.values())))
    for _ in range(draw(st.integers(1, 4))):
        if not text:
            break
        i = draw(st.integers(0, len(text) - 1))
        op = draw(st.sampled_from(["delete", "insert", "duplicate", "swap"]))
        if op == "delete":
            j = draw(st.integers(i, min(len(text), i + 20)))
            text = text[:i] + text[j:]
        elif op == "insert":
            text = text[:i] + draw(st.sampled_from(list("{}()=<>-:,.#\"'\n") + ["and", "veto", "phase", "depth", "0", "1.5", "x", "\x00", "é"])) + text[i:]
        elif op == "duplicate":
            j = draw(st.integers(i, min(len(text), i + 40)))
            text = text[:j] + text[i:j] + text[j:]
        else:
            j = draw(st.integers(0, len(text) - 1))
            a, b = sorted((i, j))
            text = text[:a] + text[b:b + 1] + text[a + 1:b] + text[a:a + 1] + text[b + 1:]
    return text


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(mutated_examples())
def test_mutated_examples_give_ir_or_located_diagnostics(text):
    assert_ir_or_located_diagnostics(load_text(text, "mutated.libet"))


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(from_lark(build_parser(grammar_text())))  # the tables read from JSON carry no Grammar
def test_grammar_generated_inputs_give_ir_or_located_diagnostics(text):
    assert_ir_or_located_diagnostics(load_text(text, "generated.libet"))


@settings(max_examples=200, deadline=None)
@given(st.binary(max_size=400))
def test_arbitrary_bytes_give_ir_or_located_diagnostics(data):
    from libet.spec.diagnostics import Diagnostics
    from libet.spec.parser import decode

    d = Diagnostics()
    text = decode(data, "noise.libet", d)
    if text is None:
        assert d.items and d.items[0].code == "E002"
    else:
        assert_ir_or_located_diagnostics(load_text(text, "noise.libet"))


# ---- the command line, on files ----------------------------------------------------------------

LIBET = [sys.executable, "-m", "libet"]


def run_check(path) -> subprocess.CompletedProcess:
    return subprocess.run(LIBET + ["check", str(path)], capture_output=True, text=True, timeout=120)


def write(tmp_path, name, data: bytes | str):
    p = tmp_path / name
    p.write_bytes(data if isinstance(data, bytes) else data.encode())
    return p


BAD_FILES = {
    "empty": b"",
    "binary_noise": bytes(range(256)) * 4,
    "invalid_utf8": b'spec "caf\xe9"\nsubstance { x: bool }\n',
    "nested_parens": b"substance { x: bool }\nvalue v = " + b"(" * 10_000 + b"x" + b")" * 10_000 + b"\n",
    "nested_nots": b"substance { x: bool }\nvalue v = " + b"not " * 10_000 + b"x\n",
    "syntax": b"substance { x: bool \nvalue v = x\n",
    "type_error": b"substance { x: bool }\nvalue v = x + 1\n",
    "missing_import": b'use "nowhere.libet"\nsubstance { x: bool }\nvalue v = x\n',
}


@pytest.mark.parametrize("name", sorted(BAD_FILES))
def test_bad_files_exit_2_with_a_located_message(tmp_path, name):
    path = write(tmp_path, f"{name}.libet", BAD_FILES[name])
    r = run_check(path)
    assert r.returncode == 2, r.stderr
    assert "Traceback" not in r.stderr + r.stdout
    assert f"{name}.libet:" in r.stderr and "error[E" in r.stderr


def test_five_megabyte_file_is_refused_with_a_message(tmp_path):
    path = write(tmp_path, "huge.libet", b"# padding\n" * 500_000 + b"substance { x: bool }\n")
    r = run_check(path)
    assert r.returncode == 2 and "Traceback" not in r.stderr
    assert "error[E002]: file is too large: more than the limit of 4 MiB" in r.stderr


@pytest.mark.parametrize("how", ["named", "used"])
def test_an_endless_file_is_refused_at_the_limit(tmp_path, how):
    """`libet check /dev/zero`, or `use "/dev/zero"`, read the device whole: 13 GB in 8 s and no
    end. What is read stops one byte past the limit."""
    path = "/dev/zero" if how == "named" else write(tmp_path, "u.libet", b'use "/dev/zero"\nsubstance { x: bool }\n')
    r = run_check(path)
    assert r.returncode == 2 and "Traceback" not in r.stderr
    assert "file is too large: more than the limit of 4 MiB" in r.stderr
    if how == "used":  # the device has no line to show: the note points at the `use`
        assert f"note: {path}:1:1: used here" in r.stderr


def test_cyclic_import_names_the_cycle(tmp_path):
    write(tmp_path, "a.libet", 'use "b.libet"\nsubstance { x: bool }\nvalue v = x\n')
    write(tmp_path, "b.libet", 'use "a.libet"\n')
    r = run_check(tmp_path / "a.libet")
    assert r.returncode == 2 and "Traceback" not in r.stderr
    assert "error[E070]: import cycle: a.libet -> b.libet -> a.libet" in r.stderr


def test_missing_file_and_folder(tmp_path):
    r = run_check(tmp_path / "absent.libet")
    assert r.returncode == 2 and "Traceback" not in r.stderr
    assert "file not found" in r.stderr
    r = subprocess.run(LIBET + ["check", str(tmp_path)], capture_output=True, text=True)
    assert r.returncode == 2 and "Traceback" not in r.stderr


def test_loading_never_runs_code():
    """No module of the library calls eval, exec, compile or __import__, or imports pickle or
    marshal: a spec is data, never code. (Checked on the syntax tree, not by grepping.)"""
    import ast

    offenders = []
    for path in glob.glob("spec/*.py") + glob.glob("libet/*.py") + glob.glob("proofs/*.py") + glob.glob("simulator/*.py"):
        tree = ast.parse(open(path).read())
        for node in ast.walk(tree):
            if isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id in {"eval", "exec", "compile", "__import__"}:
                offenders.append(f"{path}:{node.lineno} calls {node.func.id}")
            if isinstance(node, (ast.Import, ast.ImportFrom)):
                names = [a.name for a in node.names] + ([node.module] if isinstance(node, ast.ImportFrom) and node.module else [])
                offenders += [f"{path}:{node.lineno} imports {n}" for n in names if n.split(".")[0] in {"pickle", "marshal", "shelve"}]
    assert offenders == []


def test_file_is_not_written_when_loading(tmp_path):
    path = write(tmp_path, "s.libet", "substance { x: bool }\nvalue v = x\n")
    before = sorted(os.listdir(tmp_path))
    assert load_path(str(path)).ok
    assert sorted(os.listdir(tmp_path)) == before


def test_an_else_if_ladder_is_not_nesting_but_real_nesting_is_refused():
    """An `else if` ladder is a list of branches: past the nesting limit it loads (each
    pass walks it in a loop); real nesting past the limit is E003, never a RecursionError."""
    from libet.spec.diagnostics import Diagnostics
    from libet.spec.parser import MAX_NESTING, parse

    ladder = "if f then 0.1 " + " ".join(f"else if f then 0.{i % 9 + 1}" for i in range(MAX_NESTING * 20)) + " else 0.2"
    spec = libet.loads(f'spec "ok"\nframing {{ f: bool }}\ndef d = {ladder}\nvalue v = true\n', "ok.libet")
    assert "d" in spec.ir.defs
    deep = "if f then (" * (MAX_NESTING + 5) + "1" + ") else 0" * (MAX_NESTING + 5)
    for text in (f"framing {{ f: bool }}\ndef d = {deep}\n", "def d = " + "(" * 200 + "1" + ")" * 200 + "\n"):
        diags = Diagnostics()
        assert parse(text, "t.libet", diags).module is None
        (d,) = diags.items
        assert d.code == "E003" and "split it into named `def`s" in d.hint, d.hint


@pytest.mark.parametrize("domain", ["3..0", "0..1000000", "{}"])
def test_a_refused_declaration_is_one_error_not_a_cascade(domain):
    """A variable whose domain is refused (E022) is still declared: its uses in expressions,
    check lists and experiment settings add no second error ('not a variable (it is a
    variable)')."""
    text = EXAMPLES["examples/prefill.libet"].replace("uplift: 0..3", f"uplift: {domain}")
    text = text.replace("check shallow, deep {\n", "check shallow, deep {\n  invariant under uplift\n"
                        "  P(harm) <= 0.1 for all uplift\n  gap P(harm) under uplift <= 0.1\n")
    diags = load_text(text, "prefill.libet").diagnostics
    assert [d.code for d in diags if d.is_error] == ["E022"], [d.message for d in diags]


def test_an_empty_path_names_no_file():
    """`libet check ""` said "file not found: " with an empty name."""
    r = run_check("")
    assert r.returncode == 2 and "error[E002]: no file named: the path is empty" in r.stderr
