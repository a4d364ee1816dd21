"""`cellpipe report`: one self-contained HTML file about a recorded run, built
from the example pipeline's real runs, and from a run with hostile values."""

from __future__ import annotations

import base64
import contextlib
import io
import json
import re
import sys
from pathlib import Path

import pytest

from cellpipe.cli import main
from conftest import write_notebook

pytestmark = pytest.mark.kernel

REPO = Path(__file__).resolve().parent.parent
HOSTILE = "<script>alert('pwned')</script>"


def cellpipe(*args: str, capsys: pytest.CaptureFixture) -> tuple[int, str, str]:
    capsys.readouterr()
    code = main(list(args))
    out, err = capsys.readouterr()
    return code, out, err


@pytest.fixture(scope="module")
def example(tmp_path_factory: pytest.TempPathFactory) -> dict:
    """The example pipeline run twice (default parameters, then n_estimators=50) into a fresh store."""
    folder = tmp_path_factory.mktemp("example")
    nb = folder / "breast_cancer.ipynb"
    nb.write_bytes((REPO / "example_notebooks" / "breast_cancer.ipynb").read_bytes())
    store = folder / ".cellpipe"
    summaries = []
    for extra in ([], ["-p", "n_estimators=50"]):
        buf = io.StringIO()
        with contextlib.redirect_stdout(buf):
            code = main(["run", str(nb), "--json", "-j", "2", "--store", str(store), *extra])
        assert code == 0, buf.getvalue()
        summaries.append(json.loads(buf.getvalue()))
    return {"folder": folder, "store": store, "runs": [s["run"] for s in summaries]}


def build(example: dict, tmp_path: Path, capsys, *args: str) -> tuple[str, dict]:
    target = tmp_path / "report.html"
    code, out, err = cellpipe("report", "--store", str(example["store"]), "-o", str(target), "--json", *args,
                              capsys=capsys)
    assert code == 0, err
    return target.read_text(encoding="utf-8"), json.loads(out)


def test_the_report_of_the_newest_run_shows_its_steps_params_metrics_and_notebooks(example, tmp_path, capsys):
    # Given the example run twice; When `cellpipe report` runs without RUN
    html, info = build(example, tmp_path, capsys)
    newest = example["runs"][1]
    # Then it is the newest run's report
    assert info["id"] == newest and f"run {newest}" in html
    # with every step, its state, and the steps a cached step came from
    for step in ("load", "clean", "features", "train_logreg", "train_forest", "evaluate", "report"):
        assert f"<code>{step}</code>" in html
    assert f"cached from run <code>{example['runs'][0]}</code>" in html
    # the parameters as run
    assert re.search(r"<code>n_estimators</code></td><td><code>50</code>", html)
    # each metric with the value the store recorded
    from cellpipe.engine.store import Store

    store = Store(example["store"], readonly=True)
    try:
        metrics = store.db.metrics(newest)
    finally:
        store.close()
    assert len(metrics) == 6
    for m in metrics:
        assert f"<code>{m['step']}.{m['name']}</code></td><td class=\"num\">{json.dumps(m['value'])}<" in html
    # the output notebooks of the three steps this run executed, collapsed, with their printed output
    assert info["notebooks"] == 3
    assert len(re.findall(r'<details class="notebook">', html)) == 3
    assert "train accuracy:" in html
    # the lineage of an out: file: the step that wrote it and its parameters
    assert "reports/metrics.json" in html and "data/clean.parquet" in html


def test_the_report_is_self_contained_with_decodable_plots(example, tmp_path, capsys):
    html, info = build(example, tmp_path, capsys)
    # no URL that would need the network or another file
    assert not re.search(r"""(?:src|href)\s*=\s*["']?(?:https?:|//|file:)""", html, re.I)
    assert not re.search(r"url\(\s*['\"]?(?:https?:|//)", html, re.I)
    assert "<link" not in html and "<script" not in html
    # the DAG, the timeline and the metrics plot, as PNGs inline
    images = re.findall(r'<img class="figure" src="data:image/png;base64,([^"]+)"', html)
    assert info["figures"] == 3 and len(images) == 3
    for data in images:
        png = base64.b64decode(data)
        assert png[:8] == b"\x89PNG\r\n\x1a\n" and len(png) > 5000


def test_an_older_run_by_prefix_plots_metrics_only_up_to_it(example, tmp_path, capsys):
    first = example["runs"][0]
    html, info = build(example, tmp_path, capsys, first[:-2])
    assert info["id"] == first
    assert "Across the last 1 run of this pipeline" in html
    assert info["notebooks"] == 7  # the first run executed every step


