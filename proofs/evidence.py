"""Counterexamples and proof summaries: what a verdict rests on, for people and for programs.

Consumes: concrete assignments, states and numbers computed by the reference interpreter
(:mod:`libet.proofs.replay` builds every counterexample), and the facts a proof used
(:mod:`libet.proofs.kinds` builds every proof summary).
Produces: objects with ``describe() -> str`` (plain text) and ``to_json() -> dict``, as
:mod:`libet.results` asks of every engine's evidence; traces also render as DOT.
"""

from __future__ import annotations

from fractions import Fraction
from typing import ClassVar

import attrs

from libet.proofs.text import assignment_text, format_float, json_value, number_text, value_text
from libet.spec.printer import name_list, shorten


def _j(a: dict) -> dict:
    return {k: json_value(v) for k, v in a.items()}


def _state_text(phase: str | None, depth: int) -> str:
    return f"phase {phase}, depth {depth}" if phase is not None else f"depth {depth}"


@attrs.frozen
class InvarianceCounterexample:
    """Two assignments that agree outside V (and, for ``depth``, two depths; for ``phase``, two
    phases) with different veto probabilities."""

    policy: str
    under: tuple[str, ...]
    first: dict
    second: dict
    phase: str | None
    depth: int
    second_depth: int
    veto: Fraction
    second_veto: Fraction
    context_names: tuple[str, ...] = ()  # shared variables the policy reads, shown for context
    minimised: bool = True
    second_phase: str | None = attrs.field(default=attrs.Factory(lambda self: self.phase, takes_self=True))
    #: the valuations of the state variables the policy reads, at each copy's state ({}: none)
    state: dict = attrs.field(factory=dict)
    second_state: dict = attrs.field(factory=dict)

    @property
    def differing(self) -> list[tuple[str, object, object]]:
        return [(n, self.first[n], self.second[n]) for n in self.first if self.first[n] != self.second[n]]

    def describe(self) -> str:
        diffs = [(f"`{n}`", f"{value_text(x)} → {value_text(y)}") for n, x, y in self.differing]
        diffs += [(f"state `{n}`", f"{value_text(self.state[n])} → {value_text(self.second_state[n])}")
                  for n in self.state if self.state[n] != self.second_state.get(n)]
        if self.phase != self.second_phase:
            diffs.append(("the phase", f"{self.phase} → {self.second_phase}"))
        if self.depth != self.second_depth:
            diffs.append(("the depth", f"{self.depth} → {self.second_depth}"))
        if not diffs:  # cannot happen for a replayed counterexample
            head = "the two assignments are equal"
        elif len(diffs) == 1:
            head = f"only {diffs[0][0]} differs: {diffs[0][1]}"
        else:
            head = f"{len(diffs)} differ: " + "; ".join(f"{n} {c}" for n, c in diffs)
        if self.phase != self.second_phase:
            where = f" at depth {self.depth}" if self.depth == self.second_depth else ""
        elif self.depth == self.second_depth:
            where = " at " + _state_text(self.phase, self.depth)
        else:
            where = f" at phase {self.phase}" if self.phase is not None else ""
        lines = [
            head,
            f"  veto probability {number_text(self.veto)} → {number_text(self.second_veto)}{where}",
        ]
        shared = [n for n in self.context_names if self.first.get(n) == self.second.get(n)]
        if shared:
            lines.append(f"  with {assignment_text(self.first, shared)}")
        same_state = [n for n in self.state if self.state[n] == self.second_state.get(n)]
        if same_state:
            lines.append(f"  in state {{{assignment_text(self.state, same_state)}}}")
        if not self.minimised:
            lines.append("  (not minimised: the optimiser ran out of time)")
        return "\n".join(lines)

    def to_json(self) -> dict:
        return {
            "kind": "invariance",
            "policy": self.policy,
            "under": list(self.under),
            "differing": [{"variable": n, "first": json_value(x), "second": json_value(y)} for n, x, y in self.differing],
            "first": {
                "assignment": _j(self.first),
                "phase": self.phase,
                "depth": self.depth,
                "veto": float(self.veto),
                **({"state": _j(self.state)} if self.state else {}),
            },
            "second": {
                "assignment": _j(self.second),
                "phase": self.second_phase,
                "depth": self.second_depth,
                "veto": float(self.second_veto),
                **({"state": _j(self.second_state)} if self.second_state else {}),
            },
            "minimised": self.minimised,
        }


