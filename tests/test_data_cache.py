"""Decoding, preprocessing, bad files, and the on-disk cache (reuse, interruption, statistics)."""

import json
import subprocess
import sys

import numpy as np
import pytest
from data_fixtures import WNIDS, make_imagenet, open_tiny, random_image, shared_data, write_image
from PIL import Image

from numpynet.data import (BadImage, DatasetError, image_statistics, load_rgb, open_cache,
                           rgb_pca)
from numpynet.data import decode as decode_module
from numpynet.data.cache import keep_rows_npy
from numpynet.data.decode import resize_shorter_side
from numpynet.files import temp_sibling

RED, GREEN, BLUE = (255, 0, 0), (0, 255, 0), (0, 0, 255)


# --- preprocessing, pixel by pixel -----------------------------------------------------------

def test_shorter_side_rescaled_then_centre_crop(tmp_path):
    # 80 x 40 (W x H): left half red, right half blue. Shorter side 40 -> 20: the image becomes
    # 40 x 20, and the centre crop keeps columns 10..29, i.e. 10 red then 10 blue columns.
    a = np.zeros((40, 80, 3), np.uint8)
    a[:, :40] = RED
    a[:, 40:] = BLUE
    path = write_image(tmp_path / "halves.png", a, format="PNG")
    out, notes = load_rgb(path, size=20)
    assert out.shape == (20, 20, 3) and out.dtype == np.uint8 and notes == []
    assert (out[:, :8] == RED).all() and (out[:, 12:] == BLUE).all()   # away from the seam
    assert (out[:, 9, 0] > out[:, 9, 2]).all() and (out[:, 10, 2] > out[:, 10, 0]).all()

    # 40 x 120 portrait, thirds red / green / blue: 20 x 60 after rescaling, the centre crop is
    # rows 20..39 = the green third.
    b = np.zeros((120, 40, 3), np.uint8)
    b[:40], b[40:80], b[80:] = RED, GREEN, BLUE
    out, _ = load_rgb(write_image(tmp_path / "thirds.png", b, format="PNG"), size=20)
    assert (out[2:18] == GREEN).all()


def _smooth_photo(width, height):
    """A smooth colour gradient with a few soft blobs: what a photo's low frequencies look
    like, and what a JPEG's 8x8 blocks carry."""
    y, x = np.mgrid[0:height, 0:width] / max(width, height)
    rgb = np.stack([0.5 + 0.4 * np.sin(6 * x + 2 * y), 0.5 + 0.4 * np.cos(5 * y - 3 * x),
                    0.5 + 0.4 * np.sin(4 * (x + y))], axis=-1)
    return (255 * rgb).astype(np.uint8)


def test_a_large_jpeg_is_decoded_small_with_the_same_geometry(tmp_path, monkeypatch):
    """Draft mode: a 520 x 610 JPEG cached at 128 px reaches the resize decoded at 1/4 scale
    (130 x 153), comes out with the size and crop of a full decode, and its pixels are within
    a few levels of a full-resolution decode resized the same way."""
    path = write_image(tmp_path / "large.jpg", _smooth_photo(520, 610))
    seen = []
    resize = decode_module.resize_shorter_side
    monkeypatch.setattr(decode_module, "resize_shorter_side",
                        lambda img, size, original=None: seen.append(img.size) or
                        resize(img, size, original))
    out, notes = load_rgb(path, size=128)
    assert seen == [(130, 153)] and out.shape == (128, 128, 3) and notes == []
    with Image.open(path) as full:                        # no draft: every pixel decoded
        exact = np.asarray(decode_module.centre_crop(resize(full.convert("RGB"), 128), 128))
    difference = np.abs(out.astype(int) - exact)
    assert difference.mean() < 1 and difference.max() <= 6
    assert load_rgb(path, size=300)[0].shape == (300, 300, 3) and seen[-1] == (520, 610)


