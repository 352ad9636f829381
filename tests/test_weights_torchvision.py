"""torchvision's AlexNet in numpynet: the state_dict readers, and the same logits as
torchvision's own forward on real photos (skipped without torch/torchvision or the photos)."""

import pickle
import sys
import zipfile

import numpy as np
import pytest
from PIL import Image

from numpynet import predict
from numpynet.models import alexnet
from numpynet.weights import pretrained, pth, torchvision
from data_fixtures import shared_data

# Real photos from ../shared/data/imagenet-samples (few: a full AlexNet on a CPU). On the first
# two, torchvision's Resize(256) + CenterCrop(224) and numpynet's 256 centre crop differ.
PHOTOS = ["n01641577_bullfrog", "n02676566_acoustic_guitar", "n01440764_tench",
          "n04033995_quilt"]


def test_preset_matches_torchvisions_table():
    net = alexnet(1000, preset="torchvision", init="paper")
    assert net.num_params() == 61_100_840             # torchvision.models.alexnet()'s count
    shape, seen = (1, 3, 224, 224), {}
    for layer in net:
        shape = layer.output_shape(shape)
        seen[layer.name] = shape[1:]
    assert seen["conv1"] == (64, 55, 55) and seen["conv2"] == (192, 27, 27)
    assert seen["pool5"] == (256, 6, 6)                # adaptive pooling to 6x6 is the identity
    names = [l.name for l in net]
    assert names[names.index("flatten") + 1:] == ["drop6", "fc6", "relu6", "drop7", "fc7",
                                                   "relu7", "fc8"]
    assert not any(type(l).__name__ == "LocalResponseNorm" for l in net)


@pytest.mark.parametrize("size", [222, 255])
def test_preset_refuses_sizes_that_would_need_adaptive_pooling(size):
    with pytest.raises(ValueError, match="pool5's map to be 6x6"):
        alexnet(10, preset="torchvision", input_size=size, width=0.25)


def small_state(seed=0):
    """A torchvision-named state_dict of random numbers, with the real shapes."""
    net = alexnet(1000, preset="torchvision", init="paper", seed=seed)
    rng = np.random.default_rng(seed)
    return {f"{torchvision.NAMES[n]}.{t}": rng.standard_normal(
        net[n].params[p].shape).astype(np.float32) for n in torchvision.NAMES
        for p, t in (("W", "weight"), ("b", "bias"))}


def test_safetensors_round_trip(tmp_path):
    state = {"a": np.arange(6, dtype=np.float32).reshape(2, 3), "b": np.ones(4, np.float32)}
    torchvision.write_safetensors(tmp_path / "w.safetensors", state)
    back = torchvision.read_state_dict(tmp_path / "w.safetensors")
    assert set(back) == {"a", "b"} and all(np.array_equal(back[k], state[k]) for k in state)


def test_import_folds_the_normalisation_into_conv1(tmp_path):
    state = small_state()
    np.savez(tmp_path / "w.npz", **state)
    net = torchvision.to_numpynet(torchvision.read_state_dict(tmp_path / "w.npz"))
    W = state["features.0.weight"]
    assert np.allclose(net["conv1"].params["W"] * 255 * torchvision.STD[None, :, None, None], W,
                       rtol=1e-6)
    assert np.array_equal(net["fc6"].params["W"], state["classifier.1.weight"])
    assert all(w.flags.writeable for w in net.state_dict().values())   # trainable further


def test_import_names_a_missing_key(tmp_path):
    state = small_state()
    del state["classifier.4.bias"]
    with pytest.raises(ValueError, match="classifier.4.bias"):
        torchvision.to_numpynet(state)


def test_unknown_format_and_missing_file(tmp_path):
    (tmp_path / "w.bin").write_bytes(b"x")
    with pytest.raises(ValueError, match="unknown weights format"):
        torchvision.read_state_dict(tmp_path / "w.bin")
    with pytest.raises(FileNotFoundError, match="no weights file"):
        torchvision.read_state_dict(tmp_path / "absent.pth")


def test_restricted_unpickler_refuses_other_globals(tmp_path):
    path = tmp_path / "evil.pth"
    with zipfile.ZipFile(path, "w") as z:
        z.writestr("evil/data.pkl", pickle.dumps({"x": print}))
    with pytest.raises(ValueError, match="builtins.print is not part of a state_dict"):
        pth.load(path)


