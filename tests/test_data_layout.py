"""Finding ImageNet on disk: layouts, label files, class names, class and image selection."""

import numpy as np
import pytest
from data_fixtures import WNIDS, make_imagenet, open_tiny, shared_data, write_image

from numpynet.data import (BatchLoader, DatasetError, cap_files, choose_classes, evenly_spaced,
                           find_layout, open_imagenet, read_classes_file)
from numpynet.data.layout import imagenet_class_names, read_class_names


def val_wnids(split):
    """wnid of each row of a val cache, read back through its labels."""
    return [split.wnids[k] for k in split.labels]


def expected_val_wnids(split, val_labels):
    return [val_labels[f.split("/")[-1]] for f in split.files()]


# --- missing or mis-laid data ------------------------------------------------------------------

def test_missing_dataset_path_says_what_was_expected(tmp_path):
    with pytest.raises(DatasetError) as e:
        find_layout(tmp_path / "imagenet")
    msg = str(e.value)
    assert "no ImageNet training folder at" in msg and "imagenet/train" in msg
    assert "train/<wnid>/*.JPEG" in msg and "n01440764_10026.JPEG" in msg
    assert "--data PATH" in msg and "NUMPYNET_DATA" in msg


def test_root_with_no_train_folder_and_hints(tmp_path):
    (tmp_path / "empty").mkdir()
    with pytest.raises(DatasetError, match="expected .*train/<wnid>"):
        open_imagenet(tmp_path / "empty", cache_root=tmp_path / "cache")
    make_imagenet(tmp_path / "ds")
    with pytest.raises(DatasetError, match="did you mean"):        # pointed at train/ itself
        find_layout(tmp_path / "ds" / "train")
    write_image(tmp_path / "loose" / "n01440764" / "a.JPEG")
    with pytest.raises(DatasetError, match="move them into train/"):
        find_layout(tmp_path / "loose")


def test_dataset_path_from_environment(tmp_path, monkeypatch):
    make_imagenet(tmp_path / "ds")
    monkeypatch.setenv("NUMPYNET_DATA", str(tmp_path / "ds"))
    assert find_layout().wnids == WNIDS[:3]


# --- layouts ---------------------------------------------------------------------------------

def test_val_in_class_folders_imagenette_style(tmp_path):
    val_labels = make_imagenet(tmp_path / "ds", val="folders", names=None)
    data = open_tiny(tmp_path / "ds", tmp_path / "cache")
    assert data.layout.val_style == "folders"
    assert data.wnids == WNIDS[:3]
    assert data.train.images.shape == (12, 16, 16, 3) and data.train.images.dtype == np.uint8
    assert data.train.labels.dtype == np.int64
    assert data.train.labels.tolist() == [0] * 4 + [1] * 4 + [2] * 4
    assert len(data.val) == 6
    assert val_wnids(data.val) == expected_val_wnids(data.val, val_labels)


def test_flat_val_with_kaggle_csv(tmp_path):
    val_labels = make_imagenet(tmp_path / "ds", val="csv")
    data = open_tiny(tmp_path / "ds", tmp_path / "cache")
    assert data.layout.val_style == "flat"
    assert data.layout.val_labels.name == "LOC_val_solution.csv"
    assert "LOC_val_solution.csv" in data.summary()
    assert len(data.val) == 6
    assert val_wnids(data.val) == expected_val_wnids(data.val, val_labels)


@pytest.mark.parametrize("where", ["val/val_labels.txt", "val.txt", "explicit"])
def test_flat_val_with_plain_label_file(tmp_path, where):
    val_labels = make_imagenet(tmp_path / "ds", val="flat")
    text = "".join(f"{n} {w}\n" for n, w in val_labels.items())
    path = tmp_path / ("labels/mine.txt" if where == "explicit" else "ds/" + where)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("# filename wnid\n" + text)
    data = open_tiny(tmp_path / "ds", tmp_path / "cache",
                     val_labels=path if where == "explicit" else None)
    assert data.layout.val_labels == path.resolve()
    assert val_wnids(data.val) == expected_val_wnids(data.val, val_labels)


