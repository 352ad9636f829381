"""numpynet.exercises: the notebooks' checks say RIGHT to right answers and WRONG to wrong ones
(the classic mistakes among them), never raise for a learner's mistake, and the notebooks'
exercises are laid out as the checks expect (an exercise, its folded solution, its check)."""

from pathlib import Path

import numpy as np
import pytest

import numpynet as nn
from numpynet.models import alexnet
from numpynet.data import crop_batch, pca_colour_shift, ten_crop_positions
from numpynet.exercises import (SolutionError, check, check_backward, check_function,
                                check_layer, check_loss_backward, check_network, yours_or)
from numpynet.kernels import naive

NOTEBOOKS = Path(__file__).resolve().parents[1] / "notebooks"
rng = np.random.default_rng(0)


def verdict_line(capsys):
    return capsys.readouterr().out.strip()


# --------------------------------------------------------------------------- values

def test_a_right_value_is_right(capsys):
    assert check("pool1 at crop 99", 11, 11)
    assert verdict_line(capsys) == "RIGHT  pool1 at crop 99"


def test_a_wrong_value_says_what_was_expected(capsys):
    assert not check("pool1 at crop 99", 12, 11)
    assert verdict_line(capsys) == "WRONG  pool1 at crop 99: got 12, expected 11"


def test_no_answer_shows_the_answer_and_is_not_right(capsys):
    verdict = check("pool1 at crop 99", None, 11)
    assert not verdict and "NO ANSWER" in verdict.message and "11" in verdict.message
    assert verdict_line(capsys) == verdict.message


def test_arrays_wrong_shape_and_wrong_values(capsys):
    assert not check("y", np.zeros((2, 3)), np.zeros((3, 2)))
    assert "shape (2, 3), expected (3, 2)" in verdict_line(capsys)
    wrong = np.arange(6.0)
    wrong[4] += 1
    assert not check("y", wrong, np.arange(6.0))
    out = verdict_line(capsys)
    assert out.startswith("WRONG") and "1 of 6 values differ" in out and "[4]" in out
    assert check("y", np.arange(6.0) + 1e-12, np.arange(6.0))


def test_a_list_of_views(capsys):
    right = ten_crop_positions(256, 227)
    assert check("views", [tuple(v) for v in right], right)
    off_by_one = [(t, l + (l > 0), f) for t, l, f in right]
    assert not check("views", off_by_one, right)
    assert "result 1" in verdict_line(capsys).splitlines()[-1]


# --------------------------------------------------------------------------- functions

def conv_loops(x, W, b, stride=1, pad=0, flip=False):
    """The learner's loop convolution (flip=True: a true convolution, the classic mix-up)."""
    N, _, H, Wd = x.shape
    F, _, kh, kw = W.shape
    Ho, Wo = (H + 2 * pad - kh) // stride + 1, (Wd + 2 * pad - kw) // stride + 1
    xpad = np.pad(x, ((0, 0), (0, 0), (pad, pad), (pad, pad)))
    y = np.zeros((N, F, Ho, Wo))
    for n in range(N):
        for f in range(F):
            w = W[f, :, ::-1, ::-1] if flip else W[f]
            for oh in range(Ho):
                for ow in range(Wo):
                    window = xpad[n, :, oh * stride:oh * stride + kh, ow * stride:ow * stride + kw]
                    y[n, f, oh, ow] = np.sum(window * w) + b[f]
    return y


CONV_CASES = [(rng.standard_normal((2, 3, 7, 6)), rng.standard_normal((4, 3, 3, 3)),
               rng.standard_normal(4), 2, 1)]


def test_a_right_function_is_right(capsys):
    assert check_function("conv", conv_loops, naive.conv_forward, CONV_CASES)
    assert verdict_line(capsys) == "RIGHT  conv"


