"""Numerical gradient checks: is a hand-derived backward pass right?

For a layer y = f(x; params) and a fixed random upstream gradient G, take the scalar
L = sum(f(x) * G), whose gradient is exactly what backward(G) claims to compute. Compare with
central differences, one element at a time:

    dL/dx_i  ~  (L(x + h e_i) - L(x - h e_i)) / (2h)          (error O(h^2))

Run it in float64: in float32 the rounding error of L divided by h swamps the comparison.
The score is the relative error of the whole gradient, ||a - n|| / (||a|| + ||n||): about 1e-10
for a correct layer in float64, about 1e-2 or more for a wrong one.
"""

import numpy as np


def numerical_gradient(f, x, h=1e-5):
    """Central-difference gradient of the scalar function f() with respect to the array x,
    which f reads and which is perturbed in place (and restored)."""
    grad = np.zeros_like(x, dtype=np.float64)
    flat_x, flat_g = x.reshape(-1), grad.reshape(-1)
    for i in range(flat_x.size):
        flat_g[i] = central_difference(f, flat_x, i, h)
    return grad


def central_difference(f, flat, i, h):
    """(f(flat[i] + h) - f(flat[i] - h)) / 2h, with flat[i] perturbed in place and restored."""
    old = flat[i]
    flat[i] = old + h
    plus = f()
    flat[i] = old - h
    minus = f()
    flat[i] = old
    return (plus - minus) / (2 * h)


def relative_error(analytic, numeric):
    """||a - n|| / (||a|| + ||n||), 0 when both are 0."""
    a = np.asarray(analytic, dtype=np.float64)
    n = np.asarray(numeric, dtype=np.float64)
    denom = np.linalg.norm(a) + np.linalg.norm(n)
    return 0.0 if denom == 0 else float(np.linalg.norm(a - n) / denom)


def check_layer(layer, x, dout=None, h=1e-5, forward=None, seed=0):
    """Compare `layer.backward` with numerical gradients for x and every parameter.

    `forward(x)` defaults to `layer.forward(x, train=True)`; pass your own to pin randomness
    (e.g. reseed a dropout layer before each call). Returns {"x": err, "<param>": err, ...}.
    """
    forward = forward or (lambda inp: layer.forward(inp, train=True))
    x = np.array(x, dtype=np.float64)
    y = forward(x)
    if dout is None:
        dout = np.random.default_rng(seed).standard_normal(y.shape)
    dx = layer.backward(dout)

    def loss():
        return float(np.sum(forward(x) * dout))

    errors = {"x": relative_error(dx, numerical_gradient(loss, x, h))}
    for name, param in layer.params.items():
        errors[name] = relative_error(layer.grads[name], numerical_gradient(loss, param, h))
    return errors


def check_loss(loss_layer, logits, labels, h=1e-5):
    """The same for a loss layer: forward(logits, labels) -> scalar, backward() -> dlogits."""
    logits = np.array(logits, dtype=np.float64)
    loss_layer.forward(logits, labels)
    analytic = loss_layer.backward()
    numeric = numerical_gradient(lambda: loss_layer.forward(logits, labels), logits, h)
    return relative_error(analytic, numeric)
