"""``libet report RESULTS_DIR``: rebuild the HTML report of a ``libet run`` folder.

Consumes: the folder ``libet run`` wrote (its ``--out``).
Produces: ``report.html`` in it (or ``-o``), written atomically; exit code 0, or 2 for a bad
folder. A report libet wrote is rebuilt in place; another file is overwritten only with --force.
"""

from __future__ import annotations

import sys

import click

from libet.clitools import emit_json, guard


@click.command()
@click.argument("folder", type=click.Path(file_okay=False))
@click.option("-o", "--output", type=click.Path(dir_okay=False), help="Write here (default: FOLDER/report.html).")
@click.option("--force", is_flag=True, help="Overwrite OUTPUT even if it is not a report libet wrote.")
@click.option("--json", "as_json", is_flag=True, help="Say where the report went, as JSON.")
@guard
def report(folder, output, force, as_json):
    """Rebuild the self-contained HTML report of a `libet run` results FOLDER."""
    import os

    from libet import report as pages
    from libet.errors import UsageError

    problems: list[str] = []
    try:
        path = pages.write(folder, output, force=force, problems=problems)
    except (KeyError, TypeError, AttributeError, ValueError) as exc:  # a results.json edited by hand, or not libet's
        raise UsageError(
            f"{os.path.join(folder, 'results.json')} does not have the shape `libet run` writes "
            f"({type(exc).__name__}: {exc})",
            "run `libet run` again to write the folder anew",
        ) from None
    if as_json:
        emit_json({"ok": True, "report": path, "problems": problems})
    else:
        for p in problems:
            click.echo(f"warning: {p}", err=True)
        click.echo(f"wrote {path}" + (f" ({len(problems)} problem(s) with the folder: the page says where)" if problems else ""))
    sys.exit(0)  # the page is written; what it lacks is said, as a warning is
