"""Inverted dropout."""

import numpy as np

from .. import backend
from .base import Layer


class Dropout(Layer):
    """Training: y = x * m / (1 - p), m_i ~ Bernoulli(1 - p) drawn afresh each forward.
    Evaluation: y = x.

    Backward: dL/dx = dL/dy * m / (1 - p) (the same mask).

    The paper instead keeps y = x * m while training and multiplies by 0.5 = (1 - p) at test time.
    The two differ only by the constant factor 1 / (1 - p) applied during training, which the
    next layer's weights absorb, so the trained networks are equivalent; scaling at training time
    ("inverted" dropout) leaves the test-time network untouched.

    The mask comes from `self.rng` (a NumPy Generator, seeded by `seed`), so runs repeat exactly;
    its state is saved in checkpoints.
    """

    def __init__(self, p=0.5, seed=None, name=None):
        super().__init__(name)
        if not 0 <= p < 1:
            raise self._error(f"p must be in [0, 1), got {p}")
        self.p = p
        self.rng = np.random.default_rng(seed)

    def describe(self):
        return f"p={self.p}"

    def forward(self, x, train=True):
        if not train or self.p == 0:
            self.mask = None
            return x
        xp = backend.get_array_module(x)
        keep = self.rng.random(x.shape, dtype=np.float32) >= self.p
        self.mask = xp.asarray(keep.astype(x.dtype) / x.dtype.type(1 - self.p))
        return x * self.mask

    def backward(self, dout):
        return dout if self.mask is None else dout * self.mask
