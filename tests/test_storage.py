"""The storage interface under the store: a local folder by default, any fsspec
location by URL (``--store`` / ``CELLPIPE_STORE``), objects written atomically
and checked by hash when read back."""

from __future__ import annotations

import json
import os
from pathlib import Path

import fsspec
import pytest

from cellpipe.cli import main
from cellpipe.core.digest import digest_bytes
from cellpipe.engine.store import FsspecStorage, LocalStorage, Store, locate_store, open_storage
from cellpipe.engine.store.objects import CorruptObject, ObjectStore
from cellpipe.errors import UsageError
from conftest import write_notebook


@pytest.fixture
def memory_url(tmp_path: Path) -> str:
    """A fresh location in fsspec's in-memory filesystem (shared by the whole process)."""
    url = f"memory://cellpipe-tests/{tmp_path.name}"
    yield url
    fs = fsspec.filesystem("memory")
    if fs.exists(url):
        fs.rm(url, recursive=True)


def test_a_path_or_file_url_is_a_local_folder_and_any_other_url_is_fsspec(tmp_path: Path, memory_url: str) -> None:
    assert isinstance(open_storage(tmp_path / "s"), LocalStorage)
    assert isinstance(open_storage(f"file://{tmp_path}/s"), LocalStorage)
    remote = open_storage(memory_url)
    assert isinstance(remote, FsspecStorage) and not isinstance(remote, LocalStorage)
    assert remote.url == memory_url


def test_an_unknown_protocol_is_a_usage_error_naming_the_store() -> None:
    with pytest.raises(UsageError, match="nosuchproto://bucket"):
        open_storage("nosuchproto://bucket/prefix")


def test_a_url_store_keeps_its_metadata_in_the_project(tmp_path: Path, memory_url: str) -> None:
    folder, storage = locate_store(tmp_path, memory_url)
    assert folder == tmp_path / ".cellpipe"
    assert storage.url == memory_url
    folder, storage = locate_store(tmp_path, str(tmp_path / "elsewhere"))
    assert folder == tmp_path / "elsewhere" and isinstance(storage, LocalStorage)


@pytest.mark.parametrize("kind", ["local", "fsspec"])
def test_objects_round_trip_atomically_and_are_checked_when_read(tmp_path: Path, memory_url: str,
                                                                 kind: str) -> None:
    storage = LocalStorage(tmp_path / "store") if kind == "local" else open_storage(memory_url)
    objects = ObjectStore(storage)
    src = tmp_path / "data.bin"
    src.write_bytes(b"x" * 3000)
    digest = objects.put_file(src)
    assert digest == digest_bytes(b"x" * 3000)
    assert objects.has(digest, 3000) and not objects.has(digest, 2999)
    assert objects.read_bytes(digest) == b"x" * 3000
    # only the object itself: no temporary name is left behind
    assert list(storage.keys("objects")) == [objects.key(digest)]
    dest = tmp_path / "work" / "data.bin"
    objects.materialize(digest, dest, link=False)
    assert dest.read_bytes() == b"x" * 3000
    # When the stored bytes change behind cellpipe's back
    key = objects.key(digest)
    local = storage.local_path(key)
    if local is not None:
        os.chmod(local, 0o644)
        local.write_bytes(b"y" * 3000)
    else:
        storage.fs.pipe_file(f"{storage.base}/{key}", b"y" * 3000)
    # Then reading it refuses, and the work-tree copy is left as it was
    assert not objects.verify(digest)
    with pytest.raises(CorruptObject):
        objects.read_bytes(digest)
    with pytest.raises(CorruptObject):
        objects.materialize(digest, dest, link=False)
    assert dest.read_bytes() == b"x" * 3000


CELLS = [
    ("import json\nimport os", ("imports",)),
    ("n = 4", ("parameters",)),
    ("values = list(range(n))", ("step:load",)),
    ("os.makedirs('out', exist_ok=True)\nwith open('out/total.json', 'w') as fh:\n"
     "    json.dump(sum(values), fh)", ("step:total", "out:out/total.json")),
]


@pytest.mark.kernel
def test_a_run_against_a_url_store_caches_restores_and_publishes_there(
        tmp_path: Path, memory_url: str, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture) -> None:
    # Given a project whose store is an fsspec URL
    write_notebook(tmp_path / "flow.ipynb", CELLS)
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("CELLPIPE_STORE", memory_url)

    def run() -> dict:
        capsys.readouterr()
        code = main(["run", "flow.ipynb", "--json", "-j", "2"])
        out = capsys.readouterr().out
        assert code == 0, out
        return {s["step"]: s["state"] for s in json.loads(out)["steps"]} | {"_id": json.loads(out)["run"]}

    # When it runs
    first = run()
    assert first["load"] == first["total"] == "done"
    fs = fsspec.filesystem("memory")
    # Then the objects and the run folder are in the URL's location, the metadata in the project
    remote = open_storage(memory_url)
    assert any(True for _ in remote.keys("objects"))
    assert any(k.endswith(".ipynb") for k in remote.keys(f"runs/{first['_id']}"))
    assert (tmp_path / ".cellpipe" / "cellpipe.db").exists()
    assert not (tmp_path / ".cellpipe" / "objects").exists()
    # When the output file is deleted and it runs again: all cached, the file restored from the URL
    (tmp_path / "out" / "total.json").unlink()
    second = run()
    assert (second["load"], second["total"]) == ("cached", "cached")
    assert json.loads((tmp_path / "out" / "total.json").read_text()) == 6
    # When an object there is corrupt, the step that made it runs again
    key = next(k for k in remote.keys("objects"))
    fs.pipe_file(f"{remote.base}/{key}", b"garbage")
    (tmp_path / "out" / "total.json").unlink()
    third = run()
    assert "done" in (third["load"], third["total"])
    assert json.loads((tmp_path / "out" / "total.json").read_text()) == 6


def test_the_server_and_cli_share_one_store_location(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from cellpipe.server.records import store_folder, store_location

    monkeypatch.delenv("CELLPIPE_STORE", raising=False)
    assert store_folder(tmp_path) == tmp_path / ".cellpipe"
    assert store_location(tmp_path) == str(tmp_path / ".cellpipe")
    monkeypatch.setenv("CELLPIPE_STORE", str(tmp_path / "shared"))
    assert store_folder(tmp_path) == tmp_path / "shared"
    assert Store.open(tmp_path).folder == tmp_path / "shared"
