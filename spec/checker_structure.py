"""Structure: the trajectory, the policies and the checks.

Consumes: the :class:`~libet.spec.checker_names.Scope` (the trajectory, policy and check
declarations as written) and a :class:`~libet.spec.checker_exprs.Typer` (their expressions).
Produces: the IR :class:`~libet.spec.ir.Trajectory` (or None), one
:class:`~libet.spec.ir.Policy` per policy without errors, and one
:class:`~libet.spec.ir.Check` per (policy, property) pair of every check block; it also
narrows ``scope.phase_names`` to the phases that are validly declared.

Diagnostics: E040 (a malformed trajectory: missing or repeated horizon or start, no phases, a
phase without transitions, two transitions to one target with the same updates, two `otherwise`), E010 (an unknown
phase or policy), E011 (a phase named like a variable, or twice), E020 (a start depth, a
probability, a condition or a strength of the wrong type), E050 (a malformed check), E061 (a
quantitative check without a finite horizon), E023 (a bound out of range), W104 (a policy
without rules), and those of :mod:`.checker_measures` for the measures of bounds and gaps.

That probabilities and strengths lie in [0, 1] is checked later, on the IR
(:mod:`libet.spec.semantics`).
"""

from __future__ import annotations

from fractions import Fraction

from libet.spec import ast, checker_state, ir
from libet.spec.checker_exprs import Typer, type_words
from libet.spec.checker_measures import measure as resolve_measure
from libet.spec.checker_names import Scope
from libet.spec.diagnostics import Note, did_you_mean
from libet.spec.formatter import expr as format_expr

#: Largest horizon: beyond this a spec is surely a mistake.
MAX_HORIZON = 100_000_000


