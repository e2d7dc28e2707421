"""The trajectory chain of one policy, per assignment class, evaluated layer by layer.

Consumes: a checked :class:`~libet.spec.ir.Spec`, a policy, param overrides and fixed variable
values (``--set``).
Produces: a :class:`Model`: which variables matter, the assignment classes, and for any range of
depths the veto and transition probabilities of every (class, phase, depth) as numpy arrays,
with a mask of the states that have no valid value (which the engines turn into errors when
such a state is reachable).

Assignment classes (docs/simulator.md): a variable that no transition, rule, start depth or
reference value reads is *projected out*: no number depends on it. Among the variables the
dynamics read (transitions and the policy's rules), assignments are grouped by the values of
the maximal subterms that read a variable but not ``depth`` or ``phase``: two assignments that
agree on all of them have the same veto and transition probabilities at every state, so the
chain is solved once per class. ``violates v and depth < 5`` over a topic x uplift space of
twelve assignments, say, has two classes.
"""

from __future__ import annotations

import bisect
import functools
import math
import os
from fractions import Fraction
from typing import Mapping

import numpy as np

from libet.errors import EvaluationError, UsageError
from libet.spec import ir
from libet.spec.diagnostics import did_you_mean
from libet.spec.interpreter import Interpreter
from libet.spec.overrides import check_fixed, engine_params
from libet.spec.printer import count_text, name_list, order_text
from libet.spec.reads import reads_of
from libet.spec.rules import veto_split
from libet.spec.structural import bind
from libet.spec.vectorize import (
    TOLERANCE,
    ArrayEval,
    Block,
    depth_changes,
    domain_array,
    index_grids,
    mask_and,
    mask_or,
    outside,
    resolved,
    step_probabilities,
)

from . import compiled

#: The engines evaluate the chain in chunks of depths (:func:`chunk_depths`), bounded three ways:
#: one layer's arrays (a number per depth and class) hold at most LAYER_STATES, so the arrays of
#: a layer's expressions stay in a core's cache; a chunk holds at most CHUNK_STATES states
#: (depths x classes x rows of the chain) and its coefficients (:meth:`Model.entries`: rows
#: squared per depth and class for numpy's dense recurrence, the moves for the compiled sparse
#: one) at most CHUNK_ENTRIES numbers, which bounds the working memory.
#: Measured (docs/benchmarks.md): on ten phases a chunk of 2^18 states is 1.5x faster than one
#: of 2^16 (a quarter of the Python steps per solve). One phase, with its chunks cut at the
#: depths where a veto's depth comparison changes (MIN_CUT), on 2026-12-04's host (1 MiB of L2
#: per core): 2^17 depths per layer beat 2^16 at 10^5 to 10^7 states, for P(harm) alone and for
#: the six measures; 2^18 was faster still for P(harm) but slower for the six measures (their
#: cumulative products no longer stay in the cache). On 12-03 (before a layer let go of the
#: values it no longer needs) 2^18 had been slower than 2^16.
LAYER_STATES = 1 << 17
CHUNK_STATES = 1 << 18
CHUNK_ENTRIES = 1 << 22
#: A chunk of a wide chain (many phases) spans at least FLOOR_DEPTHS depths while it holds at
#: most FLOOR_STATES states and FLOOR_ENTRIES coefficients: every chunk builds a layer per
#: phase, so chunks that shrank as 1/P would make P^2 layers (a ring of 2,560 phases at horizon
#: 1,000: 1.7 s, against 0.55 s with the floor; docs/benchmarks.md, "Scale").
FLOOR_DEPTHS = 256
FLOOR_STATES = 1 << 21
FLOOR_ENTRIES = 1 << 23
#: A chunk is cut where a comparison of the depth with a number changes value
#: (:attr:`Model.depth_cuts`, :meth:`Model.spans`) when at least this many of its depths lie
#: beyond the cut: there the comparison is decided from the block's two ends, and whatever
#: hangs on it (a veto's probability, ``1 - v``, the product with a step) is one number instead
#: of an array, which saves more than the extra layer's Python costs (about 40 µs, a few passes
#: over 2^14 numbers).
MIN_CUT = 1 << 14
#: At most this many assignments are grouped into classes by a dict (np.unique above it).
_SMALL_GROUPING = 256
#: Refuse a model whose working set would exceed this many bytes (override: LIBET_MEMORY_LIMIT).
DEFAULT_MEMORY_LIMIT = 8 << 30
#: ``exact=True`` (Fractions) is for small models: at most this many (class, phase, depth) states.
EXACT_STATE_LIMIT = 400_000
#: Variables read only through reference values are summarised (see :class:`Summary`) when
#: their product has at least this many assignments; below it the table keeps every one.
SUMMARY_MIN = 4096


