"""Local response normalisation (Krizhevsky et al. 2012, section 3.3)."""

from .. import backend
from ..kernels.dispatch import kernel
from .base import Layer


def window_sum(t, size):
    """sum_{j in window(i)} t_j along the channel axis 1, the window clipped at the edges."""
    xp = backend.get_array_module(t)
    C, half = t.shape[1], size // 2
    tpad = xp.pad(t, ((0, 0), (half, half), (0, 0), (0, 0)))   # zeros = the clipping
    total = xp.zeros_like(t)
    for offset in range(size):
        total += tpad[:, offset:offset + C]
    return total


@kernel
def lrn_forward(a, size, alpha, beta, k):
    """a (N, C, H, W) -> b:  d = k + alpha * window_sum(a^2),  b = a * d^(-beta)"""
    d = k + alpha * window_sum(a * a, size)
    return a * d ** (-beta)


@kernel
def lrn_backward(dout, a, size, alpha, beta, k):
    """dL/db -> dL/da = g d^(-beta) - 2 alpha beta a * window_sum(g b / d), from a alone (d and b
    recomputed: cheaper than keeping two activation-sized arrays from forward)."""
    d = k + alpha * window_sum(a * a, size)
    b = a * d ** (-beta)
    return dout * d ** (-beta) - (2 * alpha * beta) * a * window_sum(dout * b / d, size)


class LocalResponseNorm(Layer):
    """Normalise each activation by the energy of its neighbours across channels:

        d_i = k + alpha * sum_{j in window(i)} a_j^2,     b_i = a_i * d_i^(-beta)

    with window(i) = [max(0, i - size//2), min(C-1, i + size//2)], clipped at the first and
    last channel. Paper values: size=5 ("n"), k=2, alpha=1e-4, beta=0.75.

    Note on alpha: this is the paper's formula, alpha multiplies the plain sum. Caffe and
    PyTorch (`nn.LocalResponseNorm`) divide alpha by `size` inside the layer, so the paper's
    network is PyTorch's LocalResponseNorm(5, alpha=5e-4, beta=0.75, k=2), i.e. pass
    alpha_pytorch = alpha_here * size; Caffe's reference model (alpha=1e-4, k=1 there) is
    LocalResponseNorm(alpha=2e-5, k=1) here.

    Backward. b_i depends on a_j through a_i (when i = j) and through d_i (when j in window(i)):

        db_i/da_j = [i = j] d_i^(-beta) - beta a_i d_i^(-beta-1) * 2 alpha a_j [j in window(i)]

    Summing over i with g_i = dL/db_i and using b_i = a_i d_i^(-beta):

        dL/da_j = g_j d_j^(-beta) - 2 alpha beta a_j * sum_{i : j in window(i)} g_i b_i / d_i

    and `j in window(i)` <=> `i in window(j)`, so the second sum is the same clipped window sum
    as in the forward pass, applied to g * b / d. (Forgetting the cross terms, i.e. keeping only
    i = j, is a classic mistake that a gradient check at alpha ~ 1e-4 and unit inputs barely
    notices; tests/test_layers.py checks at alpha ~ 1 and activations ~ 100 where it shows.)
    """

    x = None                       # the input, kept by forward for backward

    def __init__(self, size=5, alpha=1e-4, beta=0.75, k=2.0, name=None):
        super().__init__(name)
        if size < 1 or size % 2 == 0:
            raise self._error(f"size must be a positive odd number (a window centred on the "
                              f"channel), got {size}")
        self.size, self.alpha, self.beta, self.k = size, float(alpha), float(beta), float(k)

    def describe(self):
        return f"size={self.size}, alpha={self.alpha:g}, beta={self.beta:g}, k={self.k:g}"

    def forward(self, x, train=True):
        self._check_rank(x, 4, "(N, C, H, W)")
        self.x = x if train else None              # all backward needs: it recomputes d
        return lrn_forward(x, self.size, self.alpha, self.beta, self.k)

    def backward(self, dout):
        if self.x is None:
            raise self._error("backward needs a forward(x, train=True) first")
        x, self.x = self.x, None
        return lrn_backward(dout, x, self.size, self.alpha, self.beta, self.k)
