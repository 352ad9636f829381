"""Caffe's .caffemodel: the protobuf wire format by hand, both message versions, and numpynet
networks exported to Caffe and read back."""

import numpy as np
import pytest

from numpynet import predict
from numpynet.models import alexnet
from numpynet.weights import caffe, pretrained
from numpynet.weights import protobuf as pb

SMALL = dict(width=0.125, input_size=67)        # the paper's layer table, a CPU-test size


def test_varint_by_hand():
    """protobuf's own example: field 1 = 150 is 08 96 01 (150 = 0b1_0010110: 0x96, 0x01)."""
    assert pb.varint_field(1, 150) == bytes([0x08, 0x96, 0x01])
    assert list(pb.fields(bytes([0x08, 0x96, 0x01]))) == [(1, pb.VARINT, 150)]
    for n in (0, 1, 127, 128, 300, 2**31, 2**63 - 1):
        assert pb.read_varint(pb.encode_varint(n), 0) == (n, len(pb.encode_varint(n)))
    assert len(pb.encode_varint(-1)) == 10 and pb.varints([(pb.VARINT, 2**64 - 1)]) == [-1]


def test_packed_and_unpacked_floats_both_read():
    values = np.array([1.5, -2.0, 3.25], np.float32)
    packed = pb.packed_floats(5, values)
    unpacked = b"".join(pb.float_field(5, v) for v in values)
    for data in (packed, unpacked, packed[:0] + unpacked[:5] + pb.packed_floats(5, values[1:])):
        assert np.array_equal(pb.numbers(pb.message(data)[5], "f4"), values)


def test_truncated_message_is_an_error():
    data = pb.bytes_field(7, b"abcdef")
    with pytest.raises(pb.WireError, match="ends inside"):
        pb.message(data[:-1])


def example_net(version):
    rng = np.random.default_rng(0)
    return caffe.CaffeNet([
        caffe.CaffeLayer("conv1", "Convolution", [rng.standard_normal((4, 3, 2, 2), np.float32),
                                                  rng.standard_normal(4, np.float32)]),
        caffe.CaffeLayer("norm1", "LRN", [], {"local_size": 3, "alpha": 0.5, "beta": 0.75,
                                               "k": 2.0}),
        caffe.CaffeLayer("relu1", "ReLU"),
        caffe.CaffeLayer("fc8", "InnerProduct", [rng.standard_normal((5, 16), np.float32),
                                                 rng.standard_normal(5, np.float32)])],
        version, [1, 3, 9, 9])


@pytest.mark.parametrize("version", ["layer", "v1"])
def test_both_message_versions_round_trip_exactly(tmp_path, version):
    net = example_net(version)
    caffe.write_caffemodel(tmp_path / "m.caffemodel", net)
    back = caffe.read_caffemodel(tmp_path / "m.caffemodel")
    assert back.version == version and back.input_dim == [1, 3, 9, 9]
    assert [(l.name, l.type, l.lrn) for l in back.layers] == \
        [(l.name, l.type, l.lrn) for l in net.layers]
    for ours, theirs in zip(net.layers, back.layers):
        for a, b in zip(ours.blobs, theirs.blobs):
            if version == "v1":                          # num, channels, height, width
                assert b.ndim == 4 and b.shape[4 - a.ndim:] == a.shape
            assert np.array_equal(b.reshape(a.shape), a)


def test_v1_layers_use_the_enum_and_field_2(tmp_path):
    caffe.write_caffemodel(tmp_path / "m.caffemodel", example_net("v1"))
    top = pb.message((tmp_path / "m.caffemodel").read_bytes())
    assert 2 in top and 100 not in top
    first = pb.message(top[2][0][1])
    assert pb.string(first[4]) == "conv1" and pb.varints(first[5]) == [4]    # CONVOLUTION
    blob = pb.message(first[6][0][1])
    assert [pb.scalar(blob[n], "i4", 0) for n in (1, 2, 3, 4)] == [4, 3, 2, 2]


