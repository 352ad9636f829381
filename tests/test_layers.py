"""Every layer: gradient checks on awkward shapes, a hand-computed example, and bad input.

Gradient checks run in float64 with both the Numba and the reference kernels (the `kernels`
fixture), and require a relative error below 1e-6 for the input and every parameter.
"""

import numpy as np
import pytest

import numpynet as nn
from numpynet.gradcheck import check_layer, check_loss
from numpynet.layers.lrn import window_sum

TOL = 1e-6


def as_float64(layer):
    for name in layer.params:
        layer.params[name] = layer.params[name].astype(np.float64)
    for name in layer.buffers:
        layer.buffers[name] = layer.buffers[name].astype(np.float64)
    return layer


def assert_grads_ok(errors):
    bad = {k: v for k, v in errors.items() if not v < TOL}
    assert not bad, f"relative errors above {TOL}: {bad} (all: {errors})"


def distinct(rng, shape, spacing=0.01):
    """Values at least `spacing` apart (no ties to flip under a finite-difference step)."""
    n = int(np.prod(shape))
    return (rng.permutation(n) * spacing - n * spacing / 2).reshape(shape)


# --------------------------------------------------------------------------- Conv2D

CONV_CASES = [  # (N, C, H, W, F, k, stride, pad, groups)
    (2, 3, 7, 7, 4, 3, 1, 0, 1),
    (2, 4, 9, 8, 6, 3, 2, 1, 2),      # stride > 1, padding, groups=2, non-square input
    (1, 2, 11, 11, 4, 5, 4, 2, 1),    # batch of 1, kernel > stride (overlap), conv1-like stride
    (2, 4, 6, 5, 4, 3, 1, 1, 2),      # conv4/5-like: 3x3 pad 1, groups=2
]


@pytest.mark.parametrize("case", CONV_CASES)
def test_conv_gradients(case, kernels, rng):
    N, C, H, W, F, k, s, p, g = case
    layer = as_float64(nn.Conv2D(C, F, k, stride=s, padding=p, groups=g, rng=1))
    layer.params["b"] = rng.standard_normal(F)
    assert_grads_ok(check_layer(layer, rng.standard_normal((N, C, H, W))))


def test_conv_hand_example():
    # 1 image, 1 channel 3x3, one 2x2 filter of ones: each output is a window sum
    layer = nn.Conv2D(1, 1, 2)
    layer.params["W"] = np.ones((1, 1, 2, 2), np.float32)
    layer.params["b"] = np.array([0.5], np.float32)
    x = np.arange(9, dtype=np.float32).reshape(1, 1, 3, 3)
    np.testing.assert_array_equal(layer.forward(x)[0, 0], [[8.5, 12.5], [20.5, 24.5]])
    # with padding 1 the corner output sees only x[0, 0]
    layer = nn.Conv2D(1, 1, 2, padding=1)
    layer.params["W"] = np.ones((1, 1, 2, 2), np.float32)
    assert layer.forward(x)[0, 0, 0, 0] == 0 and layer.forward(x)[0, 0, 3, 3] == 8


def test_conv_equals_direct_convolution(rng):
    """im2col + matmul against the definition written as plain loops."""
    N, C, H, W, F, k, s, p, g = 2, 4, 7, 6, 6, 3, 2, 1, 2
    layer = nn.Conv2D(C, F, k, stride=s, padding=p, groups=g, rng=0)
    x = rng.standard_normal((N, C, H, W)).astype(np.float32)
    y = layer.forward(x)
    Wt, b = layer.params["W"], layer.params["b"]
    xpad = np.pad(x, ((0, 0), (0, 0), (p, p), (p, p)))
    Cg, Fg = C // g, F // g
    expected = np.zeros_like(y)
    for n in range(N):
        for f in range(F):
            grp = f // Fg
            for oh in range(y.shape[2]):
                for ow in range(y.shape[3]):
                    patch = xpad[n, grp * Cg:(grp + 1) * Cg, oh * s:oh * s + k, ow * s:ow * s + k]
                    expected[n, f, oh, ow] = np.sum(patch * Wt[f]) + b[f]
    np.testing.assert_allclose(y, expected, rtol=1e-5, atol=1e-5)