def test_a_wrong_function_names_the_case_and_gives_the_hint(capsys):
    flipped = lambda x, W, b, stride=1, pad=0: conv_loops(x, W, b, stride, pad, flip=True)  # noqa: E731
    assert not check_function("conv", flipped, naive.conv_forward, CONV_CASES, hint="no flip")
    out = verdict_line(capsys)
    assert out.startswith("WRONG  conv: case 1 of 1 (x (2, 3, 7, 6), W (4, 3, 3, 3), b (4,), "
                          "stride=2, pad=1)")
    assert "values differ" in out and out.endswith("hint: no flip")


def test_a_function_that_raises_is_wrong_without_a_traceback(capsys):
    def broken(x, W, b, stride=1, pad=0):
        return x[:, :, :, :, 0]

    assert not check_function("conv", broken, naive.conv_forward, CONV_CASES)
    out = verdict_line(capsys)
    assert out.startswith("WRONG  conv: case 1") and "raised IndexError" in out
    assert "Traceback" not in out


def test_the_template_returning_none_is_wrong(capsys):
    assert not check_function("conv", lambda *args: None, naive.conv_forward, CONV_CASES)
    assert "got None (no answer yet)" in verdict_line(capsys)


def test_a_function_cannot_change_the_references_input():
    def in_place(x, W, b, stride=1, pad=0):
        y = naive.conv_forward(x, W, b, stride, pad)
        x[...] = 0
        return y

    assert check_function("conv", in_place, naive.conv_forward, CONV_CASES)


# --------------------------------------------------------------------------- the pooling backward

def pool_backward(dout, x, size, stride, add=True):
    dx = np.zeros(x.shape)
    for n, c, oh, ow in np.ndindex(*dout.shape):
        h, w = oh * stride, ow * stride
        window = x[n, c, h:h + size, w:w + size]
        i, j = np.unravel_index(np.argmax(window), window.shape)
        if add:
            dx[n, c, h + i, w + j] += dout[n, c, oh, ow]
        else:                                       # the bug: a second window overwrites
            dx[n, c, h + i, w + j] = dout[n, c, oh, ow]
    return dx


def pool_backward_numpynet(dout, x, size, stride):
    pool = nn.MaxPool2D(size, stride=stride)
    pool.forward(x)
    return pool.backward(dout)


OVERLAPPING = [(np.ones((1, 1, 3, 3)), np.array([[[[1, 3, 5, 5], [4, 1, 4, 9], [3, 2, 0, 1],
                                                   [5, 2, 4, 6]]]], float), 2, 1)]


def test_pool_backward_with_plus_equals_is_right():
    assert check_function("pool", pool_backward, pool_backward_numpynet, OVERLAPPING)


def test_pool_backward_with_equals_is_wrong_on_overlapping_windows(capsys):
    overwrite = lambda dout, x, size, stride: pool_backward(dout, x, size, stride, add=False)  # noqa: E731
    assert check_function("pool", overwrite, pool_backward_numpynet,
                          [(np.ones((1, 1, 2, 2)), OVERLAPPING[0][1], 2, 2)])   # no overlap
    assert not check_function("pool", overwrite, pool_backward_numpynet, OVERLAPPING)
    assert "yours 1, expected 2" in verdict_line(capsys).splitlines()[-1]


# --------------------------------------------------------------------------- gradients

def relu(x):
    return np.maximum(0, x)


def test_relu_backward_against_finite_differences(capsys):
    cases = [(rng.standard_normal((4, 10)),)]
    assert check_backward("relu", lambda dout, x: dout * (x > 0), relu, cases)
    assert not check_backward("relu", lambda dout, x: dout, relu, cases)       # WrongReLU
    assert "relative error" in verdict_line(capsys).splitlines()[-1]
    assert not check_backward("relu", lambda dout, x: dout[:1], relu, cases)   # wrong shape
    assert "shape (1, 10), expected (4, 10)" in verdict_line(capsys)


class LRNWithoutCrossTerm(nn.LocalResponseNorm):
    def backward(self, dout):
        d = self.k + self.alpha * naive.lrn_forward(self.x, self.size, 1.0, 0.0, 0.0)[1]
        return dout * d ** -self.beta


