"""The definitions: every kernel as plain Python loops, the way one first writes it.

These are for reading and for the tests, not for running a network: a loop in Python does one
multiply-add per iteration, millions of times slower than the kernels. Use small inputs (a few
images of a few pixels). Each function takes the arguments of the kernel of the same name in
the other modules (without `out=` and `scratch=`) and returns what it returns;
tests/test_kernels.py checks that these loops, the vectorised references and the Numba kernels
agree (and tests/gpu_sim_checks.py the GPU kernels).

The loops are written in the order of the formulas, one output element at a time, with the
padding and the window edges as explicit `if`s, in the style of cs231n's `conv_forward_naive`
and of the loop-based reference that Caffe's LRN test compares its layer with. Results have
the input's dtype; float64 inputs give the exact definition.
"""

import numpy as np

from ..shapes import conv_output_hw
from .fast.winograd import AT, BT, output_hw, tiles

# --------------------------------------------------------------------------- convolution


def conv_forward(x, W, b, stride=1, pad=0, groups=1):
    """y[n, f, oh, ow] = b[f] + sum_{c, i, j} W[f, c, i, j] * xpad[n, g*C/G + c, oh*s + i, ow*s + j]

    x (N, C, H, W), W (F, C/G, kh, kw), b (F,) -> y (N, F, Ho, Wo); g = f // (F/G) is the group
    of filter f. Directly, without im2col."""
    N, C, H, Wd = x.shape
    F, Cg, kh, kw = W.shape
    Ho, Wo = conv_output_hw(H, Wd, kh, kw, stride, pad)
    xpad = np.pad(x, ((0, 0), (0, 0), (pad, pad), (pad, pad)))
    y = np.zeros((N, F, Ho, Wo), dtype=np.result_type(x, W))
    for n in range(N):
        for f in range(F):
            c0 = f // (F // groups) * Cg                   # the first channel of f's group
            for oh in range(Ho):
                for ow in range(Wo):
                    window = xpad[n, c0:c0 + Cg, oh * stride:oh * stride + kh,
                                  ow * stride:ow * stride + kw]             # (C/G, kh, kw)
                    y[n, f, oh, ow] = np.sum(window * W[f]) + b[f]
    return y


def conv_backward(dout, x, W, stride=1, pad=0, groups=1):
    """dL/dy (N, F, Ho, Wo) -> (dx, dW, db): every output pixel passes its gradient to the
    window and the filter that made it (y = sum window * W[f] + b[f]):

        db[f] += dy,   dW[f] += window * dy,   dwindow += W[f] * dy     (+=: windows overlap)
    """
    N, C, H, Wd = x.shape
    F, Cg, kh, kw = W.shape
    Ho, Wo = dout.shape[2], dout.shape[3]
    xpad = np.pad(x, ((0, 0), (0, 0), (pad, pad), (pad, pad)))
    dxpad, dW = np.zeros_like(xpad, dtype=dout.dtype), np.zeros_like(W, dtype=dout.dtype)
    db = np.zeros(F, dtype=dout.dtype)
    for n in range(N):
        for f in range(F):
            c0 = f // (F // groups) * Cg
            for oh in range(Ho):
                for ow in range(Wo):
                    h, w, dy = oh * stride, ow * stride, dout[n, f, oh, ow]
                    db[f] += dy
                    dW[f] += xpad[n, c0:c0 + Cg, h:h + kh, w:w + kw] * dy
                    dxpad[n, c0:c0 + Cg, h:h + kh, w:w + kw] += W[f] * dy
    return dxpad[:, :, pad:pad + H, pad:pad + Wd], dW, db


# --------------------------------------------------------------------------- im2col, col2im
# im2col and col2im visit the same pairs (entry of cols, pixel of x): im2col copies the pixel
# into the entry, col2im adds the entry back onto the pixel. That is what "adjoint" means.

def _im2col_pairs(x_shape, kh, kw, stride, pad):
    """Every entry (row, column) of cols with the pixel (n, c, h, w) it holds, skipping those
    in the padding: row (c, i, j), column (n, oh, ow), h = oh*s + i - pad, w = ow*s + j - pad."""
    N, C, H, W = x_shape
    Ho, Wo = conv_output_hw(H, W, kh, kw, stride, pad)
    for c in range(C):
        for i in range(kh):
            for j in range(kw):
                for n in range(N):
                    for oh in range(Ho):
                        for ow in range(Wo):
                            h, w = oh * stride + i - pad, ow * stride + j - pad
                            if 0 <= h < H and 0 <= w < W:
                                yield (c * kh + i) * kw + j, (n * Ho + oh) * Wo + ow, (n, c, h, w)


