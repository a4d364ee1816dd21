"""Open a cellpipe HTML report in headless Debian chromium: which images it
decoded, and a screenshot.

Used by tests/test_report_browser.py, and the command that makes the
screenshot in the docs (from the repository root; runs the example pipeline in
a temporary folder, twice, to have metrics across runs):

    python tests/report_browser.py --screenshot docs/report.png --sweep-screenshot docs/report-sweep.png

(--sweep-screenshot also runs a 3x2 grid sweep of the example with two objectives and
screenshots that sweep's report.)
"""

from __future__ import annotations

import argparse
import json
import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

CHROMIUM = "/usr/bin/chromium"
FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
         "--disable-component-update", "--disable-sync", "--no-first-run", "--hide-scrollbars"]

#: appended to a copy of the report: writes what the page decoded into the DOM
PROBE = """<script>
window.addEventListener('load', function () {
  var images = Array.prototype.map.call(document.images, function (img) {
    return {alt: img.alt, complete: img.complete, naturalWidth: img.naturalWidth, naturalHeight: img.naturalHeight};
  });
  var out = document.createElement('pre');
  out.id = 'cellpipe-probe';
  out.textContent = JSON.stringify({images: images, title: document.title,
                                    details: document.querySelectorAll('details').length});
  document.body.appendChild(out);
});
</script>"""


def chromium_available() -> bool:
    return Path(CHROMIUM).exists()


def _chromium(args: list[str], profile: Path, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    return subprocess.run([CHROMIUM, *FLAGS, f"--user-data-dir={profile}", *args],
                          capture_output=True, text=True, timeout=timeout, check=False)


def probe(report: Path, workdir: Path) -> dict:
    """What chromium decoded in ``report``: each image's natural size, the title,
    the number of collapsible sections."""
    copy = workdir / "probed.html"
    html = report.read_text(encoding="utf-8")
    copy.write_text(html.replace("</body>", PROBE + "</body>"), encoding="utf-8")
    done = _chromium(["--virtual-time-budget=10000", "--dump-dom", copy.as_uri()], workdir / "profile")
    found = re.search(r'<pre id="cellpipe-probe">(.*?)</pre>', done.stdout, re.S)
    if not found:
        raise AssertionError(f"chromium printed no probe (exit {done.returncode}): {done.stderr[-2000:]}")
    text = found.group(1).replace("&quot;", '"').replace("&lt;", "<").replace("&gt;", ">").replace("&amp;", "&")
    return json.loads(text)


def screenshot(report: Path, png: Path, workdir: Path, width: int = 1280, height: int = 2200) -> Path:
    """A PNG of the top of the report as chromium draws it."""
    done = _chromium([f"--window-size={width},{height}", f"--screenshot={png}", report.as_uri()],
                     workdir / "profile")
    if not png.is_file():
        raise AssertionError(f"chromium wrote no screenshot (exit {done.returncode}): {done.stderr[-2000:]}")
    return png


def cellpipe(folder: Path, *args: str) -> str:
    """Run the ``cellpipe`` command in ``folder`` with the store ``folder/.cellpipe``; its output."""
    command = [sys.executable, "-c", "from cellpipe.cli import run; run()", *args, "--store", str(folder / ".cellpipe")]
    done = subprocess.run(command, cwd=folder, capture_output=True, text=True, timeout=900, check=False)
    if done.returncode != 0:
        raise RuntimeError(f"cellpipe {' '.join(args)} exited {done.returncode}: {done.stderr[-2000:]}")
    return done.stdout


def example_report(folder: Path) -> Path:
    """Run the example pipeline in ``folder`` (default parameters, then n_estimators=50) and write its report."""
    repo = Path(__file__).resolve().parent.parent
    shutil.copy(repo / "example_notebooks" / "breast_cancer.ipynb", folder / "breast_cancer.ipynb")
    cellpipe(folder, "run", "breast_cancer.ipynb", "-q", "-j", "2")
    cellpipe(folder, "run", "breast_cancer.ipynb", "-q", "-j", "2", "-p", "n_estimators=50")
    cellpipe(folder, "report", "-o", "report.html")
    return folder / "report.html"


def example_sweep_report(folder: Path) -> Path:
    """A 3x2 grid sweep of the example in ``folder`` (two objectives) and its report."""
    if not (folder / "breast_cancer.ipynb").exists():
        repo = Path(__file__).resolve().parent.parent
        shutil.copy(repo / "example_notebooks" / "breast_cancer.ipynb", folder / "breast_cancer.ipynb")
    out = cellpipe(folder, "sweep", "breast_cancer.ipynb", "-p", "n_estimators=5,20,200", "-p", "max_depth=2,8",
                   "--optimize", "forest_roc_auc:max", "--optimize", "forest_f1:max", "-q", "--json")
    sweep = json.loads(out)["sweep"]
    cellpipe(folder, "report", sweep, "-o", "sweep.html")
    return folder / "sweep.html"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--screenshot", type=Path, required=True, metavar="PNG")
    parser.add_argument("--sweep-screenshot", type=Path, metavar="PNG", help="also a sweep's report")
    parser.add_argument("--report", type=Path, help="an existing report (default: build the example's)")
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        report = args.report or example_report(work)
        print(json.dumps(probe(report, work), indent=2))
        screenshot(report, args.screenshot.resolve(), work)
        print(f"wrote {args.screenshot}")
        if args.sweep_screenshot:
            sweep = example_sweep_report(report.parent if args.report is None else work)
            print(json.dumps(probe(sweep, work), indent=2))
            screenshot(sweep, args.sweep_screenshot.resolve(), work, height=2600)
            print(f"wrote {args.sweep_screenshot}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
