"""Caffe's .caffemodel files (e.g. BVLC's bvlc_alexnet.caffemodel) in and out, without Caffe.

A .caffemodel is one protobuf message, NetParameter (src/caffe/proto/caffe.proto), read here
with the hand-written wire format of weights/protobuf.py. The fields numpynet uses:

    NetParameter        name 1, input_dim 4 (repeated: 1, 3, S, S),
                        layer 100 (LayerParameter, current), layers 2 (V1LayerParameter, old)
    LayerParameter      name 1, type 2 (a string: "Convolution", "InnerProduct", "LRN", ...),
                        blobs 7, lrn_param 118
    V1LayerParameter    name 4, type 5 (an enum: CONVOLUTION 4, INNER_PRODUCT 14, LRN 15, ...),
                        blobs 6, lrn_param 18
    BlobProto           shape 7 (BlobShape: dim 1, packed int64), data 5 (packed float),
                        double_data 8, and the old 4-d shape num 1, channels 2, height 3, width 4
    LRNParameter        local_size 1 (default 5), alpha 2 (1), beta 3 (0.75), k 5 (1)

bvlc_alexnet.caffemodel (BVLC's replication of the paper, trained in Caffe) differs from
numpynet's own conventions in four ways, all handled by `to_numpynet`:

    channel order   Caffe reads images with OpenCV: conv1 expects BGR. The importer reverses
                    conv1's input channels, so the network eats RGB like every numpynet one.
    pixel scale     0-255, as numpynet (no /255).
    mean            Caffe subtracts a mean image (ilsvrc_2012_mean.binaryproto, a BlobProto
                    (1, 3, 256, 256) in BGR: `read_mean`) or the mean pixel, BGR
                    (104, 117, 123): RGB (123, 117, 104), MEAN_PIXEL_RGB here.
    LRN             Caffe divides alpha by local_size and defaults k to 1: its (alpha 1e-4,
                    k 1) is numpynet's LocalResponseNorm(alpha=2e-5, k=1), the `caffe` preset.
                    The file's lrn_param decides: k = 2 is the `paper` preset.
    class order     output i is line i of Caffe's synset_words.txt: the 1000 wnids sorted,
                    the order of numpynet/data/imagenet_classes.txt.

Caffe resizes photos to 256x256 without keeping the aspect ratio; numpynet scales the shorter
side to 256 and takes the centre (data/decode.py), so a prediction may differ slightly from
Caffe's own on very wide or tall photos.

Writing (`write_caffemodel`, `from_numpynet`) makes files of either message version that this
reader (and Caffe's `CopyTrainedLayersFrom`, which matches layers by name) reads back.
"""

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from .. import files
from ..layers import Conv2D, Linear, LocalResponseNorm, Scale
from ..models import alexnet
from . import protobuf as pb

MEAN_PIXEL_RGB = np.array([123.0, 117.0, 104.0], dtype=np.float32)   # Caffe's (104, 117, 123)
WEIGHTED = ("conv1", "conv2", "conv3", "conv4", "conv5", "fc6", "fc7", "fc8")
V1_TYPES = {4: "Convolution", 14: "InnerProduct", 15: "LRN", 18: "ReLU", 17: "Pooling",
            6: "Dropout", 20: "Softmax", 21: "SoftmaxWithLoss", 1: "Accuracy", 5: "Data"}
V1_NUMBERS = {name: number for number, name in V1_TYPES.items()}
# (name, type, blobs, lrn_param) field numbers of the two layer messages
LAYER_FIELDS = {"layer": (1, 2, 7, 118), "v1": (4, 5, 6, 18)}
LRN_DEFAULTS = {"local_size": 5, "alpha": 1.0, "beta": 0.75, "k": 1.0}


@dataclass
class CaffeLayer:
    """One layer of a .caffemodel: its name, type, parameter blobs and LRN settings."""
    name: str
    type: str
    blobs: list = field(default_factory=list)        # float32 arrays in the file's shapes
    lrn: dict = None                                  # LRNParameter (Caffe's convention)


@dataclass
class CaffeNet:
    layers: list
    version: str                                      # "layer" (current) or "v1" (old)
    input_dim: list = field(default_factory=list)     # e.g. [1, 3, 227, 227], if written


# ------------------------------------------------------------------------------- reading

def read_blob(buf):
    """BlobProto bytes -> float32 array in the blob's shape (BlobShape, else num/channels/
    height/width, the V1 form, kept 4-d)."""
    m = pb.message(buf)
    data = pb.numbers(m.get(5, []), "f4")
    if 8 in m:                                                       # double_data
        data = pb.numbers(m[8], "f8").astype(np.float32)
    if 7 in m:
        shape = pb.varints(pb.message(m[7][-1][1]).get(1, []))
    else:
        shape = [pb.scalar(m.get(n, []), "i4", 0) for n in (1, 2, 3, 4)]
    if int(np.prod(shape)) != data.size:
        raise pb.WireError(f"a blob of shape {shape} holds {data.size} numbers")
    return data.reshape(shape)


