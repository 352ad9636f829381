"""The Numba kernels compute exactly what their NumPy reference twins compute, and both what
the loop definitions (numpynet/kernels/naive.py) compute."""

import numba
import numpy as np
import pytest

import numpynet as nn
from numpynet import optim as S
from numpynet.kernels import dispatch
from numpynet.kernels import im2col as K
from numpynet.kernels import naive
from numpynet.kernels.fast import lrn as fast_lrn
from numpynet.kernels.fast import product_layout as PL
from numpynet.kernels.fast import sgd as fast_sgd
from numpynet.kernels.fast import im2col as fast_im2col
from numpynet.layers import batchnorm as BN
from numpynet.layers import lrn as L
from numpynet.layers import pool as P
from numpynet.layers import relu as R
from numpynet.shapes import conv_output_size

CONV_CASES = [  # (N, C, H, W, kh, kw, stride, pad)
    (2, 3, 7, 7, 3, 3, 1, 0),
    (2, 3, 9, 8, 3, 3, 2, 1),          # stride > 1, padding, non-square
    (1, 2, 11, 11, 5, 5, 4, 2),        # big stride (conv1-like)
    (3, 4, 6, 5, 2, 3, 1, 2),          # non-square kernel, pad > kernel/2
    (1, 1, 4, 4, 4, 4, 1, 0),          # kernel = input
    (2, 2, 12, 9, 5, 4, 3, 2),         # padded width 13 not a multiple of the stride
    (1, 3, 31, 31, 11, 11, 4, 0),      # conv1's shape, smaller
]


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("case", CONV_CASES)
def test_im2col_numba_equals_reference(case, dtype, rng):
    N, C, H, W, kh, kw, s, p = case
    x = rng.standard_normal((N, C, H, W)).astype(dtype)
    ref = K.im2col.reference(x, kh, kw, s, p)
    fast = K.im2col.numba(x, kh, kw, s, p)
    assert fast.dtype == dtype and fast.shape == ref.shape
    np.testing.assert_array_equal(fast, ref)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("case", CONV_CASES)
def test_col2im_numba_equals_reference(case, dtype, rng):
    N, C, H, W, kh, kw, s, p = case
    Ho, Wo = conv_output_size(H, kh, s, p), conv_output_size(W, kw, s, p)
    cols = rng.standard_normal((C * kh * kw, N * Ho * Wo)).astype(dtype)
    ref = K.col2im.reference(cols, (N, C, H, W), kh, kw, s, p)
    fast = K.col2im.numba(cols, (N, C, H, W), kh, kw, s, p)
    np.testing.assert_allclose(fast, ref, rtol=1e-5 if dtype == np.float32 else 1e-12,
                               atol=1e-6 if dtype == np.float32 else 1e-12)


def test_im2col_uses_a_scratch_array(rng):
    x = rng.standard_normal((2, 3, 12, 9)).astype(np.float32)
    scratch = np.full(2 * 3 * 16 * (13 + 2), np.nan, np.float32)     # N*C*Hp*(Wp + s - 1)
    np.testing.assert_array_equal(K.im2col.numba(x, 5, 4, 3, 2, scratch=scratch),
                                  K.im2col.reference(x, 5, 4, 3, 2))
    assert not np.isnan(scratch[:2 * 3 * 16 * 3 * 5]).any()          # the phase planes


def test_col2im_is_the_adjoint_of_im2col(rng):
    """<im2col(x), c> == <x, col2im(c)> for all x, c: col2im is the transpose of im2col."""
    N, C, H, W, kh, kw, s, p = 2, 3, 9, 8, 3, 3, 2, 1
    x = rng.standard_normal((N, C, H, W))
    cols = K.im2col.reference(x, kh, kw, s, p)
    c = rng.standard_normal(cols.shape)
    lhs = np.sum(cols * c)
    rhs = np.sum(x * K.col2im.reference(c, x.shape, kh, kw, s, p))
    assert lhs == pytest.approx(rhs, rel=1e-12)