def test_resize_keeps_aspect_ratio():
    assert resize_shorter_side(Image.new("RGB", (300, 200)), 100).size == (150, 100)
    assert resize_shorter_side(Image.new("RGB", (201, 403)), 100).size == (100, 200)
    assert resize_shorter_side(Image.new("RGB", (16, 16)), 32).size == (32, 32)       # upscale


@pytest.mark.parametrize("mode, save_as, note", [
    ("L", "JPEG", "grayscale -> RGB"),
    ("CMYK", "JPEG", "CMYK -> RGB"),
    ("RGBA", "PNG", "alpha channel dropped"),
    ("P", "PNG", "palette -> RGB"),
])
def test_colour_modes_become_rgb(tmp_path, mode, save_as, note):
    path = write_image(tmp_path / f"img.{save_as.lower()}", seed=3, size=(24, 20), mode=mode,
                       format=save_as)
    out, notes = load_rgb(path, size=16)
    assert out.shape == (16, 16, 3) and out.dtype == np.uint8 and notes == [note]
    if mode == "L":
        assert (out[..., 0] == out[..., 1]).all() and (out[..., 1] == out[..., 2]).all()


def test_16_bit_png_is_scaled_not_clipped(tmp_path):
    a = np.full((20, 20), 32896, np.uint16)        # 32896 / 257 = 128
    Image.fromarray(a).save(tmp_path / "deep.png")
    out, notes = load_rgb(tmp_path / "deep.png", size=16)
    assert (out == 128).all() and notes == ["16-bit -> 8-bit RGB"]


def test_png_named_jpeg(tmp_path):
    path = write_image(tmp_path / "n01440764_1.JPEG", random_image(1, (20, 20)), format="PNG")
    out, notes = load_rgb(path, size=20)
    assert np.array_equal(out, random_image(1, (20, 20))) and notes == []   # PNG: lossless


@pytest.mark.parametrize("make, reason", [
    (lambda p: p.write_bytes(b""), "empty file (0 bytes)"),
    (lambda p: p.write_bytes(b"this is not a JPEG at all" * 10), "not an image PIL can read"),
    (lambda p: p.write_bytes(_jpeg_bytes()[:300]), "corrupt or truncated image data"),
    (lambda p: write_image(p, seed=1, size=(12, 40)), "too small (shorter side < 16 px)"),
])
def test_bad_files_raise_bad_image_with_a_reason(tmp_path, make, reason):
    path = tmp_path / "bad.JPEG"
    make(path)
    with pytest.raises(BadImage) as e:
        load_rgb(path, size=16)
    assert e.value.reason == reason
    array, got, _, _ = decode_module.decode_for_cache((str(path), 16, 16))   # never raises
    assert array is None and got == reason


def _jpeg_bytes():
    import io
    buf = io.BytesIO()
    Image.fromarray(random_image(5, (64, 64))).save(buf, format="JPEG")
    return buf.getvalue()


# --- bad data in a whole tree: handled, counted, summarised once --------------------------------

