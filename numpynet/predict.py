"""The five most probable classes for each image (the paper's figure 4, left):

    python -m numpynet.predict photo.jpg other.png --checkpoint runs/<name>/best.npz

Each image is prepared as in training: shorter side to 256, centre 256x256, minus the training
mean image (stored in the checkpoint), centre 227x227 crop (or --ten-crop).
"""

import argparse
import sys

from . import backend, checkpoint
from .data import BadImage, centre_batch, load_rgb, ten_crop_batch
from .metrics import softmax, top5_table


def predict(net, images, mean, crop=227, ten_crop=False):
    """(B, S, S, 3) uint8 images -> (B, classes) softmax probabilities."""
    if ten_crop:
        views = ten_crop_batch(images, mean, crop)
    else:
        views = centre_batch(images, mean, crop)[None]
    probs = sum(softmax(net.forward(backend.to_device(v), train=False)) for v in views)
    return backend.to_numpy(probs) / len(views)


def main(argv=None):
    p = argparse.ArgumentParser(prog="python -m numpynet.predict",
                                description=__doc__.split("\n")[0])
    p.add_argument("images", nargs="+", help="image files (JPEG, PNG, ...)")
    p.add_argument("--checkpoint", required=True,
                   help="a .npz from numpynet.train, or a run folder")
    p.add_argument("--ten-crop", action="store_true", help="average 10 crops per image")
    p.add_argument("--top", type=int, default=5, help="how many classes to show")
    args = p.parse_args(argv)
    try:
        net, meta, mean = checkpoint.model_from_checkpoint(args.checkpoint)
    except (FileNotFoundError, ValueError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    if mean is None:
        print(f"error: {args.checkpoint} holds no mean image", file=sys.stderr)
        return 2
    size = mean.shape[0]
    names = [f"{n} ({w})" if n != w else w for w, n in zip(meta["wnids"], meta["names"])]
    failed = 0
    for path in args.images:
        try:
            image, _ = load_rgb(path, size)
        except (BadImage, OSError) as e:
            print(f"{path}: cannot read this image ({e})", file=sys.stderr)
            failed += 1
            continue
        probs = predict(net, image[None], mean, meta["crop"], args.ten_crop)[0]
        print(path)
        for name, prob in top5_table(probs, names, args.top):
            print(f"  {100 * prob:6.2f}%  {'#' * int(round(20 * prob)):<20}  {name}")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
