"""The file stores on their own (no Spark): fsspec's in-memory file system for a lake, and a stand-in for Databricks'
`dbutils.fs` with its documented signatures; and the storage layer's lake path (the old version stepping aside,
recovery after a crash, copies between stores) on the in-memory lake."""

import io
import os
import shutil
import types

import fsspec
import pytest

from capstone.config import ConfigError
from capstone.filestore import DbutilsStore, FsspecStore, LocalStore, store_for
from capstone.storage import _move_into_place, fs_copy, fs_read_bytes, fs_unreadable, fs_write_bytes, recover_table


class DbutilsFs:
    "`dbutils.fs` over a local folder: `ls` (FileInfo: path, name, size, modificationTime), `rm`, `mv`, `cp`, `put`."

    def __init__(self, root):
        self.root = str(root)

    def _p(self, uri):
        return os.path.join(self.root, uri.removeprefix("dbfs:/"))

    def _info(self, uri, path):
        folder = os.path.isdir(path)
        name = os.path.basename(path.rstrip("/")) + ("/" if folder else "")
        size = 0 if folder else os.path.getsize(path)
        return types.SimpleNamespace(path=uri + ("/" if folder else ""), name=name, size=size, modificationTime=1000)

    def ls(self, uri):
        path = self._p(uri)
        if not os.path.exists(path):
            raise RuntimeError(f"java.io.FileNotFoundException: File {uri} does not exist.")
        if not os.path.isdir(path):
            return [self._info(uri, path)]
        return [self._info(f"{uri.rstrip('/')}/{n}", os.path.join(path, n)) for n in sorted(os.listdir(path))]

    def rm(self, uri, recurse=False):
        return LocalStore().delete(self._p(uri))

    def mv(self, src, dst, recurse=False):
        os.rename(self._p(src), self._p(dst))
        return True

    def cp(self, src, dst, recurse=False):
        a, b = (u[len("file:") :] if u.startswith("file:") else self._p(u) for u in (src, dst))
        if not os.path.exists(a):
            raise RuntimeError(f"java.io.FileNotFoundException: {src}")
        os.makedirs(os.path.dirname(b), exist_ok=True)
        shutil.copyfile(a, b)
        return True

    def put(self, uri, contents, overwrite=False):
        if os.path.exists(self._p(uri)) and not overwrite:
            raise RuntimeError(f"java.lang.IllegalArgumentException: requirement failed: File {uri} already exists.")
        LocalStore().put(self._p(uri), io.BytesIO(contents.encode()))
        return True


@pytest.fixture
def lake():
    "A fresh in-memory lake, removed afterwards."
    root = "memory://capstone-tests"
    yield root
    fsspec.filesystem("memory").rm(root, recursive=True) if fsspec.filesystem("memory").exists(root) else None


@pytest.mark.parametrize("kind", ["fsspec", "dbutils"])
def test_a_store_does_each_operation_and_says_when_a_path_is_missing(kind, lake, tmp_path):
    store, root = (
        (FsspecStore(fsspec.filesystem("memory")), lake)
        if kind == "fsspec"
        else (DbutilsStore(DbutilsFs(tmp_path)), "dbfs:/lake")
    )
    store.put(f"{root}/t/part-0.gz", io.BytesIO(b"\x1f\x8b not text"))
    assert store.exists(f"{root}/t") and not store.exists(f"{root}/gone")
    assert (store.create(f"{root}/lock", b'{"run_id": "a"}'), store.create(f"{root}/lock", b"{}")) == (True, False)
    store.rename(f"{root}/t", f"{root}/u")
    files = {u.rsplit("/", 2)[-2] + "/" + u.rsplit("/", 1)[-1]: n for u, n in store.files(root).items()}
    assert files == {f"{root.rsplit('/', 1)[-1]}/lock": 15, "u/part-0.gz": 11}
    assert sorted(u.rsplit("/", 1)[-1] for _, u in store.children(root)) == ["lock", "u"]
    with store.open(f"{root}/u/part-0.gz") as f:
        assert f.read() == b"\x1f\x8b not text"
    with pytest.raises(FileNotFoundError):
        store.open(f"{root}/gone")
    assert (store.delete(f"{root}/u"), store.delete(f"{root}/u")) == (True, False)
    assert store.files(f"{root}/u") == {} and store.children(f"{root}/u") == []


def test_which_store_reaches_a_path():
    assert isinstance(store_for("/Volumes/main/capstone/lake/out"), LocalStore)
    assert isinstance(store_for("memory://x"), FsspecStore)
    assert isinstance(
        store_for("abfss://silver@acct.dfs.core.windows.net/x", types.SimpleNamespace(fs=None)), DbutilsStore
    )
    with pytest.raises(ConfigError, match=r"no file system for 'nosuch://'.*adlfs for abfss://"):
        store_for("nosuch://bucket/x")


def test_on_a_lake_a_table_steps_aside_and_comes_back_after_a_crash(lake):
    store = FsspecStore(fsspec.filesystem("memory"))
    store.put(f"{lake}/films/v", io.BytesIO(b"old"))
    store.put(f"{lake}/.films._tmp_1/v", io.BytesIO(b"new"))
    _move_into_place(None, f"{lake}/.films._tmp_1", f"{lake}/films")
    assert fs_read_bytes(None, f"{lake}/films/v") == b"new"
    assert sorted(u.rsplit("/", 1)[-1] for _, u in store.children(lake)) == ["films"], "the old version is gone"
    # a writer killed between its two renames: the table missing, its old version aside, a dead temporary
    store.rename(f"{lake}/films", f"{lake}/.films._old_dead")
    store.put(f"{lake}/.films._tmp_dead/v", io.BytesIO(b"half"))
    done = recover_table(None, f"{lake}/films")
    assert [line.split()[0] for line in done] == ["restored", "removed"]
    assert fs_read_bytes(None, f"{lake}/films/v") == b"new"
    assert sorted(u.rsplit("/", 1)[-1] for _, u in store.children(lake)) == ["films"]


def test_files_move_between_a_disk_and_a_lake(lake, tmp_path):
    import gzip

    local = str(tmp_path / "a.jsonl.gz")
    fs_write_bytes(None, local, gzip.compress(b'{"id": 1}\n' * 50))
    fs_copy(None, local, f"{lake}/raw/a.jsonl.gz")
    fs_write_bytes(None, f"{lake}/raw/cut.jsonl.gz", gzip.compress(b'{"id": 1}\n' * 50)[:-12])
    assert fs_unreadable(None, f"{lake}/raw/a.jsonl.gz") is None
    assert fs_unreadable(None, f"{lake}/raw/cut.jsonl.gz").startswith("unreadable compressed file: EOFError")
    fs_copy(None, f"{lake}/raw/a.jsonl.gz", str(tmp_path / "back.jsonl.gz"))
    assert (tmp_path / "back.jsonl.gz").read_bytes() == (tmp_path / "a.jsonl.gz").read_bytes()
    with pytest.raises(FileNotFoundError):
        fs_copy(None, f"{lake}/raw/none.gz", str(tmp_path / "x.gz"))
    assert not [p for p in tmp_path.iterdir() if "._tmp_" in p.name], "a failed copy leaves nothing behind"
