"""The GPU backend on a real GPU: CuPy arrays in, the NumPy references' answers out.

Skipped (whole module) without CuPy, a CUDA GPU, or Numba's CUDA target. On a GPU machine:

    pip install -e '.[gpu]'            # CuPy, and the numba-cuda target
    python -m pytest tests/test_gpu_cupy.py -v

tests/gpu_sim_checks.py covers the same kernels everywhere, in Numba's CUDA simulator on tiny
shapes; this file adds what only a GPU shows: AlexNet's real sizes, compilation for the device,
CuPy arrays through `__cuda_array_interface__`, launching on CuPy's stream, determinism.
"""

import numpy as np
import pytest

from numpynet import backend

try:
    cp = backend.load_cupy()
    from numba import cuda
    if not cuda.is_available():
        raise RuntimeError(f"Numba sees no CUDA GPU: {cuda.cuda_error()}")
except RuntimeError as error:
    pytest.skip(str(error), allow_module_level=True)

import numpynet as nn                                       # noqa: E402
from numpynet.data import augment as cpu_augment            # noqa: E402
from numpynet.gpu import augment as gpu_augment             # noqa: E402
from numpynet.gpu import kernels as G                       # noqa: E402
from numpynet.kernels import dispatch                       # noqa: E402
from numpynet.kernels import im2col as K                    # noqa: E402
from numpynet.layers import lrn as L                        # noqa: E402
from numpynet.layers import pool as P                       # noqa: E402
from numpynet.models import alexnet                         # noqa: E402

DTYPES = [np.float32, np.float64]
TOL = {np.float32: dict(rtol=1e-5, atol=1e-5), np.float64: dict(rtol=1e-12, atol=1e-12)}

CONV_CASES = [  # AlexNet's convolutions, batch 2: (N, C, H, W, k, stride, pad)
    (2, 3, 227, 227, 11, 4, 0),
    (2, 48, 27, 27, 5, 1, 2),
    (2, 256, 13, 13, 3, 1, 1),
    (3, 5, 10, 9, 3, 2, 1),            # odd sizes, stride and padding together
]


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("case", CONV_CASES)
def test_im2col_col2im_on_the_gpu(case, dtype):
    N, C, H, W, k, s, p = case
    rng = np.random.default_rng(0)
    x = rng.standard_normal((N, C, H, W)).astype(dtype)
    cols = G.im2col(cp.asarray(x), k, k, s, p)
    assert isinstance(cols, cp.ndarray) and cols.dtype == dtype
    np.testing.assert_array_equal(cols.get(), K.im2col.reference(x, k, k, s, p))
    c = rng.standard_normal(cols.shape).astype(dtype)
    back = G.col2im(cp.asarray(c), x.shape, k, k, s, p)
    np.testing.assert_allclose(back.get(), K.col2im.reference(c, x.shape, k, k, s, p),
                               **TOL[dtype])


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("shape", [(2, 96, 55, 55), (2, 256, 13, 13), (1, 3, 8, 7)])
def test_maxpool_on_the_gpu(shape, dtype):
    rng = np.random.default_rng(0)
    x = rng.integers(0, 4, size=shape).astype(dtype)             # ties everywhere
    y, arg = G.maxpool_forward(cp.asarray(x), 3, 2)
    y_ref, arg_ref = P.maxpool_forward.reference(x, 3, 2)
    assert arg.dtype == np.int32
    np.testing.assert_array_equal(y.get(), y_ref)
    np.testing.assert_array_equal(arg.get(), arg_ref)
    dout = rng.standard_normal(y_ref.shape).astype(dtype)
    dx = G.maxpool_backward(cp.asarray(dout), arg, x.shape, 3, 2)
    np.testing.assert_allclose(dx.get(), P.maxpool_backward.reference(dout, arg_ref, x.shape,
                                                                      3, 2), **TOL[dtype])


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("alpha", [1e-4, 0.3])
def test_lrn_on_the_gpu(alpha, dtype):
    rng = np.random.default_rng(0)
    a = (30 * rng.standard_normal((2, 96, 27, 27))).astype(dtype)
    b = G.lrn_forward(cp.asarray(a), 5, alpha, 0.75, 2.0)
    tol = dict(rtol=1e-5, atol=0) if dtype == np.float32 else dict(rtol=1e-12, atol=0)
    np.testing.assert_allclose(b.get(), L.lrn_forward.reference(a, 5, alpha, 0.75, 2.0), **tol)
    g = rng.standard_normal(a.shape).astype(dtype)
    da = G.lrn_backward(cp.asarray(g), cp.asarray(a), 5, alpha, 0.75, 2.0)
    np.testing.assert_allclose(da.get(), L.lrn_backward.reference(g, a, 5, alpha, 0.75, 2.0),
                               rtol=tol["rtol"], atol=tol["rtol"] * np.abs(g).max())


