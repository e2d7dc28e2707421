"""Two policies compared, as Cedar's analysis compares two policy sets.

Consumes: a checked spec, two of its policy names, options (timeout, params, fixed variables).
Produces: :class:`Comparison`: whether the policies are equivalent (the same veto probability
at every assignment and state), whether each vetoes at least as strongly as the other
everywhere ("A vetoes whenever B does"), and where they differ the smallest assignment and
state with both veto probabilities (replayed by the reference interpreter); and the exact
difference in P(harm) and P(over-refusal) between them (the exact engine, averaged over every
variable under the declared distribution).

The questions are Z3 queries over the encoding the checks use (:class:`libet.proofs.rules.
Encoder`, :class:`libet.proofs.policy.States`): is there an assignment and a state (phase,
depth below the horizon, reachable or not, as for ``complete``) where ``v_A < v_B``? And where
``v_B < v_A``? Both unsatisfiable: equivalent. A counterexample is minimised towards neutral
values (:mod:`libet.proofs.minimise`) and confirmed by the interpreter before it is reported.
"""

from __future__ import annotations

import time
from fractions import Fraction
from typing import Any, Mapping

import attrs

from libet.errors import UsageError
from libet.spec import ir
from libet.spec.diagnostics import did_you_mean
from libet.spec.overrides import check_fixed, check_overrides
from libet.spec.printer import name_list


@attrs.frozen
class Difference:
    """An assignment and state where ``weaker`` vetoes with a smaller probability than
    ``stronger`` (both as the interpreter computes them)."""

    stronger: str
    weaker: str
    assignment: dict
    phase: str | None  # None: the policies do not read the phase (any phase)
    depth: int | None  # None: they do not read the depth (any depth)
    veto_stronger: Fraction
    veto_weaker: Fraction

    def describe(self) -> str:
        where = ", ".join(f"{k} = {_v(v)}" for k, v in self.assignment.items()) or "any assignment"
        at = ", ".join(x for x in (f"phase {self.phase}" if self.phase else "",
                                    f"depth {self.depth}" if self.depth is not None else "every depth") if x)
        strong, weak = _apart(self.veto_stronger, self.veto_weaker)
        return f"{where}, at {at}: {self.stronger} vetoes with probability {strong}, {self.weaker} with {weak}"

    def to_json(self) -> dict:
        return {"stronger": self.stronger, "weaker": self.weaker, "assignment": dict(self.assignment),
                "phase": self.phase, "depth": self.depth,
                "veto": {self.stronger: float(self.veto_stronger), self.weaker: float(self.veto_weaker)}}


