"""Text for people: a conformance :class:`~libet.testing.conformance.Report` as a table of
property -> result, then the counterexamples, what was tested, the unknowns and the checks left
out. Used by ``libet test``, :func:`~libet.testing.assert_conforms` and the pytest plugin."""

from __future__ import annotations

from libet.results import STATUS_COLOR, Status, text_sections


def render(report, color: bool = False) -> str:
    def paint(text, status):
        if not color:
            return text
        import click

        return click.style(text, fg=STATUS_COLOR[status], bold=True)

    results = report.results
    lines = [f"implementation {report.implementation} (seed {report.seed})"]
    if results:
        headers = ("property", "result", "examples", "time")
        rows = [(r.check, r.status.value, _examples(r), f"{r.seconds:.3f} s") for r in results]
        widths = [max(len(h), *(len(row[i]) for row in rows)) for i, h in enumerate(headers)]
        lines.append("  ".join(h.ljust(w) for h, w in zip(headers, widths)).rstrip())
        lines.append("  ".join("-" * w for w in widths))
        for r, row in zip(results, rows):
            lines.append("  ".join([row[0].ljust(widths[0]), paint(row[1].ljust(widths[1]), r.status),
                                    row[2].rjust(widths[2]), row[3].rjust(widths[3])]))

    lines += text_sections([
        ("Counterexamples", [(r.check, r.counterexample.describe()) for r in results if r.status is Status.VIOLATED]),
        ("Held", [(r.check, r.proof.describe()) for r in results
                  if r.status in (Status.PROVED, Status.TESTED) and r.proof is not None]),
        ("Unknown", [(r.check, r.reason or "") for r in results if r.status is Status.UNKNOWN]),
        ("Warnings", [(r.check, "\n".join(r.warnings)) for r in results if r.warnings]),
        ("Not tested on an implementation", [(s.split(":", 1)[0], s.split(":", 1)[1].strip()) for s in report.skipped]),
    ])
    return "\n".join(lines)


def _examples(r) -> str:
    n = r.details.get("examples")
    if n is None:
        return "-"
    text = f"{n:,}"
    if r.details.get("exhaustive") and r.status is not Status.VIOLATED:
        text += " (all)"
    elif r.details.get("samples"):
        text += f" x {r.details['samples']}"
    return text
