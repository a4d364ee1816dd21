"""The compiler against generated notebooks: every input gives a result whose
errors name the notebook, never an exception, and analysis time stays small.

Timing (CPU and wall time of ``compile_notebooks`` per example) is reported at
the end of the module; under ``HYPOTHESIS_PROFILE=long`` its targets are
asserted: 99th percentile under 0.1 s, nothing over 2 s (CPU time).
"""

from __future__ import annotations

import json
import os
import time

import fuzz_profiles
import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st
from nb_strategies import notebooks

from cellpipe.core import graph
from cellpipe.core.compiler import NotebookSource, compile_notebooks
from cellpipe.core.emit import dumps_manifest, step_notebook

TIMES: list[tuple[float, float]] = []  # (cpu, wall) seconds per compiled example


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))] if ordered else 0.0


@pytest.fixture(scope="module", autouse=True)
def timing_report(request):
    TIMES.clear()
    yield
    if not TIMES:
        return
    cpu, wall = [t[0] for t in TIMES], [t[1] for t in TIMES]
    stats = {"profile": fuzz_profiles.PROFILE, "examples": len(TIMES),
             "cpu_p50": percentile(cpu, 0.5), "cpu_p99": percentile(cpu, 0.99), "cpu_max": max(cpu),
             "wall_p99": percentile(wall, 0.99), "wall_max": max(wall)}
    line = "compile_notebooks timing: " + ", ".join(
        f"{k} {v:.4f}s" if isinstance(v, float) else f"{k} {v}" for k, v in stats.items())
    reporter = request.config.pluginmanager.get_plugin("terminalreporter")
    if reporter is not None:
        reporter.write_line(line)
    if os.environ.get("CELLPIPE_FUZZ_STATS"):
        with open(os.environ["CELLPIPE_FUZZ_STATS"], "a", encoding="utf-8") as fh:
            fh.write(json.dumps(stats) + "\n")
    if fuzz_profiles.PROFILE == "long":
        assert stats["cpu_p99"] < 0.1 and stats["cpu_max"] < 2.0, line


def check_compiles(sources: list[NotebookSource]) -> None:
    """Compile; every error names one of the notebooks; a valid pipeline emits and renders."""
    names = {s.path for s in sources}
    cpu, wall = time.process_time(), time.perf_counter()
    result = compile_notebooks(sources, exists=lambda p: "data" in p)
    TIMES.append((time.process_time() - cpu, time.perf_counter() - wall))
    for diag in result.diagnostics:
        assert diag.notebook in names, diag
        assert diag.message and diag.fix, diag
        diag.format()
        json.dumps(diag.to_dict())
    if result.ok and result.pipeline is not None:
        text = dumps_manifest(result.pipeline)
        text.encode("utf-8")
        for step in result.pipeline.steps:
            json.dumps(step_notebook(result.pipeline, step, artifacts="/tmp/a", workdir="/tmp/w"),
                       ensure_ascii=False).encode("utf-8")
        graph.render_text(result.pipeline)
        graph.render_mermaid(result.pipeline)
        graph.render_dot(result.pipeline)


@settings(max_examples=fuzz_profiles.examples(60, 10_000))
@given(notebooks())
@example({"nbformat": 4, "metadata": {}, "cells": [{"cell_type": "code", "source": "!echo " + "a" * 20_000 + " ?",
                                                    "metadata": {"tags": ["step:a"]}}]})
def test_one_notebook_compiles_or_is_reported(content):
    check_compiles([NotebookSource("fuzzed.ipynb", content)])


@settings(max_examples=fuzz_profiles.examples(12, 2_000))
@given(st.lists(notebooks(damaged=False), min_size=2, max_size=3))
def test_several_notebooks_join_or_are_reported(contents):
    check_compiles([NotebookSource(f"dir{i}/nb{i}.ipynb", c) for i, c in enumerate(contents)])
