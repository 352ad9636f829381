"""The GPU kernels, run in Numba's CUDA simulator, compute exactly what the NumPy references do.

Not collected by a plain `pytest` run: NUMBA_ENABLE_CUDASIM must be set before Numba is first
imported, and the rest of the suite imports Numba normally. tests/test_gpu_sim.py runs this file
in a subprocess:

    NUMBA_ENABLE_CUDASIM=1 python -m pytest tests/gpu_sim_checks.py -q

The kernels get NumPy arrays here, and the wrappers allocate their outputs with NumPy: apart
from that, this is the code that runs on the GPU. The simulator runs every thread in Python, so
the shapes are tiny, and the grid is made small (MAX_BLOCKS x THREADS_PER_BLOCK = 3 x 32 threads)
so that the grid-stride loops run several rounds and some threads have nothing to do.
"""

import numpy as np
import pytest
from numba.core import config

if not config.ENABLE_CUDASIM:
    pytest.skip("needs NUMBA_ENABLE_CUDASIM=1 before numba is imported (see tests/test_gpu_sim.py)",
                allow_module_level=True)

import numpynet as nn                                       # noqa: E402
from numpynet.gpu import kernels as G                       # noqa: E402
from numpynet.kernels import dispatch                       # noqa: E402
from numpynet.kernels import im2col as K                    # noqa: E402
from numpynet.kernels import naive                          # noqa: E402
from numpynet.layers import lrn as L                        # noqa: E402
from numpynet.layers import pool as P                       # noqa: E402
from numpynet.shapes import conv_output_hw                  # noqa: E402

DTYPES = [np.float32, np.float64]


@pytest.fixture(autouse=True)
def small_grid(monkeypatch):
    monkeypatch.setattr(G, "THREADS_PER_BLOCK", 32)
    monkeypatch.setattr(G, "MAX_BLOCKS", 3)


# --------------------------------------------------------------------------- im2col / col2im

CONV_CASES = [  # (N, C, H, W, kh, kw, stride, pad)
    (2, 2, 5, 5, 3, 3, 1, 0),
    (2, 2, 7, 6, 3, 3, 2, 1),          # stride > 1, padding, non-square input
    (1, 2, 9, 9, 5, 5, 4, 2),          # big stride, overlap (conv1-like)
    (2, 1, 4, 5, 2, 3, 1, 2),          # non-square kernel, pad > kernel/2: rows of pure padding
    (1, 1, 4, 4, 4, 4, 1, 0),          # kernel = input: one window
    (1, 2, 7, 7, 2, 2, 3, 0),          # stride > kernel: pixels no window covers
]


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("case", CONV_CASES)
def test_im2col_equals_reference(case, dtype, rng):
    N, C, H, W, kh, kw, s, p = case
    x = rng.standard_normal((N, C, H, W)).astype(dtype)
    cols = G.im2col(x, kh, kw, s, p)
    assert cols.dtype == dtype
    np.testing.assert_array_equal(cols, K.im2col.reference(x, kh, kw, s, p))


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("case", CONV_CASES)
def test_col2im_equals_reference_bit_for_bit(case, dtype, rng):
    """The gather adds the overlapping windows in the reference's order: equal, not just close."""
    N, C, H, W, kh, kw, s, p = case
    Ho, Wo = conv_output_hw(H, W, kh, kw, s, p)
    cols = rng.standard_normal((C * kh * kw, N * Ho * Wo)).astype(dtype)
    x = G.col2im(cols, (N, C, H, W), kh, kw, s, p)
    assert x.dtype == dtype and x.shape == (N, C, H, W)
    np.testing.assert_array_equal(x, K.col2im.reference(cols, (N, C, H, W), kh, kw, s, p))


def test_im2col_hand_example():
    x = np.arange(9.0).reshape(1, 1, 3, 3)             # [[0,1,2],[3,4,5],[6,7,8]]
    cols = G.im2col(x, 2, 2, 1, 0)                      # four 2x2 windows
    np.testing.assert_array_equal(cols, [[0, 1, 3, 4], [1, 2, 4, 5], [3, 4, 6, 7], [4, 5, 7, 8]])


