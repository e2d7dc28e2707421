"""Hypothesis strategies drawn from a spec: assignments, states, pairs, trajectories.

Consumes: a checked spec (a :class:`libet.Specification` or its IR, :class:`libet.spec.ir.Spec`).
Produces: Hypothesis strategies whose examples are plain data (dicts of variable values) and
:class:`State` records (an assignment, a phase and a depth).

Every strategy draws values from the variables' finite domains in declaration order, so
Hypothesis shrinks towards the first value of each domain (``false``, the lower bound of an
int range, the first enum member), towards depth 0 and the first phase, and a pair towards two
requests that differ in as few variables as possible::

    from hypothesis import given
    import libet
    from libet.testing import strategies as lst

    spec = libet.load("examples/prefill.libet")

    @given(lst.pairs(spec, "framing"))
    def test_my_filter_ignores_framing(pair):
        a, b = pair
        assert my_filter(a) == my_filter(b)
"""

from __future__ import annotations

from typing import Any, Iterable, Mapping

import attrs
from hypothesis import strategies as st

from libet.errors import UsageError
from libet.spec import ir

#: Depths drawn when the spec's horizon is ``none`` (an unbounded trajectory) or it has none.
DEFAULT_MAX_DEPTH = 64


@attrs.frozen
class State:
    """One state of the spec's model: an assignment of every variable, a phase and a depth.
    With state variables (``state { ... }``) the assignment holds a valuation of them too.

    A ``State`` reads like the assignment (``state["topic"]``, ``state.get("persona")``), so a
    veto function written against a dict of variable values accepts it.
    """

    assignment: Mapping[str, Any] = attrs.field(converter=lambda a: dict(a))
    phase: str | None = None
    depth: int = 0

    def __getitem__(self, name: str):
        return self.assignment[name]

    def get(self, name: str, default=None):
        return self.assignment.get(name, default)

    def __contains__(self, name) -> bool:
        return name in self.assignment

    def keys(self):
        return self.assignment.keys()

    def describe(self) -> str:
        vals = ", ".join(f"{n} = {_show(v)}" for n, v in self.assignment.items())
        where = []
        if self.phase is not None:
            where.append(f"phase {self.phase}")
        where.append(f"depth {self.depth}")
        return f"{vals} ({', '.join(where)})"

    def to_json(self) -> dict:
        return {"assignment": dict(self.assignment), "phase": self.phase, "depth": self.depth}


@attrs.frozen
class Trajectory:
    """A path of a policy's chain: the states visited, how it ended, and its probability.

    Attributes:
        assignment: the assignment the path is drawn for.
        states: the (phase, depth) pairs visited, in order (the start first).
        outcome: ``"delivered"``, ``"stopped"`` or ``"vetoed"``.
        probability: the product of the probabilities of the steps taken (floats).
        harmful: whether the assignment is harmful (so *delivered* is harm).
        valuations: with state variables, their values at each state visited (after the
            adversary's choice, in an MDP); empty without.
    """

    assignment: Mapping[str, Any]
    states: tuple[tuple[str, int], ...]
    outcome: str
    probability: float
    harmful: bool
    valuations: tuple = ()


def as_ir(spec) -> ir.Spec:
    """The IR of ``spec`` (a :class:`libet.Specification`, or already IR)."""
    if isinstance(spec, ir.Spec):
        return spec
    inner = getattr(spec, "ir", None)
    if isinstance(inner, ir.Spec):
        return inner
    raise UsageError(f"expected a spec (libet.load(...)), got {type(spec).__name__}")


def resolve_under(spec, names: str | Iterable[str]) -> tuple[tuple[str, ...], bool]:
    """``names`` (variable names, the classes ``substance``/``framing``/``context``, and
    ``depth``) as (variable names in declaration order, whether depth is included).

    Raises:
        UsageError: for a name that is none of these.
    """
    spec = as_ir(spec)
    if isinstance(names, str):
        names = [n.strip() for n in names.split(",") if n.strip()]
    names = list(names)
    classes = {c.value for c in ir.VarClass}
    chosen: set[str] = set()
    depth = False
    for n in names:
        if n == "depth":
            depth = True
        elif n in classes:
            chosen |= {v for v, var in spec.variables.items() if var.cls.value == n}
        elif n in spec.variables:
            chosen.add(n)
        else:
            raise UsageError(
                f"'{n}' is not a variable, a variable class or depth",
                hint="variables: " + (", ".join(spec.variables) or "none") + "; classes: substance, framing, context",
            )
    if not chosen and not depth:
        raise UsageError(f"'{', '.join(names)}' names no variable", hint="the class may be empty in this spec")
    return tuple(v for v in spec.variables if v in chosen), depth