# ------------------------------------------------------------------- against torchvision itself

def torch_modules():
    torch = pytest.importorskip("torch")
    tv = pytest.importorskip("torchvision")
    return torch, tv


@pytest.fixture(scope="module")
def torch_alexnet():
    torch, tv = torch_modules()
    torch.manual_seed(0)
    return torch, tv.models.alexnet(weights=None).eval()


@pytest.fixture(scope="module")
def photos():
    folder = shared_data("imagenet-samples")
    paths = [folder / f"{name}.JPEG" for name in PHOTOS]
    if not all(p.is_file() for p in paths):
        pytest.skip(f"the photos {PHOTOS} are not all in {folder}")
    return paths, np.stack([predict.load_photo(p) for p in paths])


def torchvision_input(images, torch):
    """numpynet's 224 centre crops (0-255 RGB) normalised as torchvision's transforms do."""
    crop = images[:, 16:240, 16:240].astype(np.float32) / 255
    x = (crop - torchvision.MEAN) / torchvision.STD
    return torch.from_numpy(np.ascontiguousarray(x.transpose(0, 3, 1, 2)))


@pytest.mark.parametrize("fmt", ["pth", "pth-legacy", "pth-no-torch", "npz", "safetensors"])
def test_same_logits_as_torchvision_on_real_photos(torch_alexnet, photos, tmp_path, fmt,
                                                  monkeypatch):
    torch, model = torch_alexnet
    _, images = photos
    state = model.state_dict()
    path = tmp_path / f"alexnet.{fmt.split('-')[0]}"
    if fmt.startswith("pth"):
        torch.save(state, path, _use_new_zipfile_serialization=fmt != "pth-legacy")
    elif fmt == "npz":
        np.savez(path, **{k: v.numpy() for k, v in state.items()})
    else:
        torchvision.write_safetensors(path, {k: v.numpy() for k, v in state.items()})
    with monkeypatch.context() as m:
        if fmt == "pth-no-torch":                 # read by weights/pth.py, not torch.load
            m.setitem(sys.modules, "torch", None)
        model_np = pretrained.load(f"torchvision:{path}")
    assert model_np.crop == 224
    logits = model_np.net.forward(
        predict.centre_batch(images, model_np.mean, model_np.crop), train=False)
    with torch.no_grad():
        expected = model(torchvision_input(images, torch)).numpy()
    scale = np.abs(expected).max()
    assert np.abs(logits - expected).max() <= 1e-4 * scale, fmt
    assert (logits.argmax(1) == expected.argmax(1)).all()


def test_predict_prints_torchvisions_top5(torch_alexnet, photos, tmp_path, capsys):
    torch, model = torch_alexnet
    paths, images = photos
    torch.save(model.state_dict(), tmp_path / "alexnet.pth")
    assert predict.main([str(p) for p in paths] + ["--weights",
                                                   f"torchvision:{tmp_path / 'alexnet.pth'}"]) == 0
    out = capsys.readouterr().out.splitlines()
    tv = pytest.importorskip("torchvision")
    T = tv.transforms
    prepare = T.Compose([T.Resize(256), T.CenterCrop(224), T.ToTensor(),
                         T.Normalize(torchvision.MEAN.tolist(), torchvision.STD.tolist())])
    photos_tv = [Image.open(p).convert("RGB") for p in paths]      # torchvision's own way
    batch = torch.stack([prepare(photo) for photo in photos_tv])
    with torch.no_grad():
        probs = torch.softmax(model(batch), 1).numpy()
    tv_crop = np.asarray(T.CenterCrop(224)(T.Resize(256)(photos_tv[0])))
    assert not np.array_equal(images[0, 16:240, 16:240], tv_crop)    # numpynet's own differs
    wnids, names = pretrained.imagenet_classes()
    for i, path in enumerate(paths):
        block = out[6 * i: 6 * i + 6]
        assert block[0] == str(path)
        shown = [line[33:] for line in block[1:]]           # "  PP.PP%  <bar of 20>  name"
        top5 = np.argsort(-probs[i])[:5]
        assert shown == [f"{names[j]} ({wnids[j]})" for j in top5]
