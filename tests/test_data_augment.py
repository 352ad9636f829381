"""Augmentation (crops, flips, PCA colour, mean subtraction) and test-time crops."""

import numpy as np
import pytest

from numpynet.data import (centre_batch, crop_batch, pca_colour_shift, random_crops, random_flips,
                           ten_crop_batch, ten_crop_positions, train_batch)

S, C, B = 32, 28, 4


@pytest.fixture
def batch():
    rng = np.random.default_rng(0)
    images = rng.integers(0, 256, (B, S, S, 3)).astype(np.uint8)    # (B, S, S, 3)
    mean = rng.uniform(0, 255, (S, S, 3)).astype(np.float32)        # (S, S, 3)
    eigvals = np.array([5000.0, 400.0, 60.0])
    q, _ = np.linalg.qr(rng.standard_normal((3, 3)))                # orthonormal columns
    return images, mean, eigvals, q


def nchw(x):
    return np.ascontiguousarray(x.transpose(0, 3, 1, 2))


def test_shapes_and_dtypes(batch):
    images, mean, eigvals, eigvecs = batch
    rng = np.random.default_rng(1)
    x = train_batch(images, mean, eigvals, eigvecs, rng, crop=C)
    assert x.shape == (B, 3, C, C) and x.dtype == np.float32 and x.flags.c_contiguous
    assert centre_batch(images, mean, crop=C).shape == (B, 3, C, C)
    ten = ten_crop_batch(images, mean, crop=C)
    assert ten.shape == (10, B, 3, C, C) and ten.dtype == np.float32
    with pytest.raises(ValueError, match="larger than the cached images"):
        train_batch(images, mean, eigvals, eigvecs, rng, crop=S + 1)


def test_flipped_crop_equals_crop_of_flipped_image(batch):
    images = batch[0]
    tops, lefts = np.array([0, 1, 4, 2]), np.array([4, 0, 3, 1])
    flipped_crops = crop_batch(images, tops, lefts, C, flips=np.ones(B, bool))
    mirrored = images[:, :, ::-1]                                     # flip every whole image
    # a crop at left l of the flipped image covers columns S-C-l .. S-l of the original
    assert np.array_equal(flipped_crops, crop_batch(mirrored, tops, S - C - lefts, C))
    plain = crop_batch(images, tops, lefts, C)
    assert np.array_equal(plain[1], images[1, 1:1 + C, 0:C])
    assert np.array_equal(flipped_crops, plain[:, :, ::-1])


def test_crop_positions_stay_inside_and_cover_every_offset():
    rng = np.random.default_rng(0)
    tops, lefts = random_crops(rng, 4000, S, C)
    for offsets in (tops, lefts):
        assert offsets.min() == 0 and offsets.max() == S - C
        assert set(offsets.tolist()) == set(range(S - C + 1))      # every position is reachable
    flips = random_flips(rng, 4000)
    assert flips.dtype == bool and 0.45 < flips.mean() < 0.55


def test_train_batch_is_crop_flip_minus_mean_plus_colour(batch):
    images, mean, eigvals, eigvecs = batch
    x = train_batch(images, mean, eigvals, eigvecs, np.random.default_rng(7), crop=C)
    rng = np.random.default_rng(7)                                  # the same draws, by hand
    tops, lefts = random_crops(rng, B, S, C)
    flips = random_flips(rng, B)
    shift = pca_colour_shift(rng, B, eigvals, eigvecs)
    for b in range(B):
        t, l = tops[b], lefts[b]
        expect = images[b, t:t + C, l:l + C].astype(np.float32) - mean[t:t + C, l:l + C]
        if flips[b]:
            expect = expect[:, ::-1]
        expect = expect + shift[b].astype(np.float32)
        assert np.allclose(x[b], expect.transpose(2, 0, 1), atol=1e-4)


def test_same_rng_same_batch(batch):
    images, mean, eigvals, eigvecs = batch
    a = train_batch(images, mean, eigvals, eigvecs, np.random.default_rng(3), crop=C)
    b = train_batch(images, mean, eigvals, eigvecs, np.random.default_rng(3), crop=C)
    c = train_batch(images, mean, eigvals, eigvecs, np.random.default_rng(4), crop=C)
    assert np.array_equal(a, b) and not np.array_equal(a, c)


def test_colour_shift_is_constant_per_image_and_channel(batch):
    images, mean, eigvals, eigvecs = batch
    with_pca = train_batch(images, mean, eigvals, eigvecs, np.random.default_rng(5), crop=C)
    without = train_batch(images, mean, eigvals, eigvecs, np.random.default_rng(5), crop=C,
                          pca_std=0)
    diff = with_pca - without                                       # (B, 3, C, C)
    assert np.allclose(diff, diff[:, :, :1, :1], atol=1e-3)
    assert np.abs(diff).max() > 0.1


def test_pca_colour_shift_statistics(batch):
    _, _, eigvals, eigvecs = batch
    shifts = pca_colour_shift(np.random.default_rng(0), 40000, eigvals, eigvecs, std=0.1)
    assert shifts.shape == (40000, 3)
    # along component k the shift is alpha_k * sqrt(l_k): std 0.1 * sqrt(l_k)
    along = shifts @ eigvecs
    assert np.allclose(along.std(axis=0), 0.1 * np.sqrt(eigvals), rtol=0.03)
    assert np.allclose(along.mean(axis=0), 0, atol=0.03 * np.sqrt(eigvals))
    # so the shifts' covariance is 0.1^2 times the pixel covariance
    pixel_cov = eigvecs @ np.diag(eigvals) @ eigvecs.T
    assert np.allclose(np.cov(shifts.T), 0.01 * pixel_cov, atol=0.05 * 0.01 * eigvals[0])


def test_centre_crop_minus_mean(batch):
    images, mean = batch[:2]
    o = (S - C) // 2
    expect = images[:, o:o + C, o:o + C].astype(np.float32) - mean[o:o + C, o:o + C]
    assert np.array_equal(centre_batch(images, mean, crop=C), nchw(expect))
    zero = np.zeros_like(mean)
    assert np.array_equal(centre_batch(images, zero, crop=C), nchw(images[:, o:o + C, o:o + C]))


def test_ten_crop_views_are_corners_centre_and_mirrors(batch):
    images, mean = batch[:2]
    x = ten_crop_batch(images, np.zeros_like(mean), crop=C)
    f = S - C
    corners = [(0, 0), (0, f), (f, 0), (f, f), (f // 2, f // 2)]
    assert ten_crop_positions(S, C) == [(t, l, False) for t, l in corners] + \
        [(t, l, True) for t, l in corners]
    for v, (t, l) in enumerate(corners):
        crop = images[:, t:t + C, l:l + C].astype(np.float32)      # explicit slices
        assert np.array_equal(x[v], nchw(crop))
        assert np.array_equal(x[v + 5], nchw(crop[:, :, ::-1]))
    with_mean = ten_crop_batch(images, mean, crop=C)
    assert np.allclose(with_mean[6], x[6] - nchw(mean[None, 0:C, f:f + C][:, :, ::-1]))
