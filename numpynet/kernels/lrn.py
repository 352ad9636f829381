"""Local response normalisation across channels (Krizhevsky et al. 2012, section 3.3).

Forward, for channel i of C, with the window clipped at the first and last channels:

    d_i = k + alpha * sum_{j = max(0, i - size//2)}^{min(C-1, i + size//2)} a_j^2
    b_i = a_i * d_i^(-beta)

Backward (derived in the LocalResponseNorm docstring), g = dL/db:

    dL/da_j = g_j * d_j^(-beta)  -  2 * alpha * beta * a_j * sum_{i in window(j)} g_i * b_i / d_i

The window relation is symmetric (j is in window(i) exactly when i is in window(j)), which is
why the backward sum runs over the same clipped window as the forward one.

- `*_reference`: the window sum as `size` shifted slices of a zero-padded channel axis.
- `*_numba`: one task per (image, channel) plane, computing the window sum, the power and the
  product in a single pass over memory; beta = 0.75 (the paper's value) avoids `pow` through
  d^-0.75 = 1 / (sqrt(d) * sqrt(sqrt(d))).
"""

import math

import numba
import numpy as np

from .. import backend
from ..backend import gpu_kernels


def _window_sum(t, size):
    """sum_{j in window(i)} t_j along axis 1, the window clipped at the channel edges."""
    xp = backend.get_array_module(t)
    C, half = t.shape[1], size // 2
    tpad = xp.pad(t, ((0, 0), (half, half), (0, 0), (0, 0)))   # zeros = the clipping
    total = xp.zeros_like(t)
    for offset in range(size):
        total += tpad[:, offset:offset + C]
    return total


# --------------------------------------------------------------------------- reference

def lrn_forward_reference(a, size, alpha, beta, k):
    """a (N, C, H, W) -> (b, d): the output and the denominator base d (kept for backward)."""
    d = k + alpha * _window_sum(a * a, size)
    return a * d ** (-beta), d


def lrn_backward_reference(dout, a, b, d, size, alpha, beta):
    """dL/db -> dL/da, given the forward input a, output b and denominator base d."""
    return dout * d ** (-beta) - (2 * alpha * beta) * a * _window_sum(dout * b / d, size)


# --------------------------------------------------------------------------- Numba

@numba.njit(inline="always")
def _pow_neg(d, beta):
    if beta == 0.75:
        r = math.sqrt(d)
        return 1.0 / (r * math.sqrt(r))
    return d ** (-beta)


@numba.njit(parallel=True, cache=True)
def _lrn_forward_kernel(a, size, alpha, beta, k, b, d):
    N, C, H, W = a.shape
    half = size // 2
    for nc in numba.prange(N * C):
        n = nc // C
        c = nc % C
        lo = max(0, c - half)
        hi = min(C - 1, c + half)
        for h in range(H):
            for w in range(W):
                s = 0.0
                for j in range(lo, hi + 1):
                    v = a[n, j, h, w]
                    s += v * v
                dd = k + alpha * s
                d[n, c, h, w] = dd
                b[n, c, h, w] = a[n, c, h, w] * _pow_neg(dd, beta)


@numba.njit(parallel=True, cache=True)
def _lrn_backward_kernel(dout, a, b, d, size, alpha, beta, da):
    N, C, H, W = a.shape
    half = size // 2
    for nc in numba.prange(N * C):
        n = nc // C
        c = nc % C
        lo = max(0, c - half)
        hi = min(C - 1, c + half)
        for h in range(H):
            for w in range(W):
                s = 0.0
                for i in range(lo, hi + 1):
                    s += dout[n, i, h, w] * b[n, i, h, w] / d[n, i, h, w]
                da[n, c, h, w] = (dout[n, c, h, w] * _pow_neg(d[n, c, h, w], beta)
                                  - 2.0 * alpha * beta * a[n, c, h, w] * s)


def lrn_forward_numba(a, size, alpha, beta, k):
    a = np.ascontiguousarray(a)
    b, d = np.empty_like(a), np.empty_like(a)
    _lrn_forward_kernel(a, size, alpha, beta, k, b, d)
    return b, d


def lrn_backward_numba(dout, a, b, d, size, alpha, beta):
    da = np.empty_like(a)
    _lrn_backward_kernel(np.ascontiguousarray(dout), a, b, d, size, alpha, beta, da)
    return da


# --------------------------------------------------------------------------- dispatch

def lrn_forward(a, size, alpha, beta, k):
    path = backend.kernel_path(a)
    if path == "numba":
        return lrn_forward_numba(a, size, alpha, beta, k)
    if path == "gpu":
        return gpu_kernels().lrn_forward(a, size, alpha, beta, k)
    return lrn_forward_reference(a, size, alpha, beta, k)


def lrn_backward(dout, a, b, d, size, alpha, beta):
    path = backend.kernel_path(dout)
    if path == "numba":
        return lrn_backward_numba(dout, a, b, d, size, alpha, beta)
    if path == "gpu":
        return gpu_kernels().lrn_backward(dout, a, b, d, size, alpha, beta)
    return lrn_backward_reference(dout, a, b, d, size, alpha, beta)
