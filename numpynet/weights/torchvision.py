"""torchvision's AlexNet weights (a `torchvision.models.alexnet` state_dict) -> numpynet.

    torchvision key                          numpynet (preset "torchvision")
    features.0.weight / .bias   (64, 3, 11, 11)     conv1.W / conv1.b
    features.3                  (192, 64, 5, 5)     conv2
    features.6                  (384, 192, 3, 3)    conv3
    features.8                  (256, 384, 3, 3)    conv4
    features.10                 (256, 256, 3, 3)    conv5
    classifier.1                (4096, 9216)        fc6
    classifier.4                (4096, 4096)        fc7
    classifier.6                (1000, 4096)        fc8

Both store a convolution's weights as (out, in, kh, kw) and a linear layer's as (out, in), and
both flatten pool5 in (C, H, W) order, so the arrays copy over unchanged, with one exception:
torchvision's input is x / 255 normalised per channel, (x / 255 - mean_c) / std_c, while
numpynet's is 0-255 pixels minus a mean image. With x' = x - 255 mean_c,

    conv1(normalised x) = sum_c W[:, c] * x'_c / (255 std_c) + b

so conv1's weights for channel c are divided by 255 std_c and the mean image is 255 mean_c,
the same function (zero padding pads x' with zeros, as torchvision pads the normalised input
with zeros). The output order is ImageNet's 1000 sorted wnids, as numpynet's class list.

Photos: torchvision's own preparation, Resize(256) then CenterCrop(224), rounds differently from
numpynet's (data/decode.py): the longer side becomes int(256 * long / short), not round(...),
and the crop starts at round((side - 224) / 2), not (side - 256) // 2 + 16. On 44 of the 130
photos of ../shared/data/imagenet-samples the two 224 crops differ; `centre_view` is
torchvision's, for predict's centre crop with these weights.

Files: `.pth` / `.pt` (PyTorch's pickle; read by PyTorch when it is installed, else by the
restricted unpickler of weights/pth.py), `.npz` (keys as above) and `.safetensors` (read here:
an 8-byte little-endian header length, a JSON header {key: {dtype, shape, data_offsets}}, then
the raw little-endian data).
"""

import json
from pathlib import Path

import numpy as np
from PIL import Image

from ..models import alexnet
from . import pth

MEAN = np.array([0.485, 0.456, 0.406], dtype=np.float32)     # torchvision's, on 0-1 pixels
STD = np.array([0.229, 0.224, 0.225], dtype=np.float32)
MEAN_PIXEL_RGB = 255 * MEAN                                    # numpynet's, on 0-255 pixels
NAMES = {"conv1": "features.0", "conv2": "features.3", "conv3": "features.6",
         "conv4": "features.8", "conv5": "features.10", "fc6": "classifier.1",
         "fc7": "classifier.4", "fc8": "classifier.6"}
SAFETENSORS_DTYPES = {"F32": "<f4", "F64": "<f8", "F16": "<f2", "I64": "<i8", "I32": "<i4",
                      "U8": "u1"}


def centre_view(img, size=256, crop=224):
    """An RGB PIL image -> (crop, crop, 3) uint8 as torchvision's Resize(size) and
    CenterCrop(crop) make it (PIL bilinear, antialiased when shrinking)."""
    w, h = img.size
    if w <= h:
        new = (size, int(size * h / w))
    else:
        new = (int(size * w / h), size)
    if new != (w, h):
        img = img.resize(new, Image.Resampling.BILINEAR)
    top, left = int(round((new[1] - crop) / 2.0)), int(round((new[0] - crop) / 2.0))
    return np.asarray(img.crop((left, top, left + crop, top + crop)), dtype=np.uint8)


