"""The generated demo dataset: ImageNet's layout, deterministic, atomic, not solved by colour."""

import re
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from numpynet.data import demo
from numpynet.data.demo import demo_classes, generate_demo_dataset

SMALL = dict(num_classes=4, train_per_class=6, val_per_class=6, image_size=48, seed=0,
             progress=False)


def files(root):
    """{relative path: bytes} of every file under root."""
    root = Path(root)
    return {p.relative_to(root).as_posix(): p.read_bytes()
            for p in sorted(root.rglob("*")) if p.is_file()}


def read_csv(root):
    lines = (Path(root) / "LOC_val_solution.csv").read_text().splitlines()
    assert lines[0] == "ImageId,PredictionString"
    rows = {}
    for line in lines[1:]:
        image_id, prediction = line.split(",")
        label, *box = prediction.split()
        rows[image_id] = (label, tuple(int(v) for v in box))
    return rows


def pixels(path):
    with Image.open(path) as image:
        assert image.mode == "RGB" and image.format == "JPEG"
        return np.asarray(image, dtype=np.float32)


@pytest.fixture(scope="module")
def small(tmp_path_factory):
    return generate_demo_dataset(tmp_path_factory.mktemp("small") / "demo", workers=1, **SMALL)


# --- layout --------------------------------------------------------------------------------------

def test_kaggle_layout(small):
    wnids = [f"n9000000{k}" for k in range(4)]
    assert sorted(p.name for p in (small / "train").iterdir()) == wnids
    for w in wnids:
        names = sorted(p.name for p in (small / "train" / w).iterdir())
        assert names == sorted(f"{w}_{i}.JPEG" for i in range(6))

    val_files = sorted(p.name for p in (small / "val").iterdir())
    assert val_files == [f"ILSVRC2012_val_{n:08d}.JPEG" for n in range(1, 4 * 6 + 1)]
    rows = read_csv(small)
    assert sorted(f"{image_id}.JPEG" for image_id in rows) == val_files
    labels = [rows[image_id][0] for image_id in sorted(rows)]
    assert sorted(labels) == sorted(wnids * 6)                 # 6 of each class
    assert labels != sorted(labels)                             # interleaved, as in ImageNet
    for _label, (x0, y0, x1, y1) in rows.values():
        assert 0 <= x0 < x1 < 48 and 0 <= y0 < y1 < 48          # the object's box, in the image

    mapping = (small / "LOC_synset_mapping.txt").read_text().splitlines()
    assert [line.split(" ", 1)[0] for line in mapping] == wnids
    assert [line.split(" ", 1)[1] for line in mapping] == [c["name"] for c in demo_classes(4)]

    readme = (small / "README.txt").read_text()
    assert "NOT ImageNet" in readme and "generate_demo_dataset(" in readme and "seed=0" in readme
    assert (small / "demo.json").is_file()
    assert pixels(small / "val" / val_files[0]).shape == (48, 48, 3)


def test_folders_layout(tmp_path):
    root = generate_demo_dataset(tmp_path / "demo", val_layout="folders", workers=1, **SMALL)
    assert not (root / "LOC_val_solution.csv").exists()
    for w in [f"n9000000{k}" for k in range(4)]:
        assert len(list((root / "val" / w).glob("ILSVRC2012_val_*.JPEG"))) == 6
    numbers = sorted(p.name for p in (root / "val").rglob("*.JPEG"))
    assert numbers == [f"ILSVRC2012_val_{n:08d}.JPEG" for n in range(1, 25)]


def test_folders_and_kaggle_hold_the_same_images(small, tmp_path):
    folders = generate_demo_dataset(tmp_path / "demo", val_layout="folders", workers=1, **SMALL)
    rows = read_csv(small)
    for image_id, (label, _) in rows.items():
        assert ((folders / "val" / label / f"{image_id}.JPEG").read_bytes()
                == (small / "val" / f"{image_id}.JPEG").read_bytes())


# --- determinism -----------------------------------------------------------------------------

def test_same_seed_same_bytes_whatever_the_worker_count(small, tmp_path):
    again = generate_demo_dataset(tmp_path / "two_workers", workers=2, **SMALL)
    assert files(again) == files(small)


