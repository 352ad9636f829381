"""Max-pooling kernels: forward (max and where it was) and backward (route the gradient there).

    y[n, c, oh, ow] = max over the k x k window  x[n, c, oh*s : oh*s+k, ow*s : ow*s+k]
    arg[n, c, oh, ow] = i*k + j of the winning offset (i, j) in that window

The winner on ties is the first in row-major window order (a strict `>` scan), in both
implementations, so results are deterministic and the two are tested for exact equality.

Backward: only the winner influenced y, so dL/dx gets dL/dy at the winner and 0 elsewhere.
With overlapping windows (k > s, as AlexNet's 3x3 stride-2 pooling) one input pixel can win
several windows, so the contributions must be added (`+=`), never assigned.

- `numpynet.kernels.naive`: the definition as plain loops.
- `*_reference`: a loop over the k*k window offsets, each a strided slice of the whole batch.
- `*_numba`: explicit loops, parallel over (image, channel) planes.
- numpynet/gpu/kernels.py: one CUDA thread per output (forward) or input pixel (backward).
All take `out=` ((y, arg) for forward, dx for backward), a request: use the returned arrays.
"""

import numba
import numpy as np

from .. import backend
from ..shapes import conv_output_hw
from . import dispatch


def _window(x, i, j, k, stride, Ho, Wo):
    """The (i, j)-th element of every pooling window: a strided view (N, C, Ho, Wo)."""
    return x[:, :, i:i + stride * Ho:stride, j:j + stride * Wo:stride]


# --------------------------------------------------------------------------- reference

def maxpool_forward_reference(x, k, stride, out=None):
    """(N, C, H, W) -> y (N, C, Ho, Wo), arg (N, C, Ho, Wo) int32 (winning offset i*k + j).

    `out`: optional (y, arg) arrays to write into (also in the other implementations)."""
    xp = backend.get_array_module(x)
    N, C, H, W = x.shape
    Ho, Wo = conv_output_hw(H, W, k, k, stride, 0)
    windows = xp.stack([_window(x, i, j, k, stride, Ho, Wo)
                        for i in range(k) for j in range(k)])        # (k*k, N, C, Ho, Wo)
    arg = windows.argmax(axis=0).astype(np.int32)                    # first max on ties
    y = xp.take_along_axis(windows, arg[None].astype(np.intp), axis=0)[0]
    if out is not None:
        out[0][...], out[1][...] = y, arg
        return out
    return y, arg


def maxpool_backward_reference(dout, arg, x_shape, k, stride, out=None):
    """dout (N, C, Ho, Wo) -> dx (N, C, H, W): each gradient added at its window's winner."""
    xp = backend.get_array_module(dout)
    N, C, Ho, Wo = dout.shape
    dx = xp.zeros(x_shape, dtype=dout.dtype) if out is None else out
    dx[...] = 0
    for i in range(k):
        for j in range(k):
            won = arg == i * k + j
            _window(dx, i, j, k, stride, Ho, Wo)[...] += xp.where(won, dout, 0)
    return dx


# --------------------------------------------------------------------------- Numba

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


def maxpool_forward_numba(x, k, stride, out=None):
    N, C, H, W = x.shape
    Ho, Wo = conv_output_hw(H, W, k, k, stride, 0)
    if out is None:
        out = np.empty((N, C, Ho, Wo), dtype=x.dtype), np.empty((N, C, Ho, Wo), dtype=np.int32)
    _maxpool_forward_kernel(np.ascontiguousarray(x), k, stride, *out)
    return out


def maxpool_backward_numba(dout, arg, x_shape, k, stride, out=None):
    dx = np.empty(x_shape, dtype=dout.dtype) if out is None else out
    _maxpool_backward_kernel(np.ascontiguousarray(dout), np.ascontiguousarray(arg), k, stride, dx)
    return dx


# --------------------------------------------------------------------------- the kernels

maxpool_forward = dispatch.kernel("maxpool_forward", maxpool_forward_reference,
                                  maxpool_forward_numba)
maxpool_backward = dispatch.kernel("maxpool_backward", maxpool_backward_reference,
                                   maxpool_backward_numba)
