"""numpynet.gpu.augment (device-side batches) gives the same batches as numpynet.data.augment.

The device code runs here with NumPy in CuPy's place (``xp=np``): the same lines, the same
random draws in the same order, so the batches must be equal to the last bit.
"""

import numpy as np
import pytest

from numpynet.data import augment as cpu
from numpynet.gpu import augment as gpu

S, CROP, B = 12, 8, 5


@pytest.fixture
def batch(rng):
    images = rng.integers(0, 256, (B, S, S, 3), dtype=np.uint8)
    mean = rng.uniform(0, 255, (S, S, 3)).astype(np.float32)
    eigvals = np.array([4000.0, 300.0, 50.0])
    eigvecs = np.linalg.qr(rng.standard_normal((3, 3)))[0]
    return images, mean, eigvals, eigvecs


@pytest.mark.parametrize("pca_std", [0.1, 0])
def test_train_batch_equals_cpu(batch, pca_std):
    images, mean, eigvals, eigvecs = batch
    want = cpu.train_batch(images, mean, eigvals, eigvecs, np.random.default_rng(7), CROP, pca_std)
    got = gpu.train_batch(images, mean, eigvals, eigvecs, np.random.default_rng(7), CROP, pca_std,
                          xp=np)
    assert got.dtype == np.float32 and got.shape == (B, 3, CROP, CROP) and got.flags.c_contiguous
    np.testing.assert_array_equal(got, want)


def test_seed_flips_some_but_not_all(batch):
    """With this seed some images are flipped and some not, so the equality covers both."""
    rng = np.random.default_rng(7)
    cpu.random_crops(rng, B, S, CROP)                   # train_batch's draws, in its order
    flips = cpu.random_flips(rng, B)
    assert 0 < flips.sum() < B


def record_uploads(monkeypatch):
    """Replace upload_crops with one that also notes what went over: [(dtype, shape)]."""
    sent, upload = [], gpu.upload_crops

    def recording(images, tops, lefts, crop, xp):
        out = upload(images, tops, lefts, crop, xp)
        sent.append((out.dtype, out.shape))
        return out

    monkeypatch.setattr(gpu, "upload_crops", recording)
    return sent


def test_uploads_are_uint8_crops(batch, monkeypatch):
    images, mean, eigvals, eigvecs = batch
    sent = record_uploads(monkeypatch)
    gpu.train_batch(images, mean, eigvals, eigvecs, np.random.default_rng(7), CROP, xp=np)
    assert sent == [(np.uint8, (B, CROP, CROP, 3))]


def test_centre_batch_equals_cpu(batch):
    images, mean, _, _ = batch
    np.testing.assert_array_equal(gpu.centre_batch(images, mean, CROP, xp=np),
                                  cpu.centre_batch(images, mean, CROP))


def test_ten_crop_batch_equals_cpu(batch, monkeypatch):
    images, mean, _, _ = batch
    sent = record_uploads(monkeypatch)
    got = gpu.ten_crop_batch(images, mean, CROP, xp=np)
    assert got.shape == (10, B, 3, CROP, CROP)
    np.testing.assert_array_equal(got, cpu.ten_crop_batch(images, mean, CROP))
    assert len(sent) == 5                               # the mirror images are made on the device