def test_im2col_hand_example():
    x = np.arange(9.0).reshape(1, 1, 3, 3)            # [[0,1,2],[3,4,5],[6,7,8]]
    cols = K.im2col.numba(x, 2, 2, 1, 0)              # four 2x2 windows
    # rows: offsets (0,0), (0,1), (1,0), (1,1); columns: windows at (0,0), (0,1), (1,0), (1,1)
    np.testing.assert_array_equal(cols, [[0, 1, 3, 4], [1, 2, 4, 5], [3, 4, 6, 7], [4, 5, 7, 8]])


POOL_CASES = [(2, 3, 8, 8, 2, 2), (2, 3, 13, 13, 3, 2), (1, 2, 9, 7, 3, 2), (2, 1, 6, 6, 3, 1)]


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("case", POOL_CASES)
def test_maxpool_numba_equals_reference(case, dtype, rng):
    N, C, H, W, k, s = case
    x = rng.integers(0, 4, size=(N, C, H, W)).astype(dtype)    # many ties on purpose
    y_ref, arg_ref = P.maxpool_forward.reference(x, k, s)
    y_fast, arg_fast = P.maxpool_forward.numba(x, k, s)
    np.testing.assert_array_equal(y_fast, y_ref)
    np.testing.assert_array_equal(arg_fast, arg_ref)
    dout = rng.standard_normal(y_ref.shape).astype(dtype)
    dx_ref = P.maxpool_backward.reference(dout, arg_ref, x.shape, k, s)
    dx_fast = P.maxpool_backward.numba(dout, arg_fast, x.shape, k, s)
    np.testing.assert_allclose(dx_fast, dx_ref, rtol=1e-6, atol=1e-6)


# --------------------------------------------------------------------------- the newer kernels

def _lrn_inputs(C, dtype, rng, hw=(5, 4)):
    """Activations a ~ 3 (so that the window terms matter), a gradient g, and the tolerance."""
    a = (rng.standard_normal((2, C, *hw)) * 3).astype(dtype)
    return a, rng.standard_normal(a.shape).astype(dtype), 1e-5 if dtype == np.float32 else 1e-12


LRN_CONSTANTS = [(1e-4, 0.75, 2.0), (0.3, 0.6, 1.0)]     # (alpha, beta, k): the paper's, larger


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("size,C", [(5, 8), (5, 3), (3, 7), (1, 4)])
def test_lrn_numba_equals_reference(size, C, dtype, rng):
    """lrn_forward (b alone) and lrn_backward (d recomputed from a)."""
    a, g, tol = _lrn_inputs(C, dtype, rng)
    for alpha, beta, k in LRN_CONSTANTS:
        b = L.lrn_forward.numba(a, size, alpha, beta, k)
        assert b.dtype == dtype
        np.testing.assert_allclose(b, L.lrn_forward.reference(a, size, alpha, beta, k),
                                   rtol=tol, atol=tol)
        da = L.lrn_backward.numba(g, a, size, alpha, beta, k)
        assert da.dtype == dtype
        np.testing.assert_allclose(da, L.lrn_backward.reference(g, a, size, alpha, beta, k),
                                   rtol=tol * 10, atol=tol * 10)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_relu_numba_equals_reference(dtype, rng):
    x = rng.standard_normal((3, 4, 5, 6)).astype(dtype)
    x[0, 0, 0, :3] = [0.0, -0.0, np.nan]                 # the edge cases
    g = rng.standard_normal(x.shape).astype(dtype)
    np.testing.assert_array_equal(R.relu_forward.numba(x), R.relu_forward.reference(x))
    y = R.relu_forward.reference(x)
    np.testing.assert_array_equal(R.relu_backward.numba(g, y), R.relu_backward.reference(g, y))


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("decay", [0.0, 5e-4])
def test_sgd_numba_equals_reference(dtype, decay, rng):
    w, v, g = (rng.standard_normal((30, 7)).astype(dtype) for _ in range(3))
    w2, v2 = w.copy(), v.copy()
    S.sgd_update.numba(w, v, g, 0.01, 0.9, decay)
    S.sgd_update.reference(w2, v2, g, 0.01, 0.9, decay)
    assert w.dtype == dtype and v.dtype == dtype
    np.testing.assert_allclose(v, v2, rtol=1e-6 if dtype == np.float32 else 1e-14)
    np.testing.assert_allclose(w, w2, rtol=1e-6 if dtype == np.float32 else 1e-14)


