"""The HTML report of a ``libet run`` folder: one self-contained page that ties it together.

Consumes: a results folder written by :func:`libet.orchestrate.run` (``results.json``,
``experiments/NAME.json`` and the plots' SVGs, ``graphs/POLICY.svg`` or ``.dot``).
Produces: ``report.html`` in that folder (``libet run`` writes it, ``libet report DIR``
rebuilds it), and HTML fragments (a check table, an experiment, a spec summary) that the
notebook displays of :mod:`libet.api`, :mod:`libet.results` and the simulator's results reuse.

The page works offline, opened from disk: the CSS, the plots and the graphs are inline (SVG),
the one script (filtering checks by verdict) is inline, nothing is fetched. Every number says
whether it was computed exactly or estimated (with its interval), as the results do.
"""

from __future__ import annotations

import html
import json
import os
import re
from typing import Iterable, Mapping

from libet.errors import UsageError
from libet.spec.printer import count_text, name_list

#: The ``generator`` meta tag: a report.html carrying it was written by libet and may be rebuilt
#: in place; any other file of that name is the user's and is not overwritten without --force.
GENERATOR = "libet report"

STATUS_CLASS = {"PROVED": "ok", "VIOLATED": "bad", "UNKNOWN": "unk", "TESTED": "tested", "DONE": "done"}

CSS = """
:root { --ok:#1a7f37; --bad:#cf222e; --unk:#9a6700; --tested:#0969da; --muted:#57606a; --line:#d0d7de; }
* { box-sizing: border-box; }
body { font: 14px/1.45 system-ui, -apple-system, "Segoe UI", Helvetica, Arial, sans-serif; color:#1f2328;
       margin: 0 auto; max-width: 1180px; padding: 16px 24px 48px; }
h1 { font-size: 22px; margin: 8px 0 2px; } h2 { font-size: 18px; margin: 28px 0 8px; border-bottom: 1px solid var(--line); }
h3 { font-size: 15px; margin: 18px 0 6px; }
.muted { color: var(--muted); } code, pre { font: 12.5px/1.4 ui-monospace, SFMono-Regular, Menlo, Consolas, monospace; }
pre { background:#f6f8fa; border:1px solid var(--line); border-radius:6px; padding:8px 10px; overflow:auto; white-space: pre-wrap; }
table { border-collapse: collapse; margin: 6px 0 10px; }
th, td { border-bottom: 1px solid var(--line); padding: 4px 8px; text-align: left; vertical-align: top; }
th { background: #f6f8fa; font-weight: 600; } td.num { text-align: right; font-variant-numeric: tabular-nums; }
.badge { display:inline-block; padding: 0 7px; border-radius: 10px; font-weight: 600; font-size: 12px; color: white; }
.badge.ok { background: var(--ok); } .badge.bad { background: var(--bad); } .badge.unk { background: var(--unk); }
.badge.tested { background: var(--tested); } .badge.done { background: #6e7781; }
.counts span { margin-right: 12px; } nav a { margin-right: 12px; }
details > summary { cursor: pointer; } details.check { margin: 0; } details.check pre { margin: 6px 0 2px; }
.filters button { font: inherit; border:1px solid var(--line); background:white; border-radius: 6px; padding: 2px 10px; margin-right: 4px; cursor:pointer; }
.filters button.on { background:#1f2328; color:white; }
.figure { margin: 8px 0 16px; } .figure svg { max-width: 100%; height: auto; }
.warn { color: var(--unk); }
table.checks td:nth-child(2) { min-width: 15em; } table.checks td:nth-child(4) { white-space: nowrap; }
dl.kv { display: grid; grid-template-columns: max-content 1fr; gap: 2px 14px; margin: 6px 0; } dl.kv dt { color: var(--muted); } dl.kv dd { margin: 0; }
"""

SCRIPT = """
(function () {
  var buttons = document.querySelectorAll('.filters button');
  function show(status) {
    document.querySelectorAll('tr.check-row').forEach(function (row) {
      row.style.display = (status === 'all' || row.dataset.status === status) ? '' : 'none';
    });
    buttons.forEach(function (b) { b.classList.toggle('on', b.dataset.filter === status); });
  }
  buttons.forEach(function (b) { b.addEventListener('click', function () { show(b.dataset.filter); }); });
  show('all');
})();
"""


