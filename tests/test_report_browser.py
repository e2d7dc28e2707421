"""The HTML report in a real browser: Debian's chromium, headless, loads report.html from disk
(offline) and the test asserts on the rendered DOM: every check present, every plot and graph
drawn with a size, no broken image, no script error, the verdict filter working. A screenshot
is saved next to the page (and into $LIBET_SCREENSHOT_DIR when set).

When chromium is missing the test installs it with apt-get (apt-get update first), as CI does;
where that is impossible (no root, no network) it is skipped with the reason."""

from __future__ import annotations

import html
import json
import os
import re
import shutil
import subprocess

import pytest

import libet

EXAMPLES = os.path.join(os.path.dirname(__file__), "..", "examples")

PROBE = """<script>
window.__errors = [];
window.addEventListener('error', function (e) { window.__errors.push(String(e.message || e)); });
window.addEventListener('load', function () {
  var rows = Array.prototype.slice.call(document.querySelectorAll('tr.check-row'));
  function visible() { return rows.filter(function (r) { return r.offsetParent !== null; }).length; }
  var result = {errors: window.__errors.slice(), images: document.images.length, broken: [],
                checks: rows.map(function (r) { return r.dataset.check; }), figures: []};
  Array.prototype.forEach.call(document.images, function (i) {
    if (!i.complete || i.naturalWidth === 0) result.broken.push(i.src); });
  Array.prototype.forEach.call(document.querySelectorAll('.figure'), function (f) {
    var svg = f.querySelector('svg'); var box = svg ? svg.getBoundingClientRect() : {width: 0, height: 0};
    result.figures.push({name: f.dataset.plot || f.dataset.graph, width: box.width, height: box.height}); });
  result.visible_all = visible();
  var b = document.querySelector('.filters button[data-filter="VIOLATED"]');
  if (b) { b.click(); result.visible_violated = visible(); }
  var all = document.querySelector('.filters button[data-filter="all"]'); if (all) all.click();
  result.errors = window.__errors.slice();
  var pre = document.createElement('pre'); pre.id = '__probe'; pre.textContent = JSON.stringify(result);
  document.body.appendChild(pre);
});
</script>"""


def _chromium() -> str:
    for name in ("chromium", "chromium-browser", "google-chrome"):
        if shutil.which(name):
            return shutil.which(name)
    if os.geteuid() == 0 and shutil.which("apt-get"):
        subprocess.run(["apt-get", "update", "-qq"], capture_output=True, timeout=600)
        subprocess.run(["apt-get", "install", "-y", "-qq", "chromium"], capture_output=True, timeout=1200)
        if shutil.which("chromium"):
            return shutil.which("chromium")
    why = "chromium is not installed and could not be installed with apt-get"
    if os.environ.get("LIBET_REQUIRE_BROWSER"):  # CI (.ci/run): the report must be rendered, not skipped
        pytest.fail(why + "; LIBET_REQUIRE_BROWSER is set, so this test may not be skipped")
    pytest.skip(why + " (a local run without the browser; CI sets LIBET_REQUIRE_BROWSER and fails here)")


def _browser(chromium, tmp_path, *args, url):
    cmd = [chromium, "--headless=new", "--no-sandbox", "--disable-gpu", "--hide-scrollbars", "--no-first-run",
           f"--user-data-dir={tmp_path / 'profile'}", "--virtual-time-budget=10000", *args, url]
    return subprocess.run(cmd, capture_output=True, text=True, timeout=180)


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    out = str(tmp_path_factory.mktemp("browser") / "prefill-results")
    summary = libet.load(os.path.join(EXAMPLES, "prefill.libet")).run(out)
    return out, summary


def test_report_renders_in_chromium(run, tmp_path):
    chromium = _chromium()
    out, summary = run
    page = open(os.path.join(out, "report.html"), encoding="utf-8").read()
    probed = tmp_path / "probed.html"
    probed.write_text(page.replace("<head>", "<head>" + PROBE, 1), encoding="utf-8")
    res = _browser(chromium, tmp_path, "--dump-dom", url=probed.as_uri())
    m = re.search(r'<pre id="__probe">(.*?)</pre>', res.stdout, re.S)
    assert m, f"the page did not finish loading in chromium:\n{res.stderr[-2000:]}"
    probe = json.loads(html.unescape(m.group(1)))
    assert probe["errors"] == []
    assert probe["broken"] == []
    expected = [f"{r.policy}: {r.check}" for r in summary.results]
    assert probe["checks"] == expected
    assert probe["visible_all"] == len(expected)
    assert probe["visible_violated"] == sum(r.status.value == "VIOLATED" for r in summary.results)
    names = [f["name"] for f in probe["figures"]]
    for e in summary.experiments:
        assert sum(n.startswith(e.name + "_") for n in names) == len(e.measures)
    assert {"shallow", "deep"} <= set(names)
    assert all(f["width"] > 200 and f["height"] > 100 for f in probe["figures"]), probe["figures"]

    shot = tmp_path / "report.png"
    _browser(chromium, tmp_path, "--window-size=1280,4200", f"--screenshot={shot}",
             url="file://" + os.path.abspath(os.path.join(out, "report.html")))
    assert shot.exists() and shot.stat().st_size > 50_000
    if os.environ.get("LIBET_SCREENSHOT_DIR"):
        os.makedirs(os.environ["LIBET_SCREENSHOT_DIR"], exist_ok=True)
        shutil.copy(shot, os.path.join(os.environ["LIBET_SCREENSHOT_DIR"], "report.png"))