def chunk_depths(horizon: int, classes: int, rows: int = 1, entries: int | None = None) -> int:
    """Depths per chunk for ``classes`` classes, ``rows`` states per depth and class and
    ``entries`` coefficients per depth and class (rows squared, numpy's dense recurrence, when
    not given; :meth:`Model.entries`); the bounds above. At least 1, at most ``horizon``."""
    per = max(1, classes)
    rows = max(1, rows)
    entries = rows * rows if entries is None else max(1, entries)
    bound = min(LAYER_STATES // per, CHUNK_STATES // (per * rows), CHUNK_ENTRIES // (per * entries))
    floor = min(FLOOR_DEPTHS, LAYER_STATES // per, FLOOR_STATES // (per * rows), FLOOR_ENTRIES // (per * entries))
    return max(1, min(horizon, max(bound, floor)))


def float_weights(weights) -> np.ndarray:
    """A distribution's weights as float64: one conversion when all are equal (a uniform
    distribution is one Fraction repeated, which ``tuple.count`` sees by identity at C speed)."""
    n = len(weights)
    if n and weights.count(weights[0]) == n:
        return np.full(n, float(weights[0]))
    return np.fromiter((float(x) for x in weights), dtype=np.float64, count=n)


def product_weights(columns) -> np.ndarray:
    """The probability of every assignment of several independent variables: the outer
    product of their weight arrays ``columns``, shaped by their lengths (last fastest)."""
    w = np.ones((), dtype=object if any(c.dtype == object for c in columns) else np.float64)
    for ws in columns:
        w = np.multiply.outer(w, ws)
    return w


#: Most variables a model may read: the outcome table has an axis for each, and numpy arrays
#: have at most 64 axes (NPY_MAXDIMS since numpy 2.0).
MAX_AXES = 64


def memory_limit() -> int:
    text = os.environ.get("LIBET_MEMORY_LIMIT")
    if text:
        try:
            return int(float(text))
        except ValueError:
            pass
    return _physical_limit()


@functools.lru_cache(maxsize=1)
def _physical_limit() -> int:
    """Half the physical memory, at most DEFAULT_MEMORY_LIMIT (asked of the OS once: a fit
    builds thousands of models)."""
    try:
        phys = os.sysconf("SC_PHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
        return min(DEFAULT_MEMORY_LIMIT, phys // 2)
    except (ValueError, OSError, AttributeError):  # pragma: no cover
        return DEFAULT_MEMORY_LIMIT


def gib(n: float) -> str:
    """A byte count for people: MiB, GiB or TiB (past 10^15 TiB, its order)."""
    if n >= 1 << 40:
        tib = (int(n) + (1 << 39)) >> 40  # rounded
        return f"{tib:,} TiB" if tib < 10**15 else f"{order_text(tib)} TiB"
    if n >= 1 << 30:
        return f"{n / (1 << 30):.1f} GiB"
    return f"{n / (1 << 20):.0f} MiB"


def largest(names, sizes, shown: int = 6) -> str:
    """Variables by size, largest first, as ``name (size)``: the first ``shown`` and how many
    more (a state of 70 booleans, or 500 substance variables, is not a list to read)."""
    ranked = sorted(zip(names, sizes), key=lambda ns: -ns[1])
    text = ", ".join(f"{n} ({k:,})" for n, k in ranked[:shown])
    rest = len(ranked) - shown
    return text + (f" and {rest} more of {ranked[shown][1]:,} values or fewer" if rest > 0 else "")


class Cell:
    """One value of a :class:`Summary`'s axis: the assignments of the summarised variables
    that give the reference values they feed one truth vector. ``assignment`` is the first
    of them (in declaration order, last variable fastest), ``count`` how many there are."""

    __slots__ = ("index", "assignment", "count")

    def __init__(self, index: int, assignment: dict, count: int):
        self.index, self.assignment, self.count = index, assignment, count

    def __repr__(self) -> str:
        shown = ", ".join(f"{k}={_show(v)}" for k, v in self.assignment.items())
        return f"{shown} (and {self.count - 1:,} more alike)" if self.count > 1 else shown

    __str__ = __repr__


class Summary:
    """Variables read only through reference values, replaced by one axis of classes.

    A variable that no transition, rule or start depth reads except through ``violates V``
    or ``harmful``, and that only values reading nothing else read, matters to every number
    only through those values' truth. Its assignments are grouped by the truth vector they
    give; the table gets one axis (named ``name``, e.g. ``{topic, uplift}``) whose values are
    :class:`Cell` objects and whose weights are each class's probability mass, so averages
    and worst cases are those over the variables themselves, computed from a summary as
    large as the number of truth vectors (at most 2^values) however many values the
    variables have. A worst case reports a cell's first assignment, which attains it.
    """

    def __init__(self, names: tuple, domains: dict, cells: tuple, masses: tuple, inverse: np.ndarray):
        self.names = names  # the summarised variables, in declaration order
        self.domains = domains  # name -> the values it ranges over here
        self.cells = cells
        self.masses = masses
        self.inverse = inverse  # flat index over the variables' product -> cell
        self.name = "{" + ", ".join(names) + "}"

    @classmethod
    def of(cls, model: "Model", keep: frozenset) -> "Summary | None":
        spec, reads = model.spec, model.reads
        direct = reads.outside_values([*model._dyn_exprs, spec.trajectory.start_depth])
        block = {n for n in model.value_vars if n not in keep and n not in direct}
        value_vars = {name: reads.variables(v.expr) for name, v in spec.values.items()}
        changed = True
        while changed:  # a value that also reads a variable outside the block takes its own out
            changed = False
            for vs in value_vars.values():
                if vs & block and not vs <= block:
                    block -= vs
                    changed = True
        names = tuple(n for n in model.names if n in block)
        size = math.prod(len(model.values[n]) for n in names)
        if not names or size < SUMMARY_MIN or size * (len(names) + 4) * 8 > memory_limit():
            return None  # too few to gain; or too many to enumerate (the size guard says so)
        read = tuple(name for name, vs in value_vars.items() if vs and vs <= block)
        shape = tuple(len(model.values[n]) for n in names)
        env = product_env(spec, names, model.values)
        ev = ArrayEval(spec, model.params, env)
        truths = []
        for name in read:
            truth, err = ev(spec.values[name].expr)
            err = np.broadcast_to(np.asarray(err, dtype=bool), (size,))
            if err.any():
                i = int(np.argmax(err))
                idx = np.unravel_index(i, shape)
                partial = {n: model.values[n][int(j)] for n, j in zip(names, idx)}
                replay_error(spec, model.param_overrides, model.policy, full_assignment(spec, partial, model.fixed),
                             False, "harmful")
            truths.append(np.broadcast_to(np.asarray(truth, dtype=bool), (size,)))
        # a cell per truth vector, in order of first appearance (however many values: a bit
        # per value in one int64 would run out past 63 and merge cells that differ)
        first, inverse = _group_rows(truths)
        weight = product_weights([float_weights(model.weights[n]) for n in names]).reshape(-1)
        masses = np.bincount(inverse, weights=weight, minlength=len(first))
        counts = np.bincount(inverse, minlength=len(first))
        cells = []
        for j, f in enumerate(first):
            idx = np.unravel_index(int(f), shape)
            cells.append(Cell(j, {n: model.values[n][int(i)] for n, i in zip(names, idx)}, int(counts[j])))
        return cls(names, {n: model.values[n] for n in names}, tuple(cells), tuple(float(m) for m in masses), inverse)

    def apply(self, model: "Model") -> None:
        """Replace the summarised variables by the summary's axis in ``model``'s tables."""
        block = set(self.names)

        def swap(names):
            out = []
            for n in names:
                if n in block:
                    if self.name not in out:
                        out.append(self.name)
                else:
                    out.append(n)
            return tuple(out)

        model.names = swap(model.names)
        model.dyn_vars = swap(model.dyn_vars)
        model.value_vars = swap(model.value_vars)
        for n in self.names:
            del model.values[n], model.weights[n]
        model.values[self.name] = self.cells
        model.weights[self.name] = self.masses

    def cell_of(self, assignment: Mapping) -> Cell:
        """The cell of the summarised variables' values in ``assignment``."""
        flat = 0
        for n in self.names:
            vals = self.domains[n]
            try:
                i = vals.index(assignment[n])
            except KeyError:
                raise UsageError(f"the assignment gives no value to {n}") from None
            except ValueError:
                raise UsageError(f"{assignment[n]!r} is not a value {n} ranges over here") from None
            flat = flat * len(vals) + i
        return self.cells[int(self.inverse[flat])]


def expand(partial: Mapping) -> dict:
    """``partial`` with each summary cell replaced by the assignment it stands for."""
    out: dict = {}
    for k, v in partial.items():
        if isinstance(v, Cell):
            out.update(v.assignment)
        else:
            out[k] = v
    return out


class Model:
    """The chain of ``policy`` on ``spec`` for every assignment, grouped into classes.

    Args:
        spec: a checked spec with a finite horizon.
        policy: the policy's name.
        params: param overrides (name -> number).
        fixed: variables fixed to one value (name -> value); the others range over their domain.
        exact: evaluate in exact rationals.
        keep: the variables the caller will name when it reads the table (worst cases, gaps,
            sweeps); the others may be summarised (:class:`Summary`). ``None`` (the default)
            keeps every variable as an axis of its own.

    Raises:
        UsageError: for an unknown policy/param/variable, an unbounded horizon, or a model too
            large for memory (with the estimated size and how to shrink it).
    """

    def __init__(
        self,
        spec: ir.Spec,
        policy: str,
        params: Mapping[str, object] | None = None,
        fixed: Mapping[str, object] | None = None,
        *,
        exact: bool = False,
        keep=None,
    ):
        if spec.trajectory is None:
            raise UsageError("the spec has no trajectory: there is nothing to simulate or export",
                             "add a `trajectory { horizon ... start ... phase ... }` block")
        if spec.trajectory.horizon is None:
            raise UsageError("the trajectory has `horizon none`; simulation needs a finite horizon", "give one, e.g. `horizon 64`")
        if policy not in spec.policies:
            raise UsageError(
                f"there is no policy {policy!r} (policies: {name_list(spec.policies)})",
                did_you_mean(policy, spec.policies),
            )
        spec = bind(spec, params)  # a horizon or weights over params, at these params
        self.spec = spec
        self.policy = policy
        self.exact = exact
        self.param_overrides = dict(params or {})
        self.params = engine_params(spec, params, exact)  # the one validation, spec/overrides.py
        self.fixed = check_fixed(spec, fixed)
        traj = spec.trajectory
        self.horizon: int = traj.horizon
        #: the outcome reaching the horizon is: "delivered", or "stopped" (`horizon N then stop`)
        self.at_horizon: str = "stopped" if traj.at_horizon == ir.STOP else "delivered"
        self.phases: tuple[str, ...] = traj.phase_names
        self.phase_index = {p: i for i, p in enumerate(self.phases)}
        self.start_phase = self.phase_index[traj.start_phase]
        self.rules = spec.policies[policy].rules
        reads = reads_of(spec)
        self.reads = reads
        steps = [t.prob for p in traj.phases for t in p.transitions if t.prob is not None]
        rules = [x for r in self.rules for x in (r.condition, r.strength)]
        dyn = steps + rules
        dyn += [c.when for p in traj.phases for c in p.choices if c.when is not None]  # the adversary's options
        self._dyn_exprs = dyn

        def ordered(names):
            return tuple(n for n in spec.variables if n in names)

        self.dyn_vars = ordered(reads.variables(dyn))
        self.start_vars = ordered(reads.of(traj.start_depth)[0])
        self.value_vars = ordered(reads.harm())
        self.names = ordered(set(self.dyn_vars) | set(self.start_vars) | set(self.value_vars))
        self.projected = tuple(n for n in spec.variables if n not in self.names)
        self.values: dict[str, tuple] = {}
        self.weights: dict[str, tuple] = {}
        for n in self.names:
            var = spec.variables[n]
            if n in self.fixed:
                self.values[n] = (self.fixed[n],)
                self.weights[n] = (Fraction(1),)
            else:
                self.values[n] = var.domain.values()
                self.weights[n] = var.distribution()
        self.summary: Summary | None = None
        self._memo_rep_env: dict | None = None
        if keep is not None and not exact:
            self.summary = Summary.of(self, frozenset(keep))
            if self.summary is not None:
                self.summary.apply(self)
        self.shape = tuple(len(self.values[n]) for n in self.names)
        self.size = math.prod(self.shape)
        self.dyn_shape = tuple(len(self.values[n]) for n in self.dyn_vars)
        self.dyn_size = math.prod(self.dyn_shape)
        #: the maximal subterms of the dynamics that read variables only: fixed per assignment
        self.statics = reads.static_subterms(self._dyn_exprs)
        self._guard_sizes()
        self._classes()
        # The maximal subterms that read nothing varying (`1 - base`, `-gain`, a literal) are
        # evaluated once here, not in every layer: one value each, as any layer would compute.
        ev = ArrayEval(spec, self.params, {}, exact=exact)
        self._layer_overrides = {**self.overrides, **{id(c): ev(c) for c in reads.constant_subterms(self._dyn_exprs)}}
        # What a layer keeps of its values (the rest are let go once used): the nodes met twice,
        # and the veto rules, which the layer of every phase of a block reads.
        many = len(self.phases) > 1
        self._kept = reads.reused(steps + ([] if many else rules), rules if many else ())
        # Phases whose layers are the same arrays: with veto rules that do not read `phase`, the
        # veto part is one per block, and phases whose probabilities are written the same (and
        # do not read `phase` either) have the same layer but for its targets (:meth:`layers`).
        self._shared_vetoes = many and not any(reads.phase(e) for e in rules)
        self._layer_keys: dict[str, tuple | None] = {}
        for p in traj.phases:
            probs = [t.prob for t in p.transitions]
            free = self._shared_vetoes and not any(reads.phase(e) for e in probs if e is not None)
            self._layer_keys[p.name] = tuple(None if e is None else reads.key(e) for e in probs) if free else None
        #: the depths in 1 .. horizon - 1 at which a comparison of the depth with a number in
        #: the dynamics changes value (``depth < 5``: 5), in order
        self.depth_cuts: tuple[int, ...] = tuple(sorted({
            d for e in reads.depth_comparisons(self._dyn_exprs)
            for d in _changes(e, ev) if d < self.horizon}))

    # -- sizes ---------------------------------------------------------------------------------

    def _shrink_hint(self, names) -> str:
        summary = self.summary.name if self.summary is not None else None
        big = sorted((n for n in names if n != summary), key=lambda n: -len(self.values[n]))[:3]
        if not big:
            return "reduce the horizon or the number of phases"
        sets = " ".join(f"--set {n}={_show(self.values[n][0])}" for n in big)
        return f"fix the largest variables, e.g. {sets}, or reduce the horizon"

    def _sizes(self, names) -> str:
        """``names`` with their numbers of values: every one when there are a few, else the
        largest (:func:`largest`)."""
        if len(names) <= 6:
            return " x ".join(f"{n} ({len(self.values[n]):,})" for n in names)
        return f"{len(names):,} variables, the largest " + largest(names, [len(self.values[n]) for n in names])

    def _guard_sizes(self) -> None:
        limit = memory_limit()
        n_static = max(1, len(self.statics))
        dyn_bytes = self.dyn_size * (len(self.dyn_vars) + 2 * n_static + 4) * 8
        if dyn_bytes > limit:
            raise UsageError(
                f"model too large: the dynamics of policy '{self.policy}' read {self._sizes(self.dyn_vars)}: "
                f"{count_text(self.dyn_size)} assignments; grouping them needs about {gib(dyn_bytes)} "
                f"(limit {gib(limit)})",
                self._shrink_hint(self.dyn_vars),
            )
        table_bytes = self.size * (len(self.names) + 12) * 8
        if table_bytes > limit:
            raise UsageError(
                f"model too large: the outcome table has an axis for each of {self._sizes(self.names)}: "
                f"{count_text(self.size)} rows, about {gib(table_bytes)} (limit {gib(limit)})",
                self._shrink_hint(self.names),
            )

    def require_axes(self) -> None:
        """Refuse a model the engines cannot lay out: each variable it reads is an axis of its
        assignments (an outcome table's, numpy's unravelling), and numpy arrays have at most
        MAX_AXES. The PRISM export, which lays out none, does not ask."""
        if len(self.names) > MAX_AXES:
            raise UsageError(
                f"model too large: the outcome table has an axis for each variable the model reads, and "
                f"policy '{self.policy}' reads {len(self.names)} ({name_list(self.names)}); numpy arrays have at "
                f"most {MAX_AXES} axes, fixed variables included",
                "read fewer variables in the trajectory, the values and the start depth, e.g. by folding "
                "several booleans into one enum or int variable",
            )

    def estimate_bytes(self, n_classes: int | None = None, flags: int = 1, refusals: bool = False) -> int:
        """Working memory of the exact engine for one chunk of depths, over the phases times
        ``flags`` visit flags (doubled when ``refusals`` are counted)."""
        u = self.n_classes if n_classes is None else n_classes
        p = len(self.phases) * flags * (2 if refusals else 1)
        entries = self.entries(flags, refusals)
        return chunk_depths(self.horizon, u, p, entries) * u * (entries + 8 * p) * 8 * 4

    def entries(self, flags: int = 1, refusals: bool = False) -> int:
        """The exact engine's coefficients per depth and class over the phases times ``flags``
        visit flags (doubled when ``refusals`` are counted): every pair of states for numpy's
        dense recurrence; for the compiled one, which is sparse, at most one per move from a
        state (a phase's distinct target phases and refusal phases), three with refusals (the
        move, its reward copy, and a refusal's count). P phases in a ring then cost P, not P^2."""
        rows = len(self.phases) * flags * (2 if refusals else 1)
        if self.exact or not compiled.wanted():
            return rows * rows
        return flags * self._moves * (3 if refusals else 1)

    @functools.cached_property
    def _moves(self) -> int:
        then = {r.then for r in self.rules if r.then is not None}
        return sum(len({t.target for t in p.transitions if t.target in self.phase_index} | then)
                   for p in self.spec.trajectory.phases)

    # -- classes -------------------------------------------------------------------------------

    def dyn_env(self) -> dict:
        """Arrays over the product of the dynamics' variables (last changing fastest)."""
        return product_env(self.spec, self.dyn_vars, self.values)

    def _classes(self) -> None:
        statics = self.statics
        n = self.dyn_size
        if not statics:
            self.n_classes = 1
            self.class_of = np.zeros(n, dtype=np.int64)
            self.representatives = np.zeros(1, dtype=np.int64)
            self.overrides = {}
            self._check_memory()
            return
        ev = ArrayEval(self.spec, self.params, self.dyn_env(), exact=self.exact)
        cols = []
        evaluated = []
        for s in statics:
            v, err = ev(s)
            v = np.broadcast_to(np.asarray(v), (n,))
            err = np.broadcast_to(np.asarray(err, dtype=bool), (n,))
            evaluated.append((v, err))
            cols.append(err)
            if v.dtype == object:
                cols.append(None)  # exact mode: grouped through Python tuples below
            elif v.dtype == bool:
                cols.append(v & ~err)
            else:
                x = np.where(err, 0, v).astype(np.float64)
                nan = np.isnan(x)
                cols.append(np.where(nan, 0.0, x))
                cols.append(nan)
        if any(c is None for c in cols):  # exact mode: Fractions, grouped as Python tuples
            representatives, inverse = _first_appearance(
                tuple((bool(e[i]), None if e[i] else v[i]) for v, e in evaluated) for i in range(n))
        elif n <= _SMALL_GROUPING:
            # few assignments: a dict of rows (np.unique's fixed cost, about 0.1 ms, was a
            # tenth of a small solve); equal numbers give equal keys, as np.unique groups them
            # (the masks stacked with the numbers as 0.0 and 1.0)
            representatives, inverse = _first_appearance(map(tuple, np.stack(cols, axis=1).tolist()))
        else:
            representatives, inverse = _group_rows(cols)
        self.n_classes = len(representatives)
        self.class_of = inverse
        self.representatives = representatives
        self.overrides = {}
        for s, (v, err) in zip(statics, evaluated):
            rv = v[representatives][None, :]
            re = err[representatives][None, :]
            self.overrides[id(s)] = (rv, re if re.any() else False)
        self._check_memory()

    def _check_memory(self) -> None:
        limit = memory_limit()
        need = self.estimate_bytes()
        if need > limit:
            raise UsageError(
                f"model too large: {self.n_classes:,} assignment classes x {len(self.phases)} phases per depth "
                f"need about {gib(need)} of working memory (limit {gib(limit)})",
                self._shrink_hint(self.dyn_vars),
            )
        if self.exact:
            states = self.n_classes * len(self.phases) * self.horizon
            if states > EXACT_STATE_LIMIT:
                raise UsageError(
                    f"exact (rational) arithmetic is for small models: this one has {states:,} states "
                    f"({self.n_classes:,} classes x {len(self.phases)} phases x horizon {self.horizon}), "
                    f"the limit is {EXACT_STATE_LIMIT:,}",
                    "drop --exact (float64 is accurate to about 1e-15 here), or fix variables with --set",
                )

    @property
    def states(self) -> int:
        """Transient states solved: classes x phases x depths."""
        return self.n_classes * len(self.phases) * self.horizon

    # -- layers --------------------------------------------------------------------------------

    def spans(self, chunk: int):
        """The blocks of depths ``(lo, hi)`` that cover ``0 .. horizon - 1`` in order: the
        chunks of ``chunk`` depths, each split in two at the last depth cut
        (:attr:`depth_cuts`) inside it that leaves at least :data:`MIN_CUT` of its depths
        beyond it. One cut a chunk at most, so however many thresholds the dynamics have, there
        are at most twice as many layers as without cuts (a layer evaluates every comparison,
        decided or not, so a cut at each of k thresholds would cost k layers of all k)."""
        cuts = self.depth_cuts
        for lo in range(0, self.horizon, chunk):
            hi = min(self.horizon, lo + chunk)
            j = bisect.bisect_right(cuts, hi - MIN_CUT) - 1
            if j >= 0 and cuts[j] > lo:
                yield lo, cuts[j]
                lo = cuts[j]
            yield lo, hi

    def layer(self, phase: str, block: Block, vetoes: "Vetoes | None" = None) -> "PhaseLayer":
        """Veto and transition probabilities of ``phase`` at the depths of ``block`` for every
        class (axis 1); ``vetoes``, the veto part when another phase of the block has it. Layers
        of several phases over one block share what they have in common (:meth:`layers`)."""
        return PhaseLayer.build(self._evaluator(phase, block), self.spec.trajectory.phase(phase), self.rules, vetoes)

    def _evaluator(self, phase: str | None, block: Block) -> ArrayEval:
        return ArrayEval(self.spec, self.params, self._rep_env(), phase=phase, exact=self.exact,
                         overrides=self._layer_overrides, block=block, kept=self._kept)

    def layer_key(self, phase: str) -> tuple | None:
        """What :meth:`layers` tells the phases apart by: phases with the same key (not None)
        have the same layer but for its targets; None for a layer of its own."""
        return self._layer_keys[phase]

    def layers(self, lo: int, hi: int, phases=None) -> dict[str, "PhaseLayer"]:
        """:meth:`layer` of every phase (of ``phases``, when given) at the depths ``lo .. hi -
        1``: the veto rules, and every subterm that does not read ``phase``, evaluated once for
        all phases. Where the rules do not read ``phase`` either, their veto probabilities are
        formed once for the block, and phases whose transition probabilities are written the
        same (:meth:`layer_key`) share one layer's arrays (a ring of 3,200 phases of seven
        shapes builds seven layers a block, not 3,200)."""
        block = Block(lo, hi, share=len(self.phases) > 1)
        vetoes = Vetoes.of(self._evaluator(None, block), self.rules) if self._shared_vetoes else None
        out: dict[str, PhaseLayer] = {}
        same: dict[tuple, PhaseLayer] = {}
        for q in self.phases if phases is None else phases:
            key = self._layer_keys[q]
            twin = same.get(key) if key is not None else None
            if twin is not None:
                out[q] = twin.retargeted(self.spec.trajectory.phase(q))
                continue
            out[q] = self.layer(q, block, vetoes)
            if key is not None:
                same[key] = out[q]
        return out

    def _rep_env(self) -> dict:
        """The dynamics' variables at each class's representative, as (1, classes) arrays."""
        env = self._memo_rep_env
        if env is None:
            env = {}
            if self.dyn_vars:
                env = {n: a[self.representatives][None, :] for n, a in self.dyn_env().items()}
            self._memo_rep_env = env
        return env


class PhaseLayer:
    """One phase over a block of depths: ``v`` (veto probability), ``g = 1 - v``, the
    transitions as (target, probability) in declaration order, and ``bad``: the states where
    the interpreter raises (an expression with no value, a probability outside [0, 1], a sum
    other than 1). At bad states every probability is set to 0 so nothing downstream is NaN.
    ``v_end`` is the part of ``v`` that ends the trajectory (*vetoed*) and ``refusals`` the
    rest, as (phase, probability) per refusal target (``veto ... then -> PHASE``):
    :func:`libet.spec.rules.veto_split`. ``targets`` are the transitions' targets and
    :meth:`step` one transition's probability: an ``otherwise`` remainder is computed only when
    it is asked for, by :meth:`step` or :attr:`transitions`."""

    __slots__ = ("v", "g", "targets", "_steps", "bad", "v_end", "refusals")

    def __init__(self, v, g, transitions, bad, v_end=None, refusals=()):
        self.v, self.g, self.bad = v, g, bad
        self.targets = tuple(t for t, _ in transitions)
        self._steps = [p for _, p in transitions]
        self.v_end = v if v_end is None else v_end
        self.refusals = refusals

    def step(self, i: int):
        """The probability of transition ``i`` (declaration order)."""
        return resolved(self._steps[i])

    @property
    def transitions(self) -> tuple:
        """(target, probability) per transition, in declaration order."""
        return tuple((t, self.step(i)) for i, t in enumerate(self.targets))

    def retargeted(self, phase: ir.Phase) -> "PhaseLayer":
        """This layer's arrays for ``phase``, whose transitions are written as this one's are
        (same probabilities, in the same order) but may lead elsewhere."""
        twin = PhaseLayer(self.v, self.g, (), self.bad, self.v_end, self.refusals)
        twin.targets = tuple(t.target for t in phase.transitions)
        twin._steps = self._steps
        return twin

    @classmethod
    def build(cls, ev: ArrayEval, phase: ir.Phase, rules, vetoes: "Vetoes | None" = None) -> "PhaseLayer":
        one = ev.real(1)
        vetoes = Vetoes.of(ev, rules) if vetoes is None else vetoes
        bad, split, v, g = vetoes.bad, vetoes.split, vetoes.v, vetoes.g
        with np.errstate(all="ignore"):
            raw = [None if t.prob is None else ev(t.prob) for t in phase.transitions]
            raw = [None if r is None else (ev.real(r[0]), r[1]) for r in raw]
            probs, tbad = step_probabilities(raw, one, ev.real(0), defer=True)
            if tbad is not False:
                bad = mask_or(bad, mask_and(g != 0, tbad))
        if not _any(bad):
            bad = False
        else:
            ok = ~bad
            v = np.where(ok, v, 0)
            g = np.where(ok, g, 0)
            probs = [np.where(ok, resolved(p), 0) for p in probs]
            split = {k: np.where(ok, x, 0) for k, x in split.items()}
        transitions = tuple((t.target, p) for t, p in zip(phase.transitions, probs))
        refusals = tuple((k, x) for k, x in split.items() if k is not None)
        # with no refusal every veto ends the trajectory: v itself, not the sum of its parts
        return cls(v, g, transitions, bad, split[None] if refusals else v, refusals)


class Vetoes:
    """The veto part of a layer: ``v`` (the veto probability), ``g = 1 - v``, ``split`` (the
    parts of ``v`` by where a refusal goes on, None for a final veto:
    :func:`libet.spec.rules.veto_split`) and ``bad``, the states where a rule's condition or
    strength has no value or a strength lies outside [0, 1]."""

    __slots__ = ("bad", "split", "v", "g")

    def __init__(self, bad, split, v, g):
        self.bad, self.split, self.v, self.g = bad, split, v, g

    @classmethod
    def of(cls, ev: ArrayEval, rules) -> "Vetoes":
        tol = TOLERANCE
        one = ev.real(1)
        bad = False
        fired = []
        with np.errstate(all="ignore"):
            for rule in rules:
                c, ec = ev(rule.condition)
                s, es = ev(rule.strength)
                s = ev.real(s)
                out = outside(s, -tol, 1 + tol)
                bad = mask_or(bad, mask_or(ec, mask_and(c, mask_or(es, out))))
                fired.append((c, np.minimum(np.maximum(s, 0), 1), rule.then))
            split, v = veto_split(fired, one, _select, ev.real(0))
            return cls(bad, split, v, one - v)


def _changes(e: ir.Compare, ev: ArrayEval) -> tuple[int, ...]:
    """:func:`depth_changes` of a comparison of the depth with a constant, whose value ``ev``
    (the model's evaluator of constants) has; none when that value is an error."""
    value, err = ev(e.right if type(e.left) is ir.Depth else e.left)
    return () if err is not False else depth_changes(e, value)


def _first_appearance(keys) -> tuple[np.ndarray, np.ndarray]:
    """Group positions by equal keys: each group's first position (in order of first
    appearance) and the group of every position."""
    groups: dict = {}
    inverse = []
    reps = []
    for i, k in enumerate(keys):
        j = groups.get(k)
        if j is None:
            j = groups[k] = len(reps)
            reps.append(i)
        inverse.append(j)
    return np.asarray(reps, dtype=np.int64), np.asarray(inverse, dtype=np.int64)


def _group_rows(cols: list[np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
    """:func:`_first_appearance` of the rows of the columns ``cols``, masks and floats (equal
    rows: equal values in every column, as ``==`` compares them), in linear passes and a sort
    of one number per row for each float column that varies: a constant column is dropped,
    each other becomes its values' codes (a mask is its own), and the codes of all columns one
    integer per row. (``np.unique(axis=0)`` sorts the rows as records: 0.95 s for 2 x 10^6
    rows of six columns.)"""
    n = len(cols[0])
    key = None
    size = 1
    for c in cols:
        if (c == c[0]).all():
            continue
        if c.dtype == bool:
            codes, k = c.astype(np.int64), 2
        else:
            values, codes = np.unique(c, return_inverse=True)
            codes, k = codes.reshape(-1), len(values)
        if key is None:
            key, size = codes, k
            continue
        if size * k >= 1 << 62:  # keep the mixed-radix key within int64
            key, size = _dense(key)
        key = key * k + codes
        size *= k
    if key is None:  # every row the same
        return np.zeros(1, dtype=np.int64), np.zeros(n, dtype=np.int64)
    if size > 4 * n:  # too many keys to index by
        key, size = _dense(key)
    # Each key's first row, with no sort; classes numbered in order of first appearance, so
    # results do not depend on sorting.
    first = np.full(size, n, dtype=np.int64)
    np.minimum.at(first, key, np.arange(n))
    is_first = np.zeros(n, dtype=bool)
    is_first[first[first < n]] = True
    representatives = np.flatnonzero(is_first)
    rank = np.empty(size, dtype=np.int64)
    rank[key[representatives]] = np.arange(len(representatives))
    return representatives, rank[key]


def _dense(key: np.ndarray) -> tuple[np.ndarray, int]:
    """``key`` renumbered 0 .. k - 1 (in sorted order), and k."""
    used, key = np.unique(key, return_inverse=True)
    return key.reshape(-1), len(used)


def _select(c, a, b):
    """``a if c else b`` for masks or plain bools (the veto rule's ``select``)."""
    if isinstance(c, np.ndarray) or isinstance(a, np.ndarray) or isinstance(b, np.ndarray):
        return np.where(c, a, b)
    return a if c else b


def _any(mask) -> bool:
    if mask is False:
        return False
    return bool(np.any(mask))


def product_env(spec: ir.Spec, names, values: Mapping[str, tuple]) -> dict:
    """Arrays of encoded values over the product of ``names`` (flattened, last fastest)."""
    env = {}
    if not names:
        return env
    grids = index_grids(tuple(len(values[n]) for n in names))
    for i, n in enumerate(names):
        vals = values[n]
        if vals and isinstance(vals[0], Cell):  # a summary's axis: its variables at each cell's values
            for var in vals[0].assignment:
                env[var] = domain_array(spec.variables[var], [c.assignment[var] for c in vals])[grids[i]]
        else:
            env[n] = domain_array(spec.variables[n], vals)[grids[i]]
    return env


def full_assignment(spec: ir.Spec, partial: Mapping, fixed: Mapping | None = None) -> dict:
    """An assignment of every variable: ``partial``, then ``fixed``, then each domain's first value."""
    out = {}
    for n, v in spec.variables.items():
        if n in partial:
            out[n] = partial[n]
        elif fixed and n in fixed:
            out[n] = fixed[n]
        else:
            out[n] = v.domain.values()[0]
    return out


def replay_error(spec: ir.Spec, params: Mapping, policy: str | None, assignment: dict, exact: bool, what: str):
    """Raise the interpreter's own error for ``assignment`` (an engine found a state with no
    value); if the interpreter does not raise, raise a generic EvaluationError naming it."""
    interp = Interpreter(spec, {n: v for n, v in params.items()}, exact=exact)
    shown = ", ".join(f"{k}={_show(v)}" for k, v in assignment.items())
    try:
        if what == "start":
            interp.start(assignment)
        elif what == "harmful":
            interp.harmful(assignment)
        else:
            interp.outcomes(policy, assignment)
    except (OverflowError, ValueError) as exc:
        # The interpreter lets Python's own overflow escape from pow with an integer exponent
        # (reported as a spec/ bug); it is still an expression with no value.
        raise EvaluationError(
            f"an expression overflows a double ({exc})", None, state=f"assignment {{{shown}}}"
        ) from None
    raise EvaluationError(
        f"a state reachable under policy '{policy}' has no valid transition probabilities",
        None,
        state=f"assignment {{{shown}}}",
        code="E041",
    )


def _show(v) -> str:
    if isinstance(v, bool):
        return "true" if v else "false"
    return str(v)
