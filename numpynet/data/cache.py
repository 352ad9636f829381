"""Decode once, keep forever: the on-disk uint8 cache of a preprocessed split.

A cache is one folder under the cache root (``$NUMPYNET_CACHE``, else ``data/cache/`` in the
checkout; an installed numpynet: ``~/.cache/numpynet/cache/``, or under ``$XDG_CACHE_HOME``):

    train-100c-256px-<key>/
        images.npy       (M, S, S, 3) uint8, opened memory-mapped: 100 classes need not fit in RAM
        labels.npy       (M,) int64, 0..N-1
        files.txt        the source file of each row, relative to the dataset folder
        mean.npy         (S, S, 3) float32 mean image, 0-255 scale            (train only)
        eigvals.npy      (3,) float64 eigenvalues of the RGB covariance        (train only)
        eigvecs.npy      (3, 3) float64, column k = k-th principal component  (train only)
        manifest.json    classes, counts, skipped files and why, settings; written last,
                         with "complete": true

``<key>`` hashes everything the contents depend on: the resolved dataset path, split, chosen
wnids, per_class, seed, size, and every source file with its label, size and mtime. Change any of
them and a new cache is built; otherwise the old one is opened in well under a second.

A build writes into ``.<name>.build-<pid>-<hex>/`` (``files.temp_sibling``) and renames the
folder into place only when complete, so an interrupted build (Ctrl-C, crash, full disk) never
leaves a cache that is later trusted: ``open_cache`` refuses a folder without ``"complete":
true``, and leftovers of processes that no longer run are deleted by the next build. Two
processes building the same cache at once each build their own folder; the first rename wins
and the other uses it.
"""

import contextlib
import hashlib
import io
import json
import multiprocessing
import os
import signal
import time
from pathlib import Path

import numpy as np
from numpy.lib import format as npy_format
from tqdm import tqdm

from .. import config
from ..files import atomic_path, remove_tree, temp_owner, temp_sibling, temp_siblings
from . import decode
from .layout import DatasetError, display_path, in_checkout, project_path, user_cache_dir

CACHE_ENV = "NUMPYNET_CACHE"
DEFAULT_CACHE = config.default(CACHE_ENV)
FORMAT = 2          # bump when the cache layout or preprocessing changes (2: JPEG draft mode)
BUILD = "build"     # the purpose in the names of build folders: .<name>.build-<pid>-<hex>


def default_cache_root():
    """$NUMPYNET_CACHE, else data/cache in the checkout; an installed numpynet: the user cache
    folder (~/.cache/numpynet/cache), not whatever folder the command happens to run in."""
    given = config.given(CACHE_ENV)
    if given:
        return Path(given)
    return project_path(DEFAULT_CACHE) if in_checkout() else user_cache_dir() / "cache"


class CachedSplit:
    """An opened cache: ``images`` (M, S, S, 3) uint8 memmap, ``labels`` (M,) int64, ``manifest``.

    Train caches also carry the statistics the augmentation needs: ``mean`` (S, S, 3) float32 and
    ``eigvals`` (3,), ``eigvecs`` (3, 3) of the RGB covariance (all on the 0-255 pixel scale);
    for a val cache they are None (use the train cache's).
    """

    def __init__(self, folder):
        self.folder = Path(folder)
        self.manifest = read_manifest(self.folder)
        if self.manifest is None:
            raise DatasetError(f"{display_path(self.folder)} is not a complete numpynet cache "
                               f"(interrupted build?): delete it, it will be rebuilt")
        self.images = np.load(self.folder / "images.npy", mmap_mode="r")    # (M, S, S, 3) uint8
        self.labels = np.load(self.folder / "labels.npy")                   # (M,) int64
        if not len(self.images) == len(self.labels) == self.manifest["num_images"]:
            raise DatasetError(f"{display_path(self.folder)}: images, labels and manifest "
                               f"disagree on the number of images: delete the folder")
        self.mean = self._optional("mean.npy")           # (S, S, 3) float32
        self.eigvals = self._optional("eigvals.npy")     # (3,)
        self.eigvecs = self._optional("eigvecs.npy")     # (3, 3), columns = components
        self.reused = True                               # set False by the build that made it

    def _optional(self, name):
        path = self.folder / name
        return np.load(path) if path.exists() else None

    @property
    def wnids(self):
        return self.manifest["wnids"]

    @property
    def names(self):
        return self.manifest["names"]

    @property
    def size(self):
        return self.images.shape[1]

    def files(self):
        """Source file of each row (relative to the dataset folder), read on demand."""
        return (self.folder / "files.txt").read_text(encoding="utf-8").splitlines()

    def __len__(self):
        return len(self.labels)

    def __repr__(self):
        return (f"CachedSplit({self.manifest['split']}: {len(self)} images "
                f"{self.images.shape[1:]} of {len(self.wnids)} classes, {self.folder.name})")


