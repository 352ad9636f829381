"""A generated stand-in for ImageNet, written in ImageNet's on-disk layout.

Without ImageNet on disk, ``python -m numpynet.train --subset 100`` still has something to learn,
and the tests still exercise the real ImageNet loading code: this module draws procedural images
and writes them exactly where the loader looks for ImageNet.

    root/
      train/n90000000/n90000000_0.JPEG ...      one folder per class (wnid)
      val/ILSVRC2012_val_00000001.JPEG ...      val_layout="kaggle": flat, labels in the csv
      LOC_val_solution.csv                      ImageId,PredictionString  ("<wnid> x0 y0 x1 y1")
      LOC_synset_mapping.txt                    "<wnid> <name>" per line, in class order
      README.txt                                says what this is (not ImageNet)
      demo.json                                 the parameters; written last

With ``val_layout="folders"`` the same validation images sit in ``val/<wnid>/`` instead, as
after ImageNet's ``valprep.sh``, and there is no csv.

The classes.  Each class is one shape, filled with one pattern, in one colour family:

    8 shapes   disc, square, triangle, ring, cross, star, bars, crescent
  x 5 patterns solid, striped, checkered, dotted, gradient
  x 8 colours  red, orange, yellow, green, cyan, blue, purple, pink       = 320 classes

enumerated in that order and shuffled once with a fixed seed, so class k is the same class in
every dataset, whatever its ``seed`` (class 0 is always "blue striped square"), and any prefix of
the table mixes shapes, patterns and colours.  The wnids are made up but ImageNet-shaped:
``n9`` + 7 digits, in class order (``n90000000``, ``n90000001``, ...).

The images.  The object is drawn at a random position, size (30-60% of the side), rotation and
pattern phase over clutter: a two-colour gradient, blobs and lines in colours from the same
palette the classes use, one line that may cross the object, and pixel noise.  Colour alone does
not give the class away (another class has the same colour, the clutter too); a classifier has
to see shape and texture, as a CNN does.

Seeds.  Every image has its own generator, seeded by (seed, split, class, index), so the bytes of
each file depend on nothing else: not on the worker count, not on the order workers finish.

Writing.  Everything is written into a temporary folder beside ``root`` and renamed into place
when complete, so ``root`` is either absent, a complete dataset, or untouched.  ``demo.json``
decides what happens to a ``root`` that already exists:

  - demo.json with the same parameters   -> returned as it is, nothing regenerated;
  - demo.json with other parameters      -> a previous output of this generator: replaced;
  - an empty folder                      -> filled;
  - anything else                        -> FileExistsError; we never delete files we did not write.
"""

import argparse
import colorsys
import json
import math
import multiprocessing
import os
import shutil
import uuid
from functools import partial
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw
from tqdm import tqdm

# ---------------------------------------------------------------------------------------------
# The class table
# ---------------------------------------------------------------------------------------------

SHAPES = ("disc", "square", "triangle", "ring", "cross", "star", "bars", "crescent")
PATTERNS = ("solid", "striped", "checkered", "dotted", "gradient")
COLOURS = {  # colour family -> hue in degrees
    "red": 0, "orange": 28, "yellow": 55, "green": 120,
    "cyan": 185, "blue": 225, "purple": 275, "pink": 320,
}
MAX_CLASSES = len(SHAPES) * len(PATTERNS) * len(COLOURS)   # 320
MIN_IMAGE_SIZE = 32
CLASS_TABLE_SEED = 2012      # fixed: the class table never depends on the dataset's seed
FORMAT_VERSION = 1           # bump when the images change, so old outputs get regenerated
JPEG_QUALITY = 90

_TRAIN, _VAL, _VAL_ORDER = 0, 1, 2   # the "split" part of the seeds


def wnid(class_index):
    """The made-up WordNet id of class k: n9 + 7 digits, e.g. wnid(3) == 'n90000003'."""
    return f"n9{class_index:07d}"


