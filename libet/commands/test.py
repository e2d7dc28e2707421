"""``libet test``: a real veto implementation (a Python callable) against the spec's
properties; a thin layer over :func:`libet.testing.conform`.

Consumes: a spec file, ``--veto module:function`` (the user's own code, imported by the name
given on the command line; a spec never runs code), optionally a corpus and bindings that render
concrete requests. Produces: a table of property -> PROVED / TESTED / VIOLATED / UNKNOWN with
the number of examples, the shrunk counterexamples (or JSON with ``--json``), and with
``--write-policy FILE`` the spec with the measured behaviour appended as a policy. Exit codes as
``libet prove``: 0 every property held, 1 a violation found, 2 bad input (including an
implementation that raises, hangs past ``--timeout`` or returns a non-probability), 3 undecided.
"""

from __future__ import annotations

import contextlib
import importlib
import os
import sys

import click

from libet.clitools import EXIT_BAD_INPUT, emit_json, guard, load_or_exit, parse_sets, use_color
from libet.errors import UsageError


def import_callable(target: str):
    """``module:function`` (or ``path/to/file.py:function``) as the callable it names; the
    working folder is on the import path, as for ``python -m``.

    Raises:
        UsageError: the name is malformed, the module cannot be imported (the message says
            why), or it has no such callable.
    """
    module, sep, attr = target.partition(":")
    if not sep or not module or not attr:
        raise UsageError(f"--veto {target}: expected module:function", hint="e.g. --veto guards.profanity:veto")
    path = None
    if module.endswith(".py") or os.sep in module:
        path = os.path.abspath(module)
        if not os.path.isfile(path):
            raise UsageError(f"--veto {target}: no file {module}")
        folder = os.path.dirname(path)
        if folder not in sys.path:
            sys.path.insert(0, folder)  # so that the file's own imports of its neighbours work
    elif os.getcwd() not in sys.path:
        sys.path.insert(0, os.getcwd())
    try:
        mod = _load_file(path) if path is not None else importlib.import_module(module)
    except ModuleNotFoundError as exc:
        raise UsageError(f"--veto {target}: cannot import {module} ({exc})",
                         hint="run libet test from the folder that holds it, or add that folder to PYTHONPATH") from None
    except Exception as exc:
        raise UsageError(f"--veto {target}: importing {module} raised {type(exc).__name__}: {exc}",
                         hint="fix the error in your module; libet only imports it") from None
    obj = mod
    for part in attr.split("."):
        if not hasattr(obj, part):
            names = sorted(n for n in dir(mod) if not n.startswith("_") and callable(getattr(mod, n, None)))
            raise UsageError(f"--veto {target}: {module} has no '{attr}'",
                             hint="callables there: " + (", ".join(names[:12]) or "none"))
        obj = getattr(obj, part)
    if not callable(obj):
        kind = type(obj).__name__
        raise UsageError(f"--veto {target}: {attr} is {'an' if kind[:1] in 'aeiou' else 'a'} {kind}, not a function")
    return obj


def _load_file(path: str):
    """The module in the file ``path``, loaded from that file whatever its name: importing it
    by name would give an already imported module of the same name instead (a ``guard.py``
    from another folder, or the standard library's ``json`` for a user's ``json.py``)."""
    import hashlib
    import importlib.util

    stem = os.path.splitext(os.path.basename(path))[0]
    name = f"libet_veto_{stem}_{hashlib.sha256(path.encode()).hexdigest()[:12]}"
    found = importlib.util.spec_from_file_location(name, path)
    mod = importlib.util.module_from_spec(found)
    sys.modules[name] = mod  # registered before running it, as an import does (dataclasses, pickling)
    try:
        found.loader.exec_module(mod)
    except BaseException:
        del sys.modules[name]
        raise
    return mod


