"""Batch normalisation over the channels of an image batch (Ioffe & Szegedy, 2015)."""

import numpy as np

from .. import backend
from ..kernels.dispatch import kernel
from .base import Layer

AXES = (0, 2, 3)                   # the axes a channel's statistics run over: N, H, W


def _per_channel(v):
    """(C,) -> (1, C, 1, 1), to broadcast against (N, C, H, W)."""
    return v.reshape(1, -1, 1, 1)


@kernel
def batchnorm_normalise(x, mean, var, gamma, beta, eps):
    """y = gamma * (x - mean) / sqrt(var + eps) + beta, per channel, with the given statistics."""
    xp = backend.get_array_module(x)
    inv_std = 1.0 / xp.sqrt(var + eps)
    xhat = (x - _per_channel(mean)) * _per_channel(inv_std)
    return _per_channel(gamma) * xhat + _per_channel(beta)


@kernel
def batchnorm_forward(x, gamma, beta, eps):
    """x (N, C, H, W) -> (y, mean, var): the batch's statistics (C,) and y normalised by them."""
    mean, var = x.mean(axis=AXES), x.var(axis=AXES)
    return batchnorm_normalise(x, mean, var, gamma, beta, eps), mean, var


@kernel
def batchnorm_backward(dout, x, mean, var, gamma, eps, batch_stats):
    """dL/dy -> (dL/dx, dL/dgamma, dL/dbeta); `batch_stats`: mean and var were x's own."""
    xp = backend.get_array_module(dout)
    inv_std = 1.0 / xp.sqrt(var + eps)
    xhat = (x - _per_channel(mean)) * _per_channel(inv_std)       # recomputed from x
    sum_g, sum_gx = dout.sum(axis=AXES), (dout * xhat).sum(axis=AXES)
    scale = _per_channel(gamma * inv_std)
    if not batch_stats:                             # the statistics are constants
        return dout * scale, sum_gx, sum_g
    M = dout.shape[0] * dout.shape[2] * dout.shape[3]
    dx = scale / M * (M * dout - _per_channel(sum_g) - xhat * _per_channel(sum_gx))
    return dx, sum_gx, sum_g


class BatchNorm2D(Layer):
    """Per channel c, over the M = N*H*W values of the batch:

        mu = mean(x),  var = mean((x - mu)^2),  xhat = (x - mu) / sqrt(var + eps)
        y  = gamma * xhat + beta

    Training uses the batch statistics and updates running averages
    (running = (1 - momentum) * running + momentum * batch, with the unbiased variance, as in
    PyTorch); evaluation uses the running averages. `use_global_stats=True` (Caffe's name) uses
    the running averages while training too, and leaves them alone: the frozen layer, a fixed
    affine map per channel, as when fine-tuning.

    Backward, with g = dL/dy and sums over the M values of a channel:

        dL/dbeta = sum g,    dL/dgamma = sum g * xhat
        dL/dx = gamma / (M sqrt(var + eps)) * (M g - sum g - xhat * sum(g * xhat))
                (batch statistics: mu and var depend on x)
        dL/dx = gamma / sqrt(var + eps) * g        (global statistics: constants)

    The layer keeps its input x and the statistics for backward, which recomputes xhat from
    them (a multiply-add per element, instead of keeping another activation-sized array).

    Not in the 2012 paper: it is used by the `batchnorm` AlexNet preset, which puts BatchNorm
    after each convolution instead of LRN, as a common Keras rewrite of AlexNet does.
    """

    cache = None                   # (x, mean, var, batch stats?), kept for backward

    def __init__(self, channels, momentum=0.1, eps=1e-5, name=None, use_global_stats=False):
        super().__init__(name)
        self.channels, self.momentum, self.eps = channels, momentum, eps
        self.use_global_stats = use_global_stats
        self.params["gamma"] = np.ones(channels, dtype=np.float32)
        self.params["beta"] = np.zeros(channels, dtype=np.float32)
        self.buffers["running_mean"] = np.zeros(channels, dtype=np.float32)
        self.buffers["running_var"] = np.ones(channels, dtype=np.float32)

    def describe(self):
        return f"{self.channels}"

    def forward(self, x, train=True):
        self._check_rank(x, 4, "(N, C, H, W)")
        if x.shape[1] != self.channels:
            raise self._error(f"expected {self.channels} channels, got input of shape {x.shape}")
        gamma, beta = self.params["gamma"], self.params["beta"]
        batch_stats = train and not self.use_global_stats
        if batch_stats:
            y, mean, var = batchnorm_forward(x, gamma, beta, self.eps)
            self._update_running_averages(mean, var, x.shape[0] * x.shape[2] * x.shape[3])
        else:
            mean, var = self.buffers["running_mean"], self.buffers["running_var"]
            y = batchnorm_normalise(x, mean, var, gamma, beta, self.eps)
        self.cache = (x, mean, var, batch_stats) if train else None
        return y

    def _update_running_averages(self, mean, var, M):
        """running = (1 - momentum) * running + momentum * batch (the unbiased variance)."""
        m = self.momentum
        for name, batch in (("running_mean", mean), ("running_var", var * M / max(M - 1, 1))):
            running = self.buffers[name]
            running *= 1 - m
            running += m * batch.astype(running.dtype)

    def backward(self, dout):
        if self.cache is None:
            raise self._error("backward needs a forward(x, train=True) first")
        x, mean, var, batch_stats = self.cache
        self.cache = None
        dx, self.grads["gamma"], self.grads["beta"] = batchnorm_backward(
            dout, x, mean, var, self.params["gamma"], self.eps, batch_stats)
        return dx
