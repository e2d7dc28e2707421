"""Export of a spec's trajectory model, under one policy, as a PRISM-language DTMC (an MDP
when the trajectory has choice points).

Consumes: a checked spec, a policy, param overrides and fixed variable values.
Produces: PRISM source text that PRISM or Storm can check, with the labels ``"harm"``,
``"vetoed"``, ``"stopped"``, ``"delivered"``, ``"over_refusal"`` and ``"done"``, a label per
further event and a reward structure per expectation the measures need; and, for each measure,
the properties whose ratio it is (:func:`prism_properties`, also written as comments at the
top of the model).

The model (docs/simulator.md, "PRISM export"):

* Variables fixed with ``--set`` become constants. Every other variable that some transition,
  rule, start depth or reference value reads is a module variable, chosen at the start, one
  after the other, by its declared distribution (uniform unless ``weights`` say otherwise);
  variables nothing reads are left out. So ``P=? [F "harm"]`` from the initial state is the
  probability of harm averaged over the unfixed variables, the number libet reports as the
  average; with every variable fixed it is that assignment's probability.
* ``ph`` is the phase (0 while choosing variables, then 1..P; P+1 delivered, P+2 stopped,
  P+3 vetoed, P+4 done) and ``d`` the depth. One command per phase and depth band takes the
  veto step and then the generator's step, exactly as docs/semantics.md §4 says; reaching the
  horizon delivers (stops, with ``horizon N then stop``). An absorbed trajectory keeps its
  depth for one step and then moves to *done*: a reward structure that pays ``d`` (or ``d``
  minus the start depth) in the absorbing states of an event is E[depth · 1(event)] as ``R{"..."}=? [F "done"]``. A phase whose visits a
  measure asks about has a boolean ``vis_PHASE``, set when the trajectory enters it below the
  horizon. The model is built from spec/rules.py like every engine: the veto combination, the
  ``otherwise`` remainder and the end of a step are the same functions.
* State variables (docs/semantics.md §4b) are module variables ``s_NAME`` with their initial
  values; a transition's or refusal's updates are the command's updates (simultaneous in PRISM
  as in libet). With choice points the model is an ``mdp``: in a phase with choices, a boolean
  ``ch`` says whether the adversary has chosen at this state; one command per combination of
  options sets the chosen variables (where a ``when`` holds) and ``ch``, without a step, and
  the phase's step then resets ``ch``. ``Pmax=?``/``Pmin=?`` and ``R{...}max=?`` are the
  measures over adversaries.
* Enum values are encoded as their index in the declared order (a comment lists them).
  PRISM has no ``exp``; ``exp(x)`` is written ``pow(E, x)`` with ``E`` the double nearest e,
  and ``log(x)`` as ``log(x, E)``: equal to libet's doubles to about 1e-15 relative.
"""

from __future__ import annotations

import itertools
from fractions import Fraction
from typing import Mapping

from libet.errors import UsageError
from libet.spec import ir
from libet.spec import measures as ms
from libet.spec.rules import resolve_otherwise, step_end, veto_probability, veto_split
from libet.spec.visit import Dispatch

from .model import Model

E_DOUBLE = "2.718281828459045"


def _real(q: Fraction) -> str:
    q = Fraction(q)
    if q.denominator == 1:
        return f"{q.numerator}.0" if q >= 0 else f"({q.numerator}.0)"
    text = repr(float(q))
    if Fraction(text) == q:
        return text if q >= 0 else f"({text})"
    return f"({q.numerator}.0/{q.denominator})"


#: PRISM's ints (Java's): -2^31 .. 2^31 - 1.
PRISM_INT = (-(1 << 31), (1 << 31) - 1)
#: The end of the hint of an int past them.
_OR_SCALE = "or scale the spec's ints down; libet's own engines take ints of any size"


