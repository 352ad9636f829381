"""Checkpoints: one .npz file with the weights, the optimiser's velocity and a JSON header.

    <file>.npz
      param/<layer>.<name>      weights and buffers (net.state_dict()), as NumPy arrays
      velocity/<layer>.<name>   SGD momentum buffers (training checkpoints only)
      mean                      the training mean image (S, S, 3), so predict needs no dataset
      meta                      JSON: model settings, class wnids and names, training state
                                (epoch, next batch, lr schedule, RNG states of the dropout layers)

Arrays are always stored as NumPy arrays, so a checkpoint written on a GPU loads on a CPU-only
machine and the other way round. Writing is atomic and durable (numpynet/files.py): a
temporary file in the same folder, flushed to disk, then renamed over the old checkpoint, so a
crash, a power cut or Ctrl-C mid-write never leaves a half-written checkpoint behind.
"""

import json
from pathlib import Path

import numpy as np

from . import backend, files
from .layers import Dropout
from .models import alexnet


def save(path, net, meta, optimizer=None, mean=None):
    """Write `net` (and `optimizer`'s velocity, `mean`) with the JSON-able `meta` to `path`."""
    path = Path(path)
    arrays = {f"param/{k}": backend.to_numpy(v) for k, v in net.state_dict().items()}
    if optimizer is not None:
        arrays.update({f"velocity/{k}": backend.to_numpy(v)
                       for k, v in optimizer.velocity.items()})
    if mean is not None:
        arrays["mean"] = backend.to_numpy(mean)
    meta = dict(meta, dropout_rng={l.name: l.rng.bit_generator.state
                                   for l in net.layers if isinstance(l, Dropout)})
    arrays["meta"] = np.array(json.dumps(meta))
    with files.atomic_path(path, durable=True) as tmp, open(tmp, "wb") as f:
        np.savez(f, **arrays)          # an open file: np.savez would add .npz to a bare name
    return path


def load(path):
    """-> (arrays, meta): every array in the file, and the decoded JSON header."""
    path = Path(path)
    if path.is_dir():
        path = path / "last.npz"
    if not path.is_file():
        raise FileNotFoundError(f"no checkpoint at {path} (expected a .npz written by "
                                f"numpynet.train, e.g. runs/<name>/best.npz)")
    try:
        with np.load(path, allow_pickle=False) as f:
            arrays = {k: f[k] for k in f.files}
        meta = json.loads(str(arrays.pop("meta")))
    except Exception as e:
        raise ValueError(f"{path} is not a readable numpynet checkpoint ({e})") from None
    return arrays, meta


def restore_model(net, arrays, meta):
    """Load weights, buffers and dropout RNG states into `net` (in place)."""
    net.load_state_dict({k[len("param/"):]: v for k, v in arrays.items()
                         if k.startswith("param/")})
    for layer in net.layers:
        state = meta.get("dropout_rng", {}).get(layer.name)
        if isinstance(layer, Dropout) and state is not None:
            layer.rng.bit_generator.state = state


def velocity(arrays):
    return {k[len("velocity/"):]: v for k, v in arrays.items() if k.startswith("velocity/")}


def model_from_checkpoint(path):
    """-> (net, meta, mean): the AlexNet a checkpoint describes, with its weights loaded."""
    arrays, meta = load(path)
    m = meta["model"]
    net = alexnet(m["num_classes"], groups=m["groups"], seed=m["seed"], preset=m["preset"],
                  init=m["init"], width=m["width"], input_size=m["input_size"],
                  dropout=m.get("dropout", 0.5), pool_size=m.get("pool_size", 3),
                  lrn=m.get("lrn", True))
    restore_model(net, arrays, meta)
    return net, meta, arrays.get("mean")
