"""One image file -> one ``(size, size, 3)`` uint8 RGB array, as in the paper.

    "we down-sampled the images to a fixed resolution of 256 x 256. Given a rectangular image,
     we first rescaled the image such that the shorter side was of length 256, and then cropped
     out the central 256 x 256 patch from the resulting image."   (Krizhevsky et al. 2012, sec. 2)

Steps (``load_rgb``):
    1. decode with PIL by content (a PNG named .JPEG is fine), fully, so truncation shows now;
       a JPEG at least twice ``size`` on its shorter side is decoded at 1/2, 1/4 or 1/8 scale
       (PIL's draft mode: the JPEG decoder drops the high frequencies of each 8x8 block
       instead of computing them), the smallest scale that keeps the shorter side >= ``size``;
    2. convert to 8-bit RGB: grayscale, CMYK, palette, alpha, 16-bit -> RGB (noted, counted);
    3. rescale so the shorter side is ``size`` (PIL bilinear, which antialiases when shrinking);
       the longer side becomes ``round(long * size / short)``;
    4. crop the central ``size x size`` patch: offset ``(long - size) // 2``.
(EXIF orientation tags are not applied, as in the usual ImageNet pipelines.)

Bad files never raise out of ``decode_for_cache``; they come back with a reason, counted by the
cache builder:

    empty file (0 bytes)                        zero-byte file
    not an image PIL can read                   unknown or garbled format
    corrupt or truncated image data             decoder error
    too small (shorter side < 16 px)            a 10 x 300 sliver carries no ImageNet-scale
                                                content: skipped rather than blown up 16x+
    unreadable file                             permission or I/O error
"""

import os
import warnings

import numpy as np
from PIL import Image, UnidentifiedImageError

MIN_SIDE = 16

_CONVERSIONS = {            # PIL mode -> note counted in the summary
    "L": "grayscale -> RGB", "1": "grayscale -> RGB", "LA": "grayscale -> RGB",
    "La": "grayscale -> RGB", "CMYK": "CMYK -> RGB", "P": "palette -> RGB",
    "PA": "palette -> RGB", "RGBA": "alpha channel dropped", "RGBa": "alpha channel dropped",
    "RGBX": "alpha channel dropped",
}


class BadImage(Exception):
    """An image file that cannot become a training example; ``reason`` is a short category."""

    def __init__(self, reason, detail=""):
        super().__init__(f"{reason}: {detail}" if detail else reason)
        self.reason, self.detail = reason, detail


def to_rgb(img):
    """An 8-bit RGB version of ``img`` -> (image, note or None)."""
    mode = img.mode
    if mode == "RGB":
        return img, None
    if mode.startswith("I") or mode == "F":
        # 16-bit ("I;16*"), 32-bit int ("I") or float ("F") grayscale. PIL's convert() would clip
        # at 255, so scale 0..65535 down to 0..255 ourselves (float: assume 0..255 already).
        a = np.asarray(img).astype(np.float64)
        if mode != "F":
            a = a / 257.0
        gray = np.clip(np.rint(a), 0, 255).astype(np.uint8)
        return Image.fromarray(gray, "L").convert("RGB"), "16-bit -> 8-bit RGB"
    return img.convert("RGB"), _CONVERSIONS.get(mode, f"{mode} -> RGB")


def resize_shorter_side(img, size, original=None):
    """Rescale so that the shorter side is ``size`` pixels, with the aspect ratio of
    ``original`` (the file's own width and height when draft mode decoded it smaller; default
    ``img.size``), so the output has the same geometry whatever scale the decoder used."""
    w, h = img.size if original is None else original
    if w <= h:
        new = (size, max(size, round(h * size / w)))
    else:
        new = (max(size, round(w * size / h)), size)
    if new == img.size:
        return img
    return img.resize(new, Image.Resampling.BILINEAR)


def centre_crop(img, size):
    """The central ``size x size`` patch of an image whose sides are both >= size."""
    w, h = img.size
    left, top = (w - size) // 2, (h - size) // 2
    return img.crop((left, top, left + size, top + size))


def load_rgb(path, size=256, min_side=MIN_SIDE):
    """Decode ``path`` -> (uint8 array ``(size, size, 3)``, list of conversion notes).

    Raises ``BadImage`` for files that should be skipped.
    """
    try:
        if os.path.getsize(path) == 0:
            raise BadImage("empty file (0 bytes)")
        with warnings.catch_warnings():   # e.g. "Corrupt EXIF data": one per file is noise
            warnings.simplefilter("ignore")
            with Image.open(path) as img:
                width, height = img.size
                img.draft("RGB", (size, size))    # JPEG: scale down in the decoder, sides >= size
                img.load()                # decode everything now: truncation raises here
                if min(width, height) < min_side:
                    raise BadImage(f"too small (shorter side < {min_side} px)",
                                   f"{width}x{height}")
                rgb, note = to_rgb(img)
    except BadImage:
        raise
    except UnidentifiedImageError as e:
        raise BadImage("not an image PIL can read", str(e)) from None
    except (PermissionError, FileNotFoundError, IsADirectoryError) as e:
        raise BadImage("unreadable file", str(e)) from None
    except Exception as e:              # OSError, SyntaxError, ValueError ... from the decoders
        raise BadImage("corrupt or truncated image data", f"{type(e).__name__}: {e}") from None
    rgb = resize_shorter_side(rgb, size, original=(width, height))
    out = np.asarray(centre_crop(rgb, size), dtype=np.uint8)
    return out, [note] if note else []


def decode_for_cache(task):
    """Worker entry point: ``(path, size, min_side)`` -> ``(array or None, reason, detail, notes)``.

    Never raises for a bad file, so one bad JPEG cannot stop a pool of workers.
    """
    path, size, min_side = task
    try:
        array, notes = load_rgb(path, size, min_side)
        return array, None, "", notes
    except BadImage as e:
        return None, e.reason, e.detail, []