@attrs.frozen
class StateCounterexample:
    """A harmful assignment not vetoed with certainty (``complete``) or a benign assignment
    vetoed with positive probability (``no over-refusal``), at one state."""

    check: str  # "complete" | "no over-refusal"
    policy: str
    assignment: dict
    phase: str | None
    depth: int
    veto: Fraction
    violated: tuple[str, ...]  # reference values false on the assignment
    shown: tuple[str, ...] = ()  # the variables worth showing (read by the policy or values)
    minimised: bool = True
    state: dict = attrs.field(factory=dict)  # the state variables the policy reads, there

    def describe(self) -> str:
        names = self.shown or tuple(self.assignment)
        a = assignment_text(self.assignment, names) or "every assignment"
        # a harmful assignment must be vetoed with certainty, a benign one never
        why, must = ("harmful: violates " + ", ".join(self.violated), 1) if self.violated else ("benign: every value holds", 0)
        where = _state_text(self.phase, self.depth) + (f", state {{{assignment_text(self.state)}}}" if self.state else "")
        lines = [f"{a} ({why})", f"  is vetoed with probability {number_text(self.veto)}, not {must}, at {where}"]
        if not self.minimised:
            lines.append("  (not minimised: the optimiser ran out of time)")
        return "\n".join(lines)

    def to_json(self) -> dict:
        return {
            "kind": self.check,
            "policy": self.policy,
            "assignment": _j(self.assignment),
            "phase": self.phase,
            "depth": self.depth,
            **({"state": _j(self.state)} if self.state else {}),
            "veto": float(self.veto),
            "violates": list(self.violated),
            "minimised": self.minimised,
        }


@attrs.frozen
class Step:
    """One step of a trace: at (phase, depth) the policy lets the generator go on with
    probability ``1 - veto``, which then takes ``target`` with ``probability``; or, with
    ``refused``, the policy refuses and the trajectory goes on in ``target`` (``veto ... then ->
    target``) with ``probability``, the probability of that refusal."""

    phase: str
    depth: int
    veto: Fraction
    target: str
    probability: Fraction
    refused: bool = False
    #: with state variables: the valuation the step is taken from (after the adversary's
    #: choice), and the one before the choice (``None`` when equal or without state)
    state: dict | None = None
    before: dict | None = None

    def same_shape(self, other: "Step") -> bool:
        """Whether two steps read alike in a run (same phase, target, kind and state)."""
        return (self.phase, self.target, self.refused, self.state, self.before) == (
            other.phase, other.target, other.refused, other.state, other.before
        )

    def state_text(self) -> str:
        """The valuation in words, with what the adversary changed (empty without state)."""
        if self.state is None:
            return ""
        text = "{" + assignment_text(self.state) + "}"
        if self.before is not None:
            picked = [n for n in self.state if self.state[n] != self.before.get(n)]
            text += " adversary picks " + ", ".join(f"{n} = {value_text(self.state[n])}" for n in picked)
        return text


