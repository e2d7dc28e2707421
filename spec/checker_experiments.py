"""Experiments: sweep declarations to IR.

Consumes: an :class:`~libet.spec.ast.ExperimentDecl`, the
:class:`~libet.spec.checker_names.Scope` (variables, params, policies) and the IR trajectory
(whether it has a horizon).
Produces: an :class:`~libet.spec.ir.Experiment` (defaults filled in: measures P(harm) and
P(vetoed), engine ``exact``, 10,000 runs, seed 0), or None after an error.

Diagnostics: E060 (a repeated line, no policies, a name varied or set twice or also in `worst
over`, an unknown engine, a malformed sweep), E061 (no trajectory, or one without a horizon),
E010 (an unknown policy, variable or param), E021 and E023 (a value outside a variable's domain
or a param's range), and those of :mod:`.checker_measures` for the `measure` line.

An engine is valid when the engine registry (:data:`libet.simulator.engines.ENGINES`) has it;
no engine name is written here.
"""

from __future__ import annotations

import math
from fractions import Fraction

from libet.spec import ast, ir
from libet.spec import measures as ms
from libet.spec.checker_exprs import type_words
from libet.spec.checker_measures import measure as resolve_measure
from libet.spec.checker_names import MISSING, Bad, Scope, num
from libet.spec.diagnostics import Note, did_you_mean

#: The measures of an experiment without a `measure` line.
DEFAULT_MEASURES = (ms.HARM, ms.VETOED)
#: Most points one sweep may have.
MAX_SWEEP = 100_000
#: Most rows an experiment may have (its policies times the product of its sweeps): a row is
#: about 1 KB and 7 us through the exact engine, so the limit is about 2 GB and 15 s.
MAX_ROWS = 2_000_000
#: Lines that may appear more than once.
_REPEATABLE = ("vary", "set")


def experiment(node: ast.ExperimentDecl, scope: Scope, trajectory: ir.Trajectory | None) -> ir.Experiment | None:
    """The IR of one experiment, or None after its diagnostics."""
    return _Experiment(node, scope).build(trajectory)