def test_col2im_hand_example():
    """3x3 input, 2x2 windows, stride 1: the centre pixel is in all 4 windows, corners in 1."""
    x = G.col2im(np.ones((4, 4)), (1, 1, 3, 3), 2, 2, 1, 0)
    np.testing.assert_array_equal(x[0, 0], [[1, 2, 1], [2, 4, 2], [1, 2, 1]])


# --------------------------------------------------------------------------- max-pooling

POOL_CASES = [  # (N, C, H, W, k, stride)
    (2, 2, 6, 6, 2, 2),                # classic, no overlap
    (2, 2, 9, 9, 3, 2),                # AlexNet's overlapping pooling
    (1, 2, 8, 7, 3, 2),                # non-square; last row/column in no window
    (1, 1, 5, 5, 3, 1),                # stride 1: a pixel in up to 9 windows
]


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("case", POOL_CASES)
def test_maxpool_equals_reference_with_ties(case, dtype, rng):
    N, C, H, W, k, s = case
    x = rng.integers(0, 3, size=(N, C, H, W)).astype(dtype)      # many ties on purpose
    y, arg = G.maxpool_forward(x, k, s)
    y_ref, arg_ref = P.maxpool_forward.reference(x, k, s)
    assert y.dtype == dtype and arg.dtype == np.int32
    np.testing.assert_array_equal(y, y_ref)
    np.testing.assert_array_equal(arg, arg_ref)
    dout = rng.standard_normal(y.shape).astype(dtype)
    dx = G.maxpool_backward(dout, arg, x.shape, k, s)
    assert dx.dtype == dtype
    np.testing.assert_array_equal(dx, P.maxpool_backward.reference(dout, arg_ref, x.shape, k, s))


def test_maxpool_hand_example():
    """All equal: every window picks its first pixel; pixel (2, 2) starts window (1, 1) only."""
    x = np.ones((1, 1, 5, 5))
    y, arg = G.maxpool_forward(x, 3, 2)
    np.testing.assert_array_equal(arg[0, 0], [[0, 0], [0, 0]])
    x[0, 0, 2, 2] = 5                                   # the centre: in all four windows
    y, arg = G.maxpool_forward(x, 3, 2)
    np.testing.assert_array_equal(y[0, 0], [[5, 5], [5, 5]])
    np.testing.assert_array_equal(arg[0, 0], [[8, 6], [2, 0]])
    dx = G.maxpool_backward(np.array([[[[1.0, 2.0], [3.0, 4.0]]]]), arg, x.shape, 3, 2)
    assert dx[0, 0, 2, 2] == 10 and dx.sum() == 10      # one pixel won all four: 1+2+3+4


# --------------------------------------------------------------------------- LRN

LRN_CASES = [(5, 7), (5, 3), (3, 4), (1, 3)]  # (size, C): C < size clips on both sides at once


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("size,C", LRN_CASES)
def test_lrn_equals_reference(size, C, dtype, rng):
    # alpha ~ 1 and activations ~ 10, so that the window terms matter (see layers/lrn.py)
    alpha, beta, k = 0.3, 0.75, 2.0
    a = (10 * rng.standard_normal((2, C, 2, 3))).astype(dtype)
    tol = dict(rtol=2e-6, atol=0) if dtype == np.float32 else dict(rtol=1e-13, atol=0)
    b = G.lrn_forward(a, size, alpha, beta, k)
    assert b.dtype == dtype
    np.testing.assert_allclose(b, L.lrn_forward.reference(a, size, alpha, beta, k), **tol)
    g = rng.standard_normal(a.shape).astype(dtype)
    da = G.lrn_backward(g, a, size, alpha, beta, k)
    assert da.dtype == dtype
    da_ref = L.lrn_backward.reference(g, a, size, alpha, beta, k)
    np.testing.assert_allclose(da, da_ref, rtol=tol["rtol"], atol=tol["rtol"] * np.abs(g).max())


def test_lrn_hand_example():
    """C = 3, size = 3: channel 0 sees channels 0-1, channel 1 all three, channel 2 sees 1-2."""
    a = np.array([1.0, 2.0, 3.0]).reshape(1, 3, 1, 1)
    b = G.lrn_forward(a, 3, 1.0, 1.0, 1.0)              # d = 1 + sum of squares = 6, 15, 14
    np.testing.assert_allclose(b.ravel(), [1 / 6, 2 / 15, 3 / 14], rtol=1e-15)


