"""Multiplication by a fixed constant."""

from .base import Layer


class Scale(Layer):
    """y = c * x   (no parameters)

    Backward: dL/dx = c * dL/dy.
    AlexNet's default init uses it as its first layer, c = 1/64, to bring the input (0-255
    pixels minus the mean image, std about 64) to unit scale; see numpynet/models/alexnet.py.
    """

    def __init__(self, c, name=None):
        super().__init__(name)
        self.c = float(c)

    def describe(self):
        return f"{self.c:g}"

    def forward(self, x, train=True):
        return x * x.dtype.type(self.c)

    def backward(self, dout):
        return dout * dout.dtype.type(self.c)
