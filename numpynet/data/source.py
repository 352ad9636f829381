"""The dataset a run trains on: --data, else $NUMPYNET_DATA, else ImageNet at data/imagenet
in the checkout, else a generated demo set (data/demo/, said loudly at the start).

An installed numpynet (a wheel, not a checkout) looks for data/imagenet in the current folder
and keeps the demo set and the caches in the user cache folder (~/.cache/numpynet, or under
$XDG_CACHE_HOME). The first line a run prints says which folders it uses.

    data = open_data(train.parse_args(["--subset", "10"]))     # an ImageNetData (data/__init__.py)

`args` is the namespace of `python -m numpynet.train` (or the one a checkpoint saved: evaluate
reopens a run's validation set with it).
"""

import json

from .. import config
from . import open_imagenet
from .cache import default_cache_root
from .layout import (DATA_ENV, DEFAULT_DATA, display_path, in_checkout, project_path,
                     user_cache_dir)

DEMO_DATA = "data/demo"


def open_data(args):
    """The dataset at --data, or a generated demo set when the default location is empty."""
    root = data_root(args)
    print(describe_folders(root, args.cache), flush=True)
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


def describe_folders(root, cache):
    """One line said at the start: the data and cache folders, and where the defaults come from
    (the checkout, or for an installed numpynet the current folder and the user cache)."""
    data = display_path(root) if root else f"{display_path(project_path(DEFAULT_DATA))} (default)"
    cache = display_path(cache) if cache else f"{display_path(default_cache_root())} (default)"
    where = (f"defaults in the checkout {project_path()}" if in_checkout() else
             f"installed numpynet: defaults in the current folder and {user_cache_dir()}")
    return f"folders  data {data}, cache {cache}; {where}"


def demo_root():
    """Where the demo set is generated: data/demo in the checkout; an installed numpynet keeps
    it in the user cache folder (it is rebuilt on demand, like a cache)."""
    return project_path(DEMO_DATA) if in_checkout() else user_cache_dir() / "demo"


def make_demo(args):
    """Generate the demo set (or reuse one at least as large: --subset and --per-class cap it)."""
    from .demo import generate_demo_dataset
    root = demo_root()
    need = dict(num_classes=args.subset or 10, train_per_class=args.per_class or 100,
                val_per_class=args.val_per_class or 20)
    banner = "=" * 78
    print(f"{banner}\nNO IMAGENET FOUND at {display_path(project_path(DEFAULT_DATA))} (and "
          f"--data / $NUMPYNET_DATA unset).\nTraining on a GENERATED DEMO DATASET instead: "
          f"procedural shapes in the same on-disk\nlayout as ImageNet, at {display_path(root)}. "
          f"This is not ImageNet.\n"
          f"To train on ImageNet: --data /path/to/imagenet (with train/<wnid>/*.JPEG and val/),"
          f"\nor export NUMPYNET_DATA=/path/to/imagenet.\n{banner}", flush=True)
    try:
        have = json.loads((root / "demo.json").read_text())["params"]
        if all(have[k] >= n for k, n in need.items()):
            return root
    except (OSError, ValueError, KeyError):
        pass
    return generate_demo_dataset(root, **need, seed=0, progress=not args.no_progress)
