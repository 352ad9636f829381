"""Winograd's F(2x2, 3x3): a 3x3 convolution (stride 1) with 16 multiplies per 2x2 outputs, not 36.

Lavin & Gray, "Fast Algorithms for Convolutional Neural Networks" (2016). In one dimension,
F(2, 3) gives two outputs of a 3-tap filter g from four inputs d with 4 multiplies instead of 6:

    y = A^T [(G g) * (B^T d)]            (* elementwise; A^T 2x4, G 4x3, B^T 4x4 below)

Nested in two dimensions, over 4x4 input tiles that overlap by 2 (tile (i, j) starts at row 2i,
column 2j of the padded input) and give the 2x2 output tile at (2i, 2j):

    U = G g G^T          (4, 4) per filter f and channel c             once per step
    V = B^T d B          (4, 4) per channel c and input tile t
    M[xi] = U[xi] @ V[xi]       for each of the 16 positions xi of the 4x4 tile: a matrix
                                product (F, C) @ (C, T) that sums over the channels
    Y = A^T M A          (2, 2) per filter and tile: the output

so the multiplies are in 16 products with C inner terms, against im2col's one with 9*C, over
(Ho/2)*(Wo/2) tiles: 16/36 = 1/2.25 as many. The transforms are additions only (the 1-d ones
are `_bt`, `_at`, `_b`, `_a`: the matrices applied to four or two numbers).

Backward is the adjoint of each linear step, in reverse order:

    dM = A dY A^T        dU[xi] = dM[xi] @ V[xi]^T        dV[xi] = U[xi]^T @ dM[xi]
    dx = sum over the tiles of B dV B^T (tiles overlap: their parts add)       dW = G^T dU G

Layouts (T = n * th * tw tiles of n images, th = ceil(Ho / 2), tw = ceil(Wo / 2), tile index
t = image * th * tw + i * tw + j; xi = 4 * row + column within the 4x4 tile):

    U, dU   (16, F, C/G)         V, dV   (16, C, T)          M, dM   (16, F, T)

Output rows and columns beyond Ho, Wo (odd sizes) are computed and dropped; their gradient is
zero. The products are the conv engine's (kernels/fast/conv.py); here are the transforms:

- `filter_transform`, `filter_grad_transform`: NumPy only (the filters are small);
- `input_transform`, `output_transform`, `output_grad_transform`, `input_grad_transform`: a
  vectorised reference (`*_reference`, array code) and a Numba kernel (`*_numba`, parallel over
  the channels or filters), tested equal (tests/test_winograd.py).

Its float32 error is a few times direct convolution's (the transforms add up to 9 inputs
before a product): docs/PERFORMANCE.md has the measurement and the speed.
"""

import numba
import numpy as np

from ... import backend
from .. import dispatch

BT = np.array([[1, 0, -1, 0],
               [0, 1, 1, 0],
               [0, -1, 1, 0],
               [0, 1, 0, -1]], dtype=np.float64)    # B^T (4, 4): input tile -> V
G = np.array([[1, 0, 0],
              [0.5, 0.5, 0.5],
              [0.5, -0.5, 0.5],
              [0, 0, 1]], dtype=np.float64)          # G (4, 3): filter -> U
AT = np.array([[1, 1, 1, 0],
               [0, 1, -1, -1]], dtype=np.float64)    # A^T (2, 4): M -> output tile


def tiles(Ho, Wo):
    """(th, tw): 2x2 output tiles per column and per row of an Ho x Wo output."""
    return (Ho + 1) // 2, (Wo + 1) // 2


def output_hw(H, W, pad):
    """Ho, Wo of a 3x3, stride-1 convolution with padding `pad`."""
    return H + 2 * pad - 2, W + 2 * pad - 2


# ----------------------------------------------------------------- filters (NumPy, small)

def filter_transform(W):
    """W (F, C/G, 3, 3) -> U (16, F, C/G):  U[:, f, c] = G W[f, c] G^T, flattened row-major.
    (Two tensordots, each one matrix product: einsum over the four axes took 10x as long.)"""
    F, Cg = W.shape[:2]
    g = G.astype(W.dtype)
    WGt = np.tensordot(W, g, axes=([3], [1]))                 # W G^T     (F, C/G, 3, 4)
    U = np.tensordot(g, WGt, axes=([1], [2]))                 # G W G^T   (4, F, C/G, 4)
    return np.ascontiguousarray(U.transpose(0, 3, 1, 2)).reshape(16, F, Cg)