def test_dispatchers_send_cupy_arrays_to_the_gpu_kernels():
    x = cp.asarray(np.random.default_rng(0).standard_normal((2, 3, 9, 9)).astype(np.float32))
    assert dispatch.path(x) == "gpu"
    assert isinstance(K.im2col(x, 3, 3, 1, 1), cp.ndarray)
    assert isinstance(P.maxpool_forward(x, 3, 2)[0], cp.ndarray)
    assert isinstance(L.lrn_forward(x, 5, 1e-4, 0.75, 2.0), cp.ndarray)
    assert K.im2col.implementation(x) is G.im2col
    assert isinstance(L.lrn_backward(x, x, 5, 1e-4, 0.75, 2.0), cp.ndarray)


def test_gathers_are_deterministic():
    rng = np.random.default_rng(0)
    cols = cp.asarray(rng.standard_normal((48 * 25, 2 * 27 * 27)).astype(np.float32))
    first = G.col2im(cols, (2, 48, 27, 27), 5, 5, 1, 2)
    assert all(cp.array_equal(first, G.col2im(cols, (2, 48, 27, 27), 5, 5, 1, 2))
               for _ in range(5))


def test_kernels_run_in_order_on_cupys_current_stream():
    """On a non-blocking stream nothing orders our kernels with CuPy's work except the stream
    itself: launched anywhere else, im2col would read x before CuPy has finished writing it."""
    x_host = np.random.default_rng(0).standard_normal((8, 64, 55, 55)).astype(np.float32)
    stream = cp.cuda.Stream(non_blocking=True)
    with stream:
        for _ in range(3):
            x = cp.asarray(x_host)
            x *= 2                                      # CuPy work queued just before ours
            x = cp.exp(cp.log(cp.abs(x) + 1)) - 1       # ... and a bit more
            cols = G.im2col(x, 3, 3, 1, 1)
            total = float(cols.sum())                   # CuPy work right after ours
    stream.synchronize()
    want = K.im2col.reference(np.abs(x_host * 2), 3, 3, 1, 1).sum(dtype=np.float64)
    assert total == pytest.approx(want, rel=1e-4)


def test_alexnet_forward_backward_on_the_gpu_matches_the_cpu():
    rng = np.random.default_rng(0)
    x = (50 * rng.standard_normal((2, 3, 227, 227))).astype(np.float32)
    labels = np.array([3, 7])
    results = {}
    for device in ("cpu", "gpu"):
        net = alexnet(10, seed=0).to(device)
        loss_fn = nn.SoftmaxCrossEntropy()
        logits = net.forward(backend.to_device(x, device))
        loss = loss_fn.forward(logits, backend.to_device(labels, device))
        net.backward(loss_fn.backward())
        results[device] = (loss, {f"{layer.name}.{name}": backend.to_numpy(grad)
                                  for layer, name, _, grad in net.parameters()})
    (loss_cpu, grads_cpu), (loss_gpu, grads_gpu) = results["cpu"], results["gpu"]
    assert loss_gpu == pytest.approx(loss_cpu, rel=1e-4)
    for key, g in grads_cpu.items():
        scale = np.abs(g).max() + 1e-30
        assert np.abs(grads_gpu[key] - g).max() / scale < 1e-3, key


def test_augmented_batches_on_the_gpu_equal_the_cpu_ones():
    rng = np.random.default_rng(0)
    images = rng.integers(0, 256, (4, 256, 256, 3), dtype=np.uint8)
    mean = rng.uniform(0, 255, (256, 256, 3)).astype(np.float32)
    eigvals, eigvecs = np.array([4000.0, 300.0, 50.0]), np.linalg.qr(rng.standard_normal((3, 3)))[0]
    want = cpu_augment.train_batch(images, mean, eigvals, eigvecs, np.random.default_rng(5))
    got = gpu_augment.train_batch(images, cp.asarray(mean), eigvals, eigvecs,
                                  np.random.default_rng(5))
    assert isinstance(got, cp.ndarray) and got.dtype == np.float32
    np.testing.assert_array_equal(got.get(), want)
    np.testing.assert_array_equal(gpu_augment.ten_crop_batch(images, mean).get(),
                                  cpu_augment.ten_crop_batch(images, mean))
