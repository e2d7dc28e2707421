"""The ``libet`` command: a thin layer over the Python API.

Subcommands: ``check`` (parse and validate), ``fmt`` (canonical formatting), and the engines'
commands registered at the bottom of this module. Exit codes (DESIGN.md §5): 0 all proved / ok,
1 some check violated, 2 the spec or the command is wrong, 3 some check unknown.
"""

from __future__ import annotations

import os
import sys

import click

from libet.clitools import (
    EXIT_BAD_INPUT,
    controlled,
    emit_error,
    emit_json,
    guard,
    internal_error,
    interrupted,
    json_mode,
    report,
    set_json_mode,
    set_warnings_as_errors,
    use_color,
    wants_json,
)
from libet.files import write_atomic
from libet.heap import no_full_collection, skip_final_walk

#: The commands that drive the engines (libet/commands/), imported only when used, so that
#: `libet check` and `libet fmt` start without loading Z3, numpy or matplotlib.
LAZY_COMMANDS = {
    "prove": "libet.commands.prove:prove",
    "simulate": "libet.commands.simulate:simulate",
    "export": "libet.commands.simulate:export",
    "graph": "libet.commands.simulate:graph",
    "run": "libet.commands.run:run",
    "test": "libet.commands.test:test",
    "report": "libet.commands.report:report",
    "diff": "libet.commands.diff:diff",
    "fit": "libet.commands.fit:fit",
}

