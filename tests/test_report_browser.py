"""HTML reports (the example's run, a sweep) opened in headless chromium: the plots decode and draw.

The screenshots in docs/ are made by `python tests/report_browser.py --screenshot
docs/report.png --sweep-screenshot docs/report-sweep.png`, not by these tests.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

import report_browser
from conftest import write_notebook

pytestmark = [
    pytest.mark.kernel,
    pytest.mark.skipif(not report_browser.chromium_available(), reason="needs Debian's chromium (/usr/bin/chromium)"),
]


def test_chromium_decodes_every_plot_of_the_example_report(tmp_path: Path) -> None:
    # Given the example run twice and its report
    report = report_browser.example_report(tmp_path)
    # When chromium loads it
    seen = report_browser.probe(report, tmp_path)
    # Then the DAG, the timeline and the metrics plot are decoded images of real size
    figures = [img for img in seen["images"] if img["alt"] in
               ("the step graph, coloured by state", "when each step ran", "metrics across runs")]
    assert len(figures) == 3, seen
    for img in figures:
        assert img["complete"] and img["naturalWidth"] > 300 and img["naturalHeight"] > 100, img
    # every image on the page decoded, the notebooks' own plots included
    assert all(img["naturalWidth"] > 0 for img in seen["images"]), seen["images"]
    assert seen["title"].startswith("cellpipe report: breast_cancer run ")
    assert seen["details"] >= 3  # the output notebooks are collapsed
    # and a screenshot of it is a real picture, not an empty page
    png = report_browser.screenshot(report, tmp_path / "report.png", tmp_path)
    data = png.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n" and len(data) > 50_000


def test_chromium_decodes_the_plots_of_a_sweep_report(tmp_path: Path) -> None:
    # Given a 2x2 sweep with two objectives over a two-step pipeline, and its report
    write_notebook(tmp_path / "tiny.ipynb", [
        ("a = 1\nb = 1", ("parameters",)),
        ("base = list(range(5))", ("step:load",)),
        ("score = -(a - 2) ** 2 + b + len(base) / 10\ncost = a * b", ("step:fit", "metrics")),
    ])
    out = report_browser.cellpipe(tmp_path, "sweep", "tiny.ipynb", "-p", "a=1,2", "-p", "b=1,2",
                                  "--optimize", "score:max", "--optimize", "cost:min", "-q", "--json")
    report_browser.cellpipe(tmp_path, "report", json.loads(out)["sweep"], "-o", "sweep.html")
    # When chromium loads it; Then the metric-vs-parameter plots and the Pareto front are decoded images
    seen = report_browser.probe(tmp_path / "sweep.html", tmp_path)
    assert [img["alt"] for img in seen["images"]] == [
        "metrics against parameters over the trials", "the trials on the first two objectives and the Pareto front"]
    assert all(img["complete"] and img["naturalWidth"] > 300 for img in seen["images"]), seen
    assert seen["title"].startswith("cellpipe report: sweep s-")
