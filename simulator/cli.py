"""The simulator's commands: ``libet simulate``, ``libet export``, ``libet graph``, ``libet run``.

Consumes: command-line arguments.
Produces: tables on stdout (or JSON with ``--json``), files written atomically, exit codes
(DESIGN.md §5): 0 ok / all proved, 1 some check violated, 2 bad spec or command, 3 some check
unknown. Bad input never shows a traceback (``clitools.guard``).
"""

from __future__ import annotations

import contextlib
import csv
import io
import json
import os
import shutil
import sys
import time

import click

from libet import clitools
from libet.clitools import emit_json, fail, guard, load_or_exit, parse_sets, write_atomic
from libet.errors import UsageError
from libet.spec import ir
from libet.spec import measures as ms

PROBABILITIES = (
    ms.HARM,
    ms.VETOED,
    ms.STOPPED,
    ms.DELIVERED,
    ms.OVER_REFUSAL,
    ms.DEPTH,
)


def _console(stderr: bool = False):
    from rich.console import Console

    return Console(stderr=stderr, highlight=False, soft_wrap=False, width=None if sys.stdout.isatty() else 160)


@contextlib.contextmanager
def progress_bar(total: int, description: str):
    """A rich progress bar on stderr when it is a terminal and the job is long; yields a
    callback ``advance(n)`` (or None)."""
    if total <= 0 or not sys.stderr.isatty():
        yield None
        return
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

    with Progress(
        TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeRemainingColumn(),
        transient=True, console=_console(stderr=True),
    ) as prog:
        task = prog.add_task(description, total=total)
        yield lambda n: prog.advance(task, n)


def _fmt(v) -> str:
    if v is None:
        return "-"
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, float):
        return f"{v:.6g}"
    return str(v)


def _check_out(out: str | None, force: bool) -> None:
    if out and os.path.exists(out) and not force:
        fail(f"{out} exists; pass --force to write into it", "or choose another folder with --out")
    if out and os.path.exists(out) and not os.path.isdir(out):
        fail(f"{out} exists and is not a folder")


def _sets(spec, items):
    try:
        return parse_sets(items, spec)
    except UsageError as exc:
        fail(str(exc))


# ---- simulate --------------------------------------------------------------------------------


@click.command()
@click.argument("file", type=click.Path(dir_okay=False))
@click.option("--experiment", "experiments", multiple=True, metavar="NAME", help="Run this experiment (repeatable; 'all' for every one).")
@click.option("--policy", "policies", multiple=True, metavar="P", help="Without --experiment: only these policies.")
@click.option("--engine", type=click.Choice(["exact", "mc"]), help="Override the engine (default: the experiment's; exact otherwise).")
@click.option("--runs", type=click.IntRange(min=1), help="Monte Carlo trajectories per point.")
@click.option("--seed", type=int, help="Monte Carlo seed (recorded with the results).")
@click.option("--set", "sets", multiple=True, metavar="NAME=VALUE", help="Override a param or fix a variable.")
@click.option("--exact", "rational", is_flag=True, help="Exact engine in rational arithmetic (small models).")
@click.option("--out", type=click.Path(file_okay=False), help="Write CSV, JSON and plots into this folder.")
@click.option("--force", is_flag=True, help="Write into --out even if it exists.")
@click.option("--json", "as_json", is_flag=True, help="Print results as JSON.")
@guard
def simulate(file, experiments, policies, engine, runs, seed, sets, rational, out, force, as_json):
    """Compute outcome probabilities of FILE's policies, or run its experiments."""
    from .experiments import run_experiment, spec_hash

    loaded = load_or_exit(file, as_json)
    spec = loaded.spec
    params, fixed = _sets(spec, sets)
    _check_out(out, force)
    if experiments:
        names = list(spec.experiments) if "all" in experiments else list(experiments)
        for n in names:
            if n not in spec.experiments:
                fail(f"there is no experiment {n!r}", f"experiments: {', '.join(spec.experiments) or 'none'}")
        results = []
        for n in names:
            exp = spec.experiments[n]
            clash = [v.name for v in exp.vary if v.name in fixed or v.name in params]
            if clash:
                fail(f"--set {clash[0]} conflicts with experiment {n!r}, which varies it")
            with progress_bar(_points(spec, exp), f"experiment {n}") as adv:
                results.append(
                    run_experiment(spec, n, params=params, fixed=fixed, engine=engine, runs=runs, seed=seed,
                                   sources=loaded.sources, progress=adv)
                )
        written = []
        if out:
            for r in results:
                written += r.write(out)
        if as_json:
            emit_json([r.to_json() for r in results])
        else:
            for r in results:
                _print_experiment(r)
            for p in written:
                click.echo(f"wrote {p}")
        sys.exit(0)
    # Plain simulation: each policy's measures averaged over the variables not fixed.
    pols = list(policies) or list(spec.policies)
    for p in pols:
        if p not in spec.policies:
            fail(f"there is no policy {p!r}", f"policies: {', '.join(spec.policies) or 'none'}")
    result = simulate_policies(spec, pols, params=params, fixed=fixed, engine=engine or "exact", runs=runs or 10_000,
                               seed=0 if seed is None else seed, exact=rational)
    result["spec_sha256"] = spec_hash(loaded.sources, spec)
    if out:
        os.makedirs(out, exist_ok=True)
        write_atomic(os.path.join(out, "simulation.json"), json.dumps(result, indent=2, default=_jd) + "\n")
        write_atomic(os.path.join(out, "simulation.csv"), _rows_csv(result["rows"]))
    if as_json:
        emit_json(result)
    else:
        _print_rows(result)
        if out:
            click.echo(f"wrote {os.path.join(out, 'simulation.json')} and simulation.csv")
    sys.exit(0)


