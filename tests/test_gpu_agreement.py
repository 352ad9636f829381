"""Every layer, and the whole AlexNet, computes on the GPU what it computes on the CPU.

tests/test_gpu_cupy.py checks the GPU kernels one by one (im2col, max-pool, LRN, augmentation)
and the full-size AlexNet's loss and weight gradients. This file checks the layers as a user
calls them: each layer's forward output, dL/dx and parameter gradients (and BatchNorm's running
averages) on CuPy arrays against the same layer on NumPy arrays, and a small AlexNet's logits
(training and evaluation), input gradient, every weight gradient and one SGD step.

Skipped without a usable CuPy GPU. On a GPU machine:

    python -m pytest tests/test_gpu_agreement.py -v          # or: python tools/gpucheck.py OUT
"""

import numpy as np
import pytest

import numpynet as nn
from numpynet import backend
from numpynet.models import alexnet

TOL = 1e-4            # float32: max |GPU - CPU| / max |CPU|, sums taken in another order
GRAD_TOL = 1e-3       # ... after a whole network's backward pass (as in test_gpu_cupy.py)
STEP_TOL = 2e-3       # an SGD update: the gradient's error, and w_after - w_before rounded


@pytest.fixture(scope="module")
def gpu():
    """The device name to compare with 'cpu' (skips the module without a usable GPU)."""
    try:
        backend.load_cupy()
        backend.gpu_kernels().check_available()
    except RuntimeError as error:
        pytest.skip(str(error))
    return "gpu"


def assert_close(got, want, what, tol=TOL, floor=0.0):
    """got (either device) == want (NumPy) within `tol` of want's largest entry (or of `floor`,
    if larger); exact if tol is 0."""
    got = backend.to_numpy(got)
    assert got.shape == want.shape and got.dtype == want.dtype, what
    if tol == 0:
        np.testing.assert_array_equal(got, want, err_msg=what)
        return
    scale = max(float(np.abs(want).max()), floor) + 1e-30
    error = float(np.abs(got.astype(np.float64) - want).max()) / scale
    assert error <= tol, f"{what}: max |GPU - CPU| is {error:.1e} of the largest (allowed {tol})"


def forward_backward(make_layer, x, dout, device, train=True):
    """A fresh layer on `device`: -> (y, dx, grads, buffers), all as NumPy arrays."""
    net = nn.Sequential(make_layer()).to(device)
    y = net.forward(backend.to_device(x, device), train=train)
    assert backend.is_gpu_array(y) == (device == "gpu"), "the output left its device"
    dx = net.backward(backend.to_device(dout, device)) if train else None
    layer = net[0]
    return (backend.to_numpy(y), None if dx is None else backend.to_numpy(dx),
            {k: backend.to_numpy(v) for k, v in layer.grads.items()},
            {k: backend.to_numpy(v) for k, v in layer.buffers.items()})


def rand(*shape, scale=1.0, seed=0):
    return (scale * np.random.default_rng(seed).standard_normal(shape)).astype(np.float32)


EXACT = (0, 0)        # (forward, backward) tolerances: data moved or scaled, no sums
SUMS = (TOL, TOL)     # products and sums, taken in another order on the GPU
LAYERS = {  # name: (make the layer, input shape, tolerances)
    "conv1 11x11 stride 4": (lambda: nn.Conv2D(3, 8, 11, stride=4, rng=0), (2, 3, 35, 35), SUMS),
    "conv 5x5 pad 2 groups 2": (lambda: nn.Conv2D(8, 12, 5, padding=2, groups=2, rng=1),
                                (2, 8, 13, 13), SUMS),
    "conv 3x3 stride 2 odd sizes": (lambda: nn.Conv2D(6, 4, 3, stride=2, padding=1, rng=2),
                                    (3, 6, 10, 9), SUMS),
    "relu": (nn.ReLU, (2, 5, 7, 7), EXACT),
    "lrn paper": (lambda: nn.LocalResponseNorm(5, 1e-4, 0.75, 2.0), (2, 12, 7, 7), SUMS),
    "lrn strong": (lambda: nn.LocalResponseNorm(5, 0.3, 0.75, 1.0), (2, 7, 5, 6), SUMS),
    # overlapping windows: dL/dx adds up to 4 gradients per input, in any order
    "maxpool 3x3 stride 2 (overlapping)": (lambda: nn.MaxPool2D(3, 2), (2, 4, 13, 13), (0, TOL)),
    "maxpool 2x2 stride 2": (lambda: nn.MaxPool2D(2), (2, 3, 8, 9), EXACT),
    "dropout": (lambda: nn.Dropout(0.5, seed=3), (4, 50), EXACT),
    "linear": (lambda: nn.Linear(20, 7, rng=0), (3, 20), SUMS),
    "flatten": (nn.Flatten, (2, 3, 4, 5), EXACT),
    "batchnorm": (lambda: nn.BatchNorm2D(4), (3, 4, 5, 6), SUMS),
    "scale": (lambda: nn.Scale(1 / 64), (2, 3, 4, 4), EXACT),
}


