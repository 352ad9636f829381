"""2-d convolution by im2col, with the paper's channel groups."""

import numpy as np

from .. import backend
from ..kernels.dispatch import kernel
from ..kernels.im2col import col2im, im2col
from ..shapes import conv_output_hw
from .base import Layer


def _split(a, groups):
    """The rows of `a` in G equal blocks, one per group (W, Y, D by filters, cols by channels)."""
    n = a.shape[0] // groups
    return [a[g * n:(g + 1) * n] for g in range(groups)]


@kernel
def conv_forward(x, W, b, stride=1, pad=0, groups=1):
    """x (N, C, H, W), W (F, C/G, kh, kw), b (F,) -> y (N, F, Ho, Wo)."""
    xp = backend.get_array_module(x)
    F, _, kh, kw = W.shape
    N, _, H, Wd = x.shape
    Ho, Wo = conv_output_hw(H, Wd, kh, kw, stride, pad)
    cols = im2col(x, kh, kw, stride, pad)                              # (C*kh*kw, N*Ho*Wo)
    Wmat = W.reshape(F, -1)                                            # (F, C/G*kh*kw)
    Y = xp.concatenate([W_g @ cols_g for W_g, cols_g in zip(_split(Wmat, groups),
                                                            _split(cols, groups))])
    Y += b[:, None]                                                    # (F, N*Ho*Wo)
    return xp.ascontiguousarray(Y.reshape(F, N, Ho, Wo).transpose(1, 0, 2, 3))


@kernel
def conv_backward(dout, x, W, stride=1, pad=0, groups=1, input_grad=True):
    """dL/dy (N, F, Ho, Wo) -> (dL/dx or None, dL/dW, dL/db)."""
    xp = backend.get_array_module(dout)
    F, _, kh, kw = W.shape
    cols = im2col(x, kh, kw, stride, pad)                              # recomputed
    D = dout.transpose(1, 0, 2, 3).reshape(F, -1)                      # (F, N*Ho*Wo)
    dW = xp.concatenate([D_g @ cols_g.T for D_g, cols_g in zip(_split(D, groups),
                                                               _split(cols, groups))])
    db = D.sum(axis=1)
    if not input_grad:
        return None, dW.reshape(W.shape), db
    Wmat = W.reshape(F, -1)
    dcols = xp.concatenate([W_g.T @ D_g for W_g, D_g in zip(_split(Wmat, groups),
                                                            _split(D, groups))])
    return col2im(dcols, x.shape, kh, kw, stride, pad), dW.reshape(W.shape), db


class Conv2D(Layer):
    """y[n, f] = b[f] + sum_{c, i, j} W[f, c, i, j] * xpad[n, g*C/G + c, oh*s + i, ow*s + j]

    where g = f // (F/G) is the filter's group: with `groups=G` the channels are split in G
    equal blocks and filter block g only sees channel block g. AlexNet's `groups=2` is the
    paper's two-GPU split (conv2, conv4, conv5 each see only the maps of "their" GPU).

    Computation, per group g (rows of `cols` and `W` restricted to that group):
        cols  = im2col(x)                     (C*kh*kw, N*Ho*Wo)     kernels/im2col.py
        Y_g   = W_g @ cols_g + b_g            (F/G, N*Ho*Wo)  -> reshaped to (N, F, Ho, Wo)
    Backward, with D_g = dL/dY_g laid out as (F/G, N*Ho*Wo):
        dW_g  = D_g @ cols_g.T                dL/db = sum of D over all positions
        dcols_g = W_g.T @ D_g                 dx = col2im(dcols)   (sums overlapping windows)

    Backward recomputes `cols` from x instead of keeping it from forward: the layer keeps only
    its input, which the previous layer produced anyway (the columns of a whole batch are large:
    conv1's are 363 x 128*55*55 floats, 560 MB, at batch 128).

    Parameters (PyTorch / Caffe layout): W (F, C/G, kh, kw), b (F,).
    Init: W ~ N(0, weight_std^2), default He's std = sqrt(2 / fan_in); b = `bias` (default 0).
    `backward(dout, input_grad=False)` skips dL/dx, which the first layer never needs.
    (The engine, kernels/fast/conv.py, computes the same in chunks of images, and by Winograd's
    F(2x2, 3x3) for 3x3 filters.)
    """

    can_skip_input_grad = True     # backward(dout, input_grad=False) is supported

    x = None                       # the input, kept by forward for backward

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
        return (N, self.out_channels, *conv_output_hw(H, W, kh, kw, self.stride, self.padding))

    def forward(self, x, train=True):
        self._check_input(x)
        self.x = x if train else None          # (not cols: backward recomputes them)
        return conv_forward(x, self.params["W"], self.params["b"], self.stride, self.padding,
                            self.groups)

    def backward(self, dout, input_grad=True):
        """dL/dy -> dL/dx, filling grads["W"], grads["b"]; `input_grad=False` skips dL/dx
        (returns None), which a network's first layer never needs."""
        if self.x is None:
            raise self._error("backward needs a forward(x, train=True) first")
        dx, self.grads["W"], self.grads["b"] = conv_backward(
            dout, self.x, self.params["W"], self.stride, self.padding, self.groups, input_grad)
        self.x = None
        return dx

    def _check_input(self, x):
        self._check_rank(x, 4, "(N, C, H, W)")
        N, C, H, W = x.shape
        (kh, kw), p = self.kernel_size, self.padding
        if C != self.in_channels:
            raise self._error(f"expected {self.in_channels} input channels, got input of shape "
                              f"{x.shape}")
        if kh > H + 2 * p or kw > W + 2 * p:
            raise self._error(f"kernel {kh}x{kw} is larger than the padded input "
                              f"{H + 2 * p}x{W + 2 * p} (input shape {x.shape}, padding {p})")
