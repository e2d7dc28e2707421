"""Hypothesis strategies for libet's own data: spec source text, assignments, states.

Shared by every test module. What users need to test their own veto functions (assignments,
states, pairs, trajectories drawn from a spec) is installed as :mod:`libet.testing.strategies`;
the spec-source generators below stay here, for libet's own tests.

``specs()`` draws the *source text* of a small, well-formed spec, so every property test also
exercises the parser and checker. The specs are small on purpose (a few hundred assignments and
a horizon of at most 8), so brute-force enumeration through the reference interpreter stays
cheap. By construction each one checks clean:

* transition probabilities are built so that at every state they lie in [0, 1] and the explicit
  ones sum to at most 1, with an ``otherwise`` remainder;
* veto strengths are constants or ``if``-expressions between constants in [0, 1];
* reference values read substance only.

What varies is what matters to the engines: domain kinds and sizes, conditions over every
variable class, depth and phase, strengths below 1, `harmful` and `violates`, defs, params,
prefill-style start depths, deliver/stop exits, several phases, and every check kind.
"""

from __future__ import annotations

import re
from fractions import Fraction

from hypothesis import strategies as st

from libet.testing import strategies as lst

# ---- building blocks ---------------------------------------------------------------------------


@st.composite
def _domain(draw):
    kind = draw(st.sampled_from(["bool", "int", "enum"]))
    if kind == "bool":
        return ("bool", "bool", [False, True])
    if kind == "int":
        lo = draw(st.integers(-1, 2))
        hi = lo + draw(st.integers(0, 3))
        return ("int", f"{lo}..{hi}", list(range(lo, hi + 1)))
    n = draw(st.integers(1, 3))
    members = ["a", "b", "c"][:n]
    return ("enum", "{" + ", ".join(members) + "}", members)


@st.composite
def _variables(draw):
    """(class, name, kind, domain text, values) for 1-2 substance, 0-2 framing, 0-2 context."""
    out = []
    for cls, prefix, lo, hi in (("substance", "s", 1, 2), ("framing", "f", 0, 2), ("context", "c", 0, 2)):
        for i in range(draw(st.integers(lo, hi))):
            kind, text, values = draw(_domain())
            out.append((cls, f"{prefix}{i}", kind, text, values))
    return out


def _lit(kind, v) -> str:
    if kind == "bool":
        return "true" if v else "false"
    return str(v)


#: 2^62: an int variable of 2 or more times it is past int64, which every engine must not wrap
_BIG = 1 << 62


def within_32_bits(src: str) -> str:
    """``src`` with each comparison scaled by ``_BIG`` written unscaled (the same meaning), for
    the PRISM export, whose ints have 32 bits and which refuses the scaled ones."""
    return re.sub(rf"(\w+) \* {_BIG} (\S+) (-?\d+)", lambda m: f"{m[1]} {m[2]} {int(m[3]) // _BIG}", src)


@st.composite
def _atom(draw, variables, depth_ok: bool, phases: list[str] | None, values: list[str]):
    """A boolean atom over the given variables (and depth / phase / values when allowed)."""
    choices = ["var"] * 4
    if depth_ok:
        choices += ["depth"] * 2
    if phases:
        choices.append("phase")
    if values:
        choices += ["violates", "harmful"]
    what = draw(st.sampled_from(choices))
    if what == "depth":
        op = draw(st.sampled_from(["<", "<=", ">", ">=", "==", "!="]))
        return f"depth {op} {draw(st.integers(0, 6))}"
    if what == "phase":
        return f"phase == {draw(st.sampled_from(phases))}"
    if what == "violates":
        return f"violates {draw(st.sampled_from(values))}"
    if what == "harmful":
        return "harmful"
    cls, name, kind, _, dom = draw(st.sampled_from(variables))
    if kind == "bool":
        return name if draw(st.booleans()) else f"not {name}"
    if kind == "int":
        op = draw(st.sampled_from(["<", "<=", ">", ">=", "==", "!="]))
        c = draw(st.sampled_from(dom))
        if draw(st.integers(0, 4)) == 0:  # the same comparison scaled past 2^63 (ints have any size)
            return f"{name} * {_BIG} {op} {c * _BIG}"
        return f"{name} {op} {c}"
    if draw(st.booleans()):
        return f"{name} == {draw(st.sampled_from(dom))}"
    picked = draw(st.lists(st.sampled_from(dom), min_size=1, max_size=len(dom), unique=True))
    return f"{name} in {{{', '.join(picked)}}}"