def test_different_seed_different_images(small, tmp_path):
    other = generate_demo_dataset(tmp_path / "seed1", workers=1, **{**SMALL, "seed": 1})
    a, b = files(small), files(other)
    images = [name for name in a if name.endswith(".JPEG")]
    assert all(a[name] != b[name] for name in images)


# --- reuse and atomic writes -----------------------------------------------------------------

def test_complete_output_is_reused_not_regenerated(small, monkeypatch):
    stamps = {p: p.stat().st_mtime_ns for p in small.rglob("*")}

    def fail(*args, **kwargs):
        raise AssertionError("regenerated a complete dataset")
    monkeypatch.setattr(demo, "_write_dataset", fail)
    assert generate_demo_dataset(small, workers=1, **SMALL) == small
    assert {p: p.stat().st_mtime_ns for p in small.rglob("*")} == stamps


def test_previous_output_with_other_parameters_is_replaced(tmp_path):
    root = generate_demo_dataset(tmp_path / "demo", workers=1, **SMALL)
    generate_demo_dataset(root, workers=1, **{**SMALL, "num_classes": 2})
    assert sorted(p.name for p in (root / "train").iterdir()) == ["n90000000", "n90000001"]
    assert demo._read_manifest(root)["params"]["num_classes"] == 2
    assert sorted(p.name for p in tmp_path.iterdir()) == ["demo"]     # no temp folders left


def test_refuses_a_folder_it_did_not_write(tmp_path, monkeypatch):
    root = tmp_path / "photos"
    root.mkdir()
    (root / "holiday.jpg").write_bytes(b"precious")

    def fail(*args, **kwargs):
        raise AssertionError("generated images before checking the folder")
    monkeypatch.setattr(demo, "_write_dataset", fail)
    with pytest.raises(FileExistsError, match="not a numpynet demo dataset"):
        generate_demo_dataset(root, workers=1, **SMALL)
    assert files(root) == {"holiday.jpg": b"precious"}
    assert sorted(p.name for p in tmp_path.iterdir()) == ["photos"]


def test_fills_an_empty_folder(tmp_path):
    (tmp_path / "demo").mkdir()
    root = generate_demo_dataset(tmp_path / "demo", workers=1, **SMALL)
    assert (root / "demo.json").is_file()


def test_a_failure_leaves_nothing_behind(tmp_path, monkeypatch):
    calls = []

    def render_then_fail(*args):
        calls.append(1)
        if len(calls) > 5:
            raise RuntimeError("disk full")
        return real(*args)
    real = demo.render_image
    monkeypatch.setattr(demo, "render_image", render_then_fail)
    with pytest.raises(RuntimeError, match="disk full"):
        generate_demo_dataset(tmp_path / "demo", workers=1, **SMALL)
    assert list(tmp_path.iterdir()) == []


# --- arguments -------------------------------------------------------------------------------

@pytest.mark.parametrize("bad, message", [
    (dict(num_classes=0), "num_classes must be 1..320"),
    (dict(num_classes=321), "num_classes must be 1..320"),
    (dict(num_classes=2.5), "num_classes must be an integer"),
    (dict(image_size=31), "image_size must be >= 32"),
    (dict(train_per_class=0), "train_per_class must be >= 1"),
    (dict(val_per_class=0), "val_per_class must be >= 1"),
    (dict(seed=-1), "seed must be >= 0"),
    (dict(workers=0), "workers must be >= 1"),
    (dict(val_layout="flat"), "val_layout must be 'kaggle' or 'folders'"),
])
def test_bad_arguments_are_clear_errors(tmp_path, bad, message):
    with pytest.raises(ValueError, match=re.escape(message)):
        generate_demo_dataset(tmp_path / "demo", **{**SMALL, **bad})
    assert list(tmp_path.iterdir()) == []


def test_command_line(tmp_path, capsys):
    args = ["--out", str(tmp_path / "demo"), "--classes", "2", "--train-per-class", "3",
            "--val-per-class", "2", "--size", "32", "--workers", "1", "--no-progress"]
    demo.main(args)
    assert "wrote 6 train + 4 val images" in capsys.readouterr().out
    demo.main(args)
    assert "found, unchanged" in capsys.readouterr().out
    with pytest.raises(SystemExit) as exit_info:
        demo.main(args + ["--size", "8"])
    assert exit_info.value.code == 2
    assert "error: image_size must be >= 32" in capsys.readouterr().err


