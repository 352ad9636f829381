"""Max-pooling, overlapping (kernel > stride, as in AlexNet) or not."""

import numpy as np

from .. import backend
from ..kernels.dispatch import kernel
from ..shapes import conv_output_hw
from .base import Layer


def _window(x, i, j, k, stride, Ho, Wo):
    """The (i, j)-th element of every pooling window: a strided view (N, C, Ho, Wo)."""
    return x[:, :, i:i + stride * Ho:stride, j:j + stride * Wo:stride]


@kernel
def maxpool_forward(x, k, stride):
    """x (N, C, H, W) -> y (N, C, Ho, Wo), arg (N, C, Ho, Wo) int32: the winning offset i*k + j
    of each window (the first in row-major order on ties)."""
    xp = backend.get_array_module(x)
    N, C, H, W = x.shape
    Ho, Wo = conv_output_hw(H, W, k, k, stride, 0)
    windows = xp.stack([_window(x, i, j, k, stride, Ho, Wo)
                        for i in range(k) for j in range(k)])        # (k*k, N, C, Ho, Wo)
    arg = windows.argmax(axis=0).astype(np.int32)                    # first max on ties
    y = xp.take_along_axis(windows, arg[None].astype(np.intp), axis=0)[0]
    return y, arg


@kernel
def maxpool_backward(dout, arg, x_shape, k, stride):
    """dout (N, C, Ho, Wo) -> dx (N, C, H, W): each gradient added at its window's winner."""
    xp = backend.get_array_module(dout)
    N, C, Ho, Wo = dout.shape
    dx = xp.zeros(x_shape, dtype=dout.dtype)
    for i in range(k):
        for j in range(k):
            won = arg == i * k + j
            _window(dx, i, j, k, stride, Ho, Wo)[...] += xp.where(won, dout, 0)   # +=: overlap
    return dx


class MaxPool2D(Layer):
    """y[n, c, oh, ow] = max_{0 <= i, j < k} x[n, c, oh*s + i, ow*s + j]

    kernel_size=3, stride=2 is the paper's overlapping pooling (section 3.4: it lowered top-1
    error by 0.4% against 2x2 stride-2 pooling); kernel_size == stride is the classic kind.

    Backward: dL/dx[n, c, h, w] = sum of dL/dy over the windows whose max was at (h, w).
    Ties go to the first position in row-major window order, so the result is deterministic.
    With overlap one pixel can win several windows, hence a sum, not an assignment.
    """

    arg = None                       # where each max was, kept by forward for backward

    def __init__(self, kernel_size, stride=None, name=None):
        super().__init__(name)
        self.kernel_size = kernel_size
        self.stride = kernel_size if stride is None else stride
        if self.kernel_size < 1 or self.stride < 1:
            raise self._error(f"kernel_size and stride must be >= 1, got {kernel_size}, {stride}")

    def describe(self):
        return f"{self.kernel_size}x{self.kernel_size}, stride {self.stride}"

    def output_shape(self, input_shape):
        N, C, H, W = input_shape
        k, s = self.kernel_size, self.stride
        return (N, C, *conv_output_hw(H, W, k, k, s, 0))

    def forward(self, x, train=True):
        self._check_rank(x, 4, "(N, C, H, W)")
        k = self.kernel_size
        if k > x.shape[2] or k > x.shape[3]:
            raise self._error(f"pooling window {k}x{k} is larger than the input {x.shape}")
        y, arg = maxpool_forward(x, k, self.stride)
        self.arg, self.x_shape = (arg if train else None), x.shape
        return y

    def backward(self, dout):
        if self.arg is None:
            raise self._error("backward needs a forward(x, train=True) first")
        dx = maxpool_backward(dout, self.arg, self.x_shape, self.kernel_size, self.stride)
        self.arg = None
        return dx
