"""``libet simulate``, ``libet export`` and ``libet graph``: thin layers over the facade.

Consumes: command-line arguments.
Produces: tables on stdout (or JSON with ``--json``), files written atomically, exit codes
(DESIGN.md §5): 0 ok, 2 bad spec or command. Bad input never shows a traceback
(``clitools.guard``).
"""

from __future__ import annotations

import contextlib
import csv
import io
import os
import sys
import time

import click

from libet.clitools import emit_json, fail, guard, load_or_exit, parse_sets
from libet.files import check_folder, json_text, write_atomic
from libet.simulator import engines
from libet.spec import measures as ms
from libet.spec.printer import name_list


def console(stderr: bool = False):
    from rich.console import Console

    width = None
    if not sys.stdout.isatty():
        try:
            width = max(40, int(os.environ.get("COLUMNS", "")))
        except ValueError:
            width = 160
    return Console(stderr=stderr, highlight=False, soft_wrap=False, width=width)


#: Off a terminal, a long job reports a line on stderr every this many seconds (none before).
PROGRESS_LINE_EVERY = 30.0


class ProgressLines:
    """Progress as plain lines, for a stderr that is not a terminal (a log, a CI job): nothing
    for a job shorter than PROGRESS_LINE_EVERY seconds, then one line that often with the work
    done and the time left at the rate so far."""

    def __init__(self, total: int, description: str):
        self.total, self.description = total, description
        self.done = 0
        self.start = self.last = time.monotonic()

    def __call__(self, n: int) -> None:
        self.done += n
        now = time.monotonic()
        if now - self.last < PROGRESS_LINE_EVERY or not 0 < self.done < self.total:
            return
        self.last = now
        left = (now - self.start) * (self.total - self.done) / self.done
        click.echo(f"{self.description}: {self.done:,} of {self.total:,} ({100 * self.done / self.total:.0f}%), "
                   f"about {_duration(left)} left", err=True)


def _duration(seconds: float) -> str:
    if seconds < 90:
        return f"{seconds:.0f} s"
    if seconds < 5400:
        return f"{seconds / 60:.0f} min"
    if seconds < 172_800:
        return f"{seconds / 3600:.1f} h"
    return f"{seconds / 86_400:,.0f} days"


@contextlib.contextmanager
def progress_bar(total: int, description: str):
    """A rich progress bar on stderr when it is a terminal and the job is long, else
    :class:`ProgressLines`; yields a callback ``advance(n)`` (None for no work)."""
    if total <= 0:
        yield None
        return
    if not sys.stderr.isatty():
        yield ProgressLines(total, description)
        return
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

    with Progress(
        TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeRemainingColumn(),
        transient=True, console=console(stderr=True),
    ) as prog:
        task = prog.add_task(description, total=total)
        yield lambda n: prog.advance(task, n)


class Bars:
    """One progress bar at a time (a terminal shows one live display): asking for the next
    closes the last."""

    def __init__(self):
        self._stack = None

    def __call__(self, description: str, total: int):
        self.close()
        self._stack = contextlib.ExitStack()
        return self._stack.enter_context(progress_bar(total, description))

    def close(self) -> None:
        if self._stack is not None:
            self._stack.close()
            self._stack = None


def fmt(v) -> str:
    if v is None:
        return "-"
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, float):
        return f"{v:.6g}"
    return str(v)


# ---- simulate --------------------------------------------------------------------------------


