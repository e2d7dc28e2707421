"""Orchestration: "check everything", "simulate", "export", "run everything", in one place.

Consumes: a checked :class:`~libet.spec.ir.Spec`, selections (policies, check names), options
(timeout, resource limit, params, fixed variables, engine) and an output folder for ``run``.
Produces: :class:`~libet.results.CheckResult` lists in the spec's order, a
:class:`~libet.simulator.simulation.SimulationResult`, and :class:`RunSummary` (what ``libet
run`` writes and prints).

This module only directs: it validates the options once (spec/overrides.py), looks every check
up in the check-kind registry (:mod:`libet.registry`) and hands each family (the Z3 checker,
the exact engine) the checks it decides. The Python API (:mod:`libet.api`) and the commands
(:mod:`libet.commands`) are thin layers over it; no engine imports either.
"""

from __future__ import annotations

import csv
import io
import os
import shutil
from typing import Any, Callable, Iterable, Iterator, Mapping

import attrs

from libet.errors import EvaluationError, UsageError
from libet.results import CheckResult, exit_code
from libet.spec import ir
from libet.spec.diagnostics import did_you_mean
from libet.spec.overrides import check_fixed, check_overrides
from libet.spec.printer import name_list
from libet.spec.select import select_checks

DEFAULT_TIMEOUT = 30.0


def select(
    spec: ir.Spec,
    policies: Iterable[str] | None = None,
    checks: Iterable[str] | None = None,
    families: Iterable[str] | None = None,
) -> list[ir.Check]:
    """The checks the selections name, in the spec's order, among those the ``families``
    decide (default: all).

    Raises:
        UsageError: a policy or a check name the spec does not have (with the closest name).
    """
    from libet import registry

    if families is None:
        return select_checks(spec, policies, checks)
    keep = set(families)
    what = f"{registry.LABELS[next(iter(keep))]} check" if len(keep) == 1 else "check"
    return select_checks(spec, policies, checks, lambda c: registry.family_of(c.prop) in keep, what)


def iter_check(
    spec: ir.Spec,
    *,
    policies: Iterable[str] | None = None,
    checks: Iterable[str] | None = None,
    families: Iterable[str] | None = None,
    timeout: float = DEFAULT_TIMEOUT,
    rlimit: int | None = None,
    params: Mapping[str, Any] | None = None,
    fixed: Mapping[str, Any] | None = None,
    exact: bool = False,
) -> Iterator[tuple[ir.Check, Callable[[], CheckResult]]]:
    """The selected checks as ``(check, decide)`` pairs in the spec's order; ``decide()``
    decides that one check (so a caller can show progress). Every option is validated before
    the first pair is yielded. ``families`` limits the checks to those decided by the named
    families (``"proofs"``, ``"simulator"``).

    Raises:
        UsageError: an unknown policy, check, param or variable; a bad timeout or limit.
    """
    from libet import registry
    from libet.proofs.solve import check_limits

    params = check_overrides(spec, params)
    fixed = check_fixed(spec, fixed)
    timeout, rlimit = check_limits(timeout, rlimit)
    selected = select(spec, policies, checks, families)
    kinds = registry.check_kinds()
    by_family: dict[str, list[ir.Check]] = {}
    for c in selected:
        by_family.setdefault(kinds[type(c.prop)][0], []).append(c)
    thunks: dict[int, Callable[[], CheckResult]] = {}
    if by_family.get("proofs"):
        from libet.proofs.prove import iter_decide

        pairs = iter_decide(spec, by_family["proofs"], timeout=timeout, rlimit=rlimit, params=params, fixed=fixed)
        thunks.update((id(c), run) for c, run in pairs)
    if by_family.get("simulator"):
        from libet.simulator import checks as quantitative

        mine = by_family["simulator"]
        needs: dict = {}
        for c in mine:
            needs.setdefault(c.policy, {}).update(dict.fromkeys(quantitative.KINDS[type(c.prop)].measures(c.prop)))
        cache: dict = {}
        for c in mine:
            thunks[id(c)] = (
                lambda c=c: quantitative.decide(
                    spec, c, params=params, fixed=fixed, exact=exact, cache=cache, measures=tuple(needs[c.policy])
                )
            )
    for c in selected:
        yield c, thunks[id(c)]


def check(spec: ir.Spec, **options) -> list[CheckResult]:
    """Decide every selected check, qualitative (Z3) and quantitative (the exact engine), in
    the spec's order. Options as :func:`iter_check`."""
    return [decide() for _, decide in iter_check(spec, **options)]


