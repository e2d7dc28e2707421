"""The loader: wires the stages together for one spec file and the files it uses.

Consumes: a path (or text with a name).
Produces: ``Loaded``: the IR (or None), every diagnostic of every file involved, and the source
texts (for rendering carets).

``use "other.libet"`` resolves relative to the using file's folder. Each file is read once even
when used along several paths; a cycle of uses is an error that names the chain. A used file may
declare variables, params, defs, values and policies; a trajectory, check or experiment belongs
to the main file only.
"""

from __future__ import annotations

import os

import attrs

from libet.heap import no_full_collection
from libet.spec import ast
from libet.spec.checker import check
from libet.spec.diagnostics import Diagnostic, Diagnostics, Note
from libet.spec.ir import Span, Spec
from libet.spec.parser import Parsed, decode, parse


@attrs.frozen
class Loaded:
    spec: Spec | None
    diagnostics: tuple[Diagnostic, ...]
    sources: dict[str, str]
    parsed: dict[str, Parsed]  # file -> parse result (for the formatter)

    @property
    def ok(self) -> bool:
        return self.spec is not None and not any(d.is_error for d in self.diagnostics)


def load_text(text: str, name: str = "<string>") -> Loaded:
    """Check spec source given as text (``use`` resolves relative to the current folder)."""
    with no_full_collection():  # the heap grows with the spec (libet/heap.py)
        return _Loader().run_text(text, name)


def load_path(path: str | os.PathLike) -> Loaded:
    """Read, parse and check the spec at ``path`` and every file it uses."""
    with no_full_collection():
        return _Loader().run_path(os.fspath(path))


class _Loader:
    def __init__(self):
        self.d = Diagnostics()
        self.sources: dict[str, str] = {}
        self.parsed: dict[str, Parsed] = {}
        self.order: list[tuple[ast.Module, bool]] = []
        self.done: set[str] = set()

    def run_path(self, path: str) -> Loaded:
        data = self._read(path, None)
        if data is None:
            return self._result(None)
        text = decode(data, path, self.d)
        if text is None:
            return self._result(None)
        return self.run_text(text, path)

    def run_text(self, text: str, name: str) -> Loaded:
        self.sources[name] = text
        parsed = parse(text, name, self.d)
        self.parsed[name] = parsed
        if parsed.module is None:
            return self._result(None)
        self.done.add(_key(name))
        self._uses(parsed.module, [name])
        # Used files come first, in the order of their `use` lines (each after the files it
        # uses): their declarations precede the main file's, as the `use` lines do.
        self.order.append((parsed.module, True))
        if self.d.has_errors:
            return self._result(None)
        return self._result(check(self.order, self.d))

    def _uses(self, module: ast.Module, chain: list[str]) -> None:
        here = os.path.dirname(chain[-1])
        for item in module.items:
            if not isinstance(item, ast.Use):
                continue
            target = os.path.normpath(os.path.join(here, item.path))
            if _key(target) in (_key(c) for c in chain):
                cycle = " -> ".join(os.path.basename(c) for c in chain + [target])
                self.d.error(
                    "E070",
                    f"import cycle: {cycle}",
                    item.span,
                    hint="move what both files need into a third file that each uses",
                )
                continue
            if _key(target) in self.done:
                continue
            self.done.add(_key(target))
            data = self._read(target, item.span)
            if data is None:
                continue
            text = decode(data, target, self.d)
            if text is None:
                continue
            self.sources[target] = text
            parsed = parse(text, target, self.d)
            self.parsed[target] = parsed
            if parsed.module is None:
                continue
            for sub in parsed.module.items:
                if isinstance(sub, (ast.TrajectoryDecl, ast.CheckDecl, ast.ExperimentDecl)):
                    kind = {ast.TrajectoryDecl: "trajectory", ast.CheckDecl: "check", ast.ExperimentDecl: "experiment"}
                    self.d.error(
                        "E070",
                        f"a used file cannot declare a {kind[type(sub)]}",
                        sub.span,
                        hint="a used file shares declarations (variables, params, defs, values, policies); "
                        "keep trajectories, checks and experiments in the main spec",
                        notes=[Note("used from here", item.span)],
                    )
            self._uses(parsed.module, chain + [target])
            self.order.append((parsed.module, False))

    def _read(self, path: str, used_at: Span | None) -> bytes | None:
        try:
            with open(path, "rb") as fh:
                return fh.read()
        except FileNotFoundError:
            what = "used file" if used_at else "file"
            self.d.error("E070" if used_at else "E002", f"{what} not found: {path}", used_at or Span(path, 1, 1, 1, 1),
                         hint="paths in `use` are relative to the file that uses them" if used_at else None)
        except IsADirectoryError:
            self.d.error("E002", f"{path} is a folder, not a spec file", used_at or Span(path, 1, 1, 1, 1))
        except OSError as exc:
            self.d.error("E002", f"cannot read {path}: {exc.strerror}", used_at or Span(path, 1, 1, 1, 1))
        return None

    def _result(self, spec: Spec | None) -> Loaded:
        diags = tuple(self.d.sorted())
        if any(x.is_error for x in diags):
            spec = None
        return Loaded(spec, diags, self.sources, self.parsed)


def _key(path: str) -> str:
    return os.path.realpath(path)
