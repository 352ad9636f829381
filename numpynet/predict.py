"""The five most probable classes for each image (the paper's figure 4, left):

    python -m numpynet.predict photo.jpg other.png --weights runs/<name>/best.npz
    python -m numpynet.predict photo.jpg --weights caffe:bvlc_alexnet.caffemodel
    python -m numpynet.predict photo.jpg --weights torchvision:alexnet-owt-7be5be79.pth

Each image is turned upright (its EXIF orientation: phone photos), then prepared as in
training: shorter side to 256, centre 256x256, minus the mean image (a checkpoint's training
mean; Caffe's or torchvision's mean pixel for their weights), centre crop (227; 224 for
torchvision), or --ten-crop. torchvision's weights get torchvision's own centre crop (its
Resize(256) and CenterCrop(224) round differently: weights/torchvision.py). Imported weights
name ImageNet's 1000 classes (numpynet/weights/pretrained.py).
"""

import argparse
import sys
import warnings

import numpy as np
from PIL import Image, ImageOps

from . import __version__, backend
from .data import BadImage, centre_batch, ten_crop_batch
from .data.decode import centre_crop, resize_shorter_side, to_rgb
from .metrics import softmax, top5_table
from .settings import COUNT
from .weights import pretrained

WEIGHTS_HELP = ("caffe:PATH (a .caffemodel), torchvision:PATH (a torchvision AlexNet "
                "state_dict: .pth, .npz, .safetensors), or a numpynet checkpoint (.npz or run "
                "folder)")


def load_photo(path, size=pretrained.IMAGE_SIZE, view=None):
    """A photo -> (size, size, 3) uint8 RGB, upright (EXIF orientation applied), shorter side
    scaled to size and the centre kept (data/decode.py's steps); or `view(image)`."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            with Image.open(path) as img:
                img = ImageOps.exif_transpose(img)
                img.load()
                rgb, _ = to_rgb(img)
    except OSError as e:
        raise BadImage("not an image PIL can read", str(e)) from None
    if view is not None:
        return view(rgb)
    return np.asarray(centre_crop(resize_shorter_side(rgb, size), size), dtype=np.uint8)


def predict(net, images, mean, crop=227, ten_crop=False):
    """(B, S, S, 3) uint8 images -> (B, classes) softmax probabilities."""
    if ten_crop:
        views = ten_crop_batch(images, mean, crop)
    else:
        views = centre_batch(images, mean, crop)[None]
    probs = sum(softmax(net.forward(backend.to_device(v), train=False)) for v in views)
    return backend.to_numpy(probs) / len(views)


def parse_args(argv=None):
    p = argparse.ArgumentParser(prog="python -m numpynet.predict",
                                description=__doc__.split("\n")[0])
    p.add_argument("images", nargs="+", help="image files (JPEG, PNG, ...)")
    p.add_argument("--weights", "--checkpoint", dest="weights", required=True,
                   help=WEIGHTS_HELP)
    p.add_argument("--caffe-mean", metavar="FILE", default=None,
                   help="with caffe: weights, Caffe's mean image (ilsvrc_2012_mean.binaryproto) "
                        "instead of its mean pixel (default: the mean pixel 104, 117, 123 BGR)")
    p.add_argument("--ten-crop", action="store_true",
                   help="average the softmax over 10 crops per image (default: the centre "
                        "crop only)")
    p.add_argument("--top", type=COUNT, default=5,
                   help="how many classes to show (default: 5)")
    p.add_argument("--version", action="version", version=f"numpynet {__version__}")
    return p.parse_args(argv)


def main(argv=None):
    args = parse_args(argv)
    try:
        model = pretrained.load(args.weights, caffe_mean=args.caffe_mean)
    except (FileNotFoundError, ValueError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    names = [f"{n} ({w})" if n != w else w for w, n in zip(model.wnids, model.names)]
    size = model.mean.shape[0]
    failed = 0
    for path in args.images:
        view = None if args.ten_crop else model.view      # the framework's own centre crop
        try:
            image = load_photo(path, size, view)
        except (BadImage, OSError) as e:
            print(f"{path}: cannot read this image ({e})", file=sys.stderr)
            failed += 1
            continue
        mean = model.mean[:image.shape[0], :image.shape[1]]   # a mean pixel: any crop of it
        probs = predict(model.net, image[None], mean, model.crop, args.ten_crop)[0]
        print(path)
        for name, prob in top5_table(probs, names, args.top):
            print(f"  {100 * prob:6.2f}%  {'#' * int(round(20 * prob)):<20}  {name}")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
