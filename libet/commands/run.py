"""``libet run``: every check and experiment of a spec, one summary table, results in a folder.

Consumes: command-line arguments.
Produces: the folder :func:`libet.orchestrate.run` writes, a summary table on stdout (or the
summary as JSON with ``--json``), and the exit code of the checks (0 all proved, 1 some check
violated, 2 bad spec or command, 3 some check unknown).
"""

from __future__ import annotations

import os
import sys

import click

from libet.clitools import emit_json, guard, load_or_exit, parse_sets

from .simulate import Bars, console


@click.command()
@click.argument("file", type=click.Path(dir_okay=False))
@click.option("--out", type=click.Path(file_okay=False), help="Output folder (default: FILE's name + '-results').")
@click.option("--force", is_flag=True, help="Write into --out even if it exists.")
@click.option("--set", "sets", multiple=True, metavar="NAME=VALUE", help="Override a param or fix a variable.")
@click.option("--timeout", type=click.FloatRange(min=0, min_open=True), default=30.0, show_default=True,
              help="Seconds per qualitative check.")
@click.option("--log-y", "log_y", is_flag=True, help="Draw the plots on a log y axis (small probabilities).")
@click.option("--json", "as_json", is_flag=True, help="Print the summary as JSON.")
@guard
def run(file, out, force, sets, timeout, log_y, as_json):
    """Run every check and experiment of FILE; write results, plots and graphs to a folder."""
    from libet import orchestrate

    loaded = load_or_exit(file, as_json)
    spec = loaded.spec
    params, fixed = parse_sets(sets, spec)
    if out is None:
        out = os.path.splitext(os.path.basename(file))[0] + "-results"
    bars = Bars()
    try:
        summary = orchestrate.run(spec, out, sources=loaded.sources, params=params, fixed=fixed, timeout=timeout,
                                  force=force, log_y=log_y, progress=None if as_json else bars)
    finally:
        bars.close()
    if as_json:
        emit_json(summary.data)
    else:
        _print_summary(summary)
    sys.exit(summary.exit_code)


def _short(text: str, width: int = 150) -> str:
    return text if len(text) <= width else text[: width - 1].rsplit(" ", 1)[0] + " …"


#: Below this many columns the table drops the engine and the evidence, which follow it as
#: wrapped lines (one per check that did not pass, and one per experiment).
COMPACT_BELOW = 110


def _print_summary(summary) -> None:
    from rich.table import Table

    from libet.orchestrate import detail

    out = console()
    compact = out.width < COMPACT_BELOW
    style = {"PROVED": "green", "VIOLATED": "red", "UNKNOWN": "yellow"}
    t = Table(title="checks")
    cols = ("policy", "check", "status", "time") if compact else ("policy", "check", "status", "engine", "time", "detail")
    for c in cols:
        # whole words wrap; only a word longer than its cell is cut
        t.add_column(c, justify="right" if c == "time" else "left", no_wrap=c in ("status", "time"))
    notes = []
    for r in summary.results:
        status = f"[{style.get(r.status.value, 'cyan')}]{r.status.value}[/]"
        if compact:
            t.add_row(r.policy, r.check, status, f"{r.seconds:.2f}s")
            if r.status.value != "PROVED":
                notes.append(f"{r.policy}, {r.check}: {_short(detail(r), 300)}")
        else:
            t.add_row(r.policy, r.check, status, r.engine, f"{r.seconds:.2f}s", _short(detail(r)))
    for e in summary.experiments:
        what = f"{len(e.rows)} rows; {', '.join(e.measures)} vs {', '.join(e.vary) or 'policy'}"
        if compact:
            t.add_row("", f"experiment {e.name}", "[cyan]DONE[/]", f"{e.seconds:.2f}s")
            notes.append(f"experiment {e.name}: {what}")
        else:
            t.add_row("", f"experiment {e.name}", "[cyan]DONE[/]", e.engine, f"{e.seconds:.2f}s", what)
    for name, why in summary.not_run.items():
        if compact:
            t.add_row("", f"experiment {name}", "[yellow]NOT RUN[/]", "")
            notes.append(f"experiment {name}: {_short(why, 300)}")
        else:
            t.add_row("", f"experiment {name}", "[yellow]NOT RUN[/]", "", "", _short(why))
    out.print(t)
    # what qualifies a verdict (a veto invariant while the outcome may not be, a vacuous proof)
    warned = [f"warning: {r.policy}, {r.check}: {w}" for r in summary.results for w in r.warnings]
    for n in notes + warned + [f"note: {n}" for n in summary.data.get("notes", [])]:
        out.print(n, markup=False)
    counts: dict = {}
    for r in summary.results:
        counts[r.status.value] = counts.get(r.status.value, 0) + 1
    tally = [f"{n} {k.lower()}" for k, n in counts.items()]
    if summary.not_run:
        tally.append(f"{len(summary.not_run)} experiment{'s' if len(summary.not_run) > 1 else ''} not run")
    out.print(", ".join(tally) or "no checks")
    out.print(f"report: {os.path.join(summary.out, 'report.html')} (open it in a browser)", markup=False)
    out.print(f"results, plots and graphs in {summary.out}/ (results.json, checks.csv, experiments/, graphs/)",
              markup=False)