def demo_classes(num_classes=MAX_CLASSES):
    """The first ``num_classes`` classes as dicts {wnid, name, shape, pattern, colour}.

    >>> demo_classes(1)[0]["wnid"]
    'n90000000'
    """
    _check_int("num_classes", num_classes, 1, MAX_CLASSES)
    table = [(s, p, c) for s in SHAPES for p in PATTERNS for c in COLOURS]
    order = np.random.default_rng(CLASS_TABLE_SEED).permutation(len(table))
    classes = []
    for k in range(num_classes):
        shape, pattern, colour = table[order[k]]
        classes.append({"wnid": wnid(k), "name": f"{colour} {pattern} {shape}",
                        "shape": shape, "pattern": pattern, "colour": colour})
    return classes


# ---------------------------------------------------------------------------------------------
# Drawing one image
# ---------------------------------------------------------------------------------------------

def _hsv(hue_degrees, saturation, value):
    """An RGB colour as a float32 array in 0..255."""
    rgb = colorsys.hsv_to_rgb((hue_degrees % 360) / 360, saturation, value)
    return np.array(rgb, dtype=np.float32) * 255


def _object_colour(rng, family):
    """A saturated colour of the given family: the colours of class objects and distractors."""
    hue = COLOURS[family] + rng.uniform(-8, 8)
    return _hsv(hue, rng.uniform(0.7, 1.0), rng.uniform(0.75, 1.0))


def _any_object_colour(rng):
    return _object_colour(rng, list(COLOURS)[rng.integers(len(COLOURS))])


def _background_colour(rng, avoid_family):
    """A duller colour of any family but ``avoid_family``, or a grey: the object stays visible."""
    if rng.random() < 0.25:
        return np.full(3, rng.uniform(0.15, 0.9) * 255, dtype=np.float32)
    families = [f for f in COLOURS if f != avoid_family]
    hue = COLOURS[families[rng.integers(len(families))]] + rng.uniform(-15, 15)
    return _hsv(hue, rng.uniform(0.15, 0.8), rng.uniform(0.2, 0.9))