class _Experiment:
    def __init__(self, node: ast.ExperimentDecl, scope: Scope):
        self.node = node
        self.scope = scope
        self.d = scope.d
        self.fields: dict = {"vary": [], "set": []}

    def build(self, trajectory) -> ir.Experiment | None:
        node, name = self.node, self.node.name.text
        ok = True
        seen: dict[str, ast.ExpItem] = {}
        for item in node.items:
            if item.kind in seen and item.kind not in _REPEATABLE:
                self.d.error(
                    "E060",
                    f"experiment '{name}' has a second '{item.kind}' line",
                    item.span,
                    hint="list everything on one line, separated by commas",
                    notes=[Note("the first is here", seen[item.kind].span)],
                )
                ok = False
                continue
            seen[item.kind] = item
            try:
                self._item(item)
            except Bad:
                ok = False
        if not self.scope.trajectories:
            self.d.error("E061", f"experiment '{name}' needs a trajectory", node.name.span)
            return None
        if trajectory is not None and trajectory.horizon is None:
            self.d.error(
                "E061",
                f"experiment '{name}' runs on a trajectory without a horizon",
                node.name.span,
                hint="simulation needs a finite horizon; replace `horizon none` with e.g. `horizon 64`",
            )
            ok = False
        if "policies" not in seen:
            self.d.error("E060", f"experiment '{name}' names no policies", node.name.span, hint="add `policies P, Q`")
            ok = False
        fields = self.fields
        names = [v.name for v in fields["vary"]] + [n for n, _ in fields["set"]]
        for n in set(names):
            if names.count(n) > 1:
                self.d.error("E060", f"'{n}' is varied or set more than once in experiment '{name}'", node.name.span)
                ok = False
        rows = len(fields.get("policies", ())) * math.prod(len(v.values) for v in fields["vary"])
        if rows > MAX_ROWS:
            n_pol = len(fields["policies"])
            sizes = " x ".join([f"{n_pol} {'policy' if n_pol == 1 else 'policies'}"]
                               + [f"{len(v.values):,} values of {v.name}" for v in fields["vary"]])
            self.d.error("E060", f"experiment '{name}' has {rows:,} rows ({sizes}); the limit is {MAX_ROWS:,}",
                         node.name.span, hint="sweep fewer values (a larger `step`), or split the sweep into experiments")
            ok = False
        for n in fields.get("worst", ()):
            if n in names:
                self.d.error("E060", f"'{n}' is varied or set, so the worst case cannot range over it", node.name.span)
                ok = False
        if not ok:
            return None
        return ir.Experiment(
            name,
            fields["policies"],
            tuple(fields["vary"]),
            tuple(fields["set"]),
            fields.get("measure", DEFAULT_MEASURES),
            tuple(fields.get("worst", ())),
            fields.get("engine", "exact"),
            fields.get("runs", 10_000),
            fields.get("seed", 0),
            data=fields["data"].text if "data" in fields else None,
            data_span=fields["data"].span if "data" in fields else None,
            span=node.name.span,
        )

    def _item(self, item: ast.ExpItem) -> None:
        """Record one line in ``self.fields``; raise Bad after a diagnostic."""
        k, fields = item.kind, self.fields
        if k == "policies":
            for p in item.args:
                if p.text not in self.scope.policies:
                    self.d.error("E010", f"there is no policy '{p.text}'", p.span, hint=did_you_mean(p.text, self.scope.policies))
                    raise Bad
            first = {}
            for p in item.args:
                if first.setdefault(p.text, p) is not p:
                    self._twice(f"the policy '{p.text}'", p.span, first[p.text].span)
            fields["policies"] = tuple(first)
        elif k == "vary":
            name, sweep = item.args
            fields["vary"].append(ir.Vary(name.text, self._sweep(name, sweep), span=item.span))
        elif k == "set":
            for name, lit in item.args:
                fields["set"].append((name.text, self._setting(name, lit)))
        elif k == "measure":
            measures = [resolve_measure(m, self.scope) for m in item.args]
            if any(m is None for m in measures):
                raise Bad
            fields["measure"] = tuple(dict.fromkeys(measures))
        elif k == "worst":
            r = self.scope.var_list(item.args, False, "the worst case")
            if r is None:
                raise Bad
            fields["worst"] = r[0]
        elif k == "engine":
            word = item.args[0]
            from libet.simulator.engines import ENGINES

            if word.text not in ENGINES:
                engines = f"the engines are {', '.join(ENGINES)}"
                close = did_you_mean(word.text, ENGINES)
                self.d.error(
                    "E060",
                    f"unknown engine '{word.text}'",
                    word.span,
                    hint=f"{close} ({engines})" if close else engines,
                )
                raise Bad
            fields["engine"] = word.text
        elif k == "data":
            path = item.args[0]
            if not path.text.strip():
                self.d.error("E060", "`data` needs a file name", path.span, hint='e.g. data "measured.csv"')
                raise Bad
            fields["data"] = path
        elif k in ("runs", "seed"):
            n = item.args[0]
            if k == "runs" and n.value < 1:
                self.d.error("E023", "runs must be at least 1", n.span)
                raise Bad
            fields[k] = n.value

    def _twice(self, what: str, span, first) -> None:
        """E060 for something an experiment lists twice (its rows would be computed twice);
        raise Bad."""
        self.d.error("E060", f"{what} is listed twice", span, hint="remove the second: its rows would repeat the first's", notes=[Note("first listed here", first)])
        raise Bad

    def _target(self, name: ast.Name):
        """The variable or param an experiment line names; Bad after a diagnostic."""
        scope = self.scope
        if name.text in scope.variables:
            return scope.variables[name.text]
        if name.text in scope.params:
            return scope.params[name.text]
        decl = scope.names.get(name.text)
        if decl is not None and decl.kind in ("variable", "param"):
            raise Bad  # declared, but its declaration was refused with its own error
        self.d.error(
            "E010",
            f"'{name.text}' is not a variable or param",
            name.span,
            hint=did_you_mean(name.text, list(scope.variables) + list(scope.params)),
        )
        raise Bad

    def _setting(self, name: ast.Name, lit):
        target = self._target(name)
        if isinstance(target, ir.Variable):
            v = self.scope.domain_literal(lit, target.domain, name.text)
            if v is MISSING:
                raise Bad
            return v
        return self._param_value(target, lit)

    def _param_value(self, p: ir.Param, lit) -> Fraction:
        if not isinstance(lit, ast.Num):
            self.d.error("E020", f"param '{p.name}' takes a number", lit.span)
            raise Bad
        v = Fraction(lit.value)
        if (p.lo is not None and v < p.lo) or (p.hi is not None and v > p.hi):
            self.d.error("E023", f"{lit.text} lies outside the range [{num(p.lo)}, {num(p.hi)}] of param '{p.name}'", lit.span)
            raise Bad
        return v

    def _sweep(self, name: ast.Name, sweep: ast.Sweep) -> tuple:
        target = self._target(name)
        if sweep.lo is None:
            first = {}
            for lit in sweep.values:
                v = self._setting(name, lit)
                if first.setdefault(v, lit) is not lit:
                    self._twice(f"the value {ast.literal_text(lit)}", lit.span, first[v].span)
            return tuple(first)
        lo, hi = Fraction(sweep.lo.value), Fraction(sweep.hi.value)
        if isinstance(target, ir.Variable) and not isinstance(target.domain, ir.IntDomain):
            example = ", ".join(str(v).lower() for v in target.domain.values()[:2])
            self.d.error(
                "E060",
                f"'{name.text}' is {type_words(target.type)}; sweep it over a list, e.g. [{example}]",
                sweep.span,
            )
            raise Bad
        integral = isinstance(target, ir.Variable)
        whole = integral or target.integer  # an int variable or `param n: int`: step 1 unless given
        if sweep.step is None and not whole:
            self.d.error("E060", f"sweeping param '{name.text}' over a range needs a step", sweep.span, hint="add `step 0.1`")
            raise Bad
        step = Fraction(sweep.step.value) if sweep.step is not None else Fraction(1)
        if step <= 0 or lo > hi:
            self.d.error("E060", "a sweep needs lo <= hi and a positive step", sweep.span)
            raise Bad
        if whole and (step.denominator != 1 or lo.denominator != 1 or hi.denominator != 1):
            self.d.error("E060", f"'{name.text}' is a whole number: sweep it with whole bounds and step", sweep.span)
            raise Bad
        count = int((hi - lo) / step) + 1
        if count > MAX_SWEEP:
            self.d.error("E060", f"the sweep has {count:,} points; the limit is {MAX_SWEEP:,}", sweep.span,
                         hint="sweep fewer values, e.g. with a larger `step`")
            raise Bad
        out = []
        for v in (lo + i * step for i in range(count)):
            if integral:
                dom = target.domain
                if not dom.lo <= v <= dom.hi:
                    self.d.error("E021", f"{int(v)} lies outside the domain {dom} of '{name.text}'", sweep.span)
                    raise Bad
                out.append(int(v))
            else:
                if (target.lo is not None and v < target.lo) or (target.hi is not None and v > target.hi):
                    self.d.error(
                        "E023",
                        f"{float(v):g} lies outside the range [{num(target.lo)}, {num(target.hi)}] of param '{name.text}'",
                        sweep.span,
                    )
                    raise Bad
                out.append(v)
        return tuple(out)
