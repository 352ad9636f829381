"""Weights out: numpynet -> PyTorch state_dict, ONNX (checked by onnxruntime) and Caffe, through
`python -m numpynet.export` (each skipped cleanly without its package)."""

import numpy as np
import pytest

from numpynet import checkpoint, export
from numpynet.models import alexnet
from numpynet.weights import caffe

SMALL = dict(width=0.125, input_size=67)


def save_checkpoint(path, net, model, classes=10):
    wnids = [f"n{i:08d}" for i in range(classes)]
    meta = {"model": {**dict(num_classes=classes, groups=2, seed=0, init="he", width=1.0,
                             input_size=227, preset="paper"), **model},
            "wnids": wnids, "names": wnids, "crop": model["input_size"], "args": {}}
    mean = np.full((80, 80, 3), 110, np.float32)
    checkpoint.save(path, net, meta, mean=mean)
    return path


def trained_like(model):
    """A network with BatchNorm running statistics that are not the defaults."""
    net = alexnet(10, seed=4, **model)
    rng = np.random.default_rng(5)
    for layer in net:
        for name in layer.buffers:
            layer.buffers[name] = rng.uniform(0.5, 2, layer.buffers[name].shape).astype(
                np.float32)
    return net


CASES = {"paper": dict(preset="paper", groups=2, **SMALL),
         "he-scale": dict(preset="caffe", init="he", **SMALL),
         "batchnorm": dict(preset="batchnorm", groups=1, **SMALL),
         "torchvision": dict(preset="torchvision", width=0.125, input_size=224)}


def logits_of(net, size, seed=6):
    x = np.random.default_rng(seed).uniform(-120, 130, (2, 3, size, size)).astype(np.float32)
    return x, net.forward(x, train=False)


@pytest.mark.parametrize("case", sorted(CASES))
def test_onnx_export_runs_in_onnxruntime_with_the_same_logits(tmp_path, case):
    pytest.importorskip("onnx")
    ort = pytest.importorskip("onnxruntime")
    model = CASES[case]
    net = trained_like(model)
    path = save_checkpoint(tmp_path / "c.npz", net, model)
    assert export.main([str(path), "--to", "onnx", str(tmp_path / "a.onnx")]) == 0
    x, expected = logits_of(net, model["input_size"])
    session = ort.InferenceSession(str(tmp_path / "a.onnx"), providers=["CPUExecutionProvider"])
    got = session.run(["logits"], {"pixels": x})[0]
    assert got.shape == expected.shape
    assert np.allclose(got, expected, rtol=1e-4, atol=1e-5 * np.abs(expected).max()), case


@pytest.mark.parametrize("case", sorted(CASES))
def test_torch_export_loads_into_the_benchmarks_twin(tmp_path, case):
    torch = pytest.importorskip("torch")
    from numpynet.bench.torch_runner import torch_network
    model = CASES[case]
    net = trained_like(model)
    path = save_checkpoint(tmp_path / "c.npz", net, model)
    assert export.main([str(path), "--to", "torch", str(tmp_path / "a.pth")]) == 0
    twin = torch_network(alexnet(10, seed=99, **model), torch)      # other weights, replaced
    twin.load_state_dict(torch.load(tmp_path / "a.pth", weights_only=True))
    x, expected = logits_of(net, model["input_size"])
    with torch.no_grad():
        got = twin.eval()(torch.from_numpy(x)).numpy()
    assert np.allclose(got, expected, rtol=1e-4, atol=1e-5 * np.abs(expected).max()), case


@pytest.mark.parametrize("version", ["layer", "v1"])
def test_caffe_export_from_the_command_line(tmp_path, version, capsys):
    model = CASES["paper"]
    net = trained_like(model)
    path = save_checkpoint(tmp_path / "c.npz", net, model)
    assert export.main([str(path), "--to", "caffe", str(tmp_path / "a.caffemodel"),
                        "--caffe-version", version]) == 0
    assert "RGB 0-255 pixels minus the mean pixel RGB (110.0, 110.0, 110.0)" in \
        capsys.readouterr().out
    back = caffe.read_caffemodel(tmp_path / "a.caffemodel")
    assert back.version == version
    x, expected = logits_of(net, 67)
    assert np.array_equal(caffe.to_numpynet(back).forward(x, train=False), expected)


def test_caffe_export_of_batchnorm_is_a_one_line_error(tmp_path, capsys):
    model = CASES["batchnorm"]
    path = save_checkpoint(tmp_path / "c.npz", trained_like(model), model)
    assert export.main([str(path), "--to", "caffe", str(tmp_path / "a.caffemodel")]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("error: a Caffe AlexNet has no place for layer bn1") and "\n" not in err
    assert not (tmp_path / "a.caffemodel").exists()


def test_export_flags(capsys):
    with pytest.raises(SystemExit) as e:
        export.main(["c.npz", "--to", "tflite", "out"])
    assert e.value.code == 2 and "--to: invalid choice" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        export.main(["--version"])
    assert capsys.readouterr().out.startswith("numpynet ")
