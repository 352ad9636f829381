"""Batches from an opened cache: shuffled and augmented for training, in order for evaluation,
reproducible to the batch and prepared one batch ahead in a background thread.

    train = BatchLoader(data.train, batch_size=128, train=True, seed=0)
    val = BatchLoader(data.val, batch_size=128, train=False, mean=data.mean)
    for epoch in range(start_epoch, epochs):
        for b, (x, y) in enumerate(train.epoch(epoch, start_batch), start=start_batch):
            ...                       # x (B, 3, 227, 227) float32, y (B,) int64
        start_batch = 0               # only the first, resumed epoch starts mid-way

Every random number is derived from (seed, purpose, epoch, batch index), never from state left by
earlier batches:

    order of epoch e:                   np.random.default_rng([seed, 0, e]).permutation(M)
    crops/flips/colour of batch b of e: np.random.default_rng([seed, 1, e, b])

so batch (e, b) is the same in an uninterrupted run and in a run resumed at (e, b) with
``epoch(e, start_batch=b)``, and the same with or without prefetching. To resume, save the epoch
and the index of the next batch with the model checkpoint.
"""

import queue
import threading

import numpy as np

from .. import backend
from .augment import CROP, PCA_STD

SHUFFLE_STREAM = 0      # purposes, so that different uses never share random numbers
AUGMENT_STREAM = 1      # (subset.py uses 2 and 3 for choosing images per class)


class BatchLoader:
    """Iterate ``(x, y)`` batches over a split with ``.images`` (M, S, S, 3) uint8 and
    ``.labels`` (M,) int64 (a ``CachedSplit``, or anything with those two arrays).

    train=True   shuffled each epoch, random crop + flip + PCA colour, ``drop_last`` by default
    train=False  in cache order, centre crop (``ten_crop=True``: x is (10, B, 3, crop, crop))
    x is float32 NCHW on the 0-255 scale minus the training mean image; y is int64.
    device="gpu": x is a CuPy array, assembled on the GPU from uint8 crops (numpynet.gpu.augment).
    rows=(lo, hi) (training): only rows [lo, hi) of every batch, with the images, crops, flips
    and colours they have in the whole batch (a data-parallel rank's share: numpynet.parallel).

    ``mean`` (S, S, 3), ``eigvals`` (3,), ``eigvecs`` (3, 3) default to the split's own (a train
    cache has them); an evaluation loader over the val split needs ``mean=data.mean``.
    """

    def __init__(self, split, batch_size=128, train=True, crop=CROP, seed=0, mean=None,
                 eigvals=None, eigvecs=None, pca_std=PCA_STD, ten_crop=False, drop_last=None,
                 prefetch=True, device="cpu", rows=None):
        self.images, self.labels = split.images, split.labels
        self.mean = mean if mean is not None else getattr(split, "mean", None)
        self.eigvals = eigvals if eigvals is not None else getattr(split, "eigvals", None)
        self.eigvecs = eigvecs if eigvecs is not None else getattr(split, "eigvecs", None)
        if self.mean is None:
            raise ValueError("BatchLoader: this split carries no mean image; pass the training "
                             "one, e.g. BatchLoader(data.val, ..., mean=data.mean)")
        if train and pca_std and (self.eigvals is None or self.eigvecs is None):
            raise ValueError("BatchLoader: PCA colour augmentation needs eigvals and eigvecs "
                             "(data.eigvals, data.eigvecs), or pass pca_std=0 to turn it off")
        if batch_size < 1:
            raise ValueError(f"BatchLoader: batch_size={batch_size} must be at least 1")
        self.batch_size, self.train, self.crop, self.seed = batch_size, train, crop, seed
        self.pca_std, self.ten_crop, self.prefetch = pca_std, ten_crop, prefetch
        self.drop_last = train if drop_last is None else drop_last
        if rows is not None and not (train and self.drop_last and 0 <= rows[0] <= rows[1]
                                     <= batch_size):
            raise ValueError(f"BatchLoader: rows={rows} must be a part (lo, hi) of the "
                             f"{batch_size} rows of a training batch (train, drop_last)")
        self.rows = rows
        self.augment = _augmentations(device)
        if device == "gpu":                 # upload once; crops then travel as uint8
            self.mean = backend.to_device(self.mean, "gpu")
        self._order = (None, None)          # (epoch, permutation) of the last epoch asked for

    def __len__(self):
        """Batches per epoch."""
        n, b = len(self.labels), self.batch_size
        return n // b if self.drop_last else -(-n // b)

    def order(self, epoch):
        """The order of the images in ``epoch``: a seeded permutation (train) or 0..M-1 (eval)."""
        if not self.train:
            return np.arange(len(self.labels))
        cached_epoch, order = self._order          # one read: safe with the prefetch thread
        if cached_epoch != epoch:
            rng = np.random.default_rng([self.seed, SHUFFLE_STREAM, epoch])
            order = rng.permutation(len(self.labels))
            self._order = (epoch, order)
        return order

    def batch(self, epoch, b):
        """Batch ``b`` of ``epoch`` -> (x, y); a pure function of (seed, epoch, b)."""
        if not 0 <= b < len(self):
            raise IndexError(f"batch {b} out of range: an epoch has {len(self)} batches")
        idx = self.order(epoch)[b * self.batch_size:(b + 1) * self.batch_size]
        rows = None if self.rows is None else (*self.rows, len(idx))      # (lo, hi, B)
        if rows is not None:
            idx = idx[rows[0]:rows[1]]
        images = self.images[idx]                                  # (B, S, S, 3) uint8, a copy
        labels = np.asarray(self.labels[idx], dtype=np.int64)      # (B,)
        if self.train:
            rng = np.random.default_rng([self.seed, AUGMENT_STREAM, epoch, b])
            x = self.augment.train_batch(images, self.mean, self.eigvals, self.eigvecs, rng,
                                         self.crop, self.pca_std, rows)
        elif self.ten_crop:
            x = self.augment.ten_crop_batch(images, self.mean, self.crop)  # (10, B, 3, c, c)
        else:
            x = self.augment.centre_batch(images, self.mean, self.crop)    # (B, 3, c, c)
        return x, labels

    def epoch(self, epoch=0, start_batch=0):
        """Iterator over the batches ``start_batch, start_batch + 1, ...`` of ``epoch``."""
        if not 0 <= start_batch <= len(self):
            raise ValueError(f"start_batch={start_batch}: an epoch has {len(self)} batches")
        batches = (self.batch(epoch, b) for b in range(start_batch, len(self)))
        return background(batches) if self.prefetch else batches

    def __iter__(self):
        """Epoch 0 (for evaluation and quick looks; training loops call ``epoch(e)``)."""
        return self.epoch(0)


