"""The reference interpreter: what every expression, veto and transition of a spec means.

Consumes: a checked :class:`~libet.spec.ir.Spec`, parameter values, and concrete states
(an assignment of every variable, a phase, a depth).
Produces: values of expressions, veto probabilities, transition distributions, and (by a plain
forward pass over the states, one at a time) the outcome probabilities of a trajectory.

This module is the ground truth (docs/semantics.md). The Z3 encoding and the simulator must agree
with it, and the property-based tests check that they do. It is written to be obviously right
first; it is fast only in the one way that keeps it obvious: each expression is compiled once
into a tree of Python closures (no ``eval``, no ``exec``; a spec never runs code), so a query
costs a few closure calls instead of a walk over the IR with dispatch at every node.

Numbers: by default arithmetic is in double precision (``float``). ``exact=True`` computes with
:class:`fractions.Fraction`; ``exp``, ``log`` and ``pow`` with a non-integer exponent have no
rational value, so in both modes they are computed in double precision and, in exact mode, that
double is then used as an exact rational. Every engine follows the same rule.
"""

from __future__ import annotations

import itertools
import math
import operator
import threading
from fractions import Fraction
from typing import Callable, Iterator, Mapping

import attrs

from libet.errors import EvaluationError, InternalError
from libet.spec import ir
from libet.spec import measures as ms
from libet.spec.overrides import engine_params
from libet.spec.reads import reads_of
from libet.spec.rules import resolve_otherwise, start_end, step_end, veto_probability, veto_split
from libet.spec.visit import Dispatch

# A compiled expression: (assignment, depth, phase) -> value.
Compiled = Callable[[Mapping, int, str], object]

_ARITH = {ir.ArithOp.ADD: operator.add, ir.ArithOp.SUB: operator.sub, ir.ArithOp.MUL: operator.mul}

#: A def with a chain of at least this many defs below it is evaluated bottom-up (_deep_def).
DEEP_DEFS = 32


class _Failed:
    """A def of a deep chain with no value at the state: raised only if the evaluation reads it."""

    __slots__ = ("exc",)

    def __init__(self, exc: EvaluationError):
        self.exc = exc


#: The outcome each way of ending a step stands for.
_OUTCOME = {ir.DELIVER: "delivered", ir.STOP: "stopped"}

#: Absolute tolerance for "probabilities sum to 1" and "lies in [0, 1]", in both modes: whether
#: a spec is well formed must not depend on how it is computed (docs/semantics.md §4).
TOLERANCE = 1e-9


@attrs.frozen(slots=True)
class Outcomes:
    """What one policy does on one assignment (horizon must be finite): the probability mass
    and the depth-weighted mass of every (outcome, phases visited) pair, from which every
    measure follows (:mod:`libet.spec.measures`).

    ``mass[(o, V)]`` is the probability that the trajectory ends in outcome ``o`` having
    visited exactly the phases ``V`` among the ``tracked`` ones; ``depth_mass`` the same
    weighted by the depth at absorption. ``start_depth`` and ``is_harmful`` are facts of the
    assignment. The attributes ``delivered`` ... ``depth_at`` are the standard measures.
    """

    mass: dict
    depth_mass: dict
    tracked: frozenset
    start_depth: int
    is_harmful: bool
    zero: object
    refusal_mass: dict = attrs.field(factory=dict)  # the same, weighted by the refusals on the way

    def quantity(self, outcomes, visits, reward: str):
        """E[reward · 1(outcome in ``outcomes`` and every phase of ``visits`` visited)]."""
        missing = frozenset(visits) - self.tracked
        if missing:
            raise ValueError(f"this pass did not track visits to {', '.join(sorted(missing))}")
        table = {"one": self.mass, "depth": self.depth_mass, "refusals": self.refusal_mass}[reward]
        total = self.zero
        for (o, seen), x in table.items():
            if o in outcomes and visits <= seen:
                total = total + x
        return total

    def parts(self, m: ms.Measure):
        """``(numerator, denominator)`` of ``m`` (denominator None without a condition)."""
        from libet.spec.rules import python_select

        return ms.parts(m, self.quantity, self.is_harmful, self.start_depth, python_select, self.zero)

    def measure(self, m: ms.Measure):
        """The value of ``m``; ``None`` when it is conditioned on an event of probability 0."""
        num, den = self.parts(m)
        return ms.ratio(num, den)

    @property
    def delivered(self):
        return self.measure(ms.DELIVERED)

    @property
    def stopped(self):
        return self.measure(ms.STOPPED)

    @property
    def vetoed(self):
        return self.measure(ms.VETOED)

    @property
    def harm(self):
        return self.measure(ms.HARM)

    @property
    def over_refusal(self):
        return self.measure(ms.OVER_REFUSAL)

    @property
    def depth(self):
        return self.measure(ms.DEPTH)

    @property
    def depth_at(self) -> dict:
        """Expected depth given each outcome (``None`` where it has probability 0)."""
        return {o: self.measure(ms.expectation(ms.Reward.DEPTH, ms.ATOMS[o])) for o in ms.OUTCOMES}


