"""Multiplication by a fixed constant."""

from .. import backend
from ..memory import POOL
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
        return self._times_c(x)

    def backward(self, dout):
        return self._times_c(dout)

    def _times_c(self, a):
        xp = backend.get_array_module(a)
        return xp.multiply(a, a.dtype.type(self.c), out=POOL.empty(a.shape, a.dtype, xp))