def filter_grad_transform(dU):
    """dU (16, F, C/G) -> dW (F, C/G, 3, 3) = G^T dU G, the adjoint of `filter_transform`."""
    F, Cg = dU.shape[1:]
    g = G.astype(dU.dtype)
    return np.einsum("ai,abfc,bj->fcij", g, dU.reshape(4, 4, F, Cg), g, optimize=True)


# ----------------------------------------------------------------- the reference transforms

def _padded(x, pad, th, tw):
    """x (N, C, H, W) in zeros of shape (N, C, 2*th + 2, 2*tw + 2), x starting at (pad, pad):
    every 4x4 tile then lies inside."""
    xp = backend.get_array_module(x)
    N, C, H, W = x.shape
    out = xp.zeros((N, C, 2 * th + 2, 2 * tw + 2), dtype=x.dtype)
    out[:, :, pad:pad + H, pad:pad + W] = x
    return out


def input_transform_reference(x, pad, out=None):
    """x (N, C, H, W) -> V (16, C, N*th*tw): V = B^T d B for every 4x4 tile d (stride 2)."""
    xp = backend.get_array_module(x)
    N, C, H, W = x.shape
    th, tw = tiles(*output_hw(H, W, pad))
    xpad = _padded(x, pad, th, tw)
    d = xp.lib.stride_tricks.sliding_window_view(xpad, (4, 4), axis=(2, 3))[:, :, ::2, ::2]
    bt = xp.asarray(BT, dtype=x.dtype)
    V = xp.einsum("ai,ncxyij,bj->abcnxy", bt, d, bt)              # (4, 4, C, N, th, tw)
    V = V.reshape(16, C, N * th * tw)
    if out is None:
        return V
    out[...] = V
    return out


def output_transform_reference(M, bias, y):
    """M (16, F, N*th*tw) -> y (N, F, Ho, Wo) = A^T M A per tile, + bias[f]. Writes y."""
    xp = backend.get_array_module(M)
    N, F, Ho, Wo = y.shape
    th, tw = tiles(Ho, Wo)
    at = xp.asarray(AT, dtype=M.dtype)
    Y = xp.einsum("ra,abfnxy,sb->nfxrys", at, M.reshape(4, 4, F, N, th, tw), at)
    Y = Y.reshape(N, F, 2 * th, 2 * tw)[:, :, :Ho, :Wo]
    xp.add(Y, bias.reshape(1, -1, 1, 1), out=y)
    return y


def output_grad_transform_reference(dout, out=None):
    """dL/dy (N, F, Ho, Wo) -> dM (16, F, N*th*tw) = A dY A^T per tile (zero beyond Ho, Wo)."""
    xp = backend.get_array_module(dout)
    N, F, Ho, Wo = dout.shape
    th, tw = tiles(Ho, Wo)
    dY = xp.zeros((N, F, 2 * th, 2 * tw), dtype=dout.dtype)
    dY[:, :, :Ho, :Wo] = dout
    at = xp.asarray(AT, dtype=dout.dtype)
    dM = xp.einsum("ra,nfxrys,sb->abfnxy", at, dY.reshape(N, F, th, 2, tw, 2), at)
    dM = dM.reshape(16, F, N * th * tw)
    if out is None:
        return dM
    out[...] = dM
    return out


def input_grad_transform_reference(dV, x_shape, pad, out=None):
    """dV (16, C, N*th*tw) -> dx (N, C, H, W): B dV B^T per tile, overlapping tiles added."""
    xp = backend.get_array_module(dV)
    N, C, H, W = x_shape
    th, tw = tiles(*output_hw(H, W, pad))
    bt = xp.asarray(BT, dtype=dV.dtype)
    dd = xp.einsum("ap,abcnxy,bq->ncxypq", bt, dV.reshape(4, 4, C, N, th, tw), bt)
    dxpad = xp.zeros((N, C, 2 * th + 2, 2 * tw + 2), dtype=dV.dtype)
    for p in range(4):                                  # the tiles' element (p, q), all at once
        for q in range(4):
            dxpad[:, :, p:p + 2 * th:2, q:q + 2 * tw:2] += dd[..., p, q]
    dx = dxpad[:, :, pad:pad + H, pad:pad + W]
    if out is None:
        return xp.ascontiguousarray(dx)
    out[...] = dx
    return out


# ----------------------------------------------------------------- the Numba kernels

@numba.njit(inline="always")
def _bt(d0, d1, d2, d3):
    """B^T @ (d0, d1, d2, d3)."""
    return d0 - d2, d1 + d2, d2 - d1, d1 - d3


