"""Top-1 / top-5 error of a checkpoint on the validation set:

    python -m numpynet.evaluate --checkpoint runs/<name>/best.npz [--ten-crop]

The validation images are those of the run that wrote the checkpoint (its --data, --subset,
--classes settings; --data overrides the folder). --ten-crop averages the softmax over the four
corner and the centre 227x227 crops and their mirror images, as the paper does at test time
(section 4.1).

`evaluate(net, loader)` is the loop itself (also run by numpynet.train after every epoch).
"""

import argparse
import sys

import numpy as np

from . import backend, checkpoint
from .data import BatchLoader, DatasetError
from .data.source import open_data
from .layers import SoftmaxCrossEntropy
from .metrics import ErrorMeter, softmax


def parse_args(argv=None):
    p = argparse.ArgumentParser(prog="python -m numpynet.evaluate",
                                description=__doc__.split("\n")[0])
    p.add_argument("--checkpoint", required=True,
                   help="a .npz from numpynet.train, or a run folder")
    p.add_argument("--data", help="dataset folder (default: the one the run trained on)")
    p.add_argument("--ten-crop", action="store_true", help="average 10 crops per image")
    p.add_argument("--batch-size", type=int, default=64)
    p.add_argument("--device", choices=("cpu", "gpu"), default="cpu")
    p.add_argument("--no-progress", action="store_true")
    return p.parse_args(argv)


def evaluate(net, loader, loss_fn=None, progress=False, desc="val"):
    """Mean loss and top-1 / top-5 error of `net` over a loader (ten-crop batches averaged)."""
    from tqdm import tqdm
    meter = ErrorMeter()
    loss_fn = loss_fn or SoftmaxCrossEntropy()
    for x, y in tqdm(loader, desc=desc, leave=False, disable=not progress):
        if x.ndim == 5:                                  # (10, B, 3, H, W): average the softmax
            probs = sum(softmax(net.forward(backend.to_device(crop), train=False))
                        for crop in x) / len(x)
            loss = float(-np.log(np.maximum(backend.to_numpy(probs)[np.arange(len(y)), y],
                                            1e-12)).mean())
        else:
            logits = net.forward(backend.to_device(x), train=False)
            loss = loss_fn.forward(logits, backend.to_device(y))
            probs = loss_fn.probs
        meter.update(backend.to_numpy(probs), y, loss)
    return meter


def run(args):
    if args.device == "gpu":
        backend.use("gpu")
    net, meta, mean = checkpoint.model_from_checkpoint(args.checkpoint)
    net.to(args.device)
    saved = argparse.Namespace(**meta["args"])
    saved.data = args.data or saved.data
    saved.no_progress = args.no_progress
    data = open_data(saved)
    if data.wnids != meta["wnids"]:
        raise DatasetError(f"the dataset's classes ({len(data.wnids)}: {data.wnids[:3]}...) are "
                           f"not the {len(meta['wnids'])} the checkpoint was trained on "
                           f"({meta['wnids'][:3]}...); pass the right --data")
    if data.val is None:
        raise DatasetError(f"{data.layout.root} has no validation images to evaluate on")
    loader = BatchLoader(data.val, args.batch_size, train=False, mean=mean, crop=meta["crop"],
                         ten_crop=args.ten_crop)
    meter = evaluate(net, loader, progress=not args.no_progress,
                     desc="10-crop" if args.ten_crop else "centre crop")
    return meter, len(data.val.labels)


def main(argv=None):
    args = parse_args(argv)
    try:
        meter, n = run(args)
    except (DatasetError, FileNotFoundError, ValueError, RuntimeError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    view = "10-crop" if args.ten_crop else "centre crop"
    print(f"{n} validation images, {view}: top-1 error {100 * meter.error(1):.2f}%, "
          f"top-5 error {100 * meter.error(5):.2f}%, loss {meter.loss():.4f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
