"""Rectified linear unit."""

from .. import backend
from ..kernels.dispatch import kernel
from .base import Layer


@kernel
def relu_forward(x):
    """y = max(0, x)"""
    xp = backend.get_array_module(x)
    return xp.maximum(x, 0)                    # (0 is a weak scalar: y keeps x's dtype)


@kernel
def relu_backward(dout, y):
    """dL/dx = dL/dy where y > 0, else 0"""
    xp = backend.get_array_module(dout)
    return xp.where(y > 0, dout, 0)


class ReLU(Layer):
    """y = max(0, x)

    Backward: dL/dx = dL/dy where x > 0, else 0.
    (Section 3.1 of the paper: with ReLUs a CNN reaches 25% training error on CIFAR-10 six times
    faster than with tanh; notebook 1 repeats that experiment in miniature.)

    x > 0 exactly where y > 0, so the layer keeps its output y for backward rather than a mask:
    in AlexNet the next layer (conv, LRN, linear) keeps that same array as its input anyway, so
    the ReLU costs no memory of its own.
    """

    y = None                       # the output, kept by forward for backward

    def forward(self, x, train=True):
        y = relu_forward(x)
        self.y = y if train else None
        return y

    def backward(self, dout):
        if self.y is None:
            raise self._error("backward needs a forward(x, train=True) first")
        dx = relu_backward(dout, self.y)
        self.y = None
        return dx