def test_hostile_values_are_escaped_and_notebook_scripts_removed(tmp_path, capsys):
    # Given a run whose parameter value and printed and displayed output are HTML with a script
    nb = write_notebook(tmp_path / "hostile.ipynb", [
        ("from IPython.display import HTML, display", ("imports",)),
        ("label = 'plain'", ("parameters",)),
        ("size = len(label)\nprint(label)\ndisplay(HTML(label + '<b onclick=\"alert(2)\">bold</b>'))",
         ("step:make",)),
        ("score = size / 100", ("step:score", "metrics")),
    ])
    store = tmp_path / "store"
    code, _, err = cellpipe("run", str(nb), "-q", "--store", str(store), "-p", f"label={HOSTILE}", capsys=capsys)
    assert code == 0, err
    # When its report is written
    target = tmp_path / "r.html"
    code, out, err = cellpipe("report", "--store", str(store), "-o", str(target), capsys=capsys)
    assert code == 0, err
    assert out.startswith(f"wrote {target}")
    html = target.read_text(encoding="utf-8")
    # Then no script and no event handler reached the page; the value shows as text
    assert "<script" not in html.lower()
    assert not re.search(r"<[a-z][^<>]*\son[a-z]+\s*=", html, re.I)  # no on...= attribute in any tag
    assert "&lt;script&gt;alert(" in html
    assert "<b>bold</b>" in html  # harmless HTML output is kept
    assert "score.score" in html


def test_no_run_and_unknown_run_are_usage_errors(example, tmp_path, capsys):
    code, _, err = cellpipe("report", "no-such-run", "--store", str(example["store"]), "-o",
                            str(tmp_path / "x.html"), capsys=capsys)
    assert code == 2 and "no run or sweep 'no-such-run'" in err and example["runs"][1] in err
    assert not (tmp_path / "x.html").exists()
    empty = tmp_path / "empty"
    (empty / "store").mkdir(parents=True)
    from cellpipe.engine.store import Store

    Store(empty / "store").close()  # a store with no runs
    code, _, err = cellpipe("report", "--store", str(empty / "store"), "-o", str(tmp_path / "y.html"),
                            capsys=capsys)
    assert code == 2 and "no runs yet" in err


def test_without_matplotlib_the_message_names_the_extra(example, tmp_path, capsys, monkeypatch):
    monkeypatch.setitem(sys.modules, "matplotlib", None)  # what `import matplotlib` meets when it is absent
    code, _, err = cellpipe("report", "--store", str(example["store"]), "-o", str(tmp_path / "z.html"),
                            capsys=capsys)
    assert code == 2 and "pip install 'cellpipe[report]'" in err


def test_the_report_of_a_sweep_shows_trials_best_plots_pareto_front_and_cache_savings(tmp_path, capsys):
    # Given a 2x2 grid sweep with two objectives over a two-step pipeline
    nb = write_notebook(tmp_path / "tiny.ipynb", [
        ("a = 1\nb = 1", ("parameters",)),
        ("base = list(range(5))", ("step:load",)),
        ("score = -(a - 2) ** 2 + b + len(base) / 10\ncost = a * b", ("step:fit", "metrics")),
    ])
    store = tmp_path / "store"
    code, out, err = cellpipe("sweep", str(nb), "-p", "a=1,2", "-p", "b=1,2", "--optimize", "score:max",
                              "--optimize", "cost:min", "--json", "--store", str(store), capsys=capsys)
    assert code == 0, err
    swept = json.loads(out)
    # When its report is written, by a prefix of the sweep's id
    target = tmp_path / "sweep.html"
    code, out, err = cellpipe("report", swept["sweep"][:8], "--store", str(store), "-o", str(target), "--json",
                              capsys=capsys)
    assert code == 0, err
    info = json.loads(out)
    html = target.read_text(encoding="utf-8")
    # Then it is the sweep's report, with every trial's run, best first
    assert info["kind"] == "sweep" and info["id"] == swept["sweep"] and info["trials"] == 4
    rows = re.findall(r'<tr><td class="num">(\d+)</td><td><code>([\w-]+)</code></td>', html)
    assert [(int(n), run) for n, run in rows] == [(t["number"], t["run"]) for t in swept["trials"]]
    # the best trial and the command that reruns it, as the sweep command said
    assert swept["best"]["rerun"].replace("'", "&#39;") in html
    assert f"Trial #{swept['best']['number']}, run <code>{swept['best']['run']}</code>" in html
    # the Pareto front, the same trials as the sweep command's
    assert "Pareto front" in html
    front = re.search(r"Trials no other feasible trial beats on every objective: (.*?)\.</p>", html).group(1)
    assert sorted(int(n) for n in re.findall(r"#(\d+)", front)) == sorted(swept["pareto"])
    # metric-vs-parameter plots and the front as inline PNGs
    assert info["figures"] == 2
    assert len(re.findall(r'<img class="figure" src="data:image/png;base64,', html)) == 2
    # the step no parameter reaches executed once for the whole sweep
    assert re.search(r"<td><code>load</code></td><td class=\"num\">1</td><td class=\"num\">3</td>", html)
    assert "<script" not in html and not re.search(r"(?:src|href)=\"https?:", html)
    # and the best trial's own run report says which sweep and trial it was
    code, _, err = cellpipe("report", swept["best"]["run"], "--store", str(store), "-o", str(tmp_path / "best.html"),
                            capsys=capsys)
    assert code == 0, err
    best = (tmp_path / "best.html").read_text(encoding="utf-8")
    assert f"trial #{swept['best']['number']} of sweep <code>{swept['sweep']}</code>" in best