class Interpreter:
    """Evaluates a spec's expressions on concrete states.

    Args:
        spec: the checked spec.
        params: overrides for parameter values (name -> number); the rest keep their defaults.
        exact: compute with ``Fraction`` instead of ``float``.
        bind: take a horizon or weights written over params at ``params``
            (:func:`libet.spec.structural.bind`); False only inside that function.

    Raises:
        UsageError: at construction, for an unknown param or a value outside its range.
        EvaluationError: at query time, for a division by zero, the log of a non-positive
            number, a probability outside [0, 1], or transitions that do not sum to 1. The
            message names the expression's location, the phase, the depth and the assignment.
    """

    def __init__(self, spec: ir.Spec, params: Mapping[str, object] | None = None, *, exact=False, bind=True):
        if bind:  # a horizon or weights written over params take their values at ``params``
            from libet.spec.structural import bind as at_params

            spec = at_params(spec, params)
        self.spec = spec
        self.exact = exact
        self._num = Fraction if exact else float
        self.params = engine_params(spec, params, exact)
        self._dispatch = Dispatch(self, "c_")
        self._frames = threading.local()  # values of deep def chains, per evaluation (_deep_def)
        self._compiling_chain = False  # a deep def's chain is being compiled in order (_deep_def)
        self._named: dict[str, Compiled] = {}
        self._cache: dict[int, tuple[ir.Expr, Compiled]] = {}
        self._values = {n: self._named_closure("value", n) for n in spec.values}
        harm_parts = tuple(self._values.values())
        self._harmful = lambda a, d, p: any(not f(a, d, p) for f in harm_parts)
        self._policies: dict[str, tuple] = {}
        self._phases: dict[str, tuple] = {}
        self._choices: dict[str, tuple] = {}
        self._update_fns: dict[int, tuple] = {}

    # -- expressions -------------------------------------------------------------------------

    def compile(self, expr: ir.Expr) -> Compiled:
        """A closure computing ``expr`` from (assignment, depth, phase); memoised per node."""
        hit = self._cache.get(id(expr))
        if hit is not None and hit[0] is expr:
            return hit[1]
        fn = self._dispatch(expr)
        self._cache[id(expr)] = (expr, fn)
        return fn

    def evaluate(self, expr: ir.Expr, assignment: Mapping, depth: int = 0, phase: str | None = None, state=None):
        """The value of ``expr`` in the state (assignment, depth, phase, state variables);
        ``state`` defaults to the initial valuation."""
        if phase is None and self.spec.trajectory is not None:
            phase = self.spec.trajectory.start_phase
        if self.spec.state:
            assignment = {**assignment, **self.spec.initial_state, **(state or {})}
        return self.compile(expr)(assignment, depth, phase)

    def holds(self, value: str, assignment: Mapping) -> bool:
        """Whether the reference value ``value`` holds on ``assignment``."""
        return bool(self._values[value](assignment, 0, None))

    def harmful(self, assignment: Mapping) -> bool:
        """Whether some reference value is false on ``assignment``."""
        return self._harmful(assignment, 0, None)

    # -- policy ------------------------------------------------------------------------------

    def _compiled_rules(self, policy: str) -> tuple:
        rules = self._policies.get(policy)
        if rules is None:
            rules = tuple(
                (self.compile(r.condition), self.compile(r.strength), r)
                for r in self.spec.policies[policy].rules
            )
            self._policies[policy] = rules
        return rules

    def veto_probability(self, policy: str, assignment: Mapping, phase: str, depth: int):
        """1 - prod(1 - s_i) over the rules of ``policy`` whose condition holds at the state
        (with state variables, ``assignment`` carries the state's values too)."""
        rules = self._compiled_rules(policy)
        fired = (
            (True, checked_strength(strength(assignment, depth, phase), rule, assignment, phase, depth))
            for cond, strength, rule in rules
            if cond(assignment, depth, phase)
        )
        return veto_probability(fired, self._num(1))

    def veto_ends(self, policy: str, assignment: Mapping, phase: str, depth: int) -> tuple[dict, object]:
        """``(ends, v)``: the veto probability ``v`` split by where it sends the trajectory
        (:func:`libet.spec.rules.veto_split`): ``ends[None]`` ends it *vetoed*, ``ends[r]``
        goes on in phase ``r`` at the next depth (a refusal with ``then -> r``)."""
        self.veto_probability(policy, assignment, phase, depth)  # compiles and checks the strengths
        rules = self._policies[policy]
        fired = (
            (True, checked_strength(strength(assignment, depth, phase), rule, assignment, phase, depth), rule.then)
            for cond, strength, rule in rules
            if cond(assignment, depth, phase)
        )
        return veto_split(fired, self._num(1))

    # -- trajectory --------------------------------------------------------------------------

    def start(self, assignment: Mapping) -> tuple[str, int]:
        """The start state (phase, depth) for ``assignment``."""
        traj = self._trajectory()
        d = self.compile(traj.start_depth)(assignment, 0, traj.start_phase)
        if d != int(d) or d < 0 or (traj.horizon is not None and d > traj.horizon):
            bound = "" if traj.horizon is None else f", at most the horizon {traj.horizon}"
            raise EvaluationError(
                f"start depth {d} must be a non-negative integer{bound}",
                traj.start_depth.span or traj.span,
                state=_state(assignment, None, None),
                code="E043",
            )
        return traj.start_phase, int(d)

    def transitions(self, assignment: Mapping, phase: str, depth: int) -> tuple[tuple[str, object], ...]:
        """The generator's step from (phase, depth): ``(target, probability)`` pairs in
        declaration order, ``otherwise`` resolved. Targets are phase names, ``deliver`` or
        ``stop``. Raises EvaluationError unless each lies in [0, 1] and they sum to 1."""
        compiled = self._phases.get(phase)
        if compiled is None:
            p = self._trajectory().phase(phase)
            compiled = (p, tuple((t, None if t.prob is None else self.compile(t.prob)) for t in p.transitions))
            self._phases[phase] = compiled
        p, items = compiled
        probs = []
        for t, fn in items:
            if fn is None:
                probs.append(None)
                continue
            x = fn(assignment, depth, phase)
            if not (-TOLERANCE <= x <= 1 + TOLERANCE):
                raise EvaluationError(
                    f"probability of '-> {t.target}' in phase '{phase}' is {float(x):g}, outside [0, 1]",
                    t.prob.span or t.span,
                    state=_state(assignment, phase, depth),
                    code="E041",
                )
            probs.append(x)
        zero = self._num(0)
        resolved, total, remainder = resolve_otherwise(probs, self._num(1), zero)
        if remainder is not None:
            rest = probs.index(None)
            if remainder < -TOLERANCE:
                raise EvaluationError(
                    f"transitions of phase '{phase}' sum to {float(total):g} before 'otherwise'; "
                    "they must leave a remainder in [0, 1]",
                    p.span,
                    state=_state(assignment, phase, depth),
                    code="E041",
                )
            resolved[rest] = max(remainder, zero)
        elif abs(total - 1) > TOLERANCE:
            raise EvaluationError(
                f"transitions of phase '{phase}' sum to {float(total):g}, not 1",
                p.span,
                state=_state(assignment, phase, depth),
                code="E041",
            )
        return tuple((t.target, x) for (t, _), x in zip(items, resolved))

    # -- state and adversaries (docs/semantics.md §4b) ----------------------------------------

    def state_key(self, state: Mapping) -> tuple:
        """A valuation of the state variables as a tuple, in declaration order."""
        return tuple(state[n] for n in self.spec.state)

    def state_of(self, key: tuple) -> dict:
        return dict(zip(self.spec.state, key))

    def choices(self, assignment: Mapping, phase: str, depth: int, state: Mapping) -> list[dict]:
        """The valuations the adversary may choose at (phase, depth, state): the product of
        every choice point's options where its ``when`` holds (each read on the state before
        the choice), in option order; just ``[state]`` where the phase has no choice point."""
        compiled = self._choices.get(phase)
        if compiled is None:
            p = self._trajectory().phase(phase)
            compiled = tuple((c, None if c.when is None else self.compile(c.when)) for c in p.choices)
            self._choices[phase] = compiled
        if not compiled:
            return [dict(state)]
        env = {**assignment, **state}
        axes = []
        for c, when in compiled:
            free = when is None or when(env, depth, phase)
            axes.append((c.var, c.options if free else (state[c.var],)))
        out = []
        seen = set()
        for combo in itertools.product(*(opts for _, opts in axes)):
            s = dict(state)
            s.update(zip((v for v, _ in axes), combo))
            key = self.state_key(s)
            if key not in seen:
                seen.add(key)
                out.append(s)
        return out

    def moves(self, policy: str, assignment: Mapping, phase: str, depth: int, state: Mapping | None = None) -> list:
        """Everything that can happen from (phase, depth, state) once the adversary has
        chosen: ``(kind, target, new_state, probability)`` with kind ``"vetoed"`` (a final
        veto; target and new_state None), ``"refused"`` (a refusal that goes on in phase
        ``target``) or ``"step"`` (``target`` a phase, ``deliver`` or ``stop``). Updates are
        applied, simultaneously; the horizon is not (:func:`~libet.spec.rules.step_end`). Parts
        of probability 0 are left out."""
        state = dict(state or {})
        env = {**assignment, **state} if state else assignment
        rules = self._compiled_rules(policy)
        fired = []
        for i, (cond, strength, rule) in enumerate(rules):
            if cond(env, depth, phase):
                s = checked_strength(strength(env, depth, phase), rule, env, phase, depth)
                key = None if rule.then is None else (rule.then, i if rule.updates else None)
                fired.append((True, s, key))
        ends, v = veto_split(fired, self._num(1))
        out = []
        for key, pv in ends.items():
            if not pv:
                continue
            if key is None:
                out.append(("vetoed", None, None, pv))
            else:
                target, i = key
                new = state if i is None else self._apply(rules[i][2].updates, env, state, phase, depth)
                out.append(("refused", target, new, pv))
        go = 1 - v
        if go:
            p = self._trajectory().phase(phase)
            for t, (target, x) in zip(p.transitions, self.transitions(env, phase, depth)):
                if x:
                    new = self._apply(t.updates, env, state, phase, depth) if t.updates else state
                    out.append(("step", target, new, go * x))
        return out

    def _apply(self, updates, env: Mapping, state: dict, phase: str, depth: int) -> dict:
        """``state`` after ``updates`` (simultaneous: every right-hand side reads ``env``, the
        state before the step). A value outside its variable's domain is E093."""
        new = dict(state)
        for u in updates:
            fn = self._update_fns.get(id(u))
            if fn is None:
                fn = self._update_fns[id(u)] = (u, self.compile(u.expr))
            x = fn[1](env, depth, phase)
            var = self.spec.state[u.var]
            if not _in_domain(var.domain, x):
                raise EvaluationError(
                    f"the update sets '{u.var}' to {_show(x)}, outside its domain {var.domain}",
                    u.expr.span or u.span,
                    state=_state(env, phase, depth),
                    code="E093",
                )
            new[u.var] = int(x) if isinstance(var.domain, ir.IntDomain) else x
        return new

    def outcomes(self, policy: str, assignment: Mapping, visits=(), strategy=None) -> Outcomes:
        """What ``policy`` does on ``assignment``, by a forward pass over the reachable states,
        depth by depth; ``visits`` names the phases whose visits are tracked (for measures such
        as ``P(visit scratchpad)``). In a spec with choice points (an MDP) ``strategy`` picks
        the adversary's choice: ``strategy(phase, depth, state, seen) -> state``, one of
        :meth:`choices` (``seen``: the tracked phases visited so far).

        The semantics (docs/semantics.md §4, §4b): at state (q, d, s) the adversary chooses s'
        where q has a choice point; the policy vetoes with probability v(q, d, s'), absorbing
        in *vetoed* at depth d, or, for a refusal with ``then -> r``, going on in phase r at
        depth d + 1 (as a step does) with its updates; otherwise the generator steps: to phase
        r at depth d + 1 with the transition's updates (which is *delivered* when d + 1 reaches
        the horizon, or *stopped* with ``horizon N then stop``), or to ``deliver`` or ``stop``,
        absorbing at depth d + 1. A start at the horizon ends at once, the same way. A phase is
        visited when the trajectory is in one of its states (below the horizon).
        """
        traj = self._trajectory()
        if traj.horizon is None:
            raise ValueError("outcome probabilities need a finite horizon")
        if self.spec.is_mdp and strategy is None:
            raise ValueError("this spec has choice points (an MDP): outcomes need a strategy for the adversary")
        H = traj.horizon
        tracked = frozenset(visits)
        for q in tracked:
            traj.phase(q)  # KeyError for a phase that does not exist
        zero, one = self._num(0), self._num(1)
        mass: dict = {}
        depth_mass: dict = {}
        refusal_mass: dict = {}
        at_h = traj.at_horizon

        def absorb(outcome, seen, w, depth, refused):
            # ``refused``: the mass-weighted refusals of the paths absorbed here
            key = (outcome, seen)
            mass[key] = mass.get(key, zero) + w
            depth_mass[key] = depth_mass.get(key, zero) + w * depth
            refusal_mass[key] = refusal_mass.get(key, zero) + refused

        def move(nxt, target, state, seen, w, r, depth):
            end = step_end(target, depth, H, at_h)
            if end is None:
                key = (target, self.state_key(state), seen | (tracked & {target}))
                m0, r0 = nxt.get(key, (zero, zero))
                nxt[key] = (m0 + w, r0 + r)
            else:
                absorb(_OUTCOME[end], seen, w, depth, r)

        q0, d0 = self.start(assignment)
        s0 = self.spec.initial_state
        layer: dict = {}
        ends = start_end(d0, H, at_h)
        if ends is not None:
            absorb(_OUTCOME[ends], frozenset(), one, self._num(d0), zero)
        else:
            layer[(q0, self.state_key(s0), tracked & {q0})] = (one, zero)
        d = d0
        while layer:
            nxt: dict = {}
            for (q, key, seen), (m, r) in layer.items():
                state = self.state_of(key)
                if strategy is not None and self._trajectory().phase(q).choices:
                    state = self._chosen(strategy, assignment, q, d, state, seen)
                for kind, target, new, p in self.moves(policy, assignment, q, d, state):
                    w = m * p
                    if kind == "vetoed":  # every refusal counts one, on top of the path's
                        absorb("vetoed", seen, w, d, (r + m) * p)
                    elif kind == "refused":
                        move(nxt, target, new, seen, w, (r + m) * p, d + 1)
                    else:
                        move(nxt, target, new, seen, w, r * p, d + 1)
            layer = nxt
            d += 1
        return Outcomes(mass, depth_mass, tracked, d0, self.harmful(assignment), zero, refusal_mass)

    def _chosen(self, strategy, assignment, q, d, state, seen) -> dict:
        pick = dict(strategy(q, d, dict(state), seen))
        allowed = self.choices(assignment, q, d, state)
        if pick not in allowed:
            raise ValueError(
                f"the strategy chose {pick} at phase '{q}', depth {d}, state {state}; the options are {allowed}"
            )
        return pick

    def optimum(self, policy: str, assignment: Mapping, measure: ms.Measure) -> tuple[object, dict]:
        """The worst or best case of ``measure`` over adversaries on ``assignment``
        (``measure.extremum`` "max" or "min"), exactly, by layered value iteration over the
        reachable states: the reference for the engines, meant for small models. Returns
        ``(value, strategy)``, the strategy a dict ``(phase, depth, state key, seen) ->
        chosen state key`` (ties go to the first option), which :meth:`strategy_of` turns into
        the callable :meth:`outcomes` takes. In a spec without choice points it is the plain
        value and the strategy is empty."""
        if measure.given is not None:
            raise ValueError(f"{measure.text}: {ms.NO_CONDITIONAL_EXTREMUM}")
        traj = self._trajectory()
        if traj.horizon is None:
            raise ValueError("outcome probabilities need a finite horizon")
        H, at_h = traj.horizon, traj.at_horizon
        sense = max if measure.extremum != "min" else min
        event, reward = measure.numerator, measure.reward
        zero, one = self._num(0), self._num(1)
        tracked = frozenset(event.visits)
        q0, d0 = self.start(assignment)
        if event.harmful is not None and event.harmful != self.harmful(assignment) or not event.outcomes:
            return zero, {}

        def term(outcome, seen, depth):
            if outcome not in event.outcomes or not tracked <= seen:
                return zero
            if reward is ms.Reward.ONE:
                return one
            if reward is ms.Reward.DEPTH:
                return self._num(depth)
            if reward is ms.Reward.STEPS:
                return self._num(depth - d0)
            return zero  # refusals are counted as they happen

        counts = reward is ms.Reward.REFUSALS
        start = start_end(d0, H, at_h)
        if start is not None:
            return term(_OUTCOME[start], frozenset(), d0), {}
        # Forward: the reachable states (before the choice) per depth, over every choice.
        s0 = self.state_key(self.spec.initial_state)
        layers = [{(q0, s0, tracked & {q0})}]
        options: dict = {}
        succ: dict = {}
        d = d0
        while layers[-1]:
            nxt = set()
            for q, key, seen in layers[-1]:
                opts = [self.state_key(c) for c in self.choices(assignment, q, d, self.state_of(key))]
                options[(q, d, key, seen)] = opts
                for c in opts:
                    if (q, d, c, seen) in succ:
                        continue
                    ms_ = self.moves(policy, assignment, q, d, self.state_of(c))
                    succ[(q, d, c, seen)] = ms_
                    for kind, target, new, _ in ms_:
                        if kind != "vetoed" and step_end(target, d + 1, H, at_h) is None:
                            nxt.add((target, self.state_key(new), seen | (tracked & {target})))
            layers.append(nxt)
            d += 1
        # Backward: the optimal value of every reachable state, deepest first.
        value: dict = {}
        strategy: dict = {}
        for i in range(len(layers) - 2, -1, -1):
            d = d0 + i
            for q, key, seen in layers[i]:
                best = None
                for c in options[(q, d, key, seen)]:
                    x = zero
                    for kind, target, new, p in succ[(q, d, c, seen)]:
                        if kind == "vetoed":
                            x = x + p * (term("vetoed", seen, d) + (one if counts else zero))
                            continue
                        end = step_end(target, d + 1, H, at_h)
                        if end is not None:
                            cont = term(_OUTCOME[end], seen, d + 1)
                        else:
                            cont = value[(target, d + 1, self.state_key(new), seen | (tracked & {target}))]
                        x = x + p * (cont + (one if counts and kind == "refused" else zero))
                    if best is None or sense(x, best) != best:
                        best, pick = x, c
                value[(q, d, key, seen)] = best
                if len(options[(q, d, key, seen)]) > 1:
                    strategy[(q, d, key, seen)] = pick
        return value[(q0, d0, s0, tracked & {q0})], strategy

    def strategy_of(self, table: Mapping):
        """The callable :meth:`outcomes` takes, from a strategy table ``(phase, depth, state
        key, seen) -> chosen key`` (:meth:`optimum`); a state the table does not name keeps
        its valuation when that is an option, and otherwise takes the first option."""

        def pick(q, d, state, seen):
            key = self.state_key(state)
            hit = table.get((q, d, key, frozenset(seen)))
            return self.state_of(hit) if hit is not None else state

        return pick

    def assignments(self) -> Iterator[dict]:
        """Every assignment of the spec's variables (see :meth:`Spec.assignments`)."""
        return self.spec.assignments()

    # -- compilation -------------------------------------------------------------------------

    def _trajectory(self) -> ir.Trajectory:
        if self.spec.trajectory is None:
            raise ValueError("the spec has no trajectory")
        return self.spec.trajectory

    def _named_closure(self, kind: str, name: str) -> Compiled:
        key = f"{kind}:{name}"
        fn = self._named.get(key)
        if fn is None:
            node = (self.spec.defs if kind == "def" else self.spec.values)[name].expr
            inner = self.compile(node)
            if kind == "def" and self._deep_chains():
                frames = self._frames

                def fn(a, d, p, inner=inner, name=name):
                    # Inside a deep chain's frame (see _deep_def) the value is already there.
                    frame = getattr(frames, "values", None)
                    if frame is not None and name in frame:
                        hit = frame[name]
                        if type(hit) is _Failed:
                            raise hit.exc
                        return hit
                    return inner(a, d, p)
            else:
                fn = inner
            self._named[key] = fn
        return fn

    # One method per IR node class (spec/visit.py); ``compile`` dispatches on the class.

    def c_Const(self, e: ir.Const) -> Compiled:
        v = self._num(e.value) if e.type.kind is ir.Kind.REAL else e.value
        return lambda a, d, p: v

    def c_VarRef(self, e: ir.VarRef) -> Compiled:
        name = e.name
        return lambda a, d, p: a[name]

    def c_StateRef(self, e: ir.StateRef) -> Compiled:
        # The state's values travel in the same mapping as the assignment's (the names are
        # disjoint: the checker sees to it), merged per state by the forward pass.
        name = e.name
        return lambda a, d, p: a[name]

    def c_ParamRef(self, e: ir.ParamRef) -> Compiled:
        v = self.params[e.name]
        return lambda a, d, p: v

    def c_DefRef(self, e: ir.DefRef) -> Compiled:
        if reads_of(self.spec).def_depth(e.name) < DEEP_DEFS:
            return self._named_closure("def", e.name)
        return self._deep_def(e.name)

    def _deep_chains(self) -> bool:
        """Whether some def of the spec ends a chain long enough for frames (_deep_def); only
        then do def references look into a frame, so ordinary specs pay nothing for it."""
        hit = self.spec.memo.get("deep def chains")
        if hit is None:
            reads = reads_of(self.spec)
            hit = self.spec.memo["deep def chains"] = any(reads.def_depth(n) >= DEEP_DEFS for n in self.spec.defs)
        return hit

    def _deep_def(self, name: str) -> Compiled:
        """A def at the end of a long chain of defs (each using the last): evaluated bottom-up,
        each def of the chain once per evaluation, in a frame of values kept for that one state,
        so the chain costs no recursion. A def of the chain with no value at the state (a
        division by zero, say) is an error only if the evaluation reads it, as without frames.

        The defs below are compiled in order (no compile-time recursion through the chain) by
        the first deep def met; those it meets on the way are compiled already, so each def is
        compiled once and the chain costs its length, not its square. A deep def's list of the
        defs below it is formed when it is first evaluated outside a frame: only the top of a
        chain ever is."""
        reads = reads_of(self.spec)
        outer = not self._compiling_chain
        self._compiling_chain = True
        try:
            if outer:
                for dep in reads.def_closure(name):
                    self._named_closure("def", dep)
            body = self._named_closure("def", name)
        finally:
            if outer:
                self._compiling_chain = False
        frames = self._frames
        bodies = None

        def deep(a, d, p):
            nonlocal bodies
            frame = getattr(frames, "values", None)
            if frame is not None:  # inside another chain's frame: the named closure reads it
                return body(a, d, p)
            if bodies is None:
                bodies = tuple((dep, self._named_closure("def", dep)) for dep in reads.def_closure(name))
            frames.values = frame = {}
            try:
                for dep, fn in bodies:
                    try:
                        frame[dep] = fn(a, d, p)
                    except EvaluationError as exc:
                        frame[dep] = _Failed(exc)
                return body(a, d, p)
            finally:
                frames.values = None

        return deep

    def c_ValueRef(self, e: ir.ValueRef) -> Compiled:
        return self._named_closure("value", e.name)

    def c_Harmful(self, e: ir.Harmful) -> Compiled:
        return lambda a, d, p: self._harmful(a, d, p)

    def c_Depth(self, e: ir.Depth) -> Compiled:
        return lambda a, d, p: d

    def c_CurrentPhase(self, e: ir.CurrentPhase) -> Compiled:
        return lambda a, d, p: p

    def c_Not(self, e: ir.Not) -> Compiled:
        f = self.compile(e.arg)
        return lambda a, d, p: not f(a, d, p)

    def c_Logic(self, e: ir.Logic) -> Compiled:
        fs = tuple(self.compile(x) for x in e.args)
        if e.op is not ir.BoolOp.IMPLIES and len(fs) == 2:  # the common case, without a generator per call
            f, g = fs
            if e.op is ir.BoolOp.AND:
                return lambda a, d, p: bool(f(a, d, p)) and bool(g(a, d, p))
            return lambda a, d, p: bool(f(a, d, p)) or bool(g(a, d, p))
        if e.op is ir.BoolOp.AND:
            return lambda a, d, p: all(f(a, d, p) for f in fs)
        if e.op is ir.BoolOp.OR:
            return lambda a, d, p: any(f(a, d, p) for f in fs)
        f, g = fs
        return lambda a, d, p: (not f(a, d, p)) or g(a, d, p)

    def c_Compare(self, e: ir.Compare) -> Compiled:
        op = e.op.function
        f, g = self.compile(e.left), self.compile(e.right)
        return lambda a, d, p: op(f(a, d, p), g(a, d, p))

    def c_Member(self, e: ir.Member) -> Compiled:
        f = self.compile(e.arg)
        allowed = frozenset(e.values)
        return lambda a, d, p: f(a, d, p) in allowed

    def c_Neg(self, e: ir.Neg) -> Compiled:
        f = self.compile(e.arg)
        return lambda a, d, p: -f(a, d, p)

    def c_Ite(self, e: ir.Ite) -> Compiled:
        branches, last = e.ladder()
        if len(branches) > 1:  # an `else if` ladder: one loop over its branches
            num, real = self._num, e.type.kind is ir.Kind.REAL  # a real ladder: real at every arm
            value = self._real_operand if real else self.compile
            arms = tuple((self.compile(c), value(t)) for c, t in branches)
            rest = value(last)

            def ladder(a, d, p):
                for c, t in arms:
                    if c(a, d, p):
                        x = t(a, d, p)
                        break
                else:
                    x = rest(a, d, p)
                return num(x) if real else x

            return ladder
        c = self.compile(e.cond)
        if e.type.kind is ir.Kind.REAL:
            t, o = self._real_operand(e.then), self._real_operand(e.orelse)
            num = self._num
            return lambda a, d, p: num(t(a, d, p)) if c(a, d, p) else num(o(a, d, p))
        t, o = self.compile(e.then), self.compile(e.orelse)
        return lambda a, d, p: t(a, d, p) if c(a, d, p) else o(a, d, p)

    def _real_operand(self, e: ir.Expr) -> Compiled:
        """``e`` compiled as an operand of a real operation: in double precision an int is made
        a double first, and an int past the largest double (about 1.8e308) has no double value
        (docs/semantics.md §2); otherwise as it is (a rational takes any int exactly)."""
        f = self.compile(e)
        if self.exact or e.type.kind is not ir.Kind.INT or type(e) in _DOUBLE_SIZED:
            return f
        span = e.span

        def double(a, d, p):
            return _double(f(a, d, p), span, a, p, d)

        return double

    def c_Arith(self, e: ir.Arith) -> Compiled:
        leaf, nodes = e.spine()
        if len(nodes) > 1:
            return self._chain(leaf, nodes)
        real = e.op is ir.ArithOp.DIV or e.type.kind is ir.Kind.REAL
        f, g = (self._real_operand(e.left), self._real_operand(e.right)) if real else (
            self.compile(e.left), self.compile(e.right))
        num = self._num
        if e.op is ir.ArithOp.DIV:
            span = e.span

            def div(a, d, p):
                y = g(a, d, p)
                if y == 0:
                    raise EvaluationError("division by zero", span, state=_state(a, p, d))
                return num(f(a, d, p)) / num(y)

            return div
        op = _ARITH[e.op]
        if e.type.kind is ir.Kind.REAL:
            return lambda a, d, p: num(op(f(a, d, p), g(a, d, p)))
        return lambda a, d, p: op(f(a, d, p), g(a, d, p))

    def _chain(self, leaf: ir.Expr, nodes: tuple[ir.Arith, ...]) -> Compiled:
        """A flat sum or product (divisions included), one loop over its terms (each node keeps
        its own type: an int partial sum becomes real where the chain does)."""
        num = self._num
        first = self.compile(leaf)
        steps = []
        for n in nodes:
            real = n.type.kind is ir.Kind.REAL
            g = self._real_operand(n.right) if real else self.compile(n.right)
            # the partial sum is an int up to here: in double precision it is made a double first
            to_double = n.left.span if real and not self.exact and n.left.type.kind is ir.Kind.INT else None
            # a division's span, for its error at a zero divisor (c_Arith's, in the loop)
            steps.append((_ARITH.get(n.op), g, real, to_double, n.span if n.op is ir.ArithOp.DIV else None))
        steps = tuple(steps)

        def chain(a, d, p):
            x = first(a, d, p)
            for op, g, real, to_double, div in steps:
                if to_double is not None:
                    x = _double(x, to_double, a, p, d)
                if div is None:
                    x = op(x, g(a, d, p))
                else:
                    y = g(a, d, p)
                    if y == 0:
                        raise EvaluationError("division by zero", div, state=_state(a, p, d))
                    x = num(x) / num(y)
                if real:
                    x = num(x)
            return x

        return chain

    def c_Call(self, e: ir.Call) -> Compiled:
        num, span, real = self._num, e.span, e.type.kind is ir.Kind.REAL
        # a real function's arguments are reals (min and max of ints are ints; abs keeps its type)
        fs = tuple((self._real_operand if real and e.func is not ir.Func.ABS else self.compile)(x) for x in e.args)
        fn = e.func
        if fn is ir.Func.MIN or fn is ir.Func.MAX:
            pick = min if fn is ir.Func.MIN else max
            if real:
                return lambda a, d, p: num(pick(f(a, d, p) for f in fs))
            return lambda a, d, p: pick(f(a, d, p) for f in fs)
        if fn is ir.Func.ABS:
            (f,) = fs
            return lambda a, d, p: abs(f(a, d, p))
        exact = self.exact
        if fn is ir.Func.EXP:
            (f,) = fs

            def exp(a, d, p):
                try:
                    r = math.exp(float(f(a, d, p)))
                except OverflowError:
                    raise EvaluationError("exp overflows", span, state=_state(a, p, d)) from None
                return Fraction(r) if exact else r

            return exp
        if fn is ir.Func.LOG:
            (f,) = fs

            def log(a, d, p):
                x = f(a, d, p)
                if x <= 0:
                    raise EvaluationError(f"log of {_number_text(x)}, which is not positive", span, state=_state(a, p, d))
                try:
                    r = math.log(float(x))
                except OverflowError:  # exact mode: a rational past the largest double
                    raise EvaluationError(f"log of {_number_text(x)}: no double holds it", span,
                                          state=_state(a, p, d)) from None
                return Fraction(r) if exact else r

            return log
        if fn is ir.Func.POW:
            f, g = fs

            def power(a, d, p):
                x, y = f(a, d, p), g(a, d, p)
                try:
                    finite = math.isfinite(x) and math.isfinite(y)
                except OverflowError:  # exact mode: a rational past the largest double
                    raise EvaluationError("pow of a number no double holds", span, state=_state(a, p, d)) from None
                if not finite:
                    raise EvaluationError("pow of a non-finite number", span, state=_state(a, p, d))
                if x == 0 and y < 0:
                    raise EvaluationError("pow(0, negative) divides by zero", span, state=_state(a, p, d))
                integral = y == int(y) and abs(y) <= 64
                if x < 0 and not integral:
                    raise EvaluationError(
                        f"pow of the negative {float(x):g} to the non-integer {float(y):g}", span, state=_state(a, p, d)
                    )
                try:
                    if integral:
                        r = num(x) ** int(y)
                        if not exact and not math.isfinite(r):
                            raise OverflowError
                        return num(r)
                    r = math.pow(float(x), float(y))
                except OverflowError:
                    raise EvaluationError("pow overflows", span, state=_state(a, p, d)) from None
                return Fraction(r) if exact else r

            return power
        raise InternalError(f"the interpreter has no case for the function {fn.value}")


