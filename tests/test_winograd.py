"""Winograd's F(2x2, 3x3) (kernels/fast/winograd.py) and the conv engine's use of it.

- the four transforms: loop definitions (kernels/naive.py), vectorised references and Numba
  kernels agree, in float64 and float32, on odd and even sizes and paddings 0-2;
- each backward transform is the adjoint of its forward one (<T a, b> = <a, T* b>);
- Conv2D by Winograd equals the direct loops (float64), with groups and in chunks, and its
  float32 error stays at float32 rounding for AlexNet-sized sums;
- Conv2D uses it exactly for 3x3 stride-1 layers on the fast CPU path.
"""

import numpy as np
import pytest

import numpynet as nn
from numpynet.kernels import dispatch, naive
from numpynet.kernels.fast import conv as engine
from numpynet.kernels.fast import winograd as Wg

TRANSFORM_CASES = [  # (N, C, H, W, pad): Ho, Wo = H + 2*pad - 2, W + 2*pad - 2
    (2, 3, 5, 5, 1),      # odd output: the last tile half outside
    (1, 2, 6, 7, 0),      # no padding, even x odd
    (2, 1, 4, 3, 2),      # padding 2, tiny
    (1, 2, 13, 13, 1),    # AlexNet's conv3-5 size
]


def _tol(dtype):
    return dict(rtol=1e-5, atol=1e-5) if dtype == np.float32 else dict(rtol=1e-12, atol=1e-12)


def _shapes(N, C, H, W, pad, F=3):
    Ho, Wo = Wg.output_hw(H, W, pad)
    th, tw = Wg.tiles(Ho, Wo)
    return (N, C, H, W), (16, C, N * th * tw), (16, F, N * th * tw), (N, F, Ho, Wo)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("case", TRANSFORM_CASES)
def test_transforms_loops_reference_numba_agree(case, dtype, rng):
    *_, pad = case
    x_shape, V_shape, M_shape, y_shape = _shapes(*case)
    x, dV = (rng.standard_normal(s).astype(dtype) for s in (x_shape, V_shape))
    M, dout = (rng.standard_normal(s).astype(dtype) for s in (M_shape, y_shape))
    bias = rng.standard_normal(y_shape[1]).astype(dtype)
    loops = {"input": naive.winograd_input(x, pad),
             "input_grad": naive.winograd_input_grad(dV, x_shape, pad),
             "output": naive.winograd_output(M, bias, np.empty(y_shape, dtype)),
             "output_grad": naive.winograd_output_grad(dout)}
    for impl in ("reference", "numba"):
        got = {"input": getattr(Wg, f"input_transform_{impl}")(x, pad),
               "input_grad": getattr(Wg, f"input_grad_transform_{impl}")(dV, x_shape, pad),
               "output": getattr(Wg, f"output_transform_{impl}")(M, bias,
                                                                   np.empty(y_shape, dtype)),
               "output_grad": getattr(Wg, f"output_grad_transform_{impl}")(dout)}
        for name, value in got.items():
            assert value.dtype == dtype and value.shape == loops[name].shape, (impl, name)
            np.testing.assert_allclose(value, loops[name], **_tol(dtype), err_msg=(impl, name))


def test_transforms_write_into_out(rng):
    x_shape, V_shape, M_shape, y_shape = _shapes(2, 3, 5, 5, 1)
    x, dout = rng.standard_normal(x_shape), rng.standard_normal(y_shape)
    for impl in ("reference", "numba"):
        V, dM, dx = np.empty(V_shape), np.empty(M_shape), np.empty(x_shape)
        assert getattr(Wg, f"input_transform_{impl}")(x, 1, out=V) is V
        assert getattr(Wg, f"output_grad_transform_{impl}")(dout, out=dM) is dM
        assert getattr(Wg, f"input_grad_transform_{impl}")(V, x_shape, 1, out=dx) is dx


@pytest.mark.parametrize("case", TRANSFORM_CASES)
def test_backward_transforms_are_the_adjoints(case, rng):
    """<input(x), dV> = <x, input_grad(dV)>; <output(M) - bias, dy> = <M, output_grad(dy)>;
    <filter(W), dU> = <W, filter_grad(dU)>: what makes backward's chain rule exact."""
    *_, pad = case
    x_shape, V_shape, M_shape, y_shape = _shapes(*case)
    x, dV, M, dy = (rng.standard_normal(s) for s in (x_shape, V_shape, M_shape, y_shape))
    W, dU = rng.standard_normal((3, x_shape[1], 3, 3)), rng.standard_normal((16, 3, x_shape[1]))
    zero_bias = np.zeros(y_shape[1])
    pairs = [(np.vdot(Wg.input_transform.numba(x, pad), dV),
              np.vdot(x, Wg.input_grad_transform.numba(dV, x_shape, pad))),
             (np.vdot(Wg.output_transform.numba(M, zero_bias, np.empty(y_shape)), dy),
              np.vdot(M, Wg.output_grad_transform.numba(dy))),
             (np.vdot(Wg.filter_transform(W), dU), np.vdot(W, Wg.filter_grad_transform(dU)))]
    for left, right in pairs:
        assert left == pytest.approx(right, rel=1e-12, abs=1e-12)