def simulate(
    spec: ir.Spec,
    policies: Iterable[str] | None = None,
    *,
    engine: str = "exact",
    runs: int = 10_000,
    seed: int = 0,
    params: Mapping[str, Any] | None = None,
    fixed: Mapping[str, Any] | None = None,
    exact: bool = False,
    measures=None,
    confidence: float = 0.95,
    progress: Callable[[str, int], Callable[[int], None] | None] | None = None,
):
    """Each policy's measures, through the engine registry (``libet simulate`` and
    ``Specification.simulate``). See :func:`libet.simulator.simulation.simulate`."""
    from libet.simulator.simulation import simulate as run_simulation

    if not spec.policies:
        raise UsageError("the spec has no policy: there is nothing to simulate",
                         "declare one, e.g. `policy p { veto when harmful }`")
    pols = list(spec.policies) if policies is None else list(policies)
    for p in pols:
        if p not in spec.policies:
            raise UsageError(
                f"there is no policy {p!r} (policies: {name_list(spec.policies)})", did_you_mean(p, spec.policies)
            )
    return run_simulation(
        spec, pols, engine=engine, runs=runs, seed=seed, params=check_overrides(spec, params),
        fixed=check_fixed(spec, fixed), exact=exact, measures=measures, confidence=confidence, progress=progress,
    )


def export_prism(
    spec: ir.Spec,
    policy: str,
    *,
    params: Mapping[str, Any] | None = None,
    fixed: Mapping[str, Any] | None = None,
) -> str:
    """The PRISM model of ``policy`` (``libet export --prism``), once the exact engine has
    solved it at these params and fixed values.

    The export writes expressions, not numbers, so nothing in it evaluates them: the load's
    checks did, at the declared params, over the states their budget reached. At other params
    (``--set``), or past that budget, a probability outside [0, 1] would be written into a
    model PRISM and Storm read without complaint (a branch of 1.5 clamped beside its
    ``otherwise``). Solving P(harm) first evaluates every reachable state, and a state with no
    valid value is the same EvaluationError, at the same place, as ``libet simulate`` reports.

    A model the engine refuses (too large for its tables, or more than 64 variables read) is
    still exported, as before, with a first comment line saying it was not solved first.

    Raises:
        UsageError: as :func:`libet.simulator.prism.to_prism`.
        EvaluationError: a reachable state whose probabilities have no valid value.
    """
    from libet.simulator.prism import to_prism
    from libet.spec import measures as ms

    # with choice points, the largest P(harm) over adversaries: its solve tries every option
    harm = ms.parse("Pmax(harm)") if spec.is_mdp else ms.HARM
    note = ""
    try:
        simulate(spec, [policy], params=params, fixed=fixed, measures=[harm])
    except UsageError as exc:  # the engine refuses the model (too large, more than 64 axes): PRISM may not
        note = (f"// not solved by libet before the export ({exc}): its probabilities were checked by the load, "
                "at the declared params, over the states its budget reached\n")
    return note + to_prism(spec, policy, params=check_overrides(spec, params), fixed=check_fixed(spec, fixed))


@attrs.frozen(eq=False)
class RunSummary:
    """What ``libet run`` did: every check's result, every experiment's table, the files
    written, the summary as plain data (``results.json``) and the exit code."""

    out: str
    results: list
    experiments: list
    graphs: list
    files: list
    data: dict
    exit_code: int
    #: the experiments that could not run (a model too large to solve, ...): name -> why
    not_run: dict = attrs.field(factory=dict)


