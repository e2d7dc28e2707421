"""The model's rules in Z3: the veto at a state and the generator's step, and the Encoder.

Consumes: the expression terms of :mod:`.terms` at a symbolic state, and the rules of
:mod:`libet.spec.rules` (the veto combination 1 − Π(1 − sᵢ), the ``otherwise`` remainder),
which are written once for every engine and are called here with Z3 numbers.
Produces: :class:`Encoder`, what every check uses: per policy, each rule's firing condition
(a named fact) and clamped strength, the veto probability and its two linear special cases
(certain: some firing rule has strength 1; zero: every firing rule has strength 0); per phase,
whether each transition has positive probability (a named fact), decided at encoding time
where the interpreter can list the inputs; the start depth. Also :func:`step_distribution`,
the interpreter's step distribution that the positivity tables and the replay share.

The numbers handed to :func:`libet.spec.rules.veto_probability` are :class:`_Num`: a Fraction,
a Z3 Real, or a *choice* ``If(c, a, b)`` (what ``select`` returns) that stays open until it is
combined, so that ``x * If(c, a, b)`` is built as ``If(c, x * a, x * b)``. With constant
strengths every factor of the product is a choice among constants, so the veto probability
stays linear; a strength that varies over a few values is a choice among them too.
"""

from __future__ import annotations

import operator
from fractions import Fraction
from typing import Any

import attrs
import z3

from libet.errors import EvaluationError
from libet.proofs.domains import Env, Sym, is_const
from libet.proofs.tables import TABLE_LIMIT, Inputs, evaluate, inputs_at
from libet.proofs.terms import Terms
from libet.proofs.text import expr_text
from libet.spec import ir
from libet.spec.interpreter import Interpreter
from libet.spec.rules import resolve_otherwise, veto_probability

#: Most evaluations of a phase's step distribution (over the variables its transitions read,
#: times the depths a state stands for) to decide at encoding time that a transition is
#: positive everywhere or nowhere.
POSITIVITY_LIMIT = 4096
#: Most distinct values a veto strength may take to have its product expanded into a choice
#: among them (which keeps the veto probability linear).
STRENGTH_VALUES_LIMIT = 64

#: A transition positive at some inputs and zero at others (:meth:`Encoder._positivity`).
_MIXED = object()


def step_distribution(interp: Interpreter, phase: str, a, depth: int) -> list[tuple[str, Fraction]]:
    """``(target, probability)`` for each transition of ``phase`` at (``a``, ``depth``), by the
    interpreter, in declaration order: ``otherwise`` is one minus the others, clamped at 0 as the
    interpreter clamps it, and the sum is not checked (see :meth:`Interpreter.transitions`)."""
    transitions = interp.spec.trajectory.phase(phase).transitions
    probs = [None if t.prob is None else Fraction(evaluate(interp, t.prob, a, depth, phase)) for t in transitions]
    resolved, _, remainder = resolve_otherwise(probs, Fraction(1))
    if remainder is not None:
        resolved[probs.index(None)] = max(remainder, Fraction(0))
    return [(t.target, x) for t, x in zip(transitions, resolved)]


@attrs.frozen
class _Choice:
    """``then if cond else orelse``, not yet a Z3 term (see the module doc). ``levels``: the
    values a strength takes, which ``1 - s`` also maps branch by branch (so each factor of the
    product is a choice among constants); a choice ``select`` made is taken apart only by a
    product."""

    cond: Any
    then: Any
    orelse: Any
    levels: bool = False


def _choice(cond, then, orelse, levels: bool = False):
    if cond is True:
        return then
    if cond is False:
        return orelse
    if is_const(then) and is_const(orelse) and then == orelse:
        return then
    return _Choice(cond, then, orelse, levels)


class _Num:
    """A number of the Z3 engine as :mod:`libet.spec.rules` computes with it (module doc)."""

    __slots__ = ("enc", "v")

    def __init__(self, enc: "Encoder", v):
        self.enc = enc
        self.v = v

    def __add__(self, other: "_Num") -> "_Num":
        return _Num(self.enc, _combine(self.enc, operator.add, self.v, other.v))

    def __sub__(self, other: "_Num") -> "_Num":
        return _Num(self.enc, _combine(self.enc, operator.sub, self.v, other.v))

    def __mul__(self, other: "_Num") -> "_Num":
        return _Num(self.enc, _combine(self.enc, operator.mul, self.v, other.v))

    def term(self):
        """A Fraction or a Z3 Real."""
        return _materialise(self.enc, self.v)