def test_lrn_paper_beta_float32(rng):
    """The paper's constants, float32 end to end."""
    a = (50 * rng.standard_normal((1, 6, 3, 3))).astype(np.float32)
    b = G.lrn_forward(a, 5, 1e-4, 0.75, 2.0)
    assert b.dtype == np.float32
    np.testing.assert_allclose(b, L.lrn_forward.reference(a, 5, 1e-4, 0.75, 2.0), rtol=2e-6)


# --------------------------------------------------------------------------- the loop definitions

def test_gpu_kernels_equal_the_loop_definitions(rng):
    """The GPU kernels against kernels/naive.py, the definitions as plain loops (the other
    tests here compare them with the vectorised references, which tests/test_kernels.py
    compares with the same loops)."""
    N, C, H, W, kh, kw, s, p = 2, 2, 7, 6, 3, 3, 2, 1
    x = rng.standard_normal((N, C, H, W))
    cols = G.im2col(x, kh, kw, s, p, out=None, scratch=None)
    np.testing.assert_array_equal(cols, naive.im2col(x, kh, kw, s, p))
    np.testing.assert_allclose(G.col2im(cols, x.shape, kh, kw, s, p),
                               naive.col2im(cols, x.shape, kh, kw, s, p), rtol=1e-13)
    ties = rng.integers(0, 3, size=(N, C, 9, 9)).astype(np.float64)
    y, arg = G.maxpool_forward(ties, 3, 2)
    y_loops, arg_loops = naive.maxpool_forward(ties, 3, 2)
    np.testing.assert_array_equal(y, y_loops)
    np.testing.assert_array_equal(arg, arg_loops)
    dout = rng.standard_normal(y.shape)
    np.testing.assert_allclose(G.maxpool_backward(dout, arg, ties.shape, 3, 2),
                               naive.maxpool_backward(dout, arg_loops, ties.shape, 3, 2),
                               rtol=1e-13)
    a = 10 * rng.standard_normal((1, 5, 2, 2))
    g = rng.standard_normal(a.shape)
    np.testing.assert_allclose(G.lrn_forward(a, 3, 0.3, 0.75, 2.0),
                               naive.lrn_forward(a, 3, 0.3, 0.75, 2.0), rtol=1e-13)
    np.testing.assert_allclose(G.lrn_backward(g, a, 3, 0.3, 0.75, 2.0),
                               naive.lrn_backward(g, a, 3, 0.3, 0.75, 2.0), rtol=1e-12,
                               atol=1e-12)


# --------------------------------------------------------------------------- through the layers

def test_layers_through_the_gpu_dispatch(monkeypatch, rng):
    """A small AlexNet-like stack, forward and backward, with every hot loop on the GPU kernels.

    The dispatchers in numpynet.kernels send CuPy arrays to numpynet.gpu.kernels; here they are
    told every array is one, so this also checks the argument order of those calls.
    """
    def stack():
        return nn.Sequential(nn.Conv2D(3, 4, 3, stride=2, padding=1, rng=1), nn.ReLU(),
                             nn.LocalResponseNorm(3, alpha=0.1, beta=0.75, k=2.0),
                             nn.MaxPool2D(3, stride=2),
                             nn.Conv2D(4, 4, 3, padding=1, groups=2, rng=2))

    x = rng.standard_normal((2, 3, 9, 9)).astype(np.float32)
    cpu = stack()
    y_cpu = cpu.forward(x)
    dout = rng.standard_normal(y_cpu.shape).astype(np.float32)
    dx_cpu = cpu.backward(dout)

    monkeypatch.setattr(dispatch, "path", lambda array: "gpu")
    gpu = stack()
    y_gpu = gpu.forward(x)
    dx_gpu = gpu.backward(dout)
    np.testing.assert_allclose(y_gpu, y_cpu, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(dx_gpu, dx_cpu, rtol=1e-5, atol=1e-6)
    for layer_gpu, layer_cpu in zip(gpu.layers, cpu.layers):
        for name in layer_cpu.grads:
            np.testing.assert_allclose(layer_gpu.grads[name], layer_cpu.grads[name],
                                       rtol=1e-5, atol=1e-5)
