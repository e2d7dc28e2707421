"""`libet fmt`: canonical, idempotent, comment-preserving, meaning-preserving."""

from __future__ import annotations

import glob
import re

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st
from strategies import specs

import libet
from libet.spec.formatter import format_text

EXAMPLES = sorted(glob.glob("examples/**/*.libet", recursive=True))


def comments(text: str) -> list[str]:
    return re.findall(r"#[^\n]*", text)


@pytest.mark.parametrize("path", EXAMPLES)
def test_examples_format_idempotently_with_the_same_ir_and_comments(path):
    text = open(path).read()
    once = format_text(text)
    assert format_text(once) == once
    assert [c.rstrip() for c in comments(once)] == [c.rstrip() for c in comments(text)]
    if "use " not in text:  # a spec with `use` resolves relative to its file; see test_use.py
        assert libet.loads(once).ir == libet.loads(text).ir


def test_canonical_layout():
    messy = 'spec "x"\nsubstance{t:{a,b}   n:0..3}\npolicy p{veto when t==a and(n>1)with strength 0.5}\n'
    assert format_text(messy) == (
        'spec "x"\n'
        "substance {\n"
        "  t: {a, b}\n"
        "  n: 0..3\n"
        "}\n"
        "policy p {\n"
        "  veto when t == a and (n > 1) with strength 0.5\n"
        "}\n"
    )


def test_comments_stay_where_they_were():
    text = (
        "# header comment\n"
        "\n"
        "substance {  # block comment\n"
        "  # before x\n"
        "  x: bool   # after x\n"
        "  # before the brace\n"
        "}\n"
        "value v = not x  # trailing\n"
        "# final\n"
    )
    assert format_text(text) == (
        "# header comment\n"
        "\n"
        "substance {  # block comment\n"
        "  # before x\n"
        "  x: bool  # after x\n"
        "  # before the brace\n"
        "}\n"
        "value v = not x  # trailing\n"
        "# final\n"
    )


def test_blank_lines_collapse_to_one():
    assert format_text("substance { x: bool }\n\n\n\nvalue v = x\n") == "substance {\n  x: bool\n}\n\nvalue v = x\n"


def test_hash_inside_a_string_is_not_a_comment():
    assert format_text('spec "a # b"\nsubstance { x: bool }\n').startswith('spec "a # b"\n')


def test_unparsable_text_is_an_error_not_a_guess():
    with pytest.raises(libet.SpecError):
        format_text("substance {")


@settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(specs(with_experiment=True))
@example('substance { x: bool }\nvalue v = - -1 < 0 and not not x\n')
def test_fmt_round_trip_on_generated_specs(text):
    once = format_text(text)
    assert format_text(once) == once
    assert libet.loads(once).ir == libet.loads(text).ir


MEASURE_HEAD = """substance { t: {a, b} }
framing { f: bool }
value v = t == a
trajectory { horizon 6 start s phase s { -> w : 0.5 -> deliver : otherwise } phase w { -> s : 1 } }
policy p { veto when violates v and f }
"""


def test_measures_format_canonically_and_keep_comments():
    text = MEASURE_HEAD + (
        "check p {\n"
        "  P( visit w )<=0.5 for all f   # visits\n"
        "  P(harm|delivered)>= 0\n"
        "  # the depth of the veto\n"
        "  E( depth|vetoed ) <= 6\n"
        "  gap P(harm   and visit w | delivered) under f <= 1\n"
        "  E(steps|delivered and visit s)<=6\n"
        "}\n"
        "experiment e { policies p  measure P(visit w),E(steps),  P(vetoed|visit w) }  # sweep\n"
    )
    once = format_text(text)
    assert once.endswith(
        "check p {\n"
        "  P(visit w) <= 0.5 for all f  # visits\n"
        "  P(harm | delivered) >= 0\n"
        "  # the depth of the veto\n"
        "  E(depth | vetoed) <= 6\n"
        "  gap P(harm and visit w | delivered) under f <= 1\n"
        "  E(steps | delivered and visit s) <= 6\n"
        "}\n"
        "experiment e {  # sweep\n"
        "  policies p\n"
        "  measure P(visit w), E(steps), P(vetoed | visit w)\n"
        "}\n"
    )
    assert format_text(once) == once
    assert libet.loads(once).ir == libet.loads(text).ir


_ATOMS = ["harm", "vetoed", "stopped", "delivered", "over-refusal", "visit s", "visit w"]


@st.composite
def measure_texts(draw):
    """A measure as a person might type it (any spacing), and its canonical spelling."""
    space = st.sampled_from(["", " ", "  ", "\n  "])

    def event():
        atoms = draw(st.lists(st.sampled_from(_ATOMS), min_size=1, max_size=3))
        messy = (draw(space.filter(bool)) + "and" + draw(space.filter(bool))).join(
            a.replace(" ", draw(st.sampled_from([" ", "   "]))) for a in atoms
        )
        return messy, " and ".join(atoms)

    if draw(st.booleans()):
        messy, canon = event()
        head = ("P", messy, canon)
    else:
        q = draw(st.sampled_from(["depth", "steps"]))
        head = ("E", q, q)
    kind, messy, canon = head
    if draw(st.booleans()):
        m2, c2 = event()
        messy += draw(space) + "|" + draw(space) + m2
        canon += " | " + c2
    return f"{kind}({draw(space)}{messy}{draw(space)})", f"{kind}({canon})"


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(measure_texts(), min_size=1, max_size=4))
def test_fmt_round_trip_on_generated_measures(measures):
    lines = "".join(f"  {messy} >= 0\n" for messy, _ in measures)
    text = MEASURE_HEAD + "check p {\n" + lines + "}\nexperiment e { policies p measure " + ", ".join(
        m for m, _ in measures) + " }\n"
    once = format_text(text)
    assert format_text(once) == once
    for _, canon in measures:
        assert f"  {canon} >= 0\n" in once
    assert libet.loads(once).ir == libet.loads(text).ir
    assert [c.prop.measure.text for c in libet.loads(text).ir.checks] == [c for _, c in measures]