@attrs.frozen(eq=False)
class Comparison:
    """What :func:`compare` found about policies ``a`` and ``b``.

    ``a_covers_b``: ``a`` vetoes at least as strongly as ``b`` at every assignment and state
    (so ``a`` vetoes whenever ``b`` does); ``None`` when not decided (``reason`` says why).
    ``differences``: per direction that fails, the smallest witness. ``measures``: per policy,
    P(harm) and P(over-refusal), computed exactly, averaged over every variable."""

    a: str
    b: str
    a_covers_b: bool | None
    b_covers_a: bool | None
    differences: tuple[Difference, ...] = ()
    measures: dict = attrs.field(factory=dict)
    reason: str | None = None
    seconds: float = 0.0
    #: the refusal targets (``veto ... then -> PHASE``) of each policy's rules, in order, when
    #: they differ: the same veto probability may then still send trajectories elsewhere
    refusals: tuple = ()
    #: why the measures were not computed (the model too large to solve, ``horizon none``), when
    #: they were asked for and not computed: the comparison of the vetoes stands without them
    unmeasured: str | None = None

    @property
    def equivalent(self) -> bool | None:
        if self.a_covers_b is None or self.b_covers_a is None:
            return False if (self.a_covers_b is False or self.b_covers_a is False) else None
        return self.a_covers_b and self.b_covers_a

    @property
    def exit_code(self) -> int:
        """0 equivalent, 1 they differ, 3 not decided (DESIGN.md §5)."""
        eq = self.equivalent
        return 0 if eq else (1 if eq is False else 3)

    def verdict(self) -> str:
        a, b = self.a, self.b
        if self.equivalent:
            text = f"{a} and {b} are equivalent: the same veto probability at every assignment and state"
            if self.refusals:
                text += (" (but their refusals do not go on in the same phases, so their outcomes may differ: "
                         "see P(harm) below)")
            return text
        if self.a_covers_b and self.b_covers_a is False:
            return f"{a} vetoes whenever {b} does, and more: {a} is at least as strong everywhere, stronger somewhere"
        if self.b_covers_a and self.a_covers_b is False:
            return f"{b} vetoes whenever {a} does, and more: {b} is at least as strong everywhere, stronger somewhere"
        if self.a_covers_b is False and self.b_covers_a is False:
            return f"{a} and {b} are incomparable: each vetoes more strongly than the other somewhere"
        return f"not decided: {self.reason or 'unknown'}"

    def deltas(self) -> dict:
        """Per measure: the value under ``b`` minus the value under ``a``."""
        out = {}
        if self.a in self.measures and self.b in self.measures:
            for m, va in self.measures[self.a].items():
                vb = self.measures[self.b].get(m)
                out[m] = None if va is None or vb is None else vb - va
        return out

    def describe(self) -> str:
        lines = [self.verdict()]
        for d in self.differences:
            lines.append(f"  {d.weaker} vetoes less than {d.stronger} at: {d.describe()}")
        if self.measures:
            for m, delta in self.deltas().items():
                va, vb = self.measures[self.a][m], self.measures[self.b][m]
                shown = _p(delta, signed=True)
                if delta and abs(delta) <= ROUNDING * max(abs(va), abs(vb)):  # two doubles' rounding apart
                    shown = f"0 within double rounding ({shown})"
                lines.append(f"  {m}: {self.a} {_p(va)}, {self.b} {_p(vb)}, difference ({self.b} − {self.a}) "
                             f"{shown} (computed exactly, averaged over every variable)")
        if self.unmeasured:
            lines.append(f"  P(harm) and P(over-refusal) not computed: {self.unmeasured}")
        return "\n".join(lines)

    def to_json(self) -> dict:
        return {
            "a": self.a, "b": self.b, "equivalent": self.equivalent, "a_covers_b": self.a_covers_b,
            "b_covers_a": self.b_covers_a, "verdict": self.verdict(),
            "differences": [d.to_json() for d in self.differences],
            "measures": self.measures, "differences_in_measures": self.deltas(),
            "numbers": "computed exactly (exact engine), averaged over every variable under its declared distribution",
            "reason": self.reason, "measures_not_computed": self.unmeasured, "seconds": round(self.seconds, 6),
        }

    def __repr__(self) -> str:
        return f"<libet.Comparison {self.a} vs {self.b}: {self.verdict()}>"

    def _repr_html_(self) -> str:
        from libet.report import esc

        rows = "".join(f"<li>{esc(d.weaker)} vetoes less than {esc(d.stronger)} at: {esc(d.describe())}</li>"
                       for d in self.differences)
        table = ""
        if self.measures:
            table = "<table><tr><th>measure</th>" + f"<th>{esc(self.a)}</th><th>{esc(self.b)}</th><th>difference</th></tr>"
            for m, delta in self.deltas().items():
                table += (f"<tr><td>{esc(m)}</td><td>{esc(_p(self.measures[self.a][m]))}</td>"
                          f"<td>{esc(_p(self.measures[self.b][m]))}</td><td>{esc(_p(delta, signed=True))}</td></tr>")
            table += "</table><p><small>computed exactly, averaged over every variable</small></p>"
        if self.unmeasured:
            table += f"<p>P(harm) and P(over-refusal) not computed: {esc(self.unmeasured)}</p>"
        return f"<div><p><b>{esc(self.verdict())}</b></p><ul>{rows}</ul>{table}</div>"


def _v(x) -> str:
    return ("true" if x else "false") if isinstance(x, bool) else str(x)