def read_lrn(buf):
    """LRNParameter -> dict. A prototxt's decimals (alpha: 0.0001) are stored as float32: the
    shortest decimal that rounds to the stored float32 gives them back (1e-4, not
    1.0000000475e-4)."""
    m = pb.message(buf)

    def decimal(number, default):
        return float(str(np.float32(pb.scalar(m.get(number, []), "f4", default))))
    return {"local_size": pb.scalar(m.get(1, []), "u4", 5), "alpha": decimal(2, 1.0),
            "beta": decimal(3, 0.75), "k": decimal(5, 1.0)}


def read_layer(buf, version):
    name_f, type_f, blobs_f, lrn_f = LAYER_FIELDS[version]
    m = pb.message(buf)
    if version == "v1":
        number = pb.scalar(m.get(type_f, []), "i4", 0)
        kind = V1_TYPES.get(number, f"V1 type {number}")
    else:
        kind = pb.string(m.get(type_f, []))
    lrn = read_lrn(m[lrn_f][-1][1]) if lrn_f in m else (
        dict(LRN_DEFAULTS) if kind == "LRN" else None)
    return CaffeLayer(pb.string(m.get(name_f, [])), kind,
                      [read_blob(b) for _, b in m.get(blobs_f, [])], lrn)


def read_caffemodel(path):
    """-> CaffeNet: every layer of a .caffemodel (current `layer` or V1 `layers` messages)."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"no Caffe model at {path} (expected a .caffemodel, e.g. "
                                f"bvlc_alexnet.caffemodel from Caffe's model zoo)")
    try:
        m = pb.message(path.read_bytes())
        if 100 in m:
            version, entries = "layer", m[100]
        elif 2 in m:
            version, entries = "v1", m[2]
        else:
            raise pb.WireError("no layer (field 100) or layers (field 2) message")
        layers = [read_layer(value, version) for _, value in entries]
        return CaffeNet(layers, version, pb.varints(m.get(4, [])))
    except (pb.WireError, ValueError, UnicodeDecodeError) as e:
        raise ValueError(f"{path} is not a readable .caffemodel ({e})") from None


def read_mean(path):
    """Caffe's mean image (a BlobProto file such as ilsvrc_2012_mean.binaryproto, (1, 3, H, W)
    BGR) -> (H, W, 3) float32 RGB, numpynet's layout of a mean image."""
    try:
        blob = read_blob(Path(path).read_bytes())
    except (pb.WireError, ValueError) as e:
        raise ValueError(f"{path} is not a Caffe mean file (a BlobProto): {e}") from None
    if blob.ndim != 4 or blob.shape[:2] != (1, 3):
        raise ValueError(f"{path}: a mean image must be (1, 3, H, W), got {blob.shape}")
    return np.ascontiguousarray(blob[0, ::-1].transpose(1, 2, 0))


# ------------------------------------------------------------------------------- writing

def encode_blob(array, version):
    array = np.asarray(array, dtype=np.float32)
    if version == "v1":                     # num, channels, height, width: right-aligned
        dims = [1] * (4 - array.ndim) + list(array.shape)
        head = b"".join(pb.varint_field(n, d) for n, d in zip((1, 2, 3, 4), dims))
    else:
        head = pb.bytes_field(7, pb.packed_varints(1, array.shape))
    return head + pb.packed_floats(5, array)


def encode_layer(layer, version):
    name_f, type_f, blobs_f, lrn_f = LAYER_FIELDS[version]
    out = [pb.bytes_field(name_f, layer.name)]
    if version == "v1":
        if layer.type not in V1_NUMBERS:
            raise ValueError(f"layer {layer.name}: no V1 type number for {layer.type!r}")
        out.append(pb.varint_field(type_f, V1_NUMBERS[layer.type]))
    else:
        out.append(pb.bytes_field(type_f, layer.type))
    out += [pb.bytes_field(blobs_f, encode_blob(b, version)) for b in layer.blobs]
    if layer.lrn is not None:
        p = layer.lrn
        out.append(pb.bytes_field(lrn_f, pb.varint_field(1, p["local_size"])
                                  + pb.float_field(2, p["alpha"]) + pb.float_field(3, p["beta"])
                                  + pb.float_field(5, p["k"])))
    return b"".join(out)