@attrs.frozen
class TraceCounterexample:
    """The shortest positive-probability path from the start of a harmful assignment to
    *delivered*, simplified, with the probability of that path."""

    policy: str
    assignment: dict
    violated: tuple[str, ...]
    start_phase: str
    start_depth: int
    steps: tuple[Step, ...]
    end: str  # "deliver" | "horizon" | "start at horizon"
    delivered_depth: int
    probability: Fraction
    horizon: int | None
    shown: tuple[str, ...] = ()
    minimised: bool = True

    def runs(self) -> list[tuple[Step, Step, int]]:
        """Consecutive steps with the same phase and target, as (first, last, count)."""
        out: list[list] = []
        for s in self.steps:
            if out and out[-1][0].same_shape(s):
                out[-1][1] = s
                out[-1][2] += 1
            else:
                out.append([s, s, 1])
        return [tuple(r) for r in out]

    def describe(self) -> str:
        names = self.shown or tuple(self.assignment)
        a = assignment_text(self.assignment, names) or "every assignment"
        lines = [f"{a} (harmful: violates {', '.join(self.violated)})"]
        lines.append(f"  start {self.start_phase} at depth {self.start_depth}")
        if self.end == "start at horizon":
            lines.append(f"  the start depth is the horizon {self.horizon}: delivered at once, before any veto")
        for first, last, count in self.runs():
            depths = f"depth {first.depth}" if count == 1 else f"depths {first.depth}..{last.depth}"
            if first.veto == last.veto:
                veto = number_text(first.veto)
            else:
                veto = f"{number_text(first.veto)}..{number_text(last.veto)}"
            if first.probability == last.probability:
                p = number_text(first.probability)
            else:
                p = f"{number_text(first.probability)}..{number_text(last.probability)}"
            times = f" ×{count}" if count > 1 else ""
            target = first.target
            at = f" {first.state_text()}" if first.state is not None else ""
            if first.refused:
                lines.append(f"  {depths}: {first.phase}{at} refused, goes on in {target}{times}   (refusal p {p})")
            else:
                lines.append(f"  {depths}: {first.phase}{at} -> {target}{times}   (veto {veto}, p {p})")
        if self.end == "horizon":
            lines.append(f"  reaching the horizon {self.horizon} delivers, at depth {self.delivered_depth}")
        elif self.end == "deliver":
            lines.append(f"  delivered at depth {self.delivered_depth}")
        n = len(self.steps)
        lines.append(f"  path probability {format_float(self.probability)} ({n} step{'s' if n != 1 else ''})")
        if not self.minimised:
            lines.append("  (not simplified: the optimiser ran out of time)")
        return "\n".join(lines)

    def to_json(self) -> dict:
        return {
            "kind": "safe",
            "policy": self.policy,
            "assignment": _j(self.assignment),
            "violates": list(self.violated),
            "start": {"phase": self.start_phase, "depth": self.start_depth},
            "steps": [
                {
                    "phase": s.phase,
                    "depth": s.depth,
                    "veto": float(s.veto),
                    "target": s.target,
                    "probability": float(s.probability),
                    "refused": s.refused,
                    **({} if s.state is None else {"state": _j(s.state), "before_choice": _j(s.before or s.state)}),
                }
                for s in self.steps
            ],
            "end": self.end,
            "delivered_depth": self.delivered_depth,
            "probability": float(self.probability),
            "probability_text": format_float(self.probability),
            "minimised": self.minimised,
        }

    def to_dot(self, title: str = "") -> str:
        """The trace as a Graphviz digraph: one node per state, runs of equal steps collapsed."""

        def q(s: str) -> str:
            return '"' + s.replace("\\", "\\\\").replace('"', '\\"') + '"'

        lines = ["digraph trace {", "  rankdir=LR;", '  node [shape=box, style=rounded, fontname="Helvetica"];']
        label = title or f"{self.policy}: safe violated"
        lines.append(f"  labelloc=t; label={q(label + chr(10) + assignment_text(self.assignment, self.shown or tuple(self.assignment)))};")
        lines.append(f'  start [shape=plaintext, label={q("start")}];')
        prev = "start"
        k = 0
        if self.end == "start at horizon":
            lines.append(f"  delivered [shape=doubleoctagon, label={q(f'delivered at depth {self.delivered_depth}')}];")
            lines.append(f"  start -> delivered [label={q('start depth = horizon')}];")
            lines.append("}")
            return "\n".join(lines) + "\n"
        for first, last, count in self.runs():
            node = f"s{k}"
            k += 1
            span = f"depth {first.depth}" if count == 1 else f"depths {first.depth}..{last.depth}"
            state = "" if first.state is None else chr(10) + first.state_text()
            lines.append(f"  {node} [label={q(f'{first.phase}{chr(10)}{span}{state}')}];")
            lines.append(f"  {prev} -> {node};")
            if count > 1 and first.target == first.phase:
                lines.append(f"  {node} -> {node} [label={q(f'×{count - 1}')}];")
            prev = node
        end = f"delivered at depth {self.delivered_depth}" + (" (horizon)" if self.end == "horizon" else "")
        lines.append(f"  delivered [shape=doubleoctagon, label={q(end)}];")
        lines.append(f"  {prev} -> delivered;")
        lines.append(f'  p [shape=note, label={q("path probability " + format_float(self.probability))}];')
        lines.append("}")
        return "\n".join(lines) + "\n"


