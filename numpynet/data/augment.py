"""Data augmentation and test-time crops as in the paper (Krizhevsky et al. 2012, sec. 4.1).

Every function takes a batch of cached images ``(B, S, S, 3)`` uint8 (S = 256 by default) and
returns float32 in the layout the network eats, ``(B, 3, crop, crop)`` NCHW, on the 0-255 pixel
scale minus the training mean image. Randomness comes only from the ``np.random.Generator`` passed
in, so a batch is a pure function of (images, rng state).

Training, ``train_batch``:
    1. a random ``crop x crop`` patch at offset (top, left), each uniform in ``0 .. S - crop``
       (crop = 227 by default: the paper says 224, but its layer sizes only work out for 227),
       and a horizontal flip with probability 1/2;
    2. minus the mean image, cropped and flipped the same way. That equals subtracting the mean
       from the whole image before cropping (crop and flip only move pixels), but costs less;
    3. PCA colour augmentation, one random RGB offset per image added to every pixel:

           x_hw += [p1 p2 p3] [a1 sqrt(l1), a2 sqrt(l2), a3 sqrt(l3)]^T,   a_k ~ N(0, 0.1^2)

       p_k, l_k: eigenvectors and eigenvalues of the 3x3 covariance of training RGB pixels (on the
       same 0-255 scale). The paper writes a_k * l_k; taken literally on the 0-255 scale l_1 is a
       variance of several thousand (pixel^2) and the shift would be hundreds of grey levels. The
       formula is not scale-free; Krizhevsky's own code (cuda-convnet2, ``convdata.py``,
       ``color_stdevs``) scales by the standard deviations sqrt(l_k), as here. Then the shift's
       covariance is exactly 0.1^2 times the pixel covariance: the image's colour moves along the
       data's own colour distribution by about a tenth of its spread, on any pixel scale.

Test time:
    ``centre_batch``   the central ``crop x crop`` patch                -> (B, 3, crop, crop)
    ``ten_crop_batch`` four corners + centre, and their mirror images   -> (10, B, 3, crop, crop)
                       view order: top-left, top-right, bottom-left, bottom-right, centre, then
                       the same five flipped; the network's softmax outputs are averaged over
                       the 10 views (``probs = mean(model(x[v]) for v in range(10))``).

The array module comes from the input (``xp = get_array_module(images)``) so the same lines run
on a CuPy batch; random numbers are drawn on the host with NumPy either way.
"""

import numpy as np

from ..backend import get_array_module

CROP = 227          # the crop size the layer arithmetic of AlexNet works out for
PCA_STD = 0.1       # standard deviation of the alphas, from the paper


def random_crops(rng, batch, size, crop):
    """Top-left corners of ``batch`` random crops: (tops, lefts), each (B,) int in 0..size-crop."""
    if crop > size:
        raise ValueError(f"crop={crop} is larger than the cached images ({size}x{size}): "
                         f"rebuild the cache with a larger size, or crop less")
    tops = rng.integers(0, size - crop + 1, size=batch)
    lefts = rng.integers(0, size - crop + 1, size=batch)
    return tops, lefts


def random_flips(rng, batch):
    """(B,) bool: flip image b horizontally? Each True with probability 1/2."""
    return rng.random(batch) < 0.5


def crop_batch(images, tops, lefts, crop, flips=None):
    """Crop image b at (tops[b], lefts[b]), then mirror it left-right if flips[b].

    images (B, S, S, C) any dtype  ->  (B, crop, crop, C) same dtype
    """
    xp = get_array_module(images)
    out = xp.empty((len(images), crop, crop) + tuple(images.shape[3:]), dtype=images.dtype)
    for b in range(len(images)):
        t, l = int(tops[b]), int(lefts[b])
        patch = images[b, t:t + crop, l:l + crop]
        out[b] = patch[:, ::-1] if flips is not None and flips[b] else patch
    return out


def pca_colour_shift(rng, batch, eigvals, eigvecs, std=PCA_STD):
    """One RGB offset per image, ``shift_b = eigvecs @ (alpha_b * sqrt(eigvals))``.

    eigvals (3,), eigvecs (3, 3) with component k in column k; alpha_b ~ N(0, std^2 I)  ->  (B, 3)
    Covariance of the shift: eigvecs diag(std^2 eigvals) eigvecs^T = std^2 * (pixel covariance).
    """
    alpha = rng.normal(0.0, std, size=(batch, 3))                          # (B, 3)
    scale = np.sqrt(np.clip(np.asarray(eigvals, dtype=np.float64), 0, None))
    return (alpha * scale) @ np.asarray(eigvecs, dtype=np.float64).T       # (B, 3)


