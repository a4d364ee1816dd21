"""The example's HTML report opened in headless chromium: the plots decode and draw.

The screenshot in docs/report.png is made by `python tests/report_browser.py
--screenshot docs/report.png`, not by this test.
"""

from __future__ import annotations

from pathlib import Path

import pytest

import report_browser

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
