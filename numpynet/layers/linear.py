"""Fully connected layer."""

import numpy as np

from ..kernels.dispatch import kernel
from .base import Layer


@kernel
def linear_weight_grad(dout, x):
    """dL/dW = dout.T @ x      dout (N, out), x (N, in) -> (out, in)"""
    return dout.T @ x


class Linear(Layer):
    """y = x @ W.T + b           x (N, in), W (out, in), b (out,), y (N, out)

    Backward:  dL/dW = dout.T @ x      dL/db = sum_n dout[n]      dL/dx = dout @ W
    Init: W ~ N(0, weight_std^2), default He's std = sqrt(2 / in_features); b = `bias` (default 0).

    `backward(dout, input_grad=False)` skips dL/dx.
    """

    can_skip_input_grad = True     # backward(dout, input_grad=False) is supported

    x = None                       # the input, kept by forward for backward

    def __init__(self, in_features, out_features, name=None, rng=None, weight_std=None, bias=0.0):
        super().__init__(name)
        self.in_features, self.out_features = in_features, out_features
        rng = np.random.default_rng(rng)
        std = np.sqrt(2 / in_features) if weight_std is None else weight_std
        self.params["W"] = rng.standard_normal((out_features, in_features), dtype=np.float32) \
            * np.float32(std)
        self.params["b"] = np.full(out_features, bias, dtype=np.float32)

    def describe(self):
        return f"{self.in_features}->{self.out_features}"

    def output_shape(self, input_shape):
        return (input_shape[0], self.out_features)

    def forward(self, x, train=True):
        self._check_rank(x, 2, "(N, features)")
        if x.shape[1] != self.in_features:
            raise self._error(f"expected {self.in_features} input features, got input of shape "
                              f"{x.shape}")
        self.x = x if train else None
        y = x @ self.params["W"].T
        y += self.params["b"]
        return y

    def backward(self, dout, input_grad=True):
        if self.x is None:
            raise self._error("backward needs a forward(x, train=True) first")
        self.grads["W"] = linear_weight_grad(dout, self.x)
        self.grads["b"] = dout.sum(axis=0)
        self.x = None
        return dout @ self.params["W"] if input_grad else None
