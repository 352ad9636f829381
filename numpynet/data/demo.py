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

What the images show (320 classes, each one shape, filled with one pattern, in one colour
family, drawn over clutter) is numpynet/data/demo_images.py: ``demo_classes`` and
``render_image``. This module plans the images, writes them and the label files, and is the
command line.

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
import json
import multiprocessing
import os
from functools import partial
from pathlib import Path

import numpy as np
from tqdm import tqdm

from ..files import remove_tree, temp_sibling
from .demo_images import MAX_CLASSES, check_int, demo_classes, render_image

# demo_classes and render_image are re-exported: notebook 1 draws demo images in memory
__all__ = ["generate_demo_dataset", "demo_classes", "render_image", "MAX_CLASSES", "main"]

MIN_IMAGE_SIZE = 32
FORMAT_VERSION = 1           # bump when the images change, so old outputs get regenerated
JPEG_QUALITY = 90

_TRAIN, _VAL, _VAL_ORDER = 0, 1, 2   # the "split" part of the seeds


# ---------------------------------------------------------------------------------------------
# Drawing the planned images
# ---------------------------------------------------------------------------------------------

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
    old = temp_sibling(root, "old")
    os.rename(root, old)                                 # previous output aside, new one in
    os.rename(tmp, root)
    remove_tree(old)


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
    check_int("num_classes", num_classes, 1, MAX_CLASSES)
    check_int("train_per_class", train_per_class, 1)
    check_int("val_per_class", val_per_class, 1)
    check_int("image_size", image_size, MIN_IMAGE_SIZE)
    check_int("seed", seed, 0)
    if val_layout not in ("kaggle", "folders"):
        raise ValueError(f"val_layout must be 'kaggle' or 'folders', got {val_layout!r}")
    if workers is None:
        workers = os.cpu_count() or 1
    check_int("workers", workers, 1)
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
    tmp = temp_sibling(target, "partial")                # e.g. data/.demo.partial-1234-9f8e7d6c
    tmp.mkdir()
    try:
        _write_dataset(tmp, params, workers, progress)
        _move_into_place(tmp, target, params)
    finally:
        remove_tree(tmp)
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
