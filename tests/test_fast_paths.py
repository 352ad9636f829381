"""The optimised paths compute what the plain ones compute.

- the whole AlexNet, forward and backward and an SGD step, with the fast kernels equals the
  reference kernels (float32, 2 images);
- the conv engine (kernels/fast/conv.py) gives the same result whatever its chunk size;
- Sequential.backward(input_grad=False) gives the same parameter gradients, doing less;
- the memory helpers (kernels/fast/memory.py) never hand out an array that is still in use,
  so gradients and outputs a caller holds are never overwritten by the next step;
- for GPU arrays, kernels without a GPU version fall back to the reference (tested with a
  stand-in GPU module).
"""

import numpy as np
import pytest

import numpynet as nn
from numpynet.kernels import dispatch
from numpynet.kernels import im2col as K
from numpynet.kernels.fast import conv as engine
from numpynet.kernels.fast.memory import ArrayPool, Workspace
from numpynet.layers import pool as P
from numpynet.layers import relu as R
from numpynet.models import INPUT_SHAPE, alexnet


def _fast_and_reference_steps(fast_net, ref_net, x, labels):
    """One training step of each net, fast_net with the fast kernels and ref_net with the
    reference ones: [(loss, grads), (loss, grads)].

    Max-pooling sends each window's gradient to its largest input. Where two inputs of a
    window are within float32 rounding of each other, the two paths (whose sums round
    differently, e.g. Winograd against im2col) can pick different ones, and a whole gradient
    entry moves: at batch 2, one such tie in pool5 changed conv5.W's gradient by 18% (with
    one BLAS thread). So the reference's backward takes the fast path's choices, once they are
    checked to differ in one window in 1000 at most: what is compared is the arithmetic, not
    the ties. (Both paths' choices are tested equal where there are no ties:
    tests/test_kernels.py.)"""
    runs = [(fast_net, "fast", nn.SoftmaxCrossEntropy()),
            (ref_net, "reference", nn.SoftmaxCrossEntropy())]
    values, grads = [], []
    for net, kind, loss in runs:
        with dispatch.using(kind):
            values.append(loss.forward(net.forward(x), labels))
    for fast_layer, ref_layer in zip(fast_net.layers, ref_net.layers):
        if isinstance(fast_layer, nn.MaxPool2D):
            ties = int((fast_layer.arg != ref_layer.arg).sum())      # rare: 1 of 18432 seen
            assert ties <= fast_layer.arg.size // 1000, f"{fast_layer.name}: {ties} windows differ"
            ref_layer.arg = fast_layer.arg.copy()
    for net, kind, loss in runs:
        with dispatch.using(kind):
            net.backward(loss.backward(), input_grad=False)
            nn.SGD(net).step()
        grads.append({f"{l.name}.{k}": g.copy() for l, k, _, g in net.parameters()})
    return list(zip(values, grads))


def _assert_close(a, b, name, rtol=2e-4):
    """Equal up to float32 rounding, relative to the array's own scale."""
    scale = max(float(np.abs(b).max()), 1e-30)
    err = float(np.abs(a - b).max()) / scale
    assert err < rtol, f"{name}: max difference {err:.2e} of the largest value"


def test_whole_alexnet_fast_equals_reference(rng):
    x = rng.standard_normal((2, *INPUT_SHAPE), dtype=np.float32) * 64
    labels = np.array([3, 997])
    fast_net, ref_net = alexnet(1000, seed=0), alexnet(1000, seed=0)   # same weights, masks
    (fast_loss, fast_grads), (ref_loss, ref_grads) = _fast_and_reference_steps(
        fast_net, ref_net, x, labels)
    assert fast_loss == pytest.approx(ref_loss, rel=1e-5)
    for key, g in ref_grads.items():
        assert fast_grads[key].dtype == np.float32
        _assert_close(fast_grads[key], g, key)
    for (layer, name, w, _), (_, _, w_ref, _) in zip(fast_net.parameters(), ref_net.parameters()):
        _assert_close(w, w_ref, f"{layer.name}.{name} after the SGD step", rtol=1e-5)


def test_whole_batchnorm_alexnet_fast_equals_reference(rng):
    """The batchnorm preset (BatchNorm2D's fused kernels), a training step and inference."""
    x = rng.standard_normal((2, *INPUT_SHAPE), dtype=np.float32) * 64
    labels = np.array([3, 7])
    fast_net, ref_net = (alexnet(10, preset="batchnorm", seed=0) for _ in range(2))
    (fast_loss, fast_grads), (ref_loss, ref_grads) = _fast_and_reference_steps(
        fast_net, ref_net, x, labels)
    fast_logits = fast_net.forward(x, train=False)
    with dispatch.using("reference"):
        ref_logits = ref_net.forward(x, train=False)
    assert fast_loss == pytest.approx(ref_loss, rel=1e-5)
    _assert_close(fast_logits, ref_logits, "logits (running statistics)")
    for key, g in ref_grads.items():
        if key.startswith("conv") and key.endswith(".b"):   # a bias before BatchNorm: 0 in
            continue                                        # exact arithmetic, float32 noise
        assert fast_grads[key].dtype == np.float32
        _assert_close(fast_grads[key], g, key)
    for layer, ref_layer in zip(fast_net.layers, ref_net.layers):
        for name, value in layer.buffers.items():
            _assert_close(value, ref_layer.buffers[name], f"{layer.name}.{name}", rtol=1e-5)


