"""Writing files and folders so that nobody ever sees them half written.

The rule everywhere in numpynet (checkpoints, plots, metrics, caches, the demo dataset): write
into a temporary name beside the target, then rename it into place. A rename within one folder
is atomic, so a reader finds either the old complete file or the new complete one, never a
part; a crash leaves only a temporary, whose name says which process made it:

    .<name>.<purpose>-<pid>-<random>          e.g.  .best.npz.tmp-4711-9f8e7d6c

    with atomic_path("runs/a/best.npz") as tmp, open(tmp, "wb") as f:
        np.savez(f, ...)                       # renamed to best.npz only if this succeeds

(The temporary has no suffix of its own: hand writers that guess the format from the name,
such as np.savez or matplotlib's savefig, an open file or an explicit format.)
"""

import contextlib
import os
import re
import shutil
import uuid
from pathlib import Path

_TEMP = re.compile(r"^\.(?P<name>.+)\.(?P<purpose>[a-z]+)-(?P<pid>\d+)-[0-9a-f]{8}$")


def temp_sibling(path, purpose="tmp"):
    """A fresh hidden path beside `path`: .<name>.<purpose>-<pid>-<8 hex digits>."""
    path = Path(path)
    return path.with_name(f".{path.name}.{purpose}-{os.getpid()}-{uuid.uuid4().hex[:8]}")


def temp_owner(path):
    """(target name, purpose, pid) of a name made by `temp_sibling`, or None."""
    m = _TEMP.match(Path(path).name)
    return (m["name"], m["purpose"], int(m["pid"])) if m else None


def temp_siblings(path, purpose=None):
    """The temporaries of `path` that `temp_sibling` made (by any process), optionally only
    those for `purpose`."""
    path = Path(path)
    found = []
    for p in path.parent.glob(f".{path.name}.*"):
        owner = temp_owner(p)
        if owner and owner[0] == path.name and purpose in (None, owner[1]):
            found.append(p)
    return sorted(found)


def fsync_file(path):
    with open(path, "rb") as f:
        os.fsync(f.fileno())


@contextlib.contextmanager
def atomic_path(path, durable=False):
    """Yield a temporary path beside `path`; when the block ends without an error, rename it
    to `path` (after an fsync if `durable`); otherwise delete it. Makes the parent folder."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = temp_sibling(path)
    try:
        yield tmp
        if durable:
            fsync_file(tmp)
        os.replace(tmp, path)
    finally:
        if tmp.exists():
            tmp.unlink()


def atomic_write_text(path, text):
    """Write `text` to `path` atomically."""
    with atomic_path(path) as tmp:
        tmp.write_text(text)
    return Path(path)


def remove_tree(path):
    """Delete a file or folder if it is there (a temporary left by a failed build)."""
    path = Path(path)
    if path.is_dir() and not path.is_symlink():
        shutil.rmtree(path, ignore_errors=True)
    elif path.exists() or path.is_symlink():
        path.unlink()