@st.composite
def _condition(draw, variables, depth_ok=True, phases=None, values=(), max_atoms=3):
    atoms = draw(st.lists(_atom(variables, depth_ok, phases, list(values)), min_size=1, max_size=max_atoms))
    if len(atoms) == 1:
        return atoms[0]
    ops = [draw(st.sampled_from(["and", "or"])) for _ in atoms[1:]]
    text = atoms[0]
    for op, a in zip(ops, atoms[1:]):
        text = f"({text}) {op} {a}" if draw(st.booleans()) else f"{text} {op} ({a})"
    return text


_PROBS = [Fraction(0), Fraction(1, 10), Fraction(1, 4), Fraction(1, 3), Fraction(1, 2), Fraction(3, 5), Fraction(1)]


def _num(q: Fraction) -> str:
    if q.denominator == 1:
        return str(q.numerator)
    return f"({q.numerator} / {q.denominator})"


@st.composite
def _prob(draw, variables, cap: Fraction, params: list[str]):
    """A probability expression whose value lies in [0, cap] at every state."""
    def const():
        return draw(st.sampled_from([p for p in _PROBS if p <= cap]))

    kind = draw(st.sampled_from(["const", "const", "ite", "momentum", "param"] if params else ["const", "const", "ite", "momentum"]))
    if kind == "const":
        return _num(const())
    if kind == "ite":
        c = draw(_condition(variables, depth_ok=True, max_atoms=2))
        return f"if {c} then {_num(const())} else {_num(const())}"
    if kind == "param":
        # params are drawn in [0, 1]; scale into [0, cap]
        return f"{_num(cap)} * {draw(st.sampled_from(params))}"
    # momentum: cap * (1 - (1 - b) * exp(-g * depth)) stays in [0, cap] for b, g in [0, 1]
    b = draw(st.sampled_from(["0.2", "0.5", "0"]))
    g = draw(st.sampled_from(["0.3", "1", "0.05"]))
    return f"{_num(cap)} * (1 - (1 - {b}) * exp(-{g} * depth))"


# ---- whole specs --------------------------------------------------------------------------------