def esc(x) -> str:
    return html.escape("" if x is None else str(x), quote=True)


def fmt_number(v) -> str:
    if v is None:
        return "undefined"
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, float):
        return f"{v:.6g}"
    return str(v)


def badge(status: str) -> str:
    return f'<span class="badge {STATUS_CLASS.get(status, "unk")}">{esc(status)}</span>'


def one_line(text: str, width: int = 160) -> str:
    text = " ".join((text or "").split())
    return text if len(text) <= width else text[: width - 1].rsplit(" ", 1)[0] + " …"


def spec_summary(spec) -> dict:
    """The facts ``libet check`` prints about a spec (and the report shows), as plain data."""
    traj = spec.trajectory
    states = None
    if traj is not None and traj.horizon is not None:
        states = len(traj.phases) * traj.horizon * spec.state_count()
    return {
        "title": spec.title,
        "variables": {
            n: {"class": v.cls.value, "domain": str(v.domain), "size": v.size()}
            for n, v in spec.variables.items()
        },
        "assignments": spec.assignment_count(),
        "params": {n: float(p.default) for n, p in spec.params.items()},
        "values": list(spec.values),
        "policies": list(spec.policies),
        "checks": len(spec.checks),
        "experiments": list(spec.experiments),
        "phases": list(traj.phase_names) if traj else [],
        "horizon": traj.horizon if traj else None,
        "at_horizon": ("stopped" if traj.at_horizon == "stop" else "delivered") if traj else None,
        "states_per_assignment": states,
        "state": {n: {"domain": str(v.domain), "init": show_value(v.init)} for n, v in spec.state.items()},
        "choices": {p.name: [c.var for c in p.choices] for p in traj.phases if p.choices} if traj else {},
    }


def show_value(v) -> str:
    return ("true" if v else "false") if isinstance(v, bool) else str(v)


def versions() -> dict:
    """The versions of libet's own and its engines' packages, for provenance."""
    import platform
    from importlib.metadata import PackageNotFoundError, version

    out = {"python": platform.python_version()}
    for pkg in ("libet", "z3-solver", "numpy", "scipy", "matplotlib", "graphviz"):
        try:
            out[pkg] = version(pkg)
        except PackageNotFoundError:
            pass
    return out


# ---- fragments ---------------------------------------------------------------------------------


def check_text(check: Mapping) -> str:
    """The full text of a check's evidence (counterexample, trace, proof summary) or reason."""
    return check.get("text") or check.get("reason") or ""


def checks_html(checks: Iterable[Mapping], *, filters: bool = False) -> str:
    """A table of checks (``CheckResult.to_json()`` dicts, with ``text``: the evidence as
    text): policy, check, verdict, engine, time, and the evidence in a fold."""
    checks = list(checks)
    out = []
    if filters and checks:
        present = list(dict.fromkeys(c["status"] for c in checks))
        out.append('<p class="filters">show: <button data-filter="all">all</button>'
                   + "".join(f'<button data-filter="{esc(s)}">{esc(s.lower())}</button>' for s in present) + "</p>")
    out.append('<table class="checks"><thead><tr><th>policy</th><th>check</th><th>verdict</th><th>engine</th>'
               '<th>time</th><th>evidence</th></tr></thead><tbody>')
    for c in checks:
        text = check_text(c)
        first = one_line(text)
        extra = ""
        if c.get("warnings"):
            extra = "".join(f'<div class="warn">warning: {esc(w)}</div>' for w in c["warnings"])
        if text and "\n" in text.strip() or len(" ".join(text.split())) > 160:
            ev = f'<details class="check"><summary>{esc(first)}</summary><pre>{esc(text.strip())}</pre></details>'
        else:
            ev = esc(first)
        label = f"{c['policy']}: {c['check']}"
        out.append(
            f'<tr class="check-row" data-check="{esc(label)}" data-status="{esc(c["status"])}">'
            f'<td>{esc(c["policy"])}</td><td><code>{esc(c["check"])}</code></td><td>{badge(c["status"])}</td>'
            f'<td>{esc(c.get("engine", ""))}</td><td class="num">{float(c.get("seconds", 0)):.2f}s</td>'
            f"<td>{ev}{extra}</td></tr>"
        )
    out.append("</tbody></table>")
    return "".join(out)