# --- the classes -----------------------------------------------------------------------------

def test_class_table():
    table = demo_classes(demo.MAX_CLASSES)
    assert demo.MAX_CLASSES == 320
    assert len({c["name"] for c in table}) == 320                       # all distinct
    assert [c["wnid"] for c in table] == sorted(c["wnid"] for c in table)
    assert all(re.fullmatch(r"n9\d{7}", c["wnid"]) for c in table)
    assert all(c["name"] == f"{c['colour']} {c['pattern']} {c['shape']}" for c in table)
    assert demo_classes(10) == table[:10]                                # fixed, seed-independent
    first = table[:10]                                                   # a prefix mixes things
    assert len({c["shape"] for c in first}) >= 4 and len({c["colour"] for c in first}) >= 4


def test_shape_pattern_and_colour_each_change_the_picture():
    """Same random draws, one attribute changed: the picture changes, and for shape and pattern
    only around the object (the draws line up whatever the class, so the clutter is identical)."""
    size = 64
    base = {"shape": "square", "pattern": "solid", "colour": "red"}
    for attribute, value in [("shape", "star"), ("shape", "disc"), ("pattern", "striped"),
                             ("pattern", "dotted"), ("colour", "blue"), ("colour", "orange")]:
        a, box_a = demo.render_image(base, np.random.default_rng(7), size)
        b, box_b = demo.render_image({**base, attribute: value}, np.random.default_rng(7), size)
        changed = np.abs(np.asarray(a, float) - np.asarray(b, float)).sum(axis=-1) > 60
        assert changed.mean() > 0.03, f"{attribute}={value} barely changes the image"
        if attribute != "colour":                # colour also picks the background's colours
            # both objects' boxes, and the antialiased pixel around them
            x0, y0 = np.maximum(np.minimum(box_a[:2], box_b[:2]) - 1, 0)
            x1, y1 = np.maximum(box_a[2:], box_b[2:]) + 1
            assert changed[y0:y1 + 1, x0:x1 + 1].sum() == changed.sum()


def test_images_within_a_class_vary(small):
    for w in sorted(p.name for p in (small / "train").iterdir()):
        images = np.stack([pixels(p) for p in sorted((small / "train" / w).iterdir())])
        differences = np.abs(images[:, None] - images[None]).mean(axis=(2, 3, 4))
        assert differences[~np.eye(len(images), dtype=bool)].min() > 10  # no near-duplicates
    boxes = {}                                                           # the object moves
    for label, box in read_csv(small).values():
        boxes.setdefault(label, []).append(box)
    assert all(len(set(b)) == len(b) for b in boxes.values())


def test_colour_alone_does_not_give_the_class_away(tmp_path):
    """Nearest class mean on the mean RGB of each image: near chance (1/8), far from perfect.

    With a plain grey background instead of the clutter this classifier scores about 0.8 on
    these classes; with it, about 0.1-0.25.
    """
    root = generate_demo_dataset(tmp_path / "demo", num_classes=8, train_per_class=20,
                                 val_per_class=20, image_size=48, seed=0, workers=2,
                                 progress=False)
    wnids = sorted(p.name for p in (root / "train").iterdir())
    train_x = np.stack([[pixels(p).mean(axis=(0, 1)) for p in (root / "train" / w).iterdir()]
                        for w in wnids])                                 # (8, 20, 3)
    class_means = train_x.mean(axis=1)                                   # (8, 3)
    rows = read_csv(root)
    val_x = np.stack([pixels(root / "val" / f"{i}.JPEG").mean(axis=(0, 1)) for i in rows])
    val_y = np.array([wnids.index(label) for label, _ in rows.values()])
    predicted = ((val_x[:, None] - class_means[None]) ** 2).sum(axis=-1).argmin(axis=1)
    accuracy = (predicted == val_y).mean()
    assert accuracy < 0.5, f"mean colour alone classifies {accuracy:.0%} of the demo images"
