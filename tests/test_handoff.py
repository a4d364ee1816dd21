"""Issue 15, the data hand-off: DataFrames pass between steps as Arrow IPC files
since; a store written before holds them as Parquet, and a run on it still
reuses and reads what it holds."""

from __future__ import annotations

import json
import sqlite3
import tempfile
from pathlib import Path

import nbformat
import pandas as pd
import pytest

from cellpipe.engine.serialize import load_value
from cellpipe.engine.store.objects import ObjectStore
from conftest import write_notebook
from fidelity import cellpipe

CELLS = [
    ("import numpy as np\nimport pandas as pd", ("imports",)),
    ("frame = pd.DataFrame({'x': np.arange(5.0), 'g': pd.Categorical(list('ababa'))},\n"
     "                     index=pd.Index(list('pqrst'), name='k'))", ("step:make",)),
    ("print(frame.groupby('g', observed=True)['x'].sum().to_dict(), frame.index.name,\n"
     "      frame.dtypes.astype(str).to_dict())", ("step:use",)),
]


def as_before_arrow(project: Path) -> int:
    """Rewrite the store's frames as cellpipe wrote them before Arrow: Parquet
    objects, recorded with ``format: parquet`` in the cache and the run's artifacts."""
    objects = ObjectStore(project / ".cellpipe" / "objects")
    conn = sqlite3.connect(project / ".cellpipe" / "cellpipe.db")
    rewritten = 0
    with conn:
        for key, outputs in conn.execute("SELECT key, outputs FROM cache").fetchall():
            produced = json.loads(outputs)
            for name, art in produced["variables"].items():
                if art["format"] != "arrow":
                    continue
                frame = load_value(objects.path(art["hash"]).parent, {**art, "file": objects.path(art["hash"]).name})
                with tempfile.TemporaryDirectory() as tmp:
                    parquet = Path(tmp) / f"{name}.parquet"
                    frame.to_parquet(parquet, engine="pyarrow")
                    digest = objects.put_file(parquet)
                    size = parquet.stat().st_size
                objects.remove(art["hash"])
                conn.execute("UPDATE artifacts SET hash=?, size=?, format='parquet' WHERE hash=?",
                             (digest, size, art["hash"]))
                produced["variables"][name] = {**art, "file": f"{name}.parquet", "format": "parquet",
                                               "hash": digest, "bytes": size}
                rewritten += 1
            conn.execute("UPDATE cache SET outputs=? WHERE key=?", (json.dumps(produced), key))
    conn.close()
    return rewritten


def use_output(summary: dict) -> str:
    step = next(s for s in summary["steps"] if s["step"] == "use")
    out = nbformat.read(step["output_notebook"], as_version=4)
    return "".join(o.get("text", "") for c in out.cells
                   if c.metadata.get("cellpipe", {}).get("role") == "step" for o in c.get("outputs", []))


@pytest.mark.kernel
def test_a_store_holding_parquet_frames_from_before_still_resumes(tmp_path: Path) -> None:
    notebook = write_notebook(tmp_path / "nb.ipynb", CELLS)
    first = cellpipe("run", notebook.name, "--json", cwd=tmp_path, fork=True)
    assert json.loads(first.stdout)["exit_code"] == 0, first.stdout + first.stderr
    expected = use_output(json.loads(first.stdout))
    assert "{'a': 6.0, 'b': 4.0} k {'x': 'float64', 'g': 'category'}" in expected
    assert as_before_arrow(tmp_path) == 1

    # the consuming step changes: the producer is reused from the old store, and its
    # Parquet output is what the new step reads
    nb = nbformat.read(notebook, as_version=4)
    nb.cells[2].source += "\nprint('again')"
    nbformat.write(nb, notebook)
    second = cellpipe("run", notebook.name, "--json", cwd=tmp_path, fork=True)
    summary = json.loads(second.stdout)
    assert summary["exit_code"] == 0, second.stdout + second.stderr
    assert {s["step"]: s["state"] for s in summary["steps"]} == {"make": "cached", "use": "done"}
    assert use_output(summary) == expected + "again\n"


