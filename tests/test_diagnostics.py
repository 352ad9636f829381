"""numpynet.diagnostics: update/weight ratios, and the CLI that compares inits."""

import csv
import importlib

import numpy as np
import pytest

from numpynet import diagnostics, train_step
from numpynet.data.demo import generate_demo_dataset
from numpynet.layers import SoftmaxCrossEntropy
from numpynet.models import alexnet
from numpynet.optim import SGD

SMALL = dict(num_classes=4, width=0.125, input_size=67)


@pytest.fixture(scope="module")
def dataset(tmp_path_factory):
    return generate_demo_dataset(tmp_path_factory.mktemp("demo") / "imagenet", num_classes=4,
                                 train_per_class=8, val_per_class=2, image_size=64, seed=1,
                                 progress=False, workers=1)


def one_step(net, seed=0, **sgd):
    rng = np.random.default_rng(seed)
    x = rng.normal(0, 64, (4, 3, 67, 67)).astype(np.float32)
    y = rng.integers(0, 4, 4)
    opt = SGD(net, **sgd)
    train_step(net, SoftmaxCrossEntropy(), opt, x, y)
    return opt


def test_update_ratios_are_the_change_of_the_weights_over_their_size():
    net = alexnet(**SMALL)
    before = {l.name: l.params["W"].copy() for l, n, _, _ in net.parameters() if n == "W"}
    ratios = diagnostics.update_ratios(net, one_step(net, lr=0.05))
    assert list(ratios) == ["conv1", "conv2", "conv3", "conv4", "conv5", "fc6", "fc7", "fc8"]
    for name, w0 in before.items():
        change = np.linalg.norm(net[name].params["W"] - w0) / np.linalg.norm(w0)
        assert ratios[name] == pytest.approx(change, rel=1e-3), name
        assert ratios[name] > 0
    assert diagnostics.update_ratios(alexnet(**SMALL), SGD(alexnet(**SMALL))) == {}


def test_the_cli_compares_inits_and_a_scale_in_front_multiplies_the_rate(dataset, tmp_path,
                                                                         monkeypatch):
    """With conv1's gain 1, he16 is he reparametrised: the same function at the start, so one
    step later every layer has moved by the same fraction, but conv1 by (64 / 16)^2 = 16 times
    more: a fixed scale c in front of a layer multiplies its learning rate by c^2."""
    monkeypatch.setitem(importlib.import_module("numpynet.models.alexnet").CONV1_GAIN, "he16", 1.0)
    out = tmp_path / "diag"
    diagnostics.main(["--inits", "he16", "he", "--steps", "3", "--out", str(out),
                      "--data", str(dataset), "--cache", str(tmp_path / "cache"),
                      "--width", "0.125", "--crop", "67", "--image-size", "80",
                      "--batch-size", "8", "--weight-decay", "0", "--no-progress",
                      "--workers", "1"])
    rows = list(csv.DictReader(open(out / "ratios.csv")))
    assert [(r["init"], r["step"]) for r in rows] == [("he16", "1"), ("he16", "2"), ("he16", "3"),
                                                      ("he", "1"), ("he", "2"), ("he", "3")]
    he16, he = rows[0], rows[3]
    assert float(he16["conv1"]) / float(he["conv1"]) == pytest.approx(16, rel=1e-3)
    for name in ("conv2", "conv5", "fc6", "fc8"):
        assert float(he16[name]) == pytest.approx(float(he[name]), rel=1e-4), name
    assert (out / "ratios.png").stat().st_size > 0


def test_bad_arguments_say_what_to_do(capsys):
    with pytest.raises(SystemExit):
        diagnostics.parse_args(["--steps", "0"])
    assert "argument --steps: must be a whole number >= 1, got 0" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        diagnostics.parse_args(["--init", "he16"])
    assert "--inits" in capsys.readouterr().err
    own, args = diagnostics.parse_args(["--inits", "he16", "--width", "0.5"])
    assert own.inits == ["he16"] and args.width == 0.5


def test_a_missing_dataset_is_one_line(tmp_path, capsys):
    assert diagnostics.main(["--data", str(tmp_path / "nowhere"), "--steps", "1",
                             "--out", str(tmp_path / "d"), "--no-progress"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error:") and "nowhere" in err and "Traceback" not in err
