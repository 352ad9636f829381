"""Flatten all but the batch axis: the hand-over from the convolutional stack to fc6."""

from .base import Layer


class Flatten(Layer):
    """y = x.reshape(N, -1)     (N, C, H, W) -> (N, C*H*W), C-order, as PyTorch's flatten

    Backward: dL/dx = dL/dy reshaped back to x's shape.
    """

    def output_shape(self, input_shape):
        size = 1
        for n in input_shape[1:]:
            size *= n
        return (input_shape[0], size)

    def forward(self, x, train=True):
        self.x_shape = x.shape
        return x.reshape(x.shape[0], -1)

    def backward(self, dout):
        return dout.reshape(self.x_shape)