def _jd(o):
    from fractions import Fraction

    if isinstance(o, Fraction):
        return float(o)
    raise TypeError(type(o).__name__)


def _points(spec, exp) -> int:
    import math

    return len(exp.policies) * math.prod(len(v.values) for v in exp.vary)


def simulate_policies(spec, policies, *, params=None, fixed=None, engine="exact", runs=10_000, seed=0, exact=False) -> dict:
    """Each policy's measures, averaged over the variables not fixed (and, exactly, the worst
    P(harm) over every assignment). Returns plain data."""
    import libet

    from . import montecarlo
    from .exact import solve
    from .model import Model

    rows = []
    for p in policies:
        model = Model(spec, p, params, fixed, exact=exact and engine == "exact")
        row = {"policy": p}
        if engine == "exact":
            tab = solve(model)
            for m in PROBABILITIES:
                v = tab.aggregate(m).value
                row[m.value] = float(v) if v is not None else None
            worst = tab.aggregate(ms.HARM, worst_over=tuple(tab.names))
            row["max P(harm)"] = float(worst.value)
            row["worst assignment"] = worst.worst
            row["classes"] = tab.n_classes
        else:
            est = montecarlo.run(model, runs, seed)
            for m in PROBABILITIES:
                e = est[m]
                row[m.value] = e.value
                row[f"{m.value} low"] = e.low
                row[f"{m.value} high"] = e.high
            row["steps"] = est.steps
        rows.append(row)
    how = ", ".join(n for n in spec.variables if n not in (fixed or {})) or "nothing"
    return {
        "spec": spec.title,
        "engine": engine + (" (rational)" if exact and engine == "exact" else ""),
        "runs": runs if engine == "mc" else None,
        "seed": seed if engine == "mc" else None,
        "params": {n: float(v) for n, v in (params or {}).items()},
        "set": dict(fixed or {}),
        "averaged_over": how,
        "libet_version": libet.__version__,
        "rows": rows,
    }


def _rows_csv(rows) -> str:
    buf = io.StringIO()
    cols = list(dict.fromkeys(k for r in rows for k in r if k != "worst assignment"))
    w = csv.DictWriter(buf, fieldnames=cols, extrasaction="ignore", lineterminator="\n")
    w.writeheader()
    for r in rows:
        w.writerow(r)
    return buf.getvalue()