def _materialise(enc: "Encoder", v):
    if isinstance(v, _Choice):
        return z3.If(v.cond, enc.z3_real(_materialise(enc, v.then)), enc.z3_real(_materialise(enc, v.orelse)))
    return v


def _opens(v, op) -> bool:
    return isinstance(v, _Choice) and (op is operator.mul or v.levels)


def _combine(enc: "Encoder", op, a, b):
    """``op(a, b)``: constants fold; a choice that ``op`` opens (see :class:`_Choice`) takes the
    other operand into its branches, made a term first so both branches share it; else the Z3
    term."""
    if _opens(b, op):
        a = _materialise(enc, a)
        levels = b.levels and op is not operator.mul  # 1 - s is still a strength's levels
        return _choice(b.cond, _combine(enc, op, a, b.then), _combine(enc, op, a, b.orelse), levels)
    if _opens(a, op):
        b = _materialise(enc, b)
        levels = a.levels and op is not operator.mul
        return _choice(a.cond, _combine(enc, op, a.then, b), _combine(enc, op, a.orelse, b), levels)
    a, b = _materialise(enc, a), _materialise(enc, b)
    if is_const(a) and is_const(b):
        return op(a, b)
    if op is operator.mul:
        if is_const(a) and a == 1:
            return b
        if is_const(b) and b == 1:
            return a
    elif is_const(b) and b == 0:
        return a
    elif op is operator.add and is_const(a) and a == 0:
        return b
    return op(enc.z3_real(a), enc.z3_real(b))


