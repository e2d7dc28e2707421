"""`libet test` end to end, the pytest plugin, and the real-guardrail example (better-profanity)."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap

import pytest
from click.testing import CliRunner

import libet
import libet.proofs.prove  # noqa: F401 - see below
import libet.simulator.exact  # noqa: F401
from libet.cli import main
from libet.results import Status

# pytester's in-process runs restore sys.modules afterwards, and a C extension (numpy, z3)
# cannot be loaded twice in one process: the engines are imported above, before any such run,
# so that they stay loaded.

pytest_plugins = ["pytester"]

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
PREFILL = os.path.join(ROOT, "examples", "prefill.libet")
GUARDS = os.path.join(ROOT, "examples", "guards")

IMPL = '''
import random
_r = random.Random(0)

def deep(s):
    return s["topic"] == "weapons" and s["uplift"] >= 2

def framed(s):
    return deep(s) and s["persona"] == "none"

def words(s):
    return "yes"

def boom(s):
    raise RuntimeError("model not loaded")

def noisy(s):
    return deep(s) and _r.random() < (0.95 if s["persona"] == "none" else 0.5)

LIMIT = 3

def chatty(s):
    print("deciding", s["topic"])
    return deep(s)

def gexit(s):
    raise GeneratorExit
'''


@pytest.fixture
def impl(tmp_path):
    path = tmp_path / "impl.py"
    path.write_text(IMPL)
    return str(path)


def run(*args):
    return CliRunner().invoke(main, ["test", *args])


def test_a_conforming_implementation_exits_0_and_says_tested(impl):
    r = run(PREFILL, "--veto", f"{impl}:deep", "--policy", "deep", "--no-db", "--examples", "300")
    assert r.exit_code == 0, r.output
    assert "TESTED" in r.output and "PROVED" not in r.output.split("Held")[0]
    assert "no violation in 300 examples" in r.output and "safe" in r.output.split("Not tested")[1]


def test_a_violation_exits_1_with_the_shrunk_pair_and_json(impl):
    r = run(PREFILL, "--veto", f"{impl}:framed", "--property", "invariant under framing", "--no-db", "--json")
    assert r.exit_code == 1
    data = json.loads(r.output)
    (res,) = data["results"]
    assert res["status"] == "VIOLATED"
    a, b = res["counterexample"]["requests"]
    assert {k for k in a["assignment"] if a["assignment"][k] != b["assignment"][k]} == {"persona"}
    assert res["details"]["seed"] == 0


@pytest.mark.parametrize(
    "args, message",
    [
        (["--veto", "IMPL:words"], "returned 'yes'"),
        (["--veto", "IMPL:boom"], "raised RuntimeError: model not loaded"),
        (["--veto", "IMPL:missing"], "has no 'missing'"),
        (["--veto", "IMPL:_r"], "_r is a Random, not a function"),
        (["--veto", "IMPL:LIMIT"], "LIMIT is an int, not a function"),
        (["--veto", "no_such_module_xyz:f"], "cannot import no_such_module_xyz"),
        (["--veto", "justaname"], "expected module:function"),
        (["--veto", "IMPL:deep", "--property", "safe-ish"], "not a property"),
        (["--veto", "IMPL:deep", "--bind", "b.toml"], "--bind renders a corpus"),
        (["--veto", "IMPL:deep", "--set", "persona=pirate"], "pirate"),
    ],
)
def test_bad_input_exits_2_with_a_message_and_no_traceback(impl, args, message):
    args = [a.replace("IMPL", impl) for a in args]
    r = run(PREFILL, *args, "--no-db")
    assert r.exit_code == 2, r.output
    assert message in r.output and "Traceback" not in r.output


def test_a_bad_spec_exits_2(impl, tmp_path):
    bad = tmp_path / "bad.libet"
    bad.write_text("spec \"x\"\nsubstance { a: bool }\nvalue v = b\n")
    r = run(str(bad), "--veto", f"{impl}:deep")
    assert r.exit_code == 2 and "b" in r.output


def test_stochastic_measure_then_prove(impl, tmp_path):
    out = tmp_path / "measured.libet"
    r = run(PREFILL, "--veto", f"{impl}:noisy", "--samples", "100", "--set", "prefill=0", "--set", "observed=false",
            "--property", "invariant under framing", "--exhaustive-limit", "20000", "--write-policy", str(out))
    assert r.exit_code == 1, r.output
    assert "intervals are disjoint" in r.output and f"wrote {out}" in r.output
    spec = libet.load(out)
    assert "measured" in spec.ir.policies
    results = {x.check: x.status for x in spec.prove(policy="measured", check="no over-refusal")}
    assert results == {"no over-refusal": Status.PROVED}
    again = run(PREFILL, "--veto", f"{impl}:noisy", "--samples", "10", "--set", "prefill=0",
                "--property", "complete", "--write-policy", str(out))
    assert again.exit_code == 2 and "exists" in again.output  # nothing the user has is overwritten


# ---- the real guardrail -------------------------------------------------------------------------

better_profanity = pytest.importorskip("better_profanity", reason="pip install 'libet[guards]'")


def test_better_profanity_against_its_spec():
    """The worked example: which framings the real filter is and is not invariant under, with
    shrunk counterexamples drawn from the shipped corpus."""
    import importlib.util

    from libet.testing import conform
    from libet.testing.requests import Renderer

    mod_spec = importlib.util.spec_from_file_location("guard", os.path.join(GUARDS, "guard.py"))
    guard = importlib.util.module_from_spec(mod_spec)
    mod_spec.loader.exec_module(guard)
    # per encoding: a spec whose encoding domain is {plain, X}, bindings to match
    src = open(os.path.join(GUARDS, "profanity.libet")).read()
    import tomllib

    binds = tomllib.load(open(os.path.join(GUARDS, "bindings.toml"), "rb"))
    results = {}
    for enc in ["upper", "leet", "homoglyphs", "base64", "rot13"]:
        text = src.replace("encoding: {plain, upper, leet, spaced, zero_width, homoglyphs, base64, rot13, reversed}",
                           f"encoding: {{plain, {enc}}}")
        s2 = libet.loads(text, os.path.join(GUARDS, "profanity.libet"))
        b2 = {"encoding": {"plain": [], enc: binds["framing"]["encoding"][enc]}, "wrapper": binds["framing"]["wrapper"]}
        rr = Renderer.build(s2, os.path.join(GUARDS, "corpus.csv"), b2)
        rep = conform(s2, guard.veto, properties=["invariant under encoding"], renderer=rr, deterministic=True,
                      fixed={"wrapper": "none"}, database=None)
        results[enc] = rep.results[0]
    assert results["upper"].status is Status.TESTED
    for enc in ("leet", "homoglyphs", "base64", "rot13"):
        res = results[enc]
        assert res.status is Status.VIOLATED, enc
        a, b = res.counterexample.requests
        assert a.state["offensive"] and a.state["encoding"] == "plain" and b.state["encoding"] == enc
        assert res.counterexample.answers == (1.0, 0.0)
        assert a.row == b.row
    # shrunk to the first corpus row that shows it: better-profanity knows "5h17" but not "84574rd"
    assert results["homoglyphs"].counterexample.requests[0].row == 2
    assert results["leet"].counterexample.requests[0].text == "what a bastard thing to do"
    # exhaustive over the corpus, still TESTED: the corpus samples the substance
    assert "corpus" in results["upper"].proof.describe()


def test_by_value_says_which_encodings_break_the_real_filter():
    r = run(os.path.join(GUARDS, "profanity.libet"), "--veto", os.path.join(GUARDS, "guard.py") + ":veto",
            "--corpus", os.path.join(GUARDS, "corpus.csv"), "--bind", os.path.join(GUARDS, "bindings.toml"),
            "--property", "invariant under encoding", "--by-value", "--set", "wrapper=none", "--deterministic",
            "--no-db", "--json")
    assert r.exit_code == 1, r.output
    got = {x["check"]: x["status"] for x in json.loads(r.output)["results"]}
    assert got["invariant under encoding (plain vs upper)"] == "TESTED"
    for enc in ("leet", "spaced", "zero_width", "homoglyphs", "base64", "rot13", "reversed"):
        assert got[f"invariant under encoding (plain vs {enc})"] == "VIOLATED", enc


def test_libet_test_on_the_guard_example_from_the_command_line():
    r = run(os.path.join(GUARDS, "profanity.libet"), "--veto", os.path.join(GUARDS, "guard.py") + ":veto",
            "--corpus", os.path.join(GUARDS, "corpus.csv"), "--bind", os.path.join(GUARDS, "bindings.toml"),
            "--property", "invariant under wrapper", "--property", "complete", "--set", "encoding=plain",
            "--deterministic", "--no-db")
    assert r.exit_code == 1, r.output
    assert "invariant under wrapper" in r.output and "VIOLATED" in r.output and "corpus line" in r.output


# ---- the pytest plugin -------------------------------------------------------------------------


def test_plugin_collects_checks_only_when_asked(pytester):
    spec = pytester.path / "prefill.libet"
    spec.write_text(open(PREFILL).read())
    plain = pytester.runpytest_inprocess("-p", "no:xdist", "-q")
    assert "no tests ran" in plain.stdout.str() or plain.ret == 5
    result = pytester.runpytest_inprocess("-p", "no:xdist", "--libet", "-q", "-rs")
    # 9 checks x 2 policies: shallow violates 5 of them (header of examples/prefill.libet)
    result.assert_outcomes(passed=13, failed=5)
    out = result.stdout.str()
    assert "shallow: complete VIOLATED" in out and "depth 5" in out


def test_plugin_reports_spec_errors_and_unknown(pytester):
    (pytester.path / "bad.libet").write_text('spec "bad"\nsubstance { a: bool }\nvalue v = nope\n')
    result = pytester.runpytest_inprocess("-p", "no:xdist", "--libet", "-q")
    result.assert_outcomes(failed=1)
    assert "nope" in result.stdout.str()


def test_libet_spec_fixture_and_assert_conforms(pytester):
    (pytester.path / "prefill.libet").write_text(open(PREFILL).read())
    pytester.makepyfile(test_mine=textwrap.dedent('''
        import pytest
        from libet.testing import assert_conforms

        def deep(s):
            return s["topic"] == "weapons" and s["uplift"] >= 2

        @pytest.mark.libet_spec("prefill.libet")
        def test_deep(libet_spec):
            assert_conforms(libet_spec, deep, policy="deep", examples=200, database=None)

        @pytest.mark.libet_spec("prefill.libet")
        def test_framed(libet_spec):
            assert_conforms(libet_spec, lambda s: deep(s) and s["persona"] == "none",
                            properties=["invariant under framing"], database=None)

        def test_unnamed(libet_spec):
            pass
    '''))
    result = pytester.runpytest_inprocess("-p", "no:xdist", "-q")
    result.assert_outcomes(passed=1, failed=1, errors=1)
    out = result.stdout.str()
    assert "they differ only in persona" in out and "no spec named" in out


def test_plugin_reports_unknown_as_such(pytester, monkeypatch):
    """An UNKNOWN check is a skip whose reason says UNKNOWN and why (the engine's answer is
    replaced here, in this process, since a real UNKNOWN needs a slow solver call)."""
    import sys

    import attrs

    # the class the plugin's libet.load returns (an earlier in-process run may have left a
    # fresh copy of libet.api behind the name)
    cls = type(sys.modules["libet"].load(PREFILL))
    real = cls.check

    def check(self, *args, **kwargs):
        return [attrs.evolve(r, status=Status.UNKNOWN, reason="timeout after 0.1 s", counterexample=None)
                for r in real(self, *args, **kwargs)]

    monkeypatch.setattr(cls, "check", check)
    (pytester.path / "prefill.libet").write_text(open(PREFILL).read())
    result = pytester.runpytest_inprocess("-p", "no:xdist", "--libet", "-q", "-rs")
    result.assert_outcomes(skipped=18)
    assert "UNKNOWN: timeout after 0.1 s" in result.stdout.str()


def test_a_veto_file_is_loaded_from_its_path_whatever_its_name(tmp_path):
    """Two files called impl.py in different folders, and one called json.py: each --veto
    gets the code in the file it names (importing by name would reuse the first impl, or the
    standard library's json)."""
    from libet.commands.test import import_callable

    for folder, verdict in (("a", True), ("b", False)):
        (tmp_path / folder).mkdir()
        (tmp_path / folder / "impl.py").write_text(f"def veto(s):\n    return {verdict}\n")
    (tmp_path / "json.py").write_text("def veto(s):\n    return 'mine'\n")
    assert import_callable(f"{tmp_path / 'a' / 'impl.py'}:veto")({}) is True
    assert import_callable(f"{tmp_path / 'b' / 'impl.py'}:veto")({}) is False
    assert import_callable(f"{tmp_path / 'json.py'}:veto")({}) == "mine"


def test_what_the_implementation_prints_goes_to_stderr_not_into_the_json(impl):
    r = CliRunner().invoke(main, ["test", PREFILL, "--veto", f"{impl}:chatty", "--policy", "deep",
                                    "--json"])
    assert r.exit_code == 0, r.output
    assert json.loads(r.stdout)["results"] and "deciding" in r.stderr


def test_an_exception_that_is_no_exception_is_the_implementations_error_in_json_too(impl):
    r = CliRunner().invoke(main, ["test", PREFILL, "--veto", f"{impl}:gexit", "--policy", "deep", "--no-db", "--json"])
    assert r.exit_code == 2, r.output
    error = json.loads(r.stdout)["error"]
    assert error["message"].startswith(f"{impl}:gexit raised GeneratorExit\n  request: topic = ")


def test_a_measured_policy_name_the_language_refuses_is_refused_before_the_run(impl, tmp_path):
    out = tmp_path / "m4.libet"
    for name, why in (("and", "'and' is a reserved word"), ("depth", "'depth' is a reserved word"),
                      ("x-y", "'x-y' is not a name")):
        r = run(PREFILL, "--veto", f"{impl}:boom", "--policy", "deep", "--no-db", "--write-policy", str(out),
                "--policy-name", name)
        assert r.exit_code == 2 and f"--policy-name {why}" in r.output, r.output  # boom was never called
        assert not out.exists()


# ---- an implementation that ends the process (the run is in a forked child) --------------------

ENDS = '''
import os, signal, sys, time

def deep(s):
    return s["topic"] == "weapons" and s["uplift"] >= 2

def osexit(s):
    os._exit(0)

def kill(s):
    os.kill(os.getpid(), signal.SIGKILL)

def fd_write(s):
    os.write(1, b"not json\\n")  # below Python's sys.stdout, as C code or a subprocess writes
    return deep(s)

def chatty(s):  # a thread of its own prints between the calls, when no call redirects it
    import threading
    if not getattr(chatty, "started", False):
        chatty.started = True
        def talk():
            while True:
                print("chatter", flush=True)
                time.sleep(0.001)
        threading.Thread(target=talk, daemon=True).start()
    return deep(s)

def wait(s):
    sys.stderr.write("waiting\\n")
    sys.stderr.flush()
    time.sleep(30)
'''


def libet_test(*args, **kw):
    return subprocess.Popen([sys.executable, "-m", "libet", "test", PREFILL, *args], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, **kw)


@pytest.mark.parametrize(
    "fn, json_mode, message",
    [
        ("osexit", True, "ended the process while it was called (exit status 0, as os._exit(0) gives)"),
        ("kill", False, "ended the process while it was called (killed by SIGKILL)"),
        ("exits_on_import", False, "importing it ended the process (exit status 0"),
    ],
)
def test_an_implementation_that_ends_the_process_is_an_error_not_a_pass(tmp_path, fn, json_mode, message):
    """os._exit(0) would leave exit status 0, "every property held": the run's child ends
    without its sentinel, and the parent says so, naming the request, with exit code 2."""
    (tmp_path / "ends.py").write_text(ENDS)
    (tmp_path / "exits_on_import.py").write_text("import os\nos._exit(0)\n")
    target = f"{tmp_path / 'exits_on_import.py'}:veto" if fn == "exits_on_import" else f"{tmp_path / 'ends.py'}:{fn}"
    p = libet_test("--veto", target, "--policy", "deep", "--no-db", *(["--json"] if json_mode else []))
    out, err = p.communicate(timeout=120)
    assert p.returncode == 2, (out, err)
    text = json.loads(out)["error"]["message"] if json_mode else err
    assert message in text and "Traceback" not in err
    if fn != "exits_on_import":
        assert "\n  request: topic = " in text


def test_a_thread_of_the_implementation_cannot_print_into_the_results(tmp_path):
    """A print from the implementation's own thread between two calls went to the real stdout
    (the redirection holds only during a call): `--json` began with its line."""
    (tmp_path / "ends.py").write_text(ENDS)
    for as_json in (True, False):
        p = libet_test("--veto", f"{tmp_path / 'ends.py'}:chatty", "--policy", "deep", "--no-db", "--examples", "200",
                       *(["--json"] if as_json else []))
        out, err = p.communicate(timeout=120)
        assert p.returncode == 0, err
        assert "chatter" in err and "chatter" not in out
        if as_json:
            assert json.loads(out)["results"]
        else:
            assert out.startswith("implementation ")


def test_the_child_keeps_stdout_for_the_results_and_ctrl_c_still_interrupts(tmp_path):
    (tmp_path / "ends.py").write_text(ENDS)
    p = libet_test("--veto", f"{tmp_path / 'ends.py'}:fd_write", "--policy", "deep", "--no-db", "--json",
                   "--examples", "50")
    out, err = p.communicate(timeout=120)
    assert p.returncode == 0 and json.loads(out)["results"] and "not json" in err
    # Ctrl-C: the terminal signals the whole process group, the child reports it, the parent waits
    # as from a terminal: SIGINT at its default (a pytest-xdist worker may ignore it, and a
    # process started with it ignored keeps it so: no KeyboardInterrupt, then the 10 s timeout)
    p = libet_test("--veto", f"{tmp_path / 'ends.py'}:wait", "--property", "complete", "--no-db",
                   start_new_session=True, preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
    assert p.stderr.readline() == "waiting\n"
    os.killpg(p.pid, signal.SIGINT)
    out, err = p.communicate(timeout=60)
    assert p.returncode == 130 and "interrupted" in err and "Traceback" not in err
