"""Local response normalisation forward and backward (layers/lrn.py has the math), compiled.

Explicit loops, parallel over (image, channel) planes (forward) or images (backward). The
window sum is accumulated plane by plane into a row buffer, so every inner loop runs over
contiguous memory and vectorises. Everything stays in the data's dtype: the constants are
converted to it first (a Python float would make Numba compute in float64), and beta = 0.75
(the paper's value) avoids `pow` through a * d^-0.75 = a / (sqrt(d) * sqrt(sqrt(d))).
Backward recomputes d from a, like the reference, keeping one image's d^beta and g*b/d.
"""

import math

import numba
import numpy as np

from .memory import POOL

__all__ = ["lrn_backward", "lrn_forward"]


@numba.njit(inline="always")
def _root(d, beta):
    """d^beta, in d's precision (a * d^-beta is computed as a / _root(d, beta))."""
    if beta == 0.75:
        r = math.sqrt(d)
        return r * math.sqrt(r)
    return d ** beta


@numba.njit(inline="always")
def _add_window_squares(a, c, size, s):
    """s[p] = sum of a[j, p]^2 over the clipped window of channel c (a: (C, H*W))."""
    C = a.shape[0]
    s[:] = 0
    for j in range(max(0, c - size // 2), min(C - 1, c + size // 2) + 1):
        for p in range(s.shape[0]):
            s[p] += a[j, p] * a[j, p]


@numba.njit(parallel=True, cache=True)
def _lrn_normalise_kernel(a, size, alpha, beta, k, b):
    N, C, HW = a.shape
    for nc in numba.prange(N * C):                 # as above, without storing d
        n, c = nc // C, nc % C
        s = np.empty(HW, dtype=a.dtype)
        _add_window_squares(a[n], c, size, s)
        for p in range(HW):
            b[n, c, p] = a[n, c, p] / _root(k + alpha * s[p], beta)


@numba.njit(parallel=True, cache=True)
def _lrn_backward_from_input_kernel(dout, a, size, alpha, beta, k, two_alpha_beta, da):
    N, C, HW = a.shape
    half = size // 2
    for n in numba.prange(N):                      # one image per task
        root = np.empty((C, HW), dtype=a.dtype)    # d^beta
        t = np.empty((C, HW), dtype=a.dtype)       # dout * b / d
        s = np.empty(HW, dtype=a.dtype)
        for c in range(C):
            _add_window_squares(a[n], c, size, s)
            for p in range(HW):
                dd = k + alpha * s[p]
                root[c, p] = _root(dd, beta)
                t[c, p] = dout[n, c, p] * (a[n, c, p] / root[c, p]) / dd
        for c in range(C):
            s[:] = 0
            for i in range(max(0, c - half), min(C - 1, c + half) + 1):
                for p in range(HW):
                    s[p] += t[i, p]
            for p in range(HW):
                da[n, c, p] = dout[n, c, p] / root[c, p] - two_alpha_beta * a[n, c, p] * s[p]


def _planes(x):
    """(N, C, H, W) -> a C-contiguous (N, C, H*W) view (or copy)."""
    N, C, H, W = x.shape
    return np.ascontiguousarray(x).reshape(N, C, H * W)


def lrn_forward(a, size, alpha, beta, k, out=None):
    t = a.dtype.type                               # the constants in the data's precision
    b = POOL.empty(a.shape, a.dtype) if out is None else out
    _lrn_normalise_kernel(_planes(a), size, t(alpha), t(beta), t(k), _planes(b))
    return b


def lrn_backward(dout, a, size, alpha, beta, k, out=None):
    t = a.dtype.type
    da = POOL.empty(a.shape, dout.dtype) if out is None else out
    _lrn_backward_from_input_kernel(_planes(dout), _planes(a), size, t(alpha), t(beta), t(k),
                                    t(2 * alpha * beta), _planes(da))
    return da
