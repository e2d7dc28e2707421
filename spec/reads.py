"""What an expression reads: the one static analysis every engine and check uses.

Consumes: a checked :class:`~libet.spec.ir.Spec` and expressions of it.
Produces: for each expression node, the variables it reads and whether it reads ``depth`` or
``phase``, through ``def``s, reference values and ``harmful``; the maximal subterms that read
variables but neither depth nor phase (their values per assignment fix the expression at every
state, which is how the simulator groups assignments into classes), and those that read nothing
that varies (one value per model, which the simulator computes once).

One :class:`Reads` is kept per spec (:func:`reads_of`), memoised by node identity, so asking
about a shared subterm twice costs nothing. The walk uses an explicit stack: a flat sum of
thousands of terms never meets Python's recursion limit.
"""

from __future__ import annotations

import itertools
from typing import Iterable, Iterator

import attrs

from libet.spec import ir

_NOTHING = (frozenset(), False, False)
_DEPTH = (frozenset(), True, False)
_PHASE = (frozenset(), False, True)
#: Largest count :meth:`Reads.size` reports.
SIZE_CAP = 10**15


class Reads:
    """Memoised read sets of the expressions of one spec (see module doc)."""

    def __init__(self, spec: ir.Spec):
        self.spec = spec
        self._memo: dict[int, tuple[frozenset, bool, bool]] = {}
        self._keep: list = []  # the memo is keyed by id(): keep the nodes alive
        self._def_depths: dict[str, int] = {}
        self._closures: dict[str, tuple[str, ...]] = {}
        self._states: dict[int, frozenset] = {}
        self._keys: dict[int, int] = {}
        self._interned: dict[tuple, int] = {}
        self._numbers = itertools.count()  # the keys' numbers (next() is atomic: threads share a Reads)
        self._found: dict[tuple, tuple] = {}
        self._sizes: dict[int, int] = {}

    def _named(self, e: ir.Expr) -> ir.Expr | None:
        """The body a reference stands for (None for a node that is not a reference)."""
        if isinstance(e, ir.DefRef):
            return self.spec.defs[e.name].expr
        if isinstance(e, ir.ValueRef):
            return self.spec.values[e.name].expr
        if isinstance(e, ir.Harmful):
            return self.spec.harm_expr()
        return None

    def _below(self, e: ir.Expr) -> tuple[ir.Expr, ...]:
        body = self._named(e)
        return (body,) if body is not None else e.children()

    def facts(self, expr: ir.Expr) -> tuple[frozenset, bool, bool]:
        """``(variables, reads_depth, reads_phase)`` of ``expr``."""
        memo, sizes = self._memo, self._sizes  # the sizes (:meth:`size`) are found in the same walk
        hit = memo.get(id(expr))
        if hit is not None:
            return hit
        keep = self._keep
        # a node's children are looked up once, when it is first met, and kept for the
        # moment its children are done (a node met twice before then is done once)
        stack: list = [(expr, None)]
        while stack:
            e, below = stack.pop()
            k = id(e)
            if k in memo:
                continue
            if below is None:
                below = self._below(e)
                todo = [(c, None) for c in below if id(c) not in memo]
                if todo:
                    stack.append((e, below))
                    stack.extend(todo)
                    continue
            if not below:
                if isinstance(e, ir.VarRef):
                    out = (frozenset((e.name,)), False, False)
                elif isinstance(e, ir.Depth):
                    out = _DEPTH
                elif isinstance(e, ir.CurrentPhase):
                    out = _PHASE
                else:
                    out = _NOTHING
                size = 1
            else:
                names = None
                depth = phase = False
                size = 1
                for c in below:
                    c = id(c)
                    n, d, p = memo[c]
                    # the union is formed only when a child adds a name: a sum of 10^4 terms
                    # over five variables shares one set up its spine
                    if n and names is not n and (names is None or not n <= names):
                        names = n if names is None else names | n
                    depth |= d
                    phase |= p
                    size += sizes[c]
                out = (names or _NOTHING[0], depth, phase)
            # the size first: a node in the memo is done, and another thread (proofs/race.py
            # races engines over one spec) may read both as soon as it is there
            sizes[k] = min(SIZE_CAP, size)
            keep.append(e)
            memo[k] = out
        return memo[id(expr)]

    def size(self, exprs: ir.Expr | Iterable[ir.Expr]) -> int:
        """How many nodes one evaluation of ``exprs`` visits at most, references expanded (a
        def's body counts at each use, a value's at each ``violates``): what one state costs
        the interpreter, which the static checks weigh their budget by. At most SIZE_CAP (a
        spec whose defs double at every level would otherwise reach astronomical counts).
        Found by :meth:`facts`' walk."""
        if not isinstance(exprs, ir.Expr):
            return min(SIZE_CAP, sum(self.size(e) for e in exprs))
        self.facts(exprs)
        return self._sizes[id(exprs)]

    def key(self, expr: ir.Expr) -> int:
        """A number that two expressions share exactly when they are written the same (same
        node kinds, operators, names, literals and types; spans aside): a pass that has the
        value of one has the other's. Computed bottom-up with an explicit stack, so a flat sum
        of 10^4 terms needs no recursion (hashing the nested nodes themselves would)."""
        keys = self._keys
        hit = keys.get(id(expr))
        if hit is not None:
            return hit
        interned, keep = self._interned, self._keep
        # a node's children are looked up once, when it is first met, and kept with it until
        # they are done (as in :meth:`facts`)
        stack: list = [(expr, None)]
        while stack:
            e, kids = stack.pop()
            k = id(e)
            if k in keys:
                continue
            if kids is None:
                kids = e.children()
                todo = [(c, None) for c in kids if id(c) not in keys]
                if todo:
                    stack.append((e, kids))
                    stack.extend(todo)
                    continue
            t = type(e)
            own = _OWN.get(t)
            if own is None:
                own = _OWN[t] = _own_fields(t)
            shape = (t, tuple(map(e.__getattribute__, own)), tuple([keys[id(c)] for c in kids]))
            # a number from the counter, not len(interned): two threads would take the same
            # length for two shapes (setdefault keeps whichever came first, and the other
            # number is never used)
            keep.append(e)
            keys[k] = interned.setdefault(shape, next(self._numbers))
        return keys[id(expr)]

    def variables(self, exprs: ir.Expr | Iterable[ir.Expr]) -> frozenset:
        """The variables one expression, or any of several, reads."""
        if isinstance(exprs, ir.Expr):
            return self.facts(exprs)[0]
        out: set = set()
        for e in exprs:
            out |= self.facts(e)[0]
        return frozenset(out)

    def depth(self, expr: ir.Expr) -> bool:
        return self.facts(expr)[1]

    def phase(self, expr: ir.Expr) -> bool:
        return self.facts(expr)[2]

    def states(self, exprs: ir.Expr | Iterable[ir.Expr]) -> frozenset:
        """The state variables one expression, or any of several, reads (through defs)."""
        if not self.spec.state:
            return frozenset()
        if isinstance(exprs, ir.Expr):
            hit = self._states.get(id(exprs))
            if hit is None:
                hit = frozenset(e.name for e in _nodes((exprs,), self._below) if isinstance(e, ir.StateRef))
                self._states[id(exprs)] = hit
                self._keep.append(exprs)
            return hit
        out: set = set()
        for e in exprs:
            out |= self.states(e)
        return frozenset(out)

    def dynamic(self, expr: ir.Expr) -> bool:
        """Whether ``expr`` reads ``depth``, ``phase`` or a state variable: something of the
        trajectory's state, not of the assignment alone."""
        _, d, p = self.facts(expr)
        return d or p or (bool(self.spec.state) and bool(self.states(expr)))

    def of(self, expr: ir.Expr) -> tuple[frozenset, bool]:
        """``(variables, dynamic)``: the variables and whether the state (depth, phase, a
        state variable) is read."""
        names, d, p = self.facts(expr)
        return names, d or p or (bool(self.spec.state) and bool(self.states(expr)))

    def static_subterms(self, exprs: Iterable[ir.Expr]) -> list[ir.Expr]:
        """The maximal subterms of ``exprs`` that read some variable but neither depth nor
        phase: their values per assignment determine the expressions' values at every state."""
        def static(e) -> bool:
            names, dyn = self.of(e)
            return bool(names) and not dyn

        def below(e):  # look inside what reads a variable and depth or phase
            names, dyn = self.of(e)
            return self._below(e) if names and dyn else ()

        return self._subterms("static", exprs, below, static)

    def constant_subterms(self, exprs: Iterable[ir.Expr]) -> list[ir.Expr]:
        """The maximal subterms of ``exprs`` that read nothing that varies: no variable, and
        neither depth, phase nor a state variable (literals and params only, a literal alone
        included). Each has one value in a model, whatever the state."""
        def below(e):  # look inside what reads the state
            return self._below(e) if self.of(e)[1] else ()

        return self._subterms("constant", exprs, below, lambda e: self.of(e) == (frozenset(), False))

    def _subterms(self, kind: str, exprs: Iterable[ir.Expr], below, keep) -> list[ir.Expr]:
        """The nodes reachable from ``exprs`` through ``below`` that ``keep`` accepts, memoised
        per list of expressions (a fit or sweep builds a model per point, each asking again)."""
        exprs = tuple(exprs)
        key = (kind,) + tuple(id(e) for e in exprs)
        hit = self._found.get(key)
        if hit is None:
            hit = self._found[key] = tuple(e for e in _nodes(exprs, below) if keep(e))
            self._keep.extend(exprs)
        return list(hit)

    def depth_comparisons(self, exprs: Iterable[ir.Expr]) -> list[ir.Compare]:
        """The comparisons in ``exprs`` (through defs and values) of ``depth`` itself with an
        expression that reads nothing that varies (``depth < 5``, ``limit <= depth``): each
        has one value over a run of depths, and changes at a depth the model knows."""
        def constant(e) -> bool:
            return self.of(e) == (frozenset(), False)

        def keep(e) -> bool:
            return type(e) is ir.Compare and (
                (type(e.left) is ir.Depth and constant(e.right)) or (type(e.right) is ir.Depth and constant(e.left)))

        return self._subterms("depth comparison", exprs, self._below, keep)

    def reused(self, exprs: Iterable[ir.Expr], again: Iterable[ir.Expr] = ()) -> frozenset[int]:
        """The keys (:meth:`key`) of the nodes that a pass over ``exprs`` meets more than once:
        reached through two references (two parents, two uses of a def, the same subterm
        written in two places), a def's body, or a root of ``again`` (evaluated once per phase,
        say). A pass keeps the values of these and lets every other value go as soon as its
        parent has used it, so its working set stays small. Memoised per pair of lists."""
        exprs, again = tuple(exprs), tuple(again)
        memo = ("reused", len(exprs)) + tuple(id(e) for e in exprs + again)
        hit = self._found.get(memo)
        if hit is not None:
            return hit
        count: dict[int, int] = {}
        for e, uses in [(e, 1) for e in exprs] + [(e, 2) for e in again]:
            k = self.key(e)
            count[k] = count.get(k, 0) + uses
        seen: set[int] = set()
        stack = list(exprs + again)
        while stack:
            e = stack.pop()
            if id(e) in seen:
                continue
            seen.add(id(e))
            for c in self._below(e):
                k = self.key(c)
                # a def's body is always kept: a long chain of defs is evaluated bottom-up,
                # each body once, which needs the values of those below (ArrayEval.v_DefRef)
                count[k] = count.get(k, 0) + (2 if isinstance(e, ir.DefRef) else 1)
                stack.append(c)
        hit = self._found[memo] = frozenset(k for k, n in count.items() if n > 1)
        self._keep.extend(exprs + again)
        return hit

    # -- named definitions ---------------------------------------------------------------------

    def def_depth(self, name: str) -> int:
        """The length of the longest chain of uses below def ``name`` (0 when it uses no def):
        one pass over the defs it reaches, each once."""
        memo = self._def_depths
        if name in memo:
            return memo[name]
        # Iterative post-order over the def-use graph (it is acyclic: the checker rejects cycles).
        stack = [(name, False)]
        while stack:
            n, ready = stack.pop()
            if n in memo:
                continue
            uses = self._uses(n)
            if not ready:
                stack.append((n, True))
                stack.extend((u, False) for u in uses if u not in memo)
                continue
            memo[n] = max((memo[u] + 1 for u in uses), default=0)
        return memo[name]

    def def_closure(self, name: str) -> tuple[str, ...]:
        """The defs that def ``name`` uses, directly or not, in an order where each comes after
        those it uses. A pass evaluates a long chain bottom-up in this order instead of
        recursing through it; it asks for the chain's top only (not for every def on the way,
        which would cost the square of the chain's length)."""
        memo = self._closures
        if name in memo:
            return memo[name]
        order: dict = {}
        stack = [(u, False) for u in reversed(self._uses(name))]
        while stack:
            n, ready = stack.pop()
            if n in order:
                continue
            if ready:
                order[n] = None
                continue
            stack.append((n, True))
            stack.extend((u, False) for u in reversed(self._uses(n)) if u not in order)
        memo[name] = hit = tuple(order)
        return hit

    def _uses(self, name: str) -> tuple[str, ...]:
        """The defs the body of def ``name`` refers to directly."""
        out: dict = {}
        stack = [self.spec.defs[name].expr]
        while stack:
            e = stack.pop()
            if isinstance(e, ir.DefRef):
                out[e.name] = None
                continue
            stack.extend(e.children())
        return tuple(out)

    # -- the model's parts ---------------------------------------------------------------------

    def policy(self, policy: str) -> frozenset:
        """The variables the rules of ``policy`` read (conditions and strengths)."""
        rules = self.spec.policies[policy].rules
        return self.variables([x for r in rules for x in (r.condition, r.strength)])

    def transitions(self) -> frozenset:
        """The variables the trajectory's transition probabilities read."""
        traj = self.spec.trajectory
        if traj is None:
            return frozenset()
        return self.variables([t.prob for p in traj.phases for t in p.transitions if t.prob is not None])

    def start(self) -> frozenset:
        """The variables the start depth reads."""
        traj = self.spec.trajectory
        return frozenset() if traj is None else self.variables(traj.start_depth)

    def harm(self) -> frozenset:
        """The variables the reference values read (what *harmful* depends on)."""
        return self.variables(self.spec.harm_expr())

    def outside_values(self, exprs: Iterable[ir.Expr]) -> frozenset:
        """The variables ``exprs`` read other than through a reference value (``violates V``,
        ``harmful``): defs are looked into, values are not. A variable read only through
        values matters to them only through the values' truth."""
        spec = self.spec

        def below(e):
            if isinstance(e, (ir.ValueRef, ir.Harmful)):
                return ()
            if isinstance(e, ir.DefRef):
                return (spec.defs[e.name].expr,)
            return e.children()

        return frozenset(e.name for e in _nodes(exprs, below) if isinstance(e, ir.VarRef))