def _int(value: int, what: str) -> str:
    """``value`` as a PRISM int literal; a UsageError past PRISM's 32-bit ints (libet's ints
    have any size: PRISM would reject the literal, or compute with another number)."""
    lo, hi = PRISM_INT
    if not lo <= value <= hi:
        raise UsageError(
            f"the PRISM export cannot write {what} {value}: PRISM's ints have 32 bits ({lo:,} .. {hi:,})",
            f"set the variable or param to a smaller value with --set, {_OR_SCALE}",
        )
    return str(value) if value >= 0 else f"({value})"


class _Printer:
    def __init__(self, spec: ir.Spec, model: Model):
        self.spec = spec
        self.model = model
        self.phase_code = {p: i + 1 for i, p in enumerate(model.phases)}
        self.p = Dispatch(self, "x_")
        self.defs: dict[str, None] = {}  # the defs and values printed so far, as formulas
        self.values: dict[str, None] = {}
        self._sizes: dict[int, int] = {}  # id(int node) -> a bound on its magnitude (_int_fits)
        self._sized: list = []  # ... and the nodes, kept alive while their ids are keys

    def var_value(self, var: ir.Variable, value) -> str:
        if isinstance(var.domain, ir.BoolDomain):
            return "true" if value else "false"
        if isinstance(var.domain, ir.EnumDomain):
            return str(var.domain.position(value))
        return _int(value, f"{var.name} =")

    def __call__(self, e: ir.Expr) -> str:
        return self.p(e)

    def formulas(self) -> list[str]:
        """``formula`` lines for every def and reference value printed, each after those it
        uses: a def is written once, not inlined wherever it is used (so a chain of a thousand
        defs is a thousand short lines, not one term a thousand deep)."""
        start = [("def", n) for n in self.defs] + [("value", n) for n in self.values]
        order: list = []
        seen: set = set()
        stack = [(k, False) for k in reversed(start)]
        while stack:  # post-order over the uses between defs and values (acyclic)
            key, ready = stack.pop()
            if key in seen and not ready:
                continue
            if ready:
                order.append(key)
                continue
            seen.add(key)
            stack.append((key, True))
            stack.extend((u, False) for u in _named_uses(self.spec, key) if u not in seen)
        out = []
        for kind, name in order:
            body = (self.spec.defs if kind == "def" else self.spec.values)[name].expr
            out.append(f"formula {'f' if kind == 'def' else 'val'}_{name} = {self.p(body)};")
        return out

    # One method per IR node class (spec/visit.py). Defs and values are formulas.

    def x_Const(self, e: ir.Const) -> str:
        if e.type.kind is ir.Kind.BOOL:
            return "true" if e.value else "false"
        if e.type.kind is ir.Kind.REAL:
            return _real(e.value)
        if e.type.kind is ir.Kind.ENUM:
            return str(self.spec.positions(e.type.members)[e.value])
        if e.type.kind is ir.Kind.PHASE:
            return str(self.phase_code[e.value])
        return _int(e.value, "the int literal")

    def x_VarRef(self, e: ir.VarRef) -> str:
        if e.name in self.model.fixed:
            return self.var_value(self.spec.variables[e.name], self.model.fixed[e.name])
        return "v_" + e.name

    def x_StateRef(self, e: ir.StateRef) -> str:
        return "s_" + e.name

    def x_ParamRef(self, e: ir.ParamRef) -> str:
        return "p_" + e.name

    def x_DefRef(self, e: ir.DefRef) -> str:
        self.defs[e.name] = None
        return f"f_{e.name}"

    def x_ValueRef(self, e: ir.ValueRef) -> str:
        self.values[e.name] = None
        return f"val_{e.name}"

    def x_Harmful(self, e: ir.Harmful) -> str:
        return self.p(self.spec.harm_expr())

    def x_Depth(self, e: ir.Depth) -> str:
        return "d"

    def x_CurrentPhase(self, e: ir.CurrentPhase) -> str:
        return "ph"

    def x_Not(self, e: ir.Not) -> str:
        return f"!({self.p(e.arg)})"

    def x_Logic(self, e: ir.Logic) -> str:
        op = {ir.BoolOp.AND: " & ", ir.BoolOp.OR: " | ", ir.BoolOp.IMPLIES: " => "}[e.op]
        return "(" + op.join(self.p(a) for a in e.args) + ")"

    def x_Compare(self, e: ir.Compare) -> str:
        lt, rt = e.left.type, e.right.type
        if lt.kind is ir.Kind.ENUM and rt.kind is ir.Kind.ENUM and lt.members != rt.members:
            raise UsageError("the PRISM export cannot compare values of two different enums")
        op = "=" if e.op is ir.CmpOp.EQ else e.op.value
        return f"({self.p(e.left)} {op} {self.p(e.right)})"

    def x_Member(self, e: ir.Member) -> str:
        t = e.arg.type
        arg = self.p(e.arg)
        parts = []
        for v in e.values:
            if t.kind is ir.Kind.ENUM:
                lit = str(self.spec.positions(t.members)[v])
            elif t.kind is ir.Kind.BOOL:
                lit = "true" if v else "false"
            else:
                lit = str(v) if v >= 0 else f"({v})"
            parts.append(f"{arg} = {lit}")
        return "(" + (" | ".join(parts) or "false") + ")"

    def _int_fits(self, e: ir.Expr) -> None:
        """Refuse an int operation whose value may pass PRISM's 32-bit ints, where the values of
        its parts (literals, domains, params, the depth) may take it: PRISM would compute
        another number than libet (Java's ints wrap around), and say nothing. A bound on each
        node's magnitude from its parts' (a sum's is the sum of theirs, a product's their
        product), found bottom-up with an explicit stack (a flat sum of 10^4 terms)."""
        sizes = self._sizes
        stack = [(e, False)]
        while stack:
            node, ready = stack.pop()
            if id(node) in sizes:
                continue
            parts = self._int_parts(node)
            if not ready and any(id(p) not in sizes for p in parts):
                stack.append((node, True))
                stack.extend((p, False) for p in parts if id(p) not in sizes)
                continue
            sizes[id(node)] = self._magnitude(node, [sizes[id(p)] for p in parts])
            self._sized.append(node)
        bound = sizes[id(e)]
        if bound > PRISM_INT[1]:
            where = f" at {e.span.file}:{e.span.line}:{e.span.col}" if e.span is not None else ""
            raise UsageError(
                f"the PRISM export cannot write the int expression{where}: the values of its parts may take it as far as "
                f"{bound:,}, past PRISM's 32-bit ints ({PRISM_INT[0]:,} .. {PRISM_INT[1]:,}), where PRISM would "
                "compute another number",
                f"set the variables or params it reads to smaller values with --set, {_OR_SCALE}",
            )

    def _int_parts(self, e: ir.Expr) -> tuple:
        """The parts an int node's magnitude is bounded by."""
        t = type(e)
        if t is ir.Arith or t is ir.Neg or t is ir.Call:
            return e.children() if e.type.kind is ir.Kind.INT else ()
        if t is ir.Ite:
            return (e.then, e.orelse) if e.type.kind is ir.Kind.INT else ()
        if t is ir.DefRef:
            return (self.spec.defs[e.name].expr,)
        return ()

    def _magnitude(self, e: ir.Expr, parts: list[int]) -> int:
        t = type(e)
        if t is ir.Arith:
            return parts[0] * parts[1] if e.op is ir.ArithOp.MUL else parts[0] + parts[1]
        if parts:  # -x, abs, min, max, if, a def: at most the largest part
            return max(parts)
        if e.type.kind is not ir.Kind.INT:
            return 0
        if t is ir.Const:
            return abs(e.value)
        if t is ir.Depth:
            return self.model.horizon
        if t is ir.ParamRef:
            return abs(int(self.model.params[e.name]))
        if t is ir.VarRef and e.name in self.model.fixed:
            return abs(self.model.fixed[e.name])
        domain = self.spec.variables[e.name].domain if t is ir.VarRef else (
            self.spec.state[e.name].domain if t is ir.StateRef else None)
        return max(abs(domain.lo), abs(domain.hi)) if isinstance(domain, ir.IntDomain) else 0

    def x_Arith(self, e: ir.Arith) -> str:
        if e.type.kind is ir.Kind.INT:
            self._int_fits(e)
        # A flat sum or product as one flat PRISM expression (its operators associate to the
        # left as libet's do): no recursion here, and no 10^4-deep parentheses for Storm. A
        # division first makes what is left of it a double (`* 1.0`), as libet's `/` is real.
        leaf, nodes = e.spine()
        parts = ["(", self.p(leaf)]
        for i, n in enumerate(nodes):
            if n.type.kind is ir.Kind.INT and n is not e and nodes[i + 1].type.kind is not ir.Kind.INT:
                self._int_fits(n)  # an int run inside the chain (`a * b / c`), as its top is above
            parts.append(f" * 1.0 / ({self.p(n.right)})" if n.op is ir.ArithOp.DIV else f" {n.op.value} {self.p(n.right)}")
        return "".join(parts) + ")"

    def x_Neg(self, e: ir.Neg) -> str:
        if e.type.kind is ir.Kind.INT:
            self._int_fits(e)
        return f"(-{self.p(e.arg)})"

    def x_Ite(self, e: ir.Ite) -> str:
        branches, last = e.ladder()  # an `else if` ladder: one loop, PRISM's ?: written flat
        real = e.type.kind is ir.Kind.REAL
        arms = []
        for c, t in branches:
            t = self.p(t)
            arms.append(f"{self.p(c)} ? {f'(({t}) * 1.0)' if real else t} : ")
        o = self.p(last)
        return "(" + "".join(arms) + (f"(({o}) * 1.0)" if real else o) + ")"

    def x_Call(self, e: ir.Call) -> str:
        args = [self.p(a) for a in e.args]
        if e.func in (ir.Func.MIN, ir.Func.MAX):
            if len(args) == 1:
                return args[0]
            return f"{e.func.value}({', '.join(args)})"
        if e.func is ir.Func.ABS:
            return f"max({args[0]}, -({args[0]}))"
        if e.func is ir.Func.EXP:
            return f"pow(E, ({args[0]}) * 1.0)"
        if e.func is ir.Func.LOG:
            return f"log(({args[0]}) * 1.0, E)"
        return f"pow(({args[0]}) * 1.0, {args[1]})"