@click.command()
@click.argument("file", type=click.Path(dir_okay=False))
@click.option("--experiment", "experiments", multiple=True, metavar="NAME", help="Run this experiment (repeatable; 'all' for every one).")
@click.option("--policy", "policies", multiple=True, metavar="P", help="Without --experiment: only these policies.")
@click.option("--engine", type=click.Choice(list(engines.ENGINES)), help="Override the engine (default: the experiment's; exact otherwise).")
@click.option("--runs", type=click.IntRange(min=1), help="Monte Carlo trajectories per point.")
@click.option("--seed", type=click.IntRange(min=0), help="Monte Carlo seed (recorded with the results).")
@click.option("--measure", "measures", multiple=True, metavar="M", help='Without --experiment: report these measures, e.g. "P(visit plan)" (repeatable).')
@click.option("--set", "sets", multiple=True, metavar="NAME=VALUE", help="Override a param or fix a variable.")
@click.option("--exact", "rational", is_flag=True, help="Exact engine in rational arithmetic (small models).")
@click.option("--out", type=click.Path(file_okay=False), help="Write CSV, JSON and plots into this folder.")
@click.option("--force", is_flag=True, help="Write into --out even if it exists.")
@click.option("--log-y", "log_y", is_flag=True, help="Draw the plots on a log y axis (small probabilities).")
@click.option("--json", "as_json", is_flag=True, help="Print results as JSON.")
@click.option("--workers", type=click.IntRange(min=1), help="With --experiment: solve its points on a local Dask cluster of N workers.")
@click.option("--scheduler", metavar="ADDRESS", help="With --experiment: solve its points on an existing Dask scheduler.")
@guard
def simulate(file, experiments, policies, engine, runs, seed, measures, sets, rational, out, force, log_y, as_json,
             workers, scheduler):
    """Compute outcome probabilities of FILE's policies, or run its experiments."""
    from libet import orchestrate
    from libet.simulator.experiments import run_experiment, spec_hash

    loaded = load_or_exit(file, as_json)
    spec = loaded.spec
    params, fixed = parse_sets(sets, spec)
    if out:
        check_folder(out, force)
    if experiments:
        if policies or measures:
            fail(f"{'--policy' if policies else '--measure'} is for a simulation without --experiment: an experiment "
                 "runs the policies and measures its declaration names",
                 f"drop {'--policy' if policies else '--measure'}, or change the experiment's `policies` or `measure` line")
        if "all" in experiments and not spec.experiments:
            fail("the spec declares no experiment, so --experiment all runs nothing",
                 "drop --experiment to simulate the policies, or declare one, e.g. "
                 "`experiment e { policies p vary k over 0..3 measure P(harm) }`")
        names = list(spec.experiments) if "all" in experiments else list(experiments)
        results = []
        for n in names:
            exp = spec.experiments.get(n)
            total = orchestrate._points(exp) if exp is not None else 0
            with progress_bar(total, f"experiment {n}") as adv:
                results.append(
                    run_experiment(spec, n, params=params, fixed=fixed, engine=engine, runs=runs, seed=seed,
                                   exact=rational, sources=loaded.sources, progress=adv, workers=workers, scheduler=scheduler)
                )
        written = []
        if out:
            for r in results:
                written += r.write(out, log=log_y, force=True)  # `out` checked above
        if as_json:
            emit_json([r.to_json() for r in results])
        else:
            for r in results:
                _print_experiment(r)
            for p in written:
                click.echo(f"wrote {p}")
        sys.exit(0)
    # Plain simulation: each policy's measures averaged over the variables not fixed.
    wanted = None
    if measures:
        phases = spec.trajectory.phase_names if spec.trajectory else ()
        try:
            wanted = [ms.parse(m, phases) for m in measures]
        except ValueError as exc:
            fail(str(exc), f"measures are written as in a spec, e.g. \"P(harm | delivered)\"; the phases are {name_list(phases)}")
    bars = Bars()
    try:
        result = orchestrate.simulate(spec, list(policies) or None, engine=engine or "exact", runs=runs or 10_000,
                                      seed=0 if seed is None else seed, params=params, fixed=fixed, exact=rational,
                                      measures=wanted, progress=None if as_json else bars)
    finally:
        bars.close()
    data = result.to_json()
    data["spec_sha256"] = spec_hash(loaded.sources, spec)
    if out:
        os.makedirs(out, exist_ok=True)
        write_atomic(os.path.join(out, "simulation.json"), json_text(data) + "\n")
        write_atomic(os.path.join(out, "simulation.csv"), _rows_csv(data["rows"]))
    if as_json:
        emit_json(data)
    else:
        _print_rows(data, result.measures, result.worst_column)
        if out:
            click.echo(f"wrote {os.path.join(out, 'simulation.json')} and simulation.csv")
    sys.exit(0)


def _paired(measures) -> list[tuple[str, tuple]]:
    """The table's columns as (header, measures): a measure's Pmin and Pmax (or Emin and Emax),
    both asked, make one column headed by the plain measure, where the first of them stood;
    any other measure is its own."""
    import attrs

    texts = {m.text for m in measures}
    out, done = [], set()
    for m in measures:
        if m.text in done:
            continue
        lo, hi = (attrs.evolve(m, extremum=e) for e in ("min", "max"))
        if m.extremum is not None and lo.text in texts and hi.text in texts:
            out.append((attrs.evolve(m, extremum=None).text, (lo, hi)))
            done |= {lo.text, hi.text}
        else:
            out.append((m.text, (m,)))
    return out


def _rows_csv(rows) -> str:
    buf = io.StringIO()
    cols = list(dict.fromkeys(k for r in rows for k in r if k != "worst assignment"))
    w = csv.DictWriter(buf, fieldnames=cols, extrasaction="ignore", lineterminator="\n")
    w.writeheader()
    for r in rows:
        w.writerow(r)
    return buf.getvalue()


def _print_rows(result, measures, worst: str) -> None:
    """The table of ``libet simulate``; ``worst`` is the exact rows' column of the largest
    P(harm) (Pmax(harm) in an MDP) over every assignment. A measure asked over adversaries both
    ways (Pmin and Pmax) is one column, its range."""
    from rich.table import Table

    columns = _paired(measures)
    t = Table(title=f"{result['spec']} — {result['engine']}, average over {result['averaged_over']}")
    if any(len(ms_) == 2 for _, ms_ in columns):
        t.caption = "a range is the measure's best and worst case over adversaries: Pmin … Pmax (Emin … Emax)"
    t.add_column("policy")
    for head, _ in columns:
        t.add_column(head, justify="right")
    extra = worst in result["rows"][0] if result["rows"] else False
    if extra:
        t.add_column(worst, justify="right")
    for r in result["rows"]:
        cells = [r["policy"]]
        for _, ms_ in columns:
            parts = []
            for m in ms_:
                v = fmt(r[m.text])
                if r.get(f"{m.text} low") is not None:
                    v += f" [{r[f'{m.text} low']:.3g}, {r[f'{m.text} high']:.3g}]"
                parts.append(v)
            cells.append(" … ".join(parts))
        if extra:
            w = r["worst assignment"] or {}
            cells.append(fmt(r[worst]) + (" at " + ", ".join(f"{k}={fmt(v)}" for k, v in w.items()) if w and r[worst] else ""))
        t.add_row(*cells)
    console().print(t)


