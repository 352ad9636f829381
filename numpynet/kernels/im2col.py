"""im2col / col2im: turning a convolution into one matrix product.

A convolution slides a (C, kh, kw) filter over the image. im2col copies every receptive field
into a column, so that all the sliding dot products become a single matrix product:

    x     (N, C, H, W)                         the (zero-padded) input
    cols  (C*kh*kw, N*Ho*Wo)                   row (c, i, j), column (n, oh, ow):
          cols[(c, i, j), (n, oh, ow)] = x[n, c, oh*stride + i - pad, ow*stride + j - pad]
                                             (0 where that falls in the padding)
    W     (F, C*kh*kw)                         filters flattened in the same (c, i, j) order
    W @ cols   (F, N*Ho*Wo)                    = the convolution, one output pixel per column

with Ho = (H + 2*pad - kh) // stride + 1 (and Wo likewise; numpynet/shapes.py). Rows are ordered
(c, i, j) with c outermost, so the rows of a channel group are one contiguous block: that is what
makes the paper's grouped convolution a slice of `cols`.

col2im is the adjoint (the transpose) of im2col: it adds every column entry back onto the pixel
it was copied from. Pixels covered by several windows (kernel larger than stride) receive the sum,
which is exactly the backward pass dL/dx = col2im(dL/dcols).

The wide layout (stride 1 only). A row (c, i, j) of `cols` is image plane c shifted by (i, j),
but it is copied one output row at a time: Wo values, then a jump. Give each output row the
width of the padded input, Wp = W + 2*pad, instead:

    cols_wide[(c, i, j), (n, q)] = xpad[n, c].ravel()[q + i*Wp + j],     q = oh*Wp + ow

and row (c, i, j) of image n is ONE contiguous run of the padded plane, from offset i*Wp + j:
im2col is a memcpy, col2im one vectorised add, per row and image. Columns with ow < Wo are the
ordinary ones; the kw - 1 others per output row are "wrap-around" windows that straddle two
rows of the image. The products compute them too (Wp/Wo - 1 more multiply-adds: 15% for 13 x 13
maps and 3 x 3 filters), and Conv2D drops them from the output and gives them a zero gradient
(kernels/product_layout.py), so that they add nothing to dW or dx. The trade: faster copies for
more multiply-adds. It paid while the standard im2col was a strided gather; now that it copies
each window row as one contiguous run (from the phase planes below), the standard layout is the
faster one in AlexNet's training step, and Conv2D uses the wide one only when asked
(`Conv2D.wide_columns`; figures in docs/PERFORMANCE.md).

Three implementations of each function, declared once below with `dispatch.kernel`:
- `numpynet.kernels.naive`: the definition as plain loops, for reading and for tests.
- `*_reference`: a loop over the kh*kw filter offsets, each one a strided slice of the whole
  batch. Short, plain array code (it runs on CuPy unchanged).
- `*_numba`: the same arithmetic as explicit loops compiled by Numba, in parallel over rows
  (im2col) or over (image, channel) planes (col2im, so no two threads add into the same pixel).
  im2col first pads the input and splits every image row into its `stride` phases
  (`_phase_planes_kernel`: for stride 4, the columns 0, 4, 8, ..., then 1, 5, 9, ...): a window
  row, which picks every stride-th column, is then one contiguous run, and im2col is nothing
  but copies of such runs. col2im works out once per filter offset the range of outputs whose
  input falls inside the image (`_inside`), so its inner loops add with no bounds test, over
  views (a loop index into a view is known to be >= 0: Numba's negative-index check drops out
  and the loop vectorises).
(and the GPU kernels of numpynet/gpu/kernels.py, for CuPy arrays).

All take `out=`, an array to write the result into (Conv2D reuses one buffer for every chunk of
images), and the im2col's `scratch=`, memory for the padded input; both are requests, not
promises (the GPU kernels return new arrays): use the returned array.
"""

import numba
import numpy as np

from .. import backend
from ..shapes import (conv_output_hw, padded_planes_shape, phase_planes_shape, size_of,
                      wide_length, wide_width)
from . import dispatch


def _output(out, shape, dtype, xp):
    """`out` checked against the shape and dtype the result needs, or a new array."""
    if out is None:
        return xp.empty(shape, dtype=dtype)
    if tuple(out.shape) != tuple(shape) or out.dtype != dtype:
        raise ValueError(f"out has shape {out.shape} and dtype {out.dtype}, "
                         f"expected {tuple(shape)} and {np.dtype(dtype)}")
    return out


# --------------------------------------------------------------------------- reference