def im2col(x, kh, kw, stride=1, pad=0):
    """cols[(c, i, j), (n, oh, ow)] = x[n, c, oh*s + i - pad, ow*s + j - pad], 0 in the padding."""
    N, C, H, W = x.shape
    Ho, Wo = conv_output_hw(H, W, kh, kw, stride, pad)
    cols = np.zeros((C * kh * kw, N * Ho * Wo), dtype=x.dtype)
    for row, col, pixel in _im2col_pairs(x.shape, kh, kw, stride, pad):
        cols[row, col] = x[pixel]
    return cols


def col2im(cols, x_shape, kh, kw, stride=1, pad=0):
    """The adjoint of im2col: every entry of cols added back onto the pixel it came from."""
    x = np.zeros(x_shape, dtype=cols.dtype)
    for row, col, pixel in _im2col_pairs(x_shape, kh, kw, stride, pad):
        x[pixel] += cols[row, col]                 # +=: a pixel in several windows gets the sum
    return x


# --------------------------------------------------------------------------- product <-> images

def columns_to_images(out, bias, y):
    """y[n, f, oh, ow] = out[f, n, oh, ow] + bias[f] (for ow < Wo, if out is wider). Writes y."""
    N, F, Ho, Wo = y.shape
    for n in range(N):
        for f in range(F):
            for oh in range(Ho):
                for ow in range(Wo):
                    y[n, f, oh, ow] = out[f, n, oh, ow] + bias[f]
    return y


def images_to_columns(dout, D):
    """D[f, n, oh, ow] = dout[n, f, oh, ow] for ow < Wo, 0 in any further columns. Writes D."""
    F, N, Ho, Wq = D.shape
    for f in range(F):
        for n in range(N):
            for oh in range(Ho):
                for ow in range(Wq):
                    D[f, n, oh, ow] = dout[n, f, oh, ow] if ow < dout.shape[3] else 0
    return D


# --------------------------------------------------------------------------- Winograd F(2x2, 3x3)
# Tile t = (n, y, z) of n's th x tw tiles covers padded rows 2y..2y+3 and columns 2z..2z+3 and
# gives output rows 2y, 2y+1 and columns 2z, 2z+1; xi = 4a + b is a position in the 4x4 tile.

def _tiles_of(N, th, tw):
    """(n, y, z, t) for every tile, t = (n*th + y)*tw + z its column in V, M."""
    for n in range(N):
        for y in range(th):
            for z in range(tw):
                yield n, y, z, (n * th + y) * tw + z


def winograd_input(x, pad):
    """V[4a + b, c, t] = sum_{i, j} B^T[a, i] * xpad[n, c, 2y + i, 2z + j] * B^T[b, j]:
    V = B^T d B for each 4x4 tile d (zero outside x)."""
    N, C, H, W = x.shape
    th, tw = tiles(*output_hw(H, W, pad))
    V = np.zeros((16, C, N * th * tw), dtype=x.dtype)
    for n, y, z, t in _tiles_of(N, th, tw):
        for c in range(C):
            for a in range(4):
                for b in range(4):
                    for i in range(4):
                        for j in range(4):
                            h, w = 2 * y + i - pad, 2 * z + j - pad
                            if 0 <= h < H and 0 <= w < W:
                                V[4 * a + b, c, t] += BT[a, i] * x[n, c, h, w] * BT[b, j]
    return V


def winograd_input_grad(dV, x_shape, pad):
    """The adjoint of winograd_input: each V entry adds its gradient back onto the pixels it
    was made of, dx[n, c, h, w] += B^T[a, i] * dV[4a + b, c, t] * B^T[b, j]."""
    N, C, H, W = x_shape
    th, tw = tiles(*output_hw(H, W, pad))
    dx = np.zeros(x_shape, dtype=dV.dtype)
    for n, y, z, t in _tiles_of(N, th, tw):
        for c in range(C):
            for a in range(4):
                for b in range(4):
                    for i in range(4):
                        for j in range(4):
                            h, w = 2 * y + i - pad, 2 * z + j - pad
                            if 0 <= h < H and 0 <= w < W:
                                dx[n, c, h, w] += BT[a, i] * dV[4 * a + b, c, t] * BT[b, j]
    return dx


