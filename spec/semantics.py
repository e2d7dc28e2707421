"""Semantic checks on a well-typed spec, using the reference interpreter.

Consumes: an IR :class:`~libet.spec.ir.Spec` that passed name and type checking, and the checker
(to know which declarations come from the main file).
Produces: diagnostics only:

* E030: a reference value reads something other than substance (directly or through a def);
* E041-E044: a transition probability or veto strength outside [0, 1], transitions that do not
  sum to 1, a start depth outside 0..horizon, or an expression with no value. A phase or rule
  whose bounds (spec/bounds.py) show it valid everywhere is settled without a state enumerated;
  the others are checked by
  evaluating the expression at every state over the finite domains (only the variables the
  expression reads are enumerated, each state weighed by its expressions' size,
  :func:`weight`; W103 when even that is too large). A phase's probabilities and a rule's
  strength over many states are evaluated over numpy arrays (:func:`_marks_over_arrays`,
  :func:`_rule_marks`), and the interpreter replays the states they single out
  (:func:`_replay_marks`, :func:`_replay_rule_marks`); :func:`transition_plan` and
  :func:`strength_plan` say how each was checked;
* W101: a phase no positive-probability path reaches from the start (nor a refusal's `then`);
* W102: a variable, param or def that nothing uses;
* W106: a refusal that goes on (`veto ... then -> PHASE`) while reaching the horizon delivers,
  so a refusal at the last depth counts as delivered.
"""

from __future__ import annotations

import itertools
import math
import sys
from typing import Iterator, NamedTuple

from libet.errors import EvaluationError
from libet.spec import ir
from libet.spec.bounds import Bounds, CaseBudget
from libet.spec.diagnostics import Diagnostics, Note
from libet.spec.interpreter import Interpreter, checked_strength
from libet.spec.overrides import engine_params
from libet.spec.printer import count_text
from libet.spec.reads import reads_of


def check(spec: ir.Spec, checker, d: Diagnostics) -> None:
    _values_read_substance_only(spec, d)
    if d.has_errors:
        return
    interp = Interpreter(spec)
    budget = _Budget()
    bounds = _BoundsOf(spec)
    if spec.trajectory is not None:
        _start_depth(spec, interp, d, budget)
        _transitions(spec, interp, d, budget, bounds)
        _unreachable(spec, d)
        _refusals_at_horizon(spec, d)
    _strengths(spec, interp, d, budget, bounds)
    if spec.state and spec.trajectory is not None:  # updates happen on a trajectory's steps
        _updates(spec, interp, d, budget)
    _unused(spec, checker, d)


# ---- reference values ------------------------------------------------------------------------


def _values_read_substance_only(spec: ir.Spec, d: Diagnostics) -> None:
    """E030 once for each thing a value reads that is not substance, at the first place it is
    read, with a note counting the others (a value of 10,000 terms that reads a framing
    variable in each is one error, not 10,000)."""
    hint = "a value is a reference point: it may read substance variables only, never framing, context or state variables, depth, phase or params"
    impurity = _Impurity(spec)
    for value in spec.values.values():
        found: dict[str, list] = {}
        for node in ir.walk(value.expr):
            bad = impurity(node)
            if bad:
                found.setdefault(bad, []).append(node.span or value.span)
        for bad, spans in found.items():
            notes = ()
            if len(spans) > 1:
                more = len(spans) - 1
                notes = (Note(f"'{value.name}' reads it at {more:,} other place{'s' if more > 1 else ''} too, the next here", spans[1]),)
            d.error("E030", f"reference value '{value.name}' reads {bad}", spans[0], hint=hint, notes=notes)


class _Impurity:
    """What non-substance thing a node reads, or None. A def is followed into (not expanded: a
    def may mention ``harmful``, and expanding that would loop back into the values); what a
    def reads is found once per def, with an explicit stack, so a chain of thousands of defs
    costs one walk of each and no recursion."""

    def __init__(self, spec: ir.Spec):
        self.spec = spec
        self.defs: dict[str, str | None] = {}

    def __call__(self, node: ir.Expr) -> str | None:
        if isinstance(node, ir.DefRef):
            return self._def(node.name)
        return _direct_impurity(self.spec, node)

    def _def(self, name: str) -> str | None:
        """The first thing def ``name`` reads that is not substance, in the order of
        :func:`ir.walk` (a def it refers to counts where the reference is), named with the def
        that reads it directly. A def met again while it is being walked (a cycle, E031) reads
        nothing more."""
        defs, spec = self.defs, self.spec
        if name in defs:
            return defs[name]
        # each frame: the def, the rest of its walk, the def it is waiting for
        stack: list[list] = [[name, ir.walk(spec.defs[name].expr), None]]
        active = {name}
        while stack:
            frame = stack[-1]
            cur, nodes, waiting = frame
            why = defs.get(waiting) if waiting is not None else None
            frame[2] = None
            if why is None:
                for node in nodes:
                    if isinstance(node, ir.DefRef):
                        m = node.name
                        if m in defs:
                            why = defs[m]
                        elif m not in active:
                            frame[2] = m
                            stack.append([m, ir.walk(spec.defs[m].expr), None])
                            active.add(m)
                            break
                    else:
                        why = _direct_impurity(spec, node)
                        if why:
                            why = f"{why} through the def '{cur}'"
                    if why:
                        break
                if frame[2] is not None:
                    continue  # walk the def it refers to first
            defs[cur] = why
            active.discard(cur)
            stack.pop()
        return defs[name]