def test_a_hash_inside_a_string_starts_no_comment():
    from libet.spec.parser import _collect_comments

    text = 'spec "a # b"  # real\n# whole line\nx: bool\nspec "#" "x" # after "quoted"\n  spec "q"\n'
    found = []
    _collect_comments(text, found)
    assert [(c.text, c.line, c.col) for c in found] == [
        ("# real", 1, 15),
        ("# whole line", 2, 1),
        ('# after "quoted"', 4, 14),
    ]


def test_fmt_keeps_a_file_s_line_endings_byte_order_mark_and_mode(tmp_path):
    """A file of Windows line endings was rewritten with Unix ones (every line a change in a
    diff), lost its byte order mark, and came back with mode 0644 whatever it had."""
    import os
    import stat

    from click.testing import CliRunner

    from libet.cli import main

    messy = b"\xef\xbb\xbf# a comment\r\nsubstance {  bad: bool }\r\nvalue ok = not bad  # why\r\n"
    path = tmp_path / "w.libet"
    path.write_bytes(messy)
    os.chmod(path, 0o600)
    r = CliRunner().invoke(main, ["fmt", str(path)])
    assert r.exit_code == 0, r.output
    assert path.read_bytes() == (b"\xef\xbb\xbf# a comment\r\nsubstance {\r\n  bad: bool\r\n}\r\n"
                                 b"value ok = not bad  # why\r\n")
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o600
    assert CliRunner().invoke(main, ["fmt", "--check", str(path)]).exit_code == 0  # formatted: nothing to do
    # a file of Unix line endings keeps them, and gets no byte order mark
    unix = tmp_path / "u.libet"
    unix.write_bytes(messy[3:].replace(b"\r\n", b"\n"))
    assert CliRunner().invoke(main, ["fmt", str(unix)]).exit_code == 0
    assert unix.read_bytes() == b"# a comment\nsubstance {\n  bad: bool\n}\nvalue ok = not bad  # why\n"


def _suppressed(text: str) -> tuple:
    """The warnings a spec's suppression comments silence, by code and what they name, and
    those left (the line numbers move with the layout, so they are not compared)."""
    from libet.spec.loader import load_text
    from libet.suppress import suppress

    loaded = load_text(text, "s.libet")
    kept, count = suppress(loaded)
    left = sorted((d.code, d.message) for d in kept.diagnostics if not d.is_error)
    return count, left


@pytest.mark.parametrize("src", [
    # two declarations on the line of the comment, printed on two lines: each keeps it
    "substance { a: bool }\nvalue v = a\npolicy p { veto when not v }\nparam k1 = 1 param k2 = 2  # libet: ignore[W102]\n",
    # the comment on the first line of a statement that the formatter prints on one line
    "substance { a: bool }\nvalue v = a\npolicy p { veto when not v }\ndef d1 =   # libet: ignore[W102]\n  1 + # mid\n  2\n",
    # a one-line block split into lines: its children keep it
    "substance { a: bool  b: bool  c: bool }  # libet: ignore[W102]\nvalue v = a\npolicy p { veto when not v }\n",
    # a block whose first child begins on the block's line and goes on below it
    "substance { a: bool }\nvalue v = a\npolicy p { veto when not v }\nframing { e: {x, y,  # libet: ignore[W102]\n  z} }\n",
])
def test_fmt_keeps_what_suppression_comments_silence(src):
    """The formatter moved `# libet: ignore[...]` off the line of the warning it silenced (to the
    first of two statements split apart, or above a statement joined onto one line): two W102
    came back, and `--warnings-as-errors check` failed on the formatted file alone."""
    out = format_text(src, "s.libet")
    assert _suppressed(out) == _suppressed(src)
    assert _suppressed(src)[1] == [] and _suppressed(src)[0] >= 1
    assert format_text(out, "s.libet") == out
    assert ("# mid" in out) == ("# mid" in src)


def test_fmt_writes_through_a_symbolic_link(tmp_path):
    """`libet fmt link.libet` replaced the link with a formatted copy and left its target as it
    was: the rename of the atomic write took the link's place."""
    import os

    from click.testing import CliRunner

    from libet.cli import main

    target = tmp_path / "real.libet"
    target.write_text("substance {  bad: bool }\nvalue ok = not bad\n")
    link = tmp_path / "link.libet"
    os.symlink(target.name, link)
    r = CliRunner().invoke(main, ["fmt", str(link)])
    assert r.exit_code == 0, r.output
    assert os.path.islink(link) and os.readlink(link) == "real.libet"
    assert target.read_text() == "substance {\n  bad: bool\n}\nvalue ok = not bad\n"