def winograd_output(M, bias, y):
    """y[n, f, 2y' + r, 2z + s] = bias[f] + sum_{a, b} A^T[r, a] * M[4a + b, f, t] * A^T[s, b]
    inside y (y' the tile row): Y = A^T M A. Writes y."""
    N, F, Ho, Wo = y.shape
    th, tw = tiles(Ho, Wo)
    for n, ty, tz, t in _tiles_of(N, th, tw):
        for f in range(F):
            for r in range(2):
                for s in range(2):
                    oh, ow = 2 * ty + r, 2 * tz + s
                    if oh < Ho and ow < Wo:
                        y[n, f, oh, ow] = bias[f] + sum(AT[r, a] * M[4 * a + b, f, t] * AT[s, b]
                                                        for a in range(4) for b in range(4))
    return y


def winograd_output_grad(dout):
    """The adjoint of winograd_output (without the bias): dM[4a + b, f, t] = sum_{r, s}
    A^T[r, a] * dout[n, f, 2y + r, 2z + s] * A^T[s, b] over the outputs inside dout."""
    N, F, Ho, Wo = dout.shape
    th, tw = tiles(Ho, Wo)
    dM = np.zeros((16, F, N * th * tw), dtype=dout.dtype)
    for n, y, z, t in _tiles_of(N, th, tw):
        for f in range(F):
            for r in range(2):
                for s in range(2):
                    oh, ow = 2 * y + r, 2 * z + s
                    if oh < Ho and ow < Wo:
                        for a in range(4):
                            for b in range(4):
                                dM[4 * a + b, f, t] += AT[r, a] * dout[n, f, oh, ow] * AT[s, b]
    return dM


# --------------------------------------------------------------------------- max-pooling

def maxpool_forward(x, k, stride):
    """y = the max of each k x k window, arg = where it was (i*k + j; the first on ties)."""
    N, C, H, W = x.shape
    Ho, Wo = conv_output_hw(H, W, k, k, stride, 0)
    y = np.zeros((N, C, Ho, Wo), dtype=x.dtype)
    arg = np.zeros((N, C, Ho, Wo), dtype=np.int32)
    for n in range(N):
        for c in range(C):
            for oh in range(Ho):
                for ow in range(Wo):
                    best, best_at = x[n, c, oh * stride, ow * stride], 0
                    for i in range(k):
                        for j in range(k):
                            if x[n, c, oh * stride + i, ow * stride + j] > best:   # strict
                                best, best_at = x[n, c, oh * stride + i, ow * stride + j], i * k + j
                    y[n, c, oh, ow], arg[n, c, oh, ow] = best, best_at
    return y, arg


def maxpool_backward(dout, arg, x_shape, k, stride):
    """dx: each window's gradient added (+=: a pixel can win several windows) at its winner."""
    N, C, Ho, Wo = dout.shape
    dx = np.zeros(x_shape, dtype=dout.dtype)
    for n in range(N):
        for c in range(C):
            for oh in range(Ho):
                for ow in range(Wo):
                    i, j = divmod(int(arg[n, c, oh, ow]), k)
                    dx[n, c, oh * stride + i, ow * stride + j] += dout[n, c, oh, ow]
    return dx


# --------------------------------------------------------------------------- LRN