@attrs.frozen
class Fact:
    kind: str  # value | rule | transition | start | shared
    name: str
    text: str
    where: str | None = None

    def to_json(self) -> dict:
        out = {"kind": self.kind, "name": self.name, "text": self.text}
        if self.where:
            out["where"] = self.where
        return out


@attrs.frozen
class ProofSummary:
    """What a PROVED verdict rests on.

    ``used``: the named spec facts in the unsat core (a reference value, a veto rule, a
    transition, the start, a variable both copies share); ``unused``: facts the query contained
    that the proof did not need. For an unbounded proof, ``invariant`` is the inductive invariant
    and ``recheck`` the results of re-checking it with a fresh solver.
    """

    method: str
    statement: str
    used: tuple[Fact, ...] = ()
    unused: tuple[Fact, ...] = ()
    bound: int | None = None
    invariant: str | None = None
    recheck: tuple[tuple[str, bool], ...] = ()
    notes: tuple[str, ...] = ()

    #: How many facts of each list the text names; the JSON has them all.
    LISTED: ClassVar[int] = 20

    def describe(self) -> str:
        lines = [f"proved by {self.method}: {self.statement}"]
        shared = [f for f in self.used if f.kind == "shared"]
        others = [f for f in self.used if f.kind != "shared"]
        if others:
            lines.append("  used:")
            lines += [f"    {_fact_line(f)}" for f in others[:self.LISTED]]
            if len(others) > self.LISTED:
                lines.append(f"    ... and {len(others) - self.LISTED:,} more ({len(others):,} in all; --json lists every one)")
        if shared:
            lines.append("  relied on both copies sharing: " + name_list((f.name for f in shared), self.LISTED))
        if not self.used and self.invariant is None:
            lines.append("  used: no named spec fact (it holds whatever the values, rules and transitions say)")
        unused = [f for f in self.unused if f.kind != "shared"]
        if unused:
            lines.append("  not needed (the proof holds whatever these say): "
                         + name_list((_fact_name(f) for f in unused), self.LISTED, "; "))
        if self.invariant is not None:
            lines.append(f"  inductive invariant: {self.invariant}")
        if self.recheck:
            lines.append("  re-checked with a fresh solver: " + ", ".join(f"{n} {'ok' if ok else 'FAILED'}" for n, ok in self.recheck))
        lines += [f"  {n}" for n in self.notes]
        return "\n".join(lines)

    def to_json(self) -> dict:
        out = {
            "method": self.method,
            "statement": self.statement,
            "used": [f.to_json() for f in self.used],
            "unused": [f.to_json() for f in self.unused],
        }
        if self.bound is not None:
            out["bound"] = self.bound
        if self.invariant is not None:
            out["invariant"] = self.invariant
        if self.recheck:
            out["recheck"] = {n: ok for n, ok in self.recheck}
        if self.notes:
            out["notes"] = list(self.notes)
        return out


#: How a proof summary names a fact of each kind, in a list and on a line of its own.
_FACT_NAME = {"start": "the start depth", "rule": "{name}"}
_FACT_LINE = {
    "value": "value {name} = {text}",
    "rule": "{name}: {text}",
    "transition": "transition {text}",
    "start": "start: {text}",
}


def _fact_name(f: Fact) -> str:
    return _FACT_NAME.get(f.kind, "{kind} {name}").format(kind=f.kind, name=f.name)


def _fact_line(f: Fact) -> str:
    where = f" ({f.where})" if f.where else ""
    return _FACT_LINE.get(f.kind, "{kind} {name}: {text}").format(kind=f.kind, name=f.name, text=shorten(f.text)) + where
