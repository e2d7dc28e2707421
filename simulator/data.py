"""Measured data: the points of an experiment that someone observed, read and checked.

Consumes: a checked spec, one of its experiments, and a CSV or JSON file of measured points
(``data "FILE"`` in the experiment, or a path given to ``libet fit --data``).
Produces: a :class:`Dataset`: one :class:`Observation` per row (the point of the sweep, the
policy, the measure, the observed value and its uncertainty: ``n`` trials with ``successes``,
or a standard deviation), and the file's sha256; or a :class:`~libet.errors.DataError` listing
every problem with its file, line and column (exit code 2 on the command line).

Format (docs/calibration.md). A CSV file has a header line; a JSON file holds a list of objects
or ``{"rows": [...]}``. The columns:

- one per name the experiment varies (a variable or a param), each required;
- ``observed``: the measured value (a rate in [0, 1] for a ``P(...)`` measure); it may be left
  out when ``n`` and ``successes`` are given;
- ``n`` (trials) and ``successes`` (optional when ``observed`` is given: then ``observed * n``,
  possibly fractional, as for a published rounded rate), or ``std`` (a standard deviation of
  ``observed``); neither means least squares;
- ``policy`` and ``measure`` (the measure's text, e.g. ``P(harm)``): required only when the
  experiment has more than one;
- ``source`` and ``note``: free text, kept with the data (where the number comes from).
"""

from __future__ import annotations

import bisect
import csv
import hashlib
import io
import json
import math
import re
from typing import Any

import attrs

from libet.errors import DataError, UsageError
from libet.files import read_capped
from libet.spec import ir
from libet.spec import measures as ms
from libet.spec.diagnostics import Diagnostic, Note, did_you_mean
from libet.spec.printer import name_list

#: Columns with a fixed meaning; every other column names a varied variable or param.
RESERVED = ("policy", "measure", "observed", "n", "successes", "std", "source", "note")
#: Largest data file read (bytes).
MAX_BYTES = 50 << 20
#: Most problems of one data file reported (a file of many bad rows would bury the first).
MAX_REPORTED = 50
#: Smallest std a row may give: a thousand times the engines' rounding of a value (about
#: 1e-15), so that the fit weighs the data and not the rounding. Far below it a residual over
#: its std overflows double precision (std 1e-300: the fit saw infinity everywhere).
MIN_STD = 1e-12
#: Most trials a row may give: -2 log-likelihood grows with n, and at 10^12 trials its
#: rounding in double precision (about 10^-4) is still far below the cut-off the intervals
#: are read at (3.84); at 10^200 it is 10^184, and every profile looked flat.
MAX_N = 10**12


@attrs.frozen
class Observation:
    """One measured point. ``row`` counts data rows from 1 (the header is not a row)."""

    row: int
    policy: str
    measure: ms.Measure
    #: the varied names' values at this point, in the experiment's order (params as Fractions)
    point: tuple[tuple[str, Any], ...]
    observed: float
    n: float | None = None
    successes: float | None = None
    std: float | None = None
    source: str | None = None

    @property
    def kind(self) -> str:
        """The likelihood this row takes: ``binomial``, ``gaussian`` or ``least squares``."""
        if self.n is not None:
            return "binomial"
        if self.std is not None:
            return "gaussian"
        return "least squares"

    def label(self) -> str:
        """``prefill=5, policy shallow, P(harm)``: the point for people."""
        parts = [f"{k}={_show(v)}" for k, v in self.point]
        return ", ".join(parts + [f"policy {self.policy}", self.measure.text])

    def error_bar(self) -> float | None:
        """One standard error of ``observed`` (binomial: sqrt(p(1-p)/n)), or None."""
        if self.std is not None:
            return self.std
        if self.n is not None:
            p = self.observed
            return math.sqrt(max(p * (1 - p), 0.0) / self.n)
        return None


