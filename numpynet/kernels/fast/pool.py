"""Max-pooling forward and backward (layers/pool.py has the math), compiled.

Explicit loops, parallel over (image, channel) planes; the winner on ties is the first in
row-major window order (a strict `>` scan), as in the reference, so the two agree exactly.
(numpynet/gpu/kernels.py: one CUDA thread per output (forward) or input pixel (backward).)
"""

import numba
import numpy as np

from ...shapes import conv_output_hw
from .memory import POOL

__all__ = ["maxpool_backward", "maxpool_forward"]


@numba.njit(parallel=True, cache=True)
def _maxpool_forward_kernel(x, k, stride, y, arg):
    N, C, H, W = x.shape
    Ho, Wo = y.shape[2], y.shape[3]
    for nc in numba.prange(N * C):
        n = nc // C
        c = nc % C
        plane = x[n, c]
        for oh in range(Ho):
            for ow in range(Wo):
                h0 = oh * stride
                w0 = ow * stride
                best = plane[h0, w0]
                best_at = 0
                for i in range(k):
                    for j in range(k):
                        v = plane[h0 + i, w0 + j]
                        if v > best:
                            best = v
                            best_at = i * k + j
                y[n, c, oh, ow] = best
                arg[n, c, oh, ow] = best_at


@numba.njit(parallel=True, cache=True)
def _maxpool_backward_kernel(dout, arg, k, stride, dx):
    N, C, Ho, Wo = dout.shape
    for nc in numba.prange(N * C):
        n = nc // C
        c = nc % C
        plane = dx[n, c]
        plane[:, :] = 0
        for oh in range(Ho):
            for ow in range(Wo):
                a = arg[n, c, oh, ow]
                plane[oh * stride + a // k, ow * stride + a % k] += dout[n, c, oh, ow]


def maxpool_forward(x, k, stride, out=None):
    N, C, H, W = x.shape
    shape = (N, C, *conv_output_hw(H, W, k, k, stride, 0))
    if out is None:
        out = POOL.empty(shape, x.dtype), POOL.empty(shape, np.int32)
    _maxpool_forward_kernel(np.ascontiguousarray(x), k, stride, *out)
    return out


def maxpool_backward(dout, arg, x_shape, k, stride, out=None):
    dx = POOL.empty(x_shape, dout.dtype) if out is None else out
    _maxpool_backward_kernel(np.ascontiguousarray(dout), np.ascontiguousarray(arg), k, stride, dx)
    return dx
