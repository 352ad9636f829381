"""predict and evaluate with --weights: imported weights, EXIF orientation, bad flag values."""

import numpy as np
import pytest
from PIL import Image

from numpynet import evaluate, predict
from numpynet.data import load_rgb
from numpynet.models import alexnet
from numpynet.weights import pretrained, torchvision
from data_fixtures import make_imagenet


@pytest.fixture(scope="module")
def tv_weights(tmp_path_factory):
    """A torchvision-named state_dict of a seeded random numpynet torchvision preset (.npz)."""
    net = alexnet(1000, preset="torchvision", init="paper", seed=3)
    state = {f"{torchvision.NAMES[n]}.{t}": net[n].params[p] for n in torchvision.NAMES
             for p, t in (("W", "weight"), ("b", "bias"))}
    path = tmp_path_factory.mktemp("tv") / "alexnet.npz"
    np.savez(path, **state)
    return path


def test_exif_orientation_is_applied(tmp_path):
    """A phone photo stored sideways with Orientation = 6 (turn 90 degrees clockwise)."""
    a = np.zeros((40, 80, 3), np.uint8)
    a[:, :40] = 255                                   # left half white, stored landscape
    exif = Image.Exif()
    exif[0x0112] = 6
    Image.fromarray(a).save(tmp_path / "phone.jpg", exif=exif, quality=95)
    upright = predict.load_photo(tmp_path / "phone.jpg", 32)
    assert upright[:8].mean() > 200 and upright[-8:].mean() < 50     # white now on top
    stored = load_rgb(tmp_path / "phone.jpg", 32)[0]                  # the cache's decoder
    assert stored[:, :8].mean() > 200


def test_evaluate_imported_weights_on_imagenet_wnids(tv_weights, tmp_path, capsys):
    wnids = ["n01440764", "n01443537", "n01484850"]                  # tench, goldfish, shark
    make_imagenet(tmp_path / "data", wnids=wnids, train_per_class=1, val_per_class=2)
    assert evaluate.main(["--weights", f"torchvision:{tv_weights}", "--data",
                          str(tmp_path / "data"), "--cache", str(tmp_path / "cache"),
                          "--no-progress"]) == 0
    line = capsys.readouterr().out.strip().splitlines()[-1]
    model = pretrained.load(f"torchvision:{tv_weights}")
    paths = sorted((tmp_path / "data" / "val").glob("*/*.JPEG"))
    images = np.stack([load_rgb(p)[0] for p in paths])
    labels = np.array([model.wnids.index(p.parent.name) for p in paths])
    probs = predict.predict(model.net, images, model.mean, model.crop)
    top5 = np.argsort(-probs, 1)[:, :5]
    err1 = 100 * np.mean(top5[:, 0] != labels)
    err5 = 100 * np.mean([lab not in row for lab, row in zip(labels, top5)])
    assert line.startswith("6 validation images, centre crop:")
    assert f"top-1 error {err1:.2f}%" in line and f"top-5 error {err5:.2f}%" in line