def read_state_dict(path):
    """{key: float32 array} from a .pth/.pt, .npz or .safetensors file."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"no weights file at {path} (expected a torchvision AlexNet "
                                f"state_dict: .pth, .npz or .safetensors)")
    suffix = path.suffix.lower()
    if suffix == ".npz":
        with np.load(path, allow_pickle=False) as f:
            state = {k: f[k] for k in f.files}
    elif suffix == ".safetensors":
        state = read_safetensors(path)
    elif suffix in (".pth", ".pt"):
        state = read_pth(path)
    else:
        raise ValueError(f"{path}: unknown weights format {suffix!r}; use .pth, .pt, .npz or "
                         f".safetensors")
    if "state_dict" in state and isinstance(state["state_dict"], dict):   # a training save
        state = state["state_dict"]
    return {k: np.asarray(v, dtype=np.float32) for k, v in state.items()}


def read_pth(path):
    """A PyTorch save of a state_dict -> {key: array}: through PyTorch when installed
    (torch.load with weights_only=True), else weights/pth.py's restricted unpickler."""
    try:
        import torch
    except ImportError:
        return pth.load(path)
    state = torch.load(path, map_location="cpu", weights_only=True)
    return {k: v.float().numpy() if hasattr(v, "numpy") else v for k, v in state.items()}


def read_safetensors(path):
    """The safetensors format by hand: header length (u64 LE), JSON header, raw data."""
    raw = Path(path).read_bytes()
    try:
        n = int(np.frombuffer(raw[:8], "<u8")[0])
        header = json.loads(raw[8:8 + n])
    except (ValueError, IndexError) as e:
        raise ValueError(f"{path} is not a safetensors file ({e})") from None
    data, state = memoryview(raw)[8 + n:], {}
    for key, info in header.items():
        if key == "__metadata__":
            continue
        begin, end = info["data_offsets"]
        if info["dtype"] == "BF16":       # bfloat16: the top half of a float32
            bits = np.frombuffer(data[begin:end], "<u2").astype(np.uint32) << 16
            array = bits.view(np.float32)
        elif info["dtype"] in SAFETENSORS_DTYPES:
            array = np.frombuffer(data[begin:end], SAFETENSORS_DTYPES[info["dtype"]])
        else:
            raise ValueError(f"{path}: tensor {key} has dtype {info['dtype']}, not supported")
        state[key] = array.reshape(info["shape"])
    return state


def write_safetensors(path, state):
    """Write {key: array} as float32 safetensors (the format read_safetensors reads)."""
    header, offset, blobs = {}, 0, []
    for key, array in state.items():
        blob = np.ascontiguousarray(array, dtype="<f4").tobytes()
        header[key] = {"dtype": "F32", "shape": list(np.shape(array)),
                       "data_offsets": [offset, offset + len(blob)]}
        offset += len(blob)
        blobs.append(blob)
    text = json.dumps(header).encode()
    text += b" " * (-len(text) % 8)                     # the format pads the header to 8 bytes
    Path(path).write_bytes(np.uint64(len(text)).tobytes() + text + b"".join(blobs))


def to_numpynet(state):
    """A torchvision AlexNet state_dict -> numpynet's torchvision preset with its weights
    (conv1 folding in the per-channel normalisation, see above). Its input: 0-255 RGB pixels
    minus the mean pixel MEAN_PIXEL_RGB."""
    keys = [f"{NAMES[n]}.{p}" for n in NAMES for p in ("weight", "bias")]
    missing = [k for k in keys if k not in state]
    if missing:
        raise ValueError(f"not a torchvision AlexNet state_dict: missing {missing[:4]}; it has "
                         f"{sorted(state)[:6]}...")
    net = alexnet(state["classifier.6.weight"].shape[0], preset="torchvision", init="paper",
                  groups=1)
    conv1 = state["features.0.weight"] / (255 * STD)[None, :, None, None]
    own = {f"{n}.{p}": np.array(state[f"{NAMES[n]}.{t}"], np.float32) for n in NAMES
           for p, t in (("W", "weight"), ("b", "bias"))}      # copies: writable, own memory
    own["conv1.W"] = conv1.astype(np.float32)
    net.load_state_dict(own)
    return net