def test_groups_equal_two_independent_convolutions(rng):
    """groups=2 == two half-width convolutions on the two halves of the channels."""
    N, C, H, W, F = 2, 6, 8, 7, 4
    grouped = nn.Conv2D(C, F, 3, stride=1, padding=1, groups=2, rng=0)
    halves = [nn.Conv2D(C // 2, F // 2, 3, padding=1) for _ in range(2)]
    for i, half in enumerate(halves):
        half.params["W"] = grouped.params["W"][i * F // 2:(i + 1) * F // 2].copy()
        half.params["b"] = rng.standard_normal(F // 2).astype(np.float32)
    grouped.params["b"] = np.concatenate([h.params["b"] for h in halves])
    x = rng.standard_normal((N, C, H, W)).astype(np.float32)
    y = grouped.forward(x)
    y_halves = [h.forward(x[:, i * C // 2:(i + 1) * C // 2]) for i, h in enumerate(halves)]
    np.testing.assert_allclose(y, np.concatenate(y_halves, axis=1), rtol=1e-5, atol=1e-5)

    dout = rng.standard_normal(y.shape).astype(np.float32)
    dx = grouped.backward(dout)
    dx_halves = [h.backward(dout[:, i * F // 2:(i + 1) * F // 2]) for i, h in enumerate(halves)]
    np.testing.assert_allclose(dx, np.concatenate(dx_halves, axis=1), rtol=1e-5, atol=1e-5)
    for name in "Wb":
        np.testing.assert_allclose(grouped.grads[name],
                                   np.concatenate([h.grads[name] for h in halves]),
                                   rtol=1e-5, atol=1e-5)


def test_conv_bad_input():
    with pytest.raises(ValueError, match="divisible by groups"):
        nn.Conv2D(3, 96, 11, groups=2)
    layer = nn.Conv2D(3, 4, 5, name="conv1")
    with pytest.raises(ValueError, match=r"conv1.*4-d input.*\(3, 8, 8\)"):
        layer.forward(np.zeros((3, 8, 8), np.float32))
    with pytest.raises(ValueError, match=r"conv1.*3 input channels.*\(1, 4, 8, 8\)"):
        layer.forward(np.zeros((1, 4, 8, 8), np.float32))
    with pytest.raises(ValueError, match=r"conv1.*kernel 5x5 is larger than the padded input"):
        layer.forward(np.zeros((1, 3, 4, 8), np.float32))


# --------------------------------------------------------------------------- ReLU

def test_relu_gradients(rng):
    x = rng.standard_normal((2, 3, 4, 5))
    x[np.abs(x) < 1e-3] = 0.5                         # keep away from the kink at 0
    assert_grads_ok(check_layer(nn.ReLU(), x))


def test_relu_hand_example():
    layer = nn.ReLU()
    np.testing.assert_array_equal(layer.forward(np.array([[-2.0, 0.0, 3.0]])), [[0, 0, 3]])
    np.testing.assert_array_equal(layer.backward(np.array([[1.0, 1.0, 1.0]])), [[0, 0, 1]])


# --------------------------------------------------------------------------- LRN

@pytest.mark.parametrize("C,size", [(7, 5), (3, 5), (6, 3)])   # windows clipped at both edges
def test_lrn_gradients_paper_settings(C, size, kernels, rng):
    layer = nn.LocalResponseNorm(size=size)
    assert_grads_ok(check_layer(layer, rng.standard_normal((2, C, 3, 4))))


def test_lrn_gradients_where_a_wrong_backward_shows(kernels, rng):
    """alpha ~ 1 and activations ~ 100: the cross-channel terms of the backward pass dominate."""
    layer = nn.LocalResponseNorm(size=5, alpha=1.0, beta=0.75, k=2.0)
    x = rng.standard_normal((2, 6, 3, 3)) * 100
    assert_grads_ok(check_layer(layer, x, h=1e-4))


def test_lrn_diagonal_only_backward_would_fail_the_check(rng):
    """The check above has teeth: dropping the cross terms gives a large error there."""
    layer = nn.LocalResponseNorm(size=5, alpha=1.0, beta=0.75, k=2.0)
    x = rng.standard_normal((1, 6, 2, 2)) * 100
    y = layer.forward(x)
    d = 2.0 + 1.0 * window_sum(x * x, 5)
    g = rng.standard_normal(y.shape)
    wrong = g * d ** -0.75                             # only the i == j term
    from numpynet.gradcheck import numerical_gradient, relative_error
    numeric = numerical_gradient(lambda: np.sum(layer.forward(x) * g), x, 1e-4)
    assert relative_error(wrong, numeric) > 1e-2


def test_lrn_hand_example():
    # one pixel, 3 channels a = (1, 2, 3), size 3, k=2, alpha=1, beta=1:
    # d = 2 + (1+4, 1+4+9, 4+9) = (7, 16, 15); b = a / d
    layer = nn.LocalResponseNorm(size=3, alpha=1.0, beta=1.0, k=2.0)
    y = layer.forward(np.array([1.0, 2.0, 3.0]).reshape(1, 3, 1, 1))
    np.testing.assert_allclose(y.ravel(), [1 / 7, 2 / 16, 3 / 15])


def test_lrn_bad_input():
    with pytest.raises(ValueError, match="odd"):
        nn.LocalResponseNorm(size=4)
    with pytest.raises(ValueError, match="LocalResponseNorm.*4-d"):
        nn.LocalResponseNorm().forward(np.zeros((2, 3)))


# --------------------------------------------------------------------------- MaxPool2D

@pytest.mark.parametrize("shape,k,s", [((2, 3, 8, 8), 2, 2),        # classic
                                       ((2, 2, 9, 9), 3, 2),        # AlexNet's overlapping
                                       ((1, 2, 7, 10), 3, 2),       # non-square, batch of 1
                                       ((1, 1, 5, 5), 3, 1)])       # heavy overlap
def test_maxpool_gradients(shape, k, s, kernels, rng):
    assert_grads_ok(check_layer(nn.MaxPool2D(k, s), distinct(rng, shape)))


def test_maxpool_overlapping_backward_adds(kernels):
    """A pixel that wins two overlapping windows gets both gradients (the `+=` bug)."""
    x = np.zeros((1, 1, 3, 5))
    x[0, 0, 1, 2] = 9.0                              # centre column: in both 3x3/2 windows
    layer = nn.MaxPool2D(3, 2)
    y = layer.forward(x)
    assert y.shape == (1, 1, 1, 2) and np.all(y == 9)
    dx = layer.backward(np.array([[[[1.0, 2.0]]]]))
    assert dx[0, 0, 1, 2] == 3.0 and dx.sum() == 3.0


def test_maxpool_ties_go_to_the_first_position(kernels):
    x = np.ones((1, 1, 2, 2))
    layer = nn.MaxPool2D(2, 2)
    layer.forward(x)
    dx = layer.backward(np.ones((1, 1, 1, 1)))
    np.testing.assert_array_equal(dx[0, 0], [[1, 0], [0, 0]])


def test_maxpool_hand_example(kernels):
    x = np.array([[1, 3, 5, 5], [4, 1, 4, 9], [3, 2, 0, 1], [5, 2, 4, 6]],
                 dtype=np.float32).reshape(1, 1, 4, 4)
    np.testing.assert_array_equal(nn.MaxPool2D(2, 2).forward(x)[0, 0], [[4, 9], [5, 6]])
    np.testing.assert_array_equal(nn.MaxPool2D(2, 1).forward(x)[0, 0],
                                  [[4, 5, 9], [4, 4, 9], [5, 4, 6]])


def test_maxpool_bad_input():
    with pytest.raises(ValueError, match=r"MaxPool2D.*window 3x3 is larger"):
        nn.MaxPool2D(3, 2).forward(np.zeros((1, 1, 2, 5)))
    with pytest.raises(ValueError, match="MaxPool2D.*4-d"):
        nn.MaxPool2D(3, 2).forward(np.zeros((5, 5)))


# --------------------------------------------------------------------------- Dropout

def test_dropout_gradients_with_a_fixed_mask(rng):
    layer = nn.Dropout(0.5)

    def forward(x):                                  # the same mask on every call
        layer.rng = np.random.default_rng(7)
        return layer.forward(x, train=True)

    assert_grads_ok(check_layer(layer, rng.standard_normal((4, 10)), forward=forward))


def test_dropout_train_and_eval(rng):
    layer = nn.Dropout(0.5, seed=0)
    x = np.ones((200, 100), np.float32)
    y = layer.forward(x, train=True)
    assert set(np.unique(y)) == {0.0, 2.0}             # kept units scaled by 1 / (1 - p)
    assert abs(y.mean() - 1.0) < 0.02                  # expectation preserved
    assert abs((y == 0).mean() - 0.5) < 0.02
    np.testing.assert_array_equal(layer.forward(x, train=False), x)
    np.testing.assert_array_equal(layer.backward(x), x)  # identity in eval mode


def test_dropout_is_seeded():
    a, b = nn.Dropout(0.5, seed=3), nn.Dropout(0.5, seed=3)
    x = np.ones((8, 8))
    np.testing.assert_array_equal(a.forward(x), b.forward(x))


# --------------------------------------------------------------------------- Linear, Flatten

@pytest.mark.parametrize("N", [1, 3])
def test_linear_gradients(N, rng):
    layer = as_float64(nn.Linear(7, 5, rng=0))
    layer.params["b"] = rng.standard_normal(5)
    assert_grads_ok(check_layer(layer, rng.standard_normal((N, 7))))


def test_linear_hand_example():
    layer = nn.Linear(2, 2)
    layer.params["W"] = np.array([[1.0, 2.0], [3.0, 4.0]])
    layer.params["b"] = np.array([0.5, -1.0])
    np.testing.assert_array_equal(layer.forward(np.array([[1.0, 1.0]])), [[3.5, 6.0]])


def test_linear_bad_input():
    layer = nn.Linear(9216, 4096, name="fc6")
    with pytest.raises(ValueError, match=r"fc6.*9216 input features.*\(2, 100\)"):
        layer.forward(np.zeros((2, 100), np.float32))
    with pytest.raises(ValueError, match=r"fc6.*2-d"):
        layer.forward(np.zeros((2, 256, 6, 6), np.float32))


def test_scale_gradients_and_value(rng):
    layer = nn.Scale(0.25)
    np.testing.assert_array_equal(layer.forward(np.array([4.0, -8.0])), [1.0, -2.0])
    assert_grads_ok(check_layer(layer, rng.standard_normal((2, 3))))


def test_flatten_gradients_and_shape(rng):
    layer = nn.Flatten()
    assert layer.forward(np.zeros((2, 3, 4, 5))).shape == (2, 60)
    assert_grads_ok(check_layer(layer, rng.standard_normal((2, 3, 2, 2))))


# --------------------------------------------------------------------------- BatchNorm2D

@pytest.mark.parametrize("batch_stats", [True, False])
def test_batchnorm_gradients(batch_stats, kernels, rng):
    """With the batch's statistics, and with the running ones (the evaluation-mode function,
    trained through as Caffe's use_global_stats does: train=False keeps nothing for backward);
    with the Numba kernels and with the NumPy references."""
    layer = as_float64(nn.BatchNorm2D(3, use_global_stats=not batch_stats))
    layer.params["gamma"] = rng.standard_normal(3)
    layer.params["beta"] = rng.standard_normal(3)
    layer.buffers["running_mean"] = rng.standard_normal(3)
    layer.buffers["running_var"] = rng.random(3) + 0.5
    layer.momentum = 0.0                               # keep the running stats fixed
    x = rng.standard_normal((2, 3, 3, 4)) * 2 + 1

    def forward(inp):
        return layer.forward(inp, train=True)
    assert_grads_ok(check_layer(layer, x, forward=forward))


def test_batchnorm_eval_keeps_no_cache(rng):
    """The contract of layers/base.py: with train=False a layer keeps nothing for backward."""
    layer = nn.BatchNorm2D(3)
    x = rng.standard_normal((2, 3, 4, 4)).astype(np.float32)
    layer.forward(x, train=True)
    y = layer.forward(x, train=False)
    assert layer.cache is None
    with pytest.raises(ValueError, match="backward needs a forward"):
        layer.backward(np.ones_like(y))


def test_batchnorm_global_stats_use_and_keep_the_running_averages(rng):
    layer = nn.BatchNorm2D(2, momentum=0.5)
    layer.buffers["running_mean"][:] = [1.0, -1.0]
    x = (rng.standard_normal((4, 2, 3, 3)) * 3 + 5).astype(np.float32)
    y_eval = layer.forward(x, train=False)
    layer.use_global_stats = True
    np.testing.assert_array_equal(layer.forward(x, train=True), y_eval)
    np.testing.assert_array_equal(layer.buffers["running_mean"], [1.0, -1.0])   # not updated


def test_batchnorm_normalises_and_tracks_running_stats(rng):
    layer = nn.BatchNorm2D(2, momentum=0.5)
    x = (rng.standard_normal((8, 2, 4, 4)) * 3 + 5).astype(np.float32)
    y = layer.forward(x, train=True)
    np.testing.assert_allclose(y.mean(axis=(0, 2, 3)), 0, atol=1e-5)
    np.testing.assert_allclose(y.var(axis=(0, 2, 3)), 1, atol=1e-3)
    np.testing.assert_allclose(layer.buffers["running_mean"], 0.5 * x.mean(axis=(0, 2, 3)),
                               rtol=1e-5)
    y_eval = layer.forward(x, train=False)            # running stats, not the batch's
    assert not np.allclose(y_eval, y)


# --------------------------------------------------------------------------- loss

def test_softmax_cross_entropy_gradient(rng):
    assert check_loss(nn.SoftmaxCrossEntropy(), rng.standard_normal((4, 6)),
                      np.array([0, 5, 2, 2])) < TOL
    assert check_loss(nn.SoftmaxCrossEntropy(), rng.standard_normal((1, 3)), np.array([1])) < TOL


def test_softmax_cross_entropy_hand_example():
    loss = nn.SoftmaxCrossEntropy()
    # uniform logits: p = 1/4 everywhere, L = log 4
    assert loss.forward(np.zeros((2, 4)), np.array([0, 3])) == pytest.approx(np.log(4))
    np.testing.assert_allclose(loss.probs, 0.25)
    np.testing.assert_allclose(loss.backward()[0], [(0.25 - 1) / 2, 0.125, 0.125, 0.125])


def test_softmax_cross_entropy_is_stable_at_huge_logits():
    loss = nn.SoftmaxCrossEntropy()
    logits = np.array([[1e4, -1e4, 0.0], [-1e4, 1e4, 1e4]], dtype=np.float32)
    value = loss.forward(logits, np.array([0, 0]))
    assert np.isfinite(value) and value == pytest.approx(2e4 / 2 + np.log(2) / 2, rel=1e-6)
    assert np.all(np.isfinite(loss.probs)) and np.all(np.isfinite(loss.backward()))


def test_softmax_cross_entropy_bad_input():
    loss = nn.SoftmaxCrossEntropy()
    with pytest.raises(ValueError, match=r"4 rows.*labels of shape \(3,\)"):
        loss.forward(np.zeros((4, 10)), np.array([1, 2, 3]))
    with pytest.raises(ValueError, match=r"\[0, 10\).*from 0 to 10"):
        loss.forward(np.zeros((2, 10)), np.array([0, 10]))
    with pytest.raises(ValueError, match="integers"):
        loss.forward(np.zeros((2, 10)), np.array([0.0, 1.0]))
    with pytest.raises(ValueError, match="NaN or infinity"):
        loss.forward(np.array([[np.nan, 0.0]]), np.array([0]))


# --------------------------------------------------------------------------- Sequential

def test_sequential_end_to_end_gradient(rng):
    """A small conv net checked as a whole: the layers' backward passes compose."""
    net = nn.Sequential(nn.Conv2D(3, 4, 3, padding=1, rng=0), nn.ReLU(),
                        nn.LocalResponseNorm(3, alpha=0.1), nn.MaxPool2D(3, 2),
                        nn.Conv2D(4, 4, 3, padding=1, groups=2, rng=1), nn.ReLU(),
                        nn.Flatten(), nn.Linear(4 * 3 * 3, 5, rng=2)).astype(np.float64)
    x = rng.standard_normal((2, 3, 7, 7))
    labels = np.array([1, 4])
    loss = nn.SoftmaxCrossEntropy()

    def f():
        return loss.forward(net.forward(x), labels)

    f()
    dx = net.backward(loss.backward())
    from numpynet.gradcheck import numerical_gradient, relative_error
    assert relative_error(dx, numerical_gradient(f, x)) < TOL
    for layer, name, param, grad in net.parameters():
        assert relative_error(grad, numerical_gradient(f, param)) < TOL, f"{layer.name}.{name}"
        f()                                            # restore the grads after perturbing
        net.backward(loss.backward())


def test_sequential_state_dict_round_trip(rng):
    a = nn.Sequential(nn.Conv2D(3, 4, 3, rng=0), nn.BatchNorm2D(4, name="bn"))
    b = nn.Sequential(nn.Conv2D(3, 4, 3, rng=1), nn.BatchNorm2D(4, name="bn"))
    assert set(a.state_dict()) == {"conv2d0.W", "conv2d0.b", "bn.gamma", "bn.beta",
                                   "bn.running_mean", "bn.running_var"}
    b.load_state_dict({k: v.copy() for k, v in a.state_dict().items()})
    x = rng.standard_normal((1, 3, 5, 5)).astype(np.float32)
    np.testing.assert_array_equal(a.forward(x, train=False), b.forward(x, train=False))
    with pytest.raises(ValueError, match=r"conv2d0.W has shape"):
        b.load_state_dict({**a.state_dict(), "conv2d0.W": np.zeros((1, 1, 1, 1))})
    with pytest.raises(ValueError, match="missing"):
        b.load_state_dict({"conv2d0.W": a.state_dict()["conv2d0.W"]})


def test_sgd_step_matches_the_paper_formula():
    layer = nn.Linear(2, 1)
    layer.params["W"] = np.array([[1.0, -1.0]])
    layer.params["b"] = np.array([0.5])
    net = nn.Sequential(layer)
    opt = nn.SGD(net, lr=0.1, momentum=0.9, weight_decay=0.01)
    for _ in range(2):
        layer.grads["W"] = np.array([[0.2, 0.4]])
        layer.grads["b"] = np.array([1.0])
        opt.step()
    # v1 = -wd*lr*w0 - lr*g;  w1 = w0 + v1;  v2 = 0.9 v1 - wd*lr*w1 - lr*g;  w2 = w1 + v2
    w0, g = np.array([1.0, -1.0]), np.array([0.2, 0.4])
    v1 = -0.001 * w0 - 0.1 * g
    w1 = w0 + v1
    v2 = 0.9 * v1 - 0.001 * w1 - 0.1 * g
    np.testing.assert_allclose(layer.params["W"][0], w1 + v2)
    # biases are not decayed: v1 = -0.1, v2 = -0.19
    np.testing.assert_allclose(layer.params["b"], [0.5 - 0.1 - 0.19])