@pytest.mark.parametrize("train,global_stats", [(True, False), (True, True), (False, False)])
def test_batchnorm_fast_equals_reference(train, global_stats, rng):
    """BatchNorm2D on both kernel kinds: the batch's statistics, the running ones while
    training (use_global_stats) and in evaluation; float32, with the running averages."""
    x = (rng.standard_normal((4, 5, 6, 7)) * 3 + 2).astype(np.float32)
    g = rng.standard_normal(x.shape).astype(np.float32)
    results = []
    for kind in ("fast", "reference"):
        layer = nn.BatchNorm2D(5, use_global_stats=global_stats)
        layer.params["gamma"][:] = np.linspace(0.5, 2, 5)
        layer.buffers["running_var"][:] = np.linspace(1, 3, 5)
        with dispatch.using(kind):
            y = layer.forward(x, train=train)
            dx = layer.backward(g) if train else y
        results.append((y, dx, *layer.grads.values(), *layer.buffers.values()))
        assert y.dtype == dx.dtype == np.float32
    for a, b in zip(*results):
        np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("case", [(5, 4, 9, 8, 6, 3, 2, 1, 2), (3, 3, 11, 11, 4, 5, 4, 2, 1)])
def test_conv_chunks_do_not_change_the_result(case, kernels, rng, monkeypatch):
    N, C, H, W, F, k, s, p, g = case
    layer = nn.Conv2D(C, F, k, stride=s, padding=p, groups=g, rng=0)
    for name in layer.params:
        layer.params[name] = rng.standard_normal(layer.params[name].shape)
    x = rng.standard_normal((N, C, H, W))
    results = []
    for chunk_bytes in (1, 2 * 8 * C * k * k * H * W, 10**9):   # 1 image, 2 images, all
        monkeypatch.setattr(engine, "CHUNK_BYTES", chunk_bytes)
        y = layer.forward(x)
        dx = layer.backward(np.cos(y))
        results.append((y, dx, layer.grads["W"].copy(), layer.grads["b"].copy()))
    for other in results[1:]:
        for a, b in zip(results[0], other):
            np.testing.assert_allclose(a, b, rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("case", [(5, 4, 9, 8, 6, 3, 2, 1, 2), (3, 3, 11, 11, 4, 5, 4, 2, 1),
                                  (3, 4, 9, 8, 6, 3, 1, 2, 2)])
@pytest.mark.parametrize("input_grad", [True, False])
def test_conv_reference_path_equals_the_fast_path(case, input_grad, rng, monkeypatch):
    """The reference path (the docstring's equations on the whole batch) and the fast one
    (chunks of 2 images, workspace, Winograd for 3x3 stride 1, compiled layout moves)."""
    N, C, H, W, F, k, s, p, g = case
    monkeypatch.setattr(engine, "CHUNK_BYTES", 2 * 8 * C * k * k * H * W)
    layer = nn.Conv2D(C, F, k, stride=s, padding=p, groups=g, rng=0)
    for name in layer.params:
        layer.params[name] = rng.standard_normal(layer.params[name].shape)
    x = rng.standard_normal((N, C, H, W))
    results = []
    for kind in ("fast", "reference"):
        with dispatch.using(kind):
            y = layer.forward(x)
            dx = layer.backward(np.cos(y), input_grad=input_grad)
        results.append((y, layer.grads["W"].copy(), layer.grads["b"].copy()))
        assert (dx is None) == (not input_grad)
        if input_grad:
            results[-1] += (dx,)
    for a, b in zip(*results):
        assert a.shape == b.shape and a.dtype == b.dtype
        np.testing.assert_allclose(a, b, rtol=1e-12, atol=1e-12)


def test_backward_without_input_gradient(rng):
    """input_grad=False: the same parameter gradients, None returned, leading layers without
    parameters (AlexNet's Scale) skipped."""
    net = nn.Sequential(nn.Scale(0.5), nn.Conv2D(3, 4, 3, rng=0), nn.ReLU(), nn.Flatten(),
                        nn.Linear(4 * 5 * 5, 3, rng=1))
    x = rng.standard_normal((2, 3, 7, 7)).astype(np.float32)
    dout = rng.standard_normal((2, 3)).astype(np.float32)
    net.forward(x)
    dx = net.backward(dout)
    full = {f"{l.name}.{k}": g.copy() for l, k, _, g in net.parameters()}
    net.forward(x)
    assert net.backward(dout, input_grad=False) is None
    for l, k, _, g in net.parameters():
        np.testing.assert_array_equal(g, full[f"{l.name}.{k}"])
    assert dx.shape == x.shape


def test_eval_mode_keeps_nothing_for_backward(rng):
    x = rng.standard_normal((2, 3, 8, 8)).astype(np.float32)
    for layer in (nn.Conv2D(3, 4, 3, rng=0), nn.ReLU(), nn.LocalResponseNorm(),
                  nn.MaxPool2D(2)):
        y = layer.forward(x, train=False)
        with pytest.raises(ValueError, match="backward needs a forward"):
            layer.backward(np.ones_like(y))


def test_held_gradients_and_outputs_are_never_overwritten(rng):
    """The fast kernels take their outputs from reused memory: what a caller still holds from
    one step (outputs, gradients) keeps its values through the next steps."""
    for layer, x in ((nn.Linear(5, 3, rng=0), rng.standard_normal((4, 5))),
                     (nn.Conv2D(2, 3, 3, rng=0), rng.standard_normal((2, 2, 5, 5))),
                     (nn.Conv2D(2, 3, 5, stride=2, rng=0), rng.standard_normal((2, 2, 9, 9)))):
        x = x.astype(np.float32)
        y1 = layer.forward(x)
        dx1 = layer.backward(np.ones_like(y1))
        held = [a.copy() for a in (y1, dx1, layer.grads["W"], layer.grads["b"])]
        first = (y1, dx1, layer.grads["W"], layer.grads["b"])
        for scale in (2, 3):                                       # two more steps
            y = layer.forward(scale * x)
            layer.backward(np.ones_like(y))
        for a, b in zip(first, held):
            np.testing.assert_array_equal(a, b)
        with dispatch.using("reference"):                          # ... and the new values
            fresh = type(layer).__new__(type(layer))
            fresh.__dict__.update(layer.__dict__, grads={})
            fresh.backward(np.ones_like(fresh.forward(3 * x)))
        np.testing.assert_allclose(layer.grads["W"], fresh.grads["W"], rtol=1e-5, atol=1e-6)


def test_fast_kernels_keep_float32(rng):
    x = rng.standard_normal((2, 8, 7, 7)).astype(np.float32)
    for layer in (nn.Conv2D(8, 4, 3, padding=1, groups=2, rng=0), nn.ReLU(),
                  nn.LocalResponseNorm(5), nn.MaxPool2D(3, 2), nn.Scale(0.5)):
        y = layer.forward(x)
        assert y.dtype == np.float32, type(layer).__name__
        assert layer.backward(np.ones_like(y)).dtype == np.float32, type(layer).__name__


# --------------------------------------------------------------------------- memory helpers

def test_pool_reuses_only_arrays_nobody_holds():
    pool = ArrayPool()
    a = pool.empty((10, 10), np.float32)
    b = pool.empty((10, 10), np.float32)
    assert not np.shares_memory(a, b)
    a_address = a.__array_interface__["data"][0]
    del a
    c = pool.empty((10, 10), np.float32)                 # a's memory, free again
    assert c.__array_interface__["data"][0] == a_address
    view = c[3:]
    del c
    d = pool.empty((10, 10), np.float32)                 # the view keeps c's memory in use
    assert not np.shares_memory(d, view) and not np.shares_memory(d, b)
    assert len(pool._blocks) == 3


def test_pool_matches_sizes_within_a_factor_two():
    pool = ArrayPool()
    big = pool.empty((100,), np.float64)
    address = big.__array_interface__["data"][0]
    del big
    small = pool.empty((100,), np.float32)               # 400 of 800 bytes: reused
    assert small.__array_interface__["data"][0] == address and small.dtype == np.float32
    del small
    tiny = pool.empty((10,), np.float32)                 # 40 bytes: not worth 800
    assert tiny.__array_interface__["data"][0] != address


def test_pool_frees_arrays_unused_for_long():
    pool = ArrayPool()
    pool.idle_limit = 10
    pool.empty((1000,), np.float32)                      # dropped at once: free from now on
    keep = [pool.empty((10,), np.float32) for _ in range(5)]
    assert pool.nbytes() == 4000 + 5 * 40                # idle for 5 requests: kept
    keep += [pool.empty((10,), np.float32) for _ in range(6)]
    assert pool.nbytes() == 11 * 40                      # idle for 11: freed


def test_workspace_hands_out_views_of_one_array():
    ws = Workspace()
    a = ws.get("cols", (4, 6), np.float32)
    b = ws.get("cols", (2, 6), np.float32)
    assert np.shares_memory(a, b) and b.shape == (2, 6) and b.flags.c_contiguous
    c = ws.get("cols", (5, 6), np.float32)               # larger: new memory
    assert not np.shares_memory(a, c)
    assert ws.get("cols", (2, 2), np.float64).dtype == np.float64


# --------------------------------------------------------------------------- GPU fallbacks

class BasicGPUKernels:
    """A stand-in for numpynet/gpu/kernels.py with only some of its functions (the reference
    twins, which like the GPU kernels take `out=` / `scratch=` and may ignore them: here they
    return new arrays, as the GPU kernels do)."""
    im2col = staticmethod(lambda x, kh, kw, stride, pad, out=None, scratch=None:
                          K.im2col.reference(x, kh, kw, stride, pad))
    col2im = staticmethod(lambda cols, shape, kh, kw, stride, pad, out=None: K.col2im.reference(
        cols, shape, kh, kw, stride, pad))
    maxpool_forward = staticmethod(lambda x, k, s, out=None: P.maxpool_forward.reference(x, k, s))
    maxpool_backward = staticmethod(lambda d, arg, shape, k, s, out=None:
                                    P.maxpool_backward.reference(d, arg, shape, k, s))


def test_layers_run_on_a_gpu_module_with_only_the_basic_kernels(rng, monkeypatch):
    """The dispatch's fall-backs: no conv engine, no LRN, no SGD kernel on the 'GPU'."""
    net = nn.Sequential(nn.Conv2D(3, 4, 3, padding=1, rng=0), nn.ReLU(),
                        nn.LocalResponseNorm(3, alpha=0.1), nn.MaxPool2D(3, 2),
                        nn.Conv2D(4, 4, 3, padding=1, groups=2, rng=1), nn.Flatten(),
                        nn.Linear(4 * 3 * 3, 5, rng=2))
    x = rng.standard_normal((2, 3, 7, 7)).astype(np.float32)
    dout = rng.standard_normal((2, 5)).astype(np.float32)
    y_ref = net.forward(x)
    dx_ref = net.backward(dout)
    grads_ref = [g.copy() for _, _, _, g in net.parameters()]
    monkeypatch.setattr(dispatch, "path", lambda a: "gpu")
    monkeypatch.setattr(dispatch, "gpu_module", lambda: BasicGPUKernels)
    np.testing.assert_allclose(net.forward(x), y_ref, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(net.backward(dout), dx_ref, rtol=1e-5, atol=1e-6)
    for (_, _, _, g), g_ref in zip(net.parameters(), grads_ref):
        np.testing.assert_allclose(g, g_ref, rtol=1e-5, atol=1e-6)
    nn.SGD(net).step()                                   # the reference update, in place


def test_dispatch_picks_by_kind_and_array(monkeypatch):
    x = np.zeros((1, 1, 4, 4), np.float32)
    assert K.im2col.implementation(x) is K.im2col.numba
    with dispatch.using("reference"):
        assert K.im2col.implementation(x) is K.im2col.reference
        assert not K.im2col.is_fast_for(x)
    assert dispatch.kernels() == "fast"
    monkeypatch.setattr(dispatch, "path", lambda a: "gpu")
    monkeypatch.setattr(dispatch, "gpu_module", lambda: BasicGPUKernels)
    assert K.im2col.implementation(x) is BasicGPUKernels.im2col
    assert R.relu_forward.implementation(x) is R.relu_forward.reference     # none on the GPU
    with pytest.raises(ValueError, match="declared twice"):
        dispatch.kernel(K.im2col.reference)
    with pytest.raises(ValueError, match="unknown kernel kind"):
        dispatch.use_kernels("quick")


def test_instrument_sees_the_kernels_inside_the_layers(rng):
    """dispatch.instrument: how the benchmark times im2col inside Conv2D, patching nothing."""
    calls = []

    def record(name, fn, *args, **kwargs):
        calls.append((name, fn))
        return fn(*args, **kwargs)

    layer = nn.Conv2D(3, 4, 3, stride=2, padding=1, rng=0)
    x = rng.standard_normal((2, 3, 7, 7)).astype(np.float32)
    y = layer.forward(x)
    dx = layer.backward(np.ones_like(y))
    with dispatch.instrument(record):
        np.testing.assert_array_equal(layer.forward(x), y)
        np.testing.assert_array_equal(layer.backward(np.ones_like(y)), dx)
    names = [name for name, _ in calls]
    assert names.count("im2col") == 2 and names.count("col2im") == 1, names
    assert ("im2col", K.im2col.numba) in calls and "columns_to_images" in names
    assert ("conv_forward", engine.conv_forward) in calls
    n = len(calls)
    layer.forward(x)
    assert len(calls) == n                                # off again