def _window(i, C, size):
    """The channels j of window(i): max(0, i - size//2) <= j <= min(C-1, i + size//2)."""
    return range(max(0, i - size // 2), min(C - 1, i + size // 2) + 1)


def _lrn_denominators(a, size, alpha, k):
    """d_i = k + alpha * sum_{j in window(i)} a_j^2, element by element."""
    N, C, H, W = a.shape
    d = np.zeros_like(a)
    for n in range(N):
        for h in range(H):
            for w in range(W):
                for i in range(C):
                    d[n, i, h, w] = k + alpha * sum(a[n, j, h, w] ** 2 for j in _window(i, C, size))
    return d


def lrn_forward(a, size, alpha, beta, k):
    """The paper's section 3.3, element by element:
        d_i = k + alpha * sum_{j in window(i)} a_j^2,    b_i = a_i * d_i^(-beta)   -> b"""
    d = _lrn_denominators(a, size, alpha, k)
    b = np.zeros_like(a)
    for idx in np.ndindex(a.shape):
        b[idx] = a[idx] * d[idx] ** (-beta)
    return b


def lrn_backward(dout, a, size, alpha, beta, k):
    """The chain rule with every term, g = dL/db:  dL/da_j = sum_i g_i * db_i/da_j, where

        db_i/da_j = [i = j] d_i^(-beta) - 2 alpha beta a_j b_i / d_i    (for j in window(i))
    """
    N, C, H, W = a.shape
    d = _lrn_denominators(a, size, alpha, k)
    da = np.zeros_like(a)
    for n in range(N):
        for h in range(H):
            for w in range(W):
                for i in range(C):
                    g, di = dout[n, i, h, w], d[n, i, h, w]
                    bi = a[n, i, h, w] * di ** (-beta)
                    da[n, i, h, w] += g * di ** (-beta)                     # through a_i
                    for j in _window(i, C, size):                           # through d_i
                        da[n, j, h, w] -= g * 2 * alpha * beta * a[n, j, h, w] * bi / di
    return da


# --------------------------------------------------------------------------- BatchNorm

def _channel_values(x, c):
    """The M = N*H*W values of channel c, in the order (n, h, w)."""
    N, _, H, W = x.shape
    return [x[n, c, h, w] for n in range(N) for h in range(H) for w in range(W)]


def batchnorm_normalise(x, mean, var, gamma, beta, eps):
    """y[n, c, h, w] = gamma[c] * (x[n, c, h, w] - mean[c]) / sqrt(var[c] + eps) + beta[c]"""
    y = np.zeros_like(x)
    for n, c, h, w in np.ndindex(x.shape):
        xhat = (x[n, c, h, w] - mean[c]) / np.sqrt(var[c] + eps)
        y[n, c, h, w] = gamma[c] * xhat + beta[c]
    return y


def batchnorm_forward(x, gamma, beta, eps):
    """Per channel c: mean = sum(x) / M, var = sum((x - mean)^2) / M; y normalised by them.
    -> (y, mean, var)"""
    C = x.shape[1]
    mean, var = np.zeros(C, dtype=x.dtype), np.zeros(C, dtype=x.dtype)
    for c in range(C):
        values = _channel_values(x, c)
        mean[c] = sum(values) / len(values)
        var[c] = sum((v - mean[c]) ** 2 for v in values) / len(values)
    return batchnorm_normalise(x, mean, var, gamma, beta, eps), mean, var


def batchnorm_backward(dout, x, mean, var, gamma, eps, batch_stats):
    """-> (dx, dgamma, dbeta), with xhat = (x - mean) / sqrt(var + eps), g = dL/dy and
    sums over the M values of a channel:

        dbeta = sum g,   dgamma = sum g * xhat,   dx = gamma / sqrt(var + eps) * g
        and with the batch's statistics (mean and var depend on x) also the terms through them:
        dx -= gamma / sqrt(var + eps) * (sum g + xhat * sum(g * xhat)) / M
    """
    N, C, H, W = x.shape
    M = N * H * W
    dx = np.zeros_like(dout)
    dgamma, dbeta = np.zeros(C, dtype=dout.dtype), np.zeros(C, dtype=dout.dtype)
    for c in range(C):
        std = np.sqrt(var[c] + eps)
        for n, h, w in np.ndindex(N, H, W):
            dbeta[c] += dout[n, c, h, w]
            dgamma[c] += dout[n, c, h, w] * (x[n, c, h, w] - mean[c]) / std
        for n, h, w in np.ndindex(N, H, W):
            xhat = (x[n, c, h, w] - mean[c]) / std
            dx[n, c, h, w] = gamma[c] / std * dout[n, c, h, w]
            if batch_stats:
                dx[n, c, h, w] -= gamma[c] / std * (dbeta[c] + xhat * dgamma[c]) / M
    return dx, dgamma, dbeta


# --------------------------------------------------------------------------- ReLU, Linear, SGD

def relu_forward(x):
    """y = max(0, x), one element at a time (NaN passes through, as in np.maximum)."""
    y = np.empty_like(x)
    for idx in np.ndindex(x.shape):
        y[idx] = 0 if x[idx] <= 0 else x[idx]
    return y


def relu_backward(dout, y):
    """dL/dx = dL/dy where y > 0, else 0."""
    dx = np.empty_like(dout)
    for idx in np.ndindex(dout.shape):
        dx[idx] = dout[idx] if y[idx] > 0 else 0
    return dx


def scale(x, c):
    """y = c * x, one element at a time."""
    y = np.empty_like(x)
    for idx in np.ndindex(x.shape):
        y[idx] = x[idx] * x.dtype.type(c)
    return y


def linear_weight_grad(dout, x):
    """dL/dW[o, i] = sum_n dout[n, o] * x[n, i]"""
    dW = np.zeros((dout.shape[1], x.shape[1]), dtype=np.result_type(dout, x))
    for o, i in np.ndindex(dW.shape):
        for n in range(dout.shape[0]):
            dW[o, i] += dout[n, o] * x[n, i]
    return dW


def sgd_update(w, v, grad, lr, momentum, weight_decay):
    """In place, one parameter at a time:
        v <- momentum * v - weight_decay * lr * w - lr * grad,    w <- w + v"""
    for idx in np.ndindex(w.shape):
        v[idx] = momentum * v[idx] - weight_decay * lr * w[idx] - lr * grad[idx]
        w[idx] += v[idx]