def test_kaggle_tree_as_unpacked(tmp_path):
    root = tmp_path / "imagenet-object-localization-challenge"
    val_labels = make_imagenet(root / "ILSVRC" / "Data" / "CLS-LOC", val="flat", names=None)
    lines = ["ImageId,PredictionString"] + [f"{n[:-5]},{w} 1 2 3 4" for n, w in val_labels.items()]
    (root / "LOC_val_solution.csv").write_text("\n".join(lines) + "\n")
    (root / "LOC_synset_mapping.txt").write_text(f"{WNIDS[0]} tench, Tinca tinca\n")
    data = open_tiny(root, tmp_path / "cache")
    assert data.layout.describe().startswith("ILSVRC/Data/CLS-LOC/train/<wnid>/")
    assert data.names[0] == "tench, Tinca tinca"
    assert data.names[1] == "goldfish, Carassius auratus"          # not in the file: ImageNet's
    assert val_wnids(data.val) == expected_val_wnids(data.val, val_labels)


def test_flat_val_without_label_file_is_a_clear_error(tmp_path):
    make_imagenet(tmp_path / "ds", val="flat")
    with pytest.raises(DatasetError) as e:
        find_layout(tmp_path / "ds")
    assert "LOC_val_solution.csv" in str(e.value) and "--val-labels FILE" in str(e.value)
    with pytest.raises(DatasetError, match="--val-labels: no file"):
        find_layout(tmp_path / "ds", val_labels=tmp_path / "missing.txt")


def test_numbered_val_labels_are_refused_with_advice(tmp_path):
    val_labels = make_imagenet(tmp_path / "ds", val="flat")
    (tmp_path / "ds" / "val.txt").write_text("".join(f"{n} 7\n" for n in val_labels))
    with pytest.raises(DatasetError, match=r"val.txt:1: .*class number.*wnid"):
        open_tiny(tmp_path / "ds", tmp_path / "cache")


def test_no_val_folder(tmp_path):
    make_imagenet(tmp_path / "ds", val="none")
    data = open_tiny(tmp_path / "ds", tmp_path / "cache")
    assert data.val is None and "none" in data.summary()


@pytest.mark.parametrize("names, expected", [("loc", "class 764, other name"),
                                             ("words", "word 764"),
                                             (None, "tench, Tinca tinca")])   # ImageNet's own
def test_class_names(tmp_path, names, expected):
    make_imagenet(tmp_path / "ds", names=names)
    layout = find_layout(tmp_path / "ds")
    assert layout.names[WNIDS[0]] == expected
    assert list(layout.names) == WNIDS[:3]         # only the classes that are there


def test_class_names_with_colon_separator(tmp_path):
    make_imagenet(tmp_path / "ds", names=None)
    (tmp_path / "ds" / "LOC_synset_mapping.txt").write_text(f"{WNIDS[0]} : tench, Tinca tinca\n")
    assert find_layout(tmp_path / "ds").names[WNIDS[0]] == "tench, Tinca tinca"


def test_imagenet_class_list_is_the_thousand_classes():
    names = imagenet_class_names()
    assert len(names) == 1000 and list(names) == sorted(names)      # class-index order
    assert names["n01440764"] == "tench, Tinca tinca" and names["n15075141"].startswith("toilet")


def test_unknown_wnids_keep_their_wnid_as_name(tmp_path):
    make_imagenet(tmp_path / "ds", wnids=["n90000000", WNIDS[1]], names=None)
    names = find_layout(tmp_path / "ds").names
    assert names == {"n90000000": "n90000000", WNIDS[1]: "goldfish, Carassius auratus"}


def test_imagenet_class_list_agrees_with_real_mapping_files():
    mapping = read_class_names(shared_data("imagenette-mini") / "LOC_synset_mapping.txt")
    names = imagenet_class_names()
    assert mapping and all(names[w] == n for w, n in mapping.items())


# --- class and image selection ----------------------------------------------------------------