def _print_rows(result) -> None:
    from rich.table import Table

    t = Table(title=f"{result['spec']} — {result['engine']}, average over {result['averaged_over']}")
    t.add_column("policy")
    for m in PROBABILITIES:
        t.add_column(m.value, justify="right")
    extra = "max P(harm)" in result["rows"][0] if result["rows"] else False
    if extra:
        t.add_column("max P(harm)", justify="right")
    for r in result["rows"]:
        cells = [r["policy"]]
        for m in PROBABILITIES:
            v = _fmt(r[m.value])
            if f"{m.value} low" in r:
                v += f" [{r[f'{m.value} low']:.3g}, {r[f'{m.value} high']:.3g}]"
            cells.append(v)
        if extra:
            w = r["worst assignment"] or {}
            cells.append(_fmt(r["max P(harm)"]) + (" at " + ", ".join(f"{k}={_fmt(v)}" for k, v in w.items()) if w and r["max P(harm)"] else ""))
        t.add_row(*cells)
    _console().print(t)


def _print_experiment(r) -> None:
    from rich.table import Table

    extra = f"runs {r.runs}, seed {r.seed}" if r.engine == "mc" else "exact"
    t = Table(title=f"experiment {r.name} ({extra}; {r.aggregation})")
    for c in ["policy", *r.vary, *r.measures]:
        t.add_column(c, justify="left" if c == "policy" else "right")
    for row in r.rows:
        cells = [row["policy"], *[_fmt(row[v]) for v in r.vary]]
        for m in r.measures:
            v = _fmt(row[m])
            if f"{m} low" in row:
                v += f" [{row[f'{m} low']:.3g}, {row[f'{m} high']:.3g}]"
            cells.append(v)
        t.add_row(*cells)
    _console().print(t)


# ---- export ----------------------------------------------------------------------------------


def _pick_policy(spec, policy):
    if policy:
        if policy not in spec.policies:
            fail(f"there is no policy {policy!r}", f"policies: {', '.join(spec.policies) or 'none'}")
        return policy
    if len(spec.policies) == 1:
        return next(iter(spec.policies))
    fail("the spec has several policies; name one with --policy", f"policies: {', '.join(spec.policies) or 'none'}")


@click.command()
@click.argument("file", type=click.Path(dir_okay=False))
@click.option("--prism", "fmt", flag_value="prism", default=True, help="PRISM-language DTMC (the only format).")
@click.option("--policy", metavar="P", help="The policy (needed when the spec has several).")
@click.option("--set", "sets", multiple=True, metavar="NAME=VALUE", help="Override a param or fix a variable.")
@click.option("-o", "--output", type=click.Path(dir_okay=False), help="Write here (default: stdout).")
@click.option("--force", is_flag=True, help="Overwrite OUTPUT if it exists.")
@guard
def export(file, fmt, policy, sets, output, force):
    """Export FILE's trajectory under a policy as a PRISM DTMC, for PRISM or Storm.

    Variables not fixed with --set are chosen at the start by their declared distribution
    (uniform unless weighted), so P=? [F "harm"] is libet's average P(harm)."""
    from .prism import to_prism

    loaded = load_or_exit(file)
    spec = loaded.spec
    params, fixed = _sets(spec, sets)
    policy = _pick_policy(spec, policy)
    text = to_prism(spec, policy, params=params, fixed=fixed)
    if output:
        write_atomic(output, text, overwrite=force)
        click.echo(f"wrote {output}", err=True)
    else:
        click.echo(text, nl=False)
    sys.exit(0)


# ---- graph -----------------------------------------------------------------------------------