def _named_uses(spec: ir.Spec, key: tuple[str, str]) -> list[tuple[str, str]]:
    """The defs and values the body of def or value ``key`` refers to directly."""
    kind, name = key
    stack = [(spec.defs if kind == "def" else spec.values)[name].expr]
    out: dict = {}
    while stack:
        e = stack.pop()
        if isinstance(e, ir.DefRef):
            out[("def", e.name)] = None
        elif isinstance(e, ir.ValueRef):
            out[("value", e.name)] = None
        elif isinstance(e, ir.Harmful):
            stack.append(spec.harm_expr())
        else:
            stack.extend(e.children())
    return list(out)


def export_measures(spec: ir.Spec) -> tuple:
    """The measures an export carries labels and rewards for: the standard ones and every
    measure the spec's checks and experiments name."""
    out = dict.fromkeys(ms.STANDARD if not spec.is_mdp else ms.over_adversaries(ms.STANDARD))
    for c in spec.checks:
        m = getattr(c.prop, "measure", None)
        if m is not None:
            out[m] = None
    for e in spec.experiments.values():
        out.update(dict.fromkeys(e.measures))
    return tuple(out)


class _Names:
    """Labels and reward structures of one export, named once and reused."""

    _STANDARD = {
        ms.ATOMS["harm"]: "harm",
        ms.ATOMS["vetoed"]: "vetoed",
        ms.ATOMS["stopped"]: "stopped",
        ms.ATOMS["delivered"]: "delivered",
        ms.ATOMS["over-refusal"]: "over_refusal",
    }

    def __init__(self, codes: dict, harm: str, d0: str):
        self.codes = codes  # outcome -> ph value
        self.harm = harm
        self.d0 = d0
        self.labels: dict = {}  # Event -> (name, condition)
        self.rewards: dict = {}  # (Event, Reward) -> (name, condition, value)
        for event, name in self._STANDARD.items():
            self.labels[event] = (name, self.condition(event))

    def condition(self, event: ms.Event) -> str:
        if not event.outcomes:
            return "false"
        parts = ["(" + " | ".join(f"ph = {self.codes[o]}" for o in ms.OUTCOMES if o in event.outcomes) + ")"]
        if event.harmful is True:
            parts.append(f"({self.harm})")
        elif event.harmful is False:
            parts.append(f"!({self.harm})")
        parts += [f"vis_{q}" for q in sorted(event.visits)]
        return " & ".join(parts)

    def label(self, event: ms.Event) -> str:
        hit = self.labels.get(event)
        if hit is None:
            if not event.outcomes - ms.ALL_OUTCOMES and event.outcomes == ms.ALL_OUTCOMES and event.harmful is None and len(event.visits) == 1:
                name = "visit_" + next(iter(event.visits))
            else:
                name = f"event_{len(self.labels) - len(self._STANDARD) + 1}"
            hit = self.labels[event] = (name, self.condition(event))
        return hit[0]

    def reward(self, event: ms.Event, reward: ms.Reward) -> str:
        key = (event, reward)
        hit = self.rewards.get(key)
        if hit is None:
            name = f"{reward.value}_{len(self.rewards) + 1}"
            value = {ms.Reward.DEPTH: "d", ms.Reward.REFUSALS: "nref"}.get(reward, f"d - ({self.d0})")
            hit = self.rewards[key] = (name, self.condition(event), value)
        return hit[0]

    def properties(self, m: ms.Measure) -> tuple[str, str | None]:
        """The Storm/PRISM properties whose ratio is ``m`` (denominator None without a condition)."""
        ext = m.extremum or ""  # over adversaries in an MDP: Pmax, Rmin, ...
        if m.is_probability:
            num = f'P{ext}=? [F "{self.label(m.numerator)}"]'
        else:
            num = f'R{{"{self.reward(m.numerator, m.reward)}"}}{ext}=? [F "done"]'
        den = None if m.given is None else f'P=? [F "{self.label(m.given)}"]'
        return num, den