def _apart(x, y) -> tuple[str, str]:
    """Two different probabilities as texts that differ too: six significant digits, or, where
    those agree, the complements of numbers close to 1 (rules combined may leave a veto 10^-22
    short of 1), or else the second with the exact difference."""
    a, b = _p(x), _p(y)
    if a != b or x == y:
        return a, b
    if x > Fraction(1, 2) and y > Fraction(1, 2):
        a, b = (f"1 − {float(1 - Fraction(v)):.6g}" if v != 1 else "1" for v in (x, y))
        if a != b:
            return a, b
    return a, f"{b} ({'+' if y > x else '−'}{float(abs(Fraction(y) - Fraction(x))):.3g})"


#: A difference of two measures at most this fraction of them is the rounding of two doubles
#: computed along different paths (1 - 0.7 * (1/7) and 0.9), not a difference of the policies.
ROUNDING = 1e-12


def _p(x, signed: bool = False) -> str:
    if x is None:
        return "undefined"
    x = float(x)
    return f"{x:+.6g}" if signed and x != 0 else f"{x:.6g}"


def compare(
    spec: ir.Spec,
    a: str,
    b: str,
    *,
    timeout: float = 30.0,
    params: Mapping[str, Any] | None = None,
    fixed: Mapping[str, Any] | None = None,
    measures: bool = True,
) -> Comparison:
    """Compare policies ``a`` and ``b`` of ``spec`` (module doc).

    Raises:
        UsageError: an unknown policy, param or variable; a bad timeout.
    """
    started = time.perf_counter()
    from libet.proofs.solve import Budget, check_limits
    from libet.spec.structural import bind

    spec = bind(spec, params)  # a horizon or weights over params, at these params
    for p in (a, b):
        if p not in spec.policies:
            raise UsageError(f"there is no policy {p!r} (policies: {name_list(spec.policies)})",
                             did_you_mean(p, spec.policies))
    timeout, _ = check_limits(timeout)
    params = check_overrides(spec, params)
    fixed = check_fixed(spec, fixed)
    budget = Budget(timeout)
    reasons = []
    found = {}
    covers = {}
    for i, (stronger, weaker) in enumerate(((a, b), (b, a))):
        # half the budget for the first direction, all that is left of it for the second
        share = budget.slice(0.5) if i == 0 else budget
        verdict, witness, reason = _weaker_somewhere(spec, stronger, weaker, params, fixed, share)
        covers[(stronger, weaker)] = None if verdict is None else not verdict
        if witness is not None:
            found[(stronger, weaker)] = witness
        if reason:
            reasons.append(reason)
    nums: dict = {}
    unmeasured = None
    if measures and spec.trajectory is not None:
        from libet import orchestrate
        from libet.spec import measures as ms

        wanted = (ms.HARM, ms.OVER_REFUSAL)
        if spec.is_mdp:  # over adversaries: each policy against its worst adversary
            import attrs

            wanted = tuple(attrs.evolve(m, extremum="max") for m in wanted)
        try:
            sim = orchestrate.simulate(spec, [a, b], params=params, fixed=fixed, measures=list(wanted))
        except UsageError as exc:  # the vetoes are compared by Z3 whatever the model's size
            unmeasured = exc.text()
        else:
            for row in sim.to_rows():
                nums[row["policy"]] = {m.text: row[m.text] for m in wanted}
    # where each policy's refusals go (None: they end the trajectory); with one place for every
    # rule of both, an equal veto probability sends the same mass to the same place
    targets = tuple(tuple(r.then for r in spec.policies[p].rules) for p in (a, b))
    one_place = len(set(targets[0]) | set(targets[1])) <= 1
    # a covers b: b is never stronger than a (no state where a < b)
    return Comparison(
        a, b, a_covers_b=covers[(b, a)], b_covers_a=covers[(a, b)],
        differences=tuple(found[k] for k in ((b, a), (a, b)) if k in found),
        measures=nums, reason=_reason(reasons, timeout), seconds=time.perf_counter() - started,
        refusals=() if one_place else targets, unmeasured=unmeasured,
    )