def test_evaluate_imported_weights_need_data(tv_weights, capsys):
    assert evaluate.main(["--weights", f"torchvision:{tv_weights}"]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("error: --weights torchvision:") and "pass --data" in err


def test_evaluate_refuses_classes_outside_imagenet(tv_weights, tmp_path, capsys):
    make_imagenet(tmp_path / "data", wnids=["n00000001", "n00000002"], train_per_class=1,
                  val_per_class=1)
    assert evaluate.main(["--weights", f"torchvision:{tv_weights}", "--data",
                          str(tmp_path / "data"), "--cache", str(tmp_path / "cache"),
                          "--no-progress"]) == 2
    assert "classes the network does not know: ['n00000001'" in capsys.readouterr().err


def test_predict_with_imported_weights_names_imagenet_classes(tv_weights, tmp_path, capsys):
    Image.fromarray(np.full((300, 400, 3), 128, np.uint8)).save(tmp_path / "grey.png")
    assert predict.main([str(tmp_path / "grey.png"), "--weights",
                         f"torchvision:{tv_weights}", "--top", "3"]) == 0
    out = capsys.readouterr().out.splitlines()
    wnids, names = pretrained.imagenet_classes()
    assert len(out) == 4 and all(line[33:].endswith(")") for line in out[1:])
    assert {line[33:] for line in out[1:]} <= {f"{n} ({w})" for w, n in zip(wnids, names)}


def test_predict_unreadable_weights_is_one_line(tmp_path, capsys):
    (tmp_path / "w.caffemodel").write_bytes(b"\xff\xff\xff")
    assert predict.main(["x.jpg", "--weights", f"caffe:{tmp_path / 'w.caffemodel'}"]) == 2
    err = capsys.readouterr().err.strip()
    assert "\n" not in err and "is not a readable .caffemodel" in err


def test_imagenet_class_list_is_in_sorted_wnid_order():
    """Caffe's synset_words.txt and torchvision both number the classes by sorted wnid."""
    wnids, names = pretrained.imagenet_classes()
    assert len(wnids) == 1000 and wnids == sorted(wnids)
    assert (wnids[0], names[0].split(",")[0]) == ("n01440764", "tench")


@pytest.mark.parametrize("main,argv,message", [
    (predict.main, ["x.jpg", "--weights", "w", "--top", "0"], "--top: must be a whole number >= 1"),
    (predict.main, ["x.jpg", "--weights", "w", "--top", "five"], "--top: 'five' is not a whole"),
    (evaluate.main, ["--weights", "w", "--batch-size", "0"], "--batch-size: must be a whole"),
    (evaluate.main, ["--weights", "w", "--batch-size", "-3"], "--batch-size: must be a whole"),
    (evaluate.main, ["--weights", "w", "--device", "tpu"], "--device: invalid choice"),
])
def test_bad_flag_values_stop_at_parse_time(main, argv, message, capsys):
    with pytest.raises(SystemExit) as e:
        main(argv)
    assert e.value.code == 2 and message in capsys.readouterr().err


@pytest.mark.parametrize("main", [predict.main, evaluate.main])
def test_version_and_help(main, capsys):
    with pytest.raises(SystemExit):
        main(["--version"])
    assert capsys.readouterr().out.startswith("numpynet ")
    with pytest.raises(SystemExit):
        main(["--help"])
    text = capsys.readouterr().out
    assert "(default: None)" not in text
    blocks = text.split("options:")[1].split("\n  -")[1:]       # one per flag
    assert len(blocks) >= 5
    for block in blocks:
        flag = block.split()[0]
        if flag not in ("h,", "-version", "-weights"):            # --weights is required
            assert "(default: " in " ".join(block.split()), block


def test_known_file_names_are_checked_against_their_digests(tmp_path, tv_weights):
    import hashlib
    bad = tmp_path / "bvlc_alexnet.caffemodel"
    bad.write_bytes(b"half a download")
    with pytest.raises(ValueError, match="its sha1 is .* not the published 9116a64c"):
        pretrained.load(f"caffe:{bad}")
    state = dict(np.load(tv_weights))
    torch = pytest.importorskip("torch")
    torch.save({k: torch.from_numpy(v) for k, v in state.items()}, tmp_path / "x.pth")
    data = (tmp_path / "x.pth").read_bytes()
    good = tmp_path / f"alexnet-{hashlib.sha256(data).hexdigest()[:8]}.pth"
    good.write_bytes(data)
    assert pretrained.load(f"torchvision:{good}").crop == 224
    (tmp_path / "alexnet-00000000.pth").write_bytes(data)
    with pytest.raises(ValueError, match="not the published 00000000"):
        pretrained.load(f"torchvision:{tmp_path / 'alexnet-00000000.pth'}")