@numba.njit(inline="always")
def _b(v0, v1, v2, v3):
    """B @ (v0, v1, v2, v3): the adjoint of `_bt`."""
    return v0, v1 - v2 + v3, v1 + v2 - v0, -v3


@numba.njit(inline="always")
def _at(m0, m1, m2, m3):
    """A^T @ (m0, m1, m2, m3)."""
    return m0 + m1 + m2, m1 - m2 - m3


@numba.njit(inline="always")
def _a(y0, y1):
    """A @ (y0, y1): the adjoint of `_at`."""
    return y0, y0 + y1, y0 - y1, -y1


# Each kernel runs in parallel over channels (or filters) and, inside a task, over the images:
# a task then reads and writes whole rows V[xi, c, :] (M[xi, f, :]) front to back, and its
# scratch is allocated once, not once per 13 x 13 plane. The 4x4 transforms are done as two
# 1-d ones, first across the four rows of a tile row for the whole padded width at once (one
# vector loop; tiles overlap by two columns, so this is done once per column, not per tile),
# then along each tile's four columns.

@numba.njit(parallel=True, cache=True)
def _input_transform_kernel(x, pad, th, tw, V):
    N, C, H, W = x.shape
    for c in numba.prange(C):                         # one channel per task, every image
        d = np.zeros((2 * th + 2, 2 * tw + 2), dtype=V.dtype)     # a padded plane
        BtD = np.empty((4, 2 * tw + 2), dtype=V.dtype)            # B^T d of one tile row
        for n in range(N):
            d[pad:pad + H, pad:pad + W] = x[n, c]
            for i in range(th):
                r, t0 = 2 * i, (n * th + i) * tw
                for w in range(2 * tw + 2):          # B^T d: the tile row's 4 rows, every column
                    BtD[0, w], BtD[1, w], BtD[2, w], BtD[3, w] = _bt(d[r, w], d[r + 1, w],
                                                                     d[r + 2, w], d[r + 3, w])
                for k in range(4):                    # (B^T d) B: each tile's 4 columns
                    for j in range(tw):
                        s = 2 * j
                        v0, v1, v2, v3 = _bt(BtD[k, s], BtD[k, s + 1], BtD[k, s + 2],
                                             BtD[k, s + 3])
                        V[4 * k, c, t0 + j], V[4 * k + 1, c, t0 + j] = v0, v1
                        V[4 * k + 2, c, t0 + j], V[4 * k + 3, c, t0 + j] = v2, v3


@numba.njit(parallel=True, cache=True)
def _output_transform_kernel(M, bias, th, tw, y):
    N, F, Ho, Wo = y.shape
    for f in numba.prange(F):                         # one filter per task, every image
        AtM = np.empty((2, 4, tw), dtype=M.dtype)     # A^T M of one tile row
        Y = np.empty((2 * th, 2 * tw), dtype=M.dtype)  # one output plane, odd sizes rounded up
        for n in range(N):
            for i in range(th):
                t0 = (n * th + i) * tw
                for k in range(4):                    # A^T M: each column of each tile
                    for j in range(tw):
                        AtM[0, k, j], AtM[1, k, j] = _at(M[k, f, t0 + j], M[4 + k, f, t0 + j],
                                                         M[8 + k, f, t0 + j],
                                                         M[12 + k, f, t0 + j])
                for r in range(2):                    # (A^T M) A: each row of each tile
                    for j in range(tw):
                        y0, y1 = _at(AtM[r, 0, j], AtM[r, 1, j], AtM[r, 2, j], AtM[r, 3, j])
                        Y[2 * i + r, 2 * j], Y[2 * i + r, 2 * j + 1] = y0, y1
            for oh in range(Ho):                      # inside y only, plus the bias
                for ow in range(Wo):
                    y[n, f, oh, ow] = Y[oh, ow] + bias[f]