@st.composite
def specs(draw, max_horizon: int = 8, unbounded: bool = False, with_checks: bool = True, with_experiment: bool = False):
    """Source text of a small, well-formed spec (see the module docstring).

    Args:
        max_horizon: the largest horizon drawn (at least 1).
        unbounded: allow ``horizon none`` (then no quantitative checks or experiments).
        with_checks: add a check block with every check kind for every policy.
        with_experiment: add an experiment block (needs a finite horizon).
    """
    variables = draw(_variables())
    subst = [v for v in variables if v[0] == "substance"]
    lines = ['spec "generated"', ""]
    for cls in ("substance", "framing", "context"):
        decls = [v for v in variables if v[0] == cls]
        if decls:
            lines.append(cls + " {")
            lines += [f"  {name}: {text}" for _, name, _, text, _ in decls]
            lines.append("}")
    params = []
    for i in range(draw(st.integers(0, 2))):
        params.append(f"k{i}")
        lines.append(f"param k{i} = {draw(st.sampled_from(['0', '0.25', '0.5', '1']))} in [0, 1]")
    values = []
    for i in range(draw(st.integers(0, 2))):
        values.append(f"v{i}")
        lines.append(f"value v{i} = {draw(_condition(subst, depth_ok=False, max_atoms=2))}")
    if draw(st.booleans()):
        lines.append(f"def d0 = {draw(_condition(variables, depth_ok=True, max_atoms=2))}")
    # trajectory
    horizon = None if unbounded and draw(st.booleans()) else draw(st.integers(1, max_horizon))
    n_phases = draw(st.integers(1, 3))
    phases = [f"p{i}" for i in range(n_phases)]
    start_depth = ""
    ints = [v for v in variables if v[2] == "int" and v[0] == "framing" and min(v[4]) >= 0]
    if ints and horizon is not None and draw(st.booleans()):
        name, dom = ints[0][1], ints[0][4]
        if max(dom) <= horizon:
            start_depth = f" at depth {name}"
    # what reaching the horizon is: deliver (the default, written or not) or stop
    end = "" if horizon is None else draw(st.sampled_from(["", "", " then deliver", " then stop"]))
    lines += ["trajectory {", f"  horizon {'none' if horizon is None else horizon}{end}", f"  start p0{start_depth}"]
    for p in phases:
        lines.append(f"  phase {p} {{")
        targets = draw(st.lists(st.sampled_from(phases + ["deliver", "stop"]), min_size=1, max_size=3, unique=True))
        rest = draw(st.sampled_from(phases + ["deliver", "stop"]))
        targets = [t for t in targets if t != rest]
        cap = Fraction(1, max(1, len(targets)))
        for t in targets:
            lines.append(f"    -> {t} : {draw(_prob(variables, cap, params))}")
        lines.append(f"    -> {rest} : otherwise")
        lines.append("  }")
    lines.append("}")
    # policies
    policies = []
    for i in range(draw(st.integers(1, 3))):
        policies.append(f"pol{i}")
        lines.append(f"policy pol{i} {{")
        for _ in range(draw(st.integers(0, 3))):
            cond = draw(_condition(variables, True, phases, values))
            strength = draw(st.sampled_from(["", "", " with strength 0.5", " with strength 0.9", " with strength 0"]))
            # a refusal that ends the turn and goes on in a phase, now and then
            then = draw(st.sampled_from(["", "", ""] + [f" then -> {p}" for p in phases]))
            lines.append(f"  veto when {cond}{strength}{then}")
        lines.append("}")
    if with_checks:
        choices = [v[1] for v in variables] + ["depth", "phase"] + sorted({v[0] for v in variables})
        under = draw(st.lists(st.sampled_from(choices), min_size=1, max_size=2, unique=True))
        lines.append(f"check {', '.join(policies)} {{")
        lines.append(f"  invariant under {', '.join(under)}")
        lines += ["  complete", "  no over-refusal", "  safe"]
        at = draw(st.lists(st.sampled_from(phases), min_size=1, max_size=2, unique=True))
        lines.append(f"  complete at {', '.join(at)}")
        if horizon is not None:
            quant_under = [u for u in under if u not in ("depth", "phase")]
            suffix = f" for all {', '.join(quant_under)}" if quant_under else ""
            lines.append(f"  P(harm) <= {draw(st.sampled_from(['0', '0.1', '0.5']))}{suffix}")
            if quant_under:
                lines.append(f"  gap P(harm) under {', '.join(quant_under)} <= {draw(st.sampled_from(['0', '0.2']))}")
                lines.append(f"  invariant P(harm) under {', '.join(quant_under)}")
        lines.append("}")
    if with_experiment and horizon is not None:
        lines.append("experiment e {")
        lines.append(f"  policies {', '.join(policies)}")
        if params:
            lines.append(f"  vary {params[0]} over 0..1 step 0.5")
        else:
            v = variables[-1]
            lines.append(f"  vary {v[1]} over [{', '.join(_lit(v[2], x) for x in v[4])}]")
        lines.append("  measure P(harm), P(vetoed), P(stopped), P(delivered), P(over-refusal), E(depth)")
        lines.append("}")
    return "\n".join(lines) + "\n"


