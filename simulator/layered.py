"""The exact engine for specs with state variables and adversaries: layered value iteration.

Consumes: a :class:`~libet.simulator.model.Model` of a spec with a ``state`` block and/or choice
points (docs/semantics.md §4b), and the measures wanted.
Produces: an :class:`~libet.simulator.table.OutcomeTable`, as :func:`libet.simulator.exact.solve`
does, and for an MDP the value of every measure taken over adversaries (``Pmax(harm)``,
``Emin(refusals)``) with the optimal strategy (:class:`Strategy`).

The states of one assignment class are (phase, depth, valuation). Every step raises depth by
one, so the chain (or MDP) is layered, and one backward pass over depth solves it: for every
target quantity (an outcome set and a reward), with ``x_d[q]`` a vector over valuations,

    W_d[q](c) = Σ_moves p(q, d, c) · (reward + x_{d+1}[r](u(c)))      (c: the state after the choice)
    x_d[q](s) = max (or min) over the adversary's options c of W_d[q](c)   (just W_d[q](s) without choices)

where ``u`` is a move's update as a map between valuation indices (updates read the state and
params only, so it is a fixed integer array) and a move is a final veto, a refusal that goes on
(``then -> r then ...``), or a generator step. The probabilities are evaluated once per phase for
all depths, classes and valuations at once (numpy arrays ``(depths, classes, valuations)``), the
updates are gathers (``np.take_along_axis``), and the adversary's options an index array per
choice combination. Each transition is touched once per depth; memory is a few arrays of
(depths x classes x valuations) per phase. Where the declared valuations are many, only the box
of those a trajectory can reach is laid out (:func:`reachable_box`): a counter declared 0..10^5
that its updates stop at 3 costs its 4 values, not 100,001.

Deterministic memoryless strategies over (phase, depth, valuation) are optimal here (the horizon
is finite and depth is part of the state), so the value is the optimum over all adversaries; the
argmax at every state is the witness strategy, which :meth:`Strategy.table` gives in the
interpreter's form so that it can be replayed (``Interpreter.outcomes(..., strategy=...)``).

Not handled here (a UsageError says so): measures about visits to phases, and exact (rational)
arithmetic, which the reference interpreter computes instead for small models.
"""

from __future__ import annotations

import functools
import math

import attrs
import numpy as np

from libet.errors import UsageError
from libet.spec import ir
from libet.spec import measures as ms
from libet.spec.interpreter import TOLERANCE
from libet.spec.printer import name_list
from libet.spec.rules import resolve_otherwise, step_end, veto_split
from libet.spec.vectorize import ArrayEval

from .exact import _OUTCOME, assignment_facts, assignment_of
from .model import MAX_AXES, Model, gib, largest, memory_limit, replay_error
from .table import OutcomeTable


@attrs.frozen
class Target:
    """One quantity of the backward pass: E[reward · 1(outcome in ``outcomes``)], where reward
    is "one", "depth" or "refusals" (the vetoes on the way); ``sense`` "max"/"min" over
    adversaries, or None (no choice to make)."""

    outcomes: frozenset
    reward: str
    sense: str | None = None