def test_fast_kernels_write_into_out(rng):
    """out= is filled and returned (the conv engine passes arrays from its workspace)."""
    x = rng.standard_normal((2, 3, 9, 9)).astype(np.float32)
    cols = K.im2col.numba(x, 3, 3, 2, 1)
    out = np.full_like(cols, np.nan)
    assert K.im2col.numba(x, 3, 3, 2, 1, out=out) is out
    np.testing.assert_array_equal(out, K.im2col.reference(x, 3, 3, 2, 1))
    out = np.full_like(x, np.nan)
    assert K.col2im.numba(cols, x.shape, 3, 3, 2, 1, out=out) is out
    np.testing.assert_allclose(out, K.col2im.reference(cols, x.shape, 3, 3, 2, 1), rtol=1e-5)
    y, arg = P.maxpool_forward.reference(x, 3, 2)
    out = (np.empty_like(y), np.empty_like(arg))
    assert P.maxpool_forward.numba(x, 3, 2, out=out) is out
    np.testing.assert_array_equal(out[0], y)
    np.testing.assert_array_equal(out[1], arg)
    with pytest.raises(ValueError, match="out has shape"):
        K.im2col.numba(x, 3, 3, 2, 1, out=np.empty((2, 2), np.float32))


def test_numba_kernels_compute_in_float32():
    """No float64 arithmetic in the float32 versions (a Python float constant would promote
    it): the compiled code would contain `fpext ... to double`. (Compiled afresh here, serially:
    Numba cannot show the code of kernels loaded from its cache.)"""
    import numba
    a = np.ones((2, 4, 9), np.float32)
    t = np.float32
    cases = [(fast_lrn._lrn_normalise_kernel, (a, 3, t(1e-4), t(0.75), t(2), a.copy())),
             (fast_lrn._lrn_backward_from_input_kernel, (a, a, 3, t(1e-4), t(0.75), t(2),
                                                         t(1e-4), a.copy())),
             (fast_sgd._sgd_update_kernel, (a.ravel(), a.ravel().copy(), a.ravel(), t(0.01),
                                            t(0.9), t(5e-6))),
             (fast_im2col._phase_planes_kernel, (a[None], 2, 1, np.zeros((1, 2, 6, 2, 6), t))),
             (PL._columns_to_images_kernel, (a[None], np.ones(1, t), np.zeros((2, 1, 4, 9), t)))]
    for kernel, args in cases:
        serial = numba.njit(kernel.py_func)
        serial(*args)
        for ir in serial.inspect_llvm().values():
            assert "fpext" not in ir, kernel.py_func.__name__


@pytest.mark.parametrize("Wq", [5, 7])                  # as wide as the output, or wider
def test_product_image_layout_numba_equals_reference(Wq, rng):
    F, N, Ho, Wo = 4, 3, 2, 5
    out = rng.standard_normal((F, N, Ho, Wq)).astype(np.float32)
    bias = rng.standard_normal(F).astype(np.float32)
    y_ref, y_fast = (np.full((N, F, Ho, Wo), np.nan, np.float32) for _ in range(2))
    PL.columns_to_images_reference(out, bias, y_ref)
    PL.columns_to_images_numba(out, bias, y_fast)
    np.testing.assert_array_equal(y_fast, y_ref)
    np.testing.assert_array_equal(y_ref[1, 2], out[2, 1, :, :Wo] + bias[2])
    dout = rng.standard_normal((N, F, Ho, Wo)).astype(np.float32)
    D_ref, D_fast = (np.full((F, N, Ho, Wq), np.nan, np.float32) for _ in range(2))
    PL.images_to_columns_reference(dout, D_ref)
    PL.images_to_columns_numba(dout, D_fast)
    np.testing.assert_array_equal(D_fast, D_ref)
    assert np.all(D_ref[..., Wo:] == 0) and np.array_equal(D_ref[2, 1, :, :Wo], dout[1, 2])


# --------------------------------------------------------------------------- the loop definitions
# naive.py writes each kernel as plain loops; the reference and the Numba kernel must agree
# with it (exactly where both only copy, to rounding where they add in another order).

def _tol(dtype):
    return dict(rtol=1e-5, atol=1e-5) if dtype == np.float32 else dict(rtol=1e-12, atol=1e-12)