def _check_fixed(spec: ir.Spec, fixed: Mapping | None) -> dict:
    fixed = dict(fixed or {})
    for n, v in fixed.items():
        if n not in spec.variables:
            raise UsageError(f"cannot fix '{n}': not a variable of the spec", hint="variables: " + ", ".join(spec.variables))
        values = spec.variables[n].domain.values()
        if v not in values or type(v) is not type(values[0]):
            raise UsageError(f"cannot fix {n} = {_show(v)}: its domain is {spec.variables[n].domain}")
    return fixed


def substance_assignments(spec, harmful: bool | None = None, fixed: Mapping | None = None) -> list[dict]:
    """Every assignment of the substance variables (with ``fixed`` ones held), optionally only
    the harmful (``True``) or benign (``False``) ones, in declaration order."""
    from libet.spec.interpreter import Interpreter

    spec = as_ir(spec)
    fixed = _check_fixed(spec, fixed)
    names = tuple(n for n, v in spec.variables.items() if v.cls is ir.VarClass.SUBSTANCE and n not in fixed)
    held = {n: v for n, v in fixed.items() if spec.variables[n].cls is ir.VarClass.SUBSTANCE}
    out = list(spec.assignments(names, held))
    if harmful is not None:
        interp = Interpreter(spec)
        out = [a for a in out if interp.harmful(a) == harmful]
    return out


def _values(spec: ir.Spec, name: str, fixed: dict) -> tuple:
    return (fixed[name],) if name in fixed else spec.variables[name].domain.values()


def _nonempty(items, what: str):
    if not items:
        raise UsageError(f"no {what} assignment exists", hint="the spec (or the values fixed) admits none")
    return items


def assignments(spec, *, harmful: bool | None = None, fixed: Mapping | None = None) -> st.SearchStrategy[dict]:
    """An assignment of every variable of ``spec``: a dict name -> value.

    Args:
        harmful: ``True`` for harmful assignments only (some reference value false), ``False``
            for benign ones only, ``None`` for any.
        fixed: variables held at one value, name -> value.
    """
    spec = as_ir(spec)
    fixed = _check_fixed(spec, fixed)
    rest = [n for n, v in spec.variables.items() if v.cls is not ir.VarClass.SUBSTANCE]
    substance = _nonempty(substance_assignments(spec, harmful, fixed), "harmful" if harmful else "benign" if harmful is False else "")
    parts = [st.sampled_from(substance)] + [st.sampled_from(_values(spec, n, fixed)) for n in rest]
    order = list(spec.variables)

    def build(values):
        a = dict(values[0])
        a.update(zip(rest, values[1:]))
        return {n: a[n] for n in order}

    return st.tuples(*parts).map(build)


def _depths(spec: ir.Spec, max_depth: int | None) -> tuple[int, int]:
    traj = spec.trajectory
    if traj is not None and traj.horizon is not None:
        hi = traj.horizon - 1
    else:
        hi = DEFAULT_MAX_DEPTH - 1 if max_depth is None else max_depth
    if max_depth is not None:
        hi = min(hi, max_depth)
    return 0, max(hi, 0)


def _phases(spec: ir.Spec) -> tuple:
    return spec.trajectory.phase_names if spec.trajectory is not None else (None,)


def states(spec, *, harmful: bool | None = None, fixed: Mapping | None = None, max_depth: int | None = None) -> st.SearchStrategy[State]:
    """A :class:`State`: an assignment (as :func:`assignments`), a phase and a depth below the
    horizon (below ``max_depth`` + 1 when given, or below 64 for an unbounded horizon)."""
    spec = as_ir(spec)
    lo, hi = _depths(spec, max_depth)
    drawn = assignments(spec, harmful=harmful, fixed=fixed)
    if spec.state:  # and a valuation of the state variables, in the same mapping
        valuation = st.fixed_dictionaries({n: st.sampled_from(v.domain.values()) for n, v in spec.state.items()})
        drawn = st.builds(lambda a, s: {**a, **s}, drawn, valuation)
    return st.builds(State, drawn, st.sampled_from(_phases(spec)), st.integers(lo, hi))