def to_nchw(x):
    """(B, H, W, C) -> contiguous (B, C, H, W)."""
    xp = get_array_module(x)
    return xp.ascontiguousarray(x.transpose(0, 3, 1, 2))


def _minus_mean(images, mean, tops, lefts, crop, flips=None):
    """Crops of ``images`` minus the same crops of ``mean``, float32 (B, crop, crop, 3)."""
    xp = get_array_module(images)
    mean = xp.asarray(mean, dtype=xp.float32)                               # (S, S, 3)
    x = crop_batch(images, tops, lefts, crop, flips).astype(xp.float32)
    x -= crop_batch(xp.broadcast_to(mean, images.shape), tops, lefts, crop, flips)
    return x


def train_randomness(rng, batch, size, crop, eigvals, eigvecs, pca_std=PCA_STD, rows=None):
    """The random numbers of one training batch, in the order they are drawn:
    (tops, lefts, flips, shift), shift (B, 3) or None when pca_std is 0.

    rows (lo, hi): draw for the whole batch of `batch` images but keep only rows [lo, hi): a
    data-parallel rank makes its part of exactly the batch a one-process run makes.
    """
    tops, lefts = random_crops(rng, batch, size, crop)
    flips = random_flips(rng, batch)
    shift = pca_colour_shift(rng, batch, eigvals, eigvecs, pca_std) if pca_std else None
    if rows is None:
        return tops, lefts, flips, shift
    part = slice(*rows)
    return tops[part], lefts[part], flips[part], None if shift is None else shift[part]


def train_batch(images, mean, eigvals, eigvecs, rng, crop=CROP, pca_std=PCA_STD, rows=None):
    """Training augmentation: random crop + flip, minus mean, PCA colour shift.

    images (B, S, S, 3) uint8, mean (S, S, 3)  ->  (B, 3, crop, crop) float32
    ``pca_std=0`` turns the colour augmentation off. rows (lo, hi, B): `images` are rows
    [lo, hi) of a batch of B, and get the crops, flips and colours those rows get in it.
    """
    xp = get_array_module(images)
    batch = len(images) if rows is None else rows[2]
    tops, lefts, flips, shift = train_randomness(rng, batch, images.shape[1], crop, eigvals,
                                                 eigvecs, pca_std, rows and rows[:2])
    x = _minus_mean(images, mean, tops, lefts, crop, flips)                 # (B, c, c, 3)
    if shift is not None:
        x += xp.asarray(shift, dtype=xp.float32)[:, None, None, :]         # (B, 3) per image
    return to_nchw(x)


def centre_batch(images, mean, crop=CROP):
    """The central crop, minus mean: (B, S, S, 3) uint8 -> (B, 3, crop, crop) float32."""
    batch, size = len(images), images.shape[1]
    offset = np.full(batch, (size - crop) // 2)
    return to_nchw(_minus_mean(images, mean, offset, offset, crop))


def ten_crop_positions(size, crop):
    """(top, left, flip) of the 10 test views: 4 corners + centre, then the same flipped."""
    far, mid = size - crop, (size - crop) // 2
    five = [(0, 0), (0, far), (far, 0), (far, far), (mid, mid)]
    return [(t, l, False) for t, l in five] + [(t, l, True) for t, l in five]


def ten_crop_batch(images, mean, crop=CROP):
    """Ten views of every image, minus mean: (B, S, S, 3) uint8 -> (10, B, 3, crop, crop) float32.

    View v of the whole batch is ``out[v]``, a normal (B, 3, crop, crop) batch for the network.
    """
    xp = get_array_module(images)
    batch, size = len(images), images.shape[1]
    views = []
    for top, left, flip in ten_crop_positions(size, crop):
        tops, lefts = np.full(batch, top), np.full(batch, left)
        flips = np.full(batch, flip)
        views.append(to_nchw(_minus_mean(images, mean, tops, lefts, crop, flips)))
    return xp.stack(views)