def test_lrn_without_its_cross_term_fails_the_gradient_check(capsys):
    x = 3 * rng.standard_normal((2, 7, 2, 2))
    assert check_layer("LRN", nn.LocalResponseNorm(5, 0.5, 0.75, 2.0), x)
    assert verdict_line(capsys).startswith("RIGHT  LRN (relative errors dx ")
    assert not check_layer("LRN", LRNWithoutCrossTerm(5, 0.5, 0.75, 2.0), x)
    assert verdict_line(capsys).startswith("WRONG  LRN: relative errors dx ")


# --------------------------------------------------------------------------- notebook 3's

def test_crop_and_colour_shift_mistakes_are_wrong(capsys):
    image = rng.integers(0, 256, (12, 12, 3)).astype(np.uint8)

    def reference(image, top, left, crop, flip):
        return crop_batch(image[None], [top], [left], crop, [flip])[0]

    def transposed(image, top, left, crop, flip):      # rows and columns mixed up
        patch = image[left:left + crop, top:top + crop]
        return patch[:, ::-1] if flip else patch

    assert not check_function("crop", transposed, reference, [(image, 1, 3, 8, True)])
    eigvals, eigvecs = np.array([4000.0, 200.0, 10.0]), np.linalg.qr(rng.normal(size=(3, 3)))[0]

    class Fixed:                                      # an rng whose normal() gives these alphas
        def __init__(self, alpha):
            self.alpha = alpha

        def normal(self, loc, scale, size):
            return np.reshape(self.alpha, size)

    def shift_reference(alpha, eigvals, eigvecs):
        return pca_colour_shift(Fixed(alpha), 1, eigvals, eigvecs)[0]

    cases = [(np.array([0.1, -0.2, 0.05]), eigvals, eigvecs)]
    assert check_function("shift", lambda a, l, p: p @ (a * np.sqrt(l)), shift_reference, cases)
    assert not check_function("shift", lambda a, l, p: p.T @ (a * np.sqrt(l)),   # rows, not columns
                              shift_reference, cases)
    assert not check_function("shift", lambda a, l, p: p @ (a * l), shift_reference, cases)


# --------------------------------------------------------------------------- solutions

def test_yours_or_uses_the_solution_only_while_yours_returns_none(capsys):
    solution = naive.conv_forward
    template = yours_or(lambda x, W, b, stride=1, pad=0: None, solution)
    assert check_function("conv", template, naive.conv_forward, CONV_CASES)
    assert "with the folded solution" in verdict_line(capsys)
    mine = yours_or(conv_loops, solution)
    assert check_function("conv", mine, naive.conv_forward, CONV_CASES)
    assert verdict_line(capsys) == "RIGHT  conv"
    assert yours_or(None, 11) == 11 and yours_or(12, 11) == 12


def test_a_wrong_solution_is_the_notebooks_bug_and_raises():
    wrong_solution = yours_or(lambda *args: None, lambda x, W, b, stride=1, pad=0: x)
    with pytest.raises(SolutionError, match="the notebook's own solution fails"):
        check_function("conv", wrong_solution, naive.conv_forward, CONV_CASES)


def test_a_wrong_answer_of_yours_does_not_raise_even_with_a_solution_beside_it(capsys):
    flipped = lambda x, W, b, stride=1, pad=0: conv_loops(x, W, b, stride, pad, flip=True)  # noqa: E731
    assert not check_function("conv", yours_or(flipped, naive.conv_forward), naive.conv_forward,
                              CONV_CASES)
    assert verdict_line(capsys).startswith("WRONG")


# --------------------------------------------------------------------------- the notebooks

@pytest.mark.parametrize("name", ["01_layers.ipynb", "02_building_alexnet.ipynb", "03_data.ipynb",
                                  "04_training.ipynb", "05_what_it_learned.ipynb",
                                  "06_training_dynamics.ipynb"])
