"""Stochastic gradient descent with momentum and weight decay, in the paper's form (section 5).

    v <- momentum * v - weight_decay * lr * w - lr * dL/dw
    w <- w + v

(momentum 0.9, weight decay 5e-4, lr 0.01 in the paper.) The learning rate sits inside the
velocity, as in the paper and in Caffe; PyTorch's SGD puts it outside (v <- m v + g, w <- w - lr v).
The two agree while lr is constant and differ only in how a change of lr takes effect.

Weight decay applies to weights ("W", "gamma" is left alone) and not to biases by default, as in
the BVLC Caffe replication (`decay_biases=True` decays everything).
The updates are in place: the arrays in each layer's `params` are modified, never replaced.
"""

from . import backend
from .kernels.dispatch import kernel


@kernel
def sgd_update(w, v, grad, lr, momentum, weight_decay):
    """v <- momentum * v - weight_decay * lr * w - lr * grad;  w <- w + v   (in place)"""
    v *= momentum
    if weight_decay:
        v -= (weight_decay * lr) * w
    v -= lr * grad
    w += v


class SGD:
    def __init__(self, net, lr=0.01, momentum=0.9, weight_decay=5e-4, decay_biases=False):
        self.net, self.lr, self.momentum = net, lr, momentum
        self.weight_decay, self.decay_biases = weight_decay, decay_biases
        self.velocity = {}                     # "<layer>.<param>" -> array like the param

    def _decays(self, name):
        return name == "W" or (self.decay_biases and name == "b")

    def step(self):
        """Apply one update from the gradients that the last backward pass left in the layers."""
        for layer, name, w, grad in self.net.parameters():
            if grad is None:
                raise ValueError(f"SGD: no gradient for {layer.name}.{name}; call backward first")
            key = f"{layer.name}.{name}"
            v = self.velocity.get(key)
            if v is None:
                v = self.velocity[key] = backend.get_array_module(w).zeros_like(w)
            decay = self.weight_decay if self._decays(name) else 0.0
            sgd_update(w, v, grad, self.lr, self.momentum, decay)

    def state_dict(self):
        return {"lr": self.lr, "momentum": self.momentum, "weight_decay": self.weight_decay,
                "velocity": dict(self.velocity)}

    def load_state_dict(self, state):
        self.lr, self.momentum = float(state["lr"]), float(state["momentum"])
        self.weight_decay = float(state["weight_decay"])
        params = {f"{layer.name}.{name}": w for layer, name, w, _ in self.net.parameters()}
        self.velocity = {}
        for key, v in state["velocity"].items():
            if key not in params or tuple(params[key].shape) != tuple(v.shape):
                raise ValueError(f"SGD: saved velocity {key} does not fit this network")
            xp = backend.get_array_module(params[key])
            self.velocity[key] = xp.asarray(v, dtype=params[key].dtype)
