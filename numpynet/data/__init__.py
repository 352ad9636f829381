"""ImageNet on disk -> cached uint8 arrays -> augmented float32 batches.

    from numpynet.data import open_imagenet, BatchLoader
    data = open_imagenet("data/imagenet", subset=100)     # decodes once, then reuses the cache
    print(data.summary())
    train = BatchLoader(data.train, batch_size=128, train=True, seed=0)
    val = BatchLoader(data.val, batch_size=128, train=False, mean=data.mean)

The pieces, one concept per module, each usable alone:
    layout.py    find the folders, label files and class names   (find_layout, list_val)
    subset.py    which classes and how many images per class     (choose_classes, cap_files)
    decode.py    one file -> (256, 256, 3) uint8, as in the paper (load_rgb)
    cache.py     decode everything once into a memory-mapped cache, mean image, RGB PCA
    augment.py   random crops, flips, PCA colour, mean subtraction, 10-crop
    loader.py    reproducible, resumable batches, prepared in a background thread
    demo.py      a generated stand-in dataset in ImageNet's layout (python -m numpynet.data.demo);
                 what one of its images shows: demo_images.py
    source.py    the dataset a training run uses: --data, $NUMPYNET_DATA, or the demo set
"""

from dataclasses import dataclass, field

from .augment import (CROP, PCA_STD, centre_batch, crop_batch, pca_colour_shift, random_crops,
                      random_flips, ten_crop_batch, ten_crop_positions, train_batch)
from .cache import (CachedSplit, default_cache_root, image_statistics, open_cache,
                    open_or_build, rgb_pca)
from .decode import MIN_SIDE, BadImage, load_rgb
from .layout import (DatasetError, Layout, default_data_root, display_path, find_layout,
                     has_images, list_images, list_val)
from .loader import BatchLoader
from .subset import VAL_CAP_STREAM, cap_files, choose_classes, evenly_spaced, read_classes_file

__all__ = [
    "open_imagenet", "ImageNetSubset", "DatasetError", "BatchLoader", "CachedSplit",
    "open_cache", "find_layout", "Layout", "default_data_root", "default_cache_root",
    "choose_classes", "evenly_spaced", "cap_files",
    "read_classes_file", "load_rgb", "BadImage", "train_batch", "centre_batch", "ten_crop_batch",
    "crop_batch", "random_crops", "random_flips", "pca_colour_shift", "ten_crop_positions",
    "image_statistics", "rgb_pca", "CROP", "PCA_STD", "MIN_SIDE",
]


@dataclass
class ImageNetSubset:
    """The opened dataset: ``train`` and ``val`` caches plus what the training loop needs.

    train, val        CachedSplit (val is None without a validation folder): ``.images``
                      (M, S, S, 3) uint8 memmap, ``.labels`` (M,) int64, ``.manifest``
    wnids, names      the chosen classes; label k is wnids[k]
    mean              (S, S, 3) float32 mean training image, 0-255 scale
    eigvals, eigvecs  (3,), (3, 3) PCA of training RGB pixels (columns = components)
    """
    layout: Layout
    train: CachedSplit
    val: CachedSplit | None
    wnids: list
    names: list
    notes: list = field(default_factory=list)

    @property
    def mean(self):
        return self.train.mean

    @property
    def eigvals(self):
        return self.train.eigvals

    @property
    def eigvecs(self):
        return self.train.eigvecs

    @property
    def num_classes(self):
        return len(self.wnids)

    def summary(self):
        """A few lines: where, which layout, classes, image counts, what was skipped and why."""
        lines = [f"dataset  {display_path(self.layout.root)}",
                 f"layout   {self.layout.describe()}"]
        shown = ", ".join(f"{w} ({n.split(',')[0]})" if n != w else w
                          for w, n in zip(self.wnids[:4], self.names[:4]))
        more = " ..." if self.num_classes > 4 else ""
        lines.append(f"classes  {self.num_classes}: {shown}{more}")
        lines += [f"note     {n}" for n in self.notes]
        for split in (self.train, self.val):
            if split is None:
                why = "no val/ folder" if self.layout.val_style is None else "see the note above"
                lines.append(f"val      none ({why})")
                continue
            m = split.manifest
            counts = m["counts"]
            lines.append(f"{m['split']:<8} {m['num_images']} images, {min(counts)}-{max(counts)} "
                         f"per class, {split.size}px, cache {display_path(split.folder)} "
                         f"({'reused' if split.reused else 'built'})")
            if m["skipped"]:
                what = ", ".join(f"{n} {r}" for r, n in m["skipped"].items())
                lines.append(f"         skipped {sum(m['skipped'].values())} files: {what}")
            if m["converted"]:
                what = ", ".join(f"{n} {r}" for r, n in m["converted"].items())
                lines.append(f"         converted {sum(m['converted'].values())}: {what}")
            empty = [w for w, c in zip(m["wnids"], counts) if c == 0]
            if empty:
                lines.append(f"         {len(empty)} classes with no usable images: "
                             f"{', '.join(empty[:5])}{' ...' if len(empty) > 5 else ''}")
        if self.mean is not None:
            rgb = " ".join(f"{v:.1f}" for v in self.train.manifest["mean_rgb"])
            ev = " ".join(f"{v:.1f}" for v in self.eigvals)
            lines.append(f"stats    mean RGB {rgb}; RGB covariance eigenvalues {ev} (0-255 scale)")
        return "\n".join(lines)