def test_every_exercise_has_a_folded_solution_and_a_check(name):
    nbformat = pytest.importorskip("nbformat")
    cells = nbformat.read(NOTEBOOKS / name, as_version=4).cells
    exercises = [i for i, c in enumerate(cells) if "# YOUR CODE HERE" in c.source]
    assert exercises, f"{name} has no write-it-yourself exercise"
    for i in exercises:
        solution, checking = cells[i + 1], cells[i + 2]
        assert "solution" in solution.metadata.get("tags", []), (name, i)
        assert solution.metadata.get("jupyter", {}).get("source_hidden") is True, (name, i)
        assert "yours_or(" in solution.source, (name, i)
        assert "check" in checking.source, (name, i)


def test_running_the_solution_cell_twice_still_says_the_solution_ran(capsys):
    template = lambda x, W, b, stride=1, pad=0: None  # noqa: E731
    twice = yours_or(yours_or(template, naive.conv_forward), naive.conv_forward)
    assert check_function("conv", twice, naive.conv_forward, CONV_CASES)
    assert "with the folded solution" in verdict_line(capsys)


def test_your_wrong_case_is_not_blamed_on_the_solution(capsys):
    def half_done(x, W, b, stride=1, pad=0):          # only the unpadded case written, wrongly
        return None if pad else naive.conv_forward(x, W, b, stride, pad) + 1

    cases = CONV_CASES + [(CONV_CASES[0][0], CONV_CASES[0][1], CONV_CASES[0][2], 1, 0)]
    assert not check_function("conv", yours_or(half_done, naive.conv_forward),
                              naive.conv_forward, cases)
    assert verdict_line(capsys).startswith("WRONG  conv: case 2 of 2")


# --------------------------------------------------------------------------- every backward pass
# The right answer of each of the notebooks' backward exercises, and its classic mistakes, which
# the checks must call WRONG.

def linear_forward(x, W, b):
    return x @ W.T + b


def linear_backward(dout, x, W, b):
    return dout @ W, dout.T @ x, dout.sum(axis=0)


LINEAR_CASES = [(rng.standard_normal((4, 7)), rng.standard_normal((5, 7)), rng.standard_normal(5))]


def test_linear_backward_and_its_mistakes(capsys):
    assert check_backward("linear", linear_backward, linear_forward, LINEAR_CASES, wrt=3)
    assert verdict_line(capsys) == "RIGHT  linear"
    transposed = lambda dout, x, W, b: (dout @ W, x.T @ dout, dout.sum(axis=0))  # noqa: E731
    assert not check_backward("linear", transposed, linear_forward, LINEAR_CASES, wrt=3)
    assert "dW: shape (7, 5), expected (5, 7)" in verdict_line(capsys)
    mean_b = lambda dout, x, W, b: (dout @ W, dout.T @ x, dout.mean(axis=0))  # noqa: E731
    assert not check_backward("linear", mean_b, linear_forward, LINEAR_CASES, wrt=3)
    assert "db: relative error" in verdict_line(capsys)
    assert not check_backward("linear", lambda dout, x, W, b: dout @ W, linear_forward,
                              LINEAR_CASES, wrt=3)
    assert "expected a tuple of 3 gradients (dx, dW, db)" in verdict_line(capsys)


def softmax_ce(z, labels):
    shifted = z - z.max(axis=1, keepdims=True)
    log_p = shifted - np.log(np.exp(shifted).sum(axis=1, keepdims=True))
    return -log_p[np.arange(len(z)), labels].mean()


def softmax_ce_backward(z, labels, per_example=False):
    p = np.exp(z - z.max(axis=1, keepdims=True))
    p /= p.sum(axis=1, keepdims=True)
    p[np.arange(len(z)), labels] -= 1
    return p if per_example else p / len(z)        # the mistake: no 1/N


