"""The convolution engine: layers/conv.py's products, in chunks of images, in reused memory.

`conv_forward` and `conv_backward` take the reference's arguments (layers/conv.py) and return
the same numbers to float rounding (tests/test_fast_paths.py). Two ways, both per chunk of
images so that the columns of a whole batch never exist at once (conv1's would be 560 MB at
batch 128):

- im2col: cols = im2col(chunk) into the shared workspace, the product per group written into
  workspace memory too, then moved to NCHW with the bias added by a compiled loop
  (product_layout.py); backward likewise, dW summed over the chunks;
- 3x3 stride-1 filters (AlexNet's conv3-5): Winograd's F(2x2, 3x3) (winograd.py), the same
  convolution with 2.25 times fewer multiplies: V = B^T d B per chunk, M[xi] = U[xi] @ V[xi]
  per group, y = A^T M A + b.

`CHUNK_BYTES` caps the columns of one chunk (at least one image per chunk); `WINOGRAD = False`
turns the second way off. Why each of these pays, with measurements: docs/PERFORMANCE.md.
"""

import numpy as np

from ...shapes import conv_output_hw, phase_planes_shape, size_of
from ..im2col import col2im, im2col
from . import winograd
from .memory import POOL, WORKSPACE
from .product_layout import columns_to_images, images_to_columns

__all__ = ["conv_backward", "conv_forward"]

CHUNK_BYTES = 64 * 2**20          # im2col columns (or Winograd tiles) per chunk of images
WINOGRAD = True                   # 3x3, stride 1: Winograd's F(2x2, 3x3)


def conv_forward(x, W, b, stride=1, pad=0, groups=1):
    """x (N, C, H, W), W (F, C/G, kh, kw), b (F,) -> y (N, F, Ho, Wo)."""
    if _uses_winograd(W, stride):
        return _forward_winograd(x, W, b, pad, groups)
    return _forward_in_chunks(x, W, b, stride, pad, groups)


def conv_backward(dout, x, W, stride=1, pad=0, groups=1, input_grad=True):
    """dL/dy -> (dL/dx or None, dL/dW, dL/db)."""
    if _uses_winograd(W, stride):
        return _backward_winograd(dout, x, W, pad, groups, input_grad)
    return _backward_in_chunks(dout, x, W, stride, pad, groups, input_grad)


def _uses_winograd(W, stride):
    return WINOGRAD and W.shape[2:] == (3, 3) and stride == 1


def _split(a, groups):
    """The rows of `a` in G equal blocks, one per group (W, Y and D by filters, cols by
    channels)."""
    n = a.shape[0] // groups
    return [a[g * n:(g + 1) * n] for g in range(groups)]


