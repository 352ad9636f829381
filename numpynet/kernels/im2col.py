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

The wide layout (stride 1 only). A row (c, i, j) of `cols` is image plane c shifted by (i, j),
but it is copied one output row at a time: Wo values, then a jump. For AlexNet's 13 x 13 maps
that is thousands of copies of 13 floats, and the copying cost a third of a training step. Give
each output row the width of the padded input, Wp = W + 2*pad, instead:

    cols_wide[(c, i, j), (n, q)] = xpad[n, c].ravel()[q + i*Wp + j],     q = oh*Wp + ow

and row (c, i, j) of image n is ONE contiguous run of the padded plane, from offset i*Wp + j:
im2col is a memcpy, col2im one vectorised add, per row and image. Columns with ow < Wo are the
ordinary ones; the kw - 1 others per output row are "wrap-around" windows that straddle two
rows of the image. The products compute them too (Wp/Wo - 1 = 15% more arithmetic for 13 x 13
maps and 3 x 3 filters), and Conv2D drops them from the output and gives them a zero gradient,
so that they add nothing to dW or dx. That trade (15% more multiply-adds for copies 3 to 5 times
faster) pays on a CPU, where the copies are bandwidth-bound and the products are not.

Two implementations of each function:
- `*_reference`: a loop over the kh*kw filter offsets, each one a strided slice of the whole
  batch. Short, plain array code (it runs on CuPy unchanged).
