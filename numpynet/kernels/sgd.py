"""The SGD-with-momentum update (numpynet/optim.py has the formula), as one pass over memory.

    v <- momentum * v - (weight_decay * lr) * w - lr * g
    w <- w + v

- `numpynet.kernels.naive`: one loop over the elements.
- `sgd_update_reference`: four in-place array statements (NumPy or CuPy). Each is a full pass
  over the parameters, and two of them make a temporary the size of the parameter: for
  AlexNet's 61M parameters that is about 2 GB of memory traffic per step.
- `sgd_update_numba`: the same arithmetic, in the same order, fused into one parallel loop:
  each element of w, v and g is read once and w, v written once (about 1.2 GB). The scalars
  are converted to the parameters' dtype first, so float32 stays float32.
"""

import numba

from . import dispatch


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
    """Same as `sgd_update_reference`. The kernel runs over flat views, so it needs w and v
    C-contiguous, of one dtype, and grad of w's shape; anything else takes the reference lines."""
    if not (w.flags.c_contiguous and v.flags.c_contiguous and w.dtype == v.dtype
            and grad.shape == w.shape):
        return sgd_update_reference(w, v, grad, lr, momentum, weight_decay)
    t = w.dtype.type
    _sgd_update_kernel(w.reshape(-1), v.reshape(-1), grad.reshape(-1), t(lr), t(momentum),
                       t(weight_decay * lr))


sgd_update = dispatch.kernel("sgd_update", sgd_update_reference, sgd_update_numba)