class Valuations:
    """The valuations of the state variables, indexed mixed-radix (the last variable fastest).
    Counting them builds nothing: ``digits`` (one array of ``count`` entries per variable) is
    made when first asked, after the caller has checked that the model fits.

    ``box``, when given, is a part of each variable's declared domain, ``(lo, hi)`` positions
    in it (``hi`` excluded): the valuations are then those of the box only
    (:func:`reachable_box`), each variable's digit its position within its part."""

    def __init__(self, spec: ir.Spec, box=None):
        self.names = tuple(spec.state)
        declared = [spec.state[n].domain.values() for n in self.names]
        self.box = tuple((0, len(d)) for d in declared) if box is None else tuple(box)
        self.declared = math.prod(len(d) for d in declared)
        self.domains = [d[lo:hi] for d, (lo, hi) in zip(declared, self.box)]
        self.offsets = tuple(lo for lo, _ in self.box)
        self.sizes = [len(d) for d in self.domains]
        self.count = math.prod(self.sizes)  # a Python int: 64 booleans do not wrap around
        strides = []
        acc = 1
        for size in reversed(self.sizes):
            strides.append(acc)
            acc *= size
        self.strides = tuple(reversed(strides))
        self.init = self.index_of(spec.initial_state)

    @functools.cached_property
    def digits(self) -> dict:
        """Each variable's index within its domain (its part of it) at every valuation."""
        idx = np.arange(self.count)
        return {n: (idx // st) % size for n, st, size in zip(self.names, self.strides, self.sizes)}

    def arrays(self) -> dict:
        """Each state variable's value at every valuation, as ArrayEval holds values: a bool,
        an int, or an enum member's index in its declared order."""
        return {n: _values_of(dom, self.digits[n], off)
                for n, dom, off in zip(self.names, self.domains, self.offsets)}

    def index_of(self, valuation) -> int:
        return int(sum(dom.index(valuation[n]) * st for n, dom, st in zip(self.names, self.domains, self.strides)))

    def key(self, i: int) -> tuple:
        return tuple(dom[(int(i) // st) % len(dom)] for dom, st in zip(self.domains, self.strides))

    def digit_of(self, name: str, values) -> np.ndarray:
        """The index within ``name``'s domain (its part of it) of each of ``values``,
        ArrayEval's values (an enum member is already its index in the declared order)."""
        i = self.names.index(name)
        return _positions(self.domains[i], values, self.offsets[i])

    def option_digits(self, name: str, options) -> np.ndarray:
        """The index within ``name``'s domain of each option of a choice (IR scalars)."""
        place = {v: i for i, v in enumerate(self.domains[self.names.index(name)])}
        return np.asarray([place[o] for o in options], dtype=np.int64)


def _values_of(dom, digits: np.ndarray, offset: int) -> np.ndarray:
    """The values (as ArrayEval holds them) of the positions ``digits`` within ``dom``, the
    part of a declared domain that begins at position ``offset``."""
    if isinstance(dom[0], bool):
        return (digits + offset).astype(bool)
    if isinstance(dom[0], str):
        return digits + offset
    return digits + dom[0]


def _positions(dom, values, offset: int) -> np.ndarray:
    """The positions within ``dom`` (a part of a declared domain beginning at position
    ``offset``) of ArrayEval's ``values``; ints outside it are positions outside ``0 ..
    len(dom) - 1``."""
    if isinstance(dom[0], bool) or isinstance(dom[0], str):
        return np.asarray(values).astype(np.int64) - offset
    return np.asarray(values).astype(np.int64) - dom[0]


#: The layered engine lays out only the box of the valuations a trajectory can reach
#: (:func:`reachable_box`) when the declared valuations would take more than this many
#: (depth, class, valuation) cells ...
REACH_MIN_CELLS = 1_000_000
#: ... and lays out the declared ones when the search meets more valuations than this. Up to
#: REACH_DENSE declared valuations, the search finds every valuation's successors at once
#: (one evaluation of the updates), and beyond it those of the valuations met at each step.
REACH_MAX = 1_000_000
REACH_DENSE = 1 << 16


def reachable_box(spec: ir.Spec, params, rules, declared: Valuations, horizon: int, fits: int):
    """The smallest box (for each state variable, ``(lo, hi)`` positions in its declared
    domain) that holds every valuation of the state a trajectory under ``rules`` (a policy's)
    can reach from the initial one within ``horizon`` steps; None where that box is the whole
    declared state (``declared``, the valuations of the whole domains), or holds more than
    ``fits`` valuations, or the search meets more than REACH_MAX of them.

    The search takes every move as possible, in every phase at every depth: each transition's
    and each refusal's updates, and each option of each choice (the options of one phase
    combined), whatever their probabilities and conditions. So the box holds the valuations
    reachable with positive probability, and a valuation outside it is never reached; at one
    inside it an update may still lead outside, which :meth:`Layers._update_map` keeps in the box
    (that valuation is not reached either). An update with no value, or a value outside its
    domain, leads nowhere here: the engine marks it (the interpreter's error, where it is met).

    Cost: up to REACH_DENSE declared valuations, one evaluation of the updates over all of them
    and a gather a step; beyond, one evaluation over the valuations newly met, per step (a
    count that grows by one a step then takes ``horizon`` evaluations of a few values each)."""
    names, sizes, strides, count = declared.names, declared.sizes, declared.strides, declared.count
    if count >= 1 << 62:
        return None  # the valuations are numbered in int64 below
    phases = spec.trajectory.phases
    steps = [t.updates for p in phases for t in p.transitions if t.updates]
    steps += [r.updates for r in rules if r.then is not None and r.updates]
    choices = [(names.index(c.var), declared.option_digits(c.var, c.options)) for p in phases for c in p.choices]

    def digits(keys: np.ndarray) -> list[np.ndarray]:
        return [(keys // st) % size for st, size in zip(strides, sizes)]

    def chosen(keys: np.ndarray) -> np.ndarray:
        """``keys`` and every valuation a phase's choices lead them to (jointly: one variable
        after another), some more than once."""
        for i in range(len({v for v, _ in choices})):
            if i:
                keys = np.unique(keys)
            if len(keys) * sum(len(opts) for _, opts in choices) > REACH_MAX:
                raise _TooMany
            more = [keys]
            for v, opts in choices:
                rest = keys - (keys // strides[v]) % sizes[v] * strides[v]
                more.append((rest[:, None] + opts[None, :] * strides[v]).ravel())
            keys = np.concatenate(more)
        return keys

    def after(keys: np.ndarray) -> list[np.ndarray]:
        """For each move's updates, the valuation each of ``keys`` goes to (-1 where the
        updates have no valid value)."""
        ds = digits(keys)
        ev = ArrayEval(spec, params, {n: _values_of(dom, d, 0) for n, dom, d in zip(names, declared.domains, ds)})
        out = []
        for updates in steps:
            values, bad = _updated(spec, ev, updates, len(keys))
            new = list(ds)
            for var, v in values.items():
                new[names.index(var)] = declared.digit_of(var, v)
            out.append(np.where(bad, -1, sum(d * st for d, st in zip(new, strides))))
        return out

    # up to REACH_DENSE, every valuation's successors at once and then one gather a step; beyond,
    # the successors of the valuations met, step by step
    maps = after(np.arange(count)) if count <= REACH_DENSE else None

    def moved(keys: np.ndarray) -> np.ndarray:
        if not steps:
            return keys[:0]
        out = np.concatenate([m[keys] for m in maps] if maps is not None else after(keys))
        return out[out >= 0]

    lows = [int(d[0]) for d in digits(np.asarray([declared.init]))]
    highs = list(lows)
    seen = _Seen(count)
    try:
        fresh = seen.fresh(chosen(np.asarray([declared.init], dtype=np.int64)))
        for step in range(horizon + 1):  # the valuations reached in 0, 1, ..., horizon steps
            for i, d in enumerate(digits(fresh)):
                lows[i], highs[i] = min(lows[i], int(d.min())), max(highs[i], int(d.max()))
            whole = all(lo == 0 and h == size - 1 for lo, h, size in zip(lows, highs, sizes))
            if whole or seen.count > REACH_MAX or math.prod(h - lo + 1 for lo, h in zip(lows, highs)) > fits:
                return None
            if step == horizon:
                break
            fresh = seen.fresh(moved(fresh))
            if fresh.size:
                fresh = np.concatenate([fresh, seen.fresh(chosen(fresh))])
            if not fresh.size:
                break
    except _TooMany:  # a choice of many options from many valuations
        return None
    return tuple((lo, h + 1) for lo, h in zip(lows, highs))


class _TooMany(Exception):
    """:func:`reachable_box` would meet more than REACH_MAX valuations."""


class _Seen:
    """The valuations :func:`reachable_box` has met, by number: a flag for each declared
    valuation where there are at most 2^24, else a set."""

    def __init__(self, declared: int):
        self.count = 0
        self._flags = np.zeros(declared, dtype=bool) if declared <= 1 << 24 else None
        self._set: set = set()

    def fresh(self, keys: np.ndarray) -> np.ndarray:
        """The valuations of ``keys`` not met before, once each; met from now on."""
        if self._flags is not None:
            keys = np.unique(keys[~self._flags[keys]])
            self._flags[keys] = True
        else:
            keys = np.asarray(sorted({k for k in keys.tolist() if k not in self._set}), dtype=np.int64)
            self._set.update(keys.tolist())
        self.count += len(keys)
        return keys


def _updated(spec: ir.Spec, ev: ArrayEval, updates, n: int) -> tuple[dict, np.ndarray]:
    """The value ``updates`` (simultaneous) give each of their variables at each of ``n``
    valuations (``ev``'s environment), as ArrayEval holds values, and where one has no value
    or a value outside its variable's domain (there an int is its domain's first, so that it
    has a position)."""
    bad = np.zeros(n, dtype=bool)
    out = {}
    with np.errstate(all="ignore"):
        for u in updates:
            v, err = ev(u.expr)
            bad |= np.asarray(err, dtype=bool)
            values = np.broadcast_to(np.asarray(v), (n,))
            dom = spec.state[u.var].domain
            if isinstance(dom, ir.IntDomain):
                bad |= np.asarray((values < dom.lo) | (values > dom.hi), dtype=bool)
            out[u.var] = values
    for var, values in out.items():
        dom = spec.state[var].domain
        if isinstance(dom, ir.IntDomain):
            out[var] = np.where(bad, dom.lo, values)
    return out, bad


def refuse_visits(measures) -> None:
    """UsageError for a measure about visits to phases: not computed with state variables yet."""
    for m in measures:
        if m.visits:
            raise UsageError(
                f"{m.text}: measures about visits to phases are not computed with state variables yet",
                "measure outcomes (P(harm), P(vetoed), E(refusals), ...); the interpreter's outcomes() tracks visits",
            )


def needs_layered(spec: ir.Spec) -> bool:
    """Whether the spec needs this engine: it has state variables or choice points."""
    return bool(spec.state) or spec.is_mdp


class Layers:
    """Everything one solve needs, per phase: the moves as (kind, probability arrays over
    (depths, classes, valuations), the valuation map of their updates, target index), and the
    adversary's option maps."""

    def __init__(self, model: Model):
        if model.exact:
            raise UsageError(
                "exact (rational) arithmetic is not offered with state variables or adversaries",
                "drop --exact; Interpreter.outcomes and Interpreter.optimum compute small models exactly",
            )
        spec = model.spec
        self.model = model
        self.spec = spec
        self.val = Valuations(spec)
        U, H = model.n_classes, model.horizon
        P = len(model.phases)
        # the probabilities and values over (depth, class, valuation), and each variable's
        # digits and values at every valuation (Valuations.digits, .arrays)
        per_valuation = 8 * U * H * (P * 4 + 4) + 16 * len(self.val.names)
        if self.val.count * U * H > REACH_MIN_CELLS:  # lay out only what a trajectory can reach
            box = reachable_box(spec, model.params, model.rules, self.val, H, memory_limit() // per_valuation)
            if box is not None:
                self.val = Valuations(spec, box)
        S = self.val.count
        need = per_valuation * S
        if need > memory_limit():
            sizes = largest(self.val.names, self.val.sizes)
            raise UsageError(
                f"model too large: {U:,} classes x {P} phases x {S:,} valuations of the state x horizon {H} "
                f"= {U * P * S * H:,} states need about {gib(need)} of working memory (limit {gib(memory_limit())})",
                f"shrink the state variables' domains ({sizes}), the horizon, or fix variables with --set",
            )
        self.S, self.U, self.H = S, U, H
        self.need = need
        rep_env = {}
        if model.dyn_vars:
            env = model.dyn_env()
            rep_env = {n: a[model.representatives][None, :, None] for n, a in env.items()}
        for n, a in self.val.arrays().items():
            rep_env[n] = a[None, None, :]
        self.env = rep_env
        self.overrides = {
            k: (rv[..., None], re[..., None] if isinstance(re, np.ndarray) else re)
            for k, (rv, re) in model.overrides.items()
        }
        self.depth = np.arange(H, dtype=np.int64)[:, None, None]
        self.phases = {q: self._phase(q) for q in model.phases}

    def _eval(self, phase: str) -> ArrayEval:
        return ArrayEval(self.spec, self.model.params, self.env, self.depth, phase, overrides=self.overrides)

    def _full(self, x) -> np.ndarray:
        return np.broadcast_to(np.asarray(x, dtype=np.float64), (self.H, self.U, self.S))

    def _update_map(self, updates) -> tuple[np.ndarray, np.ndarray | None]:
        """The valuation each valuation goes to under ``updates`` (simultaneous), and where
        they have no value or set a variable outside its domain (None: nowhere). There, and
        where a value lies outside the box laid out (:func:`reachable_box`: such a valuation is
        never reached), the valuation stays where it is."""
        idx = np.arange(self.S)
        if not updates:
            return idx, None
        ev = ArrayEval(self.spec, self.model.params, self.val.arrays())
        values, bad = _updated(self.spec, ev, updates, self.S)
        out, stay = idx.copy(), bad.copy()
        for var, v in values.items():
            i = self.val.names.index(var)
            digit = self.val.digit_of(var, v)
            stay |= (digit < 0) | (digit >= self.val.sizes[i])
            out += (digit - self.val.digits[var]) * self.val.strides[i]
        return np.where(stay, idx, out), (bad if bad.any() else None)

    def _phase(self, q: str) -> dict:
        model = self.model
        phase = self.spec.trajectory.phase(q)
        ev = self._eval(q)
        with np.errstate(all="ignore"):
            fired = []
            bad = np.zeros((self.H, self.U, self.S), dtype=bool)
            for i, rule in enumerate(model.rules):
                c, ec = ev(rule.condition)
                s, es = ev(rule.strength)
                s = np.asarray(s, dtype=np.float64)
                c = np.asarray(c, dtype=bool)
                bad |= np.broadcast_to(np.asarray(ec, dtype=bool), bad.shape)
                bad |= np.broadcast_to(c & (np.asarray(es, dtype=bool) | (s < -TOLERANCE) | (s > 1 + TOLERANCE)), bad.shape)
                key = None if rule.then is None else (rule.then, i)
                fired.append((c, np.clip(s, 0, 1), key))
            ends, v = veto_split(fired, 1.0, np.where, 0.0)
            probs = []
            for t in phase.transitions:
                if t.prob is None:
                    probs.append(None)
                    continue
                p, ep = ev(t.prob)
                p = np.asarray(p, dtype=np.float64)
                bad |= np.broadcast_to(np.asarray(ep, dtype=bool) | (p < -TOLERANCE) | (p > 1 + TOLERANCE), bad.shape)
                probs.append(p)
            probs, total, remainder = resolve_otherwise(probs, 1.0, 0.0)
            go = 1.0 - v
            if remainder is not None:
                bad |= np.broadcast_to((remainder < -TOLERANCE) & (go > 0), bad.shape)
                probs[[t.prob for t in phase.transitions].index(None)] = np.maximum(remainder, 0.0)
            else:
                bad |= np.broadcast_to((np.abs(total - 1) > TOLERANCE) & (go > 0), bad.shape)
            # (kind, target, probability, valuation map): a move whose updates have no valid
            # value is bad where it may be taken, as the interpreter applies them only then
            raw = []
            for key, pv in ends.items():
                if key is None:
                    raw.append(("vetoed", None, pv, None, None))
                else:
                    target, i = key
                    raw.append(("refused", target, pv, *self._update_map(model.rules[i].updates)))
            raw += [("step", t.target, go * p, *self._update_map(t.updates)) for t, p in zip(phase.transitions, probs)]
            for _, _, p, _, nowhere in raw:
                if nowhere is not None:
                    bad |= np.broadcast_to((np.asarray(p) > 0) & nowhere, bad.shape)
        ok = None if not bad.any() else ~bad  # no valid value there: nothing moves (see _replay_bad)

        def full(x):
            x = self._full(x)
            return x if ok is None else np.where(ok, x, 0.0)

        moves = [(kind, target, full(p), umap) for kind, target, p, umap, _ in raw]
        return {"moves": moves, "bad": bad if bad.any() else None, "options": self._options(phase, ev)}

    def _options(self, phase: ir.Phase, ev: ArrayEval):
        """None without a choice point; else :class:`_Options`."""
        if not phase.choices:
            return None
        if len(self.val.names) >= MAX_AXES:  # _Options._best lays the values out over (class, *state variables)
            raise UsageError(
                f"model too large: at a choice point the layered engine lays out the state with an axis for each "
                f"state variable, and the spec has {len(self.val.names)} ({name_list(self.val.names)}); numpy "
                f"arrays have at most {MAX_AXES} axes, the classes' included",
                "fold several state variables into one enum or int variable",
            )
        per_choice = []
        for c in phase.choices:
            when = None if c.when is None else np.broadcast_to(np.asarray(ev(c.when)[0], dtype=bool), (self.H, self.U, self.S))
            per_choice.append((self.val.names.index(c.var), self.val.option_digits(c.var, c.options), when))
        return _Options(per_choice, self.val, self.U)


class _Options:
    """The adversary's choices of one phase. An option sets the chosen variables and leaves the
    others, so its value at a valuation is ``w`` at that valuation with the chosen digits
    replaced: the best option is the extremum of ``w`` over the chosen variables' axes
    (restricted to their options), the same for every value they had. One pass over (class,
    valuation) per pattern of the `when`s that hold, however many joint options there are (it
    was one gather per option: K x classes x valuations for K joint options)."""

    def __init__(self, per_choice, val: Valuations, U: int):
        self.per_choice = per_choice  # (axis of the variable, its options' digits, when or None), phase order
        self.val, self.U = val, U
        self.static = all(when is None for *_, when in per_choice)

    def best(self, w: np.ndarray, d: int, sense: str) -> tuple[np.ndarray, np.ndarray]:
        """(the value of the best option at every (target, class, valuation), the valuation it
        leads to) for values ``w`` (targets, classes, valuations) after the choice, at depth
        ``d``; ``sense`` "max" or "min", for every target (one pass for all the targets of a
        sense: the choice is the same function of each target's values). Ties go to the first
        option in the order the phase's choices and their options are written (the first
        variable slowest)."""
        k = w.shape[0]
        rows = w.reshape(k * self.U, w.shape[2])  # each target's classes as classes of their own
        if self.static:
            value, to = self._best(rows, range(len(self.per_choice)), sense)
            return value.reshape(w.shape), to.reshape(w.shape)
        # which `when`s hold, one bit per choice: a phase chooses each state variable at most
        # once (E095), and _options refuses 64 state variables, so 63 bits at most
        code = np.zeros(w.shape[1:], dtype=np.int64)
        for i, (_, _, when) in enumerate(self.per_choice):
            code |= (1 if when is None else when[d].astype(np.int64)) << i
        code = np.broadcast_to(code, w.shape).reshape(rows.shape)
        value, to = rows.copy(), np.broadcast_to(np.arange(rows.shape[1]), rows.shape).copy()
        for pattern in np.unique(code):
            on = [i for i in range(len(self.per_choice)) if pattern >> i & 1]
            if not on:
                continue
            v, t = self._best(rows, on, sense)
            here = code == pattern
            value[here], to[here] = v[here], t[here]
        return value.reshape(w.shape), to.reshape(w.shape)

    def _best(self, w, on, sense) -> tuple[np.ndarray, np.ndarray]:
        val = self.val
        full = w.reshape(w.shape[0], *val.sizes)
        chosen = [self.per_choice[i] for i in on]
        sub = full
        for axis, opts, _ in chosen:
            sub = np.take(sub, opts, axis=1 + axis)
        axes = [1 + axis for axis, _, _ in chosen]
        moved = np.moveaxis(sub, axes, range(-len(axes), 0))  # the chosen axes last, in phase order
        flat = moved.reshape(*moved.shape[: -len(axes)], -1)
        k = flat.argmax(axis=-1) if sense == "max" else flat.argmin(axis=-1)
        best = np.take_along_axis(flat, k[..., None], axis=-1)[..., 0]
        keep = sorted(axes)
        value = np.broadcast_to(np.expand_dims(best, keep), full.shape).reshape(w.shape)
        # the valuation chosen: the state's own digits, the chosen variables' replaced
        to = np.arange(w.shape[1]) - sum(val.digits[val.names[a]] * val.strides[a] for a, _, _ in chosen)
        picks = np.unravel_index(k, [len(opts) for _, opts, _ in chosen])
        shift = sum(opts[j] * val.strides[a] for (a, opts, _), j in zip(chosen, picks))
        to = to + np.broadcast_to(np.expand_dims(shift, keep), full.shape).reshape(w.shape)
        return value, to


@attrs.frozen
class Strategy:
    """The adversary's optimal choice at every (phase, depth, class, valuation) of one solve,
    for one target: ``choice[q]`` an int array (depths, classes, valuations) of valuation
    indices (the state itself where the phase has no choice point)."""

    choice: dict
    valuations: Valuations
    model: Model

    def for_assignment(self, assignment) -> dict:
        """:meth:`table` for the class of ``assignment`` (a full assignment)."""
        model = self.model
        if not model.dyn_vars:
            return self.table(0)
        idx = np.ravel_multi_index(
            tuple(model.values[n].index(assignment[n]) for n in model.dyn_vars), model.dyn_shape
        )
        return self.table(int(model.class_of[idx]))

    def table(self, cls: int) -> dict:
        """The interpreter's strategy table ``(phase, depth, state key, frozenset()) -> chosen
        key`` for the assignments of class ``cls``
        (:meth:`libet.spec.interpreter.Interpreter.strategy_of`)."""
        out = {}
        val = self.valuations
        for q, arr in self.choice.items():
            if arr is None:
                continue
            for d in range(arr.shape[0]):
                for s in range(arr.shape[2]):
                    c = int(arr[d, cls, s])
                    if c != s:
                        out[(q, d, val.key(s), frozenset())] = val.key(c)
        return out


#: The layered solve reports its progress every this many depths (one depth is quick).
_REPORT_EVERY = 100


def backward(layers: Layers, targets: list[Target], want, progress=None) -> tuple[dict, dict, bool]:
    """Values at the depths ``want`` for every target: ``{depth: array (targets, phases,
    classes, valuations)}``, the strategies per target index, and whether a bad state was
    reached with positive probability somewhere (then the caller replays it). ``progress(n)``,
    when given, is called with the depths solved (the horizon in all, the depths below the
    lowest start depth, which need no solve, included)."""
    model = layers.model
    H, U, S = layers.H, layers.U, layers.S
    at_h = model.at_horizon
    phases = model.phases
    T = len(targets)
    want = set(int(w) for w in want)

    def term(outcome: str, depth) -> np.ndarray:
        out = np.zeros(T)
        for i, t in enumerate(targets):
            if outcome in t.outcomes:
                out[i] = 1.0 if t.reward == "one" else (depth if t.reward == "depth" else 0.0)
        return out

    # E[refusals · 1(outcome in O)]: a final veto counts one when it ends in O; a refusal that
    # goes on counts the probability of ending in O from where it goes (its paired target),
    # which is 1 when O is every outcome.
    counts = np.asarray([1.0 if t.reward == "refusals" and "vetoed" in t.outcomes else 0.0 for t in targets])
    pair = {}
    for i, t in enumerate(targets):
        if t.reward == "refusals" and t.outcomes != ms.ALL_OUTCOMES:
            pair[i] = targets.index(Target(t.outcomes, "one"))
    refusal_rows = np.asarray([t.reward == "refusals" for t in targets])
    senses = [t.sense for t in targets]
    by_sense: dict[str, list[int]] = {}  # the targets an adversary maximises, and minimises
    for i, sense in enumerate(senses):
        if sense is not None:
            by_sense.setdefault(sense, []).append(i)
    x_next = np.broadcast_to(term(at_h, H)[:, None, None, None], (T, len(phases), U, S)).copy()
    out = {H: x_next} if H in want else {}
    choice = {i: {q: None for q in phases} for i, s in enumerate(senses) if s is not None}
    for i in choice:
        for q in phases:
            if layers.phases[q]["options"] is not None:
                choice[i][q] = np.empty((H, U, S), dtype=np.int64)
    bad_hit = None
    lowest = min(want) if want else 0
    for d in range(H - 1, lowest - 1, -1):
        x = np.empty_like(x_next)
        for qi, q in enumerate(phases):
            info = layers.phases[q]
            w = np.zeros((T, U, S))
            for kind, target, p, umap in info["moves"]:
                pd = p[d]  # (U, S)
                if kind == "vetoed":
                    w += pd[None] * (term("vetoed", d) + counts)[:, None, None]
                    continue
                end = step_end(target, d + 1, H, model.spec.trajectory.at_horizon)
                if end is not None:
                    cont = np.broadcast_to(term(_OUTCOME[end], d + 1)[:, None, None], (T, U, S))
                else:
                    cont = x_next[:, phases.index(target)][:, :, umap]
                if kind == "refused" and refusal_rows.any():
                    extra = np.where(refusal_rows[:, None, None], 1.0, 0.0) * np.ones_like(cont)
                    for i, j in pair.items():
                        extra[i] = cont[j]
                    w += pd[None] * (cont + extra)
                else:
                    w += pd[None] * cont
            if info["bad"] is not None and info["bad"][d].any():
                bad_hit = (q, d, info["bad"][d])
            opts = info["options"]
            if opts is None:
                x[:, qi] = w
                continue
            x[:, qi] = w  # a plain quantity of an MDP (no choice made): the checker refuses to ask it
            for sense, rows in by_sense.items():
                value, to = opts.best(w[rows], d, sense)
                x[rows, qi] = value
                for j, i in enumerate(rows):
                    choice[i][q][d] = to[j]
        x_next = x
        if d in want:
            out[d] = x
        if progress is not None and (H - d) % _REPORT_EVERY == 0:
            progress(_REPORT_EVERY)
    rest = (H - lowest) % _REPORT_EVERY + lowest  # the last depths solved, and those below
    if progress is not None and rest:
        progress(rest)
    return out, choice, bad_hit is not None


def solve(model: Model, measures, progress=None) -> OutcomeTable:
    """The outcome table of a spec with state variables or choice points (see module doc);
    ``progress(n)``, when given, is called with the depths solved."""

    measures = tuple(measures)
    refuse_visits(measures)
    layers = Layers(model)
    d0, harmful, cls = assignment_facts(model)
    want = np.unique(d0)
    cols = ms.columns(measures)
    targets = [Target(frozenset({o}), "one" if r == "one" else r) for o, _, r in cols]
    for t in list(targets):  # a refusal count needs the probability of its outcome (see backward)
        if t.reward == "refusals" and Target(t.outcomes, "one") not in targets:
            targets.append(Target(t.outcomes, "one"))
    n_plain = len(targets)
    opt_measures = [m for m in measures if m.extremum is not None and model.spec.is_mdp]
    for m in opt_measures:
        reward = {ms.Reward.ONE: "one", ms.Reward.DEPTH: "depth", ms.Reward.STEPS: "depth", ms.Reward.REFUSALS: "refusals"}[m.reward]
        targets.append(Target(frozenset(m.numerator.outcomes), reward, m.extremum))
    _refuse_strategies(layers, len(opt_measures))
    values, choice, bad = backward(layers, targets, want, progress)
    if bad:
        _replay_bad(model, layers, d0, cls)
    wi = np.searchsorted(want, d0)
    stacked = np.stack([values[int(w)] for w in want])  # (W, T, P, U, S)
    x = stacked[wi, :, model.start_phase, cls, layers.val.init]  # (n, T)
    table = OutcomeTable.from_columns(model, cols, x[:, : len(cols)], harmful, d0, measures)
    for j, m in enumerate(opt_measures):
        i = n_plain + j
        v = x[:, i]
        if m.reward is ms.Reward.STEPS:  # E(steps) = E(depth) - d0: an expectation's event is everything
            v = v - d0
        table.optimum[m] = (v.reshape(model.shape), Strategy(choice[i], layers.val, model))
    return table


def _refuse_strategies(layers: Layers, n: int) -> None:
    """The optimal adversary of each of ``n`` measures over adversaries is kept at every
    (phase with a choice, depth, class, valuation): refuse before solving if that, with the
    model, would not fit."""
    chooses = sum(info["options"] is not None for info in layers.phases.values())
    keep = 8 * n * chooses * layers.H * layers.U * layers.S
    if keep and layers.need + keep > memory_limit():
        raise UsageError(
            f"model too large: the optimal adversaries of {n} measures over adversaries, at {chooses} phase(s) with "
            f"choices x horizon {layers.H} x {layers.U:,} classes x {layers.S:,} valuations of the state, need about "
            f"{gib(layers.need + keep)} of working memory with the rest of the model (limit {gib(memory_limit())})",
            "ask for fewer measures over adversaries (--measure), or shrink the state variables' domains "
            f"({largest(layers.val.names, layers.val.sizes)}) or the horizon",
        )


def _replay_bad(model: Model, layers: Layers, d0, cls) -> None:
    """Some state has no valid probabilities (they were set to 0 there); if an assignment
    reaches one, the interpreter, exploring every state reachable under any choice, raises its
    own error (phase, depth, assignment). Unreachable ones change nothing."""
    from libet.spec.interpreter import Interpreter

    interp = Interpreter(model.spec, model.param_overrides)
    for i in range(len(d0)):
        interp.optimum(model.policy, assignment_of(model, i), attrs.evolve(ms.VETOED, extremum="max"))


def simulate(model: Model, layers: Layers, rng, cls, d0, pick, progress=None):
    """Monte Carlo of a spec with state variables (no choice points): advance every live
    trajectory one step per iteration, each drawing its move from the same tabulated
    probabilities the backward pass uses (:class:`Layers`). Returns (outcome index, depth at
    absorption, visit flags (one word per trajectory, always 0), steps taken, refusals), as
    montecarlo's own pass does; ``pick`` is each trajectory's assignment (its index in the
    model's table)."""

    H = model.horizon
    n = len(d0)
    at_h = 0 if model.at_horizon == "delivered" else 1
    outcome = np.full(n, -1, dtype=np.int64)
    depth = d0.astype(np.int64).copy()
    phase = np.full(n, model.start_phase, dtype=np.int64)
    val = np.full(n, layers.val.init, dtype=np.int64)
    refusals = np.zeros(n, dtype=np.int64)
    at_start = depth >= H
    outcome[at_start] = at_h
    if progress is not None and at_start.any():
        progress(int(at_start.sum()))
    steps = 0
    index = {q: i for i, q in enumerate(model.phases)}
    codes = {ir.DELIVER: 0, ir.STOP: 1}
    while True:
        live = np.flatnonzero(outcome < 0)
        if not len(live):
            break
        steps += len(live)
        for qi, q in enumerate(model.phases):
            sel = live[phase[live] == qi]
            if not len(sel):
                continue
            moves = layers.phases[q]["moves"]
            d, c, s = depth[sel], cls[sel], val[sel]
            cum = np.cumsum(np.stack([p[d, c, s] for _, _, p, _ in moves]), axis=0)
            u = rng.random(len(sel))
            k = (u[None, :] >= cum).sum(axis=0)
            lost = k >= len(moves)  # beyond every move: the probabilities have no valid value here
            if lost.any():
                i = int(sel[np.argmax(lost)])
                replay_error(model.spec, model.param_overrides, model.policy, assignment_of(model, int(pick[i])), False, "outcomes")
            for j, (kind, target, _, umap) in enumerate(moves):
                hit = sel[k == j]
                if not len(hit):
                    continue
                if kind == "vetoed":
                    outcome[hit] = 2
                    refusals[hit] += 1
                    continue
                if kind == "refused":
                    refusals[hit] += 1
                nxt = depth[hit] + 1
                if target in codes:
                    outcome[hit] = codes[target]
                    depth[hit] = nxt
                    continue
                ends = nxt >= H
                depth[hit] = nxt
                outcome[hit[ends]] = at_h
                phase[hit] = index[target]
                val[hit] = umap[val[hit]]
        if progress is not None:  # the trajectories this step ended
            ended = int(np.count_nonzero(outcome[live] >= 0))
            if ended:
                progress(ended)
    return outcome, depth, np.zeros((n, 1), dtype=np.int64), steps, refusals

