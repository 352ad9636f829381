"""Weights out: a numpynet network (or imported weights) as a PyTorch state_dict, an ONNX
graph or a Caffe .caffemodel:

    python -m numpynet.export runs/<name>/best.npz --to onnx alexnet.onnx
    python -m numpynet.export caffe:bvlc_alexnet.caffemodel --to onnx bvlc_alexnet.onnx
    python -m numpynet.export runs/<name>/best.npz --to torch alexnet.pth

    torch   the state_dict of numpynet/bench/torch_runner.py's `torch_network(net, torch)`, the
            benchmark's PyTorch twin of the network (nn.Sequential, one module per numpynet
            layer): rebuild it with that function and `load_state_dict(torch.load(OUT))`.
    onnx    an inference graph (numpynet/weights/onnx_graph.py); onnxruntime runs it.
    caffe   a .caffemodel (presets paper and caffe; --caffe-version layer or v1), conv1
            turned to BGR input as Caffe expects (numpynet/weights/caffe.py).

Every format takes the input numpynet feeds its network: RGB 0-255 pixels minus the mean
(printed at the end), centre crop. The mean image itself stays in the numpynet checkpoint.
"""

import argparse
import sys
from pathlib import Path

import numpy as np

from . import __version__, files
from .weights import caffe, onnx_graph, pretrained

FORMATS = ("torch", "onnx", "caffe")


def torch_state_dict(net):
    """{key: torch tensor} of the benchmark's PyTorch twin of `net`, buffers included."""
    import torch
    from .bench.torch_runner import torch_network
    module = torch_network(net, torch)
    with torch.no_grad():                 # torch_network copies the params; add the buffers
        for layer, m in zip(net.layers, module):
            for name, value in layer.buffers.items():
                getattr(m, name).copy_(torch.from_numpy(np.asarray(value)))
    return module.state_dict()


def export(model, fmt, out, caffe_version="layer"):
    """Write `model` (a weights.pretrained.Pretrained) to `out` in `fmt`."""
    out = Path(out)
    if fmt == "caffe":
        caffe.write_caffemodel(out, caffe.from_numpynet(model.net, caffe_version,
                                                        size=model.crop))
    elif fmt == "onnx":
        graph = onnx_graph.to_onnx(model.net, model.crop, doc=input_line(model))
        with files.atomic_path(out) as tmp:
            Path(tmp).write_bytes(graph.SerializeToString())
    else:
        try:
            import torch
        except ImportError:
            raise ImportError("exporting to PyTorch needs torch: pip install torch") from None
        state = torch_state_dict(model.net)
        with files.atomic_path(out) as tmp, open(tmp, "wb") as f:
            torch.save(state, f)
    return out


def input_line(model):
    mean = model.mean.reshape(-1, 3)
    if np.all(mean == mean[0]):
        what = f"the mean pixel RGB {tuple(round(float(v), 3) for v in mean[0])}"
    else:
        what = "the mean image stored in the numpynet checkpoint"
    return (f"input: (N, 3, {model.crop}, {model.crop}) RGB 0-255 pixels minus {what}, centre "
            f"crop; output: logits of {len(model.wnids)} classes")


def parse_args(argv=None):
    p = argparse.ArgumentParser(prog="python -m numpynet.export",
                                description=__doc__.split("\n")[0])
    p.add_argument("weights", help="a numpynet checkpoint (.npz or run folder), caffe:PATH or "
                                   "torchvision:PATH")
    p.add_argument("--to", choices=FORMATS, required=True, help="the format to write")
    p.add_argument("out", help="the file to write")
    p.add_argument("--caffe-version", choices=("layer", "v1"), default="layer",
                   help="with --to caffe: the current `layer` messages or the old V1 `layers` "
                        "(default: layer)")
    p.add_argument("--version", action="version", version=f"numpynet {__version__}")
    return p.parse_args(argv)


def main(argv=None):
    args = parse_args(argv)
    try:
        model = pretrained.load(args.weights)
        out = export(model, args.to, args.out, args.caffe_version)
    except (FileNotFoundError, ValueError, ImportError, TypeError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    print(f"wrote {out} ({args.to}) from {model.source}\n{input_line(model)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