def im2col_reference(x, kh, kw, stride=1, pad=0, out=None, scratch=None):
    """(N, C, H, W) -> cols (C*kh*kw, N*Ho*Wo), by one strided slice per filter offset.
    (`scratch` is not needed here.)"""
    xp = backend.get_array_module(x)
    N, C, H, W = x.shape
    Ho, Wo = conv_output_hw(H, W, kh, kw, stride, pad)
    xpad = xp.pad(x, ((0, 0), (0, 0), (pad, pad), (pad, pad)))
    cols = _output(out, (C * kh * kw, N * Ho * Wo), x.dtype, xp)
    cols6 = cols.reshape(C, kh, kw, N, Ho, Wo)
    for i in range(kh):
        for j in range(kw):
            # every output pixel's (i, j)-th input: rows i, i+stride, ..., cols j, j+stride, ...
            patch = xpad[:, :, i:i + stride * Ho:stride, j:j + stride * Wo:stride]  # (N, C, Ho, Wo)
            cols6[:, i, j] = patch.transpose(1, 0, 2, 3)
    return cols


def col2im_reference(cols, x_shape, kh, kw, stride=1, pad=0, out=None):
    """cols (C*kh*kw, N*Ho*Wo) -> (N, C, H, W), summing overlapping contributions."""
    xp = backend.get_array_module(cols)
    N, C, H, W = x_shape
    Ho, Wo = conv_output_hw(H, W, kh, kw, stride, pad)
    cols = cols.reshape(C, kh, kw, N, Ho, Wo)
    xpad = xp.zeros((N, C, H + 2 * pad, W + 2 * pad), dtype=cols.dtype)
    for i in range(kh):
        for j in range(kw):
            # += not =: with overlapping windows a pixel is reached from several (i, j)
            xpad[:, :, i:i + stride * Ho:stride, j:j + stride * Wo:stride] += \
                cols[:, i, j].transpose(1, 0, 2, 3)
    x = _output(out, tuple(x_shape), cols.dtype, xp)
    x[...] = xpad[:, :, pad:pad + H, pad:pad + W]
    return x


# --------------------------------------------------------------------------- wide columns

def im2col_wide_reference(x, kh, kw, pad=0, out=None, scratch=None):
    """(N, C, H, W) -> cols (C*kh*kw, N*Ho*Wp) for a stride-1 convolution, in the wide layout:

        cols[(c, i, j), (n, q)] = xpad[n, c].ravel()[q + i*Wp + j]     (0 past the plane's end)

    Column q = oh*Wp + ow is output pixel (oh, ow) for ow < Wo: the same as `im2col`. For
    ow >= Wo it is a wrap-around column (its window runs off the right edge into the next
    row); the convolution does not need those, they are computed and dropped."""
    xp = backend.get_array_module(x)
    N, C, H, W = x.shape
    Hp, Wp = H + 2 * pad, wide_width(W, kw, pad)
    L = wide_length(H, W, kh, kw, pad)                         # Ho * Wp columns per image
    planes = xp.pad(x, ((0, 0), (0, 0), (pad, pad), (pad, pad))).reshape(N, C, Hp * Wp)
    planes = xp.pad(planes, ((0, 0), (0, 0), (0, kw - 1)))    # the last window's overrun
    cols = _output(out, (C * kh * kw, N * L), x.dtype, xp)
    cols5 = cols.reshape(C, kh, kw, N, L)
    for i in range(kh):
        for j in range(kw):
            # row (c, i, j): each padded plane, read from offset i*Wp + j on
            cols5[:, i, j] = planes[:, :, i * Wp + j:i * Wp + j + L].transpose(1, 0, 2)
    return cols


def col2im_wide_reference(cols, x_shape, kh, kw, pad=0, out=None, scratch=None):
    """The adjoint of `im2col_wide`: (C*kh*kw, N*Ho*Wp) -> (N, C, H, W). With zeros in the
    wrap-around columns, equal to `col2im` of the other columns."""
    xp = backend.get_array_module(cols)
    N, C, H, W = x_shape
    Hp, Wp = H + 2 * pad, wide_width(W, kw, pad)
    L = wide_length(H, W, kh, kw, pad)
    cols5 = cols.reshape(C, kh, kw, N, L)
    planes = xp.zeros((N, C, Hp * Wp + kw - 1), dtype=cols.dtype)
    for i in range(kh):
        for j in range(kw):
            planes[:, :, i * Wp + j:i * Wp + j + L] += cols5[:, i, j].transpose(1, 0, 2)
    x = _output(out, tuple(x_shape), cols.dtype, xp)
    x[...] = planes[:, :, :Hp * Wp].reshape(N, C, Hp, Wp)[:, :, pad:pad + H, pad:pad + W]
    return x