#: An experiment's table in the terminal shows at most this many rows (--out and --json have all).
ROWS_SHOWN = 200


def _print_experiment(r) -> None:
    from rich.table import Table

    extra = (f"estimated: {r.engine}, runs {r.runs}, seed {r.seed}" if r.estimates
             else "computed exactly" + (", in rational arithmetic" if r.exact else ""))
    t = Table(title=f"experiment {r.name} ({extra}; {r.aggregation})")
    if len(r.rows) > ROWS_SHOWN:
        t.caption = (f"the first {ROWS_SHOWN} of {len(r.rows):,} rows; --out DIR writes every row (CSV, JSON), "
                     "--json prints them")
    for c in ["policy", *r.vary, *r.measures]:
        t.add_column(c, justify="left" if c == "policy" else "right")
    for row in r.rows[:ROWS_SHOWN]:
        cells = [row["policy"], *[fmt(row[v]) for v in r.vary]]
        for m in r.measures:
            v = fmt(row[m])
            if row.get(f"{m} low") is not None:
                v += f" [{row[f'{m} low']:.3g}, {row[f'{m} high']:.3g}]"
            cells.append(v)
        t.add_row(*cells)
    console().print(t)


# ---- export ----------------------------------------------------------------------------------


def _pick_policy(spec, policy):
    if policy:
        if policy not in spec.policies:
            fail(f"there is no policy {policy!r}", f"policies: {name_list(spec.policies)}")
        return policy
    if len(spec.policies) == 1:
        return next(iter(spec.policies))
    if not spec.policies:
        fail("the spec has no policy to draw or export", "declare one, e.g. `policy p { veto when harmful }`")
    fail("the spec has several policies; name one with --policy", f"policies: {name_list(spec.policies)}")


@click.command()
@click.argument("file", type=click.Path(dir_okay=False))
@click.option("--prism", "fmt", flag_value="prism", default=True, help="PRISM-language DTMC (the only format).")
@click.option("--policy", metavar="P", help="The policy (needed when the spec has several).")
@click.option("--set", "sets", multiple=True, metavar="NAME=VALUE", help="Override a param or fix a variable.")
@click.option("-o", "--output", type=click.Path(dir_okay=False), help="Write here (default: stdout).")
@click.option("--force", is_flag=True, help="Overwrite OUTPUT if it exists.")
@click.option("--json", "as_json", is_flag=True, help="Print the model (or, with -o, where it went) as JSON.")
@guard
def export(file, fmt, policy, sets, output, force, as_json):
    """Export FILE's trajectory under a policy as a PRISM DTMC, for PRISM or Storm.

    Variables not fixed with --set are chosen at the start by their declared distribution
    (uniform unless weighted), so P=? [F "harm"] is libet's average P(harm)."""
    from libet.orchestrate import export_prism

    loaded = load_or_exit(file, as_json)
    spec = loaded.spec
    params, fixed = parse_sets(sets, spec)
    policy = _pick_policy(spec, policy)
    text = export_prism(spec, policy, params=params, fixed=fixed)
    if output:
        write_atomic(output, text, overwrite=force)
    if as_json:
        out = {"ok": True, "format": fmt, "policy": policy, "output": output}
        if not output:
            out["text"] = text
        emit_json(out)
    elif output:
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
@click.option("--json", "as_json", is_flag=True, help="Print the graph's nodes and edges as JSON (with -o, also write the file and say where).")
@guard
def graph(file, policy, output, force, as_json):
    """Draw FILE's trajectory graph: phases, the rules and transitions that can act in each,
    the veto where it can fire."""
    from libet.simulator.graph import graph_data, render, trajectory_graph

    loaded = load_or_exit(file, as_json)
    spec = loaded.spec
    policy = _pick_policy(spec, policy)
    if output:
        ext = os.path.splitext(output)[1].lower().lstrip(".")
        if ext not in ("dot", "gv", "svg", "png", "pdf"):
            fail(f"cannot tell the format of {output!r}", "end it in .svg, .png, .pdf or .dot")
        if not force and os.path.exists(output):
            fail(f"{output} exists; pass --force to overwrite it")
        g = trajectory_graph(spec, policy)
        write_atomic(output, g.source if ext in ("dot", "gv") else render(g, ext), overwrite=True)
    if as_json:
        data = graph_data(spec, policy)
        if output:
            data = {"ok": True, "output": output, **data}
        emit_json(data)
    elif output:
        click.echo(f"wrote {output}", err=True)
    else:
        click.echo(trajectory_graph(spec, policy).source, nl=False)
    sys.exit(0)
