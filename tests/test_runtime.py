"""The runtime that compiled steps import: loading inputs, saving outputs by
type, the in-place-change guard and the errors a user sees."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from cellpipe import runtime
from cellpipe.engine.serialize import fingerprint, load_value, save_value
from cellpipe.errors import ArtifactError


def _produce(artifacts: Path, step: str, namespace: dict, outputs: dict[str, list[str]], **kw) -> dict:
    ctx = runtime.load_inputs(step, str(artifacts), {}, [], {})
    return runtime.save_outputs(ctx, outputs=outputs, metrics=kw.get("metrics", []),
                                files=kw.get("files", []), root=str(kw.get("root", artifacts)),
                                namespace=namespace)


@pytest.mark.parametrize(
    ("value", "fmt"),
    [
        (pd.DataFrame({"a": [1, 2], "b": ["x", "y"]}), "arrow"),
        (pd.DataFrame({"a": [[1], [2, 3]]}), "pickle"),  # lists in cells do not survive Arrow
        (pd.DataFrame({1: [1.0]}), "pickle"),  # non-string column names
        (np.arange(6).reshape(2, 3), "npy"),
        (np.array([{"a": 1}], dtype=object), "pickle"),
        ({"k": [1, 2]}, "pickle"),
        (lambda x: x + 1, "pickle"),  # functions defined in the notebook
    ],
)
def test_values_round_trip_in_the_format_that_fits_their_type(tmp_path: Path, value, fmt: str) -> None:
    record = save_value(value, tmp_path, "v")
    assert record["format"] == fmt
    loaded = load_value(tmp_path, record)
    if callable(value):
        assert loaded(2) == 3
    elif isinstance(value, pd.DataFrame):
        pd.testing.assert_frame_equal(loaded, value)
    elif isinstance(value, np.ndarray):
        assert loaded.dtype == value.dtype and loaded.tolist() == value.tolist()
    else:
        assert loaded == value


def test_outputs_are_loaded_by_the_consumer(tmp_path: Path) -> None:
    df = pd.DataFrame({"x": [1.0, 2.0]})
    _produce(tmp_path, "load", {"df": df, "n": 3}, {"df": ["use"], "n": ["use"]})
    namespace: dict = {}
    ctx = runtime.load_inputs("use", str(tmp_path), {"df": "load", "n": "load"}, ["df", "n"], namespace)
    pd.testing.assert_frame_equal(namespace["df"], df)
    assert namespace["n"] == 3
    assert ctx["fingerprints"]["df"] == fingerprint(df)


def test_a_step_that_changes_a_loaded_input_in_place_is_reported(tmp_path: Path) -> None:
    _produce(tmp_path, "load", {"df": pd.DataFrame({"x": [1, 2]})}, {"df": ["sneaky"]})
    ns: dict = {}
    ctx = runtime.load_inputs("sneaky", str(tmp_path), {"df": "load"}, ["df"], ns)
    ns["df"]["x"] = 0  # e.g. through a helper function the analysis cannot see into
    record = runtime.save_outputs(ctx, {}, [], [], str(tmp_path), ns)
    assert record["changed_inputs"] == ["df"]
    # the changed value is saved, so that the run can pass it on to the steps after this one
    saved = load_value(tmp_path / "sneaky", record["variables"]["df"])
    assert saved["x"].tolist() == [0, 0]


def test_a_step_that_only_rebinds_an_input_did_not_change_it(tmp_path: Path) -> None:
    _produce(tmp_path, "load", {"df": pd.DataFrame({"x": [1, 2]})}, {"df": ["join"]})
    ns: dict = {}
    ctx = runtime.load_inputs("join", str(tmp_path), {"df": "load"}, ["df"], ns)
    ns["df"] = ns["df"].assign(y=ns["df"]["x"] * 2)  # `df = df.join(...)`: a new object
    record = runtime.save_outputs(ctx, {}, [], [], str(tmp_path), ns)
    assert record["changed_inputs"] == []


def test_a_function_from_another_step_reads_this_steps_names(tmp_path: Path) -> None:
    # Given a function made in a notebook's namespace (as cloudpickle saves one from a kernel)
    import cloudpickle

    made: dict = {"__name__": "__main__", "scale": 2}
    exec("def norm(v):\n    return v / scale\n", made)
    (tmp_path / "a").mkdir()
    (tmp_path / "a" / "norm.pkl").write_bytes(cloudpickle.dumps(made["norm"]))
    (tmp_path / "a" / "_outputs.json").write_text(json.dumps(
        {"variables": {"norm": {"file": "norm.pkl", "format": "pickle", "type": "function"}}}))
    # When a step loads it and sets `scale` itself, it sees that value, as Run All would
    ns: dict = {"__name__": "__main__"}
    runtime.load_inputs("b", str(tmp_path), {"norm": "a"}, [], ns)
    assert ns["norm"](8) == 4.0  # the value it saw where it was made, when this step has none
    ns["scale"] = 4
    assert ns["norm"](8) == 2.0


def test_an_input_the_analysis_knows_is_changed_is_not_reported(tmp_path: Path) -> None:
    _produce(tmp_path, "load", {"lst": [1]}, {"lst": ["grow"]})
    ns: dict = {}
    ctx = runtime.load_inputs("grow", str(tmp_path), {"lst": "load"}, [], ns)  # not guarded
    ns["lst"].append(2)
    record = runtime.save_outputs(ctx, {"lst": ["later"]}, [], [], str(tmp_path), ns)
    assert record["changed_inputs"] == []


def test_a_value_that_cannot_cross_names_the_variable_both_steps_and_the_fix(tmp_path: Path) -> None:
    conn = sqlite3.connect(":memory:")
    with pytest.raises(ArtifactError) as info:
        _produce(tmp_path, "connect", {"conn": conn}, {"conn": ["query"]})
    text = str(info.value)
    assert "`conn`" in text and "step 'connect'" in text and "step 'query'" in text
    assert "Fix: create `conn` inside step 'query'" in text
    assert not (tmp_path / "connect" / "_outputs.json").exists()


def test_a_generator_cannot_cross_either(tmp_path: Path) -> None:
    with pytest.raises(ArtifactError, match=r"variable `gen` \(a generator\)"):
        _produce(tmp_path, "make", {"gen": (i for i in range(3))}, {"gen": ["use"]})


def test_a_missing_producer_output_says_which_step_to_run(tmp_path: Path) -> None:
    with pytest.raises(ArtifactError, match=r"(?s)step 'train' needs `X` from step 'features'.*Fix: run step 'features' first"):
        runtime.load_inputs("train", str(tmp_path), {"X": "features"}, [], {})


def test_a_declared_output_file_that_was_not_written_is_an_error(tmp_path: Path) -> None:
    with pytest.raises(ArtifactError, match=r"declares `out:` data/x.csv but did not write it"):
        _produce(tmp_path, "write", {}, {}, files=["data/x.csv"])


def test_a_variable_that_the_step_did_not_define_is_an_error(tmp_path: Path) -> None:
    with pytest.raises(ArtifactError, match=r"step 'maybe' did not define `model`, which step 'use' uses"):
        _produce(tmp_path, "maybe", {}, {"model": ["use"]})


def test_scalar_metrics_are_recorded(tmp_path: Path) -> None:
    record = _produce(tmp_path, "eval", {"acc": np.float64(0.9), "n": 3, "table": [1, 2]}, {},
                      metrics=["acc", "n", "table"])
    assert record["metrics"] == {"acc": 0.9, "n": 3}
    assert record["metrics_not_scalar"] == ["table"]
    on_disk = json.loads((tmp_path / "eval" / "_outputs.json").read_text())
    assert on_disk["metrics"] == {"acc": 0.9, "n": 3}


def _anon_kb() -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("RssAnon:"):
            return int(line.split()[1])
    raise AssertionError("no RssAnon in /proc/self/status")


@pytest.mark.skipif(not Path("/proc/self/status").exists(), reason="reads the process's memory from /proc")
def test_an_array_the_step_only_reads_is_not_copied_into_the_kernel(tmp_path: Path) -> None:
    big = np.arange(8_000_000, dtype="float64")  # 64 MB
    _produce(tmp_path, "make", {"big": big}, {"big": ["read"]})
    del big
    before = _anon_kb()
    ns: dict = {}
    ctx = runtime.load_inputs("read", str(tmp_path), {"big": "make"}, ["big"], ns)  # guarded: read-only
    assert float(ns["big"][-1]) == 7_999_999.0 and ns["big"].sum() > 0
    grown_mb = (_anon_kb() - before) / 1024
    assert grown_mb < 16, f"loading a 64 MB input it only reads grew the process by {grown_mb:.0f} MB"
    # and a write (the analysis was wrong) works, stays in this process, and is caught by the guard
    ns["big"][0] = -1.0
    record = runtime.save_outputs(ctx, {}, [], [], str(tmp_path), ns)
    assert record["changed_inputs"] == ["big"]
    assert float(np.load(tmp_path / "make" / "big.npy", mmap_mode="r")[0]) == 0.0
    assert float(load_value(tmp_path / "read", record["variables"]["big"])[0]) == -1.0


def test_a_frame_is_stored_once_as_arrow_and_old_parquet_stores_still_load(tmp_path: Path) -> None:
    df = pd.DataFrame({"x": np.arange(3.0), "g": pd.Categorical(["a", "b", "a"])},
                      index=pd.Index(["p", "q", "r"], name="k"))
    record = save_value(df, tmp_path, "df")
    assert record["format"] == "arrow" and record["file"] == "df.arrow"
    pd.testing.assert_frame_equal(load_value(tmp_path, record), df)
    # a store written before the Arrow format holds Parquet files: they load as before
    df.to_parquet(tmp_path / "old.parquet", engine="pyarrow")
    old = load_value(tmp_path, {"file": "old.parquet", "format": "parquet"})
    pd.testing.assert_frame_equal(old, df)


@pytest.mark.parametrize("change", [
    lambda df: df.__setitem__("x", df["x"] + 1),
    lambda df: df.loc.__setitem__(("q", "x"), 9.0),
    lambda df: df.__setitem__("g", df["g"].cat.rename_categories(["u", "v"])),
    lambda df: df.__setitem__("s", df["s"].str.upper()),
    lambda df: setattr(df, "index", pd.Index(["z", "q", "r"], name="k")),
    lambda df: df.insert(0, "new", 1),
])
def test_the_guard_sees_every_kind_of_change_to_a_frame(change) -> None:
    df = pd.DataFrame({"x": np.arange(3.0), "g": pd.Categorical(["a", "b", "a"]), "s": ["a", "b", "c"]},
                      index=pd.Index(["p", "q", "r"], name="k"))
    before = fingerprint(df)
    assert before is not None and fingerprint(df.copy()) == before
    change(df)
    assert fingerprint(df) != before
