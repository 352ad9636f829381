"""The SGD-with-momentum update (numpynet/optim.py has the formula), as one pass over memory.

    v <- momentum * v - (weight_decay * lr) * w - lr * g
    w <- w + v

- `sgd_update_reference`: four in-place NumPy statements. Each is a full pass over the
  parameters, and two of them make a temporary the size of the parameter: for AlexNet's 61M
  parameters that is about 2 GB of memory traffic per step.
- `sgd_update_numba`: the same arithmetic, in the same order, fused into one parallel loop:
  each element of w, v and g is read once and w, v written once (about 1.2 GB). The scalars
  are converted to the parameters' dtype first, so float32 stays float32.
"""

import numba

from .. import backend
from ..backend import gpu_kernels


def sgd_update_reference(w, v, grad, lr, momentum, weight_decay):
    """Update w and v in place."""
    v *= momentum
    if weight_decay:
        v -= (weight_decay * lr) * w
    v -= lr * grad
    w += v


@numba.njit(parallel=True, cache=True)
def _sgd_update_kernel(w, v, grad, lr, momentum, decay_lr):
    for i in numba.prange(w.shape[0]):
        step = momentum * v[i] - decay_lr * w[i] - lr * grad[i]
        v[i] = step
        w[i] += step


def sgd_update_numba(w, v, grad, lr, momentum, weight_decay):
    """Same as `sgd_update_reference`; w and v must be C-contiguous (they are updated through
    flat views)."""
    t = w.dtype.type
    _sgd_update_kernel(w.reshape(-1), v.reshape(-1), grad.reshape(-1), t(lr), t(momentum),
                       t(weight_decay * lr))


def sgd_update(w, v, grad, lr, momentum, weight_decay):
    """Update parameter w and its velocity v in place from gradient grad."""
    path = backend.kernel_path(w)
    if path == "gpu":
        fused = getattr(gpu_kernels(), "sgd_update", None)
        if fused is not None:
            return fused(w, v, grad, lr, momentum, weight_decay)
    elif (path == "numba" and w.flags.c_contiguous and v.flags.c_contiguous
          and w.dtype == v.dtype and grad.shape == w.shape):
        return sgd_update_numba(w, v, grad, lr, momentum, weight_decay)
    return sgd_update_reference(w, v, grad, lr, momentum, weight_decay)
