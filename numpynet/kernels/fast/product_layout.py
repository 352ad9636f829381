"""The conv engine's matrix product <-> NCHW images: the two layout moves around W @ cols.

The product of the filters with the im2col columns of n images comes out with the filters
first; the layers want the images first (NCHW):

    out  (F, n, Ho, Wo)   W @ cols, reshaped
    y    (n, F, Ho, Wo)   the layer's output

    columns_to_images(out, bias, y):   y[n, f, oh, ow] = out[f, n, oh, ow] + bias[f]
    images_to_columns(dout, D):        D[f, n, oh, ow] = dout[n, f, oh, ow]

- `*_reference`: a transpose (array code, runs on CuPy unchanged).
- `*_numba`: the same copies as loops, parallel over (image, filter) planes: NumPy's strided
  copy of such short rows is slow (docs/PERFORMANCE.md).
Both write into the given y or D and return it. (They accept a product wider than the output,
Wq > Wo columns per row, dropping the extra columns and giving them a zero gradient.)
"""

import numba
import numpy as np

from ... import backend
from .. import dispatch


def columns_to_images_reference(out, bias, y):
    """(F, n, Ho, Wq) product -> y (n, F, Ho, Wo) + bias: transpose the first two axes, drop
    the columns ow >= Wo (if any), add bias[f]. Writes y."""
    xp = backend.get_array_module(out)
    Wo = y.shape[3]
    xp.add(out[..., :Wo].transpose(1, 0, 2, 3), bias.reshape(1, -1, 1, 1), out=y)
    return y


def images_to_columns_reference(dout, D):
    """dL/dy (n, F, Ho, Wo) -> D (F, n, Ho, Wq), laid out like the product, with zeros in the
    columns ow >= Wo (if any). Writes D."""
    Wo = dout.shape[3]
    D[..., :Wo] = dout.transpose(1, 0, 2, 3)
    D[..., Wo:] = 0
    return D


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


columns_to_images = dispatch.kernel(columns_to_images_reference,
                                    numba=columns_to_images_numba, name="columns_to_images")
images_to_columns = dispatch.kernel(images_to_columns_reference,
                                    numba=images_to_columns_numba, name="images_to_columns")