def pairs(spec, under: str | Iterable[str], *, harmful: bool | None = None, fixed: Mapping | None = None,
          max_depth: int | None = None) -> st.SearchStrategy[tuple[State, State]]:
    """Two :class:`State` s that agree on everything but ``under``: variable names, a class
    (``"framing"``, ``"context"``, ``"substance"``) or ``"depth"``, or a list of these.

    The two agree on the substance, so both are harmful or both benign (``harmful`` restricts
    which). They may be equal; Hypothesis shrinks them towards differing in one variable.
    """
    spec = as_ir(spec)
    names, depth = resolve_under(spec, under)
    fixed = _check_fixed(spec, fixed)
    lo, hi = _depths(spec, max_depth)
    varied = [n for n in names if n not in fixed]

    @st.composite
    def draw_pair(draw):
        a = draw(states(spec, harmful=harmful, fixed=fixed, max_depth=max_depth))
        b = dict(a.assignment)
        for n in varied:
            b[n] = draw(st.sampled_from(spec.variables[n].domain.values()))
        if harmful is not None and any(spec.variables[n].cls is ir.VarClass.SUBSTANCE for n in varied):
            from libet.spec.interpreter import Interpreter

            if Interpreter(spec).harmful(b) != harmful:
                b = dict(a.assignment)
        d = draw(st.integers(lo, hi)) if depth else a.depth
        return a, State(b, a.phase, d)

    return draw_pair()


def trajectories(spec, policy: str, *, harmful: bool | None = None, fixed: Mapping | None = None,
                 params: Mapping | None = None) -> st.SearchStrategy[Trajectory]:
    """A path of ``policy``'s chain with positive probability: at each state Hypothesis picks
    the veto (when it fires with positive probability) or one of the generator's steps with
    positive probability, until the path is absorbed (vetoed, stopped, delivered at the
    horizon). With state variables the path carries them (``valuations``); at a choice point
    Hypothesis also plays the adversary, picking one of its options. Needs a finite horizon.
    Shrinks towards vetoing early, then the first transition.
    """
    from libet.spec.interpreter import Interpreter
    from libet.spec.rules import start_end, step_end

    spec = as_ir(spec)
    if policy not in spec.policies:
        raise UsageError(f"no policy '{policy}'", hint="policies: " + (", ".join(spec.policies) or "none"))
    traj = spec.trajectory
    if traj is None or traj.horizon is None:
        raise UsageError("trajectories need a trajectory with a finite horizon")
    interp = Interpreter(spec, params)
    H = traj.horizon

    @st.composite
    def draw_path(draw):
        a = draw(assignments(spec, harmful=harmful, fixed=fixed))
        q, d = interp.start(a)
        s = spec.initial_state
        visited, valuations = [], []
        prob = 1.0
        keep = tuple if spec.state else (lambda _: ())
        ends = start_end(d, H, traj.at_horizon)
        if ends is not None:
            return Trajectory(a, (), "delivered" if ends == ir.DELIVER else "stopped", 1.0, interp.harmful(a))
        while True:
            s = draw(st.sampled_from(interp.choices(a, q, d, s)))  # the adversary, where there is one
            visited.append((q, d))
            valuations.append(s)
            options = [m for m in interp.moves(policy, a, q, d, s) if m[3] > 0]
            kind, target, new, p = draw(st.sampled_from(options))
            prob *= float(p)
            done = None
            if kind == "vetoed":
                done = "vetoed"
            else:
                end = step_end(target, d + 1, H, traj.at_horizon)
                if end is not None:
                    done = "delivered" if end == ir.DELIVER else "stopped"
            if done is not None:
                return Trajectory(a, tuple(visited), done, prob, interp.harmful(a), keep(valuations))
            q, d, s = target, d + 1, new

    return draw_path()


def _show(v) -> str:
    if isinstance(v, bool):
        return "true" if v else "false"
    return str(v)