def test_every_kernel_has_a_loop_definition_and_a_numba_kernel():
    assert len(dispatch.KERNELS) >= 20
    for name, kernel in dispatch.KERNELS.items():
        assert callable(getattr(naive, name, None)), f"no naive.{name}"
        assert kernel.numba is not None and kernel.reference is not None, name


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("case", CONV_CASES)
def test_im2col_col2im_loops_reference_numba_agree(case, dtype, rng):
    shape, args = case[:4], case[4:]                     # (kh, kw, stride, pad)
    x = rng.standard_normal(shape).astype(dtype)
    loops = naive.im2col(x, *args)
    for impl in (K.im2col.reference, K.im2col.numba):
        np.testing.assert_array_equal(impl(x, *args), loops)
    cols = rng.standard_normal(loops.shape).astype(dtype)
    loops = naive.col2im(cols, x.shape, *args)
    for impl in (K.col2im.reference, K.col2im.numba):
        np.testing.assert_allclose(impl(cols, x.shape, *args), loops, **_tol(dtype))


def test_im2col_loops_hand_example():
    x = np.arange(9.0).reshape(1, 1, 3, 3)
    np.testing.assert_array_equal(naive.im2col(x, 2, 2, 1, 0),
                                  [[0, 1, 3, 4], [1, 2, 4, 5], [3, 4, 6, 7], [4, 5, 7, 8]])
    np.testing.assert_array_equal(naive.col2im(np.ones((4, 4)), (1, 1, 3, 3), 2, 2)[0, 0],
                                  [[1, 2, 1], [2, 4, 2], [1, 2, 1]])


LAYER_CASES = [  # (N, C, H, W, F, k, stride, pad, groups)
    (2, 4, 7, 6, 6, 3, 2, 1, 2),       # stride > 1, padding, groups, non-square
    (1, 3, 9, 9, 4, 5, 4, 2, 1),       # kernel > stride: overlapping windows
    (2, 4, 6, 5, 4, 3, 1, 1, 2),       # stride 1, 3x3: Winograd on the fast path
]


