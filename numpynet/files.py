"""Writing files and folders so that nobody ever sees them half written.

The rule everywhere in numpynet (checkpoints, plots, metrics, caches, the demo dataset): write
into a temporary name beside the target, then rename it into place. A rename within one folder
is atomic, so a reader finds either the old complete file or the new complete one, never a
part; a crash leaves only a temporary, whose name says which process made it and what for:

    .<name>.<purpose>-<pid>-<8 hex digits>      e.g.  .best.npz.tmp-4711-9f8e7d6c

    with atomic_path("runs/a/best.npz") as tmp, open(tmp, "wb") as f:
        np.savez(f, ...)                       # renamed to best.npz only if this succeeds

(The temporary has no suffix of its own: hand writers that guess the format from the name,
such as np.savez or matplotlib's savefig, an open file or an explicit format.)

A folder (a cache, the demo dataset) is built the same way, under `temp_sibling(folder,
purpose)`, and renamed by its builder, which also decides what an existing target means.
`temp_owner` reads the pid back, so a later run can delete the leftovers of dead processes.
"""

import contextlib
import glob
import os
import re
import shutil
import uuid
from pathlib import Path

_TEMP = re.compile(r"^\.(?P<name>.+)\.(?P<purpose>[a-z]+)-(?P<pid>\d+)-[0-9a-f]{8}$")


def temp_sibling(path, purpose="tmp", pid=None):
    """A fresh hidden path beside `path`: .<name>.<purpose>-<pid>-<8 hex digits>, where pid is
    this process unless given. `purpose` is lower-case letters ("tmp", "build", "old")."""
    path = Path(path)
    if not re.fullmatch(r"[a-z]+", purpose):
        raise ValueError(f"temp_sibling: purpose must be lower-case letters, got {purpose!r}")
    pid = os.getpid() if pid is None else int(pid)
    return path.with_name(f".{path.name}.{purpose}-{pid}-{uuid.uuid4().hex[:8]}")


def temp_owner(path):
    """(target name, purpose, pid) of a name made by `temp_sibling`, or None for any other."""
    m = _TEMP.match(Path(path).name)
    return (m["name"], m["purpose"], int(m["pid"])) if m else None


def temp_siblings(path, purpose=None):
    """The temporaries of `path` that `temp_sibling` made (by any process), optionally only
    those for `purpose`, sorted."""
    path = Path(path)
    found = []
    for p in path.parent.glob(f".{glob.escape(path.name)}.*"):
        owner = temp_owner(p)
        if owner and owner[0] == path.name and purpose in (None, owner[1]):
            found.append(p)
    return sorted(found)


def fsync_file(path):
    """Flush `path`'s contents to the disk (not just to the operating system's cache)."""
    with open(path, "r+b") as f:
        os.fsync(f.fileno())


def fsync_folder(path):
    """Flush a folder's entries (a rename in it) to the disk; a no-op where folders cannot be
    opened (Windows)."""
    if os.name == "nt":
        return
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


@contextlib.contextmanager
def atomic_path(path, durable=False):
    """Yield a temporary path beside `path`; when the block ends without an error, rename it
    to `path`, otherwise delete it. Makes the parent folder.

    durable=True also survives a power cut: the file is flushed to the disk before the rename,
    and the folder after it (for checkpoints, which hours of training depend on).
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = temp_sibling(path)
    try:
        yield tmp
        if durable:
            fsync_file(tmp)
        os.replace(tmp, path)
        if durable:
            fsync_folder(path.parent)
    finally:
        remove_tree(tmp)


def atomic_write_text(path, text, encoding="utf-8"):
    """Write `text` to `path` atomically, with "\\n" line ends on every system."""
    with atomic_path(path) as tmp, open(tmp, "w", encoding=encoding, newline="") as f:
        f.write(text)
    return Path(path)


def remove_tree(path):
    """Delete a file or folder if it is there (a temporary left by a failed build)."""
    path = Path(path)
    if path.is_dir() and not path.is_symlink():
        shutil.rmtree(path, ignore_errors=True)
    elif path.exists() or path.is_symlink():
        path.unlink()
