"""The Numba kernels compute exactly what their NumPy reference twins compute."""

import numpy as np
import pytest

from numpynet.kernels import im2col as K
from numpynet.kernels import lrn as L
from numpynet.kernels import pool as P

CONV_CASES = [  # (N, C, H, W, kh, kw, stride, pad)
    (2, 3, 7, 7, 3, 3, 1, 0),
    (2, 3, 9, 8, 3, 3, 2, 1),          # stride > 1, padding, non-square
    (1, 2, 11, 11, 5, 5, 4, 2),        # big stride (conv1-like)
    (3, 4, 6, 5, 2, 3, 1, 2),          # non-square kernel, pad > kernel/2
    (1, 1, 4, 4, 4, 4, 1, 0),          # kernel = input
]


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("case", CONV_CASES)
def test_im2col_numba_equals_reference(case, dtype, rng):
    N, C, H, W, kh, kw, s, p = case
    x = rng.standard_normal((N, C, H, W)).astype(dtype)
    ref = K.im2col_reference(x, kh, kw, s, p)
    fast = K.im2col_numba(x, kh, kw, s, p)
    assert fast.dtype == dtype and fast.shape == ref.shape
    np.testing.assert_array_equal(fast, ref)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("case", CONV_CASES)
def test_col2im_numba_equals_reference(case, dtype, rng):
    N, C, H, W, kh, kw, s, p = case
    Ho, Wo = K.conv_output_size(H, kh, s, p), K.conv_output_size(W, kw, s, p)
    cols = rng.standard_normal((C * kh * kw, N * Ho * Wo)).astype(dtype)
    ref = K.col2im_reference(cols, (N, C, H, W), kh, kw, s, p)
    fast = K.col2im_numba(cols, (N, C, H, W), kh, kw, s, p)
    np.testing.assert_allclose(fast, ref, rtol=1e-5 if dtype == np.float32 else 1e-12,
                               atol=1e-6 if dtype == np.float32 else 1e-12)


def test_col2im_is_the_adjoint_of_im2col(rng):
    """<im2col(x), c> == <x, col2im(c)> for all x, c: col2im is the transpose of im2col."""
    N, C, H, W, kh, kw, s, p = 2, 3, 9, 8, 3, 3, 2, 1
    x = rng.standard_normal((N, C, H, W))
    cols = K.im2col_reference(x, kh, kw, s, p)
    c = rng.standard_normal(cols.shape)
    lhs = np.sum(cols * c)
    rhs = np.sum(x * K.col2im_reference(c, x.shape, kh, kw, s, p))
    assert lhs == pytest.approx(rhs, rel=1e-12)


def test_im2col_hand_example():
    x = np.arange(9.0).reshape(1, 1, 3, 3)            # [[0,1,2],[3,4,5],[6,7,8]]
    cols = K.im2col_numba(x, 2, 2, 1, 0)              # four 2x2 windows
    # rows: offsets (0,0), (0,1), (1,0), (1,1); columns: windows at (0,0), (0,1), (1,0), (1,1)
    np.testing.assert_array_equal(cols, [[0, 1, 3, 4], [1, 2, 4, 5], [3, 4, 6, 7], [4, 5, 7, 8]])


POOL_CASES = [(2, 3, 8, 8, 2, 2), (2, 3, 13, 13, 3, 2), (1, 2, 9, 7, 3, 2), (2, 1, 6, 6, 3, 1)]


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("case", POOL_CASES)
def test_maxpool_numba_equals_reference(case, dtype, rng):
    N, C, H, W, k, s = case
    x = rng.integers(0, 4, size=(N, C, H, W)).astype(dtype)    # many ties on purpose
    y_ref, arg_ref = P.maxpool_forward_reference(x, k, s)
    y_fast, arg_fast = P.maxpool_forward_numba(x, k, s)
    np.testing.assert_array_equal(y_fast, y_ref)
    np.testing.assert_array_equal(arg_fast, arg_ref)
    dout = rng.standard_normal(y_ref.shape).astype(dtype)
    dx_ref = P.maxpool_backward_reference(dout, arg_ref, x.shape, k, s)
    dx_fast = P.maxpool_backward_numba(dout, arg_fast, x.shape, k, s)
    np.testing.assert_allclose(dx_fast, dx_ref, rtol=1e-6, atol=1e-6)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("size,C", [(5, 8), (5, 3), (3, 7), (1, 4)])
def test_lrn_numba_equals_reference(size, C, dtype, rng):
    a = (rng.standard_normal((2, C, 5, 4)) * 3).astype(dtype)
    for alpha, beta, k in [(1e-4, 0.75, 2.0), (0.3, 0.6, 1.0)]:
        b_ref, d_ref = L.lrn_forward_reference(a, size, alpha, beta, k)
        b_fast, d_fast = L.lrn_forward_numba(a, size, alpha, beta, k)
        tol = 1e-5 if dtype == np.float32 else 1e-12
        np.testing.assert_allclose(d_fast, d_ref, rtol=tol)
        np.testing.assert_allclose(b_fast, b_ref, rtol=tol, atol=tol)
        g = rng.standard_normal(a.shape).astype(dtype)
        da_ref = L.lrn_backward_reference(g, a, b_ref, d_ref, size, alpha, beta)
        da_fast = L.lrn_backward_numba(g, a, b_fast, d_fast, size, alpha, beta)
        np.testing.assert_allclose(da_fast, da_ref, rtol=tol * 10, atol=tol * 10)
