"""Batch normalisation over the channels of an image batch (Ioffe & Szegedy, 2015)."""

import numpy as np

from .. import backend
from .base import Layer


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

    Not in the 2012 paper: it is used by the `batchnorm` AlexNet preset, which puts BatchNorm
    after each convolution instead of LRN, as a common Keras rewrite of AlexNet does.
    """

    cache = None                   # (xhat, 1/sqrt(var + eps), batch stats?), kept for backward

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
        xp = backend.get_array_module(x)
        shape = (1, self.channels, 1, 1)
        batch_stats = train and not self.use_global_stats
        if batch_stats:
            M = x.shape[0] * x.shape[2] * x.shape[3]
            mu = x.mean(axis=(0, 2, 3))
            var = x.var(axis=(0, 2, 3))
            m = self.momentum
            for name, batch in (("running_mean", mu), ("running_var", var * M / max(M - 1, 1))):
                running = self.buffers[name]
                running *= 1 - m
                running += m * batch.astype(running.dtype)
        else:
            mu, var = self.buffers["running_mean"], self.buffers["running_var"]
        inv_std = 1.0 / xp.sqrt(var + self.eps)
        xhat = (x - mu.reshape(shape)) * inv_std.reshape(shape)
        self.cache = (xhat, inv_std, batch_stats) if train else None
        return self.params["gamma"].reshape(shape) * xhat + self.params["beta"].reshape(shape)

    def backward(self, dout):
        if self.cache is None:
            raise self._error("backward needs a forward(x, train=True) first")
        xhat, inv_std, batch_stats = self.cache
        self.cache = None
        shape = (1, self.channels, 1, 1)
        gamma = self.params["gamma"]
        sum_g = dout.sum(axis=(0, 2, 3))
        sum_gx = (dout * xhat).sum(axis=(0, 2, 3))
        self.grads["beta"], self.grads["gamma"] = sum_g, sum_gx
        scale = (gamma * inv_std).reshape(shape)
        if not batch_stats:                 # running statistics are constants
            return dout * scale
        M = dout.shape[0] * dout.shape[2] * dout.shape[3]
        return scale / M * (M * dout - sum_g.reshape(shape) - xhat * sum_gx.reshape(shape))