@click.command()
@click.argument("file", type=click.Path(dir_okay=False))
@click.option("--policy", metavar="P", help="The policy whose veto is drawn (needed when there are several).")
@click.option("-o", "--output", type=click.Path(dir_okay=False), help="OUT.svg, .png, .pdf or .dot (default: DOT on stdout).")
@click.option("--force", is_flag=True, help="Overwrite OUTPUT if it exists.")
@click.option("--json", "as_json", is_flag=True, help="Print the graph's nodes and edges as JSON.")
@guard
def graph(file, policy, output, force, as_json):
    """Draw FILE's trajectory graph: phases, transitions with their probabilities, the veto."""
    from .graph import graph_data, trajectory_graph

    loaded = load_or_exit(file, as_json)
    spec = loaded.spec
    policy = _pick_policy(spec, policy)
    if as_json:
        emit_json(graph_data(spec, policy))
        sys.exit(0)
    g = trajectory_graph(spec, policy)
    if not output:
        click.echo(g.source, nl=False)
        sys.exit(0)
    ext = os.path.splitext(output)[1].lower().lstrip(".")
    if ext in ("dot", "gv"):
        write_atomic(output, g.source, overwrite=force)
    elif ext in ("svg", "png", "pdf"):
        if not force and os.path.exists(output):
            fail(f"{output} exists; pass --force to overwrite it")
        write_atomic(output, render(g, ext), overwrite=True)
    else:
        fail(f"cannot tell the format of {output!r}", "end it in .svg, .png, .pdf or .dot")
    click.echo(f"wrote {output}", err=True)
    sys.exit(0)


def render(g, fmt: str) -> bytes:
    """Render a graphviz graph with the ``dot`` program, or raise UsageError naming the fix."""
    import graphviz

    if shutil.which("dot") is None:
        exc = UsageError("the `dot` program (from the system package graphviz) is not installed")
        exc.hint = "install it (apt-get install graphviz, or `make graphviz`), or write a .dot file"
        raise exc
    try:
        return g.pipe(format=fmt)
    except graphviz.backend.ExecutableNotFound:  # pragma: no cover - raced with the check
        raise UsageError("the `dot` program is not installed") from None


# ---- run -------------------------------------------------------------------------------------


@click.command()
@click.argument("file", type=click.Path(dir_okay=False))
@click.option("--out", type=click.Path(file_okay=False), help="Output folder (default: FILE's name + '-results').")
@click.option("--force", is_flag=True, help="Write into --out even if it exists.")
@click.option("--set", "sets", multiple=True, metavar="NAME=VALUE", help="Override a param or fix a variable.")
@click.option("--timeout", type=float, default=30.0, show_default=True, help="Seconds per qualitative check.")
@click.option("--json", "as_json", is_flag=True, help="Print the summary as JSON.")
@guard
def run(file, out, force, sets, timeout, as_json):
    """Run every check and experiment of FILE; write results, plots and graphs to a folder."""
    loaded = load_or_exit(file, as_json)
    spec = loaded.spec
    params, fixed = _sets(spec, sets)
    if out is None:
        out = os.path.splitext(os.path.basename(file))[0] + "-results"
    _check_out(out, force)
    summary = run_all(spec, out, sources=loaded.sources, params=params, fixed=fixed, timeout=timeout)
    if as_json:
        emit_json(summary["json"])
    else:
        _print_summary(summary, out)
    sys.exit(summary["exit"])