def _random_line(draw, rng, size, colour):
    x0, y0, x1, y1 = rng.uniform(0, size, 4)
    width = int(rng.integers(1, max(2, size // 40) + 1))
    draw.line([(x0, y0), (x1, y1)], fill=tuple(int(v) for v in colour), width=width)


def _background(rng, size, avoid_family):
    """Clutter: a two-colour linear gradient, 2-6 blobs and 2-6 lines; a PIL RGB image."""
    c1, c2 = _background_colour(rng, avoid_family), _background_colour(rng, avoid_family)
    angle = rng.uniform(0, 2 * np.pi)
    yy, xx = np.mgrid[0:size, 0:size].astype(np.float32) / size
    t = (xx - 0.5) * np.cos(angle) + (yy - 0.5) * np.sin(angle) + 0.5      # roughly 0..1
    t = np.clip(t, 0, 1)[..., None]
    image = Image.fromarray((c1 * (1 - t) + c2 * t).astype(np.uint8))

    draw = ImageDraw.Draw(image)
    for _ in range(rng.integers(2, 7)):                                     # blobs (ellipses)
        cx, cy = rng.uniform(0, size, 2)
        rx, ry = rng.uniform(0.03, 0.10, 2) * size
        draw.ellipse([cx - rx, cy - ry, cx + rx, cy + ry],
                     fill=tuple(int(v) for v in _any_object_colour(rng)))
    for _ in range(rng.integers(2, 7)):                                     # lines
        _random_line(draw, rng, size, _any_object_colour(rng))
    return image


def _unit_polygon(shape):
    """The shape's outline in unit coordinates (inside the unit circle); None for round ones."""
    if shape == "square":
        return [(math.cos(a), math.sin(a)) for a in np.pi / 4 + np.arange(4) * np.pi / 2]
    if shape == "triangle":
        return [(math.cos(a), math.sin(a)) for a in -np.pi / 2 + np.arange(3) * 2 * np.pi / 3]
    if shape == "star":                                   # 5 points, inner radius 0.45
        radii = [1.0, 0.45] * 5
        angles = -np.pi / 2 + np.arange(10) * np.pi / 5
        return [(radius * math.cos(a), radius * math.sin(a)) for radius, a in zip(radii, angles)]
    if shape == "cross":                                  # arms of half-width 0.3
        w = 0.3
        return [(-w, -1), (w, -1), (w, -w), (1, -w), (1, w), (w, w),
                (w, 1), (-w, 1), (-w, w), (-1, w), (-1, -w), (-w, -w)]
    return None


def _shape_mask(shape, cx, cy, r, angle, size, supersample=2):
    """Coverage of the shape, float32 (size, size) in 0..1, antialiased by drawing at 2x."""
    s = supersample
    mask = Image.new("L", (size * s, size * s), 0)
    draw = ImageDraw.Draw(mask)
    cos, sin = math.cos(angle), math.sin(angle)

    def place(points):        # unit coordinates -> rotated, scaled, moved, supersampled pixels
        return [((cx + r * (x * cos - y * sin)) * s, (cy + r * (x * sin + y * cos)) * s)
                for x, y in points]

    def circle(x, y, radius, fill):
        (px, py), = place([(x, y)])
        radius *= s
        draw.ellipse([px - radius, py - radius, px + radius, py + radius], fill=fill)

    if shape == "disc":
        circle(0, 0, r, 255)
    elif shape == "ring":
        circle(0, 0, r, 255)
        circle(0, 0, 0.55 * r, 0)
    elif shape == "crescent":
        circle(0, 0, r, 255)
        circle(0.5, 0, 0.85 * r, 0)
    elif shape == "bars":                                 # three parallel bars
        for y in (-0.7, 0.0, 0.7):
            bar = [(-1, y - 0.2), (1, y - 0.2), (1, y + 0.2), (-1, y + 0.2)]
            draw.polygon(place(bar), fill=255)
    else:
        draw.polygon(place(_unit_polygon(shape)), fill=255)
    mask = mask.resize((size, size), Image.BOX)
    return np.asarray(mask, dtype=np.float32) / 255


def _pattern(pattern, colour, rng, cx, cy, r, size):
    """The fill, float32 (size, size, 3): ``colour`` with a dark shade of it in the pattern."""
    dark = colour * 0.3
    angle = rng.uniform(0, np.pi)                         # its own direction, not the shape's
    yy, xx = np.mgrid[0:size, 0:size].astype(np.float32) + 0.5
    u = (xx - cx) * np.cos(angle) + (yy - cy) * np.sin(angle)
    v = -(xx - cx) * np.sin(angle) + (yy - cy) * np.cos(angle)
    period = max(3.0, r * rng.uniform(0.4, 0.55))         # 3-5 stripes across the object
    u, v = u / period + rng.uniform(0, 1), v / period + rng.uniform(0, 1)   # random phase

    if pattern == "gradient":                             # colour fading to its dark shade
        t = np.clip(u * period / (2 * r) + 0.5, 0, 1)[..., None]
        return colour * (1 - t) + dark * t
    if pattern == "solid":
        on = np.zeros((size, size), dtype=bool)
    elif pattern == "striped":
        on = np.floor(u) % 2 == 1
    elif pattern == "checkered":
        on = (np.floor(u) + np.floor(v)) % 2 == 1
    elif pattern == "dotted":                             # dark dots, radius 0.3 period
        on = (u - np.round(u)) ** 2 + (v - np.round(v)) ** 2 < 0.3 ** 2
    else:
        raise ValueError(f"unknown pattern {pattern!r}; expected one of {PATTERNS}")
    return np.where(on[..., None], dark, colour)


def render_image(demo_class, rng, size):
    """Draw one image of ``demo_class`` (a dict from ``demo_classes``) with generator ``rng``.

    Returns (PIL RGB image of size x size, (x0, y0, x1, y1) box of the object, inclusive).
    """
    background = _background(rng, size, avoid_family=demo_class["colour"])

    r = rng.uniform(0.15, 0.30) * size                    # radius: the object spans 30-60%
    cx, cy = rng.uniform(0.8 * r, size - 0.8 * r, 2)      # mostly inside the frame
    angle = rng.uniform(0, 2 * np.pi)
    mask = _shape_mask(demo_class["shape"], cx, cy, r, angle, size)[..., None]
    fill = _pattern(demo_class["pattern"], _object_colour(rng, demo_class["colour"]),
                    rng, cx, cy, r, size)
    image = Image.fromarray(
        (np.asarray(background, dtype=np.float32) * (1 - mask) + fill * mask).astype(np.uint8))

    if rng.random() < 0.5:                                # a line in front: partial occlusion
        _random_line(ImageDraw.Draw(image), rng, size, _any_object_colour(rng))
    noise = 8 * rng.standard_normal((size, size, 3), dtype=np.float32)   # sensor-like noise
    noisy = np.asarray(image, dtype=np.float32) + noise
    image = Image.fromarray(np.clip(noisy, 0, 255).astype(np.uint8))

    rows, cols = np.nonzero(mask[..., 0] > 0.5)
    box = (int(cols.min()), int(rows.min()), int(cols.max()), int(rows.max()))
    return image, box


def _render_job(job, out, seed, size, classes):
    """Worker: draw one image, save it as JPEG under ``out``; returns (relative path, box)."""
    relpath, split, class_index, index = job
    rng = np.random.default_rng([seed, split, class_index, index])
    image, box = render_image(classes[class_index], rng, size)
    image.save(out / relpath, "JPEG", quality=JPEG_QUALITY)
    return relpath, box


# ---------------------------------------------------------------------------------------------
# Writing the dataset
# ---------------------------------------------------------------------------------------------

def _check_int(name, value, low, high=None):
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)):
        raise ValueError(f"{name} must be an integer, got {value!r}")
    if value < low or (high is not None and value > high):
        allowed = f"{low}..{high}" if high is not None else f">= {low}"
        raise ValueError(f"{name} must be {allowed}, got {value}")


def _read_manifest(root):
    """The contents of root/demo.json, or None if there is none (or it is unreadable)."""
    try:
        return json.loads((Path(root) / "demo.json").read_text())
    except (OSError, ValueError):
        return None


def _plan(classes, train_per_class, val_per_class, seed, val_layout):
    """Every image to draw, as (relative path, split, class index, index within the class).

    Validation images are numbered 1..N in a seeded shuffled order, so the classes interleave in
    the flat folder as they do in ImageNet; what an image shows depends on (class, index) only.
    """
    jobs = [(f"train/{c['wnid']}/{c['wnid']}_{i}.JPEG", _TRAIN, k, i)
            for k, c in enumerate(classes) for i in range(train_per_class)]
    val = [(k, i) for k in range(len(classes)) for i in range(val_per_class)]
    order = np.random.default_rng([seed, _VAL_ORDER]).permutation(len(val))
    for number, j in enumerate(order, start=1):
        k, i = val[j]
        folder = "val" if val_layout == "kaggle" else f"val/{classes[k]['wnid']}"
        jobs.append((f"{folder}/ILSVRC2012_val_{number:08d}.JPEG", _VAL, k, i))
    return jobs


def _readme(params):
    args = ", ".join(f"{k}={v!r}" for k, v in params.items())
    return (
        "numpynet demo dataset -- GENERATED, this is NOT ImageNet.\n\n"
        f"Written by numpynet.data.demo.generate_demo_dataset({args}).\n\n"
        "Procedural images in ImageNet's on-disk layout, so ImageNet's loading code can read\n"
        "them. Each class is one shape filled with one pattern in one colour family (the names\n"
        "are in LOC_synset_mapping.txt), drawn at a random position, size and rotation over a\n"
        "cluttered random background. The wnids (n9xxxxxxx) are made up: they name no WordNet\n"
        "synset. Same parameters, same seed -> the same bytes.\n\n"
        "To write it again:\n"
        f"  python -m numpynet.data.demo --out <folder> --classes {params['num_classes']} "
        f"--train-per-class {params['train_per_class']} --val-per-class {params['val_per_class']} "
        f"--size {params['image_size']} --seed {params['seed']} "
        f"--val-layout {params['val_layout']}\n"
    )


def _write_dataset(out, params, workers, progress):
    """Draw every image into the (empty) folder ``out`` and write the metadata; demo.json last."""
    classes = demo_classes(params["num_classes"])
    jobs = _plan(classes, params["train_per_class"], params["val_per_class"], params["seed"],
                 params["val_layout"])
    for folder in {str(Path(relpath).parent) for relpath, *_ in jobs}:
        (out / folder).mkdir(parents=True, exist_ok=True)

    draw = partial(_render_job, out=out, seed=params["seed"], size=params["image_size"],
                   classes=classes)
    workers = min(workers, len(jobs))
    # The pool starts before the progress bar, whose monitor thread should not be forked.
    pool = multiprocessing.Pool(workers) if workers > 1 else None
    boxes = {}
    try:
        if pool is None:
            results = map(draw, jobs)
        else:
            chunk = max(1, min(64, len(jobs) // (workers * 8)))
            results = pool.imap_unordered(draw, jobs, chunksize=chunk)
        with tqdm(total=len(jobs), desc="demo dataset", unit="img", disable=not progress) as bar:
            for relpath, box in results:
                boxes[relpath] = box
                bar.update()
    finally:
        if pool is not None:      # every result is in, or we are failing: stop the workers
            pool.terminate()
            pool.join()

    with open(out / "LOC_synset_mapping.txt", "w", newline="\n") as f:
        f.writelines(f"{c['wnid']} {c['name']}\n" for c in classes)
    if params["val_layout"] == "kaggle":
        with open(out / "LOC_val_solution.csv", "w", newline="\n") as f:
            f.write("ImageId,PredictionString\n")
            for relpath, split, k, _ in jobs:          # jobs list val images by number
                if split == _VAL:
                    x0, y0, x1, y1 = boxes[relpath]
                    f.write(f"{Path(relpath).stem},{classes[k]['wnid']} {x0} {y0} {x1} {y1}\n")
    (out / "README.txt").write_text(_readme(params))
    manifest = {"generator": "numpynet.data.demo.generate_demo_dataset",
                "format_version": FORMAT_VERSION, "params": params,
                "train_images": len(classes) * params["train_per_class"],
                "val_images": len(classes) * params["val_per_class"]}
    (out / "demo.json").write_text(json.dumps(manifest, indent=2) + "\n")


def _is_complete(manifest, params):
    return (manifest is not None and manifest.get("format_version") == FORMAT_VERSION
            and manifest.get("params") == params)


def _not_ours(root):
    return FileExistsError(
        f"{root} exists and is not a numpynet demo dataset (there is no demo.json in it)\n"
        f"       refusing to write there: choose another folder (--out), or delete it yourself")


def _sibling(root, purpose):
    """A fresh hidden path beside ``root``, e.g. data/.demo.partial-1234-9f8e7d6c."""
    return root.parent / f".{root.name}.{purpose}-{os.getpid()}-{uuid.uuid4().hex[:8]}"


def _move_into_place(tmp, root, params):
    """Rename the finished ``tmp`` to ``root``; replaces ``root`` only if it is our own output."""
    if root.is_dir() and not any(root.iterdir()):
        root.rmdir()
    try:
        os.rename(tmp, root)
        return
    except OSError:
        if not root.exists():
            raise
    # root appeared or was there: maybe a concurrent run just finished the same dataset.
    manifest = _read_manifest(root)
    if _is_complete(manifest, params):
        return
    if not (root / "demo.json").exists():
        raise _not_ours(root)
    old = _sibling(root, "old")
    os.rename(root, old)                                 # previous output aside, new one in
    os.rename(tmp, root)
    shutil.rmtree(old, ignore_errors=True)


def generate_demo_dataset(root, num_classes=10, train_per_class=100, val_per_class=20,
                          image_size=128, seed=0, val_layout="kaggle", workers=None,
                          progress=True):
    """Write a generated demo dataset in ImageNet's on-disk layout under ``root``; return ``root``.

    num_classes      1..320 classes, the first ones of the fixed class table (``demo_classes``)
    train_per_class  training images per class, in train/<wnid>/
    val_per_class    validation images per class
    image_size       side of the square RGB images in pixels (>= 32)
    seed             the images; the same seed gives the same bytes, whatever ``workers``
    val_layout       "kaggle": val/ILSVRC2012_val_*.JPEG + LOC_val_solution.csv;
                     "folders": val/<wnid>/ILSVRC2012_val_*.JPEG
    workers          processes drawing images (default: os.cpu_count())
    progress         show a tqdm progress bar

    If ``root`` already holds a complete demo dataset with these parameters it is returned as is.
    A previous demo dataset with other parameters is replaced; any other non-empty folder is a
    FileExistsError.  See the module docstring for the layout and the class table.
    """
    _check_int("num_classes", num_classes, 1, MAX_CLASSES)
    _check_int("train_per_class", train_per_class, 1)
    _check_int("val_per_class", val_per_class, 1)
    _check_int("image_size", image_size, MIN_IMAGE_SIZE)
    _check_int("seed", seed, 0)
    if val_layout not in ("kaggle", "folders"):
        raise ValueError(f"val_layout must be 'kaggle' or 'folders', got {val_layout!r}")
    if workers is None:
        workers = os.cpu_count() or 1
    _check_int("workers", workers, 1)
    params = {"num_classes": int(num_classes), "train_per_class": int(train_per_class),
              "val_per_class": int(val_per_class), "image_size": int(image_size),
              "seed": int(seed), "val_layout": val_layout}

    root = Path(root)
    target = root.absolute()
    if _is_complete(_read_manifest(target), params):
        return root
    if target.exists() and not target.is_dir():
        raise FileExistsError(f"{root} exists and is a file, not a folder")
    if target.is_dir() and any(target.iterdir()) and not (target / "demo.json").exists():
        raise _not_ours(root)

    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = _sibling(target, "partial")
    tmp.mkdir()
    try:
        _write_dataset(tmp, params, workers, progress)
        _move_into_place(tmp, target, params)
    finally:
        if tmp.exists():
            shutil.rmtree(tmp, ignore_errors=True)
    return root


# ---------------------------------------------------------------------------------------------
# Command line
# ---------------------------------------------------------------------------------------------

def main(argv=None):
    parser = argparse.ArgumentParser(
        prog="python -m numpynet.data.demo",
        description="Write a generated demo dataset (not ImageNet) in ImageNet's on-disk layout.")
    parser.add_argument("--out", default="data/demo", help="folder to write (default: data/demo)")
    parser.add_argument("--classes", type=int, default=10,
                        help=f"number of classes, 1..{MAX_CLASSES}")
    parser.add_argument("--train-per-class", type=int, default=100,
                        help="training images per class")
    parser.add_argument("--val-per-class", type=int, default=20, help="validation images per class")
    parser.add_argument("--size", type=int, default=128, help="image side in pixels (>= 32)")
    parser.add_argument("--seed", type=int, default=0,
                        help="seed of the images (same seed, same bytes)")
    parser.add_argument("--val-layout", choices=("kaggle", "folders"), default="kaggle",
                        help="flat val/ + LOC_val_solution.csv, or val/<wnid>/ folders")
    parser.add_argument("--workers", type=int, default=None, help="processes (default: all cores)")
    parser.add_argument("--no-progress", action="store_true", help="no progress bar")
    args = parser.parse_args(argv)

    before = _read_manifest(args.out)
    try:
        root = generate_demo_dataset(args.out, args.classes, args.train_per_class,
                                     args.val_per_class, args.size, args.seed, args.val_layout,
                                     args.workers, not args.no_progress)
    except (ValueError, FileExistsError) as error:
        parser.exit(2, f"error: {error}\n")
    manifest = _read_manifest(root)
    verb = "found, unchanged," if before == manifest else "wrote"
    print(f"{verb} {manifest['train_images']} train + {manifest['val_images']} val images "
          f"({args.classes} classes, {args.size}x{args.size} px) in {root}")


if __name__ == "__main__":
    main()
