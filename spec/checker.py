"""The checker: the stage from ASTs to the frozen IR, wiring the passes of one job each.

Consumes: the ASTs of a spec's main file and of the files it uses (from :mod:`.loader`).
Produces: an :class:`~libet.spec.ir.Spec`, or ``None``, and diagnostics in either case.

Passes, in order, each in its own module:

1. *names* (:mod:`.checker_names`): collect every declaration into its namespace (duplicates,
   reserved words); variables with their domains and weights, params with their ranges;
2. *typed expressions* (:mod:`.checker_exprs`): every def and value to typed IR (undefined
   names, type errors, out-of-domain literals, functions and their arity), in dependency
   order (cycles are errors);
3. *structure* (:mod:`.checker_structure`): trajectory, policies and checks, their measures
   built by :mod:`.checker_measures`;
4. *experiments* (:mod:`.checker_experiments`);
5. *semantics* (:mod:`.semantics`, only when 1-4 found no errors): reference values read
   substance only; transition probabilities and veto strengths lie in [0, 1] and sum to 1,
   checked by the reference interpreter over the finite domains where the state space is small
   enough; unreachable phases and unused declarations (warnings).

Every pass reports to one :class:`~libet.spec.diagnostics.Diagnostics` and goes on after an
error, so a file's errors are reported at once.
"""

from __future__ import annotations

from libet.spec import ast, ir
from libet.spec.checker_experiments import experiment
from libet.spec.checker_exprs import Typer
from libet.spec.checker_names import MAX_DOMAIN, RESERVED, Decl, Scope
from libet.spec.checker_structure import MAX_HORIZON, Structure
from libet.spec.diagnostics import Diagnostics

__all__ = [
    "Checker",
    "ENUMERATION_BUDGET",
    "MAX_DOMAIN",
    "MAX_HORIZON",
    "RESERVED",
    "STATE_NODES",
    "UNBOUNDED_CHECK_DEPTHS",
    "VECTOR_BUDGET",
    "VECTOR_MIN",
    "VECTOR_PHASE_MIN",
    "check",
]

#: Largest number of (assignment, phase, depth) states the probability checks enumerate one at
#: a time with the interpreter.
ENUMERATION_BUDGET = 200_000
#: Every count of states below weighs a state by its expressions' size: one per this many
#: nodes an evaluation visits (spec/semantics.py's ``weight``), about a typical phase's
#: transitions, so that the budgets bound the interpreter's work, not only its calls.
STATE_NODES = 16
#: When the phases that can be checked over numpy arrays (those reading no state variable)
#: span more states than this in all, they are (spec/vectorize.py; the interpreter replays only
#: the states the arrays single out): about as many as the interpreter checks in the time numpy
#: takes to import, which a smaller spec does not pay ...
VECTOR_MIN = 20_000
#: ... each phase of more than this many states (below it the interpreter is quicker than a
#: phase's arrays are to set up; a phase the budget left cannot take goes over arrays anyway) ...
VECTOR_PHASE_MIN = 100
#: ... up to this many states in all, over the whole spec (about a second).
VECTOR_BUDGET = 50_000_000
#: Depths checked for a trajectory with ``horizon none``.
UNBOUNDED_CHECK_DEPTHS = 1024


class Checker:
    """Checks the modules of one spec. Use :func:`check`."""

    def __init__(self, modules: list[tuple[ast.Module, bool]], diags: Diagnostics):
        self.modules = modules
        self.d = diags
        self.scope = Scope(modules, diags)

    @property
    def names(self) -> dict[str, Decl]:
        """The shared namespace (variables, params, defs, values) with where each was declared."""
        return self.scope.names

    def run(self) -> ir.Spec | None:
        main = next(m for m, is_main in self.modules if is_main)
        if not main.items:
            self.d.error(
                "E004",
                "the spec is empty: it declares nothing",
                main.header_span or ir.Span(main.file, 1, 1, 1, 1),
                hint="declare at least the substance of requests, e.g. `substance { topic: {benign, harmful} }`; "
                "docs/tutorial.md walks through a first spec",
            )
            return None
        scope = self.scope
        scope.declare()
        typer = Typer(scope)
        typer.resolve_declarations()
        from libet.spec import structural

        structural.type_weights(scope, typer, self.d)
        structure = Structure(scope, typer)
        trajectory = structure.trajectory()
        policies = structure.policies()
        checks = structure.checks(trajectory)
        experiments = {}
        for name, node in scope.experiments.items():
            e = experiment(node, scope, trajectory)
            if e is not None:
                experiments[name] = e
        if self.d.has_errors:
            return None
        spec = ir.Spec(
            title=scope.title,
            variables=scope.variables,
            params=scope.params,
            defs={n: typer.defs[n] for n in scope.names if n in typer.defs},
            values={n: typer.values[n] for n in scope.names if n in typer.values},
            trajectory=trajectory,
            policies=policies,
            checks=tuple(checks),
            experiments=experiments,
            files=(main.file,) + tuple(m.file for m, is_main in self.modules if not is_main),
            state=scope.state,
        )
        spec = structural.defaults(spec, self.d)
        if spec is None:
            return None
        from libet.spec import semantics

        semantics.check(spec, self, self.d)
        return None if self.d.has_errors else spec


def check(modules: list[tuple[ast.Module, bool]], diags: Diagnostics) -> ir.Spec | None:
    """Check the parsed modules of one spec into IR: ``(module, is_main)`` pairs in declaration
    order (used files first, the main file, marked True, last)."""
    return Checker(modules, diags).run()