def test_lrn_defaults_of_the_proto_when_fields_are_absent(tmp_path):
    layer = pb.bytes_field(1, "norm1") + pb.bytes_field(2, "LRN") + pb.bytes_field(118, b"")
    (tmp_path / "m.caffemodel").write_bytes(pb.bytes_field(100, layer))
    lrn = caffe.read_caffemodel(tmp_path / "m.caffemodel").layers[0].lrn
    assert lrn == {"local_size": 5, "alpha": 1.0, "beta": 0.75, "k": 1.0}


@pytest.mark.parametrize("version", ["layer", "v1"])
@pytest.mark.parametrize("preset,init", [("paper", "paper"), ("caffe", "caffe")])
def test_exported_network_reads_back_with_identical_logits(tmp_path, version, preset, init):
    net = alexnet(10, preset=preset, init=init, seed=1, **SMALL)
    path = tmp_path / "net.caffemodel"
    caffe.write_caffemodel(path, caffe.from_numpynet(net, version, size=67))
    model = caffe.read_caffemodel(path)
    back = caffe.to_numpynet(model)
    assert caffe.input_size(model) == 67
    assert [type(l).__name__ for l in back] == [type(l).__name__ for l in net]
    assert [l.describe() for l in back] == [l.describe() for l in net]
    x = np.random.default_rng(2).uniform(-120, 130, (2, 3, 67, 67)).astype(np.float32)
    assert np.array_equal(back.forward(x, train=False), net.forward(x, train=False))
    assert all(w.flags.writeable and w.flags.c_contiguous for w in back.state_dict().values())
    conv1 = next(l for l in model.layers if l.name == "conv1").blobs[0]
    assert np.array_equal(conv1, net["conv1"].params["W"][:, ::-1])       # stored BGR


def test_a_scale_in_front_folds_into_conv1(tmp_path):
    net = alexnet(10, init="he", seed=1, **SMALL)                 # Scale(1/64) before conv1
    caffe.write_caffemodel(tmp_path / "n.caffemodel", caffe.from_numpynet(net, size=67))
    back = caffe.to_numpynet(caffe.read_caffemodel(tmp_path / "n.caffemodel"))
    assert type(back[0]).__name__ == "Conv2D"
    x = np.random.default_rng(2).uniform(-120, 130, (2, 3, 67, 67)).astype(np.float32)
    expected = net.forward(x, train=False)
    assert np.allclose(back.forward(x, train=False), expected, rtol=1e-4,
                       atol=1e-4 * np.abs(expected).max())


@pytest.mark.parametrize("preset", ["batchnorm", "torchvision"])
def test_other_presets_are_refused(preset):
    net = alexnet(10, preset=preset, width=0.125, input_size=224 if preset == "torchvision"
                  else 67)
    with pytest.raises(ValueError, match="paper or caffe preset|paper and caffe presets"):
        caffe.from_numpynet(net)


def test_missing_layers_are_named(tmp_path):
    net = example_net("layer")
    with pytest.raises(ValueError, match=r"no weights and biases for \['conv2'"):
        caffe.to_numpynet(net)


def test_mean_file_becomes_an_rgb_image(tmp_path):
    bgr = np.arange(48, dtype=np.float32).reshape(1, 3, 4, 4)
    (tmp_path / "mean.binaryproto").write_bytes(caffe.encode_blob(bgr, "v1"))
    mean = caffe.read_mean(tmp_path / "mean.binaryproto")
    assert mean.shape == (4, 4, 3) and np.array_equal(mean[..., 0], bgr[0, 2])   # R = BGR's 2


def test_pretrained_caffe_uses_the_mean_pixel_in_rgb(tmp_path):
    net = alexnet(1000, preset="caffe", init="caffe", seed=0, width=0.125, input_size=67)
    caffe.write_caffemodel(tmp_path / "a.caffemodel", caffe.from_numpynet(net, "v1", size=67))
    model = pretrained.load(f"caffe:{tmp_path / 'a.caffemodel'}")
    assert model.crop == 67 and model.mean.shape == (256, 256, 3)
    assert np.array_equal(model.mean[0, 0], [123, 117, 104])
    assert len(model.names) == 1000 and model.wnids[0] == "n01440764"


