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

from libet.files import read_capped
from libet.heap import no_full_collection
from libet.spec import ast
from libet.spec.checker import check
from libet.spec.diagnostics import Diagnostic, Diagnostics, Note
from libet.spec.ir import Span, Spec
from libet.spec.parser import MAX_BYTES, Parsed, decode, parse


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
        if not path.strip():
            self.d.error("E002", "no file named: the path is empty", Span("<no file>", 1, 1, 1, 1),
                         hint="give the path of a spec file, e.g. libet check examples/prefill.libet")
            return self._result(None)
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
        self._uses(parsed.module, name)
        # Used files come first, in the order of their `use` lines (each after the files it
        # uses): their declarations precede the main file's, as the `use` lines do.
        self.order.append((parsed.module, True))
        if self.d.has_errors:
            return self._result(None)
        return self._result(check(self.order, self.d))

    def _uses(self, module: ast.Module, name: str) -> None:
        """Read every file ``module`` (the file ``name``) uses, depth first, each appended to
        the order after the files it uses. The walk keeps its own stack: a chain of ``use``
        lines is as long as a user makes it."""
        chain, inside = [name], {_key(name)}  # the files the walk is inside, outermost first
        stack = [(module, iter(module.items))]
        while stack:
            current, items = stack[-1]
            item = next((i for i in items if isinstance(i, ast.Use)), None)
            if item is None:  # every file this one uses is done: this one comes next
                stack.pop()
                inside.discard(_key(chain.pop()))
                if stack:
                    self.order.append((current, False))
                continue
            if not item.path.strip():  # joined to the folder, it named the folder
                self.d.error("E070", "`use` names no file: the path is empty", item.span,
                             hint='write the path of a spec file, relative to this one: use "values/common.libet"')
                continue
            target = os.path.normpath(os.path.join(os.path.dirname(chain[-1]), item.path))
            key = _key(target)
            if key in inside:
                cycle = " -> ".join(os.path.basename(c) for c in chain + [target])
                self.d.error(
                    "E070",
                    f"import cycle: {cycle}",
                    item.span,
                    hint="move what both files need into a third file that each uses",
                )
                continue
            if key in self.done:
                continue
            self.done.add(key)
            used = self._read_used(target, item)
            if used is not None:
                chain.append(target)
                inside.add(key)
                stack.append((used, iter(used.items)))

    def _read_used(self, target: str, use: ast.Use) -> ast.Module | None:
        """The parsed module of the file ``use`` names, or None (with diagnostics) when it
        cannot be read or parsed."""
        data = self._read(target, use.span)
        if data is None:
            return None
        text = decode(data, target, self.d, use.span)
        if text is None:
            return None
        self.sources[target] = text
        parsed = parse(text, target, self.d)
        self.parsed[target] = parsed
        if parsed.module is None:
            return None
        for sub in parsed.module.items:
            if isinstance(sub, (ast.TrajectoryDecl, ast.CheckDecl, ast.ExperimentDecl)):
                kind = {ast.TrajectoryDecl: "a trajectory", ast.CheckDecl: "a check", ast.ExperimentDecl: "an experiment"}
                self.d.error(
                    "E070",
                    f"a used file cannot declare {kind[type(sub)]}",
                    sub.span,
                    hint="a used file shares declarations (variables, params, defs, values, policies); "
                    "keep trajectories, checks and experiments in the main spec",
                    notes=[Note("used from here", use.span)],
                )
        return parsed.module

    def _read(self, path: str, used_at: Span | None) -> bytes | None:
        try:
            return read_capped(path, MAX_BYTES)  # decode() refuses what passes the limit
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
