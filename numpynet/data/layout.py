"""Where the images are: find an ImageNet folder tree on disk and list its files.

The layouts people actually have (``root`` is the folder given as ``--data`` / ``NUMPYNET_DATA``):

    root/train/<wnid>/*.JPEG                 training images, one folder per class
    root/val/<wnid>/*.JPEG                   validation in class folders (Imagenette, Imagewoof,
                                             ImageNet after valprep.sh), or
    root/val/*.JPEG  + a label file          a flat validation folder (the Kaggle download),
                                             labelled by the first label file found (below)
    root/ILSVRC/Data/CLS-LOC/{train,val}     the Kaggle download as unpacked: found by itself

``<wnid>`` is the WordNet id of the class (``n01440764`` = tench). Any sub-folder of ``train/`` is a
class, so Imagenette-style trees work as they are.

Validation label file, the first that exists of (``--val-labels FILE`` overrides the search):

    LOC_val_solution.csv    Kaggle: ``ImageId,PredictionString``; the string starts with the wnid
                            ``ILSVRC2012_val_00008726,n02119789 255 142 454 329 ...``
    val_labels.txt          one ``<filename> <wnid>`` per line (extension optional)
    val.txt                 the same
    looked for in root/, root/val/ and, for the Kaggle tree, root/ILSVRC/Data/CLS-LOC/.

Class names, the first that exists of ``LOC_synset_mapping.txt`` (``n01440764 tench, Tinca
tinca``), ``synset_words.txt`` or ``words.txt`` (``n01440764<TAB>tench, Tinca tinca``) in root/;
otherwise ImageNet's own name for the wnid (``imagenet_classes.txt``, shipped with numpynet: the
1000 ILSVRC-2012 classes), and a wnid that is none of those is its own name.

Image files are recognised by name (case-insensitive .jpeg .jpg .png and the other extensions in
``IMAGE_EXTENSIONS``) and then decoded by content, so a PNG named ``.JPEG`` is fine. Other files
(label files, READMEs) and hidden files are left alone.
"""

import os
import re
from dataclasses import dataclass, field
from pathlib import Path

from .. import config

DATA_ENV = "NUMPYNET_DATA"
DEFAULT_DATA = config.default(DATA_ENV)      # "data/imagenet": in the checkout, else the cwd

IMAGE_EXTENSIONS = {".jpeg", ".jpg", ".jpe", ".jfif", ".png", ".bmp", ".gif", ".tif", ".tiff",
                    ".webp", ".ppm", ".pgm", ".pnm", ".pbm"}
VAL_LABEL_FILES = ("LOC_val_solution.csv", "val_labels.txt", "val.txt")
CLASS_NAME_FILES = ("LOC_synset_mapping.txt", "synset_words.txt", "words.txt")
KAGGLE_SUBDIR = Path("ILSVRC") / "Data" / "CLS-LOC"
IMAGENET_CLASSES = Path(__file__).with_name("imagenet_classes.txt")   # the fallback names

_PROJECT_ROOT = Path(__file__).resolve().parents[2]


class DatasetError(ValueError):
    """A dataset problem a person can fix: the message says what was expected and what to do."""


def in_checkout():
    """True when numpynet runs from a source checkout (``pip install -e .`` or PYTHONPATH),
    False when it is an installed package (a wheel in site-packages)."""
    return (_PROJECT_ROOT / "pyproject.toml").is_file()


def project_path(*relative):
    """A default path such as ``data/imagenet``, anchored at the checkout when we run from one
    (so notebooks in ``notebooks/`` find the same data), else at the current folder."""
    base = _PROJECT_ROOT if in_checkout() else Path.cwd()
    return base.joinpath(*relative)


def user_cache_dir():
    """Where an installed numpynet keeps what it can rebuild (decoded-image caches, the demo
    set): $XDG_CACHE_HOME/numpynet, else ~/.cache/numpynet (the XDG base-directory rule)."""
    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(base) / "numpynet"


def default_data_root():
    """$NUMPYNET_DATA, else data/imagenet in the checkout (installed: in the current folder)."""
    return Path(config.given(DATA_ENV) or project_path(DEFAULT_DATA))


def display_path(path):
    """``path`` relative to the current folder when it lies inside it (shorter messages)."""
    path = Path(path)
    try:
        return str(path.resolve().relative_to(Path.cwd().resolve()))
    except ValueError:
        return str(path)