@pytest.mark.parametrize("name", LAYERS)
def test_layer_forward_and_backward_agree(gpu, name):
    make, shape, (forward_tol, backward_tol) = LAYERS[name]
    x = rand(*shape, scale=30.0 if "lrn" in name else 1.0)
    dout = rand(*make().forward(x.copy(), train=True).shape, seed=1)
    want, got = (forward_backward(make, x, dout, device) for device in ("cpu", gpu))
    assert_close(got[0], want[0], f"{name}: forward", forward_tol)
    assert_close(got[1], want[1], f"{name}: dL/dx", backward_tol)
    assert want[2].keys() == got[2].keys() and want[3].keys() == got[3].keys()
    for key in want[2]:
        assert_close(got[2][key], want[2][key], f"{name}: dL/d{key}")
    for key in want[3]:
        assert_close(got[3][key], want[3][key], f"{name}: buffer {key}")


@pytest.mark.parametrize("name", ["batchnorm", "dropout", "lrn paper", "conv1 11x11 stride 4"])
def test_layer_in_evaluation_mode_agrees(gpu, name):
    make, shape, (forward_tol, _) = LAYERS[name]
    x = rand(*shape)
    want, got = (forward_backward(make, x, None, device, train=False)[0]
                 for device in ("cpu", gpu))
    assert_close(got, want, f"{name}: forward(train=False)", forward_tol)


def test_softmax_cross_entropy_agrees(gpu):
    logits, labels = rand(6, 10, scale=5.0), np.array([0, 3, 9, 3, 1, 7])
    results = {}
    for device in ("cpu", gpu):
        loss_fn = nn.SoftmaxCrossEntropy()
        loss = loss_fn.forward(backend.to_device(logits, device),
                               backend.to_device(labels, device))
        results[device] = (loss, backend.to_numpy(loss_fn.probs),
                           backend.to_numpy(loss_fn.backward()))
    (loss_cpu, p_cpu, d_cpu), (loss_gpu, p_gpu, d_gpu) = results["cpu"], results[gpu]
    assert isinstance(loss_gpu, float) and loss_gpu == pytest.approx(loss_cpu, rel=1e-5)
    assert_close(p_gpu, p_cpu, "softmax probabilities")
    assert_close(d_gpu, d_cpu, "dL/dlogits")


def alexnet_step(device, preset):
    """A small AlexNet on `device`: logits (train and eval), loss, dL/dx, every weight
    gradient, and what one SGD step changed in every weight, as NumPy arrays."""
    net = alexnet(10, width=0.25, input_size=67, preset=preset, seed=0).to(device)
    x = rand(4, 3, 67, 67, scale=50.0, seed=2)
    labels = np.array([1, 4, 9, 0])
    loss_fn, opt = nn.SoftmaxCrossEntropy(), nn.SGD(net, lr=0.01)
    out = {"eval logits": backend.to_numpy(net.forward(backend.to_device(x, device),
                                                       train=False))}
    logits = net.forward(backend.to_device(x, device), train=True)
    out["train logits"] = backend.to_numpy(logits)
    out["loss"] = loss_fn.forward(logits, backend.to_device(labels, device))
    out["dL/dx"] = backend.to_numpy(net.backward(loss_fn.backward()))
    out["grads"] = {f"{l.name}.{k}": backend.to_numpy(g) for l, k, _, g in net.parameters()}
    before = {k: backend.to_numpy(v).copy() for k, v in net.state_dict().items()}
    opt.step()
    out["SGD update"] = {k: backend.to_numpy(v) - before[k] for k, v in net.state_dict().items()}
    return out


@pytest.mark.parametrize("preset", ["paper", "batchnorm"])
def test_small_alexnet_agrees(gpu, preset):
    want, got = alexnet_step("cpu", preset), alexnet_step(gpu, preset)
    assert got["loss"] == pytest.approx(want["loss"], rel=1e-4)
    for key in ("eval logits", "train logits"):
        assert_close(got[key], want[key], key)
    assert_close(got["dL/dx"], want["dL/dx"], "dL/dx", GRAD_TOL)
    # a gradient that is 0 in exact arithmetic (a convolution's bias before BatchNorm) is
    # float32 noise on both devices: measured against 1e-3 of the largest one instead
    for what, tol in (("grads", GRAD_TOL), ("SGD update", STEP_TOL)):
        assert want[what].keys() == got[what].keys()
        floor = 1e-3 * max(float(np.abs(g).max()) for g in want[what].values())
        for key, g in want[what].items():
            assert_close(got[what][key], g, f"{what} {key}", tol, floor)