#: The reason of a direction of the comparison its share of the budget did not decide.
OUT_OF_TIME = "the time budget ran out"


def _reason(reasons: list[str], timeout: float) -> str | None:
    """Why the comparison is not decided, each reason once (the budget named with its
    seconds, not each direction's share of it)."""
    out = [f"{OUT_OF_TIME} ({timeout:g} s for both directions; --timeout gives more)" if r == OUT_OF_TIME else r
           for r in dict.fromkeys(reasons)]
    return "; ".join(out) or None


def _shape(spec, policies) -> str:
    from libet.proofs.policy import policy_shape

    shapes = {policy_shape(spec, p) for p in policies}
    for s in ("arith", "boolean", "finite"):
        if s in shapes:
            return s
    return "arith"


def _weaker_somewhere(spec, stronger, weaker, params, fixed, budget):
    """(is there a state where ``weaker`` vetoes less than ``stronger``?, the witness,
    the reason when not decided), trying the solver ladder of the policies' shape."""
    import z3

    from libet.proofs.minimise import default_softs, minimise_model
    from libet.proofs.policy import States, policy_reads
    from libet.proofs.replay import with_state
    from libet.proofs.rules import Encoder
    from libet.proofs.solve import OutOfTime, Query, deadline, ladder
    from libet.spec.interpreter import Interpreter

    ra, da, pa = policy_reads(spec, stronger)
    rb, db, pb = policy_reads(spec, weaker)
    reads = ra | rb
    rungs = ladder("policy", _shape(spec, (stronger, weaker)))
    reason = None
    for i, rung in enumerate(rungs):
        sub = budget if i == len(rungs) - 1 else budget.slice(0.5)
        try:
            with deadline(sub):  # the encoding of a large policy counts against the budget too
                ctx = z3.Context()
                enc = Encoder(spec, params, rung.encoding, ctx, fixed, track=False)
                states = States(enc, da or db, pa or pb)
                sym = enc.new_assignment("", reads)
                env = states.env(sym)
                vs, vw = enc.veto_probability(stronger, env), enc.veto_probability(weaker, env)
                q = Query(enc, rung, sub)
                q.add(*sym.constraints(), *states.domain)
                if isinstance(vs, Fraction) and isinstance(vw, Fraction):
                    less = vw < vs
                    if not less:
                        return False, None, None
                else:
                    less = enc.z3_real(vw) < enc.z3_real(vs)
                if not isinstance(less, bool):
                    q.add(less)
                ans = q.check()
        except OutOfTime:
            reason = OUT_OF_TIME
            continue
        except z3.Z3Exception as exc:
            reason = f"z3 could not decide it on {rung.name}: {exc}"
            continue
        if ans.status == "unsat":
            return False, None, None
        if ans.status != "sat":
            reason = OUT_OF_TIME if budget.expired() else ans.reason
            continue
        names = [n for n in spec.variables if n in reads]
        model, _ = minimise_model(q, [], default_softs(enc, sym, names) + states.softs(), sub)
        phase, depth, _ = states.decode(model)
        assignment = enc.decode(model, sym)
        valuation = states.decode_state(model) or {}  # the state variables at the state, if any
        at = with_state(assignment, valuation)
        interp = Interpreter(spec, params, exact=True)
        phase_name = phase if phase is not None else (spec.trajectory.start_phase if spec.trajectory else None)
        v_s = Fraction(interp.veto_probability(stronger, at, phase_name, depth))
        v_w = Fraction(interp.veto_probability(weaker, at, phase_name, depth))
        if not v_w < v_s:  # pragma: no cover - an engine that disagrees with the interpreter is a bug
            raise AssertionError(f"z3 and the interpreter disagree on {assignment} at {phase_name}, {depth}")
        shown = {**{n: assignment[n] for n in names}, **valuation}
        return True, Difference(stronger, weaker, shown, phase_name if (pa or pb) else None,
                                depth if (da or db) else None, v_s, v_w), None
    return None, None, reason or "not decided"
