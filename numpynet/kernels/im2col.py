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

The functions here are the definition as array code: a loop over the kh*kw filter offsets,
each one a strided slice of the whole batch (NumPy or CuPy). The loops one element at a time are
in numpynet/kernels/naive.py; the compiled versions, used inside the conv engine, in
numpynet/kernels/fast/im2col.py, and for CuPy arrays in numpynet/gpu/kernels.py.
"""

from .. import backend
from ..shapes import conv_output_hw
from .dispatch import kernel


@kernel
def im2col(x, kh, kw, stride=1, pad=0):
    """(N, C, H, W) -> cols (C*kh*kw, N*Ho*Wo), by one strided slice per filter offset."""
    xp = backend.get_array_module(x)
    N, C, H, W = x.shape
    Ho, Wo = conv_output_hw(H, W, kh, kw, stride, pad)
    xpad = xp.pad(x, ((0, 0), (0, 0), (pad, pad), (pad, pad)))
    cols = xp.empty((C * kh * kw, N * Ho * Wo), dtype=x.dtype)
    cols6 = cols.reshape(C, kh, kw, N, Ho, Wo)
    for i in range(kh):
        for j in range(kw):
            # every output pixel's (i, j)-th input: rows i, i+stride, ..., cols j, j+stride, ...
            patch = xpad[:, :, i:i + stride * Ho:stride, j:j + stride * Wo:stride]  # (N, C, Ho, Wo)
            cols6[:, i, j] = patch.transpose(1, 0, 2, 3)
    return cols


@kernel
def col2im(cols, x_shape, kh, kw, stride=1, pad=0):
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
    return xp.ascontiguousarray(xpad[:, :, pad:pad + H, pad:pad + W])