@attrs.frozen
class Dataset:
    path: str
    sha256: str
    experiment: str
    rows: tuple[Observation, ...]

    @property
    def kind(self) -> str:
        """The likelihood of the whole set (every row takes the same; :func:`load` checks)."""
        return self.rows[0].kind if self.rows else "least squares"

    @property
    def sources(self) -> tuple[str, ...]:
        return tuple(dict.fromkeys(r.source for r in self.rows if r.source))

    def select(self, rows) -> "Dataset":
        keep = set(rows)
        return attrs.evolve(self, rows=tuple(r for r in self.rows if r.row in keep))

    def without(self, rows) -> "Dataset":
        drop = set(rows)
        return attrs.evolve(self, rows=tuple(r for r in self.rows if r.row not in drop))


def _first(diags: list[Diagnostic]) -> list[Diagnostic]:
    """The first MAX_REPORTED problems, the last of them noting how many more there are."""
    if len(diags) <= MAX_REPORTED:
        return diags
    last = diags[MAX_REPORTED - 1]
    more = Note(f"{len(diags) - MAX_REPORTED:,} more problems in this file are not shown; fix these and read it again")
    return diags[:MAX_REPORTED - 1] + [attrs.evolve(last, notes=last.notes + (more,))]


def _show(v) -> str:
    from fractions import Fraction

    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, Fraction):
        return str(v.numerator) if v.denominator == 1 else f"{float(v):g}"
    return str(v)


def load(spec: ir.Spec, experiment: str, path: str | None = None) -> Dataset:
    """The measured points of ``experiment``: from ``path``, or the file its ``data`` line
    names.

    Raises:
        UsageError: no such experiment, no data file named, or the file cannot be read.
        DataError: the file's rows do not fit the spec (every problem, located).
    """
    if experiment not in spec.experiments:
        raise UsageError(
            f"there is no experiment {experiment!r} (experiments: {name_list(spec.experiments)})",
            did_you_mean(experiment, spec.experiments),
        )
    exp = spec.experiments[experiment]
    if path is None:
        path = exp.data_path()
        if path is None:
            raise UsageError(
                f"experiment {experiment!r} has no data file",
                'bind one in the spec (`data "measured.csv"` inside the experiment) or give --data FILE',
            )
    try:
        raw = read_capped(path, MAX_BYTES)
        if len(raw) > MAX_BYTES:
            raise UsageError(f"the data file {path} is larger than the limit of {MAX_BYTES:,} bytes")
    except OSError as exc:
        where = f" (named by the `data` line at {exp.data_span})" if exp.data_span and path == exp.data_path() else ""
        raise UsageError(f"cannot read the data file {path}{where}: {exc.strerror or exc}") from None
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise UsageError(f"the data file {path} is not UTF-8 text (byte {exc.start})") from None
    reader = _Reader(spec, exp, path, text)
    is_json = path.lower().endswith(".json") or text.lstrip().startswith(("[", "{"))
    rows = reader.json_rows() if is_json else reader.csv_rows()
    obs = reader.observations(rows)
    if reader.diags:
        raise DataError(_first(reader.diags), {path: text})
    return Dataset(path, hashlib.sha256(raw).hexdigest(), experiment, tuple(obs))


