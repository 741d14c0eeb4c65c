"""Both pages in a real browser: headless Debian chromium, driven over the DevTools protocol.

The tests assert what a person sees (rendered text, images decoded and laid out, charts
whose bars stand as tall as their students and whose labels neither overlap nor spill, bars
as wide as the score, no sideways scrolling, folded lists that open), that the pages
fetch nothing from outside, and save a screenshot of each page to docs/ for the README.
chromium is installed with apt-get when missing; if it cannot be had the tests fail,
because CI installs it (.ci/run).
"""

from __future__ import annotations

import base64
import json
import os
import shutil
import subprocess
import time
import urllib.request
from pathlib import Path

import pytest
import websocket  # websocket-client, a dependency of jupyter_server (the instructor extra)
from test_report import index_of, make_results, synthetic_class, write_class

from autograder.outputs.feedback import write_feedback_html
from autograder.outputs.report import write_class_report
from autograder.paths import PROJECT_ROOT

pytestmark = pytest.mark.slow  # drives a headless Chromium

DOCS = PROJECT_ROOT / "docs"
FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync",
         "--hide-scrollbars", "--force-device-scale-factor=1", "--remote-debugging-port=0",
         "--remote-allow-origins=*"]


def find_chromium() -> str:
    found = shutil.which("chromium")
    if found is None and os.geteuid() == 0 and shutil.which("apt-get"):
        subprocess.run("apt-get update -qq && apt-get install -y -qq chromium", shell=True,
                       capture_output=True, timeout=900)
        found = shutil.which("chromium")
    if found is None:
        pytest.fail("chromium is not installed and apt-get could not install it "
                    "(run `apt-get install chromium` as root)")
    return found


class Page:
    """One browser tab: send DevTools commands, wait for events."""

    def __init__(self, ws_url: str):
        self.socket = websocket.create_connection(ws_url, timeout=60, suppress_origin=True)
        self.next_id = 0
        self.events: list[dict] = []

    def send(self, method: str, **params):
        self.next_id += 1
        self.socket.send(json.dumps({"id": self.next_id, "method": method, "params": params}))
        while True:
            message = json.loads(self.socket.recv())
            if message.get("id") == self.next_id:
                if "error" in message:
                    raise RuntimeError(f"{method}: {message['error']}")
                return message.get("result", {})
            self.events.append(message)

    def wait_for(self, event: str, seconds: float = 60):
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            for message in self.events:
                if message.get("method") == event:
                    self.events.remove(message)
                    return message
            self.events.append(json.loads(self.socket.recv()))
        raise TimeoutError(event)

    def open(self, path: Path, width: int = 1200, height: int = 900) -> float:
        """Load a file; returns the seconds until its load event."""
        self.send("Emulation.setDeviceMetricsOverride", width=width, height=height, deviceScaleFactor=1, mobile=False)
        self.events.clear()
        started = time.perf_counter()
        self.send("Page.navigate", url=path.resolve().as_uri())
        self.wait_for("Page.loadEventFired")
        return time.perf_counter() - started

    def js(self, expression: str):
        result = self.send("Runtime.evaluate", expression=expression, returnByValue=True, awaitPromise=True)
        if "exceptionDetails" in result:
            raise RuntimeError(result["exceptionDetails"])
        return result["result"].get("value")

    def requested_urls(self) -> list[str]:
        return [m["params"]["request"]["url"] for m in self.events if m.get("method") == "Network.requestWillBeSent"]

    def screenshot_of(self, selector: str, target: Path, max_height: int) -> None:
        """A picture of one element (its first ``max_height`` pixels), at the current width."""
        box = self.js(f"""(() => {{ const r = document.querySelector({json.dumps(selector)}).getBoundingClientRect();
            return {{x: r.left + scrollX, y: r.top + scrollY, width: r.width, height: r.height}}; }})()""")
        margin = 12
        clip = {"x": max(0, box["x"] - margin), "y": max(0, box["y"] - margin), "width": box["width"] + 2 * margin,
                "height": min(box["height"], max_height) + 2 * margin, "scale": 1}
        data = self.send("Page.captureScreenshot", format="png", clip=clip, captureBeyondViewport=True)["data"]
        target.write_bytes(base64.b64decode(data))

    def screenshot(self, target: Path, width: int, max_height: int) -> None:
        height = min(int(self.js("document.documentElement.scrollHeight")), max_height)
        self.send("Emulation.setDeviceMetricsOverride", width=width, height=height, deviceScaleFactor=1, mobile=False)
        data = self.send("Page.captureScreenshot", format="png")["data"]
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(base64.b64decode(data))