def test_bad_data_is_counted_in_the_summary(tmp_path):
    root = tmp_path / "ds"
    make_imagenet(root, wnids=WNIDS[:3], val="csv")
    cls = root / "train" / WNIDS[0]
    (cls / "zero.JPEG").write_bytes(b"")
    (cls / "garbage.JPEG").write_bytes(b"\xff\xd8\xff" + b"nonsense" * 20)
    (cls / "truncated.JPEG").write_bytes(_jpeg_bytes()[:300])
    write_image(cls / "tiny.JPEG", seed=9, size=(10, 10))
    write_image(cls / "gray.JPEG", seed=9, mode="L")
    write_image(cls / "cmyk.JPEG", seed=9, mode="CMYK")
    write_image(cls / "png_inside.JPEG", seed=9, format="PNG")
    write_image(cls / "upper.JPG", seed=10)
    (cls / "notes.txt").write_text("not an image name: ignored")
    (root / "train" / "n09999999").mkdir()                     # empty class folder
    write_image(root / "val" / "ILSVRC2012_val_00000999.JPEG", seed=11)   # not in the CSV

    data = open_tiny(root, tmp_path / "cache")
    m = data.train.manifest
    assert m["skipped"] == {"empty file (0 bytes)": 1, "not an image PIL can read": 1,
                            "corrupt or truncated image data": 1,
                            "too small (shorter side < 16 px)": 1}
    assert m["converted"] == {"grayscale -> RGB": 1, "CMYK -> RGB": 1}
    assert m["counts"] == [4 + 4, 4, 4]                      # 4 good + gray, cmyk, png, .JPG
    assert len(m["skipped_files"]) == 4 and ["train/n01440764/zero.JPEG", "empty file (0 bytes)",
                                              ""] in m["skipped_files"]
    assert data.val.manifest["skipped"] == {"no label in LOC_val_solution.csv": 1}
    assert len(data.val) == 6

    text = data.summary()
    assert "skipped 4 files: " in text and "1 too small (shorter side < 16 px)" in text
    assert "converted 2: " in text and "1 CMYK -> RGB" in text
    assert "skipped 1 files: 1 no label in LOC_val_solution.csv" in text
    assert "1 empty class folder(s) left out: n09999999" in text
    assert text.count("\n") < 15                              # a summary, not a file list


def test_explicit_class_whose_images_are_all_bad_is_an_error(tmp_path):
    make_imagenet(tmp_path / "ds", val="none")
    bad = tmp_path / "ds" / "train" / "n09999999"
    bad.mkdir()
    (bad / "only.JPEG").write_bytes(b"")
    listed = tmp_path / "classes.txt"
    listed.write_text(f"{WNIDS[0]}\nn09999999\n")
    with pytest.raises(DatasetError, match="no usable training images for n09999999"):
        open_tiny(tmp_path / "ds", tmp_path / "cache", classes_file=listed)
    data = open_tiny(tmp_path / "ds", tmp_path / "cache")          # chosen by rule: reported
    assert data.train.manifest["counts"][-1] == 0
    assert "1 classes with no usable images: n09999999" in data.summary()


def test_a_split_with_no_usable_images_is_an_error(tmp_path):
    (tmp_path / "ds" / "train" / WNIDS[0]).mkdir(parents=True)
    (tmp_path / "ds" / "train" / WNIDS[0] / "a.JPEG").write_bytes(b"")
    with pytest.raises(DatasetError, match="no usable train images among 1 files"):
        open_tiny(tmp_path / "ds", tmp_path / "cache")
    assert not any((tmp_path / "cache").iterdir())           # nothing half-built left behind


def test_imagenet_samples_all_decode():
    folder = shared_data("imagenet-samples")
    files = sorted(p for p in folder.iterdir() if p.suffix.lower() in (".jpeg", ".jpg", ".png"))
    assert len(files) >= 100
    for path in files:
        out, notes = load_rgb(path, size=64)
        assert out.shape == (64, 64, 3) and out.dtype == np.uint8, path.name
        assert set(notes) <= {"grayscale -> RGB", "CMYK -> RGB"}, (path.name, notes)


# --- the cache --------------------------------------------------------------------------------

def _forbid_decoding(monkeypatch):
    def fail(task):
        raise AssertionError(f"decoded {task[0]} again")
    monkeypatch.setattr(decode_module, "decode_for_cache", fail)


def test_second_open_reuses_the_cache_without_decoding(tmp_path, monkeypatch):
    make_imagenet(tmp_path / "ds", val="csv")
    first = open_tiny(tmp_path / "ds", tmp_path / "cache")
    assert not first.train.reused and not first.val.reused
    _forbid_decoding(monkeypatch)
    again = open_tiny(tmp_path / "ds", tmp_path / "cache")
    assert again.train.reused and again.val.reused and "(reused)" in again.summary()
    assert again.train.folder == first.train.folder
    assert np.array_equal(again.train.images, first.train.images)
    assert np.array_equal(again.val.labels, first.val.labels)
    assert isinstance(again.train.images, np.memmap)
    assert np.array_equal(again.mean, first.mean)