def test_a_failed_run_shows_the_error_the_skipped_steps_and_the_failed_notebook(tmp_path, capsys):
    # Given a run whose step b fails (c after it is skipped, d on another branch finishes)
    nb = write_notebook(tmp_path / "f.ipynb", [
        ("x = 1", ("step:a",)),
        ("y = x + 1\nraise ValueError('bad <value>')", ("step:b",)),
        ("z = y * 2", ("step:c",)),
        ("w = x * 3", ("step:d",)),
    ])
    store = tmp_path / "store"
    code, _, _ = cellpipe("run", str(nb), "-q", "--store", str(store), capsys=capsys)
    assert code == 1
    # When its report is written
    target = tmp_path / "r.html"
    code, _, err = cellpipe("report", "--store", str(store), "-o", str(target), capsys=capsys)
    assert code == 0, err
    html = target.read_text(encoding="utf-8")
    # Then the run and the step show as failed, with the error and where it happened
    states = dict(re.findall(r'<td><code>(\w)</code></td><td>f.ipynb</td><td><span class="state"[^>]*>([\w ]+)</span>',
                             html))
    assert states == {"a": "done", "b": "failed", "c": "skipped", "d": "done"}
    assert '<pre class="error">ValueError: bad &lt;value&gt;\nin f.ipynb, cell 2</pre>' in html
    # and the failed step's output notebook is there, with the traceback
    assert re.search(r'<summary><code>b</code> <span class="state"[^>]*>failed</span></summary>', html)
    assert "ValueError" in html.split('<section id="notebooks">')[1]


def test_the_checks_section_lists_passed_and_failed_checks_with_their_messages(tmp_path, capsys):
    # Given a run where one check step passes and another fails two of its four checks (3 pass, 2 fail)
    nb = write_notebook(tmp_path / "flow.ipynb", [
        ("import cellpipe", ("imports",)),
        ("rows = [1, 2, None, 4]\nlimit = 3", ("step:load",)),
        ("cellpipe.check(len(rows) == 4, 'four rows')", ("step:shape", "check")),
        ("assert len(rows) == 4\n"
         "assert None not in rows, 'rows has a <missing> value'\n"
         "cellpipe.check(max(r for r in rows if r) <= limit, f'values above {limit}')\n"
         "assert len(rows) > 1",
         ("step:validate", "check")),
        ("clean = [r for r in rows if r]", ("step:train",)),
    ])
    store = tmp_path / "store"
    code, _, _ = cellpipe("run", str(nb), "-q", "-j", "1", "--store", str(store), capsys=capsys)
    assert code == 3
    # When its report is written
    target = tmp_path / "r.html"
    code, _, err = cellpipe("report", "--store", str(store), "-o", str(target), capsys=capsys)
    assert code == 0, err
    html = target.read_text(encoding="utf-8")
    # Then every check shows with its step, result and message (escaped), the passing step's too
    section = html.split('<section id="checks">')[1].split("</section>")[0]
    assert "3 passed, 2 failed." in section
    rows = re.findall(r'<tr><td><code>(\w+)</code></td><td class="num">\d*</td><td>\w+</td>'
                      r'<td><span class="state"[^>]*>(\w+)</span></td><td>(.*?)</td></tr>', section)
    assert ("shape", "passed", "four rows") in rows
    assert ("validate", "check_failed", "rows has a &lt;missing&gt; value (assert None not in rows)") in rows
    assert ("validate", "check_failed", "values above 3") in rows
    assert len(rows) == 5
    # and the step that was blocked shows as skipped, the failed one as check_failed
    assert re.search(r'<td><code>validate</code></td><td>flow.ipynb</td><td><span class="state"[^>]*>check_failed<',
                     html)
    assert re.search(r'<td><code>train</code></td><td>flow.ipynb</td><td><span class="state"[^>]*>skipped<', html)
