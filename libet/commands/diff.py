"""``libet diff SPEC A B``: two policies of a spec compared (Cedar's questions).

Consumes: command-line arguments.
Produces: whether A and B are equivalent, whether one vetoes whenever the other does, the
smallest assignment and state where they differ with both veto probabilities, and the exact
difference in P(harm) and P(over-refusal); or the same as JSON. Exit codes: 0 equivalent,
1 they differ, 2 bad spec or command, 3 not decided in time.
"""

from __future__ import annotations

import sys

import click

from libet.clitools import emit_json, guard, load_or_exit, parse_sets


@click.command()
@click.argument("file", type=click.Path(dir_okay=False))
@click.argument("a")
@click.argument("b")
@click.option("--timeout", type=click.FloatRange(min=0, min_open=True), default=30.0, show_default=True,
              metavar="S", help="Seconds for the Z3 questions.")
@click.option("--set", "sets", multiple=True, metavar="NAME=VALUE", help="Override a param or fix a variable.")
@click.option("--json", "as_json", is_flag=True, help="Print the comparison as JSON.")
@guard
def diff(file, a, b, timeout, sets, as_json):
    """Compare policies A and B of FILE: equivalent, one vetoes whenever the other does, or
    where they differ; and their P(harm) and P(over-refusal)."""
    from libet.compare import compare

    loaded = load_or_exit(file, as_json)
    params, fixed = parse_sets(sets, loaded.spec)
    result = compare(loaded.spec, a, b, timeout=timeout, params=params, fixed=fixed)
    if as_json:
        emit_json({**result.to_json(), "exit_code": result.exit_code})
    else:
        click.echo(result.describe())
    sys.exit(result.exit_code)
