"""Local response normalisation across channels (Krizhevsky et al. 2012, section 3.3).

Forward, for channel i of C, with the window clipped at the first and last channels:

    d_i = k + alpha * sum_{j = max(0, i - size//2)}^{min(C-1, i + size//2)} a_j^2
    b_i = a_i * d_i^(-beta)

Backward (derived in the LocalResponseNorm docstring), g = dL/db:

    dL/da_j = g_j * d_j^(-beta)  -  2 * alpha * beta * a_j * sum_{i in window(j)} g_i * b_i / d_i

The window relation is symmetric (j is in window(i) exactly when i is in window(j)), which is
why the backward sum runs over the same clipped window as the forward one.

Since b_i / d_i = a_i * d_i^(-beta-1), the backward pass needs only a (and the constants):
d can be recomputed from a, which costs a few multiply-adds per element and saves keeping two
arrays the size of the activation (b and d: 300 MB after conv1 at batch 128) from forward to
backward. So the layer calls two functions that keep nothing but a:

    lrn_normalise(a, ...)                    -> b
    lrn_backward_from_input(g, a, ...)       -> dL/da     (recomputes d, then as above)

`lrn_forward` (-> b, d) and `lrn_backward` (given b and d) are the textbook pair, kept as the
definition (numpynet/gpu/kernels.py builds its versions of the two above from them).

- `numpynet.kernels.naive`: the paper's formula as plain loops over every element.
- `*_reference`: the window sum as `size` shifted slices of a zero-padded channel axis.
- `*_numba`: explicit loops compiled by Numba, parallel over (image, channel) planes (forward)
  or images (backward). The window sum is accumulated plane by plane into a row buffer, so
  every inner loop runs over contiguous memory and vectorises. Everything stays in the data's
  dtype: the constants are converted to it first (a Python float would make Numba compute in
  float64), and beta = 0.75 (the paper's value) avoids `pow` through
  a * d^-0.75 = a / (sqrt(d) * sqrt(sqrt(d))).
"""

import math

import numba
import numpy as np

from .. import backend
from . import dispatch


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


def _into(out, result):
    if out is None:
        return result
    out[...] = result
    return out


def lrn_normalise_reference(a, size, alpha, beta, k, out=None):
    """a -> b alone (what the layer's forward pass needs); `out`: optional array for b."""
    return _into(out, lrn_forward_reference(a, size, alpha, beta, k)[0])


def lrn_backward_from_input_reference(dout, a, size, alpha, beta, k, out=None):
    """dL/db -> dL/da from the forward input alone: b and d recomputed."""
    b, d = lrn_forward_reference(a, size, alpha, beta, k)
    return _into(out, lrn_backward_reference(dout, a, b, d, size, alpha, beta))


# --------------------------------------------------------------------------- Numba

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
def _lrn_forward_kernel(a, size, alpha, beta, k, b, d):
    N, C, HW = a.shape
    for nc in numba.prange(N * C):                 # one (image, channel) plane per task
        n, c = nc // C, nc % C
        s = np.empty(HW, dtype=a.dtype)
        _add_window_squares(a[n], c, size, s)
        for p in range(HW):
            d[n, c, p] = k + alpha * s[p]
            b[n, c, p] = a[n, c, p] / _root(d[n, c, p], beta)


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
def _lrn_backward_kernel(dout, a, b, d, size, beta, two_alpha_beta, da):
    N, C, HW = a.shape
    half = size // 2
    for nc in numba.prange(N * C):
        n, c = nc // C, nc % C
        s = np.zeros(HW, dtype=a.dtype)
        for i in range(max(0, c - half), min(C - 1, c + half) + 1):
            for p in range(HW):
                s[p] += dout[n, i, p] * b[n, i, p] / d[n, i, p]
        for p in range(HW):
            da[n, c, p] = (dout[n, c, p] / _root(d[n, c, p], beta)
                           - two_alpha_beta * a[n, c, p] * s[p])


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


def lrn_forward_numba(a, size, alpha, beta, k):
    t = a.dtype.type                               # the constants in the data's precision
    b, d = np.empty_like(a), np.empty_like(a)
    _lrn_forward_kernel(_planes(a), size, t(alpha), t(beta), t(k), _planes(b), _planes(d))
    return b, d


def lrn_backward_numba(dout, a, b, d, size, alpha, beta):
    t = a.dtype.type
    da = np.empty_like(a)
    _lrn_backward_kernel(_planes(dout), _planes(a), _planes(b), _planes(d), size, t(beta),
                         t(2 * alpha * beta), _planes(da))
    return da


def lrn_normalise_numba(a, size, alpha, beta, k, out=None):
    t = a.dtype.type
    b = np.empty_like(a) if out is None else out
    _lrn_normalise_kernel(_planes(a), size, t(alpha), t(beta), t(k), _planes(b))
    return b


def lrn_backward_from_input_numba(dout, a, size, alpha, beta, k, out=None):
    t = a.dtype.type
    da = np.empty_like(a) if out is None else out
    _lrn_backward_from_input_kernel(_planes(dout), _planes(a), size, t(alpha), t(beta), t(k),
                                    t(2 * alpha * beta), _planes(da))
    return da


# --------------------------------------------------------------------------- the kernels

lrn_forward = dispatch.kernel("lrn_forward", lrn_forward_reference, lrn_forward_numba)
lrn_backward = dispatch.kernel("lrn_backward", lrn_backward_reference, lrn_backward_numba)
lrn_normalise = dispatch.kernel("lrn_normalise", lrn_normalise_reference, lrn_normalise_numba)
lrn_backward_from_input = dispatch.kernel("lrn_backward_from_input",
                                          lrn_backward_from_input_reference,
                                          lrn_backward_from_input_numba)