#: Int nodes whose values every double holds, so they need no checked conversion (a literal
#: and a domain's bounds have at most 300 digits; the depth is below the horizon): the common
#: operands of real arithmetic (`gain * depth`, `0.01 * style`) pay nothing for the check.
_DOUBLE_SIZED = (ir.Const, ir.VarRef, ir.StateRef, ir.Depth)


def _number_text(x) -> str:
    """``x`` for a message: ``%g`` of its double, or its size when no double holds it."""
    try:
        return f"{float(x):g}"
    except OverflowError:
        q = Fraction(x)
        digits = int((abs(q.numerator).bit_length() - q.denominator.bit_length()) * math.log10(2))
        return f"{'an int' if q.denominator == 1 else 'a number'} of about {'-' if q < 0 else ''}10^{digits}"


def _double(x, span, a, p, d) -> float:
    """Int ``x`` as a double, or EvaluationError when it is past the largest double."""
    try:
        return float(x)
    except OverflowError:
        raise EvaluationError(f"{_number_text(x)} has no double value (the largest double is about 1.8e308)",
                              span, state=_state(a, p, d)) from None


def checked_strength(s, rule: ir.Rule, assignment: Mapping, phase: str | None, depth: int):
    """``s`` clamped to [0, 1] if it lies there up to TOLERANCE; else EvaluationError (E042)."""
    if not (-TOLERANCE <= s <= 1 + TOLERANCE):
        raise EvaluationError(
            f"veto strength {float(s):g} is outside [0, 1]",
            rule.strength.span or rule.span,
            state=_state(assignment, phase, depth),
            code="E042",
        )
    return min(max(s, 0), 1)




def _in_domain(domain: ir.Domain, x) -> bool:
    if isinstance(domain, ir.BoolDomain):
        return isinstance(x, bool)
    if isinstance(domain, ir.IntDomain):
        return not isinstance(x, bool) and x == int(x) and domain.lo <= x <= domain.hi
    return x in domain


def _state(assignment: Mapping, phase: str | None, depth: int | None) -> str:
    """A state in words: phase, depth (when given) and the assignment (when not empty)."""
    parts = ", ".join(f"{k}={_show(v)}" for k, v in assignment.items())
    where = []
    if phase is not None:
        where.append(f"phase '{phase}'")
    if depth is not None:
        where.append(f"depth {depth}")
    if parts or not where:
        where.append(f"assignment {{{parts}}}")
    return ", ".join(where)


def _show(v) -> str:
    if isinstance(v, bool):
        return "true" if v else "false"
    return str(v)
