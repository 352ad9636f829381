"""Training and test batches assembled on the GPU: uint8 crops go over, float32 NCHW comes out.

The host cuts the crops out of the cached uint8 images and uploads them as uint8, a quarter of
the bytes of the float32 batch; the device does the rest:

    host    random crop offsets, flips, PCA alphas (the same draws, in the same order, as
            `numpynet.data.augment.train_batch`), uint8 crops (B, crop, crop, 3)
    device  flip, minus the mean image's crop (flipped alike), plus one RGB shift per image,
            (B, crop, crop, 3) -> (B, 3, crop, crop) float32

The arithmetic is `numpynet.data.augment`'s own, called on device arrays (its functions take
their array module from their input), in the same order, so for the same random generator
state a GPU batch equals the CPU batch exactly: tests/test_gpu_augment.py checks this with
`xp=numpy` standing in for CuPy. (`crop_batch` loops over the images in Python, so a batch of
B costs about 2B small copies on the device, a few milliseconds at B = 128; one gather kernel
would do it in one launch, if a profile ever asks for it.)

Pass the mean image as a device array (``cupy.asarray(data.mean)``, once) to save uploading it
with every batch; a NumPy mean works too, and is uploaded each time.
"""

import numpy as np

from .. import backend
from ..data.augment import (CROP, PCA_STD, crop_batch, ten_crop_positions, to_nchw,
                            train_randomness)


def _device_module(xp):
    """The array module batches go to: CuPy unless told otherwise (NumPy in the tests)."""
    return backend.load_cupy() if xp is None else xp


def upload_crops(images, tops, lefts, crop, xp):
    """Cut crop b at (tops[b], lefts[b]) on the host and upload: (B, crop, crop, 3) uint8."""
    return xp.asarray(crop_batch(images, tops, lefts, crop))


def finish_on_device(patches, mean, tops, lefts, flips=None, shift=None):
    """Device: uint8 crops (B, c, c, 3) -> float32 (B, 3, c, c), flipped, minus mean, + shift.

    mean (S, S, 3) is cropped at the crops' own (tops, lefts) and flipped with them;
    shift (B, 3) is one RGB offset per image (None: no colour augmentation).
    """
    xp = backend.get_array_module(patches)
    batch, crop = len(patches), patches.shape[1]
    origin = np.zeros(batch, dtype=np.int64)
    x = crop_batch(patches, origin, origin, crop, flips).astype(xp.float32)    # the flips
    mean = xp.asarray(mean, dtype=xp.float32)
    x -= crop_batch(xp.broadcast_to(mean, (batch,) + mean.shape), tops, lefts, crop, flips)
    if shift is not None:
        x += xp.asarray(shift, dtype=xp.float32)[:, None, None, :]
    return to_nchw(x)


def train_batch(images, mean, eigvals, eigvecs, rng, crop=CROP, pca_std=PCA_STD, rows=None,
                xp=None):
    """`numpynet.data.augment.train_batch` with the float work on the GPU (xp: default CuPy).

    images (B, S, S, 3) uint8 on the host  ->  (B, 3, crop, crop) float32 on the device
    """
    xp = _device_module(xp)
    batch = len(images) if rows is None else rows[2]
    tops, lefts, flips, shift = train_randomness(rng, batch, images.shape[1], crop, eigvals,
                                                 eigvecs, pca_std, rows and rows[:2])
    patches = upload_crops(images, tops, lefts, crop, xp)
    return finish_on_device(patches, mean, tops, lefts, flips, shift)


def centre_batch(images, mean, crop=CROP, xp=None):
    """The central crop minus mean: (B, S, S, 3) uint8 host -> (B, 3, crop, crop) float32 device."""
    xp = _device_module(xp)
    offset = np.full(len(images), (images.shape[1] - crop) // 2)
    return finish_on_device(upload_crops(images, offset, offset, crop, xp), mean, offset, offset)


def ten_crop_batch(images, mean, crop=CROP, xp=None):
    """Ten views minus mean: (B, S, S, 3) uint8 -> (10, B, 3, crop, crop) float32 on the device.

    The five crops go over once; their mirror images are made on the device. View order as in
    `numpynet.data.augment.ten_crop_positions`.
    """
    xp = _device_module(xp)
    batch, size = len(images), images.shape[1]
    views, uploaded = [], {}
    for top, left, flip in ten_crop_positions(size, crop):
        tops, lefts = np.full(batch, top), np.full(batch, left)
        if (top, left) not in uploaded:
            uploaded[top, left] = upload_crops(images, tops, lefts, crop, xp)
        views.append(finish_on_device(uploaded[top, left], mean, tops, lefts,
                                      np.full(batch, flip)))
    return xp.stack(views)