class Encoder(Terms):
    """Z3 terms for one spec and parameter setting (:class:`~.terms.Terms`), plus the model's
    rules: veto probabilities and transitions (module doc). Arguments as for ``Terms``."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self._strengths: dict = {}
        self._positivity_table: dict = {}

    def _select(self, c, a: _Num, b: _Num) -> _Num:
        return _Num(self, _choice(c, a.v, b.v))

    # -- policies -----------------------------------------------------------------------------

    def rules(self, policy: str, env: Env) -> list[tuple[Any, Any]]:
        """Per rule: (fires, clamped strength) at ``env``; constants where they fold."""
        key = ("rules", policy)
        hit = env.cache.get(key)
        if hit is not None:
            return hit
        out = []
        for i, rule in enumerate(self.spec.policies[policy].rules, 1):
            c = self.term(rule.condition, env)
            s = self.as_real(self.term(rule.strength, env))
            if is_const(s):
                s = min(max(Fraction(s), Fraction(0)), Fraction(1))
            else:
                s = z3.If(s < 0, self.real_val(0), z3.If(s > 1, self.real_val(1), s))
            text = "veto when " + expr_text(rule.condition)
            if not (isinstance(rule.strength, ir.Const) and rule.strength.value == 1):
                text += " with strength " + expr_text(rule.strength)
            if rule.then is not None:
                text += f" then -> {rule.then}"
            if c is not False:
                c = self.facts.name(f"rule:{policy}:{i}", "rule", f"{policy} rule {i}", text, rule.span, c)
            out.append((c, s))
        env.cache[key] = out
        return out

    def veto_certain(self, policy: str, env: Env):
        """v(q, d) = 1: some firing rule has strength 1."""
        return self.or_([self.and_([c, s >= 1]) for c, s in self.rules(policy, env)])

    def veto_zero(self, policy: str, env: Env):
        """v(q, d) = 0: every firing rule has strength 0."""
        return self.and_([self.or_([self.not_(c), s <= 0]) for c, s in self.rules(policy, env)])

    def veto_positive(self, policy: str, env: Env):
        return self.not_(self.veto_zero(policy, env))

    def refusal_positive(self, policy: str, env: Env) -> dict[str, Any]:
        """Per refusal target r (rules ``veto ... then -> r``): the refusal to r has positive
        probability at ``env``. By :func:`libet.spec.rules.veto_split` rule i decides with
        probability sᵢ Π_{j<i} (1 − sⱼ) over the firing rules before it: positive when rule i
        fires with sᵢ > 0 and no earlier rule fires with strength 1."""
        out: dict[str, Any] = {}
        certain_before: list = []
        for rule, (c, s) in zip(self.spec.policies[policy].rules, self.rules(policy, env)):
            if rule.then is not None and c is not False:
                mine = self.and_([c, s > 0, self.not_(self.or_(list(certain_before)))])
                out[rule.then] = self.or_([out.get(rule.then, False), mine])
            if c is not False:
                certain_before.append(self.and_([c, s >= 1]))
        return out

    def refusal_edges(self, policy: str, env: Env) -> list[tuple[ir.Rule, Any]]:
        """Per rule with ``then -> r``: (the rule, its refusal has positive probability at
        ``env``), as :meth:`refusal_positive` but rule by rule (rules to one phase may update
        the state differently)."""
        out = []
        certain_before: list = []
        for rule, (c, s) in zip(self.spec.policies[policy].rules, self.rules(policy, env)):
            if rule.then is not None and c is not False:
                out.append((rule, self.and_([c, s > 0, self.not_(self.or_(list(certain_before)))])))
            if c is not False:
                certain_before.append(self.and_([c, s >= 1]))
        return out

    def updated(self, updates: tuple[ir.Update, ...], env: Env) -> dict:
        """The state after ``updates`` from ``env``'s state: simultaneous, every right-hand side
        read at ``env`` (docs/semantics.md §4b); a variable not updated keeps its value."""
        state = dict(env.state or {})
        for u in updates:
            state[u.var] = self.term(u.expr, env)
        return state

    def veto_probability(self, policy: str, env: Env):
        """v = 1 − Π(1 − sᵢ) over the firing rules, by :func:`libet.spec.rules.veto_probability`,
        as a Fraction or a Z3 Real. A strength that varies is a choice among the values it can
        take when they can be listed (so the product stays linear), else a term."""
        fired = []
        for rule, (c, s) in zip(self.spec.policies[policy].rules, self.rules(policy, env)):
            if c is False:
                continue
            if not is_const(s):
                values = self.strength_values(rule, env)
                if values:
                    choice: Any = values[-1]
                    for v in reversed(values[:-1]):
                        choice = _Choice(s == self.real_val(v), v, choice, levels=True)
                    s = choice
            fired.append((c, _Num(self, s)))
        return veto_probability(fired, _Num(self, Fraction(1)), self._select).term()

    def strength_values(self, rule: ir.Rule, env: Env) -> list | None:
        """The clamped values ``rule``'s strength takes over every input ``env`` stands for,
        by the interpreter (at most :data:`STRENGTH_VALUES_LIMIT`); ``None`` if they cannot be
        listed (too many, no finite depth range, or a value the interpreter cannot compute)."""
        inputs = inputs_at(self, rule.strength, env)
        if inputs is None or inputs.count > TABLE_LIMIT:
            return None
        key = (self.reads.key(rule.strength), inputs.key())  # not the rule: hashing it recurses
        if key not in self._strengths:
            values: set = set()
            try:
                for a, d, p in inputs:
                    x = Fraction(evaluate(self.interp, rule.strength, a, d, p))
                    values.add(min(max(x, Fraction(0)), Fraction(1)))
                    if len(values) > STRENGTH_VALUES_LIMIT:
                        raise OverflowError
                self._strengths[key] = sorted(values)
            except (EvaluationError, OverflowError):
                self._strengths[key] = None
        return self._strengths[key]

    # -- transitions --------------------------------------------------------------------------

    def _probabilities(self, phase: str, env: Env) -> list:
        """The probability of each transition of ``phase``, in declaration order, ``otherwise``
        resolved by :func:`libet.spec.rules.resolve_otherwise` and clamped at 0 like the
        interpreter."""
        probs = [
            None if t.prob is None else _Num(self, self.as_real(self.term(t.prob, env)))
            for t in self.spec.trajectory.phase(phase).transitions
        ]
        resolved, total, remainder = resolve_otherwise(probs, _Num(self, Fraction(1)), _Num(self, Fraction(0)))
        out = [x.term() for x in resolved]
        if remainder is not None:
            r = remainder.term()
            clamped = max(r, Fraction(0)) if is_const(r) else z3.If(total.term() < 1, r, self.real_val(0))
            out[probs.index(None)] = clamped
        return out

    def transition_positive(self, phase: str, env: Env) -> dict[str, Any]:
        """target -> Bool: the step from ``phase`` to ``target`` has positive probability.

        Where the reference interpreter can list the phase's step distribution at every input
        (the variables the transitions read, times the depths ``env`` stands for) within
        :data:`POSITIVITY_LIMIT` evaluations, a transition positive at all of them is ``True``
        and one positive at none is ``False``, with no arithmetic left for the solver; the
        others are compared with 0 symbolically."""
        key = ("pos", phase)
        hit = env.cache.get(key)
        if hit is not None:
            return hit
        known = self._positivity(phase, env) or {}
        transitions = self.spec.trajectory.phase(phase).transitions
        probs = None
        if any(known.get(t.target) is None for t in transitions):
            probs = self._probabilities(phase, env)
        out = {}
        for i, t in enumerate(transitions):
            pos = known.get(t.target)
            if pos is None:
                pos = probs[i] > 0
            text = f"{phase} -> {t.target} : " + ("otherwise" if t.prob is None else expr_text(t.prob))
            out[t.target] = self.facts.name(f"transition:{phase}->{t.target}", "transition", f"{phase} -> {t.target}", text, t.span, pos)
        env.cache[key] = out
        return out

    def _positivity(self, phase: str, env: Env) -> dict | None:
        """target -> True/False when the interpreter shows the transition positive at every /
        no input ``env`` stands for; ``None`` entries where it depends on them. ``None`` when
        the inputs number more than :data:`POSITIVITY_LIMIT` in all (the variables read, times
        the depths): the solver compares the probabilities with 0 then. A phase whose
        transitions do not read the depth is decided at one depth for all, so a horizon of
        10^8 costs no more than one of 10 (the depths are a ``range``, never listed)."""
        if isinstance(env.depth, int):
            depths = range(env.depth, env.depth + 1)
        elif env.depth_values is not None:
            depths = env.depth_values
        else:
            return None
        if not len(depths):
            return None
        exprs = self._prob_exprs(phase)
        if not any(self.reads.depth(e) for e in exprs):
            return self._positivity_at(phase, 0)
        if self._positivity_inputs(phase, exprs, 0).count * len(depths) > POSITIVITY_LIMIT:
            return None
        out: dict = {}
        for d in depths:
            per = self._positivity_at(phase, d)
            if per is None:
                return None
            for target, flag in per.items():
                out[target] = flag if out.get(target, flag) == flag else _MIXED
        return {t: (None if f is _MIXED else f) for t, f in out.items()}

    def _prob_exprs(self, phase: str) -> list:
        return [t.prob for t in self.spec.trajectory.phase(phase).transitions if t.prob is not None]

    def _positivity_inputs(self, phase: str, exprs: list, depth: int) -> Inputs:
        """The inputs of ``phase``'s step distribution at ``depth``: the variables its
        probabilities read, and every valuation of the state variables they read, reachable or
        not (a transition positive, or zero, at all of them is so at whatever state the query is
        at)."""
        names = self.reads.variables(exprs)
        states = self.reads.states(exprs) if self.spec.state else frozenset()
        declared = list(self.spec.variables.items()) + [(n, v) for n, v in self.spec.state.items() if n in states]
        return Inputs(
            domains=tuple((n, tuple(v.domain.values())) for n, v in declared if n in names or n in states),
            depths=(depth,),
            phases=(phase,),
        )

    def _positivity_at(self, phase: str, depth: int) -> dict | None:
        key = (phase, depth)
        if key in self._positivity_table:
            return self._positivity_table[key]
        exprs = self._prob_exprs(phase)
        if depth != 0 and not any(self.reads.depth(e) for e in exprs):
            out = self._positivity_at(phase, 0)
        else:
            inputs = self._positivity_inputs(phase, exprs, depth)
            out = None
            if inputs.count <= POSITIVITY_LIMIT:
                seen: dict[str, set] = {}
                try:
                    for a, d, p in inputs:  # each input looks at the check's deadline
                        for target, prob in step_distribution(self.interp, p, a, d):
                            seen.setdefault(target, set()).add(prob > 0)
                    out = {t: (v.pop() if len(v) == 1 else None) for t, v in seen.items()}
                except EvaluationError:
                    out = None
        self._positivity_table[key] = out
        return out

    def start_depth(self, sym: Sym):
        """The start depth on ``sym``: an int if it does not depend on the assignment."""
        traj = self.spec.trajectory
        return self.as_int(self.term(traj.start_depth, self.env(sym, 0, traj.start_phase)))