def test_softmax_backward_without_one_over_n_is_wrong(capsys):
    cases = [(rng.standard_normal((4, 6)), rng.integers(0, 6, 4))]
    assert check_loss_backward("softmax", softmax_ce_backward, softmax_ce, cases)
    assert not check_loss_backward("softmax", lambda z, t: softmax_ce_backward(z, t, True),
                                   softmax_ce, cases)
    assert "relative error" in verdict_line(capsys).splitlines()[-1]
    cases = [(rng.standard_normal((1, 6)), np.array([2]))]       # a batch of 1 cannot tell
    assert check_loss_backward("softmax", lambda z, t: softmax_ce_backward(z, t, True),
                               softmax_ce, cases)


def dropout_forward(x, mask, p):
    return x * mask / (1 - p)


def test_dropout_backward_without_rescaling_is_wrong(capsys):
    x = rng.standard_normal((3, 8))
    cases = [(x, rng.random(x.shape) >= 0.5, 0.5)]
    assert check_backward("dropout", lambda dout, x, m, p: dout * m / (1 - p), dropout_forward,
                          cases)
    assert not check_backward("dropout", lambda dout, x, m, p: dout * m, dropout_forward, cases)
    assert "relative error" in verdict_line(capsys).splitlines()[-1]


def window_sum(v, size):
    r = size // 2
    return np.stack([v[:, max(0, i - r):i + r + 1].sum(axis=1) for i in range(v.shape[1])], axis=1)


def lrn_forward(x, size, alpha, beta, k):
    return x * (k + alpha * window_sum(x ** 2, size)) ** -beta


def lrn_backward(dout, x, size, alpha, beta, k, cross=True):
    d = k + alpha * window_sum(x ** 2, size)
    b = x * d ** -beta
    direct = dout * d ** -beta
    return direct - 2 * alpha * beta * x * window_sum(dout * b / d, size) if cross else direct


def test_lrn_backward_function_without_its_cross_term_is_wrong(capsys):
    cases = [(3 * rng.standard_normal((2, 7, 2, 2)), 5, 0.5, 0.75, 2.0)]
    assert check_function("lrn forward", lrn_forward,
                          lambda x, *a: nn.LocalResponseNorm(*a).forward(x), cases)
    assert check_backward("lrn", lrn_backward, lrn_forward, cases)
    no_cross = lambda dout, x, size, alpha, beta, k: lrn_backward(dout, x, size, alpha, beta, k,  # noqa: E731
                                                                  cross=False)
    assert not check_backward("lrn", no_cross, lrn_forward, cases)
    assert "relative error" in verdict_line(capsys).splitlines()[-1]


def conv_backward_loops(dout, x, W, b, stride=1, pad=0, add=True):
    """dx, dW, db as loops; add=False: the mistake, `=` where windows overlap."""
    kh, kw = W.shape[2:]
    xpad = np.pad(x, ((0, 0), (0, 0), (pad, pad), (pad, pad)))
    dxpad, dW = np.zeros_like(xpad), np.zeros_like(W)
    for n, f, oh, ow in np.ndindex(*dout.shape):
        rows, cols = slice(oh * stride, oh * stride + kh), slice(ow * stride, ow * stride + kw)
        dW[f] += dout[n, f, oh, ow] * xpad[n, :, rows, cols]
        if add:
            dxpad[n, :, rows, cols] += dout[n, f, oh, ow] * W[f]
        else:
            dxpad[n, :, rows, cols] = dout[n, f, oh, ow] * W[f]
    dx = dxpad[:, :, pad:pad + x.shape[2], pad:pad + x.shape[3]]
    return dx, dW, dout.sum(axis=(0, 2, 3))


def test_conv_backward_loops_with_equals_is_wrong(capsys):
    assert check_backward("conv", conv_backward_loops, naive.conv_forward, CONV_CASES, wrt=3)
    overwrite = lambda *args: conv_backward_loops(*args, add=False)  # noqa: E731
    assert not check_backward("conv", overwrite, naive.conv_forward, CONV_CASES, wrt=3)
    assert "dx: relative error" in verdict_line(capsys).splitlines()[-1]