def test_evenly_spaced_rule():
    ten = [f"w{i}" for i in range(10)]
    assert evenly_spaced(ten, 3) == ["w0", "w3", "w6"]             # (i * 10) // 3
    assert evenly_spaced(ten, 4) == ["w0", "w2", "w5", "w7"]       # (i * 10) // 4
    assert evenly_spaced(ten, 10) == ten and evenly_spaced(ten, 1) == ["w0"]
    assert evenly_spaced(reversed(ten), 2) == ["w0", "w5"]         # sorted first
    with pytest.raises(DatasetError, match="between 1 and 10"):
        evenly_spaced(ten, 11)


def test_subset_leaves_out_empty_class_folders(tmp_path):
    make_imagenet(tmp_path / "ds", wnids=WNIDS[:5], val="none")
    (tmp_path / "ds" / "train" / WNIDS[1]).mkdir(exist_ok=True)
    for f in (tmp_path / "ds" / "train" / WNIDS[1]).iterdir():
        f.unlink()
    data = open_tiny(tmp_path / "ds", tmp_path / "cache", subset=2)
    nonempty = [WNIDS[0], WNIDS[2], WNIDS[3], WNIDS[4]]
    assert data.wnids == [nonempty[0], nonempty[2]]               # (i * 4) // 2 = 0, 2
    assert "1 empty class folder(s) left out: " + WNIDS[1] in data.summary()
    with pytest.raises(DatasetError, match="between 1 and 4"):
        open_tiny(tmp_path / "ds", tmp_path / "cache", subset=5)


def test_classes_file(tmp_path):
    make_imagenet(tmp_path / "ds", wnids=WNIDS[:4], val="folders")
    listed = tmp_path / "classes.txt"
    listed.write_text(f"# my classes\n{WNIDS[3]}  # last\n\n{WNIDS[1]} other words\n")
    assert read_classes_file(listed) == [WNIDS[3], WNIDS[1]]
    data = open_tiny(tmp_path / "ds", tmp_path / "cache", classes_file=listed)
    assert data.wnids == [WNIDS[1], WNIDS[3]]                      # labels in sorted order
    assert set(data.train.labels.tolist()) == {0, 1} and len(data.val) == 4

    listed.write_text(f"{WNIDS[0]}\nn99999999\n")
    with pytest.raises(DatasetError) as e:
        open_tiny(tmp_path / "ds", tmp_path / "cache", classes_file=listed)
    assert "n99999999" in str(e.value) and f"known classes include {WNIDS[0]}" in str(e.value)


def test_classes_file_naming_an_empty_class_is_an_error(tmp_path):
    make_imagenet(tmp_path / "ds", val="none")
    (tmp_path / "ds" / "train" / "n09999999").mkdir()
    listed = tmp_path / "classes.txt"
    listed.write_text(f"{WNIDS[0]}\nn09999999\n")
    with pytest.raises(DatasetError, match="no images in train/: n09999999"):
        open_tiny(tmp_path / "ds", tmp_path / "cache", classes_file=listed)
    with pytest.raises(DatasetError, match="either"):
        choose_classes(WNIDS, WNIDS, subset=2, classes_file=listed)


def test_per_class_cap_is_reproducible(tmp_path):
    files = [f"img_{i:02d}.JPEG" for i in range(20)]
    a = cap_files(files[::-1], 5, seed=0, wnid=WNIDS[0])
    assert a == cap_files(files, 5, seed=0, wnid=WNIDS[0])         # same seed, same choice
    assert a == sorted(a) and set(a) <= set(files) and len(a) == 5
    others = {tuple(cap_files(files, 5, seed=s, wnid=WNIDS[0])) for s in range(1, 6)}
    assert len(others | {tuple(a)}) > 1                             # the seed matters
    assert cap_files(files, 50, seed=0, wnid=WNIDS[0]) == files     # cap above count: all

    make_imagenet(tmp_path / "ds", train_per_class=6, val_per_class=3)
    data = open_tiny(tmp_path / "ds", tmp_path / "cache", per_class=4, val_per_class=2)
    assert data.train.manifest["counts"] == [4, 4, 4] and data.val.manifest["counts"] == [2, 2, 2]
    again = open_tiny(tmp_path / "ds", tmp_path / "cache2", per_class=4, val_per_class=2)
    assert again.train.files() == data.train.files()


