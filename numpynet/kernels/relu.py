"""ReLU forward and backward, writing into a given array.

    y = max(0, x)                       dL/dx = dL/dy where y > 0, else 0

(y > 0 exactly where x > 0, so backward needs only the output.)

- `numpynet.kernels.naive`: one loop over the elements.
- `*_reference`: `maximum` and `where`, which run on NumPy and CuPy alike (there are no GPU
  kernels: on a GPU these lines run as they are).
- `*_numba`: one parallel pass over memory each. Their point is the `out=` array (from the
  layers' memory pool): NumPy's `where` has no `out=`, and its replacement
  `multiply(dout, y > 0, out=...)` makes a temporary mask the size of the activation.
"""

import numba
import numpy as np

from .. import backend
from . import dispatch


def relu_forward_reference(x, out=None):
    xp = backend.get_array_module(x)
    return xp.maximum(x, 0, out=out)           # (0 is a weak scalar: y keeps x's dtype)


def relu_backward_reference(dout, y, out=None):
    xp = backend.get_array_module(dout)
    dx = xp.where(y > 0, dout, 0)
    if out is None:
        return dx
    out[...] = dx
    return out


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


def relu_forward_numba(x, out=None):
    y = np.empty_like(x) if out is None else out
    _relu_forward_kernel(_flat(x), y.reshape(-1))
    return y


def relu_backward_numba(dout, y, out=None):
    dx = np.empty(dout.shape, dout.dtype) if out is None else out
    _relu_backward_kernel(_flat(dout), _flat(y), dx.reshape(-1))
    return dx


# --------------------------------------------------------------------------- the kernels

relu_forward = dispatch.kernel("relu_forward", relu_forward_reference, relu_forward_numba)
relu_backward = dispatch.kernel("relu_backward", relu_backward_reference, relu_backward_numba)