def _augmentations(device):
    """The module whose train_batch / centre_batch / ten_crop_batch make the batches: the NumPy
    ones, or (device="gpu") numpynet.gpu.augment's, which upload uint8 crops and do the float
    work on the GPU, with the same random draws."""
    if device == "cpu":
        from . import augment
        return augment
    if device == "gpu":
        from ..gpu import augment
        return augment
    raise ValueError(f"BatchLoader: device must be 'cpu' or 'gpu', got {device!r}")


_DONE = object()


def background(items, depth=1):
    """Iterate ``items`` in a background thread that stays ``depth`` items ahead.

    The thread stops when the consumer does: at the end, on ``break`` (which closes this
    generator), on an exception or Ctrl-C in the loop body. An exception raised while producing
    an item is raised again here, in the consumer.
    """
    q = queue.Queue(maxsize=depth)
    stop = threading.Event()

    def put(item):                       # wait for room, but give up when asked to stop
        while not stop.is_set():
            try:
                q.put(item, timeout=0.05)
                return True
            except queue.Full:
                pass
        return False

    def produce():
        try:
            for item in items:
                if not put((item, None)):
                    return
        except BaseException as error:   # handed to the consumer
            put((_DONE, error))
            return
        put((_DONE, None))

    thread = threading.Thread(target=produce, name="numpynet-prefetch", daemon=True)
    thread.start()
    try:
        while True:
            item, error = q.get()
            if item is _DONE:
                if error is not None:
                    raise error
                return
            yield item
    finally:
        stop.set()
        thread.join()