def is_image_name(name):
    return os.path.splitext(name)[1].lower() in IMAGE_EXTENSIONS


def image_key(name):
    """The name a label file uses for an image: file name without an image extension
    (``ILSVRC2012_val_00000001.JPEG`` and ``ILSVRC2012_val_00000001`` are the same key)."""
    name = os.path.basename(name)
    stem, ext = os.path.splitext(name)
    return stem if ext.lower() in IMAGE_EXTENSIONS else name


@dataclass
class Layout:
    """What ``find_layout`` found. Paths are absolute; ``wnids`` are all class folders of train/."""
    root: Path                      # the folder that was given
    train_dir: Path                 # .../train
    val_dir: Path | None            # .../val, or None if there is none
    val_style: str | None           # "folders", "flat" or None
    val_labels: Path | None         # label file for a flat val/ folder
    names_file: Path | None         # LOC_synset_mapping.txt / words.txt, if any
    wnids: list = field(default_factory=list)   # sorted class folder names under train/
    names: dict = field(default_factory=dict)   # wnid -> human name (else ImageNet's, else wnid)

    def describe(self):
        """One line: which layout was detected (paths relative to ``root``)."""
        train = self._rel(self.train_dir) + "/<wnid>/"
        if self.val_style == "folders":
            val = self._rel(self.val_dir) + "/<wnid>/"
        elif self.val_style == "flat":
            val = f"flat {self._rel(self.val_dir)}/ labelled by {self._rel(self.val_labels)}"
        else:
            val = "no validation folder"
        names = (f"names from {self._rel(self.names_file)}" if self.names_file
                 else "no class-name file (ImageNet's names for its wnids)")
        return f"{train}, {val}, {names}"

    def _rel(self, path):
        try:
            return str(Path(path).relative_to(self.root))
        except ValueError:
            return display_path(path)


def _missing_train_error(root, hint=""):
    shown = display_path(root)
    return DatasetError(
        f"no ImageNet training folder at {shown}/train\n"
        f"expected {shown}/train/<wnid>/*.JPEG (e.g. train/n01440764/n01440764_10026.JPEG)\n"
        + (hint + "\n" if hint else "")
        + f"pass --data PATH, or set {DATA_ENV}")


def _subfolders(folder):
    with os.scandir(folder) as entries:
        return sorted(e.name for e in entries if e.is_dir() and not e.name.startswith("."))


def find_layout(root=None, val_labels=None):
    """Detect the layout under ``root`` (default: ``$NUMPYNET_DATA``, else ``data/imagenet``).

    ``val_labels``: an explicit label file for a flat ``val/`` folder (``--val-labels FILE``).
    Raises ``DatasetError`` naming the expected layout when nothing usable is there.
    """
    if root is None:
        root = default_data_root()
    root = Path(root).expanduser().resolve()
    if not root.is_dir():
        raise _missing_train_error(root, f"({display_path(root)} is not a folder)")

    image_root = next((r for r in (root, root / KAGGLE_SUBDIR) if (r / "train").is_dir()), None)
    if image_root is None:
        hint = ""
        if root.name in ("train", "val") and (root.parent / "train").is_dir():
            hint = f"(did you mean {display_path(root.parent)}, the folder that holds train/?)"
        elif any(re.fullmatch(r"n\d{8}", d) for d in _subfolders(root)):
            hint = f"(found class folders directly in {display_path(root)}: move them into train/)"
        raise _missing_train_error(root, hint)

    train_dir = image_root / "train"
    wnids = _subfolders(train_dir)
    if not wnids:
        raise DatasetError(
            f"no class folders in {display_path(train_dir)}\n"
            f"expected {display_path(train_dir)}/<wnid>/*.JPEG "
            f"(e.g. train/n01440764/n01440764_10026.JPEG)")

    val_dir = image_root / "val"
    val_style, label_file = None, None
    if val_dir.is_dir():
        if _subfolders(val_dir):
            val_style = "folders"
        elif has_images(val_dir):
            val_style = "flat"
            label_file = _find_val_labels(root, image_root, val_dir, val_labels)
    else:
        val_dir = None

    names_file = next((d / n for n in CLASS_NAME_FILES for d in (root, image_root)
                       if (d / n).is_file()), None)
    names = read_class_names(names_file) if names_file else {}
    fallback = imagenet_class_names()
    names = {w: names.get(w) or fallback.get(w, w) for w in wnids}
    return Layout(root, train_dir, val_dir, val_style, label_file, names_file, wnids, names)