def test_cache_layout_on_disk(tmp_path):
    make_imagenet(tmp_path / "ds")
    data = open_tiny(tmp_path / "ds", tmp_path / "cache", size=20)
    folder = data.train.folder
    assert folder.parent == tmp_path / "cache" and folder.name.startswith("train-3c-20px-")
    images = np.load(folder / "images.npy", mmap_mode="r")
    assert images.shape == (12, 20, 20, 3) and images.dtype == np.uint8
    assert np.load(folder / "labels.npy").dtype == np.int64
    assert np.load(folder / "mean.npy").shape == (20, 20, 3)
    assert np.load(folder / "eigvecs.npy").shape == (3, 3)
    manifest = json.loads((folder / "manifest.json").read_text())
    assert manifest["complete"] is True and manifest["wnids"] == WNIDS[:3]
    assert manifest["size"] == 20 and manifest["num_images"] == 12
    assert data.train.files()[0] == f"train/{WNIDS[0]}/{WNIDS[0]}_1.JPEG"
    assert data.val.mean is None and data.val.eigvals is None      # statistics: train only


def test_changed_files_or_settings_give_a_new_cache(tmp_path):
    make_imagenet(tmp_path / "ds")
    first = open_tiny(tmp_path / "ds", tmp_path / "cache")
    write_image(tmp_path / "ds" / "train" / WNIDS[0] / f"{WNIDS[0]}_1.JPEG", seed=99,
                size=(50, 30))
    second = open_tiny(tmp_path / "ds", tmp_path / "cache")
    assert second.train.folder != first.train.folder and not second.train.reused
    assert second.val.reused                                    # val files did not change
    third = open_tiny(tmp_path / "ds", tmp_path / "cache", size=20)
    assert third.train.folder != second.train.folder


def test_parallel_decoding_gives_the_same_cache(tmp_path):
    make_imagenet(tmp_path / "ds", train_per_class=6)
    (tmp_path / "ds" / "train" / WNIDS[1] / "zero.JPEG").write_bytes(b"")
    serial = open_tiny(tmp_path / "ds", tmp_path / "c1", workers=1)
    parallel = open_tiny(tmp_path / "ds", tmp_path / "c2", workers=2)
    assert np.array_equal(serial.train.images, parallel.train.images)
    assert np.array_equal(serial.train.labels, parallel.train.labels)
    assert serial.train.manifest["skipped"] == parallel.train.manifest["skipped"]


def test_interrupted_build_is_never_trusted(tmp_path, monkeypatch):
    make_imagenet(tmp_path / "ds")
    real = decode_module.decode_for_cache
    calls = []

    def crash_on_the_fifth(task):
        calls.append(task)
        if len(calls) == 5:
            raise KeyboardInterrupt                             # Ctrl-C mid-build
        return real(task)

    monkeypatch.setattr(decode_module, "decode_for_cache", crash_on_the_fifth)
    with pytest.raises(KeyboardInterrupt):
        open_tiny(tmp_path / "ds", tmp_path / "cache")
    assert list((tmp_path / "cache").iterdir()) == []          # no folder, no build leftover

    monkeypatch.setattr(decode_module, "decode_for_cache", real)
    data = open_tiny(tmp_path / "ds", tmp_path / "cache")
    assert not data.train.reused and len(data.train) == 12


def test_leftovers_of_a_killed_build_are_rebuilt(tmp_path):
    make_imagenet(tmp_path / "ds")
    folder = open_tiny(tmp_path / "ds", tmp_path / "cache").train.folder
    # What a killed process or a half-copied cache leaves: a folder without a complete manifest,
    # and a build folder (.<name>.build-<pid>-<hex>) of a process that no longer runs.
    manifest = json.loads((folder / "manifest.json").read_text())
    (folder / "manifest.json").write_text(json.dumps(dict(manifest, complete=False)))
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    stale = temp_sibling(folder, "build", pid=dead.pid)
    stale.mkdir()
    (stale / "images.npy").write_bytes(b"partial")

    with pytest.raises(DatasetError, match="not a complete numpynet cache"):
        open_cache(folder)
    data = open_tiny(tmp_path / "ds", tmp_path / "cache")
    assert not data.train.reused and data.train.folder == folder
    assert not stale.exists()
    assert open_cache(folder).manifest["complete"] is True