def prism_properties(spec: ir.Spec, policy: str, measures=None, **kwargs) -> list[tuple[str, str, str | None]]:
    """``(measure text, numerator property, denominator property or None)`` for each measure:
    the properties to give Storm or PRISM on the export of ``to_prism(spec, policy, ...)``
    with the same ``measures``; the measure is their ratio."""
    return _export(spec, policy, measures, **kwargs)[1]


def to_prism(
    spec: ir.Spec,
    policy: str,
    *,
    params: Mapping[str, object] | None = None,
    fixed: Mapping[str, object] | None = None,
    measures=None,
) -> str:
    """The PRISM DTMC of ``policy`` on ``spec`` (see module doc), with labels and reward
    structures for ``measures`` (default :func:`export_measures`).

    Raises:
        UsageError: unknown names, an unbounded horizon, or an expression PRISM cannot state.
    """
    return _export(spec, policy, measures, params=params, fixed=fixed)[0]


def _export(spec, policy, measures=None, *, params=None, fixed=None):
    from libet.spec.structural import bind

    spec = bind(spec, params)  # a horizon or weights over params, at these params
    mdp = spec.is_mdp
    measures = tuple(export_measures(spec) if measures is None else measures)
    # keep=(): the export writes every variable itself and uses the model only for its checked
    # params, fixed values, phases and what is projected out, so the model may summarise.
    model = Model(spec, policy, params, fixed, keep=())
    pr = _Printer(spec, model)
    traj = spec.trajectory
    H = model.horizon
    P = len(model.phases)
    DEL, STOP, VETO, DONE = P + 1, P + 2, P + 3, P + 4
    tracked = ms.tracked_phases(measures)
    free = [n for n in spec.variables if n not in model.projected and n not in model.fixed]
    d0 = pr(traj.start_depth)
    names = _Names({"delivered": DEL, "stopped": STOP, "vetoed": VETO}, pr(spec.harm_expr()), d0)
    queries = [(m.text, *names.properties(m)) for m in measures]
    # Absorbed trajectories keep their depth only when some reward reads it; otherwise they
    # reset it, and the model has no more states than the chain (what Storm is timed on).
    keep = bool(names.rewards)
    absorbed = "(d' = d + 1)" if keep else "(d' = 0)"
    # the refusals on the way, kept in the state when some reward reads them
    counting = any(r is ms.Reward.REFUSALS for _, r in names.rewards)
    count = " & (nref' = nref + 1)" if counting else ""
    lines = [
        f"// libet export of spec {spec.title!r}, policy {policy!r}",
        "// A DTMC: from the initial state each measure below is the ratio of the properties shown",
        "// (a probability or expected reward alone when it has no condition), averaged over the variables",
        "// below under their declared distribution (variables fixed with --set are constants).",
    ]
    for text, num, den in queries:
        lines.append(f"//   {text} = {num}" + (f" / {den}" if den else ""))
    if mdp:
        lines.append("// An MDP: the adversary's choice points are nondeterministic commands (ch: chosen at this state).")
    lines += ["mdp" if mdp else "dtmc", "", f"const double E = {E_DOUBLE}; // the double nearest e: exp(x) = pow(E, x)"]
    for name, value in model.params.items():
        q = Fraction(repr(value)) if isinstance(value, float) else Fraction(value)
        if spec.params[name].integer:  # `param n: int`: an int constant (start depths read it)
            lines.append(f"const int p_{name} = {_int(q.numerator, f'param {name} =')};")
        else:
            lines.append(f"const double p_{name} = {_real(q)};")
    for name, value in model.fixed.items():
        lines.append(f"// {name} = {value} (fixed)")
    for n in model.projected:
        if n not in model.fixed:
            lines.append(f"// {n}: read by nothing, left out")
    formulas_at = len(lines)
    lines += ["", "module trajectory"]
    for n in free:
        var = spec.variables[n]
        if isinstance(var.domain, ir.BoolDomain):
            lines.append(f"  v_{n} : bool init false;")
        elif isinstance(var.domain, ir.EnumDomain):
            members = ", ".join(f"{i}={m}" for i, m in enumerate(var.domain.members))
            lines.append(f"  v_{n} : [0..{len(var.domain.members) - 1}] init 0; // {members}")
        else:
            lo, hi = (_int(b, f"{n}'s domain bound") for b in (var.domain.lo, var.domain.hi))
            lines.append(f"  v_{n} : [{lo}..{hi}] init {lo};")
    if free:
        lines.append(f"  stage : [0..{len(free)}] init 0; // variables chosen so far")
    codes = ", ".join(f"{i + 1}={p}" for i, p in enumerate(model.phases))
    lines.append(
        f"  ph : [0..{DONE}] init 0; // 0=start, {codes}, {DEL}=delivered, {STOP}=stopped, {VETO}=vetoed, {DONE}=done"
    )
    if keep:
        lines.append(f"  d : [0..{H}] init 0; // depth (kept at absorption, for the depth rewards)")
    else:
        lines.append(f"  d : [0..{max(H - 1, 0)}] init 0; // depth")
    if counting:
        lines.append(f"  nref : [0..{H}] init 0; // refusals so far (each refusal is at a state, so at most H)")
    for q in tracked:
        lines.append(f"  vis_{q} : bool init false; // the trajectory has visited phase {q}")
    for n, sv in spec.state.items():  # state variables (docs/semantics.md §4b)
        dom = sv.domain
        if isinstance(dom, ir.BoolDomain):
            lines.append(f"  s_{n} : bool init {'true' if sv.init else 'false'}; // state")
        elif isinstance(dom, ir.EnumDomain):
            members = ", ".join(f"{i}={m}" for i, m in enumerate(dom.members))
            lines.append(f"  s_{n} : [0..{len(dom.members) - 1}] init {dom.position(sv.init)}; // state: {members}")
        else:
            lo, hi = (_int(b, f"{n}'s domain bound") for b in (dom.lo, dom.hi))
            lines.append(f"  s_{n} : [{lo}..{hi}] init {_int(sv.init, f'the start value of {n},')}; // state")
    if mdp:
        lines.append("  ch : bool init false; // the adversary has made its choice at this state")
    lines.append("")
    for k, n in enumerate(free):
        var = spec.variables[n]
        ups = []
        weight_text: dict = {}  # a weight's text, once per distinct weight (None for 0)
        for v, w in zip(var.domain.values(), var.distribution()):
            text = weight_text.get(w, False)
            if text is False:
                text = weight_text[w] = None if w == 0 else _real(w)
            if text is None:
                continue
            ups.append(f"{text} : (v_{n}' = {pr.var_value(var, v)}) & (stage' = {k + 1})")
        lines.append(f"  [] ph = 0 & stage = {k} -> " + " + ".join(ups) + ";")
    ready = f"ph = 0 & stage = {len(free)}" if free else "ph = 0"
    q0 = pr.phase_code[traj.start_phase]
    # a start at the horizon ends at once, as reaching the horizon does (`horizon N then stop|deliver`)
    AT_H = STOP if traj.at_horizon == ir.STOP else DEL
    start = f"(ph' = (({d0}) >= {H} ? {AT_H} : {q0})) & (d' = ({d0}))" if keep else (
        f"(ph' = (({d0}) >= {H} ? {AT_H} : {q0})) & (d' = (({d0}) >= {H} ? 0 : ({d0})))"
    )
    if traj.start_phase in tracked:
        start += f" & (vis_{traj.start_phase}' = (({d0}) < {H}))"
    lines.append(f"  [] {ready} -> 1 : {start};")
    rules = spec.policies[policy].rules
    veto = _veto_expr(pr, rules)
    split = _veto_split(pr, rules)
    AT_H_EFFECT = f"(ph' = {AT_H}) & {absorbed}"
    reset = " & (ch' = false)" if mdp else ""  # a move reaches a state where nothing is chosen yet

    def updates(ups) -> str:  # simultaneous, as PRISM's own updates are
        return "".join(f" & (s_{u.var}' = {pr(u.expr)})" for u in ups) + reset

    for q in model.phases:
        phase = traj.phase(q)
        code = pr.phase_code[q]
        guard = f"ph = {code}"
        if phase.choices:  # first the adversary: one command per combination of its options
            guard += " & ch"
            per = []
            for c in phase.choices:
                sv = spec.state[c.var]
                when = None if c.when is None else pr(c.when)
                per.append([
                    f"(s_{c.var}' = {pr.var_value(sv, v) if when is None else f'(({when}) ? {pr.var_value(sv, v)} : s_{c.var})'})"
                    for v in c.options
                ])
            for combo in itertools.product(*per):
                lines.append(f"  [] ph = {code} & !ch -> 1 : " + " & ".join(combo) + " & (ch' = true);")
        explicit = [None if t.prob is None else _Source(f"({pr(t.prob)}) * 1.0") for t in phase.transitions]
        resolved, _, remainder = resolve_otherwise(explicit, _Source("1.0"), _Source("0.0"))
        probs = [(t.target, f"max(0.0, {p})") for t, p in zip(phase.transitions, resolved)]
        for band, last in ((f"d < {H - 1}", False), (f"d = {H - 1}", True)):
            ups = []
            if veto is not None:
                ups.append(f"({split[None]}) : (ph' = {VETO})" + ("" if keep else " & (d' = 0)") + count)
                for key, pv in split.items():
                    if key is None:
                        continue
                    target, i = key
                    # a refusal goes on in `target` at the next depth, as a step does
                    if last:
                        effect = AT_H_EFFECT
                    else:
                        effect = f"(ph' = {pr.phase_code[target]}) & (d' = d + 1)"
                        if target in tracked:
                            effect += f" & (vis_{target}' = true)"
                        effect += updates(rules[i].updates if i is not None else ())
                    ups.append(f"({pv}) : {effect}{count}")
            go = "1.0" if veto is None else f"(1.0 - ({veto}))"
            for (target, p), t in zip(probs, phase.transitions):
                end = step_end(target, H if last else 0, H, traj.at_horizon)
                if end == ir.DELIVER:
                    effect = f"(ph' = {DEL}) & {absorbed}"
                elif end == ir.STOP:
                    effect = f"(ph' = {STOP}) & {absorbed}"
                else:
                    effect = f"(ph' = {pr.phase_code[target]}) & (d' = d + 1)"
                    if target in tracked:
                        effect += f" & (vis_{target}' = true)"
                    effect += updates(t.updates)
                ups.append(f"{go} * {p} : {effect}")
            if H == 1 and not last:
                continue
            lines.append(f"  [] {guard} & {band} ->\n      " + "\n    + ".join(ups) + ";")
    lines.append(f"  [] ph > {P} & ph < {DONE} -> 1 : (ph' = {DONE}); // absorbed; the depth rewards are read here")
    lines.append(f"  [] ph = {DONE} -> 1 : true;")
    lines.append("endmodule")
    lines.append("")
    for name, cond in names.labels.values():
        lines.append(f'label "{name}" = {cond};')
    lines.append(f'label "done" = ph = {DONE};')
    for name, cond, value in names.rewards.values():
        lines += ["", f'rewards "{name}"', f"  {cond} : {value};", "endrewards"]
    lines.append("")
    lines[formulas_at:formulas_at] = [""] + pr.formulas() if pr.defs or pr.values else []
    return "\n".join(lines), queries