def _image_ranges(N, bytes_per_image):
    """[lo, hi) ranges of the N images, CHUNK_BYTES // bytes_per_image (at least 1) each."""
    step = max(1, min(N, CHUNK_BYTES // bytes_per_image))
    return [(lo, min(N, lo + step)) for lo in range(0, N, step)]


# ----------------------------------------------------------------- im2col, in chunks

def _columns(x, kh, kw, stride, pad):
    """im2col of the images x (a chunk), into the shared workspace: (C*kh*kw, n*Ho*Wo)."""
    N, C, H, Wd = x.shape
    Ho, Wo = conv_output_hw(H, Wd, kh, kw, stride, pad)
    cols = WORKSPACE.get("cols", (C * kh * kw, N * Ho * Wo), x.dtype)
    planes = WORKSPACE.get("planes", (size_of(phase_planes_shape(x.shape, stride, pad)),),
                           x.dtype)
    return im2col(x, kh, kw, stride, pad, out=cols, scratch=planes)


def _chunks(x_shape, W_shape, stride, pad, itemsize):
    """Image ranges whose im2col columns fit in CHUNK_BYTES."""
    N, C, H, Wd = x_shape
    kh, kw = W_shape[2:]
    Ho, Wo = conv_output_hw(H, Wd, kh, kw, stride, pad)
    return _image_ranges(N, C * kh * kw * Ho * Wo * itemsize)


def _forward_in_chunks(x, W, b, stride, pad, groups):
    F, _, kh, kw = W.shape
    N, _, H, Wd = x.shape
    Ho, Wo = conv_output_hw(H, Wd, kh, kw, stride, pad)
    y = POOL.empty((N, F, Ho, Wo), np.result_type(x.dtype, W.dtype))
    Wmat = W.reshape(F, -1)                                    # (F, C/G*kh*kw)
    for lo, hi in _chunks(x.shape, W.shape, stride, pad, x.dtype.itemsize):
        cols = _columns(x[lo:hi], kh, kw, stride, pad)         # (C*kh*kw, n*Ho*Wo)
        out = WORKSPACE.get("out", (F, cols.shape[1]), y.dtype)
        for W_g, cols_g, out_g in zip(_split(Wmat, groups), _split(cols, groups),
                                      _split(out, groups)):
            np.matmul(W_g, cols_g, out=out_g)
        columns_to_images(out.reshape(F, hi - lo, Ho, Wo), b, y[lo:hi])   # + bias, NCHW
    return y


def _backward_in_chunks(dout, x, W, stride, pad, groups, input_grad):
    F, _, kh, kw = W.shape
    Ho, Wo = dout.shape[2:]
    Wmat = W.reshape(F, -1)
    dW = POOL.empty(W.shape, np.result_type(dout.dtype, x.dtype))
    dW[...] = 0
    db = np.zeros(F, dtype=dout.dtype)
    dx = POOL.empty(x.shape, np.result_type(dout.dtype, W.dtype)) if input_grad else None
    for lo, hi in _chunks(x.shape, W.shape, stride, pad, x.dtype.itemsize):
        cols = _columns(x[lo:hi], kh, kw, stride, pad)         # recomputed, (K, n*Ho*Wo)
        D = WORKSPACE.get("D", (F, cols.shape[1]), dout.dtype)  # dL/dY like the product
        images_to_columns(dout[lo:hi], D.reshape(F, hi - lo, Ho, Wo))
        db += D.sum(axis=1)
        _add_weight_gradient(D, cols, dW.reshape(F, -1), groups)
        if input_grad:
            dcols = WORKSPACE.get("dcols", cols.shape, dx.dtype)
            for W_g, D_g, dcols_g in zip(_split(Wmat, groups), _split(D, groups),
                                         _split(dcols, groups)):
                np.matmul(W_g.T, D_g, out=dcols_g)
            col2im(dcols, dx[lo:hi].shape, kh, kw, stride, pad, out=dx[lo:hi])
    return dx, dW, db


def _add_weight_gradient(D, cols, dWmat, groups):
    """dWmat += D_g @ cols_g.T per group, through a workspace buffer (no temporary)."""
    for D_g, cols_g, dW_g in zip(_split(D, groups), _split(cols, groups),
                                 _split(dWmat, groups)):
        dW_g += np.matmul(D_g, cols_g.T, out=WORKSPACE.get("dW", dW_g.shape, dW_g.dtype))


# ----------------------------------------------------------------- Winograd, in chunks

def _winograd_chunks(x_shape, F, pad, itemsize):
    """Image ranges whose V (16, C, T) and M (16, F, T) each fit in CHUNK_BYTES."""
    N, C, H, Wd = x_shape
    th, tw = winograd.tiles(*winograd.output_hw(H, Wd, pad))
    return _image_ranges(N, 16 * max(C, F) * th * tw * itemsize)


def _tile_matrices(name, rows, x_chunk, pad, dtype):
    """A (16, rows, T) workspace array for the T tiles of the images in x_chunk."""
    N, _, H, Wd = x_chunk.shape
    th, tw = winograd.tiles(*winograd.output_hw(H, Wd, pad))
    return WORKSPACE.get(name, (16, rows, N * th * tw), dtype)


def _forward_winograd(x, W, b, pad, groups):
    """Per chunk V = B^T d B, M[xi] = U[xi] @ V[xi] per group, y = A^T M A + b."""
    N, C, H, Wd = x.shape
    F = W.shape[0]
    y = POOL.empty((N, F, *winograd.output_hw(H, Wd, pad)), np.result_type(x.dtype, W.dtype))
    U = winograd.filter_transform(W)                           # (16, F, C/G)
    for lo, hi in _winograd_chunks(x.shape, F, pad, x.dtype.itemsize):
        V = winograd.input_transform(x[lo:hi], pad, out=_tile_matrices(
            "cols", C, x[lo:hi], pad, x.dtype))                # (16, C, T)
        M = _tile_matrices("out", F, x[lo:hi], pad, y.dtype)   # (16, F, T)
        for xi in range(16):
            for U_g, V_g, M_g in zip(_split(U[xi], groups), _split(V[xi], groups),
                                     _split(M[xi], groups)):
                np.matmul(U_g, V_g, out=M_g)
        winograd.output_transform(M, b, y[lo:hi])
    return y


def _backward_winograd(dout, x, W, pad, groups, input_grad):
    """Per chunk: V again, dM = A dY A^T, dU[xi] += dM[xi] @ V[xi]^T, and for dL/dx
    dV[xi] = U[xi]^T @ dM[xi] (into V's memory), dx = B dV B^T summed over the tiles;
    finally dW = G^T dU G."""
    C, F = x.shape[1], W.shape[0]
    U = winograd.filter_transform(W)
    dU = np.zeros(U.shape, dtype=np.result_type(dout.dtype, x.dtype))
    dx = POOL.empty(x.shape, np.result_type(dout.dtype, W.dtype)) if input_grad else None
    for lo, hi in _winograd_chunks(x.shape, F, pad, x.dtype.itemsize):
        V = winograd.input_transform(x[lo:hi], pad, out=_tile_matrices(
            "cols", C, x[lo:hi], pad, x.dtype))                # recomputed, (16, C, T)
        dM = winograd.output_grad_transform(dout[lo:hi], out=_tile_matrices(
            "D", F, x[lo:hi], pad, dout.dtype))                # (16, F, T)
        for xi in range(16):
            _add_weight_gradient(dM[xi], V[xi], dU[xi], groups)
        if input_grad:
            for xi in range(16):
                for U_g, dM_g, dV_g in zip(_split(U[xi], groups), _split(dM[xi], groups),
                                           _split(V[xi], groups)):
                    np.matmul(U_g.T, dM_g, out=dV_g)
            dx_chunk = dx[lo:hi]
            result = winograd.input_grad_transform(V, dx_chunk.shape, pad, out=dx_chunk)
            if result is not dx_chunk:                         # (it could not write there)
                dx_chunk[...] = result
    return dx, winograd.filter_grad_transform(dU), dout.sum(axis=(0, 2, 3))
