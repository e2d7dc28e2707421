"""Trajectory graphs: the phases of a spec, its transitions with their probability expressions,
and where a policy's veto acts.

Consumes: a checked spec and a policy.
Produces: a :class:`graphviz.Digraph` (DOT source; rendered to SVG/PNG/PDF by the ``dot``
program from the system package graphviz), and a plain-JSON description of the same graph.

Expressions are shown as libet source, printed from the IR (defs by name) by
:mod:`libet.spec.printer`.
"""

from __future__ import annotations

from fractions import Fraction

from libet.spec import ir
from libet.spec.printer import expr_text, name_list, shorten


def graph_data(spec: ir.Spec, policy: str) -> dict:
    """Nodes and edges of the trajectory graph as plain data (for ``--json``)."""
    from libet.errors import UsageError

    if spec.trajectory is None:
        raise UsageError("the spec has no trajectory to draw")
    if policy not in spec.policies:
        raise UsageError(f"there is no policy {policy!r} (policies: {name_list(spec.policies)})")
    traj = spec.trajectory
    rules = [
        {"when": expr_text(r.condition), "strength": expr_text(r.strength), **({"then": r.then} if r.then else {})}
        for r in spec.policies[policy].rules
    ]
    can = can_fire(spec, policy)
    by_phase = {
        p: [dict(rules[i], **({} if can[p][i] else {"may": True})) for i in range(len(rules)) if can[p][i] is not False]
        for p in traj.phase_names
    }
    edges = []
    for p in traj.phases:
        for t in p.transitions:
            edges.append({"from": p.name, "to": t.target, "probability": "otherwise" if t.prob is None else expr_text(t.prob)})
    targets = {e["to"] for e in edges}
    outcomes = []
    at_stop = traj.at_horizon == ir.STOP
    if ir.DELIVER in targets or (traj.horizon is not None and not at_stop):
        outcomes.append("delivered")
    if ir.STOP in targets or (traj.horizon is not None and at_stop):
        outcomes.append("stopped")
    if any(r for rs in by_phase.values() for r in rs if "then" not in r):
        outcomes.append("vetoed")
    # a refusal that goes on: an edge from every phase where its rule can fire to its phase
    refusals = [
        {"from": p, "to": r["then"], "when": r["when"], **({"may": True} if r.get("may") else {})}
        for p in traj.phase_names
        for r in by_phase[p]
        if "then" in r
    ]
    return {
        "spec": spec.title,
        "policy": policy,
        "horizon": traj.horizon,
        "at_horizon": "stopped" if at_stop else "delivered",
        "start": {"phase": traj.start_phase, "depth": expr_text(traj.start_depth)},
        "phases": list(traj.phase_names),
        "veto": rules,
        "veto_by_phase": by_phase,
        "outcomes": outcomes,
        "transitions": edges,
        "refusals": refusals,
    }


#: Seconds Z3 may take to say whether one rule can fire in one phase; an undecided rule is
#: drawn (marked "may fire"), never dropped.
FIRE_TIMEOUT = 2.0
#: Seconds for all of it, the encoding of the rules included: past them, every rule not yet
#: decided is drawn as one that may fire (a policy of 10^4-term conditions took 5 s a phase
#: to encode, however many phases there were).
GRAPH_TIMEOUT = 10.0


def can_fire(spec: ir.Spec, policy: str) -> dict[str, list]:
    """Per phase, per rule of ``policy``: can it fire there (its condition hold with a positive
    strength, for some assignment and depth below the horizon)? True, False, or None when Z3
    did not decide in time. Asked of the Z3 encoding the checks use, so ``phase == act`` is
    False under ``plan`` and a rule guarded by it is not drawn there."""
    import z3

    from libet.proofs.rules import Encoder
    from libet.proofs.solve import SMT_INT, Budget, OutOfTime, deadline

    traj = spec.trajectory
    rules = spec.policies[policy].rules
    out: dict[str, list] = {p: [None] * len(rules) for p in traj.phase_names}
    budget = Budget(GRAPH_TIMEOUT)
    try:
        with deadline(budget):
            ctx = z3.Context()
            enc = Encoder(spec, None, SMT_INT.encoding, ctx, None, track=False)
            sym = enc.new_assignment("")
            hi = None if traj.horizon is None else traj.horizon - 1
            depth, dom = enc.depth_var("depth", 0, hi)
            for p in traj.phase_names:
                env = enc.env(sym, depth, p, depth_values=None if hi is None else range(hi + 1))
                try:
                    pairs = enc.rules(policy, env)
                except OutOfTime:
                    raise
                except Exception:  # an expression Z3 cannot encode: draw every rule
                    continue
                answers = out[p]
                for i, (c, strength) in enumerate(pairs):
                    if c is False or (isinstance(strength, Fraction) and strength <= 0):
                        answers[i] = False
                        continue
                    if c is True and isinstance(strength, Fraction):
                        answers[i] = True
                        continue
                    if budget.expired():
                        raise OutOfTime
                    solver = z3.Solver(ctx=ctx)
                    solver.set("timeout", max(1, int(min(FIRE_TIMEOUT, budget.remaining()) * 1000)))
                    solver.add(*sym.constraints(), dom, enc.as_bool(c))
                    if not isinstance(strength, Fraction):
                        solver.add(enc.z3_real(strength) > 0)
                    res = solver.check()
                    answers[i] = True if res == z3.sat else False if res == z3.unsat else None
    except OutOfTime:  # what is not decided yet stays None: drawn, as a rule that may fire
        pass
    return out


