"""ReLU forward and backward (layers/relu.py has the math), compiled; and Scale's product.

One parallel pass over memory each, into an array from the pool: NumPy's `where` has no `out=`,
and its replacement `multiply(dout, y > 0, out=...)` makes a temporary mask the size of the
activation.
"""

import numba
import numpy as np

from .memory import POOL

__all__ = ["relu_backward", "relu_forward", "scale"]


@numba.njit(parallel=True, cache=True)
def _relu_forward_kernel(x, y):
    for i in numba.prange(x.shape[0]):
        y[i] = 0 if x[i] <= 0 else x[i]            # (NaN passes, as in np.maximum)


@numba.njit(parallel=True, cache=True)
def _relu_backward_kernel(dout, y, dx):
    for i in numba.prange(dout.shape[0]):
        dx[i] = dout[i] if y[i] > 0 else 0


def _flat(a):
    return np.ascontiguousarray(a).reshape(-1)


def relu_forward(x, out=None):
    y = POOL.empty(x.shape, x.dtype) if out is None else out
    _relu_forward_kernel(_flat(x), y.reshape(-1))
    return y


def relu_backward(dout, y, out=None):
    dx = POOL.empty(dout.shape, dout.dtype) if out is None else out
    _relu_backward_kernel(_flat(dout), _flat(y), dx.reshape(-1))
    return dx


def scale(x, c, out=None):
    """c * x into an array from the pool (a fresh one would cost more in page faults than the
    product: x is AlexNet's whole input batch)."""
    y = POOL.empty(x.shape, x.dtype) if out is None else out
    return np.multiply(x, x.dtype.type(c), out=y)