def _direct_impurity(spec: ir.Spec, node: ir.Expr) -> str | None:
    """What non-substance thing ``node`` itself reads (a def reference not followed), or None."""
    if isinstance(node, ir.VarRef):
        cls = spec.variables[node.name].cls
        if cls is not ir.VarClass.SUBSTANCE:
            return f"the {cls.value} variable '{node.name}'"
    elif isinstance(node, ir.StateRef):
        return f"the state variable '{node.name}'"
    elif isinstance(node, ir.Depth):
        return "'depth'"
    elif isinstance(node, ir.CurrentPhase):
        return "'phase'"
    elif isinstance(node, ir.ParamRef):
        return f"the param '{node.name}'"
    elif isinstance(node, ir.Harmful):
        return "'harmful', which is defined by the values themselves"
    return None


# ---- probabilities over the finite domains ---------------------------------------------------


def _depths(spec: ir.Spec) -> range:
    """The depths the checker tries: below the horizon, or the first UNBOUNDED_CHECK_DEPTHS
    when depth is unbounded (``horizon none``, or no trajectory at all)."""
    from libet.spec.checker import UNBOUNDED_CHECK_DEPTHS

    h = spec.trajectory.horizon if spec.trajectory is not None else None
    return range(h if h is not None else UNBOUNDED_CHECK_DEPTHS)


def _reads(spec: ir.Spec, exprs) -> tuple[tuple[str, ...], bool, bool]:
    """The variables ``exprs`` read (in declaration order), and whether any reads depth and
    phase (spec/reads.py, the one analysis)."""
    reads = reads_of(spec)
    exprs = list(exprs)
    names = reads.variables(exprs)
    ordered = tuple(n for n in spec.variables if n in names)
    return ordered, any(reads.depth(e) for e in exprs), any(reads.phase(e) for e in exprs)


