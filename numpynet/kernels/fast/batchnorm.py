"""Batch normalisation forward and backward (layers/batchnorm.py has the math), compiled.

Parallel over channels, each channel's statistics and its outputs computed by one thread, so
no two threads write the same element and the thread count changes no bit. Two passes over a
channel's memory each: the sums, then the outputs (the channel is still in the cache). The sums
are accumulated in float64 whatever the data's dtype, into a row buffer of H*W partial sums (one
per position, so the adds are independent and vectorise), and the variance comes from sums of
x - x[0, c, 0, 0] (shifted data: no cancellation when the mean is large against the spread).
The outputs are computed in the data's dtype.
"""

import math

import numba
import numpy as np

from .memory import POOL

__all__ = ["batchnorm_backward", "batchnorm_forward", "batchnorm_normalise"]

# --------------------------------------------------------------------------- Numba
# Arrays as (N, C, P) with P = H*W; scalars (eps, M) in the data's dtype. inv_std[c] is stored
# in an array of the data's dtype: 1/sqrt(var + eps) rounded once to it, as NumPy computes it.

@numba.njit(inline="always")
def _normalise_channel(x, c, mean, inv_std, gamma, beta, y):
    """y[:, c] = gamma * (x[:, c] - mean) * inv_std + beta (scalars of channel c)."""
    for n in range(x.shape[0]):
        for p in range(x.shape[2]):
            y[n, c, p] = gamma * ((x[n, c, p] - mean) * inv_std) + beta


@numba.njit(parallel=True, cache=True)
def _batchnorm_forward_kernel(x, gamma, beta, eps, y, mean, var, inv_std):
    N, C, P = x.shape
    for c in numba.prange(C):                       # one channel per task
        shift = np.float64(x[0, c, 0])
        s1, s2 = np.zeros(P), np.zeros(P)           # float64 partial sums, one per position
        for n in range(N):
            for p in range(P):
                d = np.float64(x[n, c, p]) - shift
                s1[p] += d
                s2[p] += d * d
        m = s1.sum() / (N * P)                      # the mean of x - shift
        mean[c] = shift + m
        var[c] = max(s2.sum() / (N * P) - m * m, 0.0)
        inv_std[c] = 1.0 / math.sqrt(var[c] + eps)
        _normalise_channel(x, c, mean[c], inv_std[c], gamma[c], beta[c], y)


@numba.njit(parallel=True, cache=True)
def _batchnorm_normalise_kernel(x, mean, var, gamma, beta, eps, y, inv_std):
    for c in numba.prange(x.shape[1]):
        inv_std[c] = 1.0 / math.sqrt(var[c] + eps)
        _normalise_channel(x, c, mean[c], inv_std[c], gamma[c], beta[c], y)


@numba.njit(parallel=True, cache=True)
def _batchnorm_backward_kernel(dout, x, mean, var, gamma, eps, M, batch_stats, dx, dgamma,
                               dbeta, inv_std):
    N, C, P = x.shape
    for c in numba.prange(C):
        inv_std[c] = 1.0 / math.sqrt(var[c] + eps)
        mu, inv = mean[c], inv_std[c]
        sg, sgx = np.zeros(P), np.zeros(P)          # float64 partial sums of g and g * xhat
        for n in range(N):
            for p in range(P):
                g = np.float64(dout[n, c, p])
                sg[p] += g
                sgx[p] += g * ((x[n, c, p] - mu) * inv)
        dbeta[c], dgamma[c] = sg.sum(), sgx.sum()
        scale = gamma[c] * inv
        if batch_stats:
            a, sum_g, sum_gx = scale / M, dbeta[c], dgamma[c]   # (in the data's dtype)
            for n in range(N):
                for p in range(P):
                    xhat = (x[n, c, p] - mu) * inv
                    dx[n, c, p] = a * (M * dout[n, c, p] - sum_g - xhat * sum_gx)
        else:                                       # the statistics are constants
            for n in range(N):
                for p in range(P):
                    dx[n, c, p] = dout[n, c, p] * scale


def _planes(x):
    """(N, C, H, W) -> a C-contiguous (N, C, H*W) view (or copy)."""
    N, C, H, W = x.shape
    return np.ascontiguousarray(x).reshape(N, C, H * W)


def _vectors(dtype, *vs):
    """Per-channel vectors (C,) as contiguous arrays of `dtype`."""
    return tuple(np.ascontiguousarray(v, dtype=dtype) for v in vs)


def _output(x, out):
    return POOL.empty(x.shape, x.dtype) if out is None else out


def batchnorm_forward(x, gamma, beta, eps, out=None):
    x = x.astype(np.result_type(x, gamma, beta), copy=False)
    t, C = x.dtype.type, x.shape[1]
    y = _output(x, out)
    mean, var, inv_std = (np.empty(C, x.dtype) for _ in range(3))
    _batchnorm_forward_kernel(_planes(x), *_vectors(x.dtype, gamma, beta), t(eps), _planes(y),
                              mean, var, inv_std)
    return y, mean, var


def batchnorm_normalise(x, mean, var, gamma, beta, eps, out=None):
    x = x.astype(np.result_type(x, mean, var, gamma, beta), copy=False)
    y = _output(x, out)
    _batchnorm_normalise_kernel(_planes(x), *_vectors(x.dtype, mean, var, gamma, beta),
                                x.dtype.type(eps), _planes(y), np.empty(x.shape[1], x.dtype))
    return y


def batchnorm_backward(dout, x, mean, var, gamma, eps, batch_stats, out=None):
    dtype = np.result_type(dout, x, mean, var, gamma)
    dout, x = dout.astype(dtype, copy=False), x.astype(dtype, copy=False)
    t, (N, C, H, W) = dout.dtype.type, dout.shape
    dx = _output(dout, out)
    dgamma, dbeta, inv_std = (np.empty(C, dtype) for _ in range(3))
    _batchnorm_backward_kernel(_planes(dout), _planes(x), *_vectors(dtype, mean, var, gamma),
                               t(eps), t(N * H * W), bool(batch_stats), _planes(dx), dgamma,
                               dbeta, inv_std)
    return dx, dgamma, dbeta