#: an expression class -> the names of its fields that are neither children nor the span:
#: what, with the children's keys, says how a node is written (:meth:`Reads.key`)
_OWN: dict[type, tuple[str, ...]] = {}
#: how ir.py annotates a field that holds children (ir.py has postponed annotations)
_CHILD_FIELDS = ("Expr", "tuple[Expr, ...]")


def _own_fields(cls: type) -> tuple[str, ...]:
    return tuple(f.name for f in attrs.fields(cls) if f.name != "span" and f.type not in _CHILD_FIELDS)


def _nodes(exprs: Iterable[ir.Expr], below) -> Iterator[ir.Expr]:
    """Every node reachable from ``exprs`` through ``below``, once each (iterative)."""
    seen: set[int] = set()
    stack = list(exprs)
    while stack:
        e = stack.pop()
        if id(e) in seen:
            continue
        seen.add(id(e))
        yield e
        stack.extend(below(e))


def params_read(spec: ir.Spec, exprs: Iterable[ir.Expr]) -> frozenset[str]:
    """The params ``exprs`` read, through defs, values and ``harmful`` (what a fit asks of an
    experiment: a param nothing reads cannot be learned from its data)."""
    return frozenset(e.name for e in _nodes(exprs, reads_of(spec)._below) if isinstance(e, ir.ParamRef))


def reads_of(spec: ir.Spec) -> Reads:
    """The spec's one :class:`Reads` (made on first use, kept on the spec)."""
    memo = spec.memo
    hit = memo.get("reads")
    if hit is None:
        hit = memo["reads"] = Reads(spec)
    return hit