def weight(spec: ir.Spec, exprs) -> int:
    """How many states one state of ``exprs`` counts as against the checks' budgets and
    thresholds: one per ``STATE_NODES`` nodes an evaluation visits (:meth:`Reads.size`), at
    least one. A state of a typical expression counts once; one of a weighted score of 4,000
    terms costs the interpreter what 800 such states do, and counts so."""
    from libet.spec.checker import STATE_NODES

    return max(1, -(-reads_of(spec).size(list(exprs)) // STATE_NODES))


class _Budget:
    """What is left of ENUMERATION_BUDGET for the whole spec: loading never enumerates more
    states than that in all (each counted by its :func:`weight`), however many phases and rules
    there are."""

    def __init__(self):
        from libet.spec.checker import ENUMERATION_BUDGET

        self.left = ENUMERATION_BUDGET

    def take(self, spec, names, n_states, what, span, d, weight: int = 1) -> bool:
        """Spend ``assignments(names) x n_states`` evaluations, each counted ``weight`` times,
        or warn (W103) and skip."""
        need = spec.assignment_count(names) * n_states
        if need * weight > self.left:
            _over_budget(d, need, weight, self.left, what, span)
            return False
        self.left -= need * weight
        return True

    def spend(self, spec, names, n_states, weight: int = 1) -> None:
        """For a check the bounds settled: spend its share as :func:`_plan_and_left` planned
        (when it fits; nothing when it does not), with no W103, so later checks get the plan's
        budget."""
        need = spec.assignment_count(names) * n_states * weight
        if need <= self.left:
            self.left -= need


def _over_budget(d: Diagnostics, need: int, weight: int, left: int, what: str, span) -> None:
    """W103 for a check of ``need`` states (each counted ``weight`` times) that ``left`` of
    ENUMERATION_BUDGET cannot take."""
    from libet.spec.checker import ENUMERATION_BUDGET as total

    states = count_text(need)
    counted = f"{states} states" if weight == 1 else f"{states} states, each counted {weight:,} times for its expressions' size,"
    why = (
        f"{counted} exceed the budget of {total:,}"
        if left == total
        else f"{counted} exceed what is left ({left:,}) of the budget of {total:,} for the whole spec"
    )
    d.warning(
        "W103",
        f"{what} not checked at every state: {why}",
        span,
        hint="the simulator and the Z3 checker still check every state they visit and report any violation",
    )


_HINTS = {
    "E041": "at every state a phase's probabilities must lie in [0, 1] and sum to 1; "
    "end the phase with `-> TARGET : otherwise` to give the remainder to one target",
    "E042": "a strength is a probability; keep it in [0, 1], e.g. with min(1, max(0, ...))",
    "E043": "the start depth must lie in 0..horizon: narrow the variable's domain or use min(...)",
    "E044": "guard the expression with `if ... then ... else ...` where it has no value",
}


def _report(d: Diagnostics, exc: EvaluationError, fallback_span) -> None:
    d.error(exc.code, f"{exc.message} (at {exc.state})", exc.span or fallback_span, hint=_HINTS.get(exc.code))


def _start_depth(spec: ir.Spec, interp, d: Diagnostics, budget: _Budget) -> None:
    traj = spec.trajectory
    names, _, _ = _reads(spec, [traj.start_depth])
    w = weight(spec, [traj.start_depth])
    if Bounds(spec, range(1), (traj.start_phase,)).start_settled():  # valid at every assignment
        budget.spend(spec, names, 1, w)
        return
    if not budget.take(spec, names, 1, "the start depth", traj.start_depth.span, d, w):
        return
    for a in spec.assignments(names):
        try:
            interp.start(a)
        except EvaluationError as exc:
            _report(d, exc, traj.span)
            return


class _Valuations:
    """Every valuation of some state variables (the others at their initial values), counted
    without being listed: 30 booleans have 2^30 valuations, and the budget decides from
    ``count`` whether any of them is tried at all."""

    __slots__ = ("base", "names", "spec", "count")

    def __init__(self, spec: ir.Spec, names: list[str]):
        self.spec, self.names = spec, names
        self.base = spec.initial_state if spec.state else {}
        self.count = math.prod(spec.state[n].size() for n in names)

    def __iter__(self) -> Iterator[dict]:
        domains = [self.spec.state[n].domain.values() for n in self.names]
        for combo in itertools.product(*domains):
            s = dict(self.base)
            s.update(zip(self.names, combo))
            yield s


def _valuations(spec: ir.Spec, exprs) -> _Valuations:
    """The valuations of the state variables ``exprs`` read: what the checker tries beside the
    assignments. One empty valuation without state."""
    if not spec.state:
        return _Valuations(spec, [])
    read = reads_of(spec).states(list(exprs))
    return _Valuations(spec, [n for n in spec.state if n in read])


class _Row(NamedTuple):
    """One phase's line of :func:`_plan`."""

    phase: ir.Phase
    names: tuple
    depths: range
    states: list
    quick: bool
    how: str
    weight: int


def _plan(spec: ir.Spec) -> list[_Row]:
    return _plan_and_left(spec)[0]


def _plan_and_left(spec: ir.Spec) -> tuple[list[_Row], int, int]:
    """How :func:`check` checks each phase's probabilities, decided from sizes alone, as
    :class:`_Row` ``(phase, names, depths, states, quick, how, weight)``: the variables they
    read, the depths and state valuations to try, ``quick`` (the phase may be checked over numpy
    arrays: it reads no state variable and spans more than ``VECTOR_PHASE_MIN`` states),
    ``how`` and ``weight`` (what one of its states counts as, :func:`weight`; every count below
    is of states so weighted). ``how`` is:
    ``"interpreter"`` (one state at a time, from the budget left after the start depth),
    ``"arrays"`` (over numpy arrays, :func:`_marks_over_arrays`: every such phase when
    together they span more than ``VECTOR_MIN``, and one the budget left cannot take) or
    ``"skipped"`` (W103). Also what the phases leave of the interpreter's budget and of the
    arrays' (the veto strengths' plan, :func:`_strength_plan`, goes on from there)."""
    from libet.spec.checker import ENUMERATION_BUDGET, VECTOR_BUDGET, VECTOR_MIN, VECTOR_PHASE_MIN

    traj = spec.trajectory
    left, vector_left = ENUMERATION_BUDGET, VECTOR_BUDGET
    if traj is None:
        return [], left, vector_left
    start = spec.assignment_count(_reads(spec, [traj.start_depth])[0]) * weight(spec, [traj.start_depth])
    if start <= left:  # the start depth is checked first (_start_depth)
        left -= start
    sized = []
    for phase in traj.phases:
        exprs = [t.prob for t in phase.transitions if t.prob is not None]
        names, uses_depth, _ = _reads(spec, exprs)
        depths = _depths(spec) if uses_depth else range(1)
        states = _valuations(spec, exprs)
        w = weight(spec, exprs)
        need = spec.assignment_count(names) * len(depths) * states.count * w
        sized.append((phase, names, depths, states, w, need, not reads_of(spec).states(exprs)))
    many = sum(need for *_, need, arrays_can in sized if arrays_can) > VECTOR_MIN
    plan = []
    for phase, names, depths, states, w, need, arrays_can in sized:
        how, left, vector_left = _decide(need, arrays_can, many, left, vector_left)
        plan.append(_Row(phase, names, depths, states, arrays_can and need > VECTOR_PHASE_MIN, how, w))
    return plan, left, vector_left


def _decide(need: int, arrays_can: bool, many: bool, left: int, vector_left: int) -> tuple[str, int, int]:
    """How a check of ``need`` (weighted) states is made, and the budgets left after it: over
    arrays when it can be and either ``many`` (the checks that can go over arrays are worth
    numpy's import) and it is over ``VECTOR_PHASE_MIN``, or the interpreter's budget cannot take
    it; else by the interpreter within its budget; else skipped."""
    from libet.spec.checker import VECTOR_PHASE_MIN

    if arrays_can and need <= vector_left and ((many and need > VECTOR_PHASE_MIN) or need > left):
        return "arrays", left, vector_left - need
    if need <= left:
        return "interpreter", left - need, vector_left
    return "skipped", left, vector_left


def transition_plan(spec: ir.Spec) -> dict[str, str]:
    """Phase name -> how :func:`check` checks its probabilities (:func:`_plan`):
    ``"interpreter"``, ``"arrays"`` or ``"skipped"``. proofs/wellformed.py asks Z3 about the
    skipped ones."""
    if spec.trajectory is None:
        return {}
    return {row.phase.name: row.how for row in _plan(spec)}


class _BoundsOf:
    """The :class:`~libet.spec.bounds.Bounds` of one check's ranges, the bounds of a def that
    reads no phase shared by every range of the same depths (a weighted score read by the
    phases and by a rule is bounded once)."""

    def __init__(self, spec: ir.Spec):
        self.spec = spec
        self._shared: dict[tuple, dict] = {}
        self._cases = CaseBudget()  # one budget of case splits for the whole spec

    def __call__(self, depths: range, phases) -> Bounds:
        shared = self._shared.setdefault((depths.start, depths.stop), {})
        return Bounds(self.spec, depths, phases, shared=shared, cases=self._cases)


def _settled(row, budget: _Budget, spec: ir.Spec, n_states: int) -> None:
    """A row the bounds settled: one planned for the interpreter still spends its share of
    the budget, so every later row is checked as the plan says."""
    if row.how == "interpreter":
        budget.spend(spec, row.names, n_states, row.weight)


def _transitions(spec: ir.Spec, interp, d: Diagnostics, budget: _Budget, bounds: _BoundsOf | None = None) -> None:
    # A phase whose probabilities the bounds (spec/bounds.py) keep inside [0, 1] is valid at
    # every state and is not enumerated, whatever its plan; the others are checked as planned.
    # With numpy already imported (the engines, a notebook), arrays cost no import: a phase
    # planned for the interpreter is checked over them too, and by the interpreter only when
    # the arrays leave it undecided (more marked states than are replayed), so the diagnostics
    # are the plan's whatever was imported before (tests/test_static_arrays.py).
    imported = _numpy_imported()
    bounds = bounds or _BoundsOf(spec)
    plan = _plan(spec)
    settled = {row.phase.name for row in plan if bounds(row.depths, (row.phase.name,)).probabilities_settled(row.phase)}
    arrays = [row for row in plan if row.phase.name not in settled
              and (row.how == "arrays" or (row.quick and imported and row.how == "interpreter"))]
    marks = _marks_over_arrays(spec, arrays)
    for row in plan:
        phase = row.phase
        what = f"the probabilities of phase '{phase.name}'"
        n_states = len(row.depths) * row.states.count
        if phase.name in settled:
            _settled(row, budget, spec, n_states)
            continue
        if row.how == "arrays":
            _replay_marks(spec, row, marks[phase.name], interp, d)
            continue
        if not budget.take(spec, row.names, n_states, what, phase.span, d, row.weight):
            continue
        found = marks.get(phase.name)
        if found is not None and _replay_marks(spec, row, found, interp, d, settle=False):
            continue
        try:
            for a, s, depth in itertools.product(spec.assignments(row.names), row.states, row.depths):
                interp.transitions({**a, **s}, phase.name, depth)
        except EvaluationError as exc:
            _report(d, exc, phase.span)


#: Probabilities within this of a bound are replayed too: numpy's exp, log and pow may differ
#: from the C library's in the last bit, and the interpreter's verdict is the one that counts.
_NEAR = 1e-12
#: At most this many singled-out states are replayed per phase.
_REPLAYS = 1000


def _numpy_imported() -> bool:
    return "numpy" in sys.modules


def _array_env(spec: ir.Spec, names) -> tuple[int, dict]:
    """(n, env): every assignment of ``names`` at once, as one (1, n) array per variable, in
    ``Spec.assignments``' order (assignment ``a`` of the arrays is the interpreter's ``a``-th)."""
    import math

    from libet.spec.vectorize import domain_array, index_grids

    sizes = tuple(len(spec.variables[v].domain.values()) for v in names)
    grids = index_grids(sizes)
    return math.prod(sizes), {v: domain_array(spec.variables[v])[grids[i]][None, :] for i, v in enumerate(names)}


def _assignment_at(spec: ir.Spec, names):
    """The ``a``-th assignment of ``names`` (:func:`_array_env`'s order), as a function of ``a``."""
    from libet.spec.vectorize import index_grids

    domains = [spec.variables[v].domain.values() for v in names]
    grids = index_grids(tuple(len(x) for x in domains))
    return lambda a: {v: domains[j][grids[j, a]] for j, v in enumerate(names)}


def _blocks(n: int, H: int):
    """The chunks ``(lo, hi)`` of depths 0 .. H - 1 a check over arrays of ``n`` assignments
    takes at a time: about 2^16 states each."""
    chunk = max(1, (1 << 16) // max(1, n))
    return ((lo, min(H, lo + chunk)) for lo in range(0, H, chunk))


class _Marks:
    """The states a check over arrays marks, as the interpreter's keys: ``(assignment * P +
    phase) * H + depth`` over ``n`` assignments, ``P`` phases and ``H`` depths (increasing keys
    are the interpreter's order). Keeps the first ``_REPLAYS`` and counts them all."""

    def __init__(self, n: int, H: int, P: int = 1):
        self.n, self.H, self.P = n, H, P
        self.parts: list = []
        self.total = 0

    def add(self, bad, lo: int, hi: int, phase: int = 0) -> None:
        """The marks ``bad`` (a mask broadcastable to (hi - lo, n), or False) of one block of
        depths ``lo .. hi - 1`` at phase number ``phase``."""
        import numpy as np

        if bad is False or not np.any(bad):
            return
        at_depth, at_assignment = np.nonzero(np.broadcast_to(bad, (hi - lo, self.n)))
        self.total += len(at_depth)
        keys = (at_assignment * self.P + phase) * self.H + at_depth + lo
        self.parts.append(np.sort(keys)[:_REPLAYS])

    def found(self) -> tuple[list[int], int]:
        """(the first ``_REPLAYS`` keys in increasing order, how many were marked)."""
        import numpy as np

        keys = np.sort(np.concatenate(self.parts))[:_REPLAYS].tolist() if self.parts else []
        return keys, self.total


def _marks_over_arrays(spec: ir.Spec, rows) -> dict[str, tuple[list[int], int]]:
    """The check of :func:`_transitions` over numpy arrays, for the phases of ``rows`` (plan
    rows): each phase's probabilities at every assignment of the variables it reads and every
    depth 0 .. H - 1 at once, chunk by chunk of depths, with the interpreter's rules
    (:func:`libet.spec.vectorize.step_probabilities`) at a tolerance ``_NEAR`` tighter, so the
    states it marks include every state the interpreter rejects. Phases that read the same
    variables over the same depths share one :class:`~libet.spec.vectorize.Block` per chunk, so
    a subterm they have in common (``exp(-gain * depth)`` in every phase) is evaluated once.

    Returns phase name -> (the first ``_REPLAYS`` marked states, as ``assignment * H + depth``
    in increasing order, which is the interpreter's order; how many were marked)."""
    if not rows:
        return {}

    import numpy as np

    from libet.spec.vectorize import (
        TOLERANCE,
        ArrayEval,
        Block,
        step_probabilities,
    )

    groups: dict[tuple, list] = {}
    for row in rows:
        groups.setdefault((tuple(row.names), len(row.depths)), []).append(row.phase)
    params = engine_params(spec, None, False)  # the checks over arrays run in double precision
    out = {}
    for (names, H), phases in groups.items():
        n, env = _array_env(spec, names)
        marked = {phase.name: _Marks(n, H) for phase in phases}
        for lo, hi in _blocks(n, H):
            block = Block(lo, hi, share=len(phases) > 1)
            for phase in phases:
                ev = ArrayEval(spec, params, env, phase=phase.name, block=block)
                with np.errstate(all="ignore"):
                    raw = [None if t.prob is None else ev(t.prob) for t in phase.transitions]
                    raw = [None if r is None else (ev.real(r[0]), r[1]) for r in raw]
                    _, bad = step_probabilities(raw, 1.0, 0.0, TOLERANCE - _NEAR)
                marked[phase.name].add(bad, lo, hi)
        out.update((name, m.found()) for name, m in marked.items())
    return out


def _replay_marks(spec: ir.Spec, row: _Row, found: tuple[list[int], int], interp, d: Diagnostics,
                  settle: bool = True) -> bool:
    """The states :func:`_marks_over_arrays` marked in ``row``'s phase, replayed with the interpreter
    in its own order (assignments, then depths); the first one it rejects is reported, as the
    one-at-a-time check would.

    More marked states than ``_REPLAYS``, all valid, leave the phase undecided: W103 when
    ``settle``, else nothing is said and False is returned (the caller checks one state at a
    time). True otherwise."""
    if not found[0]:
        return True  # nothing marked: no assignment grid to build
    phase, H = row.phase, len(row.depths)
    assignment_at = _assignment_at(spec, row.names)

    def one(key: int) -> None:
        a, i = divmod(key, H)
        interp.transitions(assignment_at(a), phase.name, i)

    return _replay(found, one, f"the probabilities of phase '{phase.name}'", phase.span, d, settle)


def _replay(found: tuple[list[int], int], one, what: str, span, d: Diagnostics, settle: bool) -> bool:
    """The marked states ``found`` (the first keys, and how many were marked) replayed in order
    by ``one(key)``, which raises the interpreter's error; the first error is reported. With
    more marked than replayed, all valid: W103 when ``settle`` and True, else False."""
    keys, total = found
    for key in keys:
        try:
            one(key)
        except EvaluationError as exc:
            _report(d, exc, span)
            return True
    if total > _REPLAYS:
        if not settle:
            return False
        _near_bound(d, what, span)
    return True


def _near_bound(d: Diagnostics, what: str, span) -> None:
    """W103 for a check the arrays leave undecided (more near-bound states than replayed)."""
    d.warning(
        "W103",
        f"{what} not checked at every state: more than {_REPLAYS:,} states "
        f"lie within {_NEAR:g} of a bound, and the first {_REPLAYS:,} of them are valid",
        span,
        hint="the simulator and the Z3 checker still check every state they visit and report any violation",
    )


def _updates(spec: ir.Spec, interp, d: Diagnostics, budget: _Budget) -> None:
    """E093: every update keeps its variable in its domain, at every valuation of the state
    it reads (an update reads the state, params and literals only, so this is exhaustive)."""
    steps = [(t.updates, t.span) for p in spec.trajectory.phases for t in p.transitions if t.updates]
    steps += [(r.updates, r.span) for pol in spec.policies.values() for r in pol.rules if r.updates]
    phase = spec.trajectory.start_phase
    for updates, span in steps:
        exprs = [u.expr for u in updates]
        states = _valuations(spec, exprs)
        if not budget.take(spec, (), states.count, "a step's state updates", span, d, weight(spec, exprs)):
            continue
        try:
            for s in states:
                interp._apply(updates, s, s, phase, 0)
        except EvaluationError as exc:
            d.error(
                "E093",
                f"{exc.message} (at {_valuation(exc.state)})",
                exc.span or span,
                hint="keep the value inside the domain with min or max (`x = min(x + 1, 3)` for 0..3), or widen the domain",
            )


def _valuation(where: str) -> str:
    """The state part of an interpreter's state description (the depth and phase mean nothing
    for an update, which reads the state only)."""
    head, _, rest = where.partition("assignment ")
    return "state " + rest if rest else where


class _RuleRow(NamedTuple):
    """One veto rule's line of :func:`_strength_plan`: what :func:`_strengths` tries and how
    (fields as :class:`_Row`'s; ``phases`` the phases tried)."""

    policy: str
    rule: ir.Rule
    names: tuple
    depths: range
    phases: tuple
    states: list
    quick: bool
    how: str
    weight: int


def _strength_plan(spec: ir.Spec) -> list[_RuleRow]:
    """How :func:`_strengths` checks each rule's strength, decided from sizes alone and after
    the phases (:func:`_plan_and_left`), with the same rules: ``"interpreter"`` from the budget
    the phases left, ``"arrays"`` (:func:`_rule_marks`) when the rules that can go over arrays
    (those reading no state variable) span more than ``VECTOR_MIN`` states, or some phase
    already does, for a rule of more than ``VECTOR_PHASE_MIN`` states, and for one the budget
    left cannot take; ``"skipped"`` (W103) otherwise. A constant strength is one state."""
    from libet.spec.checker import VECTOR_MIN, VECTOR_PHASE_MIN

    phase_rows, left, vector_left = _plan_and_left(spec)
    phases = spec.trajectory.phase_names if spec.trajectory is not None else (None,)
    sized = []
    for policy in spec.policies.values():
        for rule in policy.rules:
            if isinstance(rule.strength, ir.Const):
                sized.append((policy.name, rule, (), range(1), phases[:1], _Valuations(spec, []), 1, 1, False))  # one state
                continue
            exprs = [rule.condition, rule.strength]
            names, uses_depth, uses_phase = _reads(spec, exprs)
            depths = _depths(spec) if uses_depth else range(1)
            ph = phases if uses_phase else phases[:1]
            states = _valuations(spec, exprs)
            w = weight(spec, exprs)
            need = spec.assignment_count(names) * len(depths) * len(ph) * states.count * w
            sized.append((policy.name, rule, names, depths, ph, states, w, need, not reads_of(spec).states(exprs)))
    many = any(row.how == "arrays" for row in phase_rows) or (
        sum(need for *_, need, arrays_can in sized if arrays_can) > VECTOR_MIN)
    plan = []
    for policy, rule, names, depths, ph, states, w, need, arrays_can in sized:
        how, after, vector_left = _decide(need, arrays_can, many, left, vector_left)
        quick = arrays_can and need > VECTOR_PHASE_MIN
        plan.append(_RuleRow(policy, rule, names, depths, ph, states, quick, how, w))
        left = after
    return plan


def strength_plan(spec: ir.Spec) -> dict[tuple[str, int], str]:
    """(policy, rule's index in it) -> how :func:`check` checks the rule's strength
    (:func:`_strength_plan`): ``"interpreter"``, ``"arrays"`` or ``"skipped"``.
    proofs/wellformed.py asks Z3 about the skipped ones."""
    out: dict[tuple[str, int], str] = {}
    index: dict[str, int] = {}
    for row in _strength_plan(spec):
        i = index[row.policy] = index.get(row.policy, -1) + 1
        out[(row.policy, i)] = row.how
    return out


def _strengths(spec: ir.Spec, interp, d: Diagnostics, budget: _Budget, bounds: _BoundsOf | None = None) -> None:
    """Each rule's strength lies in [0, 1] wherever its condition holds.

    Rules are checked one at a time, enumerating only what the rule reads, as
    :func:`_strength_plan` says: one state at a time, or over arrays with the interpreter
    replaying the states they single out (as the phases are, and with numpy already imported
    a rule planned for the interpreter too); a constant strength (the common case) is
    evaluated once.
    """
    imported = _numpy_imported()
    bounds = bounds or _BoundsOf(spec)
    for row in _strength_plan(spec):
        rule = row.rule
        what = f"the veto strength of a rule of '{row.policy}'"
        n_states = len(row.depths) * len(row.phases) * row.states.count
        if bounds(row.depths, row.phases).strength_settled(rule):
            _settled(row, budget, spec, n_states)
            continue
        if row.how == "arrays":
            _replay_rule_marks(spec, row, _rule_marks(spec, row), interp, d)
            continue
        # as for the phases: the budget left here is the plan's, so it refuses (W103) exactly
        # the rules the plan skipped
        if not budget.take(spec, row.names, n_states, what, rule.span, d, row.weight):
            continue
        if row.quick and imported and _replay_rule_marks(spec, row, _rule_marks(spec, row), interp, d, settle=False):
            continue
        strength = interp.compile(rule.strength)
        # a constant strength is checked once, wherever the rule fires (its condition is not
        # even compiled); any other only where the condition holds
        cond = None if isinstance(rule.strength, ir.Const) else interp.compile(rule.condition)
        try:
            for a0, s, p, depth in itertools.product(spec.assignments(row.names), row.states, row.phases, row.depths):
                a = {**a0, **s} if s else a0
                if cond is not None and not cond(a, depth, p):
                    continue
                checked_strength(strength(a, depth, p), rule, a, p, depth)
        except EvaluationError as exc:
            _report(d, exc, rule.span)


def _rule_marks(spec: ir.Spec, row: _RuleRow) -> tuple[list[int], int]:
    """A rule's strength check over numpy arrays: at every assignment of what it reads, every
    phase tried and every depth at once, chunk by chunk of depths, the states where the
    condition has no value, or holds and the strength has none or lies outside [0, 1] by more
    than the interpreter's tolerance less ``_NEAR`` (so they include every state the
    interpreter rejects). Returns (the first ``_REPLAYS`` of them as ``(assignment * phases +
    phase) * H + depth``, the interpreter's order; how many there are)."""
    import numpy as np

    from libet.spec.vectorize import TOLERANCE, ArrayEval, Block, mask_and, mask_or, outside

    rule, H, P = row.rule, len(row.depths), len(row.phases)
    n, env = _array_env(spec, row.names)
    params = engine_params(spec, None, False)  # the checks over arrays run in double precision
    tol = TOLERANCE - _NEAR
    marks = _Marks(n, H, P)
    for lo, hi in _blocks(n, H):
        block = Block(lo, hi, share=P > 1)
        for i, phase in enumerate(row.phases):
            ev = ArrayEval(spec, params, env, phase=phase, block=block)
            with np.errstate(all="ignore"):
                c, ec = ev(rule.condition)
                s, es = ev(rule.strength)
                bad = mask_or(ec, mask_and(c, mask_or(es, outside(ev.real(s), -tol, 1 + tol))))
            marks.add(bad, lo, hi, i)
    return marks.found()


def _replay_rule_marks(spec: ir.Spec, row: _RuleRow, found: tuple[list[int], int], interp, d: Diagnostics,
                       settle: bool = True) -> bool:
    """:func:`_replay_marks` for a rule's strength: the marked states replayed with the
    interpreter in its order, the first it rejects reported; True unless more states were
    marked than replayed, all valid, and not ``settle`` (W103 when ``settle``)."""
    if not found[0]:
        return True  # nothing marked: nothing to compile either
    rule, H, P = row.rule, len(row.depths), len(row.phases)
    assignment_at = _assignment_at(spec, row.names)
    strength, cond = interp.compile(rule.strength), interp.compile(rule.condition)

    def one(key: int) -> None:
        rest, depth = divmod(key, H)
        a_index, i = divmod(rest, P)
        a, phase = assignment_at(a_index), row.phases[i]
        if cond(a, depth, phase):
            checked_strength(strength(a, depth, phase), rule, a, phase, depth)

    return _replay(found, one, f"the veto strength of a rule of '{row.policy}'", rule.span, d, settle)


# ---- structure -------------------------------------------------------------------------------


def _unreachable(spec: ir.Spec, d: Diagnostics) -> None:
    traj = spec.trajectory
    seen = {traj.start_phase}
    todo = [traj.start_phase]
    # a refusal that goes on (`veto ... then -> r`) reaches r from wherever its policy vetoes
    refusals = {r.then for pol in spec.policies.values() for r in pol.rules if r.then is not None}
    for r in refusals:
        if r not in seen:
            seen.add(r)
            todo.append(r)
    while todo:
        p = traj.phase(todo.pop())
        for t in p.transitions:
            never = isinstance(t.prob, ir.Const) and t.prob.value == 0
            if t.target not in ir.EXITS and not never and t.target not in seen:
                seen.add(t.target)
                todo.append(t.target)
    for p in traj.phases:
        if p.name not in seen:
            d.warning(
                "W101",
                f"phase '{p.name}' is unreachable from the start phase '{traj.start_phase}'",
                p.span,
                hint="add a transition into it, or remove it",
            )


def _refusals_at_horizon(spec: ir.Spec, d: Diagnostics) -> None:
    traj = spec.trajectory
    if traj.horizon is None or traj.at_horizon != ir.DELIVER or traj.at_horizon_written:
        return
    for pol in spec.policies.values():
        rule = next((r for r in pol.rules if r.then is not None), None)
        if rule is None:
            continue
        d.warning(
            "W106",
            f"policy '{pol.name}' refuses and goes on, and reaching the horizon delivers: a refusal at depth "
            f"{traj.horizon - 1} ends in delivered (harm, if the request is harmful)",
            rule.span,
            hint="if running out of turns means nothing was delivered, write `horizon "
            f"{traj.horizon} then stop`; `horizon {traj.horizon} then deliver` says the default on purpose",
        )


def _unused(spec: ir.Spec, checker, d: Diagnostics) -> None:
    used: set[str] = set()
    exprs: list[ir.Expr] = [x.expr for x in spec.defs.values()] + [v.expr for v in spec.values.values()]
    if spec.trajectory is not None:
        exprs.append(spec.trajectory.start_depth)
        exprs += [t.prob for p in spec.trajectory.phases for t in p.transitions if t.prob is not None]
    exprs += [x for pol in spec.policies.values() for r in pol.rules for x in (r.condition, r.strength)]
    if spec.trajectory is not None:  # state updates and choice points
        exprs += [u.expr for p in spec.trajectory.phases for t in p.transitions for u in t.updates]
        exprs += [c.when for p in spec.trajectory.phases for c in p.choices if c.when is not None]
        used.update(c.var for p in spec.trajectory.phases for c in p.choices)
    exprs += [u.expr for pol in spec.policies.values() for r in pol.rules for u in r.updates]
    from libet.spec.structural import expressions as structural_exprs

    exprs += structural_exprs(spec)  # a horizon or weights over params
    refs = (ir.VarRef, ir.StateRef, ir.ParamRef, ir.DefRef)
    stack = exprs  # every node, in no particular order (a set is filled): one loop, no generator
    while stack:
        node = stack.pop()
        if isinstance(node, refs):
            used.add(node.name)
        stack.extend(node.children())
    for c in spec.checks:
        used.update(getattr(c.prop, "variables", ()))
        used.update(getattr(c.prop, "for_all", ()))
        used.update(getattr(c.prop, "under", ()))
    for e in spec.experiments.values():
        used.update(v.name for v in e.vary)
        used.update(n for n, _ in e.set)
        used.update(e.worst_over)
    for name, decl in checker.names.items():
        if not decl.main or name in used or decl.kind == "value":
            continue
        table = {"variable": spec.variables, "state variable": spec.state, "param": spec.params, "def": spec.defs}[decl.kind]
        if name in table:
            d.warning(
                "W102",
                f"{decl.kind} '{name}' is never used",
                table[name].span,
                hint="remove it, or use it in a value, policy, transition or check",
            )