@st.composite
def state_specs(draw, mdp: bool = True, max_horizon: int = 5, spare: int = 0):
    """Source text of a small spec with state variables (docs/semantics.md §4b): a counter
    ``c: 0..K`` updated on steps and refusals (saturating), an enum ``e: {a, b}`` that steps may
    reset, read by probabilities and vetoes; with ``mdp``, a choice point on ``e`` (and maybe
    on ``c``, maybe guarded by ``when``) in some phases. Every update stays in its domain and
    every phase's probabilities sum to 1 for every state, so the spec always loads. The
    experiment measures Pmax and Pmin of harm and vetoed, and Emax(refusals). With ``spare``,
    the counter's domain is declared up to K + spare while the updates still stop it at K: the
    valuations past K are never reached."""
    K = draw(st.integers(1, 3))
    horizon = draw(st.integers(1, max_horizon))
    end = draw(st.sampled_from(["", " then stop", " then deliver"]))
    phases = ["p0", "p1"][: draw(st.integers(1, 2))]
    lines = [
        'spec "generated with state"',
        "substance { topic: {everyday, weapons} }",
        "framing { f: bool }",
        f"state {{ c: 0..{K + spare} = 0  e: {{a, b}} = {draw(st.sampled_from(['a', 'b']))} }}",
        "value ok = topic == everyday",
        "trajectory {",
        f"  horizon {horizon}{end}",
        "  start p0",
    ]
    inc = f"c = min(c + 1, {K})"
    chose = False
    for p in phases:
        lines.append(f"  phase {p} {{")
        if mdp and draw(st.booleans() if p != "p0" else st.just(True)):
            when = draw(st.sampled_from(["", "", " when c > 0", " when f"]))
            lines.append(f"    choose e{when}")
            chose = True
            if draw(st.booleans()):
                lines.append(f"    choose c in {{0, {K}}}")
        # go on: a constant, or state-dependent (at most 0.5 either way)
        go = draw(st.sampled_from(["0.5", "0.3", "if e == a then 0.5 else 0.2", f"0.5 * min(c, {K}) / {K}"]))
        target = draw(st.sampled_from(phases))
        update = draw(st.sampled_from(["", f" then {inc}", " then e = b", f" then {inc}, e = a"]))
        lines.append(f"    -> {target} : {go}{update}")
        deliver = draw(st.sampled_from(["0.25", "if c > 0 then 0.4 else 0.1", "if e == b then 0.3 else 0"]))
        lines.append(f"    -> deliver : {deliver}")
        lines.append("    -> stop : otherwise")
        lines.append("  }")
    lines.append("}")
    policies = []
    for i in range(draw(st.integers(1, 2))):
        policies.append(f"pol{i}")
        lines.append(f"policy pol{i} {{")
        for _ in range(draw(st.integers(0, 2))):
            cond = draw(st.sampled_from([
                "violates ok", "violates ok and e == a", f"violates ok and c < {K}", "e == a and f",
                "violates ok and depth >= 1", "c == 0",
            ]))
            strength = draw(st.sampled_from(["", " with strength 0.5", " with strength 0.8"]))
            then = draw(st.sampled_from(["", f" then -> {phases[-1]}", f" then -> p0 then {inc}", " then -> p0 then e = b"]))
            lines.append(f"  veto when {cond}{strength}{then}")
        lines.append("}")
    quant = ("Pmax", "Pmin") if mdp and chose else ("P", "P")
    lines += [
        "experiment e {",
        f"  policies {', '.join(policies)}",
        f"  measure {quant[0]}(harm), {quant[1]}(harm), {quant[0]}(vetoed)",
        "}",
    ]
    return "\n".join(lines) + "\n"


# ---- assignments and states: the installed strategies (libet.testing.strategies) -------------


def assignments(spec, **kwargs):
    """An assignment of every variable of an IR spec (:func:`libet.testing.assignments`)."""
    return lst.assignments(spec, **kwargs)


def states(spec):
    """(assignment, phase, depth) with the depth below the horizon (or below 16 if unbounded):
    :func:`libet.testing.states` as a tuple, the shape the interpreter's tests unpack."""
    return lst.states(spec, max_depth=None if spec.trajectory.horizon is not None else 15).map(
        lambda s: (s.assignment, s.phase, s.depth)
    )


# ---- simulator additions (owned by the simulator; tests/test_sim_*.py) ----------------------


@st.composite
def long_horizon_specs(draw, lo: int = 257, hi: int = 1200):
    """Like :func:`specs` (no checks), with a horizon in [lo, hi]: long enough that the exact
    engine's blocked backward induction (not only its plain loop) runs. The probabilities of
    generated specs are valid at every depth, so only the horizon line changes."""
    import re

    text = draw(specs(max_horizon=8, with_checks=False))
    horizon = draw(st.integers(lo, hi))
    return re.sub(r"horizon \d+", f"horizon {horizon}", text, count=1)


# ---- proofs additions (owned by proofs/; tests/test_proofs_*.py) -------------------------------


