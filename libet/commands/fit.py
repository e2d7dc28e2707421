"""``libet fit SPEC --experiment E``: a thin layer over :func:`libet.fit.fit`.

Consumes: command-line arguments.
Produces: the estimates, intervals, goodness of fit, fitted rows and predictions on stdout (or
one JSON object with ``--json``); the fitted spec (default ``SPEC_STEM.fitted.libet`` beside the
spec, never over an existing file without ``--force``) and, with ``--plot``, the
predicted-versus-observed plot. Exit codes: 0 fitted, 2 bad spec, data or command (including
data the model cannot reach and a param nothing reads), 3 the fit did not converge. Bad input
never shows a traceback.
"""

from __future__ import annotations

import os
import sys

import click

from libet.clitools import EXIT_BAD_INPUT, emit_error, emit_json, guard, load_or_exit, parse_sets, use_color

from .simulate import Bars


@click.command()
@click.argument("file", type=click.Path(dir_okay=False))
@click.option("--experiment", required=True, metavar="NAME", help="The experiment whose measured points to fit.")
@click.option("--data", type=click.Path(dir_okay=False), help="A CSV or JSON data file (default: the experiment's `data` line).")
@click.option("--params", metavar="A,B", help="The params to fit (default: every ranged param the experiment reads and neither varies nor sets).")
@click.option("--holdout", metavar="ROWS", help="Data rows (from 1) left out of the fit and predicted, e.g. 3 or 2,5-7.")
@click.option("--predict", "predict", multiple=True, metavar="EXPERIMENT", help="Predict every point of this experiment of the fitted spec (repeatable).")
@click.option("--bootstrap", type=click.IntRange(min=0), default=None, metavar="N",
              help="Parametric bootstrap refits for prediction intervals (default 200 when there is anything to predict, else 0).")
@click.option("--starts", type=click.IntRange(min=1), default=4, show_default=True, help="Local optimisations (the spec's values, then seeded random points).")
@click.option("--seed", type=click.IntRange(min=0), default=0, show_default=True, help="Seed of the starts and the bootstrap.")
@click.option("--set", "sets", multiple=True, metavar="NAME=VALUE", help="Give another param a value (variables are fixed by the experiment).")
@click.option("--out", type=click.Path(dir_okay=False), help="Where to write the fitted spec (default: SPEC_STEM.fitted.libet beside SPEC).")
@click.option("--no-spec", is_flag=True, help="Do not write the fitted spec.")
@click.option("--plot", type=click.Path(dir_okay=False), help="Write the predicted-versus-observed plot (PNG, or SVG by suffix).")
@click.option("--force", is_flag=True, help="Overwrite --out and --plot if they exist.")
@click.option("--workers", type=click.IntRange(min=1), help="Run starts, profiles and bootstrap refits on a local Dask cluster of N workers.")
@click.option("--scheduler", metavar="ADDRESS", help="Run them on an existing Dask scheduler (e.g. tcp://host:8786).")
@click.option("--json", "as_json", is_flag=True, help="Print the fit as JSON.")
@guard
def fit(file, experiment, data, params, holdout, predict, bootstrap, starts, seed, sets, out, no_spec, plot, force,
        workers, scheduler, as_json):
    """Fit FILE's params to measured data by maximum likelihood, with intervals; write the
    fitted spec."""
    from libet.errors import DataError, FitError, UsageError
    from libet.fit import fit as run_fit
    from libet.fit import parse_rows

    loaded = load_or_exit(file, as_json)
    spec = loaded.spec
    overrides, fixed = parse_sets(sets, spec)
    if fixed:
        raise UsageError(f"--set {next(iter(fixed))}: a fit takes variables from the experiment and the data",
                         "vary it in the experiment, with a data column for it")
    if workers and scheduler:
        raise UsageError("give --workers or --scheduler, not both")
    rows = parse_rows(holdout) if holdout else []
    if bootstrap is None:
        bootstrap = 200 if (rows or predict) else 0
    if out is None and not no_spec:
        stem, _ = os.path.splitext(file)
        out = f"{stem}.fitted.libet"
    if out is not None and not no_spec and os.path.exists(out) and not force:
        raise UsageError(f"{out} exists; pass --force to overwrite it", "or choose another file with --out")
    if plot is not None and os.path.exists(plot) and not force:
        raise UsageError(f"{plot} exists; pass --force to overwrite it")
    names = [p.strip() for p in params.split(",") if p.strip()] if params else None
    bars = Bars()
    try:
        try:
            result = run_fit(spec, experiment, data=data, params=names, holdout=rows, starts=starts, seed=seed,
                             bootstrap=bootstrap, predict=predict, overrides=overrides, workers=workers,
                             scheduler=scheduler, sources=loaded.sources, out_path=None if no_spec else out,
                             progress=None if as_json else bars)
        finally:
            bars.close()  # before anything is printed: a live bar and the output would interleave
    except DataError as exc:
        if as_json:
            emit_error(str(exc), kind="data", diagnostics=[d.to_json() for d in exc.diagnostics])
        else:
            click.echo(exc.render(color=use_color(sys.stderr)), err=True)
        sys.exit(EXIT_BAD_INPUT)
    except FitError as exc:
        if as_json:
            emit_error(str(exc), exc.hint, kind="fit", exit_code=exc.exit_code)
        else:
            text = f"error: {exc}"
            if exc.hint:
                text += f"\n  hint: {exc.hint}"
            click.echo(text, err=True)
        sys.exit(exc.exit_code)
    written = []
    if not no_spec:
        written.append(result.write_spec(out, force=force))
    if plot:
        written += result.write_plot(plot, force=force)
    if as_json:
        emit_json({**result.to_json(), "written": written, "exit_code": 0})
    else:
        click.echo(result.describe())
        for p in written:
            click.echo(f"wrote {p}")
    sys.exit(0)