# --------------------------------------------------------------------------- Numba

@numba.njit(inline="always")
def _inside(offset, stride, pad, size, count):
    """The outputs o in [first, last) whose input o*stride + offset - pad lies in [0, size)."""
    first = max(0, (pad - offset + stride - 1) // stride)
    last = min(count, (size - 1 + pad - offset) // stride + 1)
    return first, max(first, last)


@numba.njit(parallel=True, cache=True)
def _phase_planes_kernel(x, stride, pad, phases):
    """phases[n, c, h, r, q] = xpad[n, c, h, q*stride + r]: the padded input with each row
    split into its `stride` phases (0 in the padding). Window row (i, j) of output row oh is
    then phases[n, c, oh*stride + i, j % stride, j // stride:][:Wo], one contiguous run."""
    N, C, H, W = x.shape
    Hp, s, Q = phases.shape[2], phases.shape[3], phases.shape[4]
    for nc in numba.prange(N * C):                 # one (image, channel) plane per task
        n, c = nc // C, nc % C
        for h in range(Hp):
            for r in range(s):
                dst = phases[n, c, h, r]
                if h < pad or h >= H + pad:        # a padding row
                    dst[:] = 0
                    continue
                src = x[n, c, h - pad]
                for q in range(Q):
                    w = q * s + r - pad
                    if 0 <= w < W:
                        dst[q] = src[w]
                    else:
                        dst[q] = 0                 # left or right padding


@numba.njit(parallel=True, cache=True)
def _im2col_kernel(phases, kh, kw, stride, Ho, Wo, cols):
    N, C = phases.shape[0], phases.shape[1]
    P = Ho * Wo
    for row in numba.prange(C * kh * kw):          # one row (c, i, j) per task
        c = row // (kh * kw)
        i = (row // kw) % kh
        j = row % kw
        r, q0 = j % stride, j // stride            # the phase of column j, and where it starts
        out = cols[row]
        for n in range(N):
            for oh in range(Ho):
                dst = n * P + oh * Wo              # cols[row, (n, oh, 0)]
                out[dst:dst + Wo] = phases[n, c, oh * stride + i, r, q0:q0 + Wo]


@numba.njit(parallel=True, cache=True)
def _col2im_kernel(cols, kh, kw, stride, pad, Ho, Wo, x):
    N, C, H, W = x.shape
    P = Ho * Wo
    for nc in numba.prange(N * C):                 # one (image, channel) plane per task
        n = nc // C
        c = nc % C
        plane = x[n, c].reshape(-1)
        plane[:] = 0
        for i in range(kh):
            oh0, oh1 = _inside(i, stride, pad, H, Ho)
            for j in range(kw):
                ow0, ow1 = _inside(j, stride, pad, W, Wo)
                src = cols[(c * kh + i) * kw + j]
                for oh in range(oh0, oh1):
                    h0 = (oh * stride + i - pad) * W + j - pad     # x[n, c, h, 0]
                    col = n * P + oh * Wo                          # cols[row, (n, oh, 0)]
                    _add(plane[h0 + ow0 * stride:h0 + ow1 * stride:stride],
                         src[col + ow0:col + ow1])


@numba.njit(inline="always")
def _add(dst, src):
    """dst += src, over views: the loop index is known to be >= 0, so the loop vectorises."""
    for q in range(src.shape[0]):
        dst[q] += src[q]


def im2col_numba(x, kh, kw, stride=1, pad=0, out=None, scratch=None):
    """Same result as `im2col_reference`, compiled; `x` is (N, C, H, W). `scratch`: optional
    array (any shape) of at least size_of(phase_planes_shape(x.shape, stride, pad)) elements
    (N*C*Hp*stride*ceil(Wp/stride)) for the phase planes, to spare an allocation."""
    N, C, H, W = x.shape
    Ho, Wo = conv_output_hw(H, W, kh, kw, stride, pad)
    cols = _output(out, (C * kh * kw, N * Ho * Wo), x.dtype, np)
    phases = _scratch_array(phase_planes_shape(x.shape, stride, pad), x.dtype, scratch)
    _phase_planes_kernel(np.ascontiguousarray(x), stride, pad, phases)
    _im2col_kernel(phases, kh, kw, stride, Ho, Wo, cols)
    return cols


def col2im_numba(cols, x_shape, kh, kw, stride=1, pad=0, out=None):
    """Same result as `col2im_reference`, compiled."""
    N, C, H, W = x_shape
    Ho, Wo = conv_output_hw(H, W, kh, kw, stride, pad)
    x = _output(out, tuple(x_shape), cols.dtype, np)
    _col2im_kernel(np.ascontiguousarray(cols), kh, kw, stride, pad, Ho, Wo, x)
    return x


@numba.njit(parallel=True, cache=True)
def _pad_planes_kernel(x, pad, planes):
    """planes[n, c] = x[n, c] zero-padded by `pad`, flattened (N, C, Hp*Wp)."""
    N, C, H, W = x.shape
    Wp = W + 2 * pad
    for nc in numba.prange(N * C):
        n, c = nc // C, nc % C
        plane = planes[n, c]
        plane[:pad * Wp + pad] = 0
        for h in range(H):
            start = (h + pad) * Wp + pad
            plane[start:start + W] = x[n, c, h]
            plane[start + W:start + W + 2 * pad] = 0   # right edge, then the next left edge
        plane[(H + pad) * Wp + pad:] = 0


@numba.njit(parallel=True, cache=True)
def _im2col_wide_kernel(planes, kh, kw, Wp, L, cols):
    N, C, S = planes.shape
    for row in numba.prange(C * kh * kw):          # one row (c, i, j) per task
        c = row // (kh * kw)
        offset = (row // kw) % kh * Wp + row % kw  # i*Wp + j
        m = min(L, S - offset)                     # the rest runs past the plane: zeros
        out = cols[row]
        for n in range(N):
            out[n * L:n * L + m] = planes[n, c, offset:offset + m]
            out[n * L + m:(n + 1) * L] = 0


@numba.njit(parallel=True, cache=True)
def _col2im_wide_kernel(cols, kh, kw, pad, L, x, planes):
    N, C, H, W = x.shape
    S = planes.shape[2]
    Wp = W + 2 * pad
    for nc in numba.prange(N * C):                 # one (image, channel) plane per task
        n, c = nc // C, nc % C
        plane = planes[n, c]
        plane[:] = 0
        for i in range(kh):
            for j in range(kw):
                offset = i * Wp + j
                m = min(L, S - offset)
                _add(plane[offset:offset + m], cols[(c * kh + i) * kw + j, n * L:n * L + m])
        for h in range(H):
            x[n, c, h] = plane[(h + pad) * Wp + pad:(h + pad) * Wp + pad + W]


def _scratch_array(shape, dtype, scratch):
    """An array of `shape` in the memory of `scratch` if it is big enough, else a new one."""
    size = size_of(shape)
    if scratch is None or scratch.size < size or scratch.dtype != dtype:
        return np.empty(shape, dtype=dtype)
    return scratch.reshape(-1)[:size].reshape(shape)


def im2col_wide_numba(x, kh, kw, pad=0, out=None, scratch=None):
    """Same result as `im2col_wide_reference`. `scratch`: optional array (any shape) of at least
    size_of(padded_planes_shape(x.shape, pad)) = N*C*Hp*Wp elements for the padded input."""
    N, C, H, W = x.shape
    L = wide_length(H, W, kh, kw, pad)
    cols = _output(out, (C * kh * kw, N * L), x.dtype, np)
    planes = _scratch_array(padded_planes_shape(x.shape, pad), x.dtype, scratch)
    _pad_planes_kernel(np.ascontiguousarray(x), pad, planes)
    _im2col_wide_kernel(planes, kh, kw, wide_width(W, kw, pad), L, cols)
    return cols


def col2im_wide_numba(cols, x_shape, kh, kw, pad=0, out=None, scratch=None):
    """Same result as `col2im_wide_reference`; `scratch` as for `im2col_wide_numba`."""
    N, C, H, W = x_shape
    x = _output(out, tuple(x_shape), cols.dtype, np)
    planes = _scratch_array(padded_planes_shape(x_shape, pad), cols.dtype, scratch)
    _col2im_wide_kernel(np.ascontiguousarray(cols), kh, kw, pad, wide_length(H, W, kh, kw, pad),
                        x, planes)
    return x


# --------------------------------------------------------------------------- the kernels

im2col = dispatch.kernel("im2col", im2col_reference, im2col_numba)
col2im = dispatch.kernel("col2im", col2im_reference, col2im_numba)
im2col_wide = dispatch.kernel("im2col_wide", im2col_wide_reference, im2col_wide_numba)
col2im_wide = dispatch.kernel("col2im_wide", col2im_wide_reference, col2im_wide_numba)


def wide_is_fast_for(x):
    """Whether both wide kernels run compiled for arrays like x. Not on a GPU, whose module has
    no wide kernels (its standard ones need no copies to be fast): Conv2D then uses the
    standard layout."""
    return im2col_wide.is_fast_for(x) and col2im_wide.is_fast_for(x)