@click.command("test")
@click.argument("file", type=click.Path(dir_okay=False))
@click.option("--veto", "target", required=True, metavar="MODULE:FUNCTION", help="The implementation: returns a bool or a veto probability.")
@click.option("--corpus", type=click.Path(dir_okay=False), default=None, metavar="FILE", help="Requests labelled with the substance variables (CSV or JSONL); the implementation then gets text.")
@click.option("--bind", "bind", type=click.Path(dir_okay=False), default=None, metavar="FILE", help="Transforms for each framing (and context) value (TOML or JSON).")
@click.option("--policy", default=None, metavar="P", help="The spec policy it implements: test P's checks and agreement with P.")
@click.option("--property", "properties", multiple=True, metavar="TEXT", help='A property to test instead, e.g. "invariant under framing" (repeatable).')
@click.option("--examples", type=click.IntRange(min=1), default=1000, show_default=True, metavar="N", help="Examples per property when the domain is too large to enumerate.")
@click.option("--seed", type=int, default=0, show_default=True, metavar="S", help="Seed of the search and of the transforms.")
@click.option("--exhaustive-limit", type=click.IntRange(min=0), default=100_000, show_default=True, metavar="N", help="Enumerate every request when there are at most N.")
@click.option("--search", type=click.Choice(["sample", "hypothesis"]), default="sample", show_default=True, help="How a large domain is searched.")
@click.option("--deterministic", is_flag=True, help="Declare that the implementation answers a request the same way every time (an exhaustive run may then PROVE).")
@click.option("--samples", type=click.IntRange(min=1), default=1, show_default=True, metavar="K", help="Calls per request for a stochastic implementation (estimates with intervals).")
@click.option("--confidence", type=click.FloatRange(0, 1, min_open=True, max_open=True), default=0.95, show_default=True, help="Confidence of the intervals (corrected for multiple comparisons).")
@click.option("--variants", type=click.IntRange(min=1), default=1, show_default=True, metavar="V", help="Renderings of each request with different transform seeds.")
@click.option("--timeout", type=click.FloatRange(min=0, min_open=True), default=10.0, show_default=True, metavar="S", help="Seconds per call of the implementation.")
@click.option("--set", "sets", multiple=True, metavar="NAME=VALUE", help="Override a param, or hold a variable at one value (repeatable).")
@click.option("--write-policy", "write_policy", type=click.Path(dir_okay=False), default=None, metavar="FILE", help="Write the spec with the measured behaviour as a policy to FILE.")
@click.option("--policy-name", default="measured", show_default=True, metavar="NAME", help="The name of the measured policy.")
@click.option("--force", is_flag=True, help="Overwrite the --write-policy file.")
@click.option("--no-db", "no_db", is_flag=True, help="Do not read or write the example database (.hypothesis/).")
@click.option("--by-value", "by_value", is_flag=True, help="Split each invariance over one variable into one result per value (first value vs each other).")
@click.option("--json", "as_json", is_flag=True, help="Print the results as JSON.")
@guard
def test(file, target, corpus, bind, policy, properties, examples, seed, exhaustive_limit, search, deterministic,
         samples, confidence, variants, timeout, sets, write_policy, policy_name, force, no_db, by_value, as_json):
    """Test the veto implementation MODULE:FUNCTION against the spec FILE: invariance under
    framing, context and depth, completeness, no over-refusal, agreement with a policy."""
    from libet.testing import conform
    from libet.testing.render import render
    from libet.testing.stochastic import measure

    loaded = load_or_exit(file, as_json)
    spec = loaded.spec
    params, fixed = parse_sets(sets, spec)
    if write_policy is not None and os.path.exists(write_policy) and not force:
        raise UsageError(f"{write_policy} exists", hint="pass --force to overwrite it, or choose another file")
    if bind is not None and corpus is None:
        raise UsageError("--bind renders a corpus; give --corpus FILE too")
    with _output_to_stderr():
        fn = import_callable(target)
    show = not as_json and use_color(sys.stderr)

    def progress(what, done, total):
        if show:
            click.echo(f"\r\x1b[2K{what}: {done:,}/{total:,}", err=True, nl=False)

    renderer = None
    if corpus is not None:
        from libet.testing.requests import Renderer

        renderer = Renderer.build(spec, corpus, bind, variants=variants, seed=seed)
    with _output_to_stderr():
        report = conform(
            spec, fn, properties=list(properties) or None, policy=policy, renderer=renderer, examples=examples,
            seed=seed, exhaustive_limit=exhaustive_limit, deterministic=deterministic or None, timeout=timeout,
            fixed=fixed, params=params, samples=samples, confidence=confidence,
            database=None if no_db else "default", name=target, search=search, by_value=by_value, progress=progress,
        )
    if show:
        click.echo("\r\x1b[2K", err=True, nl=False)
    written = None
    if write_policy is not None:
        from libet.files import write_atomic

        with _output_to_stderr():
            m = report.measurement or measure(spec, fn, renderer=renderer, samples=samples, confidence=confidence,
                                              seed=seed, limit=exhaustive_limit, fixed=fixed, timeout=timeout, name=target)
        main = spec.files[0] if spec.files else file
        if len(spec.files) > 1 and os.path.abspath(os.path.dirname(write_policy) or ".") != os.path.abspath(
                os.path.dirname(main) or "."):
            raise UsageError(f"--write-policy {write_policy}: the spec uses other files by paths relative to its "
                             "folder", hint=f"write the measured spec into {os.path.dirname(main) or '.'}/")
        with open(main, encoding="utf-8") as f:
            source = f.read()
        write_atomic(write_policy, m.spec_source(spec, source, policy_name))
        written = write_policy
    if as_json:
        out = report.to_json()
        if written:
            out["wrote"] = written
        emit_json(out)
    else:
        click.echo(render(report, color=use_color()))
        if written:
            click.echo(f"\nwrote {written}: the spec with policy '{policy_name}' as measured; "
                       f"run libet prove {written} --policy {policy_name}")
    sys.exit(report.exit_code())


def _output_to_stderr():
    """What the implementation prints goes to stderr while it runs: stdout is the results'
    (a guard that logs with print would otherwise break --json)."""
    return contextlib.redirect_stdout(sys.stderr)


__all__ = ["EXIT_BAD_INPUT", "import_callable", "test"]
