"""The command line against generated notebook files and arguments: exit code
0 or 2, a message naming the notebook, never an internal error or a traceback.
Commands that would start kernels (``run``) are left to the runner's tests."""

from __future__ import annotations

import contextlib
import io
import json
import os
import sqlite3
import tempfile
import time
from pathlib import Path

import fuzz_profiles
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st
from nb_strategies import PATHS, notebook_files

from cellpipe.cli.main import main

COMMANDS = [["validate"], ["validate", "--json"], ["compile", "-o", "build"], ["dag"], ["dag", "--format", "mermaid"],
            ["dag", "--format", "dot"], ["status"], ["status", "--json"]]


def cli(*argv: str) -> tuple[int, str]:
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        code = main(list(argv))
    return code, out.getvalue() + err.getvalue()


def assert_clean(code: int, output: str) -> None:
    assert code in (0, 2), output
    assert "internal error" not in output and "Traceback" not in output, output


@contextlib.contextmanager
def inside(folder: Path):
    old = Path.cwd()
    os.chdir(folder)
    try:
        yield
    finally:
        os.chdir(old)


@settings(max_examples=fuzz_profiles.examples(20, 1_000), suppress_health_check=[HealthCheck.function_scoped_fixture,
                                                                           HealthCheck.too_slow])
@given(data=notebook_files(), command=st.sampled_from(COMMANDS),
       name=st.sampled_from(["nb.ipynb", "my notebook.ipynb", "données.ipynb", "x.json", "nb"]))
@example(data=b'{"nbformat": 4, "cells": [], "x": ' + b"1" * 5000 + b"}", command=["validate"], name="nb.ipynb")
def test_a_notebook_file_is_compiled_or_reported(tmp_path, data, command, name):
    folder = Path(tempfile.mkdtemp(dir=tmp_path))
    (folder / name).write_bytes(data)
    with inside(folder):
        code, output = cli(*command, name)
    assert_clean(code, output)
    if code == 2:  # the notebook is named (escaped in JSON)
        assert name in output or json.dumps(name)[1:-1] in output, output


STORE_DAMAGE = ["none", "empty db", "garbage db", "db is a folder", "store is a file", "objects is a file"]


def damage_store(folder: Path, kind: str) -> None:
    from cellpipe.engine.store import Store

    if kind == "store is a file":
        (folder / ".cellpipe").write_text("x")
        return
    Store(folder / ".cellpipe").close()
    db = folder / ".cellpipe" / "cellpipe.db"
    if kind == "empty db":
        db.write_bytes(b"")
    elif kind == "garbage db":
        db.write_bytes(b"SQLite format 3\x00" + os.urandom(200))
    elif kind == "db is a folder":
        db.unlink()
        db.mkdir()
    elif kind == "objects is a file":
        objects = folder / ".cellpipe" / "objects"
        if objects.is_dir():
            objects.rmdir() if not any(objects.iterdir()) else None
        if not objects.exists():
            objects.write_text("x")
    else:
        with sqlite3.connect(db) as conn:
            conn.execute("SELECT 1")


ARG = st.one_of(st.sampled_from(["0", "-1", "1", str(10**30), "9" * 5000, "latest", "abc", "..", "/", "\x00",
                                 "--json", "-h", *PATHS]), st.text(max_size=12))


@settings(max_examples=fuzz_profiles.examples(10, 500), suppress_health_check=[HealthCheck.function_scoped_fixture,
                                                                           HealthCheck.too_slow])
@given(store=st.sampled_from(STORE_DAMAGE), argv=st.one_of(
    st.tuples(st.just("runs"), st.just("--limit"), ARG),
    st.tuples(st.just("show"), ARG),
    st.tuples(st.just("diff"), ARG, ARG),
    st.tuples(st.just("trace"), ARG),
    st.tuples(st.sampled_from(["runs", "show", "diff", "trace", "status", "compile", "dag"]), ARG, ARG),
))
@example(store="none", argv=("runs", "--limit", str(10**30)))
def test_store_commands_answer_or_refuse_cleanly(tmp_path, store, argv):
    folder = Path(tempfile.mkdtemp(dir=tmp_path))
    damage_store(folder, store)
    with inside(folder):
        start = time.perf_counter()
        code, output = cli(*argv)
    assert_clean(code, output)
    assert "move the store folder" not in output or store in ("garbage db", "empty db"), output
    assert time.perf_counter() - start < 30