def numbers_note(meta: Mapping) -> str:
    """How an experiment's numbers were obtained, in words."""
    if meta.get("runs") is not None:
        conf = meta.get("confidence") or 0.95
        return (f"estimated by {meta['engine']} ({meta['runs']:,} runs per point, seed {meta.get('seed')}); "
                f"brackets are {conf:.0%} confidence intervals")
    return f"computed exactly ({meta.get('engine', 'exact')} engine)"


def rows_html(rows: list[Mapping], columns: list[str], measures: Iterable[str] = (), limit: int = 400) -> str:
    measures = set(measures)
    out = ["<table class=\"rows\"><thead><tr>"]
    shown = [c for c in columns if not (c.endswith(" low") or c.endswith(" high"))]
    out += [f"<th>{esc(c)}</th>" for c in shown]
    out.append("</tr></thead><tbody>")
    for r in rows[:limit]:
        out.append("<tr>")
        for c in shown:
            v = r.get(c)
            cell = fmt_number(v)
            if c in measures and r.get(f"{c} low") is not None:
                cell += f" [{fmt_number(r[f'{c} low'])}, {fmt_number(r[f'{c} high'])}]"
            cls = ' class="num"' if isinstance(v, (int, float)) and not isinstance(v, bool) or v is None else ""
            out.append(f"<td{cls}>{esc(cell)}</td>")
        out.append("</tr>")
    out.append("</tbody></table>")
    if len(rows) > limit:
        out.append(f'<p class="muted">{len(rows) - limit} more rows in the CSV and JSON files.</p>')
    return "".join(out)


def experiment_html(meta: Mapping, rows: list[Mapping], svgs: Iterable[tuple[str, str]] = (), *, anchor: str = "") -> str:
    """One experiment: what was fixed and how numbers were obtained, its plots (inline SVG
    text, with captions) and its table."""
    name = meta.get("experiment", "")
    measures = list(meta.get("measures", []))
    vary = list(meta.get("vary", []))
    columns = ["policy", *vary, *measures]
    fixed = ", ".join(f"{k} = {fmt_number(v)}" for k, v in (meta.get("set") or {}).items()) or "nothing"
    params = ", ".join(f"{k} = {fmt_number(v)}" for k, v in (meta.get("params") or {}).items()) or "none"
    out = [f'<section class="experiment" id="{esc(anchor or "exp-" + name)}" data-experiment="{esc(name)}">',
           f"<h3>experiment {esc(name)}</h3>",
           '<dl class="kv">',
           f"<dt>measures</dt><dd>{esc(', '.join(measures))} vs {esc(', '.join(vary) or 'policy')}</dd>",
           f"<dt>numbers</dt><dd>{esc(numbers_note(meta))}</dd>",
           f"<dt>fixed</dt><dd>{esc(fixed)}</dd>",
           f"<dt>params</dt><dd>{esc(params)}</dd>",
           f"<dt>over the rest</dt><dd>{esc(meta.get('aggregation', ''))}</dd>",
           "</dl>"]
    for i, (caption, svg) in enumerate(svgs):
        out.append(f'<div class="figure" data-plot="{esc(caption)}">{inline_svg(svg, f"{name}-{i}")}</div>')
    out.append(rows_html(list(rows), columns, measures))
    out.append("</section>")
    return "".join(out)