@numba.njit(parallel=True, cache=True)
def _output_grad_transform_kernel(dout, th, tw, dM):
    N, F, Ho, Wo = dout.shape
    for f in numba.prange(F):
        dY = np.zeros((2 * th, 2 * tw), dtype=dM.dtype)    # dL/dy, zero beyond Ho, Wo
        dYAt = np.empty((2, 4, tw), dtype=dM.dtype)        # dY A^T of one tile row
        for n in range(N):
            dY[:Ho, :Wo] = dout[n, f]
            for i in range(th):
                t0 = (n * th + i) * tw
                for r in range(2):                    # dY A^T: each row of each tile
                    for j in range(tw):
                        (dYAt[r, 0, j], dYAt[r, 1, j],
                         dYAt[r, 2, j], dYAt[r, 3, j]) = _a(dY[2 * i + r, 2 * j],
                                                            dY[2 * i + r, 2 * j + 1])
                for k in range(4):                    # A (dY A^T): each column
                    for j in range(tw):
                        m0, m1, m2, m3 = _a(dYAt[0, k, j], dYAt[1, k, j])
                        dM[k, f, t0 + j], dM[4 + k, f, t0 + j] = m0, m1
                        dM[8 + k, f, t0 + j], dM[12 + k, f, t0 + j] = m2, m3


@numba.njit(parallel=True, cache=True)
def _input_grad_transform_kernel(dV, pad, th, tw, dx):
    N, C, H, W = dx.shape
    for c in numba.prange(C):
        dd = np.empty((2 * th + 2, 2 * tw + 2), dtype=dV.dtype)   # dL/d(padded plane)
        dBtD = np.empty((4, 2 * tw + 2), dtype=dV.dtype)           # dL/d(B^T d), a tile row
        for n in range(N):
            dd[...] = 0
            for i in range(th):
                r, t0 = 2 * i, (n * th + i) * tw
                dBtD[...] = 0
                for k in range(4):                    # adjoint of (B^T d) B: tiles overlap
                    for j in range(tw):               # by two columns, so their parts add
                        s = 2 * j
                        e0, e1, e2, e3 = _b(dV[4 * k, c, t0 + j], dV[4 * k + 1, c, t0 + j],
                                            dV[4 * k + 2, c, t0 + j], dV[4 * k + 3, c, t0 + j])
                        dBtD[k, s] += e0
                        dBtD[k, s + 1] += e1
                        dBtD[k, s + 2] += e2
                        dBtD[k, s + 3] += e3
                for w in range(2 * tw + 2):           # adjoint of B^T d, added in place
                    p0, p1, p2, p3 = _b(dBtD[0, w], dBtD[1, w], dBtD[2, w], dBtD[3, w])
                    dd[r, w] += p0
                    dd[r + 1, w] += p1
                    dd[r + 2, w] += p2
                    dd[r + 3, w] += p3
            dx[n, c] = dd[pad:pad + H, pad:pad + W]


def _out(out, shape, dtype):
    """`out` if it is a C-contiguous array of this shape and dtype, else a new one."""
    if out is not None and out.shape == shape and out.dtype == dtype and out.flags.c_contiguous:
        return out
    return np.empty(shape, dtype=dtype)


def input_transform_numba(x, pad, out=None):
    """Same as `input_transform_reference`."""
    N, C, H, W = x.shape
    th, tw = tiles(*output_hw(H, W, pad))
    V = _out(out, (16, C, N * th * tw), x.dtype)
    _input_transform_kernel(np.ascontiguousarray(x), pad, th, tw, V)
    return V


def output_transform_numba(M, bias, y):
    """Same as `output_transform_reference` (M and y C-contiguous)."""
    th, tw = tiles(*y.shape[2:])
    _output_transform_kernel(M, np.ascontiguousarray(bias, dtype=y.dtype), th, tw, y)
    return y


def output_grad_transform_numba(dout, out=None):
    """Same as `output_grad_transform_reference`."""
    N, F, Ho, Wo = dout.shape
    th, tw = tiles(Ho, Wo)
    dM = _out(out, (16, F, N * th * tw), dout.dtype)
    _output_grad_transform_kernel(np.ascontiguousarray(dout), th, tw, dM)
    return dM


def input_grad_transform_numba(dV, x_shape, pad, out=None):
    """Same as `input_grad_transform_reference` (dV C-contiguous)."""
    N, C, H, W = x_shape
    th, tw = tiles(*output_hw(H, W, pad))
    dx = _out(out, tuple(x_shape), dV.dtype)
    _input_grad_transform_kernel(dV, pad, th, tw, dx)
    return dx


input_transform = dispatch.kernel(input_transform_reference, numba=input_transform_numba,
                                  name="winograd_input")
output_transform = dispatch.kernel(output_transform_reference, numba=output_transform_numba,
                                   name="winograd_output")
output_grad_transform = dispatch.kernel(output_grad_transform_reference,
                                        numba=output_grad_transform_numba,
                                        name="winograd_output_grad")
input_grad_transform = dispatch.kernel(input_grad_transform_reference,
                                       numba=input_grad_transform_numba,
                                       name="winograd_input_grad")