def open_imagenet(root=None, subset=None, classes_file=None, per_class=None, val_per_class=None,
                  size=256, cache_root=None, seed=0, workers=None, val_labels=None,
                  min_side=MIN_SIDE, progress=True):
    """Open (building the caches the first time) an ImageNet-style dataset -> ImageNetSubset.

    root           dataset folder (default $NUMPYNET_DATA, else data/imagenet); see layout.py
    subset         N classes, evenly spaced over the sorted wnids (subset.py); or
    classes_file   a file listing the wnids to use; neither: all classes with images
    per_class      cap on training images per class (seeded choice); val_per_class likewise
    size           cached image side (shorter side rescaled to it, centre crop), 256 in the paper
    cache_root     where caches live (default $NUMPYNET_CACHE, else data/cache; cache.py)
    seed           for the per-class caps (the loader has its own seed)
    workers        decoding processes (default: all CPUs)
    val_labels     label file for a flat val/ folder, if not found automatically
    min_side       images with a shorter side below this are skipped (counted)
    """
    layout = find_layout(root, val_labels)
    nonempty = [w for w in layout.wnids if has_images(layout.train_dir / w)]
    wnids, notes = choose_classes(layout.wnids, nonempty, subset, classes_file)
    if subset is not None:
        notes.append(f"subset={subset}: every class at (i * {len(nonempty)}) // {subset} of the "
                     f"{len(nonempty)} sorted classes with images")
    names = [layout.names[w] for w in wnids]
    label_of = {w: k for k, w in enumerate(wnids)}

    settings = dict(dataset=str(layout.root), size=size, min_side=min_side, per_class=per_class,
                    seed=seed)
    cache_root = default_cache_root() if cache_root is None else cache_root
    common = dict(cache_root=cache_root, wnids=wnids, names=names, base=layout.root,
                  workers=workers, progress=progress, layout=layout.describe())

    train_items = []
    for w in wnids:
        files = cap_files(list_images(layout.train_dir / w), per_class, seed, w)
        train_items += [(path, label_of[w]) for path in files]
    train = open_or_build(split="train", items=train_items, settings=settings, statistics=True,
                          **common)
    unusable = [w for w, c in zip(wnids, train.manifest["counts"]) if c == 0]
    if unusable and classes_file is not None:
        raise DatasetError(
            f"{display_path(classes_file)}: no usable training images for "
            f"{', '.join(unusable[:5])} (see the skipped files in "
            f"{display_path(train.folder)}/manifest.json)")

    val = None
    if layout.val_style is not None:
        listed, no_label = list_val(layout, wnids)
        by_class = {}
        for path, w in listed:
            by_class.setdefault(w, []).append(path)
        val_items = []
        for w in wnids:
            files = cap_files(by_class.get(w, []), val_per_class, seed, w, VAL_CAP_STREAM)
            val_items += [(path, label_of[w]) for path in files]
        if val_items:
            val = open_or_build(split="val", items=val_items, pre_skipped=no_label,
                                settings=dict(settings, per_class=val_per_class), **common)
        else:
            notes.append(f"no validation images of the chosen classes in "
                         f"{display_path(layout.val_dir)}")
    return ImageNetSubset(layout, train, val, wnids, names, notes)