def conv_backward_flipped(dout, x, W, b, stride=1, pad=0, flip=True):
    """dx as a stride-1 convolution of the dilated, padded dout with the flipped filters."""
    N, F, Ho, Wo = dout.shape
    kh, kw = W.shape[2:]
    dilated = np.zeros((N, F, (Ho - 1) * stride + 1, (Wo - 1) * stride + 1))
    dilated[:, :, ::stride, ::stride] = dout
    filters = W[:, :, ::-1, ::-1] if flip else W
    full = np.pad(dilated, ((0, 0), (0, 0), (kh - 1, kh - 1), (kw - 1, kw - 1)))
    dxpad = naive.conv_forward(full, filters.transpose(1, 0, 2, 3), np.zeros(W.shape[1]))
    dxpad = np.pad(dxpad, ((0, 0), (0, 0), (0, x.shape[2] + 2 * pad - dxpad.shape[2]),
                           (0, x.shape[3] + 2 * pad - dxpad.shape[3])))
    return dxpad[:, :, pad:pad + x.shape[2], pad:pad + x.shape[3]]


def test_conv_backward_as_a_convolution_without_flipping_is_wrong(capsys):
    cases = CONV_CASES + [(rng.standard_normal((1, 2, 6, 6)), rng.standard_normal((3, 2, 3, 3)),
                           rng.standard_normal(3), 1, 1)]
    assert check_backward("conv", conv_backward_flipped, naive.conv_forward, cases)
    unflipped = lambda *args: conv_backward_flipped(*args, flip=False)  # noqa: E731
    assert not check_backward("conv", unflipped, naive.conv_forward, cases)
    assert "relative error" in verdict_line(capsys).splitlines()[-1]


def batchnorm_forward(x, gamma, beta, eps=1e-5):
    mu, var = x.mean(axis=(0, 2, 3), keepdims=True), x.var(axis=(0, 2, 3), keepdims=True)
    return gamma[:, None, None] * (x - mu) / np.sqrt(var + eps) + beta[:, None, None]


def batchnorm_backward(dout, x, gamma, beta, eps=1e-5, through_stats=True):
    M = x.shape[0] * x.shape[2] * x.shape[3]
    mu, var = x.mean(axis=(0, 2, 3), keepdims=True), x.var(axis=(0, 2, 3), keepdims=True)
    xhat = (x - mu) / np.sqrt(var + eps)
    dbeta, dgamma = dout.sum(axis=(0, 2, 3)), (dout * xhat).sum(axis=(0, 2, 3))
    g = gamma[:, None, None] / np.sqrt(var + eps)
    if not through_stats:                        # the mistake: mean and var as constants
        return g * dout, dgamma, dbeta
    dx = g / M * (M * dout - dbeta[:, None, None] - xhat * dgamma[:, None, None])
    return dx, dgamma, dbeta


def test_batchnorm_backward_with_constant_statistics_is_wrong(capsys):
    cases = [(rng.standard_normal((3, 4, 2, 3)) * 2 + 1, rng.standard_normal(4),
              rng.standard_normal(4))]
    assert check_backward("bn", batchnorm_backward, batchnorm_forward, cases, wrt=3)
    constants = lambda *args: batchnorm_backward(*args, through_stats=False)  # noqa: E731
    assert not check_backward("bn", constants, batchnorm_forward, cases, wrt=3)
    assert "dx: relative error" in verdict_line(capsys).splitlines()[-1]


# --------------------------------------------------------------------------- a whole network

class ReLUWithoutTheBlock(nn.ReLU):
    def backward(self, dout):
        return dout                     # passes the gradient where x < 0 too


