"""Concrete requests: a labelled corpus, bindings from framing values to transforms, a renderer.

Consumes: a corpus file (CSV or JSONL: a ``text`` column or key and one per substance variable)
and bindings (a TOML or JSON file beside the spec, or a dict in Python) that say, for every value
of every framing variable (and optionally of context variables), which transforms render it.
Produces: a :class:`Renderer`: for an assignment and a variant, the request text: the corpus
row's text with each bound variable's transforms applied in declaration order.

Bindings file (TOML)::

    [framing.encoding]          # every value of every framing variable needs an entry
    plain = []                  # no transform
    leet = ["leetspeak"]
    b64 = "base64"

    [framing.wrapper]
    none = []
    roleplay = ["roleplay:a pirate", "quote"]   # composed, left to right

    [context.observed]          # optional for context variables
    true = ["persona:developer"]
    false = []

Errors name the file, the line or key, what is wrong, and how to fix it.
"""

from __future__ import annotations

import csv
import json
import os
from typing import Any, Mapping

import attrs

from libet.errors import UsageError
from libet.simulator.data import other_separator
from libet.spec import ir
from libet.testing.strategies import as_ir
from libet.testing.transforms import Composed, compose


@attrs.frozen
class Row:
    """One corpus request: its text, its substance values, and the line it came from."""

    text: str
    values: dict
    line: int


@attrs.frozen
class Corpus:
    """Requests labelled with substance variables (raw labels; typed by :meth:`rows`)."""

    path: str
    raw: tuple[tuple[int, dict], ...]  # (line, {column: value})

    @classmethod
    def load(cls, path: str | os.PathLike) -> "Corpus":
        """Read a CSV (header row) or JSONL (one object a line) file.

        Raises:
            UsageError: the file is missing, not CSV/JSONL, has no ``text``, or a line is
                malformed (the message names the line).
        """
        path = os.fspath(path)
        if not os.path.isfile(path):
            raise UsageError(f"corpus {path}: no such file")
        ext = os.path.splitext(path)[1].lower()
        rows: list[tuple[int, dict]] = []
        try:
            with open(path, encoding="utf-8", newline="") as f:
                if ext in (".jsonl", ".ndjson"):
                    for i, line in enumerate(f, 1):
                        if not line.strip():
                            continue
                        try:
                            obj = json.loads(line)
                        except json.JSONDecodeError as exc:
                            raise UsageError(f"corpus {path}:{i}: not JSON ({exc.msg})",
                                             hint="a JSONL corpus has one JSON object a line") from None
                        if not isinstance(obj, dict):
                            raise UsageError(f"corpus {path}:{i}: expected a JSON object, got {type(obj).__name__}")
                        rows.append((i, obj))
                elif ext in (".csv", ".tsv"):
                    delimiter = "\t" if ext == ".tsv" else ","
                    reader = csv.DictReader(f, delimiter=delimiter)
                    if reader.fieldnames is None:
                        raise UsageError(f"corpus {path}: empty file", hint="the first line names the columns: text, then the substance variables")
                    other = other_separator(reader.fieldnames, delimiter)
                    if other is not None and "text" not in reader.fieldnames:
                        raise UsageError(
                            f"corpus {path}: the header is one column, {reader.fieldnames[0]!r}: its fields are "
                            f"separated by {other}", hint="a .csv corpus separates its fields by commas, a .tsv corpus by tabs")
                    for rec in reader:
                        if None in rec:
                            raise UsageError(f"corpus {path}:{reader.line_num}: more fields than the header names")
                        rows.append((reader.line_num, dict(rec)))
                else:
                    raise UsageError(f"corpus {path}: expected a .csv, .tsv or .jsonl file")
        except UnicodeDecodeError:
            raise UsageError(f"corpus {path}: not UTF-8 text") from None
        if not rows:
            raise UsageError(f"corpus {path}: no requests")
        return cls(path, tuple(rows))

    def rows(self, spec) -> list[Row]:
        """The rows, with each substance label parsed in its variable's domain.

        Raises:
            UsageError: a row lacks ``text`` or a substance variable, or a label is outside
                the variable's domain.
        """
        spec = as_ir(spec)
        subst = [n for n, v in spec.variables.items() if v.cls is ir.VarClass.SUBSTANCE]
        out = []
        for line, rec in self.raw:
            text = rec.get("text")
            if not isinstance(text, str) or not text:
                raise UsageError(f"corpus {self.path}:{line}: no 'text'", hint="every request needs a non-empty text")
            values = {}
            for n in subst:
                if n not in rec or rec[n] in (None, ""):
                    raise UsageError(f"corpus {self.path}:{line}: no value for the substance variable '{n}'",
                                     hint="label every request with every substance variable: " + ", ".join(subst))
                values[n] = parse_value(spec.variables[n], rec[n], f"corpus {self.path}:{line}")
            out.append(Row(text, values, line))
        return out