def summary_html(s: Mapping) -> str:
    """The spec's summary (``libet check``'s facts) as a definition list."""
    items = []
    for cls in ("substance", "framing", "context"):
        vs = [f"{n} {v['domain']} ({v['size']:,})" for n, v in s.get("variables", {}).items() if v["class"] == cls]
        if vs:
            items.append((cls, ", ".join(vs)))
    items.append(("assignments", count_text(s.get("assignments", 0))))
    if s.get("params"):
        items.append(("params", ", ".join(f"{n} = {v:g}" for n, v in s["params"].items())))
    items.append(("values", ", ".join(s.get("values", [])) or "none"))
    items.append(("policies", ", ".join(s.get("policies", [])) or "none"))
    if s.get("phases"):
        states = s.get("states_per_assignment")
        per = f", {count_text(states)} states per assignment" if states is not None else ", unbounded"
        then = " then stop" if s.get("at_horizon") == "stopped" and s.get("horizon") else ""
        items.append(("trajectory", f"phases {', '.join(s['phases'])}; horizon {s.get('horizon') or 'none'}{then}{per}"))
    for key, text in state_lines(s):
        items.append((key, text))
    items.append(("checks", str(s.get("checks", 0))))
    items.append(("experiments", ", ".join(s.get("experiments", [])) or "none"))
    return '<dl class="kv">' + "".join(f"<dt>{esc(k)}</dt><dd>{esc(v)}</dd>" for k, v in items) + "</dl>"


def state_lines(s: dict) -> list[tuple[str, str]]:
    """The summary's lines on state variables and choice points (an MDP), if any."""
    out = []
    if s.get("state"):
        out.append(("state", name_list(f"{n} {v['domain']} = {v['init']}" for n, v in s["state"].items())))
    if s.get("choices"):
        where = "; ".join(f"{q}: {', '.join(vs)}" for q, vs in s["choices"].items())
        out.append(("adversary", f"chooses {where} (an MDP: measures are Pmax/Pmin over adversaries)"))
    return out


_ID = re.compile(r'\bid="([^"]+)"')


#: What an SVG libet wrote never holds (matplotlib's and graphviz's have no script): an SVG of a
#: folder that holds it was edited, and is not put into the page, where it would run.
_ACTIVE = re.compile(r"<\s*(script|foreignObject|iframe|object|embed)\b|\son[a-z]+\s*=|javascript:", re.I)


def _figure(folder: str, relative: str, problems: list[str]) -> str | None:
    """The SVG text of ``folder/relative``, or None with what is wrong in ``problems``
    (missing, unreadable, no SVG, or holding script)."""
    text = _read(os.path.join(folder, relative))
    if text is None:
        problems.append(f"{relative} is missing from the folder (or cannot be read)")
        return None
    if "<svg" not in text[:4096] or _ACTIVE.search(text):
        problems.append(f"{relative} is not an SVG libet wrote (it holds script, or no <svg>): not shown")
        return None
    return text


def inline_svg(text: str, prefix: str) -> str:
    """An SVG file's text made fit to sit inside a page next to others: no XML prolog,
    doctype or comments, and every id (and every reference to one) prefixed so two figures'
    ids cannot clash."""
    text = re.sub(r"<\?xml[^>]*\?>", "", text)
    text = re.sub(r"<!DOCTYPE[^>]*>", "", text, flags=re.S)
    text = re.sub(r"<!--.*?-->", "", text, flags=re.S)
    ids = set(_ID.findall(text))
    if ids:
        p = re.sub(r"[^A-Za-z0-9_-]", "-", prefix) + "-"
        text = _ID.sub(lambda m: f'id="{p}{m.group(1)}"', text)
        text = re.sub(r'url\(#([^)]+)\)', lambda m: f"url(#{p}{m.group(1)})" if m.group(1) in ids else m.group(0), text)
        text = re.sub(r'href="#([^"]+)"', lambda m: f'href="#{p}{m.group(1)}"' if m.group(1) in ids else m.group(0), text)
    return text.strip()


# ---- the page ----------------------------------------------------------------------------------


def _read(path: str) -> str | None:
    try:
        with open(path, encoding="utf-8") as fh:
            return fh.read()
    except OSError:
        return None


def load_results(folder: str) -> dict:
    """``results.json`` of a run folder.

    Raises:
        UsageError: the folder or its results.json is missing or unreadable.
    """
    if not os.path.isdir(folder):
        raise UsageError(f"{folder} is not a folder", "give the folder `libet run` wrote (its --out)")
    path = os.path.join(folder, "results.json")
    text = _read(path)
    if text is None:
        raise UsageError(f"{path} does not exist", "give the folder `libet run` wrote (its --out)")
    try:
        data = json.loads(text)
    except ValueError as exc:
        raise UsageError(f"{path} is not valid JSON ({exc})") from None
    if not isinstance(data, dict) or "checks" not in data:
        raise UsageError(f"{path} is not the results of `libet run`")
    return data