def test_a_whole_tiny_alexnet_passes_and_one_wrong_layer_fails(capsys):
    net = alexnet(4, width=0.125, input_size=67, dropout=0.0).astype(np.float64)
    x, labels = 64 * rng.standard_normal((2, 3, 67, 67)), np.array([1, 3])
    assert check_network("tiny AlexNet", net, nn.SoftmaxCrossEntropy(), x, labels)
    assert verdict_line(capsys).startswith("RIGHT  tiny AlexNet (17 gradients, the largest")
    i = [layer.name for layer in net].index("relu4")
    net.layers[i] = ReLUWithoutTheBlock(name="relu4")
    assert not check_network("tiny AlexNet", net, nn.SoftmaxCrossEntropy(), x, labels)
    out = verdict_line(capsys)
    assert out.startswith("WRONG  tiny AlexNet: ") and "conv1.W" in out
    assert "fc6.W" not in out                        # layers after relu4 are unaffected


def test_a_value_with_a_folded_solution(capsys):
    assert check("start loss", None, 2.3026, atol=0.01, solution=np.log(10))
    assert "with the folded solution" in verdict_line(capsys)
    assert not check("start loss", 1 / 10, 2.3026, atol=0.01, solution=np.log(10))
    assert verdict_line(capsys).startswith("WRONG  start loss: got 0.1")
    with pytest.raises(SolutionError):
        check("start loss", None, 2.3026, atol=0.01, solution=np.log10(10))


def test_uses_says_when_a_wrapped_function_ran_the_solution(capsys):
    template = yours_or(lambda x, W, b, stride=1, pad=0: None, naive.conv_forward)
    outer = lambda: template(*CONV_CASES[0]).sum()  # noqa: E731
    reference = lambda: naive.conv_forward(*CONV_CASES[0]).sum()  # noqa: E731
    assert check_function("conv", outer, reference, [()], uses=template)
    assert "with the folded solution" in verdict_line(capsys)


# --------------------------------------------------------------------------- notebooks 4 and 5's

def sgd_two_steps(step, lr, momentum, weight_decay):
    g = np.random.default_rng(1).standard_normal((2, 2, 3))
    w, v = nn.Linear(3, 2, rng=0).params["W"].astype(np.float64), np.zeros((2, 3))
    for t in range(2):
        w, v = step(w, v, g[t], lr, momentum, weight_decay)
    return w


def numpynet_two_steps(lr, momentum, weight_decay):
    layer = nn.Linear(3, 2, rng=0)
    sgd = nn.SGD(nn.Sequential(layer), lr=lr, momentum=momentum, weight_decay=weight_decay)
    for g in np.random.default_rng(1).standard_normal((2, 2, 3)).astype(np.float32):
        layer.grads = {"W": g, "b": np.zeros(2, np.float32)}
        sgd.step()
    return layer.params["W"]


def test_sgd_step_without_momentum_or_weight_decay_is_wrong():
    def right(w, v, g, lr, m, wd):
        v = m * v - wd * lr * w - lr * g
        return w + v, v

    cases = [(0.1, 0.9, 0.05)]
    check_sgd = lambda step: check_function(  # noqa: E731
        "sgd", lambda *a: sgd_two_steps(step, *a), numpynet_two_steps, cases, rtol=1e-5, atol=1e-6)
    assert check_sgd(right)
    assert not check_sgd(lambda w, v, g, lr, m, wd: (w - lr * g, v))           # no momentum
    assert not check_sgd(lambda w, v, g, lr, m, wd: right(w, v, g, lr, m, 0))  # no weight decay


def test_counting_channels_dead_on_one_image_is_wrong():
    a = np.maximum(rng.standard_normal((8, 6, 3, 3)), 0)
    a[:, 1] = 0                                   # dead everywhere
    a[0, 4] = 0                                   # silent on one image only

    def by_loop(a):
        return sum(not a[:, c].any() for c in range(a.shape[1]))

    def everywhere(a):
        return int((a.reshape(*a.shape[:2], -1).max(axis=(0, 2)) == 0).sum())

    def on_some_image(a):
        return int((a.reshape(*a.shape[:2], -1).max(axis=2) == 0).any(axis=0).sum())

    assert check_function("dead", everywhere, by_loop, [(a,)])
    assert not check_function("dead", on_some_image, by_loop, [(a,)])