def parse_value(var: ir.Variable, raw: Any, where: str):
    """A label (text, or a JSON bool/int/str) as a value of ``var``'s domain."""
    dom = var.domain
    values = dom.values()
    if isinstance(dom, ir.BoolDomain):
        if isinstance(raw, bool):
            return raw
        t = str(raw).strip().lower()
        if t in ("true", "1", "yes"):
            return True
        if t in ("false", "0", "no"):
            return False
    elif isinstance(dom, ir.IntDomain):
        try:
            v = int(str(raw).strip()) if not isinstance(raw, bool) else None
        except ValueError:
            v = None
        if v is not None and v in values:
            return v
    else:
        t = str(raw).strip()
        if t in values:
            return t
    raise UsageError(f"{where}: {var.name} = {raw!r} is not in its domain {dom}")


def _value_key(var: ir.Variable, key: str, where: str):
    return parse_value(var, key, where)


class Renderer:
    """Turns an assignment into a request text: a corpus row's text, then the transforms bound
    to each framing and context value, in declaration order.

    Args:
        corpus: a :class:`Corpus`.
        bindings: variable -> {value: transform(s)}, values typed (``True``, ``3``, ``"b64"``).
        variants: how many seeds each request is rendered with (seedable transforms such as
            ``random_case`` give a different text per variant); 1 by default.
        seed: the base seed of the transforms.
    """

    def __init__(self, corpus: Corpus, bindings: Mapping[str, Mapping[Any, Composed]], *, variants: int = 1,
                 seed: int = 0):
        if variants < 1:
            raise UsageError("variants must be at least 1")
        self.corpus = corpus
        self.bindings = {n: dict(m) for n, m in bindings.items()}
        self.variants = variants
        self.seed = seed
        self._rows: list[Row] | None = None
        self.unbound: tuple[str, ...] = ()

    @classmethod
    def build(cls, spec, corpus, bindings, *, variants: int = 1, seed: int = 0) -> "Renderer":
        """From a corpus (path or :class:`Corpus`) and bindings (path or dict), validated
        against ``spec``."""
        spec = as_ir(spec)
        if not isinstance(corpus, Corpus):
            corpus = Corpus.load(corpus)
        where = "bindings"
        if bindings is None:
            raw: Mapping = {}
        elif isinstance(bindings, (str, os.PathLike)):
            where = os.fspath(bindings)
            raw = load_bindings_file(where)
        else:
            raw = bindings
        r = cls(corpus, check_bindings(spec, raw, where), variants=variants, seed=seed)
        r.unbound = tuple(n for n, v in spec.variables.items() if v.cls is ir.VarClass.CONTEXT and n not in r.bindings)
        r.rows(spec)
        return r

    def rows(self, spec) -> list[Row]:
        if self._rows is None:
            self._rows = self.corpus.rows(spec)
        return self._rows

    def render(self, text: str, assignment: Mapping, variant: int = 0) -> str:
        seed = self.seed * 1_000_033 + variant
        for i, (name, by_value) in enumerate(self.bindings.items()):
            text = by_value[assignment[name]](text, seed * 101 + i)
        return text


