"""numpynet/files.py, the one atomic-write scheme: a reader sees the old file or the new one,
never a part; a failure leaves no temporary; temporaries say who made them."""

import os

import numpy as np
import pytest

from numpynet import files


def test_a_failed_write_keeps_the_old_file_and_leaves_no_temporary(tmp_path):
    target = files.atomic_write_text(tmp_path / "metrics.json", "old\n")
    with pytest.raises(RuntimeError, match="disk full"):
        with files.atomic_path(target) as tmp:
            tmp.write_text("half of the new")
            raise RuntimeError("disk full")
    assert target.read_text() == "old\n"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["metrics.json"]


def test_a_successful_write_replaces_the_file(tmp_path):
    target = tmp_path / "sub" / "notes.txt"                 # the parent is made
    files.atomic_write_text(target, "one\n")
    files.atomic_write_text(target, "two\nlines\n")
    assert target.read_bytes() == b"two\nlines\n"            # "\n" on every system
    assert sorted(p.name for p in target.parent.iterdir()) == ["notes.txt"]


def test_a_temporary_folder_is_removed_too(tmp_path):
    with pytest.raises(KeyboardInterrupt):
        with files.atomic_path(tmp_path / "out") as tmp:
            tmp.mkdir()
            (tmp / "part").write_text("x")
            raise KeyboardInterrupt
    assert list(tmp_path.iterdir()) == []


def test_temp_names_say_whose_they_are(tmp_path):
    target = tmp_path / "best.npz"
    tmp = files.temp_sibling(target)
    assert tmp.parent == tmp_path and tmp.name.startswith(".best.npz.tmp-")
    assert files.temp_owner(tmp) == ("best.npz", "tmp", os.getpid())
    other = files.temp_sibling(target, "build", pid=4711)
    assert files.temp_owner(other) == ("best.npz", "build", 4711)
    assert files.temp_sibling(target) != tmp                  # fresh each time
    for name in ("best.npz", ".best.npz", ".best.npz.tmp-12", "best.npz.tmp-12-9f8e7d6c"):
        assert files.temp_owner(tmp_path / name) is None
    with pytest.raises(ValueError, match="purpose"):
        files.temp_sibling(target, "no-dashes")


def test_temp_siblings_finds_only_the_targets_own(tmp_path):
    a = files.temp_sibling(tmp_path / "a[1].npz", "build", pid=1)
    b = files.temp_sibling(tmp_path / "a[1].npz", "tmp", pid=2)
    unrelated = files.temp_sibling(tmp_path / "a[1].npz.bak", "build", pid=3)
    for p in (a, b, unrelated):
        p.mkdir()
    assert files.temp_siblings(tmp_path / "a[1].npz") == sorted([a, b])
    assert files.temp_siblings(tmp_path / "a[1].npz", "build") == [a]


def test_durable_writes_flush_the_file_and_the_folder(tmp_path, monkeypatch):
    synced = []
    real = os.fsync

    def fsync(fd):
        synced.append(os.path.realpath(f"/proc/self/fd/{fd}") if os.path.exists("/proc")
                      else fd)
        real(fd)
    monkeypatch.setattr(os, "fsync", fsync)
    target = tmp_path / "last.npz"
    with files.atomic_path(target, durable=True) as tmp, open(tmp, "wb") as f:
        np.savez(f, w=np.arange(3))
    assert np.array_equal(np.load(target)["w"], np.arange(3))
    assert len(synced) == (1 if os.name == "nt" else 2)       # the file, then its folder
    if os.path.exists("/proc") and os.name != "nt":
        assert synced[0].startswith(str(tmp_path.resolve() / ".last.npz.tmp-"))
        assert synced[1] == str(tmp_path.resolve())

    synced.clear()
    files.atomic_write_text(tmp_path / "plain.txt", "x")      # not durable: no fsync
    assert synced == []


def test_remove_tree(tmp_path):
    (tmp_path / "d" / "e").mkdir(parents=True)
    (tmp_path / "f").write_text("x")
    files.remove_tree(tmp_path / "d")
    files.remove_tree(tmp_path / "f")
    files.remove_tree(tmp_path / "absent")
    assert list(tmp_path.iterdir()) == []


def test_checkpoint_save_is_atomic_and_durable(tmp_path, monkeypatch):
    import numpynet as nn
    from numpynet import checkpoint
    net = nn.Sequential(nn.Linear(4, 3))
    synced = []
    monkeypatch.setattr(files, "fsync_file", lambda path: synced.append(path.name))
    path = checkpoint.save(tmp_path / "run" / "best.npz", net, {"epoch": 1})
    assert sorted(p.name for p in path.parent.iterdir()) == ["best.npz"]
    assert len(synced) == 1 and files.temp_owner(synced[0])[:2] == ("best.npz", "tmp")
    arrays, meta = checkpoint.load(path)
    assert meta["epoch"] == 1 and any(k.startswith("param/") for k in arrays)
