"""Helpers for the data tests: tiny ImageNet-format trees written with PIL, and the shared data.

Imported by tests/test_data_*.py (kept out of conftest.py, which others own).
"""

from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from numpynet import config

SHARED_ENV = "NUMPYNET_SHARED_DATA"
WNIDS = ["n01440764", "n01443537", "n01484850", "n01491361", "n01494475", "n01496331"]


def shared_data(name):
    """``<shared data>/<name>``, or skip the test when it is absent (a fresh clone has none).

    The folder comes from $NUMPYNET_SHARED_DATA, else ``<repo>/../shared/data``.
    """
    base = config.given(SHARED_ENV) or Path(__file__).resolve().parents[1] / config.default(
        SHARED_ENV)
    path = Path(base) / name
    if not path.is_dir():
        pytest.skip(f"shared sample data not found at {path} (set {SHARED_ENV})")
    return path


def random_image(seed, size=(40, 32), colour=None):
    """(H, W, 3) uint8: a flat colour plus noise, different for each seed. size = (W, H)."""
    rng = np.random.default_rng(seed)
    w, h = size
    base = np.array(colour if colour is not None else rng.integers(0, 256, 3), dtype=np.int16)
    noise = rng.integers(-40, 41, (h, w, 3))
    return np.clip(base + noise, 0, 255).astype(np.uint8)


def write_image(path, array=None, seed=0, size=(40, 32), format="JPEG", mode=None):
    """Write an image file (parents created); ``array`` defaults to ``random_image(seed, size)``."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    img = Image.fromarray(random_image(seed, size) if array is None else array)
    if mode is not None:
        img = img.convert(mode)
    img.save(path, format=format)
    return path


def make_imagenet(root, wnids=WNIDS[:3], train_per_class=4, val_per_class=2, val="folders",
                  names="loc", size=(40, 32)):
    """Write a tiny ImageNet-format tree under ``root`` and return {val file name: wnid}.

    val:   "folders" (val/<wnid>/), "csv" (flat val/ + LOC_val_solution.csv),
           "txt" (flat val/ + val/val_labels.txt), "flat" (flat val/, no label file), "none"
    names: "loc" (LOC_synset_mapping.txt), "words" (words.txt) or None
    """
    root = Path(root)
    seed = 0
    for wnid in wnids:
        for i in range(train_per_class):
            seed += 1
            write_image(root / "train" / wnid / f"{wnid}_{i + 1}.JPEG", seed=seed, size=size)
    val_labels = {}
    number = 0
    for wnid in wnids:
        for _ in range(val_per_class):
            number += 1
            seed += 1
            name = f"ILSVRC2012_val_{number:08d}.JPEG"
            if val == "folders":
                write_image(root / "val" / wnid / name, seed=seed, size=size)
            elif val != "none":
                write_image(root / "val" / name, seed=seed, size=size)
            val_labels[name] = wnid
    if val == "csv":
        lines = ["ImageId,PredictionString"] + [
            f"{n[:-5]},{w} 1 2 30 20 {w} 3 4 20 25" for n, w in val_labels.items()]
        (root / "LOC_val_solution.csv").write_text("\n".join(lines) + "\n")
    elif val == "txt":
        (root / "val" / "val_labels.txt").write_text(
            "".join(f"{n} {w}\n" for n, w in val_labels.items()))
    if names == "loc":
        (root / "LOC_synset_mapping.txt").write_text(
            "".join(f"{w} class {w[-3:]}, other name\n" for w in wnids))
    elif names == "words":
        (root / "words.txt").write_text(
            "n00001740\tentity\n" + "".join(f"{w}\tword {w[-3:]}\n" for w in wnids))
    return val_labels


def open_tiny(root, cache_root, **kwargs):
    """``open_imagenet`` with settings for fast tests: 16 px images, one worker, no progress bar."""
    from numpynet.data import open_imagenet
    kwargs.setdefault("size", 16)
    kwargs.setdefault("workers", 1)
    return open_imagenet(root, cache_root=cache_root, progress=False, **kwargs)
