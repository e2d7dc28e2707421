"""``libet prove``: the qualitative checks of a spec, as a table with evidence below it; a thin
layer over :func:`libet.orchestrate.iter_check` (the checks the Z3 family decides).

Consumes: a spec file and options (policies, checks, timeout, resource limit, --set, output).
Produces: on stdout a table of policy × check → result and time, then each counterexample and
proof summary (or, with ``--json``, one JSON object per result); with ``--trace-dot DIR``, a DOT
and an SVG file per safety counterexample. Exit codes: 0 all proved, 1 some check violated,
2 bad spec or command, 3 some check unknown.
"""

from __future__ import annotations

import os
import sys

import click

from libet.clitools import emit_json, guard, load_or_exit, parse_sets, spec_error, use_color
from libet.errors import EvaluationError, UsageError
from libet.files import check_folder, write_atomic
from libet.results import STATUS_COLOR, Status, exit_code, text_sections


@click.command("prove")
@click.argument("file", type=click.Path(dir_okay=False))
@click.option("--policy", "policies", multiple=True, metavar="P", help="Only the checks of policy P (repeatable).")
@click.option("--check", "checks", multiple=True, metavar="NAME", help='Only the check NAME, as written, e.g. "safe" (repeatable).')
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object per result.")
@click.option(
    "--timeout",
    type=click.FloatRange(min=0, min_open=True),
    default=30.0,
    show_default=True,
    metavar="S",
    help="Seconds per check; a check not decided in time is UNKNOWN.",
)
@click.option("--rlimit", type=click.IntRange(min=1), default=None, metavar="N", help="Z3's deterministic resource limit per solver call.")
@click.option("--trace-dot", "trace_dot", type=click.Path(file_okay=False), default=None, metavar="DIR", help="Write each safety counterexample to DIR as DOT and SVG.")
@click.option("--force", is_flag=True, help="Overwrite existing files in the --trace-dot folder.")
@click.option("--set", "sets", multiple=True, metavar="NAME=VALUE", help="Override a param, or restrict a variable to one value (repeatable).")
@guard
def prove(file, policies, checks, as_json, timeout, rlimit, trace_dot, force, sets):
    """Prove or refute the qualitative checks of the spec FILE (invariance, complete, no
    over-refusal, safe) with Z3."""
    from libet.orchestrate import iter_check

    loaded = load_or_exit(file, as_json)
    spec = loaded.spec
    params, fixed = parse_sets(sets, spec)
    pairs = list(
        iter_check(
            spec,
            policies=list(policies) or None,
            checks=list(checks) or None,
            families=["proofs"],
            timeout=timeout,
            rlimit=rlimit,
            params=params,
            fixed=fixed,
        )
    )
    if trace_dot is not None:
        _check_outputs(trace_dot, [c.policy for c, _ in pairs if c.name == "safe"], force)
    results = []
    show_progress = not as_json and use_color(sys.stderr)
    try:
        for i, (check, run) in enumerate(pairs, 1):
            if show_progress:
                click.echo(f"\r\x1b[2K[{i}/{len(pairs)}] {check.policy} · {check.name} …", err=True, nl=False)
            results.append(run())
    except EvaluationError as exc:
        if show_progress:
            click.echo("\r\x1b[2K", err=True, nl=False)
        spec_error(exc, "found by the Z3 checker at a state the static checker did not try; make the expression "
                   "defined (and in range) there")
    if show_progress:
        click.echo("\r\x1b[2K", err=True, nl=False)
    written = []
    if trace_dot is not None:
        written = _write_traces(trace_dot, results)
    if as_json:
        emit_json([r.to_json() for r in results])
    else:
        click.echo(render(results, color=use_color()))
        for path in written:
            click.echo(f"wrote {path}")
        if not results:
            click.echo("no qualitative checks selected", err=True)
    sys.exit(exit_code(results))


def _trace_name(policy: str) -> str:
    return f"{policy}-safe"


def _check_outputs(folder: str, policies, force: bool) -> None:
    """An existing folder is written into only with --force, as every other command does; and
    with it, a trace's DOT or SVG name there taken by anything but a file (a folder) is a usage
    error, said before any check runs."""
    check_folder(folder, force)
    for policy in dict.fromkeys(policies):
        for ext in (".dot", ".svg"):
            path = os.path.join(folder, _trace_name(policy) + ext)
            if os.path.exists(path) and not os.path.isfile(path):
                what = "a folder" if os.path.isdir(path) else "not a file"
                raise UsageError(f"{path} is {what}, where the trace of {policy} · safe would be written",
                                 "remove or rename it, or choose another --trace-dot folder")


def _write_traces(folder: str, results) -> list[str]:
    written = []
    for r in results:
        cex = r.counterexample
        if r.status is not Status.VIOLATED or not hasattr(cex, "to_dot"):
            continue
        base = os.path.join(folder, _trace_name(r.policy))
        dot = cex.to_dot(f"{r.policy}: {r.check} violated")
        write_atomic(base + ".dot", dot)
        written.append(base + ".dot")
        try:
            import graphviz

            svg = graphviz.Source(dot).pipe(format="svg")
        except Exception as exc:  # the `dot` program is missing or failed
            click.echo(f"warning: could not render {base}.svg ({type(exc).__name__}); the DOT file is written", err=True)
            continue
        write_atomic(base + ".svg", svg)
        written.append(base + ".svg")
    return written


def _fmt_seconds(s: float) -> str:
    return f"{s:.3f} s" if s < 10 else f"{s:.1f} s"


def render(results, color: bool = False) -> str:
    """The table, then counterexamples, proofs, unknowns and warnings."""

    def paint(text, status):
        return click.style(text, fg=STATUS_COLOR[status], bold=True) if color else text

    if not results:
        return ""
    headers = ("policy", "check", "result", "time")
    rows = [(r.policy, r.check, r.status.value, _fmt_seconds(r.seconds)) for r in results]
    widths = [max(len(h), *(len(row[i]) for row in rows)) for i, h in enumerate(headers)]
    lines = ["  ".join(h.ljust(w) for h, w in zip(headers, widths)).rstrip()]
    lines.append("  ".join("-" * w for w in widths))
    for r, row in zip(results, rows):
        cells = [row[0].ljust(widths[0]), row[1].ljust(widths[1]), paint(row[2].ljust(widths[2]), r.status), row[3].rjust(widths[3])]
        mark = " *" if r.warnings else ""
        lines.append("  ".join(cells) + mark)
    if any(r.warnings for r in results):
        lines.append("(* has warnings, listed below)")

    def name(r):
        return f"{r.policy} · {r.check}"

    lines += text_sections([
        ("Counterexamples", [(name(r), r.counterexample.describe()) for r in results if r.status is Status.VIOLATED]),
        ("Proofs", [(name(r), r.proof.describe()) for r in results if r.status is Status.PROVED and r.proof]),
        ("Unknown", [(name(r), r.reason or "") for r in results if r.status is Status.UNKNOWN]),
        ("Warnings", [(name(r), "\n".join(r.warnings)) for r in results if r.warnings]),
    ])
    return "\n".join(lines)