class _Reader:
    def __init__(self, spec: ir.Spec, exp: ir.Experiment, path: str, text: str):
        self.spec, self.exp, self.path, self.text = spec, exp, path, text
        self.diags: list[Diagnostic] = []
        self.lines = text.splitlines()
        self.is_json = False  # set by json_rows: what a cell's ``where`` holds
        self._line_starts: list[int] | None = None  # offsets of the lines (JSON errors), formed when needed

    # -- locations -----------------------------------------------------------------------
    def span(self, line: int, col: int = 1, width: int = 1) -> ir.Span:
        return ir.Span(self.path, line, col, line, col + max(width, 1))

    def error(self, code: str, message: str, span: ir.Span | None, hint: str | None = None) -> None:
        self.diags.append(Diagnostic(code, message, span, hint))

    # -- the two formats: rows as (row number, {column: (text or value, where)}) -------------
    # ``where`` says where the cell is, in a form cheap to keep (:meth:`where` turns it into a
    # span): only a cell with something wrong is ever located, so a long file costs its values.
    def csv_rows(self) -> list[tuple[int, dict]]:
        records = list(csv.reader(io.StringIO(self.text)))
        starts = _record_lines(self.text)
        if not records or not any(c.strip() for c in records[0]):
            self.error("E080", "the data file is empty: it needs a header line and one line per point",
                       self.span(1), hint="e.g. `prefill,observed,std` then `5,0.421,0.009`")
            return []
        header = [c.strip() for c in records[0]]
        sep = other_separator(header)
        if sep is not None:
            self.error("E080", f"the header is one column, {header[0]!r}: the file's fields are separated by "
                       f"{sep}, and libet reads comma-separated values", self.span(1, 1, len(header[0])),
                       hint="save the data as CSV with commas (and decimal points), or as JSON")
            return []
        head_cols = _columns(self.lines[0]) if self.lines else []
        self.header(header, [self.span(1, c, len(h)) for h, c in zip(header, _pad(head_cols, len(header)))])
        out = []
        for i, rec in enumerate(records[1:], start=1):
            line = starts[i] if i < len(starts) else i + 1
            if not any(c.strip() for c in rec):
                continue
            if len(rec) != len(header):
                self.error("E080", f"row {len(out) + 1} has {len(rec)} fields; the header has {len(header)}",
                           self.span(line, 1, len(self.lines[line - 1]) if line - 1 < len(self.lines) else 1))
                continue
            out.append((len(out) + 1, {h: (v.strip(), (line, j, max(len(v), 1)))
                                       for j, (h, v) in enumerate(zip(header, rec)) if h}))
        return out

    def json_rows(self) -> list[tuple[int, dict]]:
        self.is_json = True
        try:
            doc = json.loads(self.text)
        except json.JSONDecodeError as exc:
            self.error("E080", f"the data file is not valid JSON: {exc.msg}", self.span(exc.lineno, exc.colno))
            return []
        rows = doc.get("rows") if isinstance(doc, dict) else doc
        if not isinstance(rows, list) or not all(isinstance(r, dict) for r in rows):
            self.error("E080", 'a JSON data file holds a list of objects, or {"rows": [...]}', self.span(1))
            return []
        offsets = _json_row_offsets(self.text, isinstance(doc, dict))
        keys: list[str] = list(dict.fromkeys(k for r in rows for k in r))
        first = offsets[0] if offsets else 0
        self.header(keys, [self._at(self._find(first, f'"{k}"'), len(k) + 2) for k in keys])
        out = []
        for i, r in enumerate(rows, start=1):
            base = offsets[i - 1] if i - 1 < len(offsets) else 0
            cells = {k: ("" if v is None else v, (base, k, v)) for k, v in r.items()}
            for k in keys:
                cells.setdefault(k, ("", (base, None, None)))
            out.append((i, cells))
        return out

    def where(self, loc) -> ir.Span:
        """The span of a cell: ``(line, field, width)`` in a CSV file, ``(row offset, key,
        value)`` in a JSON file (the value's place; the row's start for a missing key)."""
        if not self.is_json:
            line, field, width = loc
            cols = _pad(_columns(self.lines[line - 1]) if line - 1 < len(self.lines) else [], field + 1)
            return self.span(line, cols[field], width)
        base, key, value = loc
        if key is None:
            return self._at(base, 1)
        at = self._find(base, f'"{key}"')
        colon = self.text.find(":", at + len(key) + 2)
        if colon >= 0:  # point at the value, not the key
            at = colon + 1
            while at < len(self.text) and self.text[at] in " \t\r\n":
                at += 1
        return self._at(at, max(len(json.dumps(value)), 1))

    def _find(self, start: int, needle: str) -> int:
        at = self.text.find(needle, start)
        return start if at < 0 else at

    def _at(self, offset: int, width: int) -> ir.Span:
        if self._line_starts is None:
            self._line_starts = [0] + [m.end() for m in re.finditer("\n", self.text)]
        line = bisect.bisect_right(self._line_starts, offset)
        return self.span(line, offset - self._line_starts[line - 1] + 1, width)

    # -- the header ----------------------------------------------------------------------
    def header(self, names: list[str], spans: list[ir.Span]) -> None:
        exp, spec = self.exp, self.spec
        varied = [v.name for v in exp.vary]
        seen = set()
        for name, span in zip(names, spans):
            if not name:
                self.error("E080", "a column has no name", span)
            elif name in seen:
                self.error("E080", f"column {name!r} appears twice", span)
            elif name not in RESERVED and name not in varied:
                if name in spec.variables or name in spec.params:
                    what = "variable" if name in spec.variables else "param"
                    self.error("E080", f"column {name!r}: experiment '{exp.name}' does not vary {what} {name}",
                               span, hint=f"it varies {', '.join(varied) or 'nothing'}; add `vary {name} over ...` "
                               "to the experiment, or drop the column")
                else:
                    close = did_you_mean(name, varied + list(RESERVED))
                    self.error("E080", f"column {name!r} is no variable or param of the spec, and no data column",
                               span, hint=close or f"the columns are the varied names ({', '.join(varied) or 'none'}) "
                               f"and {', '.join(RESERVED)}")
            seen.add(name)
        first = spans[0] if spans else self.span(1)
        for v in varied:
            if v not in seen:
                self.error("E080", f"no column {v!r}: experiment '{exp.name}' varies it, so each row must say its value",
                           first)
        if "observed" not in seen and not {"n", "successes"} <= seen:
            self.error("E080", "no column 'observed' (nor 'n' and 'successes')", first,
                       hint="the measured value goes in a column named observed")
        if len(exp.policies) > 1 and "policy" not in seen:
            self.error("E080", f"no column 'policy': experiment '{exp.name}' has {len(exp.policies)} policies "
                       f"({', '.join(exp.policies)})", first)
        if len(exp.measures) > 1 and "measure" not in seen:
            self.error("E080", f"no column 'measure': experiment '{exp.name}' has {len(exp.measures)} measures "
                       f"({', '.join(m.text for m in exp.measures)})", first)
        self.columns_ok = not self.diags

    # -- rows ----------------------------------------------------------------------------
    def observations(self, rows) -> list[Observation]:
        if not getattr(self, "columns_ok", False):
            return []
        out = []
        kinds: dict[str, int] = {}
        for number, cells in rows:
            o = self.observation(number, cells)
            if o is not None:
                out.append(o)
                kinds.setdefault(o.kind, o.row)
        if len(kinds) > 1:
            text = ", ".join(f"{k} (first in row {r})" for k, r in kinds.items())
            self.error("E080", f"rows take different likelihoods: {text}", self.span(1),
                       hint="give every row n (binomial) or every row std (Gaussian), or neither (least squares)")
        if not out and not self.diags:
            self.error("E080", "the data file has no rows", self.span(1))
        return out

    def observation(self, number: int, cells: dict) -> Observation | None:
        exp, spec = self.exp, self.spec
        before = len(self.diags)

        def text(col):
            v = cells.get(col, ("", None))[0]
            return v if not isinstance(v, str) else v.strip()

        def span(col):
            cell = cells.get(col)
            return self.span(1) if cell is None else self.where(cell[1])

        point = []
        for v in exp.vary:
            raw = text(v.name)
            try:
                if v.name in spec.params:
                    from libet.spec.overrides import check_param

                    point.append((v.name, check_param(spec, v.name, raw)))
                else:
                    from libet.spec.overrides import check_value

                    point.append((v.name, check_value(spec, v.name, raw)))
            except UsageError as exc:
                self.error("E081", f"row {number}, column {v.name!r}: {exc}", span(v.name), getattr(exc, "hint", None))
        policy = text("policy") or (exp.policies[0] if len(exp.policies) == 1 else "")
        if policy == "":
            self.error("E080", f"row {number}: no policy; experiment '{exp.name}' has {len(exp.policies)} "
                       f"({', '.join(exp.policies)})", span("policy"), "say in the policy column which one was measured")
        elif policy not in exp.policies:
            self.error("E080", f"row {number}: {policy!r} is not a policy of experiment '{exp.name}' "
                       f"({', '.join(exp.policies)})", span("policy"), did_you_mean(str(policy), exp.policies))
        measure = exp.measures[0] if len(exp.measures) == 1 and not text("measure") else None
        if measure is None:
            phases = spec.trajectory.phase_names if spec.trajectory else ()
            try:
                m = ms.parse(str(text("measure")), phases)
                measure = next((x for x in exp.measures if x == m), None)
            except ValueError:
                measure = None
            if measure is None:
                self.error("E080", f"row {number}: {text('measure')!r} is not a measure of experiment '{exp.name}' "
                           f"({', '.join(m.text for m in exp.measures)})", span("measure"))
        n = self.number(number, "n", text("n"), span)
        k = self.number(number, "successes", text("successes"), span)
        std = self.number(number, "std", text("std"), span)
        obs = self.number(number, "observed", text("observed"), span)
        if n is not None and not n > 0:
            self.error("E081", f"row {number}: n must be a positive count, not {_num(n)}", span("n"))
            n = None
        elif n is not None and n > MAX_N:
            self.error("E081", f"row {number}: n {_num(n)} is more than 10^12 trials", span("n"),
                       hint="past 10^12 the likelihood is rounded more coarsely than the intervals are read; "
                       "give the number of trials measured")
            n = None
        if k is not None and n is None and len(self.diags) == before:
            self.error("E080", f"row {number}: successes without n", span("successes"), hint="give n, the number of trials")
        if k is not None and n is not None:
            if k < 0 or k > n:
                self.error("E081", f"row {number}: {_num(k)} successes lie outside 0..n = 0..{_num(n)}",
                           span("successes"))
            elif obs is None:
                obs = k / n
            elif abs(obs - k / n) > 0.5 / n + 1e-12:
                self.error("E081", f"row {number}: observed {_num(obs)} disagrees with successes/n = {k / n:.6g}",
                           span("observed"), hint="give one of them, or make them agree")
        if std is not None and not std > 0:
            self.error("E081", f"row {number}: std must be positive, not {_num(std)}", span("std"))
        elif std is not None and std < MIN_STD:
            self.error("E081", f"row {number}: std {_num(std)} is below {MIN_STD:g}", span("std"),
                       hint="the engines compute a value to about 1e-15, so a smaller std would fit their rounding; "
                       "give the measurement's own std")
        if std is not None and n is not None:
            self.error("E080", f"row {number}: give n (binomial) or std (Gaussian), not both", span("std"))
        if obs is None and len(self.diags) == before:
            self.error("E080", f"row {number}: no observed value", span("observed"))
        if obs is not None and measure is not None:
            if measure.reward is ms.Reward.ONE and not 0 <= obs <= 1:
                self.error("E081", f"row {number}: observed {_num(obs)} is a probability ({measure.text}) "
                           "and must lie in [0, 1]", span("observed"),
                           hint="write rates as fractions: 42.1 % is 0.421")
            elif obs < 0:
                self.error("E081", f"row {number}: observed {_num(obs)} is an expectation of a count and "
                           "cannot be negative", span("observed"))
            elif (most := _most_steps(spec)) is not None and obs > most[0]:
                self.error("E081", f"row {number}: observed {_num(obs)} is an expectation of a count of steps "
                           f"({measure.text}) and cannot exceed {most[1]}", span("observed"))
        if n is not None and measure is not None and measure.reward is not ms.Reward.ONE:
            self.error("E080", f"row {number}: n and successes are for a probability; {measure.text} is an expectation",
                       span("n"), hint="give std instead")
        if len(self.diags) > before:
            return None
        if n is not None and k is None:
            k = obs * n
        source = text("source")
        return Observation(number, policy, measure, tuple(point), float(obs), n, k, std,
                           str(source) if source not in ("", None) else None)

    def number(self, row: int, col: str, value, span) -> float | None:
        """``value`` as a finite float (None when blank); ``span(col)`` locates an error."""
        if value in ("", None):
            return None
        if isinstance(value, bool):
            self.error("E081", f"row {row}, column {col!r}: {str(value).lower()} is not a number", span(col))
            return None
        try:
            x = float(value)
        except (TypeError, ValueError):
            self.error("E081", f"row {row}, column {col!r}: {value!r} is not a number", span(col),
                       hint="percentages are written as fractions (0.421), without a % sign"
                       if isinstance(value, str) and value.endswith("%") else None)
            return None
        if not math.isfinite(x):
            self.error("E081", f"row {row}, column {col!r}: {value!r} is not a finite number", span(col))
            return None
        return x


