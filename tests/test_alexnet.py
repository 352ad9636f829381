"""The AlexNet layer table, parameter counts, shapes and presets."""

import numpy as np
import pytest

from numpynet.layers import BatchNorm2D, LocalResponseNorm
from numpynet.models import INPUT_SHAPE, alexnet


def test_parameter_counts_match_the_paper():
    assert alexnet(1000, groups=2).num_params() == 60_965_224
    assert alexnet(1000, groups=1).num_params() == 62_378_344


def test_feature_stack_shapes():
    """227 -> 55 -> 27 -> 27 -> 13 -> 13 -> 13 -> 13 -> 6 with 96/256/384/384/256 channels."""
    net = alexnet(10)
    shape, seen = (1, *INPUT_SHAPE), {}
    for layer in net:
        shape = layer.output_shape(shape)
        seen[layer.name] = shape[1:]
    assert seen["conv1"] == (96, 55, 55) and seen["pool1"] == (96, 27, 27)
    assert seen["conv2"] == (256, 27, 27) and seen["pool2"] == (256, 13, 13)
    assert seen["conv3"] == (384, 13, 13) and seen["conv4"] == (384, 13, 13)
    assert seen["conv5"] == (256, 13, 13) and seen["pool5"] == (256, 6, 6)
    assert seen["flatten"] == (9216,) and seen["fc8"] == (10,)


def test_forward_backward_through_the_real_network():
    net = alexnet(7, seed=0)
    x = np.random.default_rng(0).standard_normal((2, *INPUT_SHAPE)).astype(np.float32) * 50
    y = net.forward(x)
    assert y.shape == (2, 7) and y.dtype == np.float32 and np.all(np.isfinite(y))
    dx = net.backward(np.ones_like(y))
    assert dx.shape == x.shape
    for layer, name, param, grad in net.parameters():
        assert grad.shape == param.shape and grad.dtype == np.float32, f"{layer.name}.{name}"


def test_summary_table():
    text = alexnet(1000).summary(INPUT_SHAPE)
    assert "60,965,224" in text and "(96, 55, 55)" in text and "(256, 6, 6)" in text


@pytest.mark.parametrize("init", ["paper", "caffe"])
def test_initialisations(init):
    net = alexnet(10, init=init, seed=0)
    one = 1.0 if init == "paper" else 0.1
    for name in ("conv2", "conv4", "conv5", "fc6", "fc7"):
        assert np.all(net[name].params["b"] == one)
    for name in ("conv1", "conv3", "fc8"):
        assert np.all(net[name].params["b"] == 0)
    fc_std = 0.01 if init == "paper" else 0.005
    assert net["fc6"].params["W"].std() == pytest.approx(fc_std, rel=0.01)
    assert net["conv3"].params["W"].std() == pytest.approx(0.01, rel=0.01)
    assert net["conv1"].params["W"].dtype == np.float32


def test_presets():
    paper, caffe, bn = (alexnet(10, preset=p) for p in ("paper", "caffe", "batchnorm"))
    assert (paper["norm1"].k, paper["norm1"].alpha) == (2.0, 1e-4)
    assert (caffe["norm1"].k, caffe["norm1"].alpha) == (1.0, pytest.approx(2e-5))
    assert not any(isinstance(l, LocalResponseNorm) for l in bn)
    assert sum(isinstance(l, BatchNorm2D) for l in bn) == 5
    names = [l.name for l in bn]
    assert names.index("bn1") == names.index("conv1") + 1      # conv -> BN -> ReLU


def test_default_he_init_is_scaled_to_fan_in_and_pixels():
    net = alexnet(10)
    assert net["conv3"].params["W"].std() == pytest.approx((2 / (256 * 9)) ** 0.5, rel=0.01)
    assert net["conv1"].params["W"].std() == pytest.approx((2 / 363) ** 0.5, rel=0.02)
    assert net.layers[0].name == "scale" and net.layers[0].c == 1 / 64    # unit-scale input
    assert alexnet(10, init="paper").layers[0].name == "conv1"
    for name in ("fc6", "fc7", "fc8"):
        assert net[name].params["W"].std() == pytest.approx(0.01, rel=0.02)
    assert all(np.all(net[n].params["b"] == 0) for n in ("conv1", "conv2", "fc6", "fc8"))


def test_he16_starts_conv1_at_a_quarter_of_he():
    """he: Scale(1/64) and He's std in conv1 (unit-scale input); he16: Scale(1/16) and conv1's
    weights / 16. Powers of two: conv1's output is a quarter of he's, bit for bit, and every
    other layer starts with the same weights."""
    he, he16 = (alexnet(10, init=init, width=0.25, input_size=67) for init in ("he", "he16"))
    assert he16.layers[0].c == 1 / 16
    np.testing.assert_array_equal(he16["conv1"].params["W"] * 16, he["conv1"].params["W"])
    for name in ("conv2", "conv5", "fc6", "fc8"):
        np.testing.assert_array_equal(he16[name].params["W"], he[name].params["W"])
    x = np.random.default_rng(0).normal(0, 64, (2, 3, 67, 67)).astype(np.float32)
    conv1 = [net.layers[1].forward(net.layers[0].forward(x)) for net in (he16, he)]
    np.testing.assert_array_equal(conv1[0] * 4, conv1[1])


def test_same_seed_same_network():
    a, b = alexnet(10, seed=3), alexnet(10, seed=3)
    for (_, _, pa, _), (_, _, pb, _) in zip(a.parameters(), b.parameters()):
        np.testing.assert_array_equal(pa, pb)
    assert not np.array_equal(alexnet(10, seed=4)["conv1"].params["W"], a["conv1"].params["W"])


def test_bad_arguments():
    with pytest.raises(ValueError, match="preset"):
        alexnet(10, preset="vgg")
    with pytest.raises(ValueError, match="groups"):
        alexnet(10, groups=3)
