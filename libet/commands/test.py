"""``libet test``: a real veto implementation (a Python callable) against the spec's
properties; a thin layer over :func:`libet.testing.conform`.

Consumes: a spec file, ``--veto module:function`` (the user's own code, imported by the name
given on the command line; a spec never runs code), optionally a corpus and bindings that render
concrete requests. Produces: a table of property -> PROVED / TESTED / VIOLATED / UNKNOWN with
the number of examples, the shrunk counterexamples (or JSON with ``--json``), and with
``--write-policy FILE`` the spec with the measured behaviour appended as a policy. Exit codes as
``libet prove``: 0 every property held, 1 a violation found, 2 bad input (including an
implementation that raises, hangs past ``--timeout``, returns a non-probability or ends the
process), 3 undecided.

The run is in a forked child (:mod:`libet.testing.isolation`): an implementation that ends its
process (``os._exit(0)``, a signal) cannot leave an exit code that reads as a verdict; the
parent reports how and during which call the child ended.
"""

from __future__ import annotations

import contextlib
import importlib
import os
import sys

import click

from libet.clitools import (
    EXIT_BAD_INPUT,
    echo_result,
    emit_json,
    fail,
    guard,
    internal_error,
    interrupted,
    load_or_exit,
    parse_sets,
    set_results_stream,
    use_color,
)
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
    from libet.testing.conformance import describe_exception, safe_repr

    try:
        mod = _load_file(path) if path is not None else importlib.import_module(module)
    except ModuleNotFoundError as exc:
        raise UsageError(f"--veto {target}: cannot import {module} ({exc})",
                         hint="run libet test from the folder that holds it, or add that folder to PYTHONPATH") from None
    except KeyboardInterrupt:
        raise
    except SystemExit as exc:  # its code would read as a verdict
        raise UsageError(f"--veto {target}: importing {module} called sys.exit({safe_repr(exc.code)})",
                         hint="a module under test defines the function; it does not exit") from None
    except BaseException as exc:  # noqa: BLE001 - the module's top level is the user's code
        raise UsageError(f"--veto {target}: importing {module} raised {describe_exception(exc)}",
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
    from libet.testing.isolation import Ended, run_in_child

    options = dict(file=file, target=target, corpus=corpus, bind=bind, policy=policy, properties=properties,
                   examples=examples, seed=seed, exhaustive_limit=exhaustive_limit, search=search,
                   deterministic=deterministic, samples=samples, confidence=confidence, variants=variants,
                   timeout=timeout, sets=sets, write_policy=write_policy, policy_name=policy_name, force=force,
                   no_db=no_db, by_value=by_value, as_json=as_json)

    def body(log) -> int:
        if log is None:  # in this process (no fork here): errors go their usual way
            _test(None, **options)
            return 0  # pragma: no cover - _test always exits
        set_results_stream(log.results)  # stdout is stderr in the child (libet/testing/isolation.py)
        return _in_child(lambda: _test(log, **options))

    outcome = run_in_child(body)
    if isinstance(outcome, Ended):
        _ended(outcome, target)
    sys.exit(outcome)


def _ended(ended, target: str):
    """The run's process ended without reporting its exit code: say how, and exit 2 (or, when
    the user's own signal ended it, with the shell's 128 + the signal)."""
    if ended.forwarded:
        click.echo(f"terminated ({ended.how()})", err=True)
        sys.exit(128 + ended.signal)
    how = ended.how()
    if ended.during == "call":
        fail(f"{target} ended the process while it was called ({how}), so no property was decided"
             f"\n  request: {ended.what}",
             "an implementation under test returns its answer (a bool or a veto probability); it must not exit "
             "or kill its process")
    if ended.during == "import":
        fail(f"--veto {target}: importing it ended the process ({how}), so nothing was tested",
             "an implementation's module defines the function; it must not exit or kill its process")
    fail(f"libet test's process ended before it reported ({how}), outside any call of {target}, so no property "
         "was decided",
         "a thread or an exit handler the implementation started may have ended it; if not, this is a bug in libet "
         "(set LIBET_DEBUG=1 and report it)")


def _in_child(run) -> int:
    """``run()`` in the forked child, as the top of the command line would run it: its exit code,
    with Ctrl-C and internal errors reported as ``libet.cli`` reports them (the child never
    returns into click)."""
    try:
        run()
        return 0
    except SystemExit as exc:
        if exc.code is None or isinstance(exc.code, int):
            return exc.code or 0
        click.echo(str(exc.code), err=True)
        return 1
    except KeyboardInterrupt:
        return interrupted()
    except Exception as exc:  # pragma: no cover - only on a bug in libet
        if "LIBET_DEBUG" in os.environ:
            import traceback

            traceback.print_exc()
        return internal_error(exc)


@guard
def _test(log, file, target, corpus, bind, policy, properties, examples, seed, exhaustive_limit, search,
          deterministic, samples, confidence, variants, timeout, sets, write_policy, policy_name, force, no_db,
          by_value, as_json):
    """The run of ``libet test``; ``log`` (a :class:`~libet.testing.isolation.CallLog`, or None
    in-process) is told of each call of the implementation. Ends with ``sys.exit(code)``."""
    from libet.testing import conform
    from libet.testing.conformance import Implementation
    from libet.testing.render import render
    from libet.testing.stochastic import check_policy_name, measure

    loaded = load_or_exit(file, as_json)
    spec = loaded.spec
    params, fixed = parse_sets(sets, spec)
    if write_policy is not None:
        check_policy_name(spec, policy_name, "--policy-name")
        if os.path.exists(write_policy) and not force:
            raise UsageError(f"{write_policy} exists", hint="pass --force to overwrite it, or choose another file")
    if bind is not None and corpus is None:
        raise UsageError("--bind renders a corpus; give --corpus FILE too")
    with _output_to_stderr():
        if log is not None:
            log.importing(target)
        fn = import_callable(target)
        if log is not None:
            log.leave()
    impl = Implementation(fn, name=target, timeout=timeout, deterministic=deterministic or None, watch=log)
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
            spec, impl, properties=list(properties) or None, policy=policy, renderer=renderer, examples=examples,
            seed=seed, exhaustive_limit=exhaustive_limit, fixed=fixed, params=params, samples=samples,
            confidence=confidence, database=None if no_db else "default", search=search, by_value=by_value,
            progress=progress,
        )
    if show:
        click.echo("\r\x1b[2K", err=True, nl=False)
    written = None
    if write_policy is not None:
        from libet.files import write_atomic

        with _output_to_stderr():
            m = report.measurement or measure(spec, impl, renderer=renderer, samples=samples, confidence=confidence,
                                              seed=seed, limit=exhaustive_limit, fixed=fixed)
        main = spec.files[0] if spec.files else file
        if len(spec.files) > 1 and os.path.abspath(os.path.dirname(write_policy) or ".") != os.path.abspath(
                os.path.dirname(main) or "."):
            raise UsageError(f"--write-policy {write_policy}: the spec uses other files by paths relative to its "
                             "folder", hint=f"write the measured spec into {os.path.dirname(main) or '.'}/")
        with open(main, encoding="utf-8") as f:
            source = f.read()
        text = m.spec_source(spec, source, policy_name)
        _check_written(text, write_policy)
        write_atomic(write_policy, text)
        written = write_policy
    if as_json:
        out = report.to_json()
        if written:
            out["wrote"] = written
        emit_json(out)
    else:
        echo_result(render(report, color=use_color(log.results if log is not None else None)))
        if written:
            echo_result(f"\nwrote {written}: the spec with policy '{policy_name}' as measured; "
                        f"run libet prove {written} --policy {policy_name}")
    sys.exit(report.exit_code())


def _check_written(text: str, path: str) -> None:
    """The measured spec must check before it is written: the message after it tells the user
    to prove it.

    Raises:
        UsageError: it does not (nothing is written), with its first error.
    """
    from libet.spec.loader import load_text

    checked = load_text(text, os.path.abspath(path))
    if not checked.ok:
        first = next((d for d in checked.diagnostics if d.is_error), None)
        what = f"{first.code}: {first.message}" if first is not None else "it has errors"
        raise UsageError(f"--write-policy {path}: the measured spec would not check ({what}); nothing was written",
                         hint="this is a bug in libet: please report it with the command line")


def _output_to_stderr():
    """What the implementation prints goes to stderr while it runs: stdout is the results'
    (a guard that logs with print would otherwise break --json)."""
    return contextlib.redirect_stdout(sys.stderr)


__all__ = ["EXIT_BAD_INPUT", "import_callable", "test"]
