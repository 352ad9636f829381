"""Multiplication by a fixed constant."""

from ..kernels.dispatch import kernel
from .base import Layer


@kernel
def scale(x, c):
    """y = c * x, with c in x's dtype (float32 stays float32)"""
    return x * x.dtype.type(c)


class Scale(Layer):
    """y = c * x   (no parameters)

    Backward: dL/dx = c * dL/dy.
    AlexNet's "he" inits put it first (c = 1/64, or 1/16 for "he16"), in front of conv1: it sets
    the scale conv1's weights live on, and with it how fast conv1 learns (a fixed factor c in
    front of a layer multiplies that layer's effective learning rate by c^2); see
    numpynet/models/alexnet.py.
    """

    def __init__(self, c, name=None):
        super().__init__(name)
        self.c = float(c)

    def describe(self):
        return f"{self.c:g}"

    def forward(self, x, train=True):
        return scale(x, self.c)

    def backward(self, dout):
        return scale(dout, self.c)