def bvlc_like_file(path, version, width=1.0, classes=1000):
    """A .caffemodel laid out as bvlc_alexnet's: deploy.prototxt's layer names and order, the
    layers without blobs too, Caffe's LRN (alpha 1e-4, k 1), no input_dim; random weights in
    Caffe's convention (conv1 reads BGR). Returns the weights {name: (W, b)}."""
    net = alexnet(classes, preset="caffe", init="caffe", seed=7, width=width)
    rng = np.random.default_rng(8)
    weights = {n: (rng.standard_normal(net[n].params["W"].shape).astype(np.float32) * 0.02,
                   rng.standard_normal(net[n].params["b"].shape).astype(np.float32) * 0.1)
               for n in caffe.WEIGHTED}
    lrn = {"local_size": 5, "alpha": 1e-4, "beta": 0.75, "k": 1.0}
    order = ["data", "conv1", "relu1", "norm1", "pool1", "conv2", "relu2", "norm2", "pool2",
             "conv3", "relu3", "conv4", "relu4", "conv5", "relu5", "pool5", "fc6", "relu6",
             "drop6", "fc7", "relu7", "drop7", "fc8", "loss"]
    kinds = {"data": "Data", "conv": "Convolution", "relu": "ReLU", "norm": "LRN",
             "pool": "Pooling", "fc": "InnerProduct", "drop": "Dropout",
             "loss": "SoftmaxWithLoss"}
    layers = [caffe.CaffeLayer(n, kinds[n.rstrip("0123456789")], list(weights.get(n, [])),
                               lrn if n.startswith("norm") else None) for n in order]
    caffe.write_caffemodel(path, caffe.CaffeNet(layers, version, []))
    return weights


def test_a_bvlc_shaped_v1_file_becomes_the_caffe_preset(tmp_path):
    weights = bvlc_like_file(tmp_path / "bvlc.caffemodel", "v1")
    model = caffe.read_caffemodel(tmp_path / "bvlc.caffemodel")
    net = caffe.to_numpynet(model)
    assert caffe.input_size(model) == 227 and net.num_params() == 60_965_224   # groups 2
    assert net["norm1"].describe() == "size=5, alpha=2e-05, beta=0.75, k=1"
    assert net["conv2"].groups == 2 and net["fc8"].out_features == 1000
    assert np.array_equal(net["conv1"].params["W"], weights["conv1"][0][:, ::-1])
    assert np.array_equal(net["fc6"].params["W"], weights["fc6"][0])


def test_predict_pipeline_equals_caffes_own_convention(tmp_path):
    """Caffe feeds conv1 BGR pixels minus (104, 117, 123); numpynet feeds RGB minus the same
    mean turned to RGB, into a conv1 whose input channels were reversed: the same logits."""
    weights = bvlc_like_file(tmp_path / "w.caffemodel", "layer", width=0.125, classes=20)
    model = pretrained.load(f"caffe:{tmp_path / 'w.caffemodel'}")
    rgb = np.random.default_rng(9).integers(0, 256, (2, 256, 256, 3), dtype=np.uint8)
    ours = model.net.forward(predict.centre_batch(rgb, model.mean, 227), train=False)

    as_in_caffe = alexnet(20, preset="caffe", init="caffe", width=0.125)
    as_in_caffe.load_state_dict({f"{n}.{p}": w for n, (W, b) in weights.items()
                                 for p, w in (("W", W), ("b", b))})
    bgr = rgb[..., ::-1].astype(np.float32) - np.array([104, 117, 123], np.float32)
    x = np.ascontiguousarray(bgr[:, 14:241, 14:241].transpose(0, 3, 1, 2))   # centre 227
    assert np.allclose(ours, as_in_caffe.forward(x, train=False), rtol=1e-5, atol=1e-5)