def read_manifest(folder):
    """The manifest of a complete cache folder, or None if it is absent, partial or outdated."""
    try:
        manifest = json.loads((Path(folder) / "manifest.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    if manifest.get("complete") is not True or manifest.get("format") != FORMAT:
        return None
    return manifest


def open_cache(folder):
    """Open a complete cache folder (``DatasetError`` if it is not one)."""
    return CachedSplit(folder)


# ---------------------------------------------------------------------------------------------
# The key: which cache belongs to which (dataset, settings, files)

def cache_key(settings, items, base):
    """sha256 over the settings (a JSON-able dict) and each ``(file, label)`` with size & mtime."""
    h = hashlib.sha256(json.dumps(settings, sort_keys=True).encode())
    for path, label in items:
        try:
            st = os.stat(path)
            size, mtime = st.st_size, st.st_mtime_ns
        except OSError:
            size, mtime = -1, -1
        h.update(f"{os.path.relpath(path, base)}\t{label}\t{size}\t{mtime}\n".encode())
    return h.hexdigest()[:16]


def open_or_build(cache_root, split, items, wnids, names, settings, base, pre_skipped=(),
                  workers=None, progress=True, statistics=False, layout=""):
    """The cache for ``items`` (a list of ``(path, label)``), built now if it does not exist yet.

    settings:     dict with at least ``size``, ``min_side`` (and whatever else identifies the
                  split: dataset path, per_class, seed ...), hashed into the key and kept in the
                  manifest
    pre_skipped:  ``(path, reason)`` of files dropped before decoding (e.g. no val label)
    statistics:   compute the mean image and RGB PCA (the train split)
    layout:       a description of the dataset layout for the manifest (not hashed)
    Returns a ``CachedSplit`` whose ``.reused`` says whether it was there already.
    """
    cache_root = Path(cache_root)
    settings = dict(settings, split=split, wnids=list(wnids), format=FORMAT)
    key = cache_key(settings, list(items) + [(p, "skipped") for p, _ in pre_skipped], base)
    folder = cache_root / f"{split}-{len(wnids)}c-{settings['size']}px-{key}"
    if read_manifest(folder) is not None:
        return CachedSplit(folder)

    cache_root.mkdir(parents=True, exist_ok=True)
    _remove_stale_builds(folder)
    started = time.time()
    tmp = temp_sibling(folder, BUILD)
    tmp.mkdir()
    try:
        manifest = dict(settings, names=list(names), key=key, layout=layout)
        _fill(tmp, items, manifest, base, list(pre_skipped), workers, progress, statistics)
        manifest["build_seconds"] = round(time.time() - started, 1)
        manifest["complete"] = True
        with open(tmp / "manifest.json", "w", encoding="utf-8") as f:   # written last
            json.dump(manifest, f, indent=1)
        _publish(tmp, folder)
    except BaseException:                   # Ctrl-C included: leave nothing half-made behind
        remove_tree(tmp)
        raise
    split_cache = CachedSplit(folder)
    split_cache.reused = False
    return split_cache


def _remove_stale_builds(folder):
    """Delete the build folders of ``folder`` whose process no longer runs (a running build's
    is left alone), and a final folder without a complete manifest (what a crash on another
    system could leave)."""
    for tmp in temp_siblings(folder, BUILD):
        if not _process_alive(temp_owner(tmp)[2]):
            remove_tree(tmp)
    if folder.exists() and read_manifest(folder) is None:
        remove_tree(folder)


def _process_alive(pid):
    if pid == os.getpid():
        return False                   # our own leftover from an earlier, failed attempt
    if os.name == "nt":                # os.kill(pid, 0) is no harmless probe on Windows
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except OSError:                    # exists, but belongs to someone else
        return True
    return True


def _publish(tmp, folder):
    """Rename the finished ``tmp`` folder to ``folder`` (the one atomic step of a build)."""
    try:
        os.replace(tmp, folder)
    except OSError:
        if read_manifest(folder) is None:          # not a concurrent build that won the race
            raise
        remove_tree(tmp)                           # another process finished first: use theirs


# ---------------------------------------------------------------------------------------------
# The build

def _fill(tmp, items, manifest, base, skipped, workers, progress, statistics):
    """Decode ``items`` into ``tmp/``; fills ``manifest`` with counts, skips and statistics."""
    size, min_side = manifest["size"], manifest["min_side"]
    images = npy_format.open_memmap(tmp / "images.npy", mode="w+", dtype=np.uint8,
                                    shape=(len(items), size, size, 3))     # (N, S, S, 3)
    rel = lambda path: os.path.relpath(path, base)                          # noqa: E731
    skipped = [(rel(p), reason, "") for p, reason in skipped]
    labels, files, converted = [], [], []
    tasks = [(str(path), size, min_side) for path, _ in items]
    desc = f"decoding {manifest['split']} images"
    with contextlib.closing(decode_all(tasks, workers, progress, desc)) as results:
        for (path, label), (array, reason, detail, notes) in zip(items, results):
            if array is None:
                skipped.append((rel(path), reason, detail))
                continue
            images[len(labels)] = array
            labels.append(label)
            files.append(rel(path))
            converted += [(rel(path), note) for note in notes]
    images.flush()
    del images
    if not labels:
        raise DatasetError(f"no usable {manifest['split']} images among {len(items)} files "
                           f"({_count_text(skipped)})")
    keep_rows_npy(tmp / "images.npy", len(labels))        # drop the rows of skipped files
    labels = np.asarray(labels, dtype=np.int64)
    np.save(tmp / "labels.npy", labels)
    (tmp / "files.txt").write_text("".join(f + "\n" for f in files), encoding="utf-8")

    manifest.update(
        num_images=len(labels),
        counts=np.bincount(labels, minlength=len(manifest["wnids"])).tolist(),
        skipped=_count(r for _, r, _ in skipped),
        converted=_count(n for _, n in converted),
        skipped_files=[list(s) for s in skipped],
        converted_files=[list(c) for c in converted],
    )
    if statistics:
        stored = np.load(tmp / "images.npy", mmap_mode="r")
        mean, cov = image_statistics(stored, progress=progress)
        eigvals, eigvecs = rgb_pca(cov)
        np.save(tmp / "mean.npy", mean)
        np.save(tmp / "eigvals.npy", eigvals)
        np.save(tmp / "eigvecs.npy", eigvecs)
        manifest.update(mean_rgb=mean.reshape(-1, 3).mean(0).round(3).tolist(),
                        rgb_cov=cov.round(4).tolist(), eigvals=eigvals.round(4).tolist(),
                        eigvecs=eigvecs.round(6).tolist())


def _count(reasons):
    counts = {}
    for r in reasons:
        counts[r] = counts.get(r, 0) + 1
    return dict(sorted(counts.items(), key=lambda kv: -kv[1]))


def _count_text(skipped):
    return ", ".join(f"{n} {r}" for r, n in _count(r for _, r, _ in skipped).items()) or "none"


def _ignore_sigint():
    signal.signal(signal.SIGINT, signal.SIG_IGN)   # Ctrl-C is the parent's to handle


def decode_all(tasks, workers=None, progress=True, desc="decoding"):
    """``decode.decode_for_cache`` over ``tasks``, in order, on ``workers`` processes
    (default: all CPUs; 1 = in this process), with a progress bar."""
    workers = (os.cpu_count() or 1) if workers is None else max(1, int(workers))
    bar = tqdm(total=len(tasks), desc=desc, unit="img", disable=not progress, mininterval=0.5)
    pool = None
    try:
        if workers == 1 or len(tasks) < 2 * workers:
            results = map(decode.decode_for_cache, tasks)
        else:
            pool = multiprocessing.Pool(workers, initializer=_ignore_sigint)
            chunk = max(1, min(64, len(tasks) // (8 * workers)))
            results = pool.imap(decode.decode_for_cache, tasks, chunksize=chunk)
        for result in results:
            bar.update()
            yield result
    finally:
        bar.close()
        if pool is not None:
            pool.terminate()
            pool.join()


def keep_rows_npy(path, rows):
    """Keep only the first ``rows`` rows of a C-order ``.npy`` file, in place.

    A .npy file is a short text header (dtype, shape) then the raw bytes, row after row. NumPy
    pads the header so that the first dimension can change without changing the header's length,
    so dropping trailing rows is: rewrite the header with the new shape, truncate the file.
    (If the header length did change, fall back to copying.)
    """
    with open(path, "r+b") as f:
        version = npy_format.read_magic(f)
        read_header = (npy_format.read_array_header_1_0 if version == (1, 0)
                       else npy_format.read_array_header_2_0)
        shape, fortran_order, dtype = read_header(f)
        offset = f.tell()
        if rows == shape[0]:
            return
        new_shape = (rows,) + tuple(shape[1:])
        header = io.BytesIO()
        write_header = (npy_format.write_array_header_1_0 if version == (1, 0)
                        else npy_format.write_array_header_2_0)
        write_header(header, {"descr": npy_format.dtype_to_descr(dtype),
                              "fortran_order": fortran_order, "shape": new_shape})
        if len(header.getvalue()) == offset and not fortran_order:
            f.seek(0)
            f.write(header.getvalue())
            f.truncate(offset + rows * int(np.prod(shape[1:], dtype=np.int64)) * dtype.itemsize)
            return
    old = np.load(path, mmap_mode="r")
    with atomic_path(path) as tmp:          # open_memmap writes to the name as given
        new = npy_format.open_memmap(tmp, mode="w+", dtype=old.dtype, shape=new_shape)
        for start in range(0, rows, 1024):
            new[start:start + 1024] = old[start:min(rows, start + 1024)]
        new.flush()
        del new, old


# ---------------------------------------------------------------------------------------------
# Statistics of the training set, for mean subtraction and PCA colour augmentation

def image_statistics(images, chunk_pixels=1 << 20, progress=False):
    """Mean image and RGB covariance of ``images`` (M, S, S, 3) uint8, in one streaming pass.

        mean[h, w, c] = 1/M  sum_i  x[i, h, w, c]                    (S, S, 3), 0-255 scale
        cov           = 1/(P-1) sum_p (x_p - mu)(x_p - mu)^T         (3, 3), over all P = M*S*S
                      = (sum_p x_p x_p^T  -  P mu mu^T) / (P - 1)    pixels x_p in R^3

    Sums are accumulated in float64 a few images at a time (a chunk of ~1M pixels), so memory
    stays small however many images there are. Sums of uint8 products are exact integers in
    float64 up to 2^53 (~1.4 million 256x256 images). Returns (mean float32, cov float64).
    """
    m, s = images.shape[0], images.shape[1]
    step = max(1, chunk_pixels // (s * s))
    image_sum = np.zeros(images.shape[1:], dtype=np.float64)   # (S, S, 3)
    pixel_sum = np.zeros(3, dtype=np.float64)                  # (3,)
    outer_sum = np.zeros((3, 3), dtype=np.float64)             # (3, 3)
    for start in tqdm(range(0, m, step), desc="mean image & RGB PCA", unit="chunk",
                      disable=not progress, mininterval=0.5):
        block = np.asarray(images[start:start + step], dtype=np.float64)   # (b, S, S, 3)
        image_sum += block.sum(axis=0)
        pixels = block.reshape(-1, 3)                                      # (b*S*S, 3)
        pixel_sum += pixels.sum(axis=0)
        outer_sum += pixels.T @ pixels
    p = m * s * s
    mu = pixel_sum / p
    cov = (outer_sum - p * np.outer(mu, mu)) / max(p - 1, 1)
    return (image_sum / m).astype(np.float32), cov


def rgb_pca(cov):
    """Principal components of the RGB covariance: ``cov @ v_k = lambda_k v_k``.

    Returns eigvals (3,) in decreasing order and eigvecs (3, 3) with component k in column k,
    each signed so that its entries sum to >= 0 (the first one is then 'brighter', +R +G +B).
    """
    eigvals, eigvecs = np.linalg.eigh(cov)            # ascending
    eigvals, eigvecs = eigvals[::-1].copy(), eigvecs[:, ::-1].copy()
    eigvecs *= np.where(eigvecs.sum(axis=0) < 0, -1.0, 1.0)
    return np.clip(eigvals, 0, None), eigvecs