@pytest.fixture(scope="module")
def browser(tmp_path_factory):
    profile = tmp_path_factory.mktemp("chromium-profile")
    process = subprocess.Popen([find_chromium(), *FLAGS, f"--user-data-dir={profile}", "about:blank"],
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        port_file = profile / "DevToolsActivePort"
        deadline = time.monotonic() + 60
        while not port_file.exists() or not port_file.read_text().strip():
            if time.monotonic() > deadline or process.poll() is not None:
                pytest.fail("chromium did not start (no DevToolsActivePort)")
            time.sleep(0.1)
        port = port_file.read_text().split()[0]
        yield f"http://127.0.0.1:{port}"
    finally:
        process.terminate()
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            process.kill()


@pytest.fixture
def page(browser):
    request = urllib.request.Request(f"{browser}/json/new?about:blank", method="PUT")
    with urllib.request.urlopen(request, timeout=30) as response:
        target = json.load(response)
    tab = Page(target["webSocketDebuggerUrl"])
    tab.send("Page.enable")
    tab.send("Network.enable")
    yield tab
    tab.socket.close()
    urllib.request.urlopen(f"{browser}/json/close/{target['id']}", timeout=30).close()


def only_local(urls: list[str]) -> list[str]:
    return [u for u in urls if not u.startswith(("file:", "data:", "about:"))]


def test_feedback_page_in_a_browser(page, tmp_path):
    results = make_results({index_of("mse_loss"): 0, index_of("for W1"): 0, index_of("sigmoid is finite"): 0,
                            index_of("bce_dloss_dprob"): 0, index_of("train_mlp"): 0}, seed=271828)
    folder = tmp_path / "ada_lovelace"
    folder.mkdir()
    (folder / "results.json").write_text(json.dumps(results))
    feedback = write_feedback_html(folder / "results.json")

    page.open(feedback)
    text = page.js("document.body.innerText")
    for seen in ("Feedback: ada_lovelace", "80 / 100", "23 of 28 checks passed", "02_backward", "21 / 30",
                 "Named mistake:", "summed not averaged", "it is N = 5 times too large: summed over the batch",
                 "expected: 0.0885", "got:      0.4425", "with out =", "it is transposed: expected shape (3, 4), got (4, 3)",
                 "What went wrong:", "timed out (CallTimeout)", "seed 271828", "graded by hand"):
        assert seen in text, seen
    # one card per mistake, its messages rendered: a name in backticks is code, in a monospace font
    cards = page.js("""[...document.querySelectorAll('section.card')].map(card => ({
        title: card.querySelector('h3').innerText, text: card.innerText,
        code: [...card.querySelectorAll('h3 code, p code')].map(c => [c.innerText, getComputedStyle(c).fontFamily])}))""")
    assert len(cards) == 5
    assert cards[1]["title"].startswith("2. mse_loss: summed over the batch instead of averaged (divide by N)")
    assert ["mse_loss", "mse_loss(out, y)"] == [text for text, _ in cards[1]["code"]]
    assert all("monospace" in font for card in cards for _, font in card["code"])
    assert not any("`" in card["text"] for card in cards), "a name shown with literal backticks"
    # the example's arrays are wrapped: no line of a card is wider than the card
    assert page.js("""[...document.querySelectorAll('section.card pre')].every(
        pre => pre.scrollWidth <= pre.clientWidth)""")
    # the bar of 02_backward is drawn 70% full
    fraction = page.js("""(() => { const bar = document.querySelector('[aria-label^="02_backward"]');
        return bar.firstElementChild.getBoundingClientRect().width / bar.getBoundingClientRect().width; })()""")
    assert abs(fraction - 0.7) < 0.01
    assert only_local(page.requested_urls()) == []
    page.screenshot(DOCS / "feedback.png", width=1000, max_height=2400)

    # readable on a phone: long diagnoses wrap instead of widening the page
    page.open(feedback, width=400, height=800)
    assert page.js("document.documentElement.scrollWidth") <= 400


CHARTS_AS_SEEN = """[...document.querySelectorAll('#scores svg[role=img]')].map(svg => {
    const frame = svg.getBoundingClientRect(), box = e => e.getBoundingClientRect();
    const boxes = cls => [...svg.querySelectorAll(`text.${cls}`)].map(t => ({left: box(t).left, right: box(t).right}));
    return {label: svg.getAttribute('aria-label'), width: frame.width, height: frame.height,
        texts_outside: [...svg.querySelectorAll('text')].filter(t => { const r = box(t);
            return r.width === 0 || r.left < frame.left || r.right > frame.right || r.top < frame.top
                || r.bottom > frame.bottom; }).map(t => t.textContent),
        'x-tick': boxes('x-tick'), count: boxes('count'),
        bars: [...svg.querySelectorAll('g.bin')].map(g => ({
            students: Number(/: (\\d+) students?$/.exec(g.querySelector('title').textContent)[1]),
            height: box(g.querySelector('.bin-bar')).height}))};
})"""


def test_class_report_of_1000_students_in_a_browser(page, tmp_path):
    out = write_class(tmp_path / "out", synthetic_class(1000, seed=3))
    for results in sorted(out.glob("*/results.json"))[:50]:
        write_feedback_html(results)
    flagged_line = ('02_backward cell 7 line 3: reads or changes sys.modules (other modules\' internals): '
                    'sys.modules["autograder.dispatch"].torch_forbidden = None  # <img src=x onerror=alert(1)>')
    (out / "integrity.json").write_text(json.dumps({"student0007": [flagged_line], "student0042": [
        "01_relu cell 4 line 2: loads ctypes (raw memory and C calls): import ctypes"]}))
    report = write_class_report(out)

    seconds = page.open(report)
    print(f"report.html of 1,000 students: {report.stat().st_size / 1e3:.0f} kB, loaded in {seconds:.2f} s")
    assert seconds < 10, f"the report took {seconds:.1f} s to load"
    text = page.js("document.body.innerText")
    for seen in ("1000", "submissions", "Score distributions", "Pass rate of every test", "Most frequent mistakes",
                 "summed not averaged", "Problem submissions", "Crashed:", "Timed out:", "Missing notebooks:"):
        assert seen in text, seen
    # the five histograms, drawn inline: every label inside its chart, none over another,
    # and each bar as tall as its students (from its tooltip) on a common scale
    charts = page.js(CHARTS_AS_SEEN)
    assert len(charts) == 5 and page.js("document.images.length") == 0
    assert [c["label"].split(" scores")[0] for c in charts] == [
        "Histogram of 01_relu", "Histogram of 02_backward", "Histogram of 03_mlp", "Histogram of 04_bce",
        "Histogram of total"]
    for chart in charts:
        assert chart["width"] > 400 and chart["height"] > 200, chart["label"]
        assert chart["texts_outside"] == [], chart["label"]
        for kind in ("x-tick", "count"):
            boxes = sorted(chart[kind], key=lambda box: box["left"])
            assert all(a["right"] <= b["left"] for a, b in zip(boxes, boxes[1:])), (chart["label"], kind)
        assert len(chart["x-tick"]) >= 3 and chart["count"], chart["label"]
        per_student = {round(bar["height"] / bar["students"], 1) for bar in chart["bars"] if bar["students"]}
        assert max(per_student) - min(per_student) < 0.2, chart["label"]
        assert all(bar["height"] == 0 for bar in chart["bars"] if not bar["students"]), chart["label"]
    assert sum(bar["students"] for bar in charts[-1]["bars"]) == len(list(out.glob("*/results.json")))
    assert only_local(page.requested_urls()) == []
    assert page.js("document.documentElement.scrollWidth") <= 1200

    # the students behind a mistake are folded away until asked for, then linked to their feedback
    assert "student0000, student" not in text
    page.js("document.querySelector('#mistakes details:nth-of-type(2) summary').click()")
    opened = page.js("document.querySelector('#mistakes details[open] .students').innerText")
    assert opened.count("student") > 50
    page.js("document.querySelector('#mistakes details[open]').open = false")

    # the integrity flags: for the instructor, folded per student, the student's code shown as text
    assert "Integrity flags (instructor only)" in text and "student0007: 1 flagged line" in text
    assert "torch_forbidden" not in text  # folded until asked for
    page.js("document.querySelector('#integrity details summary').click()")
    shown = page.js("document.querySelector('#integrity details[open]').innerText")
    assert 'sys.modules["autograder.dispatch"].torch_forbidden = None  # <img src=x onerror=alert(1)>' in shown
    assert page.js("document.querySelectorAll('#integrity img').length") == 0

    # on a phone the charts shrink to the screen instead of widening the page
    page.open(report, width=400, height=800)
    assert all(chart["width"] <= 400 for chart in page.js(CHARTS_AS_SEEN))

    page.open(report)
    page.screenshot(DOCS / "report.png", width=1200, max_height=3200)
    page.screenshot_of("#mistakes", DOCS / "report-mistakes.png", max_height=1600)
