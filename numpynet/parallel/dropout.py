"""Dropout on a part of an activation, with exactly the mask the whole activation would get.

A one-process run draws fc6's dropout mask for the whole (B, 4096) activation from the layer's
generator. A data-parallel rank holds only rows [lo, hi) of it (its images), a model-parallel
tower only columns [lo, hi) (its units). To reproduce the one-process run each of them draws the
whole mask from an identically seeded generator and keeps its part: the generators of all ranks
then stay in step with the one-process one (and with each other, so checkpoints agree).
Drawing the whole mask costs a few milliseconds per step, far less than computing it apart
would save in arithmetic.
"""

import numpy as np

from .. import backend
from ..layers import Dropout


class SlicedDropout(Dropout):
    """y = x * m[rows, cols] / (1 - p) with m ~ Bernoulli(1 - p) of the whole activation's shape.

    `rows`, `cols`: (lo, hi, whole) of the part this process holds along axis 0 (the batch) and
    axis 1 (the units), or None for "all of it". Backward is Dropout's (the same mask).
    """

    def __init__(self, like, rows=None, cols=None):
        super().__init__(like.p, name=like.name)
        self.rng = like.rng                    # the same generator object: its state moves on
        self.rows, self.cols = rows, cols

    @staticmethod
    def _part(span, n):
        """(slice, length of the whole) along one axis."""
        if span is None:
            return slice(None), n
        lo, hi, whole = span
        if hi - lo != n:
            raise ValueError(f"SlicedDropout: the input has {n} entries along an axis that "
                             f"should hold [{lo}, {hi}) of {whole}")
        return slice(lo, hi), whole

    def forward(self, x, train=True):
        if not train or self.p == 0:
            self.mask = None
            return x
        (rows, n_rows), (cols, n_cols) = (self._part(self.rows, x.shape[0]),
                                          self._part(self.cols, x.shape[1]))
        whole = self.rng.random((n_rows, n_cols), dtype=np.float32)
        keep = whole[rows, cols] >= self.p
        xp = backend.get_array_module(x)
        self.mask = xp.asarray(keep.astype(x.dtype) / x.dtype.type(1 - self.p))
        return x * self.mask
