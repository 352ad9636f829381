"""Top-1 / top-5 error of a checkpoint or of imported weights on a validation set:

    python -m numpynet.evaluate --weights runs/<name>/best.npz [--ten-crop]
    python -m numpynet.evaluate --weights caffe:bvlc_alexnet.caffemodel --data /path/to/imagenet

For a checkpoint the validation images are those of the run that wrote it (its --data,
--subset, --classes settings; --data overrides the folder). Imported weights (caffe:PATH,
torchvision:PATH) need --data: its classes must be ImageNet wnids, and the errors count over all
1000 of the network's classes. --ten-crop averages the softmax over the four corner and the
centre crops and their mirror images, as the paper does at test time (section 4.1).

`evaluate(net, loader)` is the loop itself (also run by numpynet.train after every epoch).
"""

import argparse
import sys

import numpy as np

from . import __version__, backend
from .data import BatchLoader, DatasetError
from .data.source import open_data
from .layers import SoftmaxCrossEntropy
from .metrics import ErrorMeter, softmax
from .settings import COUNT
from .weights import pretrained


def parse_args(argv=None):
    p = argparse.ArgumentParser(prog="python -m numpynet.evaluate",
                                description=__doc__.split("\n")[0])
    p.add_argument("--weights", "--checkpoint", dest="weights", required=True,
                   help="caffe:PATH (a .caffemodel), torchvision:PATH (a torchvision AlexNet "
                        "state_dict: .pth, .npz, .safetensors), or a numpynet checkpoint (.npz "
                        "from numpynet.train, or a run folder)")
    p.add_argument("--data", help="dataset folder (default: for a checkpoint, the one its run "
                                  "trained on; required for caffe: and torchvision: weights)")
    p.add_argument("--val-labels", help="label file for a flat val/ folder, <file> <wnid> "
                                        "lines (default: found beside the images)")
    p.add_argument("--cache", help="cache folder (default: a checkpoint's run's, else "
                                   "$NUMPYNET_CACHE, else data/cache)")
    p.add_argument("--caffe-mean", metavar="FILE", help="with caffe: weights, Caffe's mean "
                   "image instead of its mean pixel (default: the mean pixel 104, 117, 123 BGR)")
    p.add_argument("--ten-crop", action="store_true",
                   help="average 10 crops per image (default: the centre crop only)")
    p.add_argument("--batch-size", type=COUNT, default=64,
                   help="images per forward pass (default: 64)")
    p.add_argument("--device", choices=("cpu", "gpu"), default="cpu",
                   help="where the network runs (default: cpu)")
    p.add_argument("--no-progress", action="store_true",
                   help="no progress bar (default: shown)")
    p.add_argument("--version", action="version", version=f"numpynet {__version__}")
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
    model = pretrained.load(args.weights, caffe_mean=args.caffe_mean)
    model.net.to(args.device)
    data = open_data(data_settings(args, model.meta))
    if data.val is None:
        raise DatasetError(f"{data.layout.root} has no validation images to evaluate on")
    labels = class_index(data.wnids, model.wnids, imported=model.meta is None)
    loader = BatchLoader(data.val, args.batch_size, train=False, mean=model.mean,
                         crop=model.crop, ten_crop=args.ten_crop)
    meter = evaluate(model.net, ((x, labels[y]) for x, y in loader),
                     progress=not args.no_progress,
                     desc="10-crop" if args.ten_crop else "centre crop")
    return meter, len(data.val.labels)


def data_settings(args, meta):
    """The namespace open_data reads: a checkpoint's run settings (`meta`; --data etc.
    override), or for imported weights (meta None) the --data folder's classes, cached at 256
    (one training image per class: evaluation needs none, the dataset opens with some)."""
    if meta is not None:
        saved = argparse.Namespace(**meta["args"])
        saved.data = args.data or saved.data
    elif args.data is None:
        raise DatasetError(f"--weights {args.weights}: pass --data, an ImageNet-layout folder "
                           f"(train/<wnid>/, val/) whose validation images to classify")
    else:
        saved = argparse.Namespace(data=args.data, subset=None, classes=None, per_class=1,
                                   val_per_class=None, image_size=pretrained.IMAGE_SIZE,
                                   cache=None, seed=0, workers=None, val_labels=None)
    saved.val_labels = args.val_labels or saved.val_labels
    saved.cache = args.cache or saved.cache
    saved.no_progress = args.no_progress
    return saved


def class_index(data_wnids, net_wnids, imported):
    """labels[y]: the network's output index of the dataset's class y."""
    if not imported and data_wnids != net_wnids:
        raise DatasetError(f"the dataset's classes ({len(data_wnids)}: {data_wnids[:3]}...) are "
                           f"not the {len(net_wnids)} the checkpoint was trained on "
                           f"({net_wnids[:3]}...); pass the right --data")
    where = {w: i for i, w in enumerate(net_wnids)}
    unknown = [w for w in data_wnids if w not in where]
    if unknown:
        raise DatasetError(f"the dataset has classes the network does not know: {unknown[:3]} "
                           f"(imported weights know ImageNet's 1000 wnids)")
    return np.array([where[w] for w in data_wnids])


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