def write_caffemodel(path, net):
    """Write a CaffeNet in its version's messages (atomically: numpynet/files.py)."""
    number = 100 if net.version == "layer" else 2
    body = [pb.varint_field(4, d) for d in net.input_dim]           # input_dim, unpacked
    body += [pb.bytes_field(number, encode_layer(layer, net.version)) for layer in net.layers]
    with files.atomic_path(Path(path)) as tmp:
        Path(tmp).write_bytes(b"".join(body))
    return path


# ------------------------------------------------------------------------------- numpynet

def input_size(caffe_net):
    """The crop the network was written for: input_dim's last entry, else AlexNet's 227."""
    dims = caffe_net.input_dim
    return dims[-1] if len(dims) == 4 else 227


def to_numpynet(caffe_net, size=None):
    """A CaffeNet of AlexNet's layer table -> numpynet's `paper` or `caffe` preset with its
    weights (conv1 turned from BGR to RGB input). The widths and groups come from the blobs'
    shapes, the preset from the LRN layers (k = 2: paper; else caffe), the input size from
    input_dim when the file has it (else 227)."""
    blobs = {l.name: l.blobs for l in caffe_net.layers if l.blobs}
    missing = [n for n in WEIGHTED if len(blobs.get(n, [])) != 2]
    if missing:
        raise ValueError(f"not AlexNet's layer table: no weights and biases for {missing}; "
                         f"layers with blobs: {sorted(blobs)}")
    lrn = [l for l in caffe_net.layers if l.type == "LRN"]
    preset = "paper" if lrn and lrn[0].lrn["k"] == 2 else "caffe"
    conv1, conv2 = blobs["conv1"][0], blobs["conv2"][0]
    size = size or input_size(caffe_net)
    net = alexnet(blobs["fc8"][0].shape[-2],
                  groups=conv1.shape[0] // conv2.shape[1], preset=preset, init="caffe",
                  width=conv1.shape[0] / 96, input_size=size, lrn=bool(lrn))
    state = {}
    for name in WEIGHTED:
        W, b = blobs[name]
        own = net[name].params
        if W.size != own["W"].size or b.size != own["b"].size:
            raise ValueError(f"{name}: the file's weights {W.shape} and biases {b.shape} do "
                             f"not fit AlexNet's {own['W'].shape}, {own['b'].shape} at input "
                             f"size {size}")
        W = W.reshape(own["W"].shape)                     # copies below: the file's bytes
        state[f"{name}.W"] = np.array(W[:, ::-1] if name == "conv1" else W)   # BGR -> RGB
        state[f"{name}.b"] = np.array(b.reshape(own["b"].shape))
    net.load_state_dict(state)
    for layer, found in zip((l for l in net if isinstance(l, LocalResponseNorm)), lrn):
        p = found.lrn                                   # Caffe's alpha is per channel summed
        layer.size, layer.alpha = int(p["local_size"]), p["alpha"] / p["local_size"]
        layer.beta, layer.k = p["beta"], p["k"]
    return net


def from_numpynet(net, version="layer", size=227):
    """A numpynet AlexNet (presets paper and caffe) -> CaffeNet, conv1 turned to BGR input.

    A Scale(c) in front of conv1 (the he inits) is folded into conv1's weights: conv1(c x) =
    (c W) x + b, equal up to float32 rounding."""
    layers, c = [], 1.0
    for layer in net:
        if isinstance(layer, Scale) and not layers:
            c *= layer.c
        elif isinstance(layer, Conv2D):
            W = layer.params["W"]
            if not layers:                                     # conv1: RGB -> BGR, the scale
                W = W[:, ::-1] * np.float32(c) if c != 1 else W[:, ::-1]
            layers.append(CaffeLayer(layer.name, "Convolution", [W, layer.params["b"]]))
        elif isinstance(layer, Linear):
            layers.append(CaffeLayer(layer.name, "InnerProduct",
                                     [layer.params["W"], layer.params["b"]]))
        elif isinstance(layer, LocalResponseNorm):
            layers.append(CaffeLayer(layer.name, "LRN", [], {
                "local_size": layer.size, "alpha": layer.alpha * layer.size,
                "beta": layer.beta, "k": layer.k}))
        elif layer.params or layer.buffers or isinstance(layer, Scale):
            raise ValueError(f"a Caffe AlexNet has no place for layer {layer.name} "
                             f"({type(layer).__name__}): export the paper or caffe preset")
    names = [l.name for l in layers if l.blobs]
    if names != list(WEIGHTED) or layers[0].blobs[0].shape[2:] != (11, 11) \
            or net["conv1"].padding != 0:
        raise ValueError("only the paper and caffe presets fit Caffe's AlexNet (the layer "
                         "table conv1-conv5, fc6-fc8, conv1 11x11 without padding)")
    return CaffeNet(layers, version, [1, 3, size, size])