def test_a_frame_and_an_array_load_with_the_same_types_as_a_pickle_round_trip(tmp_path: Path) -> None:
    import pickle

    import numpy as np

    from cellpipe.engine.serialize import save_value

    frame = pd.DataFrame({
        "f": np.linspace(0, 1, 4), "i": np.arange(4, dtype="int32"), "u": np.arange(4, dtype="uint16"),
        "b": [True, False, True, False], "s": ["a", "b", None, "d"],
        "c": pd.Categorical(["x", "y", "x", "z"], categories=["z", "y", "x"], ordered=True),
        "t": pd.date_range("2024-01-01", periods=4, freq="h", tz="UTC"),
        "n": pd.array([1, None, 3, 4], dtype="Int64"),
    }, index=pd.Index([10, 20, 30, 40], name="k", dtype="int64"))
    array = np.arange(600_000, dtype="float32").reshape(600, 1000)[:, ::2]  # not contiguous
    for value in (frame, array):
        record = save_value(value, tmp_path, "v")
        for mmap in (False, True):
            loaded, pickled = load_value(tmp_path, record, mmap=mmap), pickle.loads(pickle.dumps(value))
            assert type(loaded) is type(pickled)
            if isinstance(value, pd.DataFrame):
                assert record["format"] == "arrow"
                pd.testing.assert_frame_equal(loaded, pickled, check_exact=True)
                assert loaded.index.names == pickled.index.names
            else:
                assert loaded.dtype == pickled.dtype and loaded.shape == pickled.shape
                assert np.array_equal(loaded, pickled) and loaded.flags.writeable


#: frames whose index Arrow keeps only with pandas' help: extension-typed values (period,
#: interval), registered by pandas only once something asks; a frequency, kept by the record
INDEXES = {
    "period": lambda: pd.period_range("1959Q1", periods=6, freq="Q"),
    "interval": lambda: pd.interval_range(0, 6),
    "dates with a frequency": lambda: pd.date_range("2020-01-31", periods=6, freq="ME", name="when"),
    "business days": lambda: pd.bdate_range("2024-01-01", periods=6),
    "time deltas with a frequency": lambda: pd.timedelta_range("1 day", periods=6, freq="6h"),
}

LOAD_IN_A_FRESH_PROCESS = """
import json, pickle, sys
from pathlib import Path
from cellpipe.engine.serialize import load_value
frame = load_value(Path(sys.argv[1]), json.loads(sys.argv[2]))
Path(sys.argv[3]).write_bytes(pickle.dumps(frame))
"""


@pytest.mark.parametrize("kind", list(INDEXES))
def test_a_frames_index_loads_in_another_process_as_it_was(tmp_path: Path, kind: str) -> None:
    import pickle
    import subprocess
    import sys

    import numpy as np

    from cellpipe.engine.serialize import save_value

    # Given a frame saved as a step saves it
    frame = pd.DataFrame({"x": np.arange(6.0), "p": pd.period_range("2020-01", periods=6, freq="M")},
                         index=INDEXES[kind]())
    record = save_value(frame, tmp_path, "frame")
    assert record["format"] == "arrow"
    # When another process (the next step's kernel, which never wrote such data) loads it
    out = tmp_path / "loaded.pkl"
    subprocess.run([sys.executable, "-c", LOAD_IN_A_FRESH_PROCESS, str(tmp_path), json.dumps(record), str(out)],
                   check=True, timeout=120)
    loaded = pickle.loads(out.read_bytes())
    # Then its index is the same kind, with the same values and frequency
    assert type(loaded.index) is type(frame.index)
    assert loaded.index.dtype == frame.index.dtype
    assert getattr(loaded.index, "freq", None) == getattr(frame.index, "freq", None)
    pd.testing.assert_frame_equal(loaded, frame, check_exact=True, check_freq=True)


def test_a_quarterly_series_passed_between_steps_computes_as_in_run_all(tmp_path: Path) -> None:
    from fidelity import assert_same_as_run_all

    cells = [
        ("import numpy as np\nimport pandas as pd", ("imports",)),
        ("data = pd.DataFrame({'infl': np.sin(np.arange(12.0))})\n"
         "data.index = pd.period_range('1959Q1', periods=12, freq='Q')\n"
         "daily = pd.DataFrame({'v': np.arange(5.0)}, index=pd.date_range('2024-01-01', periods=5, freq='D'))",
         ("step:load",)),
        ("print(data.index[:2], data['infl'].resample('Y').mean().round(3).to_dict())\n"
         "print(daily.index.freq, daily.shift(1, freq='infer').index[0])", ("step:use",)),
    ]
    assert_same_as_run_all(write_notebook(tmp_path / "nb.ipynb", cells), fork=True)