@st.composite
def arithmetic_policy_specs(draw, max_horizon: int = 6, unbounded: bool = False):
    """A spec from :func:`specs` plus a policy ``xpol`` whose rules do arithmetic and whose
    strengths vary, and a check block for it.

    What this adds for the Z3 checker: weighted sums of int variables against a threshold (real
    arithmetic), products of int variables (non-linear), ``min``/``max``/``abs``, ``if``
    terms, and strengths that depend on depth, on a variable, on a param, or on ``exp`` of the
    depth, so the veto probability is a product of non-constant factors. Every strength stays in
    [0, 1] at every state by construction.
    """
    import libet

    text = draw(specs(max_horizon=max_horizon, unbounded=unbounded, with_checks=False))
    spec = libet.loads(text).ir
    ints = [(n, v.domain.lo, v.domain.hi) for n, v in spec.variables.items() if hasattr(v.domain, "lo")]
    enums = [(n, v.domain.members) for n, v in spec.variables.items() if hasattr(v.domain, "members")]
    bools = [n for n, v in spec.variables.items() if not hasattr(v.domain, "lo") and not hasattr(v.domain, "members")]
    params = list(spec.params)

    def condition():
        kinds = ["depth", "harm"]
        if ints:
            kinds += ["sum", "sum", "product", "minmax"]
        if enums:
            kinds.append("enum")
        if bools:
            kinds.append("bool")
        kind = draw(st.sampled_from(kinds))
        if kind == "sum":
            terms = draw(st.lists(st.sampled_from(ints), min_size=1, max_size=3, unique=True))
            ws = [draw(st.sampled_from(["0.5", "0.25", "1", "1.5", "-0.75"])) for _ in terms]
            expr = " + ".join(f"{w} * {n}" for w, (n, _, _) in zip(ws, terms))
            t = draw(st.sampled_from(["-1", "0", "0.5", "1", "2.25"]))
            return f"{expr} {draw(st.sampled_from(['>=', '<', '>']))} {t}"
        if kind == "product":
            (a, _, _), (b, _, _) = draw(st.sampled_from(ints)), draw(st.sampled_from(ints))
            return f"{a} * {b} {draw(st.sampled_from(['>=', '<', '==']))} {draw(st.integers(-2, 4))}"
        if kind == "minmax":
            (a, _, _), (b, _, _) = draw(st.sampled_from(ints)), draw(st.sampled_from(ints))
            f = draw(st.sampled_from(["min", "max"]))
            return f"{f}({a}, {b}) + abs({a} - 1) >= {draw(st.integers(-1, 3))}"
        if kind == "enum":
            n, members = draw(st.sampled_from(enums))
            return f"{n} == {draw(st.sampled_from(members))}"
        if kind == "bool":
            return draw(st.sampled_from(bools))
        if kind == "depth":
            return f"depth {draw(st.sampled_from(['<', '>=']))} {draw(st.integers(0, 5))}"
        return "harmful" if spec.values else "true"

    def strength():
        kinds = ["const", "depth_ite", "exp"]
        if ints:
            kinds.append("scaled")
        if params:
            kinds.append("param")
        kind = draw(st.sampled_from(kinds))
        if kind == "const":
            return draw(st.sampled_from(["1", "0.5", "0.3", "0"]))
        if kind == "depth_ite":
            a, b = draw(st.sampled_from(["0", "0.5", "1"])), draw(st.sampled_from(["0.25", "0.75", "1"]))
            return f"if depth < {draw(st.integers(0, 4))} then {a} else {b}"
        if kind == "exp":
            return "1 - exp(-0.5 * (depth + 1))"
        if kind == "param":
            return draw(st.sampled_from(params))
        n, lo, hi = draw(st.sampled_from(ints))
        return f"({n} - ({lo})) / {hi - lo + 1}"

    lines = [text.rstrip("\n"), "policy xpol {"]
    for _ in range(draw(st.integers(1, 3))):
        c = condition()
        if draw(st.booleans()):
            c = f"({c}) and {condition()}"
        lines.append(f"  veto when {c} with strength {strength()}")
    lines.append("}")
    under = draw(
        st.lists(
            st.sampled_from(list(spec.variables) + ["depth"] + sorted({v.cls.value for v in spec.variables.values()})),
            min_size=1,
            max_size=2,
            unique=True,
        )
    )
    lines += ["check xpol {", f"  invariant under {', '.join(under)}", "  complete", "  no over-refusal", "  safe", "}"]
    return "\n".join(lines) + "\n"