#: One-line help of the lazy commands, so `libet --help` lists them without importing them
#: (a command not listed here is imported for its help, which is correct, only slower).
LAZY_HELP = {
    "prove": "Prove or refute the qualitative checks of FILE with Z3.",
    "simulate": "Compute outcome probabilities of FILE's policies, or run its experiments.",
    "export": "Export FILE's trajectory under a policy as a PRISM DTMC.",
    "graph": "Draw FILE's trajectory graph: phases, rules, transitions, the veto.",
    "run": "Run every check and experiment of FILE; results and an HTML report.",
    "report": "Rebuild the HTML report of a `libet run` results folder.",
    "diff": "Compare two policies of FILE: equivalent, stronger, or where they differ.",
    "test": "Test a real veto implementation (module:function) against FILE's properties.",
    "fit": "Fit FILE's params to measured data by maximum likelihood, with intervals; write the fitted spec.",
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

    def format_commands(self, ctx, formatter):
        rows = []
        for name in self.list_commands(ctx):
            if name in LAZY_COMMANDS and name not in self.commands and name in LAZY_HELP:
                rows.append((name, LAZY_HELP[name]))
                continue
            cmd = self.get_command(ctx, name)
            if cmd is None or cmd.hidden:
                continue
            rows.append((name, cmd.get_short_help_str(limit=formatter.width - 6 - max(len(n) for n in self.list_commands(ctx)))))
        if rows:
            with formatter.section("Commands"):
                formatter.write_dl(rows)

    def main(self, args=None, prog_name=None, complete_var=None, standalone_mode=True, **extra):
        """Under ``--json`` click's own usage errors (a missing argument, an unknown option, a
        bad value) are one JSON object on stdout too, with the exit code click gives (2)."""
        args = list(sys.argv[1:] if args is None else args)
        set_json_mode(wants_json(args))
        if not json_mode() or not standalone_mode:
            return super().main(args, prog_name, complete_var, standalone_mode, **extra)
        try:
            rv = super().main(args, prog_name, complete_var, standalone_mode=False, **extra)
        except click.ClickException as exc:
            emit_error(exc.format_message(), _usage_hint(exc), exit_code=exc.exit_code)
            sys.exit(exc.exit_code)
        except click.exceptions.Abort:
            emit_error("aborted", exit_code=1)
            sys.exit(1)
        sys.exit(rv if isinstance(rv, int) else 0)

    def invoke(self, ctx):
        try:
            return super().invoke(ctx)
        except (click.exceptions.Exit, click.exceptions.Abort, click.ClickException, SystemExit):
            raise
        except KeyboardInterrupt:
            sys.exit(interrupted())
        except Exception as exc:  # pragma: no cover - only on a bug in libet
            if "LIBET_DEBUG" in os.environ:
                raise
            sys.exit(internal_error(exc))


def _usage_hint(exc: click.ClickException) -> str | None:
    ctx = getattr(exc, "ctx", None)
    if ctx is None:
        return None
    return f"see `{ctx.command_path} --help`"


@click.group(cls=_Group, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(None, "--version", prog_name="libet", package_name="libet")
@click.option("--warnings-as-errors", "werror", is_flag=True,
              help="Treat every warning (not suppressed by a `# libet: ignore[CODE]` comment) as an error.")
def main(werror):
    """libet: specify, prove and simulate the veto of AI systems."""
    set_warnings_as_errors(werror)


def run() -> None:
    """The entry point of the ``libet`` command and of ``python -m libet``: :func:`main` in a
    process that ends with it (:func:`libet.heap.skip_final_walk`)."""
    skip_final_walk()
    main()


@main.command()
@click.argument("files", nargs=-1, required=True, type=click.Path(dir_okay=False))
@click.option("--json", "as_json", is_flag=True, help="Print diagnostics and summaries as JSON.")
@click.option("--warnings-as-errors", "werror", is_flag=True,
              help="Treat every warning (not suppressed by a `# libet: ignore[CODE]` comment) as an error.")
@guard
def check(files, as_json, werror):
    """Parse and validate spec FILES; print a short summary of each.

    A warning is silenced by a comment on its line: `# libet: ignore[W102]` (several codes
    separated by commas; `# libet: ignore` for every warning on the line)."""
    with no_full_collection():  # each spec's heap is live until its summary is printed (libet/heap.py)
        worst = _check_files(files, as_json, werror)
    sys.exit(worst)


def _check_files(files, as_json, werror) -> int:
    from libet.spec.diagnostics import render_all
    from libet.spec.loader import load_path
    from libet.suppress import suppress, unknown_codes

    worst = 0
    out = []
    for path in files:
        loaded, dropped = suppress(load_path(path))
        loaded = controlled(loaded, werror)
        bad_codes = [f"{f}:{line}: unknown code {c} in a suppression comment (a typo suppresses nothing)"
                     for f, line, c in unknown_codes(loaded.sources)]
        if as_json:
            entry = {"file": path, "ok": loaded.ok, "diagnostics": [d.to_json() for d in loaded.diagnostics],
                     "suppressed": dropped}
            if bad_codes:
                entry["suppression_problems"] = bad_codes
            if loaded.ok:
                entry["summary"] = summary(loaded.spec)
            out.append(entry)
        else:
            if loaded.diagnostics:
                click.echo(render_all(loaded.diagnostics, loaded.sources, color=use_color(sys.stderr)), err=True)
            for line in bad_codes:
                click.echo(f"warning: {line}", err=True)
            if loaded.ok:
                click.echo(render_summary(path, summary(loaded.spec)))
                if dropped:
                    click.echo(f"  ({dropped} warning(s) suppressed by `# libet: ignore` comments)")
        if not loaded.ok:
            worst = EXIT_BAD_INPUT
    if as_json:
        emit_json(out)
    return worst


def summary(spec) -> dict:
    """The facts ``libet check`` prints about a spec."""
    from libet.report import spec_summary

    return spec_summary(spec)


def render_summary(path: str, s: dict) -> str:
    from libet.report import state_lines
    from libet.spec.printer import count_text
    from libet.spec.printer import name_list as _names

    lines = [f"{path}: ok — {s['title']}"]
    for cls in ("substance", "framing", "context"):
        vs = [f"{n} {v['domain']} ({v['size']:,})" for n, v in s["variables"].items() if v["class"] == cls]
        if vs:
            lines.append(f"  {cls + ':':11} " + _names(vs))
    lines.append(f"  {'assignments:':11} {count_text(s['assignments'])}")
    if s["params"]:
        lines.append(f"  {'params:':11} " + ", ".join(f"{n} = {v:g}" for n, v in s["params"].items()))
    lines.append(f"  {'values:':11} " + _names(s["values"]))
    lines.append(f"  {'policies:':11} " + _names(s["policies"]))
    if s["phases"]:
        horizon = "none" if s["horizon"] is None else s["horizon"]
        if s.get("at_horizon") == "stopped" and s["horizon"] is not None:
            horizon = f"{horizon} then stop"
        states = s["states_per_assignment"]
        per = f", {count_text(states)} states per assignment" if states is not None else ", unbounded"
        lines.append(f"  {'trajectory:':11} phases {_names(s['phases'])}; horizon {horizon}{per}")
        lines += [f"  {key + ':':11} {text}" for key, text in state_lines(s)]
    lines.append(f"  {'checks:':11} {s['checks']}; experiments: " + _names(s["experiments"]))
    return "\n".join(lines)


@main.command()
@click.argument("files", nargs=-1, required=True, type=click.Path(dir_okay=False))
@click.option("--check", "check_only", is_flag=True, help="Change nothing; exit 1 if a file is not formatted.")
@click.option("--diff", is_flag=True, help="Print what would change as a unified diff; change nothing.")
@click.option("--json", "as_json", is_flag=True, help="Say what was (or would be) done to each file, as JSON.")
@guard
def fmt(files, check_only, diff, as_json):
    """Reformat spec FILES in place, canonically, keeping comments."""
    import difflib

    from libet.spec.formatter import format_file

    status = 0
    entries = []
    for path in files:
        result = format_file(path)
        if result.error is not None:
            if as_json:
                entries.append({"file": path, "status": "error",
                                "diagnostics": [d.to_json() for d in result.error.diagnostics]})
            else:
                report(result.error, False)
            status = EXIT_BAD_INPUT
            continue
        if result.formatted == result.original:
            entries.append({"file": path, "status": "unchanged"})
            continue
        text = "".join(
            difflib.unified_diff(
                result.original.splitlines(True), result.formatted.splitlines(True), path, path + " (formatted)"
            )
        )
        if check_only or diff:
            entries.append({"file": path, "status": "would reformat", "diff": text})
            if as_json:
                pass
            elif diff:
                click.echo(text)
            else:
                click.echo(f"{path}: would reformat")
            status = max(status, 1)
        else:
            write_atomic(path, result.file_text())
            entries.append({"file": path, "status": "reformatted", "diff": text})
            if not as_json:
                click.echo(f"{path}: reformatted")
    if as_json:
        emit_json({"ok": status == 0, "exit_code": status, "files": entries})
    sys.exit(status)