def test_a_concurrent_build_never_races(tmp_path, monkeypatch):
    """Another process builds the same cache while this one is half-way: it leaves this build's
    folder alone (its process runs), the first rename wins, and this build uses that result."""
    import os

    from numpynet.data import cache
    make_imagenet(tmp_path / "ds", val="none")
    tests = os.path.dirname(os.path.abspath(__file__))
    other = (f"import sys; sys.path.insert(0, {tests!r}); from data_fixtures import open_tiny; "
             f"open_tiny({str(tmp_path / 'ds')!r}, {str(tmp_path / 'cache')!r})")
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)}
    real_fill = cache._fill

    def fill_while_another_builds(tmp, *args):
        assert tmp.exists()
        subprocess.run([sys.executable, "-c", other], env=env, check=True, timeout=120)
        assert tmp.exists()                                 # the other build left ours alone
        real_fill(tmp, *args)

    monkeypatch.setattr(cache, "_fill", fill_while_another_builds)
    data = open_tiny(tmp_path / "ds", tmp_path / "cache")
    assert sorted(p.name for p in (tmp_path / "cache").iterdir()) == [data.train.folder.name]
    assert len(data.train) == 12 and data.train.manifest["complete"] is True


def test_keep_rows_npy_truncates_in_place(tmp_path):
    from numpy.lib.format import open_memmap
    a = open_memmap(tmp_path / "a.npy", mode="w+", dtype=np.uint8, shape=(7, 4, 4, 3))
    a[:] = np.arange(7)[:, None, None, None]
    a.flush()
    del a
    keep_rows_npy(tmp_path / "a.npy", 3)
    b = np.load(tmp_path / "a.npy")
    assert b.shape == (3, 4, 4, 3) and (b[:, 0, 0, 0] == [0, 1, 2]).all()
    assert (tmp_path / "a.npy").stat().st_size == 128 + 3 * 48


# --- statistics for mean subtraction and PCA colour augmentation -------------------------------

def test_image_statistics_match_numpy():
    rng = np.random.default_rng(0)
    images = rng.integers(0, 256, (7, 5, 5, 3)).astype(np.uint8)
    images[..., 1] = images[..., 0] // 2 + images[..., 1] // 2       # correlated channels
    mean, cov = image_statistics(images, chunk_pixels=60)             # 2 images per chunk
    assert mean.dtype == np.float32 and mean.shape == (5, 5, 3)
    assert np.allclose(mean, images.astype(np.float64).mean(axis=0))
    pixels = images.reshape(-1, 3).astype(np.float64)
    assert np.allclose(cov, np.cov(pixels.T))

    eigvals, eigvecs = rgb_pca(cov)
    assert np.all(np.diff(eigvals) <= 0)                                # decreasing
    assert np.allclose(cov @ eigvecs, eigvecs * eigvals)                # C v_k = l_k v_k
    assert np.allclose(eigvecs.T @ eigvecs, np.eye(3))
    assert np.allclose(np.sort(eigvals), np.linalg.eigvalsh(np.cov(pixels.T)))


def test_train_cache_statistics(tmp_path):
    make_imagenet(tmp_path / "ds")
    data = open_tiny(tmp_path / "ds", tmp_path / "cache")
    images = np.asarray(data.train.images, dtype=np.float64)
    assert np.allclose(data.mean, images.mean(axis=0), atol=1e-4)
    cov = np.cov(images.reshape(-1, 3).T)
    assert np.allclose(data.eigvecs @ np.diag(data.eigvals) @ data.eigvecs.T, cov)