def _most_steps(spec) -> tuple[int, str] | None:
    """The most steps a trajectory takes (every depth, step and refusal count is at most it),
    and how to say it; None for an unbounded one."""
    from libet.spec.checker_structure import MAX_HORIZON

    traj = spec.trajectory
    if traj is None or traj.horizon is None:
        return None
    if traj.horizon_expr is None:
        return traj.horizon, f"the horizon, {traj.horizon:,}"
    return MAX_HORIZON, f"the largest horizon, {MAX_HORIZON:,}"  # a horizon written over params


def _num(x: float) -> str:
    return f"{x:g}"


def _pad(cols: list[int], n: int) -> list[int]:
    return (cols + [1] * n)[:n]


def _columns(line: str) -> list[int]:
    """The 1-based column where each comma-separated field of ``line`` starts (quotes
    respected), at the first non-blank character of the field."""
    starts, in_quotes, start = [], False, 0
    for i, ch in enumerate(line + ","):
        if ch == '"':
            in_quotes = not in_quotes
        elif ch == "," and not in_quotes:
            field = line[start:i]
            starts.append(start + (len(field) - len(field.lstrip())) + 1)
            start = i + 1
    return starts


def other_separator(header: list[str], delimiter: str = ",") -> str | None:
    """How the fields of a file read as one column are separated, in words (``';'``, ``a
    tab``), when its header is one column that holds another separator: a spreadsheet's export
    in another locale. None otherwise."""
    if len(header) != 1:
        return None
    sep = next((c for c in ";\t|," if c != delimiter and c in header[0]), None)
    return None if sep is None else "a tab" if sep == "\t" else repr(sep)


def _record_lines(text: str) -> list[int]:
    """The 1-based line on which each CSV record starts (a quoted field may span lines)."""
    out, line, in_quotes, at_start = [], 1, False, True
    for ch in text:
        if at_start:
            out.append(line)
            at_start = False
        if ch == '"':
            in_quotes = not in_quotes
        elif ch == "\n":
            line += 1
            if not in_quotes:
                at_start = True
    return out


def _json_row_offsets(text: str, wrapped: bool) -> list[int]:
    """Character offsets of the row objects of a JSON data file (for locating errors)."""
    dec = json.JSONDecoder()
    i = text.find('"rows"') if wrapped else 0
    i = text.find("[", max(i, 0))
    if i < 0:
        return []
    i += 1
    out = []
    while True:
        while i < len(text) and text[i] in " \t\r\n,":
            i += 1
        if i >= len(text) or text[i] == "]":
            return out
        out.append(i)
        try:
            _, i = dec.raw_decode(text, i)
        except json.JSONDecodeError:
            return out
