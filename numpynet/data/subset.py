"""Which classes and which images: the reproducible rules for training on part of ImageNet.

Classes
    ``subset=N``          N classes evenly spaced over the sorted wnids that have images:
                          ``wnids[(i * C) // N] for i in range(N)`` (C = number of such classes),
                          so ``subset=10`` of ImageNet's 1000 takes every 100th class, starting at
                          the first. Empty class folders are left out of the choice (and reported).
    ``classes_file=FILE`` exactly the classes listed: one wnid per line, ``#`` starts a comment,
                          anything after the wnid on a line is ignored (so a
                          ``LOC_synset_mapping.txt`` works as a list of all classes).
    neither               every class folder that has images.

Labels are ``0 .. N-1`` in sorted-wnid order of the chosen classes.

Images
    ``per_class=M``       at most M training images per class: the class's files sorted by name,
                          then M of them chosen without replacement by
                          ``np.random.default_rng([seed, stream, crc32(wnid)])`` and kept in name
                          order. The draw depends only on (seed, wnid, file list), so a class keeps
                          the same images whichever other classes are chosen.
"""

import zlib

import numpy as np

from .layout import DatasetError, display_path

# Separate random streams for separate purposes (see loader.py for the others).
TRAIN_CAP_STREAM = 2
VAL_CAP_STREAM = 3


def evenly_spaced(wnids, n):
    """n of the sorted ``wnids``, evenly spaced starting at the first: ``wnids[(i*C)//n]``."""
    wnids = sorted(wnids)
    if not 1 <= n <= len(wnids):
        raise DatasetError(f"subset={n}: choose between 1 and {len(wnids)} classes "
                           f"(that is how many class folders with images there are)")
    return [wnids[(i * len(wnids)) // n] for i in range(n)]


def read_classes_file(path):
    """The wnids listed in ``path`` (one per line, ``#`` comments), in file order, no repeats."""
    try:
        with open(path, encoding="utf-8") as f:
            lines = f.read().splitlines()
    except OSError as e:
        raise DatasetError(f"cannot read the classes file {display_path(path)}: "
                           f"{e.strerror}") from None
    wnids = []
    for line in lines:
        words = line.split("#", 1)[0].split()
        if words and words[0] not in wnids:
            wnids.append(words[0])
    if not wnids:
        raise DatasetError(f"the classes file {display_path(path)} lists no wnids "
                           f"(expected one per line, e.g. n01440764)")
    return wnids


def choose_classes(wnids, nonempty, subset=None, classes_file=None):
    """Pick the classes to train on -> (sorted chosen wnids, list of notes for the summary).

    wnids:     all class folders under train/, sorted
    nonempty:  the subset of ``wnids`` whose folder holds at least one image
    """
    if subset is not None and classes_file is not None:
        raise DatasetError("pass either subset=N or classes_file=FILE, not both")
    nonempty = sorted(nonempty)
    empty = [w for w in wnids if w not in set(nonempty)]
    notes = []

    if classes_file is not None:
        listed = read_classes_file(classes_file)
        known = set(wnids)
        unknown = [w for w in listed if w not in known]
        if unknown:
            raise DatasetError(
                f"{display_path(classes_file)}: {len(unknown)} wnid(s) with no folder in train/: "
                f"{', '.join(unknown[:5])}{' ...' if len(unknown) > 5 else ''}\n"
                f"known classes include {', '.join(wnids[:5])}{' ...' if len(wnids) > 5 else ''}"
                f" ({len(wnids)} in all)")
        bare = [w for w in listed if w in set(empty)]
        if bare:
            raise DatasetError(
                f"{display_path(classes_file)}: class folder(s) with no images in train/: "
                f"{', '.join(bare[:5])}; remove them from the list or add their images")
        return sorted(listed), notes

    if empty:
        notes.append(f"{len(empty)} empty class folder(s) left out: {', '.join(empty[:5])}"
                     + (" ..." if len(empty) > 5 else ""))
    if subset is None:
        return nonempty, notes
    return evenly_spaced(nonempty, int(subset)), notes


def cap_files(files, cap, seed, wnid, stream=TRAIN_CAP_STREAM):
    """At most ``cap`` of ``files`` (sorted first), chosen reproducibly by (seed, stream, wnid)."""
    if cap is not None and cap < 1:
        raise DatasetError(f"per_class={cap}: must be at least 1")
    files = sorted(files)
    if cap is None or len(files) <= cap:
        return files
    rng = np.random.default_rng([seed, stream, zlib.crc32(wnid.encode())])
    keep = np.sort(rng.choice(len(files), size=cap, replace=False))
    return [files[i] for i in keep]
