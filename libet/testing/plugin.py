"""The pytest plugin (entry point ``pytest11: libet``), active wherever libet is installed.

* ``pytest --libet`` (or ``libet_collect = true`` in the ini file) collects every ``*.libet``
  file as a test file and each of its checks as a test item: PROVED passes, VIOLATED fails with
  its counterexample, UNKNOWN is reported as a skip whose reason starts with ``UNKNOWN``. A spec
  with errors is one failing item that shows its diagnostics. Without the option nothing is
  collected, so a project's own ``.libet`` fixtures (bad specs, say) are left alone.
* The ``libet_spec`` fixture: the spec named by ``@pytest.mark.libet_spec("path")`` on the
  test (relative to the test file's folder) or by the ``libet_spec`` ini option (relative to
  the root folder), loaded once per session.
* Options: ``--libet-timeout S`` (per qualitative check, default 30).

Importing this module must stay cheap (it is loaded by every pytest run): libet is imported
inside the hooks that need it.
"""

from __future__ import annotations

import os

import pytest


def pytest_addoption(parser):
    group = parser.getgroup("libet", "libet specs")
    group.addoption("--libet", action="store_true", default=False, help="collect the checks of *.libet files as test items")
    group.addoption("--libet-timeout", type=float, default=None, metavar="S", help="seconds per qualitative check (default 30)")
    parser.addini("libet_collect", type="bool", default=False, help="collect *.libet files as test files (as --libet)")
    parser.addini("libet_spec", default="", help="the spec the libet_spec fixture loads (relative to the root folder)")


def pytest_configure(config):
    config.addinivalue_line("markers", "libet_spec(path): the spec the libet_spec fixture loads for this test")


def pytest_collect_file(file_path, parent):
    if file_path.suffix != ".libet":
        return None
    config = parent.config
    if not (config.getoption("libet") or config.getini("libet_collect")):
        return None
    return LibetFile.from_parent(parent, path=file_path)


class LibetFile(pytest.File):
    def collect(self):
        import libet
        from libet.errors import SpecError

        try:
            spec = libet.load(self.path)
        except SpecError as exc:
            yield SpecErrorItem.from_parent(self, name="spec", error=exc)
            return
        seen: dict[str, int] = {}
        for check in spec.ir.checks:
            name = f"{check.policy}: {check.name}"
            seen[name] = seen.get(name, 0) + 1
            if seen[name] > 1:
                name += f" ({seen[name]})"
            yield CheckItem.from_parent(self, name=name, spec=spec, check=check)


class SpecErrorItem(pytest.Item):
    def __init__(self, *, error, **kwargs):
        super().__init__(**kwargs)
        self.error = error

    def runtest(self):
        raise self.error

    def repr_failure(self, excinfo, style=None):
        return self.error.render()

    def reportinfo(self):
        return self.path, 0, f"{self.path.name}: spec errors"


class CheckFailed(Exception):
    """A check was VIOLATED; carries its result."""

    def __init__(self, result):
        super().__init__(result.check)
        self.result = result


class CheckItem(pytest.Item):
    def __init__(self, *, spec, check, **kwargs):
        super().__init__(**kwargs)
        self.spec = spec
        self.check = check

    def runtest(self):
        from libet.results import Status

        timeout = self.config.getoption("libet_timeout") or 30.0
        results = [r for r in self.spec.check(policy=self.check.policy, check=self.check.name, timeout=timeout)
                   if r.check == self.check.name]
        for r in results:
            if r.status is Status.VIOLATED:
                raise CheckFailed(r)
        for r in results:
            if r.status is Status.UNKNOWN:
                pytest.skip(f"UNKNOWN: {r.reason or 'undecided'}")

    def repr_failure(self, excinfo, style=None):
        if isinstance(excinfo.value, CheckFailed):
            r = excinfo.value.result
            body = r.counterexample.describe() if r.counterexample is not None else ""
            return f"{self.check.policy}: {r.check} VIOLATED ({r.engine})\n{body}"
        return super().repr_failure(excinfo, style=style)

    def reportinfo(self):
        line = self.check.span.line - 1 if self.check.span is not None and hasattr(self.check.span, "line") else 0
        return self.path, line, f"{self.check.policy}: {self.check.name}"


_CACHE_KEY = "_libet_specs"


@pytest.fixture
def libet_spec(request):
    """The spec of ``@pytest.mark.libet_spec(path)`` or of the ``libet_spec`` ini option, as a
    :class:`libet.Specification` (loaded once per session)."""
    import libet

    marker = request.node.get_closest_marker("libet_spec")
    if marker is not None and marker.args:
        base = os.path.dirname(str(request.node.path))
        path = os.path.join(base, marker.args[0])
    else:
        ini = request.config.getini("libet_spec")
        if not ini:
            pytest.fail("libet_spec: no spec named; mark the test with @pytest.mark.libet_spec('path/to/spec.libet') "
                        "or set libet_spec in the pytest ini file", pytrace=False)
        path = os.path.join(str(request.config.rootpath), ini)
    cache = request.config.__dict__.setdefault(_CACHE_KEY, {})
    key = os.path.abspath(path)
    if key not in cache:
        from libet.errors import SpecError

        try:
            cache[key] = libet.load(key)
        except SpecError as exc:
            pytest.fail(f"libet_spec: {path} has errors:\n{exc.render()}", pytrace=False)
    return cache[key]
