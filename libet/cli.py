"""The ``libet`` command: a thin layer over the Python API.

Subcommands: ``check`` (parse and validate), ``fmt`` (canonical formatting), and the engines'
commands registered at the bottom of this module. Exit codes (DESIGN.md §5): 0 all proved / ok,
1 some check violated, 2 the spec or the command is wrong, 3 some check unknown.
"""

from __future__ import annotations

import os
import sys

import click

import libet
from libet.clitools import EXIT_BAD_INPUT, emit_json, guard, report, use_color
from libet.files import write_atomic
from libet.spec import ir
from libet.spec.diagnostics import render_all
from libet.spec.loader import load_path

#: The commands that drive the engines (libet/commands/), imported only when used, so that
#: `libet check` and `libet fmt` start without loading Z3, numpy or matplotlib.
LAZY_COMMANDS = {
    "prove": "libet.commands.prove:prove",
    "simulate": "libet.commands.simulate:simulate",
    "export": "libet.commands.simulate:export",
    "graph": "libet.commands.simulate:graph",
    "run": "libet.commands.run:run",
    "test": "libet.commands.test:test",
}


class _Group(click.Group):
    """Loads the engines' commands lazily (LAZY_COMMANDS). Click's usage errors exit with 2
    already; this also turns unexpected internal errors into a short report that asks for a bug
    report instead of a bare traceback."""

    def list_commands(self, ctx):
        return sorted(set(super().list_commands(ctx)) | set(LAZY_COMMANDS))

    def get_command(self, ctx, name):
        if name in LAZY_COMMANDS and name not in self.commands:
            import importlib

            module, _, attr = LAZY_COMMANDS[name].partition(":")
            self.add_command(getattr(importlib.import_module(module), attr), name)
        return super().get_command(ctx, name)

    def invoke(self, ctx):
        try:
            return super().invoke(ctx)
        except (click.exceptions.Exit, click.exceptions.Abort, click.ClickException, SystemExit):
            raise
        except KeyboardInterrupt:
            click.echo("interrupted", err=True)
            sys.exit(130)
        except Exception as exc:  # pragma: no cover - only on a bug in libet
            if "LIBET_DEBUG" in os.environ:
                raise
            click.echo(
                f"internal error: {type(exc).__name__}: {exc}\n"
                "This is a bug in libet, not in your spec. Set LIBET_DEBUG=1 to see the traceback.",
                err=True,
            )
            sys.exit(70)


@click.group(cls=_Group, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(libet.__version__, "--version", prog_name="libet")
def main():
    """libet: specify, prove and simulate the veto of AI systems."""


@main.command()
@click.argument("files", nargs=-1, required=True, type=click.Path(dir_okay=False))
@click.option("--json", "as_json", is_flag=True, help="Print diagnostics and summaries as JSON.")
@guard
def check(files, as_json):
    """Parse and validate spec FILES; print a short summary of each."""
    worst = 0
    out = []
    for path in files:
        loaded = load_path(path)
        if as_json:
            entry = {"file": path, "ok": loaded.ok, "diagnostics": [d.to_json() for d in loaded.diagnostics]}
            if loaded.ok:
                entry["summary"] = summary(loaded.spec)
            out.append(entry)
        else:
            if loaded.diagnostics:
                click.echo(render_all(loaded.diagnostics, loaded.sources, color=use_color(sys.stderr)), err=True)
            if loaded.ok:
                click.echo(render_summary(path, summary(loaded.spec)))
        if not loaded.ok:
            worst = EXIT_BAD_INPUT
    if as_json:
        emit_json(out)
    sys.exit(worst)


def summary(spec: ir.Spec) -> dict:
    """The facts ``libet check`` prints about a spec."""
    traj = spec.trajectory
    states = None
    if traj is not None and traj.horizon is not None:
        states = len(traj.phases) * traj.horizon
    return {
        "title": spec.title,
        "variables": {
            n: {"class": v.cls.value, "domain": str(v.domain), "size": len(v.domain.values())}
            for n, v in spec.variables.items()
        },
        "assignments": spec.assignment_count(),
        "params": {n: float(p.default) for n, p in spec.params.items()},
        "values": list(spec.values),
        "policies": list(spec.policies),
        "checks": len(spec.checks),
        "experiments": list(spec.experiments),
        "phases": list(traj.phase_names) if traj else [],
        "horizon": traj.horizon if traj else None,
        "states_per_assignment": states,
    }


def _names(items, limit: int = 8) -> str:
    items = list(items)
    if not items:
        return "none"
    if len(items) <= limit:
        return ", ".join(items)
    return ", ".join(items[:limit]) + f", ... ({len(items)} in all)"


def render_summary(path: str, s: dict) -> str:
    lines = [f"{path}: ok — {s['title']}"]
    for cls in ("substance", "framing", "context"):
        vs = [f"{n} {v['domain']} ({v['size']})" for n, v in s["variables"].items() if v["class"] == cls]
        if vs:
            lines.append(f"  {cls + ':':11} " + _names(vs))
    n = s["assignments"]
    shown = f"{n:,}" if n < 10**15 else f"about {str(n)[0]}.{str(n)[1:3]}e{len(str(n)) - 1}"
    lines.append(f"  {'assignments:':11} {shown}")
    if s["params"]:
        lines.append(f"  {'params:':11} " + ", ".join(f"{n} = {v:g}" for n, v in s["params"].items()))
    lines.append(f"  {'values:':11} " + _names(s["values"]))
    lines.append(f"  {'policies:':11} " + _names(s["policies"]))
    if s["phases"]:
        horizon = "none" if s["horizon"] is None else s["horizon"]
        states = s["states_per_assignment"]
        per = f", {states:,} states per assignment" if states is not None else ", unbounded"
        lines.append(f"  {'trajectory:':11} phases {_names(s['phases'])}; horizon {horizon}{per}")
    lines.append(f"  {'checks:':11} {s['checks']}; experiments: " + _names(s["experiments"]))
    return "\n".join(lines)


@main.command()
@click.argument("files", nargs=-1, required=True, type=click.Path(dir_okay=False))
@click.option("--check", "check_only", is_flag=True, help="Change nothing; exit 1 if a file is not formatted.")
@click.option("--diff", is_flag=True, help="Print what would change as a unified diff; change nothing.")
@guard
def fmt(files, check_only, diff):
    """Reformat spec FILES in place, canonically, keeping comments."""
    import difflib

    from libet.spec.formatter import format_file

    status = 0
    for path in files:
        result = format_file(path)
        if result.error is not None:
            report(result.error, False)
            status = EXIT_BAD_INPUT
            continue
        if result.formatted == result.original:
            continue
        if check_only or diff:
            if diff:
                click.echo(
                    "".join(
                        difflib.unified_diff(
                            result.original.splitlines(True), result.formatted.splitlines(True), path, path + " (formatted)"
                        )
                    )
                )
            else:
                click.echo(f"{path}: would reformat")
            status = max(status, 1)
        else:
            write_atomic(path, result.formatted)
            click.echo(f"{path}: reformatted")
    sys.exit(status)