@pytest.mark.parametrize("case", LAYER_CASES)
def test_conv_layer_equals_the_loop_definition(case, kernels, rng):
    """Conv2D (im2col + products, both paths) against the direct loops, forward and backward."""
    N, C, H, W, F, k, s, p, g = case
    layer = nn.Conv2D(C, F, k, stride=s, padding=p, groups=g)
    layer.params = {"W": rng.standard_normal(layer.params["W"].shape),
                    "b": rng.standard_normal(F)}
    x = rng.standard_normal((N, C, H, W))
    y = layer.forward(x)
    np.testing.assert_allclose(y, naive.conv_forward(x, layer.params["W"], layer.params["b"],
                                                     s, p, g), rtol=1e-12, atol=1e-12)
    dout = rng.standard_normal(y.shape)
    dx, dW, db = naive.conv_backward(dout, x, layer.params["W"], s, p, g)
    np.testing.assert_allclose(layer.backward(dout), dx, rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(layer.grads["W"], dW, rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(layer.grads["b"], db, rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("Wq", [5, 7])                  # as wide as the output, or wider
def test_product_layout_loops_reference_numba_agree(Wq, rng):
    F, N, Ho, Wo = 4, 3, 2, 5
    out = rng.standard_normal((F, N, Ho, Wq)).astype(np.float32)
    bias = rng.standard_normal(F).astype(np.float32)
    dout = rng.standard_normal((N, F, Ho, Wo)).astype(np.float32)
    y, D = np.zeros((N, F, Ho, Wo), np.float32), np.full((F, N, Ho, Wq), np.nan, np.float32)
    loops_y = naive.columns_to_images(out, bias, y.copy())
    loops_D = naive.images_to_columns(dout, D.copy())
    for impl in ("reference", "numba"):
        to_images, to_columns = (getattr(PL.columns_to_images, impl),
                                 getattr(PL.images_to_columns, impl))
        np.testing.assert_array_equal(to_images(out, bias, y.copy()), loops_y)
        np.testing.assert_array_equal(to_columns(dout, D.copy()), loops_D)


@pytest.mark.parametrize("impl", ["reference", "numba"])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("case", POOL_CASES)
def test_maxpool_loops_reference_numba_agree(case, dtype, impl, rng):
    """Ties go to the first position in all three; backward adds (+=) where windows overlap."""
    forward, backward = getattr(P.maxpool_forward, impl), getattr(P.maxpool_backward, impl)
    N, C, H, W, k, s = case
    x = rng.integers(0, 4, size=(N, C, H, W)).astype(dtype)    # many ties on purpose
    y, arg = naive.maxpool_forward(x, k, s)
    y_impl, arg_impl = forward(x, k, s)
    np.testing.assert_array_equal(y_impl, y)
    np.testing.assert_array_equal(arg_impl, arg)
    dout = rng.standard_normal(y.shape).astype(dtype)
    np.testing.assert_allclose(backward(dout, arg, x.shape, k, s),
                               naive.maxpool_backward(dout, arg, x.shape, k, s), **_tol(dtype))


def test_maxpool_loops_hand_example():
    x = np.ones((1, 1, 5, 5))
    x[0, 0, 2, 2] = 5                                   # the centre: in all four 3x3 windows
    y, arg = naive.maxpool_forward(x, 3, 2)
    np.testing.assert_array_equal(arg[0, 0], [[8, 6], [2, 0]])
    dx = naive.maxpool_backward(np.array([[[[1.0, 2.0], [3.0, 4.0]]]]), arg, x.shape, 3, 2)
    assert dx[0, 0, 2, 2] == 10 and dx.sum() == 10


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("size,C", [(5, 8), (5, 3), (3, 7), (1, 4)])
@pytest.mark.parametrize("impl", ["reference", "numba"])
def test_lrn_loops_reference_numba_agree(size, C, dtype, impl, rng):
    """Both LRN kernels against the paper's formula and the full chain rule, as loops."""
    a, g, tol = _lrn_inputs(C, dtype, rng, hw=(3, 2))
    forward, backward = getattr(L.lrn_forward, impl), getattr(L.lrn_backward, impl)
    for constants in LRN_CONSTANTS:
        np.testing.assert_allclose(forward(a, size, *constants),
                                   naive.lrn_forward(a, size, *constants), rtol=tol, atol=tol)
        np.testing.assert_allclose(backward(g, a, size, *constants),
                                   naive.lrn_backward(g, a, size, *constants),
                                   rtol=tol * 10, atol=tol * 10)


def test_lrn_loops_hand_example():
    """C = 3, size = 3: channel 0 sees channels 0-1, channel 1 all three, channel 2 sees 1-2."""
    a = np.array([1.0, 2.0, 3.0]).reshape(1, 3, 1, 1)
    b = naive.lrn_forward(a, 3, 1.0, 1.0, 1.0)          # d = 1 + window sums: 6, 15, 14
    np.testing.assert_allclose(b.ravel(), [1 / 6, 2 / 15, 3 / 14], rtol=1e-15)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_relu_loops_reference_numba_agree(dtype, rng):
    x = rng.standard_normal((2, 3, 4, 5)).astype(dtype)
    x[0, 0, 0, :3] = [0.0, -0.0, np.nan]                 # the edge cases
    g = rng.standard_normal(x.shape).astype(dtype)
    y = naive.relu_forward(x)
    for impl in ("reference", "numba"):
        np.testing.assert_array_equal(getattr(R.relu_forward, impl)(x), y)
        np.testing.assert_array_equal(getattr(R.relu_backward, impl)(g, y),
                                      naive.relu_backward(g, y))


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_scale_loops_reference_numba_agree(dtype, rng):
    from numpynet.layers.scale import scale
    x = rng.standard_normal((2, 3, 4, 5)).astype(dtype)
    y = naive.scale(x, 1 / 64)
    for impl in (scale.reference, scale.numba):
        assert impl(x, 1 / 64).dtype == dtype
        np.testing.assert_array_equal(impl(x, 1 / 64), y)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_sgd_loops_reference_numba_agree(dtype, rng):
    w, v, g = (rng.standard_normal((6, 5)).astype(dtype) for _ in range(3))
    expected_w, expected_v = w.copy(), v.copy()
    naive.sgd_update(expected_w, expected_v, g, 0.01, 0.9, 5e-4)
    for impl in ("reference", "numba"):
        w2, v2 = w.copy(), v.copy()
        getattr(S.sgd_update, impl)(w2, v2, g, 0.01, 0.9, 5e-4)
        assert w2.dtype == dtype
        np.testing.assert_allclose(v2, expected_v, rtol=1e-6 if dtype == np.float32 else 1e-14)
        np.testing.assert_allclose(w2, expected_w, rtol=1e-6 if dtype == np.float32 else 1e-14)


def test_sgd_numba_takes_the_reference_lines_for_strided_parameters(rng):
    w = rng.standard_normal((6, 8))[:, ::2]              # not C-contiguous
    v, g = np.zeros_like(w), rng.standard_normal(w.shape)
    w2, v2 = w.copy(), v.copy()
    S.sgd_update.numba(w, v, g, 0.01, 0.9, 5e-4)
    S.sgd_update.reference(w2, v2, g, 0.01, 0.9, 5e-4)
    np.testing.assert_array_equal(w, w2)
    np.testing.assert_array_equal(v, v2)


# --------------------------------------------------------------------------- BatchNorm

BN_CASES = [(3, 4, 5, 6), (1, 2, 1, 1), (2, 3, 7, 1)]       # (N, C, H, W): M = 90, 1, 14


def _bn_inputs(shape, dtype, rng):
    """x with a mean far from 0 (3 + 2 * noise), gamma, beta and a gradient g."""
    C = shape[1]
    x = (rng.standard_normal(shape) * 2 + 3).astype(dtype)
    gamma, beta = (rng.standard_normal(C).astype(dtype) for _ in range(2))
    return x, gamma, beta, rng.standard_normal(shape).astype(dtype)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("shape", BN_CASES)
@pytest.mark.parametrize("impl", ["reference", "numba"])
def test_batchnorm_loops_reference_numba_agree(shape, dtype, impl, rng):
    """Forward with the batch's statistics and with given ones; backward with both."""
    forward, normalise, backward = (getattr(getattr(BN, name), impl) for name in
                                    ("batchnorm_forward", "batchnorm_normalise",
                                     "batchnorm_backward"))
    x, gamma, beta, g = _bn_inputs(shape, dtype, rng)
    y, mean, var = naive.batchnorm_forward(x, gamma, beta, 1e-5)
    for got, expected in zip(forward(x, gamma, beta, 1e-5), (y, mean, var)):
        assert got.dtype == dtype
        np.testing.assert_allclose(got, expected, **_tol(dtype))
    running_mean, running_var = mean + 0.5, var * 2 + 0.1       # statistics not x's own
    np.testing.assert_allclose(normalise(x, running_mean, running_var, gamma, beta, 1e-5),
                               naive.batchnorm_normalise(x, running_mean, running_var, gamma,
                                                         beta, 1e-5), **_tol(dtype))
    for stats, batch_stats in (((mean, var), True), ((running_mean, running_var), False)):
        expected = naive.batchnorm_backward(g, x, *stats, gamma, 1e-5, batch_stats)
        for got, want in zip(backward(g, x, *stats, gamma, 1e-5, batch_stats), expected):
            assert got.dtype == dtype
            np.testing.assert_allclose(got, want, **_tol(dtype))


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_batchnorm_numba_equals_reference(dtype, rng):
    """A larger batch; the normalisation with given statistics does the reference's float
    operations in the reference's order: the same bits."""
    x, gamma, beta, g = _bn_inputs((4, 6, 9, 11), dtype, rng)
    ref = BN.batchnorm_forward.reference(x, gamma, beta, 1e-5)
    fast = BN.batchnorm_forward.numba(x, gamma, beta, 1e-5)
    for a, b in zip(fast, ref):
        np.testing.assert_allclose(a, b, **_tol(dtype))
    mean, var = ref[1], ref[2]
    np.testing.assert_array_equal(BN.batchnorm_normalise.numba(x, mean, var, gamma, beta, 1e-5),
                                  BN.batchnorm_normalise.reference(x, mean, var, gamma, beta,
                                                                   1e-5))
    for batch_stats in (True, False):
        ref = BN.batchnorm_backward.reference(g, x, mean, var, gamma, 1e-5, batch_stats)
        fast = BN.batchnorm_backward.numba(g, x, mean, var, gamma, 1e-5, batch_stats)
        for a, b in zip(fast, ref):
            np.testing.assert_allclose(a, b, **_tol(dtype))


def test_batchnorm_numba_statistics_are_accurate_in_float32(rng):
    """Sums accumulated in float64, of x shifted by one of its values: a mean of 1000 with a
    spread of 0.01 (sum(x^2) / M - mean^2 in float32 would give noise) still gives the variance
    to float32 rounding, and so does 10^6 values per channel."""
    x = (1000 + 0.01 * rng.standard_normal((4, 2, 8, 8))).astype(np.float32)
    exact = x.astype(np.float64).var(axis=(0, 2, 3))
    _, mean, var = BN.batchnorm_forward.numba(x, np.ones(2, np.float32), np.zeros(2, np.float32),
                                              1e-5)
    np.testing.assert_allclose(var, exact, rtol=1e-5)
    np.testing.assert_allclose(mean, x.astype(np.float64).mean(axis=(0, 2, 3)), rtol=1e-7)
    big = rng.random((16, 1, 250, 250), dtype=np.float32)
    _, mean, var = BN.batchnorm_forward.numba(big, np.ones(1, np.float32),
                                              np.zeros(1, np.float32), 1e-5)
    np.testing.assert_allclose(mean, big.astype(np.float64).mean(), rtol=1e-7)
    np.testing.assert_allclose(var, big.astype(np.float64).var(), rtol=1e-6)


def test_batchnorm_fast_kernels_write_into_out(rng):
    x, gamma, beta, g = _bn_inputs((2, 3, 4, 5), np.float32, rng)
    y, mean, var = BN.batchnorm_forward.reference(x, gamma, beta, 1e-5)
    out = np.full_like(x, np.nan)
    assert BN.batchnorm_forward.numba(x, gamma, beta, 1e-5, out=out)[0] is out
    np.testing.assert_allclose(out, y, **_tol(np.float32))
    out = np.full_like(x, np.nan)
    assert BN.batchnorm_normalise.numba(x, mean, var, gamma, beta, 1e-5, out=out) is out
    out = np.full_like(x, np.nan)
    assert BN.batchnorm_backward.numba(g, x, mean, var, gamma, 1e-5, True, out=out)[0] is out
    assert not np.isnan(out).any()


def test_batchnorm_loops_hand_example():
    """One channel, x = 1, 2, 3, 4: mean 2.5, var 1.25; y = (x - 2.5) / sqrt(1.25) (eps 0)."""
    x = np.array([1.0, 2.0, 3.0, 4.0]).reshape(1, 1, 2, 2)
    y, mean, var = naive.batchnorm_forward(x, np.ones(1), np.zeros(1), 0.0)
    assert mean[0] == 2.5 and var[0] == 1.25
    np.testing.assert_allclose(y.ravel(), np.array([-1.5, -0.5, 0.5, 1.5]) / np.sqrt(1.25))
    dx, dgamma, dbeta = naive.batchnorm_backward(np.ones_like(x), x, mean, var, np.ones(1), 0.0,
                                                 True)
    np.testing.assert_allclose(dx, 0, atol=1e-15)        # a constant g only shifts y: no gradient
    assert dbeta[0] == 4 and abs(dgamma[0]) < 1e-15


@pytest.mark.skipif(numba.config.NUMBA_NUM_THREADS < 2, reason="needs 2 or more Numba threads")
def test_batchnorm_numba_thread_count_changes_no_bit(rng):
    """One thread per channel, sums in a fixed order: the same bits on 1 thread as on all."""
    x, gamma, beta, g = _bn_inputs((3, 7, 9, 9), np.float32, rng)

    def run(threads):
        numba.set_num_threads(threads)
        try:
            y, mean, var = BN.batchnorm_forward.numba(x, gamma, beta, 1e-5)
            return (y, mean, var, *BN.batchnorm_backward.numba(g, x, mean, var, gamma, 1e-5, True))
        finally:
            numba.set_num_threads(numba.config.NUMBA_NUM_THREADS)
    for a, b in zip(run(1), run(numba.config.NUMBA_NUM_THREADS)):
        np.testing.assert_array_equal(a, b)