def run_all(spec, out, *, sources=None, params=None, fixed=None, timeout=30.0) -> dict:
    """Every check (qualitative through libet.proofs, quantitative here), every experiment and a
    graph per policy, written into ``out``. Returns the summary (and the exit code)."""
    import libet
    from libet.results import CheckResult, Status, exit_code

    from .checks import quantitative_checks
    from .experiments import run_experiment, spec_hash

    os.makedirs(out, exist_ok=True)
    results: list[CheckResult] = []
    qualitative = [c for c in spec.checks if c.qualitative]
    if qualitative:
        try:
            from libet.proofs import prove
        except ImportError as exc:  # pragma: no cover - proofs ships with libet
            prove = None
            why = f"the Z3 checker is not available ({exc})"
        if prove is not None:
            with progress_bar(len(qualitative), "proving") as adv:
                got = prove(spec, timeout=timeout, params=params or None, fixed=fixed or None)
                if adv:
                    adv(len(qualitative))
            results += [r for r in got]
        else:
            results += [CheckResult(c.policy, c.name, Status.UNKNOWN, engine="z3", reason=why) for c in qualitative]
    results += quantitative_checks(spec, params=params, fixed=fixed)
    # Keep the spec's order of checks.
    order = {(c.policy, c.name): i for i, c in enumerate(spec.checks)}
    results.sort(key=lambda r: order.get((r.policy, r.check), len(order)))
    files = []
    exps = []
    for name, exp in spec.experiments.items():
        clash = [v.name for v in exp.vary if v.name in (fixed or {}) or v.name in (params or {})]
        if clash:
            raise UsageError(f"--set {clash[0]} conflicts with experiment {name!r}, which varies it")
        with progress_bar(_points(spec, exp), f"experiment {name}") as adv:
            r = run_experiment(spec, name, params=params, fixed=fixed, sources=sources, progress=adv)
        files += r.write(os.path.join(out, "experiments"))
        exps.append(r)
    graphs = []
    if spec.trajectory is not None:
        from .graph import trajectory_graph

        gdir = os.path.join(out, "graphs")
        os.makedirs(gdir, exist_ok=True)
        for p in spec.policies:
            g = trajectory_graph(spec, p)
            path = os.path.join(gdir, f"{p}.dot")
            write_atomic(path, g.source)
            graphs.append(path)
            if shutil.which("dot"):
                svg = os.path.join(gdir, f"{p}.svg")
                write_atomic(svg, render(g, "svg"))
                graphs.append(svg)
    data = {
        "spec": spec.title,
        "spec_sha256": spec_hash(sources, spec),
        "libet_version": libet.__version__,
        "params": {k: float(v) for k, v in (params or {}).items()},
        "set": dict(fixed or {}),
        "checks": [r.to_json() for r in results],
        "experiments": [{"name": r.name, **r.metadata(), "files": [f for f in files if os.path.basename(f).startswith(r.name)]} for r in exps],
        "graphs": graphs,
    }
    write_atomic(os.path.join(out, "results.json"), json.dumps(data, indent=2, default=clitools._json_default) + "\n")
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(["policy", "check", "status", "engine", "seconds", "detail"])
    for r in results:
        w.writerow([r.policy, r.check, r.status.value, r.engine, f"{r.seconds:.3f}", _detail(r)])
    write_atomic(os.path.join(out, "checks.csv"), buf.getvalue())
    code = exit_code(results)
    return {"results": results, "experiments": exps, "graphs": graphs, "files": files, "json": data, "exit": code}


def _detail(r) -> str:
    ev = r.counterexample or r.proof
    if ev is not None and hasattr(ev, "describe"):
        text = ev.describe()
    else:
        text = r.reason or ""
    return " ".join(text.split())


def _short(text: str, width: int = 150) -> str:
    return text if len(text) <= width else text[: width - 1].rsplit(" ", 1)[0] + " …"


def _print_summary(summary, out) -> None:
    from rich.table import Table

    console = _console()
    t = Table(title="checks")
    for c in ("policy", "check", "status", "engine", "time", "detail"):
        t.add_column(c, overflow="fold")
    style = {"PROVED": "green", "VIOLATED": "red", "UNKNOWN": "yellow"}
    for r in summary["results"]:
        t.add_row(r.policy, r.check, f"[{style[r.status.value]}]{r.status.value}[/]", r.engine, f"{r.seconds:.2f}s",
                  _short(_detail(r)))
    for e in summary["experiments"]:
        t.add_row("", f"experiment {e.name}", "[cyan]DONE[/]", e.engine, f"{e.seconds:.2f}s",
                  f"{len(e.rows)} rows; {', '.join(e.measures)} vs {', '.join(e.vary) or 'policy'}")
    console.print(t)
    counts = {}
    for r in summary["results"]:
        counts[r.status.value] = counts.get(r.status.value, 0) + 1
    console.print(", ".join(f"{n} {k.lower()}" for k, n in counts.items()) or "no checks")
    console.print(f"results, plots and graphs in {out}/ (results.json, checks.csv, experiments/, graphs/)")
