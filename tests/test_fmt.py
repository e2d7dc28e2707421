"""`libet fmt`: canonical, idempotent, comment-preserving, meaning-preserving."""

from __future__ import annotations

import glob
import re

import pytest
from hypothesis import HealthCheck, example, given, settings

import libet
from libet.spec.formatter import format_text

from strategies import specs

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
