"""2-d convolution by im2col, with the paper's channel groups."""

import numpy as np

from .. import backend
from ..kernels.im2col import col2im, conv_output_size, im2col
from .base import Layer


class Conv2D(Layer):
    """y[n, f] = b[f] + sum_{c, i, j} W[f, c, i, j] * xpad[n, g*C/G + c, oh*s + i, ow*s + j]

    where g = f // (F/G) is the filter's group: with `groups=G` the channels are split in G
    equal blocks and filter block g only sees channel block g. AlexNet's `groups=2` is the
    paper's two-GPU split (conv2, conv4, conv5 each see only the maps of "their" GPU).

    Computation, per group g (rows of `cols` and `W` restricted to that group):
        cols  = im2col(x)                     (C*kh*kw, N*Ho*Wo)
        Y_g   = W_g @ cols_g + b_g            (F/G, N*Ho*Wo)  -> reshaped to (N, F, Ho, Wo)
    Backward, with D_g = dL/dY_g laid out as (F/G, N*Ho*Wo):
        dW_g  = D_g @ cols_g.T                dL/db = sum of D over all positions
        dcols_g = W_g.T @ D_g                 dx = col2im(dcols)   (sums overlapping windows)

    Parameters (PyTorch / Caffe layout): W (F, C/G, kh, kw), b (F,).
    Init: W ~ N(0, weight_std^2), default He's std = sqrt(2 / fan_in); b = `bias` (default 0).
    """

    def __init__(self, in_channels, out_channels, kernel_size, stride=1, padding=0, groups=1,
                 name=None, rng=None, weight_std=None, bias=0.0):
        super().__init__(name)
        if groups < 1 or in_channels % groups or out_channels % groups:
            raise self._error(f"in_channels={in_channels} and out_channels={out_channels} must "
                              f"both be divisible by groups={groups}")
        kh, kw = (kernel_size, kernel_size) if np.isscalar(kernel_size) else kernel_size
        self.in_channels, self.out_channels, self.groups = in_channels, out_channels, groups
        self.kernel_size, self.stride, self.padding = (kh, kw), stride, padding
        rng = np.random.default_rng(rng)
        std = np.sqrt(2 / (in_channels // groups * kh * kw)) if weight_std is None else weight_std
        self.params["W"] = rng.standard_normal((out_channels, in_channels // groups, kh, kw),
                                               dtype=np.float32) * np.float32(std)
        self.params["b"] = np.full(out_channels, bias, dtype=np.float32)

    def describe(self):
        kh, kw = self.kernel_size
        s = f"{self.in_channels}->{self.out_channels}, {kh}x{kw}, stride {self.stride}"
        if self.padding:
            s += f", pad {self.padding}"
        return s + (f", groups {self.groups}" if self.groups > 1 else "")

    def output_shape(self, input_shape):
        N, C, H, W = input_shape
        kh, kw = self.kernel_size
        return (N, self.out_channels, conv_output_size(H, kh, self.stride, self.padding),
                conv_output_size(W, kw, self.stride, self.padding))

    def _check_input(self, x):
        self._check_rank(x, 4, "(N, C, H, W)")
        N, C, H, W = x.shape
        kh, kw = self.kernel_size
        p = self.padding
        if C != self.in_channels:
            raise self._error(f"expected {self.in_channels} input channels, got input of shape "
                              f"{x.shape}")
        if kh > H + 2 * p or kw > W + 2 * p:
            raise self._error(f"kernel {kh}x{kw} is larger than the padded input "
                              f"{H + 2 * p}x{W + 2 * p} (input shape {x.shape}, padding {p})")

    def forward(self, x, train=True):
        self._check_input(x)
        xp = backend.get_array_module(x)
        W, b = self.params["W"], self.params["b"]
        N = x.shape[0]
        F, G = self.out_channels, self.groups
        _, _, Ho, Wo = self.output_shape(x.shape)
        (kh, kw), s, p = self.kernel_size, self.stride, self.padding
        cols = im2col(x, kh, kw, s, p)                       # (C*kh*kw, N*Ho*Wo)
        Fg, Kg = F // G, cols.shape[0] // G
        out = xp.empty((F, N * Ho * Wo), dtype=xp.result_type(x.dtype, W.dtype))
        for g in range(G):
            xp.matmul(W[g * Fg:(g + 1) * Fg].reshape(Fg, Kg), cols[g * Kg:(g + 1) * Kg],
                      out=out[g * Fg:(g + 1) * Fg])
        out += b.reshape(F, 1)
        self.cache = (x.shape, cols)
        # (F, N, Ho, Wo) -> (N, F, Ho, Wo)
        return xp.ascontiguousarray(out.reshape(F, N, Ho, Wo).transpose(1, 0, 2, 3))

    def backward(self, dout):
        xp = backend.get_array_module(dout)
        x_shape, cols = self.cache
        W = self.params["W"]
        F, G = self.out_channels, self.groups
        (kh, kw), s, p = self.kernel_size, self.stride, self.padding
        Fg, Kg = F // G, cols.shape[0] // G
        D = xp.ascontiguousarray(dout.transpose(1, 0, 2, 3)).reshape(F, -1)  # (F, N*Ho*Wo)
        dW = xp.empty(W.shape, dtype=xp.result_type(D.dtype, cols.dtype))
        dcols = xp.empty((cols.shape[0], cols.shape[1]), dtype=xp.result_type(D.dtype, W.dtype))
        for g in range(G):
            D_g, cols_g = D[g * Fg:(g + 1) * Fg], cols[g * Kg:(g + 1) * Kg]
            W_g = W[g * Fg:(g + 1) * Fg].reshape(Fg, Kg)
            dW[g * Fg:(g + 1) * Fg] = (D_g @ cols_g.T).reshape(Fg, -1, kh, kw)
            xp.matmul(W_g.T, D_g, out=dcols[g * Kg:(g + 1) * Kg])
        self.grads["W"] = dW
        self.grads["b"] = D.sum(axis=1)
        self.cache = None
        return col2im(dcols, x_shape, kh, kw, s, p)
