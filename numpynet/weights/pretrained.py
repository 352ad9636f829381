"""`--weights`: a network with its classes and its input's mean, from any of three sources.

    caffe:PATH          a .caffemodel (bvlc_alexnet.caffemodel): presets paper / caffe, 227
    torchvision:PATH    a torchvision AlexNet state_dict (.pth, .npz, .safetensors): 224
    PATH                a numpynet checkpoint (.npz from numpynet.train, or a run folder)

Every one comes out eating numpynet's input: RGB 0-255 pixels of the image cached at 256
(shorter side 256, centre square: data/decode.py), minus `mean`, centre-cropped to `crop`.
The imported ones predict ImageNet's 1000 classes in sorted-wnid order, numpynet's class list.
"""

import hashlib
import re
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from .. import checkpoint
from ..data.layout import IMAGENET_CLASSES, read_class_names
from . import caffe, torchvision

IMAGE_SIZE = 256
KINDS = ("caffe", "torchvision")
# Published digests of the trained files (Caffe's models/bvlc_alexnet/readme.md). torchvision
# names its files <name>-<first 8+ hex digits of the SHA-256>.pth and checks them the same way.
KNOWN_DIGESTS = {"bvlc_alexnet.caffemodel": ("sha1", "9116a64c0fbe4459d18f4bb6b56d647b63920377")}
HASH_IN_NAME = re.compile(r"-([0-9a-f]{8,64})\.pth$")


@dataclass
class Pretrained:
    net: object
    wnids: list
    names: list          # the class names, in the network's output order
    mean: np.ndarray     # (S, S, 3) float32, subtracted from the cached image before cropping
    crop: int
    source: str          # one line: what was loaded
    meta: dict = None    # a checkpoint's JSON header (None for imported weights)
    view: object = None  # PIL image -> (crop, crop, 3) uint8, the framework's own centre crop


def imagenet_classes():
    """(wnids, names) of the 1000 ILSVRC-2012 classes, in sorted-wnid order."""
    names = read_class_names(IMAGENET_CLASSES)
    wnids = sorted(names)
    return wnids, [names[w] for w in wnids]


def mean_image(pixel, size=IMAGE_SIZE):
    """A mean pixel (3,) RGB -> the (size, size, 3) mean image numpynet's pipeline subtracts."""
    return np.broadcast_to(np.asarray(pixel, np.float32), (size, size, 3)).copy()


def load(spec, caffe_mean=None):
    """`spec` as above -> Pretrained. `caffe_mean`: a Caffe mean file (.binaryproto) to use
    instead of Caffe's mean pixel (104, 117, 123) BGR."""
    kind, _, path = spec.partition(":")
    if kind not in KINDS or not path:
        kind, path = None, spec
    if kind is None:
        net, meta, mean = checkpoint.model_from_checkpoint(path)
        if mean is None:
            raise ValueError(f"{path} holds no mean image")
        return Pretrained(net, meta["wnids"], meta["names"], mean.astype(np.float32),
                          meta["crop"], f"numpynet checkpoint {path}", meta)
    check_digest(path)
    wnids, names = imagenet_classes()
    if kind == "caffe":
        model = caffe.read_caffemodel(path)
        net, crop = caffe.to_numpynet(model), caffe.input_size(model)
        mean = mean_image(caffe.MEAN_PIXEL_RGB)
        if caffe_mean is not None:
            mean = _fit(caffe.read_mean(caffe_mean), IMAGE_SIZE)
    else:
        net = torchvision.to_numpynet(torchvision.read_state_dict(path))
        mean, crop = mean_image(torchvision.MEAN_PIXEL_RGB), 224
    classes = net["fc8"].out_features
    if classes != len(wnids):
        wnids = [f"class {i}" for i in range(classes)]
        names = list(wnids)
    view = torchvision.centre_view if kind == "torchvision" else None
    return Pretrained(net, wnids, names, mean, crop, f"{kind} weights {path}", view=view)


def check_digest(path):
    """A file of a known name must have its published digest: a truncated or corrupted download
    fails here with a clear message, not deep inside the reader. Other names pass unchecked."""
    path = Path(path)
    if path.name in KNOWN_DIGESTS:
        algorithm, expected = KNOWN_DIGESTS[path.name]
    elif match := HASH_IN_NAME.search(path.name):
        algorithm, expected = "sha256", match.group(1)
    else:
        return
    if not path.is_file():
        return                                   # the reader says it is missing
    digest = hashlib.new(algorithm)
    with open(path, "rb") as f:
        while chunk := f.read(2**24):
            digest.update(chunk)
    if not digest.hexdigest().startswith(expected):
        raise ValueError(f"{path}: its {algorithm} is {digest.hexdigest()[:len(expected)]}, not "
                         f"the published {expected}: an incomplete download or another file; "
                         f"download it again (or rename it to skip this check)")


def _fit(mean, size):
    """Caffe's mean image (256 x 256 for ImageNet) centre-cropped to size x size."""
    h, w = mean.shape[:2]
    if h < size or w < size:
        raise ValueError(f"the mean image is {h}x{w}, smaller than the {size}x{size} images")
    top, left = (h - size) // 2, (w - size) // 2
    return np.ascontiguousarray(mean[top:top + size, left:left + size])
