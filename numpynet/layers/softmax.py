"""Softmax cross-entropy: the loss on top of fc8."""

import numpy as np

from .. import backend


class SoftmaxCrossEntropy:
    """p = softmax(z) row-wise,   L = -(1/N) sum_n log p[n, y_n]

    Computed stably with log-sum-exp: log p = (z - max z) - log sum exp(z - max z), so logits of
    +-1e4 neither overflow nor give log(0).

    Backward: dL/dz = (p - onehot(y)) / N.

    `forward(logits, labels)` returns the mean loss as a Python float; `probs` holds p afterwards.
    """

    def forward(self, logits, labels):
        xp = backend.get_array_module(logits)
        labels = self._check(logits, labels)
        shifted = logits - logits.max(axis=1, keepdims=True)
        log_probs = shifted - xp.log(xp.exp(shifted).sum(axis=1, keepdims=True))
        N = logits.shape[0]
        loss = float(-log_probs[xp.arange(N), labels].mean())
        if not np.isfinite(loss):
            raise ValueError(f"SoftmaxCrossEntropy: the loss is {loss} (logits of shape "
                             f"{logits.shape} contain NaN or infinity): training has diverged; "
                             f"lower the learning rate or check the input data")
        self.probs = xp.exp(log_probs)
        self.labels = labels
        return loss

    def backward(self):
        xp = backend.get_array_module(self.probs)
        N = self.probs.shape[0]
        dlogits = self.probs.copy()
        dlogits[xp.arange(N), self.labels] -= 1
        return dlogits / N

    @staticmethod
    def _check(logits, labels):
        xp = backend.get_array_module(logits)
        if getattr(logits, "ndim", None) != 2:
            raise ValueError(f"SoftmaxCrossEntropy: expected logits of shape (N, classes), got "
                             f"{getattr(logits, 'shape', type(logits).__name__)}")
        labels = xp.asarray(labels)
        N, K = logits.shape
        if labels.shape != (N,):
            raise ValueError(f"SoftmaxCrossEntropy: {N} rows of logits {logits.shape} but labels "
                             f"of shape {labels.shape}; expected one integer label per row")
        if labels.dtype.kind not in "iu":
            raise ValueError(f"SoftmaxCrossEntropy: labels must be integers, got {labels.dtype}")
        if N and (int(labels.min()) < 0 or int(labels.max()) >= K):
            raise ValueError(f"SoftmaxCrossEntropy: labels must lie in [0, {K}) for {K} classes, "
                             f"got values from {int(labels.min())} to {int(labels.max())}")
        return labels