def _esc(text: str) -> str:
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;").replace('"', "&quot;")


def trajectory_graph(spec: ir.Spec, policy: str):
    """The graphviz Digraph of the trajectory under ``policy``. Its labels show each expression
    shortened for reading (:func:`~libet.spec.printer.shorten`); :func:`graph_data` has them
    whole."""
    import graphviz

    data = graph_data(spec, policy)
    g = graphviz.Digraph("trajectory", graph_attr={"rankdir": "LR", "fontname": "Helvetica", "labelloc": "t"})
    horizon = "none" if data["horizon"] is None else data["horizon"]
    g.attr(label=f"{spec.title} — policy {policy} (horizon {horizon})", fontsize="12")
    g.attr("node", fontname="Helvetica", fontsize="10")
    g.attr("edge", fontname="Helvetica", fontsize="9")
    g.node("__start", label=f"start\ndepth {shorten(data['start']['depth'])}", shape="plaintext")
    g.edge("__start", data["start"]["phase"])
    def veto_rows(rules):
        return "".join(
            f'<TR><TD ALIGN="LEFT"><FONT COLOR="#b00020">veto when {_esc(shorten(r["when"]))}'
            + ("" if r["strength"] == "1" else f" with strength {_esc(shorten(r['strength']))}")
            + (f" then -&gt; {_esc(r['then'])}" if r.get("then") else "")
            + (" (may fire)" if r.get("may") else "")
            + "</FONT></TD></TR>"
            for r in rules
        )

    for p in data["phases"]:
        label = (f'<<TABLE BORDER="0" CELLBORDER="0"><TR><TD><B>{_esc(p)}</B></TD></TR>'
                 f'{veto_rows(data["veto_by_phase"][p])}</TABLE>>')
        g.node(p, label=label, shape="box", style="rounded")
    if "delivered" in data["outcomes"]:
        g.node("deliver", label="delivered\n(harm if harmful)", shape="oval", peripheries="2", color="#1f6feb")
    if "stopped" in data["outcomes"]:
        g.node("stop", label="stopped", shape="oval", peripheries="2", color="#57606a")
    if "vetoed" in data["outcomes"]:
        g.node("__vetoed", label="vetoed", shape="oval", peripheries="2", color="#b00020")
        for p in data["phases"]:
            if any("then" not in r for r in data["veto_by_phase"][p]):
                g.edge(p, "__vetoed", label="veto", style="dashed", color="#b00020", fontcolor="#b00020")
    for e in data.get("refusals", ()):
        g.edge(e["from"], e["to"], label="refusal", style="dashed", color="#b00020", fontcolor="#b00020")
    for e in data["transitions"]:
        g.edge(e["from"], e["to"], label=shorten(e["probability"]))
    if data["horizon"] is not None:
        at = data.get("at_horizon", "delivered")
        g.node("__horizon", label=f"depth reaches {data['horizon']}: {at}", shape="note", fontsize="9")
        g.edge("__horizon", "deliver" if at == "delivered" else "stop", style="dotted", arrowhead="none")
    return g


#: Seconds ``dot`` may take to lay a graph out. Its layout grows fast with the phases: it took
#: about 10 s for a ring of 50 phases and did not finish in two minutes for one of 100 (the
#: 2-core machine of docs/benchmarks.md).
DOT_SECONDS = 30.0


def render(g, fmt: str, timeout: float | None = None) -> bytes:
    """Render a graphviz graph with the ``dot`` program, which may take ``timeout`` seconds
    (:data:`DOT_SECONDS` by default).

    Raises:
        UsageError: ``dot`` (from the system package graphviz) is not installed, could not
            draw the graph (with what it said), or did not finish in time; the hint says what
            to do instead.
    """
    import shutil
    import subprocess

    from libet.errors import UsageError

    dot = shutil.which("dot")
    if dot is None:
        raise UsageError("the `dot` program (from the system package graphviz) is not installed",
                         "install it (apt-get install graphviz, or `make graphviz`), or write a .dot file")
    timeout = DOT_SECONDS if timeout is None else timeout
    instead = "write a .dot file instead (-o graph.dot) and draw it with another layout, e.g. `sfdp -Tsvg graph.dot`"
    try:
        done = subprocess.run([dot, f"-T{fmt}"], input=g.source.encode(), capture_output=True, timeout=timeout)
    except subprocess.TimeoutExpired:
        raise UsageError(f"the `dot` program did not lay the graph out within {timeout:g} s (its layout grows "
                         "fast with the phases)", instead) from None
    if done.returncode != 0:
        said = done.stderr.decode(errors="replace").strip().splitlines()
        raise UsageError("the `dot` program could not draw the graph" + (f": {said[0]}" if said else ""), instead)
    return done.stdout
