"""im2col / col2im: turning a convolution into one matrix product.

A convolution slides a (C, kh, kw) filter over the image. im2col copies every receptive field
into a column, so that all the sliding dot products become a single matrix product:

    x     (N, C, H, W)                         the (zero-padded) input
    cols  (C*kh*kw, N*Ho*Wo)                   row (c, i, j), column (n, oh, ow):
          cols[(c, i, j), (n, oh, ow)] = x[n, c, oh*stride + i - pad, ow*stride + j - pad]
                                             (0 where that falls in the padding)
    W     (F, C*kh*kw)                         filters flattened in the same (c, i, j) order
    W @ cols   (F, N*Ho*Wo)                    = the convolution, one output pixel per column

with Ho = (H + 2*pad - kh) // stride + 1 (and Wo likewise). Rows are ordered (c, i, j) with c
outermost, so the rows of a channel group are one contiguous block: that is what makes the
paper's grouped convolution a slice of `cols`.

col2im is the adjoint (the transpose) of im2col: it adds every column entry back onto the pixel
it was copied from. Pixels covered by several windows (kernel larger than stride) receive the sum,
which is exactly the backward pass dL/dx = col2im(dL/dcols).

Two implementations of each:
- `im2col_reference` / `col2im_reference`: a loop over the kh*kw filter offsets, each one a
  strided slice of the whole batch. Short, plain array code (it runs on CuPy unchanged).
- `im2col_numba` / `col2im_numba`: the same arithmetic as explicit loops compiled by Numba, in
  parallel over rows (im2col) or over (image, channel) planes (col2im, so no two threads add into
  the same pixel), with no padded copy of the input.
`im2col` / `col2im` pick one according to `numpynet.backend`.
"""

import numba
import numpy as np

from .. import backend
from ..backend import gpu_kernels


def conv_output_size(size, kernel, stride, pad):
    """Output length of a convolution or pooling along one axis."""
    return (size + 2 * pad - kernel) // stride + 1


# --------------------------------------------------------------------------- reference

def im2col_reference(x, kh, kw, stride=1, pad=0):
    """(N, C, H, W) -> cols (C*kh*kw, N*Ho*Wo), by one strided slice per filter offset."""
    xp = backend.get_array_module(x)
    N, C, H, W = x.shape
    Ho, Wo = conv_output_size(H, kh, stride, pad), conv_output_size(W, kw, stride, pad)
    xpad = xp.pad(x, ((0, 0), (0, 0), (pad, pad), (pad, pad)))
    cols = xp.empty((C, kh, kw, N, Ho, Wo), dtype=x.dtype)
    for i in range(kh):
        for j in range(kw):
            # every output pixel's (i, j)-th input: rows i, i+stride, ..., cols j, j+stride, ...
            patch = xpad[:, :, i:i + stride * Ho:stride, j:j + stride * Wo:stride]  # (N, C, Ho, Wo)
            cols[:, i, j] = patch.transpose(1, 0, 2, 3)
    return cols.reshape(C * kh * kw, N * Ho * Wo)


def col2im_reference(cols, x_shape, kh, kw, stride=1, pad=0):
    """cols (C*kh*kw, N*Ho*Wo) -> (N, C, H, W), summing overlapping contributions."""
    xp = backend.get_array_module(cols)
    N, C, H, W = x_shape
    Ho, Wo = conv_output_size(H, kh, stride, pad), conv_output_size(W, kw, stride, pad)
    cols = cols.reshape(C, kh, kw, N, Ho, Wo)
    xpad = xp.zeros((N, C, H + 2 * pad, W + 2 * pad), dtype=cols.dtype)
    for i in range(kh):
        for j in range(kw):
            # += not =: with overlapping windows a pixel is reached from several (i, j)
            xpad[:, :, i:i + stride * Ho:stride, j:j + stride * Wo:stride] += \
                cols[:, i, j].transpose(1, 0, 2, 3)
    return xpad[:, :, pad:pad + H, pad:pad + W]


# --------------------------------------------------------------------------- Numba

@numba.njit(parallel=True, cache=True)
def _im2col_kernel(x, kh, kw, stride, pad, Ho, Wo, cols):
    N, C, H, W = x.shape
    P = Ho * Wo
    for row in numba.prange(C * kh * kw):          # one row (c, i, j) per task
        c = row // (kh * kw)
        i = (row // kw) % kh
        j = row % kw
        for n in range(N):
            base = n * P
            for oh in range(Ho):
                h = oh * stride + i - pad
                col = base + oh * Wo
                if h < 0 or h >= H:
                    for ow in range(Wo):
                        cols[row, col + ow] = 0
                    continue
                for ow in range(Wo):
                    w = ow * stride + j - pad
                    cols[row, col + ow] = x[n, c, h, w] if 0 <= w < W else 0


@numba.njit(parallel=True, cache=True)
def _col2im_kernel(cols, kh, kw, stride, pad, Ho, Wo, x):
    N, C, H, W = x.shape
    P = Ho * Wo
    for nc in numba.prange(N * C):                 # one (image, channel) plane per task
        n = nc // C
        c = nc % C
        plane = x[n, c]
        plane[:, :] = 0
        for i in range(kh):
            for j in range(kw):
                row = (c * kh + i) * kw + j
                for oh in range(Ho):
                    h = oh * stride + i - pad
                    if h < 0 or h >= H:
                        continue
                    col = n * P + oh * Wo
                    for ow in range(Wo):
                        w = ow * stride + j - pad
                        if 0 <= w < W:
                            plane[h, w] += cols[row, col + ow]


def im2col_numba(x, kh, kw, stride=1, pad=0):
    """Same result as `im2col_reference`, compiled; `x` is (N, C, H, W)."""
    N, C, H, W = x.shape
    Ho, Wo = conv_output_size(H, kh, stride, pad), conv_output_size(W, kw, stride, pad)
    cols = np.empty((C * kh * kw, N * Ho * Wo), dtype=x.dtype)
    _im2col_kernel(np.ascontiguousarray(x), kh, kw, stride, pad, Ho, Wo, cols)
    return cols


def col2im_numba(cols, x_shape, kh, kw, stride=1, pad=0):
    """Same result as `col2im_reference`, compiled."""
    N, C, H, W = x_shape
    Ho, Wo = conv_output_size(H, kh, stride, pad), conv_output_size(W, kw, stride, pad)
    x = np.empty(x_shape, dtype=cols.dtype)
    _col2im_kernel(np.ascontiguousarray(cols), kh, kw, stride, pad, Ho, Wo, x)
    return x


# --------------------------------------------------------------------------- dispatch

def im2col(x, kh, kw, stride=1, pad=0):
    """(N, C, H, W) -> (C*kh*kw, N*Ho*Wo) with the kernel `numpynet.backend` selects."""
    path = backend.kernel_path(x)
    if path == "numba":
        return im2col_numba(x, kh, kw, stride, pad)
    if path == "gpu":
        return gpu_kernels().im2col(x, kh, kw, stride, pad)
    return im2col_reference(x, kh, kw, stride, pad)


def col2im(cols, x_shape, kh, kw, stride=1, pad=0):
    """(C*kh*kw, N*Ho*Wo) -> (N, C, H, W), the adjoint of `im2col`."""
    path = backend.kernel_path(cols)
    if path == "numba":
        return col2im_numba(cols, x_shape, kh, kw, stride, pad)
    if path == "gpu":
        return gpu_kernels().col2im(cols, x_shape, kh, kw, stride, pad)
    return col2im_reference(cols, x_shape, kh, kw, stride, pad)