def run(
    spec: ir.Spec,
    out: str,
    *,
    sources: Mapping[str, str] | None = None,
    params: Mapping[str, Any] | None = None,
    fixed: Mapping[str, Any] | None = None,
    timeout: float = DEFAULT_TIMEOUT,
    force: bool = False,
    log_y: bool = False,
    progress: Callable[[str, int], Callable[[int], None] | None] | None = None,
) -> RunSummary:
    """Every check and experiment of ``spec`` and a trajectory graph per policy, written into
    the folder ``out``: ``results.json``, ``checks.csv``, ``experiments/`` (CSV, JSON, plots)
    and ``graphs/`` (DOT, and SVG when graphviz's ``dot`` is installed). ``log_y`` draws the
    experiments' plots on log y axes.

    ``progress(description, total)`` may return a callback ``advance(n)`` (a progress bar).

    Raises:
        UsageError: ``out`` exists and ``force`` is not given; a bad option.
    """
    import libet
    from libet.files import check_folder, json_text, write_atomic
    from libet.simulator.experiments import run_experiment, spec_hash

    if not isinstance(out, (str, os.PathLike)) or not os.fspath(out):
        raise UsageError(f"run writes into a folder: give its path, not {out!r}")
    params = check_overrides(spec, params)
    fixed = check_fixed(spec, fixed)
    check_folder(out, force)
    # A name an experiment sweeps keeps its sweep there (the sweep is the experiment's point),
    # and one its `set` line fixes keeps that value (the line is its scenario); --set applies
    # to the checks and to every other experiment, and a note says so.
    notes: list[str] = []
    own: dict[str, set[str]] = {}  # experiment -> the names it sweeps or sets itself
    for name, exp in spec.experiments.items():
        own[name] = {v.name for v in exp.vary} | {n for n, _ in exp.set}
        for n, v in [(v.name, None) for v in exp.vary] + list(exp.set):  # None: swept
            given = fixed.get(n, params.get(n, v))
            if given != v:
                how = f"sweeps {n} and keeps its sweep" if v is None else f"sets {n} = {_plain(v)} and keeps it"
                notes.append(f"--set {n}={_plain(given)} applies to the checks and the other experiments; "
                             f"experiment {name} {how}")
    os.makedirs(out, exist_ok=True)
    pairs = list(iter_check(spec, timeout=timeout, params=params, fixed=fixed))
    advance = progress("checking", len(pairs)) if progress and pairs else None
    results = []
    for _, decide in pairs:
        results.append(decide())
        if advance:
            advance(1)
    files: list[str] = []
    exps = []
    listed = []  # results.json's entry of each experiment, run or not, in the spec's order
    not_run: dict[str, str] = {}
    for name, exp in spec.experiments.items():
        adv = progress(f"experiment {name}", _points(exp)) if progress else None
        try:
            r = run_experiment(spec, name, params={k: v for k, v in params.items() if k not in own[name]},
                               fixed={k: v for k, v in fixed.items() if k not in own[name]}, sources=sources, progress=adv)
        except (UsageError, EvaluationError) as exc:  # the checks and the other experiments stand without it
            not_run[name] = exc.text() if isinstance(exc, UsageError) else f"{exc} (error[{exc.code}])"
            listed.append({"name": name, "not_run": not_run[name]})
            continue
        written = r.write(os.path.join(out, "experiments"), log=log_y, force=True)  # `out` checked above
        files += written
        exps.append(r)
        listed.append({"name": r.name, **r.metadata(), "files": written})
    graphs = _graphs(spec, os.path.join(out, "graphs"), notes) if spec.trajectory is not None else []
    from libet import report

    data = {
        "spec": spec.title,
        "spec_sha256": spec_hash(sources, spec),
        "libet_version": libet.__version__,
        "params": {k: int(v) if spec.params[k].integer else float(v) for k, v in params.items()},
        "set": dict(fixed),
        "timeout": timeout,
        "summary": report.spec_summary(spec),
        "versions": report.versions(),
        "sources": {name: sources[name] for name in (list(spec.files) or list(sources)) if name in sources}
        if sources else {},
        "checks": [{**r.to_json(), "text": full_detail(r)} for r in results],
        "experiments": listed,
        "graphs": graphs,
        "notes": notes,
    }
    write_atomic(os.path.join(out, "results.json"), json_text(data) + "\n")
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(CheckResult.COLUMNS)
    for r in results:
        w.writerow([r.policy, r.check, r.status.value, r.engine, f"{r.seconds:.3f}", detail(r)])
    write_atomic(os.path.join(out, "checks.csv"), buf.getvalue())
    files.append(report.write(out, force=True))
    code = exit_code(results)
    return RunSummary(out, results, exps, graphs, files, data, 3 if code == 0 and not_run else code, not_run)


def _plain(v) -> str:
    from fractions import Fraction

    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, Fraction):
        return f"{float(v):g}"
    return str(v)


def _points(exp: ir.Experiment) -> int:
    import math

    return len(exp.policies) * math.prod(len(v.values) for v in exp.vary)


def _graphs(spec: ir.Spec, folder: str, notes: list[str]) -> list[str]:
    """Each policy's graph as DOT, and as SVG where ``dot`` draws it (a note says why not)."""
    from libet.errors import UsageError
    from libet.files import write_atomic
    from libet.simulator.graph import render, trajectory_graph

    os.makedirs(folder, exist_ok=True)
    out = []
    for p in spec.policies:
        g = trajectory_graph(spec, p)
        path = os.path.join(folder, f"{p}.dot")
        write_atomic(path, g.source)
        out.append(path)
        if shutil.which("dot"):
            svg = os.path.join(folder, f"{p}.svg")
            try:
                write_atomic(svg, render(g, "svg"))
            except UsageError as exc:
                notes.append(f"the graph of policy {p} is in {os.path.basename(folder)}/{p}.dot only: {exc}")
                continue
            out.append(svg)
    return out


def full_detail(r: CheckResult) -> str:
    """The evidence of a result as its engine words it (several lines), or its reason."""
    ev = r.counterexample or r.proof
    return ev.describe() if ev is not None and hasattr(ev, "describe") else (r.reason or "")


def detail(r: CheckResult) -> str:
    """One line saying why a result is what it is: its evidence, or its reason."""
    ev = r.counterexample or r.proof
    text = ev.describe() if ev is not None and hasattr(ev, "describe") else (r.reason or "")
    return " ".join(text.split())
