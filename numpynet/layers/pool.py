"""Max-pooling, overlapping (kernel > stride, as in AlexNet) or not."""

import numpy as np

from .. import backend
from ..kernels.pool import maxpool_backward, maxpool_forward
from ..memory import POOL
from ..shapes import conv_output_hw
from .base import Layer


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
        xp = backend.get_array_module(x)
        shape = self.output_shape(x.shape)
        out = POOL.empty(shape, x.dtype, xp), POOL.empty(shape, np.int32, xp)
        y, arg = maxpool_forward(x, k, self.stride, out=out)
        self.arg, self.x_shape = (arg if train else None), x.shape
        return y

    def backward(self, dout):
        if self.arg is None:
            raise self._error("backward needs a forward(x, train=True) first")
        xp = backend.get_array_module(dout)
        dx = maxpool_backward(dout, self.arg, self.x_shape, self.kernel_size, self.stride,
                              out=POOL.empty(self.x_shape, dout.dtype, xp))
        self.arg = None
        return dx