- `*_numba`: the same arithmetic as explicit loops compiled by Numba, in parallel over rows
  (im2col) or over (image, channel) planes (col2im, so no two threads add into the same pixel).
  im2col first pads the input and splits every image row into its `stride` phases
  (`_phase_planes_kernel`: for stride 4, the columns 0, 4, 8, ..., then 1, 5, 9, ...): a window
  row, which picks every stride-th column, is then one contiguous run, and im2col is nothing
  but copies of such runs (a strided gather, for conv1, took 1.7 times as long). col2im works out
  once per filter offset the range of outputs whose input falls inside the image (`_inside`),
  so its inner loops add with no bounds test, over views (a loop index into a view is known to
  be >= 0: Numba's negative-index check drops out and the loop vectorises).
`im2col`, `col2im`, `im2col_wide`, `col2im_wide` pick one according to `numpynet.backend`.

All accept `out=`, an array to write the result into: `Conv2D` runs the batch through in
chunks and reuses one buffer for every chunk (numpynet/layers/conv.py explains why).
"""

import numba
import numpy as np

from .. import backend
from ..backend import gpu_kernels


def conv_output_size(size, kernel, stride, pad):
    """Output length of a convolution or pooling along one axis."""
    return (size + 2 * pad - kernel) // stride + 1


def _output(out, shape, dtype, xp):
    """`out` checked against the shape and dtype the result needs, or a new array."""
    if out is None:
        return xp.empty(shape, dtype=dtype)
    if tuple(out.shape) != tuple(shape) or out.dtype != dtype:
        raise ValueError(f"out has shape {out.shape} and dtype {out.dtype}, "
                         f"expected {tuple(shape)} and {np.dtype(dtype)}")
    return out


# --------------------------------------------------------------------------- reference

def im2col_reference(x, kh, kw, stride=1, pad=0, out=None):
    """(N, C, H, W) -> cols (C*kh*kw, N*Ho*Wo), by one strided slice per filter offset."""
    xp = backend.get_array_module(x)
    N, C, H, W = x.shape
    Ho, Wo = conv_output_size(H, kh, stride, pad), conv_output_size(W, kw, stride, pad)
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
    Ho, Wo = conv_output_size(H, kh, stride, pad), conv_output_size(W, kw, stride, pad)
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

def wide_width(W, kw, pad):
    """Columns per output row in the wide layout: the padded input width Wp = W + 2*pad
    (Wo = Wp - kw + 1 of them are real outputs, the kw - 1 others are wrap-around columns)."""
    return W + 2 * pad


def im2col_wide_reference(x, kh, kw, pad=0, out=None):
    """(N, C, H, W) -> cols (C*kh*kw, N*Ho*Wp) for a stride-1 convolution, in the wide layout:

        cols[(c, i, j), (n, q)] = xpad[n, c].ravel()[q + i*Wp + j]     (0 past the plane's end)

    Column q = oh*Wp + ow is output pixel (oh, ow) for ow < Wo: the same as `im2col`. For
    ow >= Wo it is a wrap-around column (its window runs off the right edge into the next
    row); the convolution does not need those, they are computed and dropped."""
    xp = backend.get_array_module(x)
    N, C, H, W = x.shape
    Hp, Wp = H + 2 * pad, wide_width(W, kw, pad)
    Ho = Hp - kh + 1
    L = Ho * Wp
    planes = xp.pad(x, ((0, 0), (0, 0), (pad, pad), (pad, pad))).reshape(N, C, Hp * Wp)
    planes = xp.pad(planes, ((0, 0), (0, 0), (0, kw - 1)))    # the last window's overrun
    cols = _output(out, (C * kh * kw, N * L), x.dtype, xp)
    cols5 = cols.reshape(C, kh, kw, N, L)
    for i in range(kh):
        for j in range(kw):
            # row (c, i, j): each padded plane, read from offset i*Wp + j on
            cols5[:, i, j] = planes[:, :, i * Wp + j:i * Wp + j + L].transpose(1, 0, 2)
    return cols


def col2im_wide_reference(cols, x_shape, kh, kw, pad=0, out=None):
    """The adjoint of `im2col_wide`: (C*kh*kw, N*Ho*Wp) -> (N, C, H, W). With zeros in the
    wrap-around columns, equal to `col2im` of the other columns."""
    xp = backend.get_array_module(cols)
    N, C, H, W = x_shape
    Hp, Wp = H + 2 * pad, wide_width(W, kw, pad)
    L = (Hp - kh + 1) * Wp
    cols5 = cols.reshape(C, kh, kw, N, L)
    planes = xp.zeros((N, C, Hp * Wp + kw - 1), dtype=cols.dtype)
    for i in range(kh):
        for j in range(kw):
            planes[:, :, i * Wp + j:i * Wp + j + L] += cols5[:, i, j].transpose(1, 0, 2)
    x = _output(out, tuple(x_shape), cols.dtype, xp)
    x[...] = planes[:, :, :Hp * Wp].reshape(N, C, Hp, Wp)[:, :, pad:pad + H, pad:pad + W]
    return x


# --------------------------------------------------------------------------- product <-> images

def columns_to_images_reference(out, bias, y):
    """The product W @ cols, as (F, N, Ho, Wq), -> y (N, F, Ho, Wo) + bias: transpose the first
    two axes, drop the wrap-around columns ow >= Wo (if any), add bias[f]. Writes y."""
    xp = backend.get_array_module(out)
    Wo = y.shape[3]
    xp.add(out[..., :Wo].transpose(1, 0, 2, 3), bias.reshape(1, -1, 1, 1), out=y)
    return y


def images_to_columns_reference(dout, D):
    """dL/dy (N, F, Ho, Wo) -> D (F, N, Ho, Wq), laid out like the product, with zeros in the
    wrap-around columns (so that they contribute nothing to dW and dx). Writes D."""
    Wo = dout.shape[3]
    D[..., :Wo] = dout.transpose(1, 0, 2, 3)
    D[..., Wo:] = 0
    return D


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
    array (any shape) of at least N*C*Hp*stride*ceil(Wp/stride) elements for the phase planes."""
    N, C, H, W = x.shape
    Ho, Wo = conv_output_size(H, kh, stride, pad), conv_output_size(W, kw, stride, pad)
    cols = _output(out, (C * kh * kw, N * Ho * Wo), x.dtype, np)
    Q = -(-(W + 2 * pad) // stride)                # ceil(Wp / stride) columns per phase
    phases = _scratch_array((N, C, H + 2 * pad, stride, Q), x.dtype, scratch)
    _phase_planes_kernel(np.ascontiguousarray(x), stride, pad, phases)
    _im2col_kernel(phases, kh, kw, stride, Ho, Wo, cols)
    return cols


def col2im_numba(cols, x_shape, kh, kw, stride=1, pad=0, out=None):
    """Same result as `col2im_reference`, compiled."""
    N, C, H, W = x_shape
    Ho, Wo = conv_output_size(H, kh, stride, pad), conv_output_size(W, kw, stride, pad)
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
    size = int(np.prod(shape))
    if scratch is None or scratch.size < size or scratch.dtype != dtype:
        return np.empty(shape, dtype=dtype)
    return scratch.reshape(-1)[:size].reshape(shape)


def _padded_planes(shape, pad, dtype, scratch):
    N, C, H, W = shape
    return _scratch_array((N, C, (H + 2 * pad) * (W + 2 * pad)), dtype, scratch)


def im2col_wide_numba(x, kh, kw, pad=0, out=None, scratch=None):
    """Same result as `im2col_wide_reference`. `scratch`: optional array (any shape) of at least
    N*C*Hp*Wp elements for the padded input, to spare an allocation."""
    N, C, H, W = x.shape
    Wp = wide_width(W, kw, pad)
    L = (H + 2 * pad - kh + 1) * Wp
    cols = _output(out, (C * kh * kw, N * L), x.dtype, np)
    planes = _padded_planes(x.shape, pad, x.dtype, scratch)
    _pad_planes_kernel(np.ascontiguousarray(x), pad, planes)
    _im2col_wide_kernel(planes, kh, kw, Wp, L, cols)
    return cols


def col2im_wide_numba(cols, x_shape, kh, kw, pad=0, out=None, scratch=None):
    """Same result as `col2im_wide_reference`; `scratch` as for `im2col_wide_numba`."""
    N, C, H, W = x_shape
    L = (H + 2 * pad - kh + 1) * wide_width(W, kw, pad)
    x = _output(out, tuple(x_shape), cols.dtype, np)
    planes = _padded_planes(x_shape, pad, cols.dtype, scratch)
    _col2im_wide_kernel(np.ascontiguousarray(cols), kh, kw, pad, L, x, planes)
    return x


@numba.njit(parallel=True, cache=True)
def _columns_to_images_kernel(out, bias, y):
    F, N = out.shape[0], out.shape[1]
    Ho, Wo = y.shape[2], y.shape[3]
    for t in numba.prange(N * F):                  # one (image, filter) plane per task
        n, f = t // F, t % F
        for oh in range(Ho):
            src, dst = out[f, n, oh], y[n, f, oh]
            for ow in range(Wo):
                dst[ow] = src[ow] + bias[f]


@numba.njit(parallel=True, cache=True)
def _images_to_columns_kernel(dout, D):
    F, N, Ho, Wq = D.shape
    Wo = dout.shape[3]
    for t in numba.prange(F * N):
        f, n = t // N, t % N
        for oh in range(Ho):
            src, dst = dout[n, f, oh], D[f, n, oh]
            for ow in range(Wo):
                dst[ow] = src[ow]
            for ow in range(Wo, Wq):
                dst[ow] = 0


def columns_to_images_numba(out, bias, y):
    """Same as `columns_to_images_reference` (out and y C-contiguous)."""
    _columns_to_images_kernel(out, np.ascontiguousarray(bias, dtype=y.dtype), y)
    return y


def images_to_columns_numba(dout, D):
    """Same as `images_to_columns_reference` (D C-contiguous)."""
    _images_to_columns_kernel(np.ascontiguousarray(dout), D)
    return D


# --------------------------------------------------------------------------- dispatch

def im2col(x, kh, kw, stride=1, pad=0, out=None, scratch=None):
    """(N, C, H, W) -> (C*kh*kw, N*Ho*Wo) with the kernel `numpynet.backend` selects.

    `out` (optional): where to write the result. The GPU kernels ignore it (they return a new
    array), so always use the returned array. `scratch`: see `im2col_numba`.
    """
    path = backend.kernel_path(x)
    if path == "numba":
        return im2col_numba(x, kh, kw, stride, pad, out, scratch)
    if path == "gpu":
        return gpu_kernels().im2col(x, kh, kw, stride, pad)
    return im2col_reference(x, kh, kw, stride, pad, out)


def col2im(cols, x_shape, kh, kw, stride=1, pad=0, out=None):
    """(C*kh*kw, N*Ho*Wo) -> (N, C, H, W), the adjoint of `im2col`; `out` as for `im2col`."""
    path = backend.kernel_path(cols)
    if path == "numba":
        return col2im_numba(cols, x_shape, kh, kw, stride, pad, out)
    if path == "gpu":
        return gpu_kernels().col2im(cols, x_shape, kh, kw, stride, pad)
    return col2im_reference(cols, x_shape, kh, kw, stride, pad, out)


def has_wide_kernels(x):
    """Whether im2col_wide / col2im_wide have a fast version for arrays like x (on a GPU only if
    numpynet/gpu/kernels.py provides them; Conv2D uses the standard layout otherwise)."""
    if backend.kernel_path(x) != "gpu":
        return True
    gpu = gpu_kernels()
    return hasattr(gpu, "im2col_wide") and hasattr(gpu, "col2im_wide")


def im2col_wide(x, kh, kw, pad=0, out=None, scratch=None):
    """Stride-1 im2col in the wide layout (see `im2col_wide_reference`)."""
    path = backend.kernel_path(x)
    if path == "numba":
        return im2col_wide_numba(x, kh, kw, pad, out, scratch)
    if path == "gpu" and hasattr(gpu_kernels(), "im2col_wide"):
        return gpu_kernels().im2col_wide(x, kh, kw, pad)
    return im2col_wide_reference(x, kh, kw, pad, out)


def col2im_wide(cols, x_shape, kh, kw, pad=0, out=None, scratch=None):
    """The adjoint of `im2col_wide`."""
    path = backend.kernel_path(cols)
    if path == "numba":
        return col2im_wide_numba(cols, x_shape, kh, kw, pad, out, scratch)
    if path == "gpu" and hasattr(gpu_kernels(), "col2im_wide"):
        return gpu_kernels().col2im_wide(cols, x_shape, kh, kw, pad)
    return col2im_wide_reference(cols, x_shape, kh, kw, pad, out)


def columns_to_images(out, bias, y):
    """(F, N, Ho, Wq) product -> y (N, F, Ho, Wo) plus the bias, written into y."""
    if backend.kernel_path(out) == "numba":
        return columns_to_images_numba(out, bias, y)
    return columns_to_images_reference(out, bias, y)       # (also on a GPU: array code)


def images_to_columns(dout, D):
    """(N, F, Ho, Wo) gradient -> D (F, N, Ho, Wq), zero wrap-around columns, written into D."""
    if backend.kernel_path(dout) == "numba":
        return images_to_columns_numba(dout, D)
    return images_to_columns_reference(dout, D)