class _Source(str):
    """PRISM source as a number type for spec/rules.py: ``+``, ``-`` and ``*`` build
    expressions (a subtrahend in parentheses)."""

    def __add__(self, other):
        return _Source(f"{self} + {other}")

    def __radd__(self, other):
        return _Source(f"{other} + {self}")

    def __sub__(self, other):
        return _Source(f"{self} - ({other})")

    def __rsub__(self, other):
        return _Source(f"{other} - ({self})")

    def __mul__(self, other):
        return _Source(f"{self} * {other}")


def _veto_expr(pr: _Printer, rules) -> str | None:
    if not rules:
        return None
    fired = [(pr(r.condition), f"min(max(({pr(r.strength)}) * 1.0, 0.0), 1.0)") for r in rules]
    return veto_probability(fired, _Source("1.0"), _prism_select)


def _veto_split(pr: _Printer, rules) -> dict:
    """The veto split by where it sends the trajectory (spec/rules.py ``veto_split``), as
    PRISM source: ``None`` (vetoed) and each refusal target."""
    if not rules:
        return {None: None}
    # keyed like the engines: (target, rule) when the rule's updates make its successor its own
    fired = [
        (pr(r.condition), f"min(max(({pr(r.strength)}) * 1.0, 0.0), 1.0)",
         None if r.then is None else (r.then, i if r.updates else None))
        for i, r in enumerate(rules)
    ]
    ends, _ = veto_split(fired, _Source("1.0"), _prism_select, _Source("0.0"))
    return ends


def _prism_select(c, a, b):
    return _Source(f"({c} ? {a} : {b})")
