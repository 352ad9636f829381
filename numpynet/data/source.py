"""The dataset a run trains on: --data, else $NUMPYNET_DATA, else ImageNet at data/imagenet
in the checkout, else a generated demo set (data/demo/, said loudly at the start).

    data = open_data(train.parse_args(["--subset", "10"]))     # an ImageNetData (data/__init__.py)

`args` is the namespace of `python -m numpynet.train` (or the one a checkpoint saved: evaluate
reopens a run's validation set with it).
"""

import json

from .. import config
from . import open_imagenet
from .layout import DATA_ENV, DEFAULT_DATA, project_path

DEMO_DATA = "data/demo"


def open_data(args):
    """The dataset at --data, or a generated demo set when the default location is empty."""
    root = data_root(args)
    if root is None and not project_path(DEFAULT_DATA, "train").is_dir():
        root = make_demo(args)
    return open_imagenet(root, subset=args.subset, classes_file=args.classes,
                         per_class=args.per_class, val_per_class=args.val_per_class,
                         size=args.image_size, cache_root=args.cache, seed=args.seed,
                         workers=args.workers, val_labels=args.val_labels,
                         progress=not args.no_progress)


def data_root(args):
    """--data, else $NUMPYNET_DATA, else None: neither was given."""
    return args.data or config.given(DATA_ENV)


def make_demo(args):
    """Generate the demo set (or reuse one at least as large: --subset and --per-class cap it)."""
    from .demo import generate_demo_dataset
    root = project_path(DEMO_DATA)
    need = dict(num_classes=args.subset or 10, train_per_class=args.per_class or 100,
                val_per_class=args.val_per_class or 20)
    banner = "=" * 78
    print(f"{banner}\nNO IMAGENET FOUND at {DEFAULT_DATA} (and --data / $NUMPYNET_DATA unset).\n"
          f"Training on a GENERATED DEMO DATASET instead: procedural shapes in {DEMO_DATA}, in "
          f"the same\non-disk layout as ImageNet. This is not ImageNet.\n"
          f"To train on ImageNet: --data /path/to/imagenet (with train/<wnid>/*.JPEG and val/),"
          f"\nor export NUMPYNET_DATA=/path/to/imagenet.\n{banner}", flush=True)
    try:
        have = json.loads((root / "demo.json").read_text())["params"]
        if all(have[k] >= n for k, n in need.items()):
            return root
    except (OSError, ValueError, KeyError):
        pass
    return generate_demo_dataset(root, **need, seed=0, progress=not args.no_progress)
