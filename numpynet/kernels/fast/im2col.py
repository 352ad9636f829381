"""im2col / col2im (kernels/im2col.py has the definition), compiled.

The same arithmetic as explicit loops compiled by Numba, in parallel over rows (im2col) or over
(image, channel) planes (col2im, so no two threads add into the same pixel). im2col first pads
the input and splits every image row into its `stride` phases (`_phase_planes_kernel`: for
stride 4, the columns 0, 4, 8, ..., then 1, 5, 9, ...): a window row, which picks every
stride-th column, is then one contiguous run, and im2col is nothing but copies of such runs.
col2im works out once per filter offset the range of outputs whose input falls inside the image
(`_inside`), so its inner loops add with no bounds test, over views (a loop index into a view is
known to be >= 0: Numba's negative-index check drops out and the loop vectorises).

Both take `out=`, an array to write the result into (the conv engine reuses one buffer for every
chunk of images), and im2col `scratch=`, memory for the phase planes.
"""

import numba
import numpy as np

from ...shapes import conv_output_hw, phase_planes_shape, size_of

__all__ = ["col2im", "im2col"]


def _output(out, shape, dtype, xp):
    """`out` checked against the shape and dtype the result needs, or a new array."""
    if out is None:
        return xp.empty(shape, dtype=dtype)
    if tuple(out.shape) != tuple(shape) or out.dtype != dtype:
        raise ValueError(f"out has shape {out.shape} and dtype {out.dtype}, "
                         f"expected {tuple(shape)} and {np.dtype(dtype)}")
    return out


def _scratch_array(shape, dtype, scratch):
    """An array of `shape` in the memory of `scratch` if it is big enough, else a new one."""
    size = size_of(shape)
    if scratch is None or scratch.size < size or scratch.dtype != dtype:
        return np.empty(shape, dtype=dtype)
    return scratch.reshape(-1)[:size].reshape(shape)


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


def im2col(x, kh, kw, stride=1, pad=0, out=None, scratch=None):
    """Same result as the reference (kernels/im2col.py), compiled. `scratch`: optional array
    (any shape) of at least size_of(phase_planes_shape(x.shape, stride, pad)) elements
    (N*C*Hp*stride*ceil(Wp/stride)) for the phase planes, to spare an allocation."""
    N, C, H, W = x.shape
    Ho, Wo = conv_output_hw(H, W, kh, kw, stride, pad)
    cols = _output(out, (C * kh * kw, N * Ho * Wo), x.dtype, np)
    phases = _scratch_array(phase_planes_shape(x.shape, stride, pad), x.dtype, scratch)
    _phase_planes_kernel(np.ascontiguousarray(x), stride, pad, phases)
    _im2col_kernel(phases, kh, kw, stride, Ho, Wo, cols)
    return cols


def col2im(cols, x_shape, kh, kw, stride=1, pad=0, out=None):
    """Same result as the reference (kernels/im2col.py), compiled."""
    N, C, H, W = x_shape
    Ho, Wo = conv_output_hw(H, W, kh, kw, stride, pad)
    x = _output(out, tuple(x_shape), cols.dtype, np)
    _col2im_kernel(np.ascontiguousarray(cols), kh, kw, stride, pad, Ho, Wo, x)
    return x