class Structure:
    """Builds the trajectory, the policies and the checks of one spec."""

    def __init__(self, scope: Scope, typer: Typer):
        self.scope = scope
        self.typer = typer
        self.d = scope.d

    # ---- the trajectory ---------------------------------------------------------------------

    def trajectory(self) -> ir.Trajectory | None:
        scope = self.scope
        if not scope.trajectories:
            return None
        for extra in scope.trajectories[1:]:
            self.d.error(
                "E040",
                "a spec has one trajectory; this is a second",
                extra.span,
                notes=[Note("the first is here", scope.trajectories[0].span)],
            )
        node = scope.trajectories[0]
        horizons = [i for i in node.items if isinstance(i, ast.Horizon)]
        starts = [i for i in node.items if isinstance(i, ast.Start)]
        phases = [i for i in node.items if isinstance(i, ast.PhaseDecl)]
        ok = True
        for label, items in (("horizon", horizons), ("start", starts)):
            if not items:
                self.d.error(
                    "E040",
                    f"the trajectory has no '{label}'",
                    node.span,
                    hint="write `horizon 64` (or `horizon none`, for proofs only)"
                    if label == "horizon"
                    else "write `start PHASE` or `start PHASE at depth EXPR`",
                )
                ok = False
            for extra in items[1:]:
                self.d.error("E040", f"the trajectory has a second '{label}'", extra.span)
                ok = False
        if not phases:
            self.d.error("E040", "the trajectory has no phases", node.span, hint="add `phase NAME { -> deliver : 1 }`")
            return None
        horizon, ok_h = self._horizon(horizons)
        ok &= ok_h
        at_horizon = ir.DELIVER
        if horizons and horizons[0].end is not None:
            at_horizon = horizons[0].end
            if ok_h and horizon is None:
                self.d.error(
                    "E040",
                    f"`horizon none then {at_horizon}`: a trajectory without a horizon never reaches it",
                    horizons[0].span,
                    hint="give a horizon (`horizon 64 then stop`) or drop the `then` part",
                )
                ok = False
        seen, ok_p = self._phase_names(phases)
        ok &= ok_p
        scope.phase_names = set(seen)
        ir_phases = []
        for p in seen.values():
            phase = self._phase(p)
            ok &= phase is not None
            if phase is not None:
                ir_phases.append(phase)
        start_phase, start_depth = None, ir.Const(0, ir.INT)
        if starts:
            start_phase, start_depth, ok_s = self._start(starts[0], start_depth)
            ok &= ok_s
        if not ok:
            return None
        written = bool(horizons and horizons[0].end is not None)
        return ir.Trajectory(
            horizon, start_phase, start_depth, tuple(ir_phases), at_horizon, span=node.span,
            horizon_expr=self.horizon_expr, at_horizon_written=written,
        )

    def _horizon(self, horizons: list[ast.Horizon]) -> tuple[int | None, bool]:
        self.horizon_expr = None
        if not horizons:
            return None, True
        h = horizons[0].value
        if isinstance(h, ast.Paren) or (isinstance(h, str) and h in self.scope.params):
            return self._horizon_expr(horizons[0])
        if isinstance(h, str):
            if h != "none":
                self.d.error("E040", f"horizon must be a whole number or 'none', not '{h}'", horizons[0].span)
                return None, False
            return None, True
        if not 1 <= h <= MAX_HORIZON:
            self.d.error(
                "E040",
                f"the horizon must lie in 1..{MAX_HORIZON:,}",
                horizons[0].span,
                hint="for an unbounded trajectory write `horizon none`",
            )
            return None, False
        return h, True

    def _horizon_expr(self, node: ast.Horizon) -> tuple[int | None, bool]:
        """``horizon h`` or ``horizon (expr)`` over int params: the expression is kept
        (``horizon_expr``); its value at the defaults, and at every corner of the params'
        ranges, is checked by :mod:`.structural` once the spec is built."""
        h = node.value
        src = h if isinstance(h, ast.Paren) else ast.NameExpr(h, span=node.span)
        e = self.typer.expr_or_none(src)
        if e is None:
            return None, False
        if e.type != ir.INT:
            self.d.error("E040", f"the horizon must be a whole number, but this is {type_words(e.type)}", node.span,
                         hint="a horizon over params reads `int` params: `param h: int = 64 in [16, 512]`")
            return None, False
        for n in ir.walk(e):
            if not isinstance(n, (ir.ParamRef, ir.Const, ir.Arith, ir.Neg, ir.Call, ir.Ite, ir.Compare, ir.Logic,
                                  ir.Not)):
                self.d.error("E040", "the horizon may read params and numbers only (it is fixed for a whole run)",
                             n.span or node.span)
                return None, False
        self.horizon_expr = e
        return 1, True  # a placeholder: structural.defaults() puts the value at the defaults

    def _phase_names(self, phases: list[ast.PhaseDecl]) -> tuple[dict[str, ast.PhaseDecl], bool]:
        scope = self.scope
        ok = True
        seen: dict[str, ast.PhaseDecl] = {}
        for p in phases:
            if not scope.allowed_name(p.name):
                ok = False
                continue
            if p.name.text in scope.names:
                decl = scope.names[p.name.text]
                self.d.error(
                    "E011",
                    f"phase '{p.name.text}' has the name of a {decl.kind}",
                    p.name.span,
                    hint="rename one of them: in `phase == NAME` the name would be ambiguous",
                    notes=[Note(f"the {decl.kind} is declared here", scope.decl_span(decl))],
                )
                ok = False
            if p.name.text in seen:
                self.d.error(
                    "E011",
                    f"phase '{p.name.text}' is declared twice",
                    p.name.span,
                    notes=[Note("first declared here", seen[p.name.text].name.span)],
                )
                ok = False
            seen[p.name.text] = p
        return seen, ok

    def _start(self, s: ast.Start, default: ir.Expr) -> tuple[str, ir.Expr, bool]:
        ok = True
        if s.phase.text not in self.scope.phase_names:
            self.d.error(
                "E010",
                f"there is no phase '{s.phase.text}' to start in",
                s.phase.span,
                hint=did_you_mean(s.phase.text, self.scope.phase_names),
            )
            ok = False
        if s.depth is None:
            return s.phase.text, default, ok
        e = self.typer.expr_or_none(s.depth)
        if e is None:
            return s.phase.text, default, False
        if e.type != ir.INT:
            self.d.error("E020", f"the start depth must be a whole number, but this is {type_words(e.type)}", s.depth.span)
            return s.phase.text, default, False
        for n in ir.walk(e):
            if isinstance(n, (ir.Depth, ir.CurrentPhase)):
                self.d.error("E040", "the start depth cannot read 'depth' or 'phase'", n.span)
                ok = False
            if isinstance(n, ir.StateRef):
                self.d.error(
                    "E040",
                    f"the start depth cannot read the state variable '{n.name}': the state starts at its initial values",
                    n.span,
                )
                ok = False
        return s.phase.text, e, ok

    def _phase(self, p: ast.PhaseDecl) -> ir.Phase | None:
        if not p.transitions:
            self.d.error(
                "E040",
                f"phase '{p.name.text}' has no transitions",
                p.span,
                hint="every phase needs transitions whose probabilities sum to 1, e.g. `-> deliver : 1`",
            )
            return None
        targets: dict[tuple, ast.TransitionDecl] = {}
        otherwise = None
        out = []
        ok = True
        phase_names = self.scope.phase_names
        for t in p.transitions:
            name = t.target.text
            if name not in phase_names and name not in ir.EXITS:
                self.d.error(
                    "E010",
                    f"'{name}' is not a phase, 'deliver' or 'stop'",
                    t.target.span,
                    hint=did_you_mean(name, list(phase_names) + list(ir.EXITS)),
                )
                ok = False
            # Two steps to one target are one step unless their updates differ (a watched and
            # an unwatched step to the same phase): the key is the target and the updates as written.
            key = (name, tuple((u.var.text, format_expr(u.expr)) for u in t.updates))
            if key in targets:
                self.d.error(
                    "E040",
                    f"phase '{p.name.text}' has two transitions to '{name}'" + (" with the same updates" if t.updates else ""),
                    t.target.span,
                    hint="merge them into one transition by adding their probabilities",
                )
                ok = False
            targets[key] = t
            ups = checker_state.updates(self.scope, self.typer, t.updates)
            if ups is None:
                ok = False
                ups = ()
            elif ups and name in ir.EXITS:
                self.d.warning(
                    "W107",
                    f"the updates of '-> {name}' never matter: the step ends the trajectory",
                    t.updates[0].span,
                    hint="remove them, or send the step to a phase",
                )
            if t.prob is None:
                if otherwise is not None:
                    self.d.error("E040", f"phase '{p.name.text}' has two 'otherwise' transitions", t.span)
                    ok = False
                otherwise = t
                out.append(ir.Transition(name, None, span=t.span, updates=ups))
                continue
            e = self.typer.expr_or_none(t.prob)
            if e is None:
                ok = False
                continue
            if not e.type.numeric:
                self.d.error("E020", f"a transition probability must be a number, but this is {type_words(e.type)}", t.prob.span)
                ok = False
                continue
            out.append(ir.Transition(name, e, span=t.span, updates=ups))
        chosen = checker_state.choices(self.scope, self.typer, p)
        if chosen is None:
            return None
        return ir.Phase(p.name.text, tuple(out), span=p.span, choices=chosen) if ok else None

    # ---- policies -----------------------------------------------------------------------------

    def policies(self) -> dict[str, ir.Policy]:
        out = {}
        for name, node in self.scope.policies.items():
            p = self._policy(node)
            if p is not None:
                out[name] = p
        return out

    def _policy(self, node: ast.PolicyDecl) -> ir.Policy | None:
        rules = []
        ok = True
        if not node.rules:
            self.d.warning(
                "W104",
                f"policy '{node.name.text}' has no rules: it never vetoes",
                node.name.span,
                hint="fine as a baseline (the generator alone); otherwise add `veto when ...`",
            )
        for r in node.rules:
            c = self.typer.expr_or_none(r.condition)
            if c is not None and c.type != ir.BOOL:
                self.d.error("E020", f"a veto condition must be a bool, but this is {type_words(c.type)}", r.condition.span)
                c = None
            s = ir.Const(Fraction(1), ir.REAL)
            if r.strength is not None:
                s = self.typer.expr_or_none(r.strength)
                if s is not None and not s.type.numeric:
                    self.d.error("E020", f"a veto strength must be a number, but this is {type_words(s.type)}", r.strength.span)
                    s = None
            then = None
            if r.then is not None:
                then = r.then.text
                if then not in self.scope.phase_names:
                    self.d.error(
                        "E010",
                        f"the refusal target '{then}' is not a phase",
                        r.then.span,
                        hint=did_you_mean(then, self.scope.phase_names)
                        or ("a refusal that ends the trajectory needs no `then`; `then -> PHASE` goes on in a phase"
                            if then in ir.EXITS else "declare the phase in the trajectory"),
                    )
                    ok = False
            ups = checker_state.updates(self.scope, self.typer, r.updates)
            if c is None or s is None or ups is None:
                ok = False
                continue
            rules.append(ir.Rule(c, s, span=r.span, then=then, updates=ups))
        return ir.Policy(node.name.text, tuple(rules), span=node.name.span) if ok else None

    # ---- checks -------------------------------------------------------------------------------

    def checks(self, trajectory: ir.Trajectory | None) -> list[ir.Check]:
        out = []
        for block in self.scope.checks:
            policies = []
            for p in block.policies:
                if p.text not in self.scope.policies:
                    self.d.error(
                        "E010", f"there is no policy '{p.text}'", p.span, hint=did_you_mean(p.text, self.scope.policies)
                    )
                else:
                    policies.append(p.text)
            for item in block.items:
                prop = self._property(item, trajectory)
                if prop is not None:
                    out.extend(ir.Check(p, prop, span=item.span) for p in policies)
        return out

    def _property(self, item: ast.CheckItem, trajectory: ir.Trajectory | None) -> ir.Property | None:
        written = tuple(n.text for n in item.under)
        if item.kind == "invariant":
            return self._invariance(item, written)
        if item.kind == "complete at":
            return self._complete_at(item)
        if any(n.text == "phase" for n in item.under):
            bad = next(n for n in item.under if n.text == "phase")
            self.d.error(
                "E050",
                "a quantitative check cannot range over phase: a trajectory moves through its phases",
                bad.span,
                hint="`invariant under phase` asks whether the veto is the same in every phase",
            )
            return None
        adversaries = [n for n in item.under if n.text == "adversaries"]
        if adversaries and item.kind != "bound":
            self.d.error(
                "E050",
                "only a bound ranges over adversaries (`P(harm) <= 0.01 for all adversaries`)",
                adversaries[0].span,
                hint="a gap or an outcome invariance compares assignments, not adversaries; "
                "bound Pmax and Pmin of the measure instead",
            )
            return None
        if self.scope.mdp and item.kind in ("gap", "outcome invariant"):
            self.d.error(
                "E097",
                f"{'a gap check' if item.kind == 'gap' else 'an outcome invariance'} is not defined over adversaries yet: "
                "this trajectory has choice points (an MDP)",
                item.span,
                hint="bound the measure's worst and best cases instead: `Pmax(harm) <= ...`, `Pmin(harm) >= ...`",
            )
            return None
        if item.kind == "outcome invariant":
            return self._outcome_invariance(item, trajectory, written)
        keyword = ir.KEYWORD_PROPERTIES.get(item.kind)
        if keyword is not None:
            if keyword.needs_trajectory and not self.scope.trajectories:
                self.d.error("E050", f"'{item.kind}' needs a trajectory", item.span, hint="declare `trajectory { ... }`")
                return None
            return keyword()
        # bound and gap: decided by the exact engine, so they need a finite horizon.
        # `for all adversaries`: a bound <= holds for the worst adversary (Pmax), >= for the best.
        extremum = ("max" if item.op == "<=" else "min") if adversaries else None
        if adversaries and item.measure.extremum is not None:
            self.d.error(
                "E050",
                f"{item.measure.text} already takes its case over adversaries; `for all adversaries` says it twice",
                adversaries[0].span,
                hint=f"write `{item.measure.text} {item.op} ...` or `{item.measure.kind}(...) {item.op} ... for all adversaries`",
            )
            return None
        measure = resolve_measure(item.measure, self.scope, extremum)
        if measure is None:
            return None
        bound = Fraction(item.bound.value)
        if not self._quantitative_ok(item, trajectory, measure, bound):
            return None
        rest = [n for n in item.under if n.text != "adversaries"]
        r = self.scope.var_list(rest, False, "a quantitative check")
        if r is None:
            return None
        if item.kind == "bound":
            return ir.Bound(measure, ir.CmpOp(item.op), bound, r[0], written=written)
        return ir.Gap(measure, r[0], bound, written=written)

    def _invariance(self, item: ast.CheckItem, written) -> ir.Invariance | None:
        phases = [n for n in item.under if n.text == "phase"]
        if phases and not self.scope.trajectories:
            self.d.error("E050", "'invariant under phase' needs a trajectory", phases[0].span, hint="declare `trajectory { ... }`")
            return None
        rest = [n for n in item.under if n.text != "phase"]
        r = self.scope.var_list(rest, True, "invariance", allow_state=True) if rest else ((), False)
        if r is None:
            return None
        return ir.Invariance(r[0], r[1], written=written, phase=bool(phases))

    def _complete_at(self, item: ast.CheckItem) -> ir.CompleteAt | None:
        if not self.scope.trajectories:
            self.d.error("E050", "'complete at' needs a trajectory", item.span, hint="declare `trajectory { ... }`")
            return None
        out: dict[str, None] = {}
        ok = True
        for n in item.under:
            if n.text not in self.scope.phase_names:
                self.d.error(
                    "E010",
                    f"'{n.text}' is not a phase",
                    n.span,
                    hint=did_you_mean(n.text, self.scope.phase_names) or "`complete at` lists phases of the trajectory",
                )
                ok = False
            out[n.text] = None
        return ir.CompleteAt(tuple(out)) if ok else None

    def _outcome_invariance(self, item: ast.CheckItem, trajectory, written) -> ir.OutcomeInvariance | None:
        measure = resolve_measure(item.measure, self.scope)
        if measure is None:
            return None
        if not self._quantitative_ok(item, trajectory, measure, Fraction(0)):
            return None
        r = self.scope.var_list(item.under, False, "an outcome invariance")
        if r is None:
            return None
        return ir.OutcomeInvariance(measure, r[0], written=written)

    def _quantitative_ok(self, item: ast.CheckItem, trajectory, measure, bound: Fraction) -> bool:
        what = {"gap": "a gap check", "outcome invariant": f"'invariant {measure.text} under ...'"}.get(
            item.kind, f"'{measure.text} {item.op} ...'"
        )
        if not self.scope.trajectories:
            self.d.error("E061", f"{what} needs a trajectory", item.span, hint="declare `trajectory { ... }`")
            return False
        if trajectory is not None and trajectory.horizon is None:
            self.d.error(
                "E061",
                f"{what} needs a finite horizon; this trajectory has `horizon none`",
                item.span,
                hint="probabilities are computed exactly up to the horizon; give one, e.g. `horizon 64`",
            )
            return False
        if measure.is_probability and not 0 <= bound <= 1:
            self.d.error("E023", f"a probability bound must lie in [0, 1], not {item.bound.text}", item.bound.span)
            return False
        if bound < 0:
            self.d.error("E023", f"the bound {item.bound.text} is negative", item.bound.span)
            return False
        return True