def test_filter_transform_hand_example():
    """A filter that is 1 at its centre: U = (G[:, 1]) (G[:, 1])^T."""
    W = np.zeros((1, 1, 3, 3))
    W[0, 0, 1, 1] = 1
    expected = np.outer([0, 0.5, -0.5, 0], [0, 0.5, -0.5, 0])
    np.testing.assert_array_equal(Wg.filter_transform(W).reshape(4, 4), expected)


CONV_CASES = [  # (N, C, H, W, F, pad, groups)
    (2, 4, 6, 5, 4, 1, 2),        # conv4/5-like: pad 1, groups 2, odd width
    (3, 3, 7, 7, 5, 0, 1),        # no padding
    (1, 2, 4, 4, 6, 2, 2),        # padding 2 (output larger than the input)
]


@pytest.mark.parametrize("case", CONV_CASES)
@pytest.mark.parametrize("chunk_bytes", [1, 10**9])             # one image per chunk, all
def test_winograd_conv_equals_the_direct_loops(case, chunk_bytes, rng, monkeypatch):
    N, C, H, W, F, p, g = case
    monkeypatch.setattr(engine, "CHUNK_BYTES", chunk_bytes)
    layer = nn.Conv2D(C, F, 3, padding=p, groups=g)
    layer.params = {"W": rng.standard_normal(layer.params["W"].shape),
                    "b": rng.standard_normal(F)}
    x = rng.standard_normal((N, C, H, W))
    assert _winograd_ran(layer, x)
    y = layer.forward(x)
    np.testing.assert_allclose(y, naive.conv_forward(x, layer.params["W"], layer.params["b"],
                                                     1, p, g), rtol=1e-12, atol=1e-12)
    dout = rng.standard_normal(y.shape)
    dx, dW, db = naive.conv_backward(dout, x, layer.params["W"], 1, p, g)
    np.testing.assert_allclose(layer.backward(dout), dx, rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(layer.grads["W"], dW, rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(layer.grads["b"], db, rtol=1e-12, atol=1e-12)


def test_winograd_conv_skips_the_input_gradient(rng):
    layer = nn.Conv2D(4, 4, 3, padding=1, groups=2, rng=0)
    x = rng.standard_normal((2, 4, 5, 5)).astype(np.float32)
    dout = rng.standard_normal((2, 4, 5, 5)).astype(np.float32)
    layer.forward(x)
    full = layer.backward(dout)
    dW = layer.grads["W"].copy()
    layer.forward(x)
    assert full is not None and layer.backward(dout, input_grad=False) is None
    np.testing.assert_array_equal(layer.grads["W"], dW)


def _relative_error(a, exact):
    return float(np.abs(a - exact).max() / np.abs(exact).max())


def test_winograd_float32_error_is_float32_rounding(rng, monkeypatch):
    """conv4-sized sums (192 channels a group, 13x13, He init, 64-scaled inputs as in AlexNet)
    in float32, against the float64 result: y, dx and dW within 1e-5 of their largest value
    (float32's epsilon is 6e-8; a wrong transform is off by O(1)). im2col's error is printed
    beside it for docs/PERFORMANCE.md."""
    layer = nn.Conv2D(384, 64, 3, padding=1, groups=2, rng=0)
    x64 = np.maximum(rng.standard_normal((2, 384, 13, 13)), 0) * 64
    dout64 = rng.standard_normal((2, 64, 13, 13))
    W64 = layer.params["W"].astype(np.float64)
    exact_y = naive.conv_forward(x64[:1], W64, np.zeros(64), 1, 1, 2)
    errors = {}
    for winograd in (True, False):
        monkeypatch.setattr(engine, "WINOGRAD", winograd)
        layer.params["W"] = W64
        layer.forward(x64)
        exact_dx, exact_dW = layer.backward(dout64), layer.grads["W"].copy()
        layer.params["W"] = W64.astype(np.float32)
        y = layer.forward(x64.astype(np.float32))
        dx = layer.backward(dout64.astype(np.float32))
        assert y.dtype == dx.dtype == layer.grads["W"].dtype == np.float32
        errors[winograd] = [_relative_error(y[:1], exact_y), _relative_error(dx, exact_dx),
                            _relative_error(layer.grads["W"], exact_dW)]
    print("float32 relative error y, dx, dW: winograd", errors[True], "im2col", errors[False])
    assert max(errors[True]) < 1e-5 and max(errors[False]) < 1e-5


def _winograd_ran(layer, x):
    """Whether layer.forward(x) ran Winograd's transforms (seen through dispatch.instrument)."""
    names = []

    def record(name, fn, *args, **kwargs):
        names.append(name)
        return fn(*args, **kwargs)

    with dispatch.instrument(record):
        layer.forward(x, train=False)
    return "winograd_input" in names


def test_conv_uses_winograd_only_for_3x3_stride_1_on_the_fast_cpu_path(monkeypatch):
    x = np.zeros((1, 4, 9, 9), dtype=np.float32)
    assert _winograd_ran(nn.Conv2D(4, 4, 3, padding=1), x)
    assert not _winograd_ran(nn.Conv2D(4, 4, 3, stride=2), x)
    assert not _winograd_ran(nn.Conv2D(4, 4, 5, padding=2), x)
    assert not _winograd_ran(nn.Conv2D(4, 4, (3, 1)), x)
    with dispatch.using("reference"):
        assert not _winograd_ran(nn.Conv2D(4, 4, 3), x)
    monkeypatch.setattr(engine, "WINOGRAD", False)
    assert not _winograd_ran(nn.Conv2D(4, 4, 3), x)