# --- the real sample data (skipped when absent) -------------------------------------------------

def test_imagenette_mini_end_to_end(tmp_path):
    root = shared_data("imagenette-mini")
    data = open_imagenet(root, size=64, cache_root=tmp_path / "cache", progress=False)
    assert data.layout.val_style == "flat" and data.num_classes == 10
    assert data.names[0].startswith("tench")
    assert len(data.train) == 400 and len(data.val) == 100
    assert data.train.manifest["counts"] == [40] * 10 and data.val.manifest["counts"] == [10] * 10
    assert data.mean.shape == (64, 64, 3) and data.mean.dtype == np.float32
    assert np.all(data.eigvals[:-1] >= data.eigvals[1:]) and data.eigvals[-1] > 0
    assert "grayscale -> RGB" in data.summary()
    x, y = next(iter(BatchLoader(data.train, batch_size=16, crop=56, seed=0)))
    assert x.shape == (16, 3, 56, 56) and x.dtype == np.float32 and y.dtype == np.int64
    xv, yv = next(iter(BatchLoader(data.val, batch_size=16, train=False, crop=56, mean=data.mean)))
    assert xv.shape == (16, 3, 56, 56) and yv.tolist() == data.val.labels[:16].tolist()


# --- default folders: a checkout, or an installed package ---------------------------------------

def _no_folder_settings(monkeypatch):
    for name in ("NUMPYNET_DATA", "NUMPYNET_CACHE"):
        monkeypatch.delenv(name, raising=False)


def test_default_folders_in_a_checkout_are_the_checkouts(monkeypatch):
    from pathlib import Path

    from numpynet.data import cache, layout, source
    _no_folder_settings(monkeypatch)
    root = Path(layout.__file__).resolve().parents[2]
    assert layout.in_checkout() and (root / "pyproject.toml").is_file()
    assert layout.default_data_root() == root / "data" / "imagenet"
    assert cache.default_cache_root() == root / "data" / "cache"
    assert source.demo_root() == root / "data" / "demo"
    line = source.describe_folders(None, None)
    assert line.startswith("folders  data ") and f"defaults in the checkout {root}" in line


def test_default_folders_of_an_installed_numpynet(tmp_path, monkeypatch):
    """Installed (no pyproject.toml above the package): data/imagenet in the current folder,
    caches and the demo set in the user cache folder, $XDG_CACHE_HOME honoured, said at start."""
    from numpynet.data import cache, layout, source
    _no_folder_settings(monkeypatch)
    monkeypatch.setattr(layout, "_PROJECT_ROOT", tmp_path / "site-packages")
    work, xdg, home = tmp_path / "work", tmp_path / "xdg", tmp_path / "home"
    work.mkdir()
    monkeypatch.chdir(work)
    monkeypatch.setenv("XDG_CACHE_HOME", str(xdg))
    assert not layout.in_checkout()
    assert layout.default_data_root() == work / "data" / "imagenet"
    assert cache.default_cache_root() == xdg / "numpynet" / "cache"
    assert source.demo_root() == xdg / "numpynet" / "demo"
    line = source.describe_folders(None, None)
    assert f"cache {xdg / 'numpynet' / 'cache'} (default)" in line
    assert f"installed numpynet: defaults in the current folder and {xdg / 'numpynet'}" in line
    monkeypatch.delenv("XDG_CACHE_HOME")
    monkeypatch.setenv("HOME", str(home))
    assert cache.default_cache_root() == home / ".cache" / "numpynet" / "cache"
    monkeypatch.setenv("NUMPYNET_CACHE", str(tmp_path / "mine"))       # a setting still wins
    assert cache.default_cache_root() == tmp_path / "mine"
    assert "cache " + str(tmp_path / "given") in source.describe_folders("d", tmp_path / "given")