def _find_val_labels(root, image_root, val_dir, explicit):
    if explicit is not None:
        explicit = Path(explicit).expanduser()
        if not explicit.is_file():
            raise DatasetError(f"--val-labels: no file at {display_path(explicit)}")
        return explicit.resolve()
    folders = [root, val_dir] + ([image_root] if image_root != root else [])
    candidates = [d / n for n in VAL_LABEL_FILES for d in folders]
    for c in candidates:
        if c.is_file():
            return c
    looked = "\n  ".join(display_path(c) for c in candidates)
    raise DatasetError(
        f"the validation images in {display_path(val_dir)}/ are not in <wnid>/ class folders "
        f"and no label file was found; looked for:\n  {looked}\n"
        f"pass --val-labels FILE (lines '<filename> <wnid>', or Kaggle's LOC_val_solution.csv)")


def imagenet_class_names():
    """wnid -> name of the 1000 ILSVRC-2012 classes (numpynet/data/imagenet_classes.txt)."""
    return read_class_names(IMAGENET_CLASSES)


def read_class_names(path):
    """wnid -> name from ``LOC_synset_mapping.txt`` or ``words.txt``-style lines, any of
    ``n01440764 tench, Tinca tinca``, ``n01440764<TAB>tench, Tinca tinca``, ``n01440764 : tench``.
    """
    names = {}
    with open(path, encoding="utf-8", errors="replace") as f:
        for line in f:
            parts = line.strip().split(None, 1)
            if parts and not parts[0].startswith("#"):
                names[parts[0]] = parts[1].lstrip(":").strip() if len(parts) > 1 else parts[0]
    return names


def read_val_labels(path):
    """image key (file name without extension) -> wnid, from a validation label file.

    Accepts Kaggle's ``LOC_val_solution.csv`` (``ImageId,PredictionString``, the wnid is the
    first word of the string) and plain ``<filename> <wnid>`` lines (space, tab or comma).
    """
    path = Path(path)
    labels = {}
    with open(path, encoding="utf-8", errors="replace") as f:
        for lineno, line in enumerate(f, 1):
            line = line.strip()
            if not line or line.startswith("#") or line.lower().startswith("imageid,"):
                continue
            parts = re.split(r"[,\s]+", line)
            if len(parts) < 2:
                raise DatasetError(f"{display_path(path)}:{lineno}: expected '<filename> <wnid>', "
                                   f"got {line[:60]!r}")
            name, wnid = parts[0], parts[1]
            if wnid.isdigit():
                raise DatasetError(
                    f"{display_path(path)}:{lineno}: the label {wnid!r} is a class number; "
                    f"numpynet needs the wnid (e.g. '{name} n01440764'). Caffe-style numbered "
                    f"labels depend on a class order we cannot check: convert them, or move the "
                    f"validation images into val/<wnid>/ folders")
            labels[image_key(name)] = wnid
    return labels


def list_images(folder):
    """Sorted paths of the image files directly in ``folder`` (by name; hidden files left out)."""
    with os.scandir(folder) as entries:
        return sorted(Path(e.path) for e in entries
                      if is_image_name(e.name) and not e.name.startswith(".") and e.is_file())


def has_images(folder):
    """True if ``folder`` holds at least one image file (stops at the first one)."""
    with os.scandir(folder) as entries:
        return any(e.is_file() and is_image_name(e.name) and not e.name.startswith(".")
                   for e in entries)


def list_val(layout, wnids):
    """Validation images of the classes ``wnids`` -> (items, skipped).

    items: sorted ``(path, wnid)``; skipped: ``(path, reason)`` for images with no label
    (flat layout only). Images labelled with a class outside ``wnids`` are simply not listed.
    """
    if layout.val_style is None:
        return [], []
    wanted = set(wnids)
    items, skipped = [], []
    if layout.val_style == "folders":
        for wnid in sorted(wanted):
            folder = layout.val_dir / wnid
            if folder.is_dir():
                items += [(p, wnid) for p in list_images(folder)]
        return items, skipped
    labels = read_val_labels(layout.val_labels)
    reason = f"no label in {layout.val_labels.name}"
    for path in list_images(layout.val_dir):
        wnid = labels.get(image_key(path.name))
        if wnid is None:
            skipped.append((path, reason))
        elif wnid in wanted:
            items.append((path, wnid))
    return items, skipped