def load_bindings_file(path: str) -> dict:
    """A bindings file as a dict (TOML, or JSON by its extension)."""
    if not os.path.isfile(path):
        raise UsageError(f"bindings {path}: no such file")
    ext = os.path.splitext(path)[1].lower()
    try:
        if ext == ".json":
            with open(path, encoding="utf-8") as f:
                data = json.load(f)
        elif ext == ".toml":
            import tomllib

            with open(path, "rb") as f:
                data = tomllib.load(f)
        else:
            raise UsageError(f"bindings {path}: expected a .toml or .json file")
    except json.JSONDecodeError as exc:
        raise UsageError(f"bindings {path}:{exc.lineno}: not JSON ({exc.msg})") from None
    except UnicodeDecodeError:
        raise UsageError(f"bindings {path}: not UTF-8 text") from None
    except Exception as exc:
        if type(exc).__name__ == "TOMLDecodeError":
            raise UsageError(f"bindings {path}: not TOML ({exc})") from None
        raise
    if not isinstance(data, dict):
        raise UsageError(f"bindings {path}: expected a table of variables")
    # TOML and JSON may group by class ([framing.persona]); flatten to variable -> table.
    flat: dict = {}
    for k, v in data.items():
        if k in ("framing", "context", "substance") and isinstance(v, dict) and all(isinstance(x, dict) for x in v.values()):
            for name, table in v.items():
                flat[name] = (k, table)
        else:
            flat[k] = (None, v)
    return flat


def check_bindings(spec: ir.Spec, raw: Mapping, where: str = "bindings") -> dict[str, dict[Any, Composed]]:
    """Validate bindings against the spec: every value of every framing variable bound, values
    in their domains, transforms known. Returns variable -> {value: Composed}, in declaration
    order."""
    out: dict[str, dict[Any, Composed]] = {}
    for name, entry in raw.items():
        cls, table = entry if isinstance(entry, tuple) else (None, entry)
        if name not in spec.variables:
            raise UsageError(f"{where}: '{name}' is not a variable of the spec",
                             hint="bind framing (and context) variables: " + ", ".join(
                                 n for n, v in spec.variables.items() if v.cls is not ir.VarClass.SUBSTANCE))
        var = spec.variables[name]
        if var.cls is ir.VarClass.SUBSTANCE:
            raise UsageError(f"{where}: '{name}' is a substance variable; the substance comes from the corpus labels")
        if cls is not None and cls != var.cls.value:
            raise UsageError(f"{where}: '{name}' is listed under [{cls}] but is a {var.cls.value} variable")
        if not isinstance(table, Mapping):
            raise UsageError(f"{where}: '{name}' must map each value to its transforms")
        by_value: dict[Any, Composed] = {}
        for key, spelled in table.items():
            value = _value_key(var, key, f"{where}: {name}")
            parts = [spelled] if isinstance(spelled, str) or callable(spelled) else spelled
            if not isinstance(parts, (list, tuple)):
                raise UsageError(f"{where}: {name}.{key}: expected a transform name or a list of them")
            try:
                by_value[value] = compose(parts)
            except UsageError as exc:
                raise UsageError(f"{where}: {name}.{key}: {exc}", hint=exc.hint) from None
        out[name] = by_value
    for name, var in spec.variables.items():
        if var.cls is not ir.VarClass.FRAMING:
            continue
        if name not in out:
            raise UsageError(f"{where}: the framing variable '{name}' has no binding",
                             hint=f"give each of its values {var.domain} a list of transforms ([] for none)")
    for name, by_value in out.items():
        var = spec.variables[name]
        missing = [v for v in var.domain.values() if v not in by_value]
        if missing:
            shown = ", ".join(_show(v) for v in missing)
            raise UsageError(f"{where}: {name} = {shown} has no transform",
                             hint=f"bind every value of {name} {var.domain} ([] renders it unchanged)")
    order = list(spec.variables)
    return {n: out[n] for n in order if n in out}


def _show(v) -> str:
    if isinstance(v, bool):
        return "true" if v else "false"
    return str(v)
