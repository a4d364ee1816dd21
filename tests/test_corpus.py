"""The equivalence corpus, fast subset: a split notebook prints what Run All prints.

The whole corpus (30+ real notebooks, two splits each) runs with
``python -m tests.corpus.run --all``; here a few notebooks, one split each, plus the
oracle's own rules (masks, fixed random splits) without kernels.
"""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

import nbformat
import pytest

_RUN = Path(__file__).resolve().parent / "corpus" / "run.py"
_spec = importlib.util.spec_from_file_location("corpus_run", _RUN)
assert _spec is not None and _spec.loader is not None
corpus = importlib.util.module_from_spec(_spec)
sys.modules["corpus_run"] = corpus
_spec.loader.exec_module(corpus)


def test_masks_hide_timings_addresses_dates_and_temp_paths_but_not_numbers() -> None:
    text = (
        "CPU times: user 3.2 ms, sys: 0 ns, total: 3.2 ms\nWall time: 3.31 ms\n"
        "<object at 0x7f3a2b1c4d50>\nDate: Tue, 01 Dec 2026   Time: 03:12:45\n"
        "wrote /tmp/corpus-x-1234/split-cells/out.csv\nmean 0.4123\n"
    )
    masked = corpus.mask(text)
    assert "3.31" not in masked and "0x7f3a" not in masked and "03:12:45" not in masked
    assert "Tue, 01 Dec 2026" not in masked and "/tmp/corpus" not in masked
    assert "mean 0.4123" in masked


def test_outputs_compared_are_streams_plain_text_and_error_names() -> None:
    outputs = [
        {"output_type": "stream", "name": "stdout", "text": "a\n"},
        {"output_type": "stream", "name": "stdout", "text": ["b\n"]},
        {"output_type": "stream", "name": "stderr", "text": "warn\n"},
        {"output_type": "display_data", "data": {"text/plain": "<Figure>", "image/png": "iVBOR"}},
        {"output_type": "execute_result", "data": {"text/plain": ["1"]}, "execution_count": 3},
        {"output_type": "error", "ename": "KeyError", "evalue": "'x'", "traceback": []},
    ]
    got = corpus.cell_outputs(outputs)
    assert (got.stdout, got.stderr, got.results, got.errors) == ("a\nb\n", "warn\n", ["<Figure>", "1"], ["KeyError"])
    assert got != corpus.cell_outputs(outputs[:-1])


def test_splits_are_fixed_and_tag_a_copy_only() -> None:
    path = corpus.CORPUS / "ds_random_state" / "ds_random_state.ipynb"
    before = path.read_bytes()
    tagged = []
    for _ in range(2):
        nb = nbformat.read(path, as_version=4)
        corpus.split_notebook(nb, "random", "ds_random_state")
        tagged.append([c.metadata.get("tags", []) for c in nb.cells])
    assert tagged[0] == tagged[1]
    nb = nbformat.read(path, as_version=4)
    steps = corpus.split_notebook(nb, "cells", "ds_random_state")
    assert steps == len(corpus.code_cell_indices(nb))
    assert path.read_bytes() == before


def test_the_corpus_has_thirty_notebooks_with_their_origin() -> None:
    names = corpus.corpus_names()
    sources = (corpus.CORPUS.parent / "SOURCES.md").read_text()
    assert len(names) >= 30
    assert [n for n in names if f"| {n} |" not in sources] == []


@pytest.mark.kernel
@pytest.mark.corpus
@pytest.mark.parametrize(("name", "split"), corpus.QUICK_SPLITS, ids=[f"{n}-{s}" for n, s in corpus.QUICK_SPLITS])
def test_split_notebook_prints_what_run_all_prints(name: str, split: str) -> None:
    # Given a real notebook, Run All with papermill; When a split of a copy runs with cellpipe
    result = corpus.check_notebook(name, [split], timeout=600, jobs=1, runs_all=1)
    assert result.baseline_ok, result.baseline_error
    (outcome,) = result.splits
    # Then every cell printed what Run All printed, or validate refused with a reason
    assert outcome.verdict in ("matched", "refused"), corpus.report([result], [split])