def _n(n: int, word: str) -> str:
    return f"{n} {word}" + ("" if n == 1 else "s")


def build(folder: str, problems: list | None = None) -> str:
    """The report page for a run folder, as HTML text. What the folder lacks or holds damaged
    (an experiment's JSON, a plot, a graph) is said on the page where it would be, and
    appended to ``problems``."""
    warned = problems if problems is not None else []
    data = load_results(folder)
    title = data.get("spec", "")
    checks = data.get("checks", [])
    counts: dict = {}
    for c in checks:
        counts[c["status"]] = counts.get(c["status"], 0) + 1
    parts = [
        "<!DOCTYPE html>",
        '<html lang="en"><head><meta charset="utf-8">',
        f'<meta name="generator" content="{GENERATOR} {esc(data.get("libet_version", ""))}">',
        '<meta name="viewport" content="width=device-width, initial-scale=1">',
        f"<title>libet report: {esc(title)}</title><style>{CSS}</style></head><body>",
        f"<h1>{esc(title)}</h1>",
        f'<p class="muted">libet run report; spec sha256 <code>{esc(data.get("spec_sha256", "")[:16])}…</code></p>',
        '<p class="counts">' + "".join(f"<span>{badge(k)} {n}</span>" for k, n in counts.items())
        + (f'<span class="muted">{_n(len(checks), "check")}, {_n(len(data.get("experiments", [])), "experiment")}</span>'
           if checks or data.get("experiments") else '<span class="muted">no checks</span>') + "</p>",
        '<nav><a href="#checks">checks</a><a href="#experiments">experiments</a><a href="#graphs">graphs</a>'
        '<a href="#spec">spec</a><a href="#provenance">provenance</a></nav>',
    ]
    for note in data.get("notes", []):
        parts.append(f'<p class="warn">note: {esc(note)}</p>')
    parts.append('<h2 id="checks">Checks</h2>')
    if checks:
        parts.append(checks_html(checks, filters=True))
        parts.append('<p class="muted">Z3 checks are proved or refuted for every assignment; counterexamples are '
                     "replayed by the reference interpreter. Quantitative checks are decided by the exact engine.</p>")
    else:
        parts.append('<p class="muted">The spec has no checks.</p>')
    parts.append('<h2 id="experiments">Experiments</h2>')
    exps = data.get("experiments", [])
    if not exps:
        parts.append('<p class="muted">The spec has no experiments.</p>')
    for e in exps:
        name = e.get("name") or e.get("experiment")
        if e.get("not_run"):
            parts.append(f'<section class="experiment" id="{esc("exp-" + name)}" data-experiment="{esc(name)}">'
                         f'<h3>experiment {esc(name)}</h3><p class="warn">not run: {esc(e["not_run"])}</p></section>')
            continue
        problems: list[str] = []
        ej = _read(os.path.join(folder, "experiments", f"{name}.json"))
        try:
            exp = json.loads(ej) if ej else None
            if exp is not None and not isinstance(exp, dict):
                raise ValueError("not an object")
        except ValueError as exc:
            exp = None
            problems.append(f"experiments/{name}.json is not the JSON libet wrote ({exc}): its rows are not shown")
        if exp is None:
            if ej is None:
                problems.append(f"experiments/{name}.json is missing from the folder: its rows are not shown")
            exp = {"metadata": e, "rows": []}
        svgs = []
        for f in e.get("files", []):
            base = os.path.basename(f)
            if base.endswith(".svg"):
                svg = _figure(folder, f"experiments/{base}", problems)
                if svg:
                    svgs.append((base, svg))
        warned.extend(problems)
        parts.append(experiment_html(exp.get("metadata", e), exp.get("rows", []), svgs))
        parts += [f'<p class="warn">{esc(p)}</p>' for p in problems]
    parts.append('<h2 id="graphs">Trajectory graphs</h2>')
    graphs = data.get("graphs", [])
    shown = False
    listed = {os.path.basename(g) for g in graphs}
    for policy in (data.get("summary") or {}).get("policies") or sorted({os.path.splitext(os.path.basename(g))[0] for g in graphs}):
        problems = []
        svg = _figure(folder, f"graphs/{policy}.svg", problems) if f"{policy}.svg" in listed else None
        dot = _read(os.path.join(folder, "graphs", f"{policy}.dot"))
        if dot is None and f"{policy}.dot" in listed:
            problems.append(f"graphs/{policy}.dot is missing from the folder (or cannot be read)")
        warned.extend(problems)
        if svg is None and dot is None and not problems:
            continue
        shown = True
        parts.append(f'<h3>policy {esc(policy)}</h3><div class="figure" data-graph="{esc(policy)}">')
        if svg:
            parts.append(inline_svg(svg, f"graph-{policy}"))
        elif dot is not None:
            parts.append('<p class="muted">no drawing of it (graphviz\'s <code>dot</code> was not installed when the '
                         "run was made, or did not finish: the run's notes say which); the DOT source:</p><pre>"
                         + esc(dot) + "</pre>")
        parts += [f'<p class="warn">{esc(p)}</p>' for p in problems]
        parts.append("</div>")
    if not shown:
        has_trajectory = bool((data.get("summary") or {}).get("trajectory"))
        parts.append('<p class="muted">No trajectory graphs' + (" were written (the run's notes say why)." if has_trajectory
                                                               else " (the spec has no trajectory).") + "</p>")
    parts.append('<h2 id="spec">Spec</h2>')
    if data.get("summary"):
        parts.append(summary_html(data["summary"]))
    for name, text in (data.get("sources") or {}).items():
        parts.append(f"<details><summary>source: <code>{esc(name)}</code></summary><pre>{esc(text)}</pre></details>")
    parts.append('<h2 id="provenance">Provenance</h2><dl class="kv">')
    prov = [
        ("spec", title),
        ("spec sha256", data.get("spec_sha256", "")),
        ("libet", data.get("libet_version", "")),
        ("params overridden", ", ".join(f"{k} = {fmt_number(v)}" for k, v in data.get("params", {}).items()) or "none"),
        ("variables set", ", ".join(f"{k} = {fmt_number(v)}" for k, v in data.get("set", {}).items()) or "none"),
        ("timeout", f"{data['timeout']:g} s per qualitative check" if data.get("timeout") else ""),
    ]
    seeds = [f"{e.get('name')}: seed {e.get('seed')}, {e.get('runs'):,} runs" for e in exps if e.get("runs") is not None]
    prov.append(("seeds", "; ".join(seeds) or "no sampling (every number computed exactly)"))
    for k, v in (data.get("versions") or {}).items():
        if k != "libet":  # shown above
            prov.append((k, v))
    if data.get("created"):
        prov.append(("created", data["created"]))
    parts += [f"<dt>{esc(k)}</dt><dd><code>{esc(v)}</code></dd>" for k, v in prov if v != ""]
    parts.append("</dl>")
    files = sorted(os.path.relpath(os.path.join(root, f), folder) for root, _, fs in os.walk(folder) for f in fs
                   if not f.startswith(".") and f != "report.html")
    parts.append('<p class="muted">files in this folder: ' + esc(", ".join(files)) + "</p>")
    parts.append(f"<script>{SCRIPT}</script></body></html>")
    return "\n".join(parts) + "\n"


def write(folder: str, output: str | None = None, force: bool = False, problems: list | None = None) -> str:
    """Write the report of ``folder`` to ``output`` (default ``folder/report.html``),
    atomically. A report libet wrote is rebuilt in place; any other file is overwritten only
    with ``force``. What the folder lacks or holds damaged goes into ``problems`` (:func:`build`).

    Raises:
        UsageError: a bad folder, or ``output`` is a file libet did not write and ``force`` is
            not given.
    """
    from libet.files import write_atomic

    page = build(folder, problems)
    output = output or os.path.join(folder, "report.html")
    if os.path.exists(output) and not force:
        old = _read(output) or ""
        if f'<meta name="generator" content="{GENERATOR}' not in old[:2000]:
            raise UsageError(f"{output} exists and is not a libet report; pass --force to overwrite it")
    write_atomic(output, page)
    return output
