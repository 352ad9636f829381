"""The PyTorch twin of numpynet's AlexNet, for `--compare torch`.

PyTorch is never needed by numpynet: it is imported only here, and the comparison is skipped
with a note when it is not installed. The twin is built layer for layer from numpynet's network,
with the same weights (the run starts by checking that both give the same logits), LRN's alpha
converted to PyTorch's convention (layers/lrn.py).
"""

import numpy as np

from .. import backend
from ..layers import (BatchNorm2D, Conv2D, Dropout, Flatten, Linear, LocalResponseNorm,
                      MaxPool2D, ReLU, Scale)
from .runners import build_alexnet


def import_torch():
    try:
        import torch
    except ImportError:
        return None
    return torch


def torch_network(net, torch):
    """The same network in PyTorch, layer for layer, with numpynet's weights copied in."""
    nn = torch.nn

    class TorchScale(nn.Module):
        def __init__(self, c):
            super().__init__()
            self.c = c

        def forward(self, x):
            return x * self.c

    modules = []
    for layer in net.layers:
        if isinstance(layer, Conv2D):
            m = nn.Conv2d(layer.in_channels, layer.out_channels, layer.kernel_size,
                          stride=layer.stride, padding=layer.padding, groups=layer.groups)
        elif isinstance(layer, Linear):
            m = nn.Linear(layer.in_features, layer.out_features)
        elif isinstance(layer, LocalResponseNorm):
            # PyTorch divides alpha by size inside the layer (layers/lrn.py): convert it
            m = nn.LocalResponseNorm(layer.size, alpha=layer.alpha * layer.size,
                                     beta=layer.beta, k=layer.k)
        elif isinstance(layer, MaxPool2D):
            m = nn.MaxPool2d(layer.kernel_size, layer.stride)
        elif isinstance(layer, ReLU):
            m = nn.ReLU()
        elif isinstance(layer, Dropout):
            m = nn.Dropout(layer.p)
        elif isinstance(layer, Flatten):
            m = nn.Flatten()
        elif isinstance(layer, BatchNorm2D):
            m = nn.BatchNorm2d(layer.channels, eps=layer.eps, momentum=layer.momentum)
        elif isinstance(layer, Scale):
            m = TorchScale(layer.c)
        else:
            raise TypeError(f"no PyTorch twin for {layer!r}")
        names = {"W": "weight", "b": "bias", "gamma": "weight", "beta": "bias"}
        with torch.no_grad():
            for name, value in layer.params.items():
                getattr(m, names[name]).copy_(torch.from_numpy(backend.to_numpy(value)))
        modules.append(m)
    return nn.Sequential(*modules)


class TorchRunner:
    """The PyTorch twin of NumpynetRunner (same network, weights, batch and SGD settings)."""

    def __init__(self, args, torch, numpynet_runner=None):
        self.torch = torch
        self.name = f"PyTorch {torch.__version__}"
        torch.set_num_threads(args.threads)
        device = "cuda" if args.device == "gpu" else "cpu"
        source = numpynet_runner.net if numpynet_runner else build_alexnet(args)
        self.net = torch_network(source, torch).to(device)
        rng = np.random.default_rng(0)
        x = rng.standard_normal((args.batch, *args.input_shape), dtype=np.float32)
        self.x = torch.from_numpy(x).to(device)
        self.labels = torch.from_numpy(rng.integers(0, 1000, args.batch)).to(device)
        self.loss = torch.nn.CrossEntropyLoss()
        self.opt = torch.optim.SGD(self.net.parameters(), lr=0.01, momentum=0.9,
                                   weight_decay=5e-4)

    def train_step(self):
        self.net.train()
        self.opt.zero_grad(set_to_none=True)
        self.loss(self.net(self.x), self.labels).backward()
        self.opt.step()

    def infer(self):
        self.net.eval()
        with self.torch.no_grad():
            return self.net(self.x)

    def layer_times(self, clock, repeats, names, train=True):
        """Per layer, each run on its own: forward (and backward) of module i on the output of
        module i-1, detached, so that its backward time is its own. Returns like layer_timers."""
        torch, times = self.torch, {}
        first = next(i for i, m in enumerate(self.net) if list(m.parameters()))
        self.net.train(train)
        for _ in range(repeats):
            h = self.x
            outputs = []
            with torch.set_grad_enabled(train):
                for i, (m, name) in enumerate(zip(self.net, names)):
                    inp = h.detach().requires_grad_(train and i > first)   # as in a real step
                    seconds, h = clock(lambda m=m, inp=inp: m(inp))
                    times.setdefault((name, "forward"), []).append(seconds)
                    outputs.append((name, inp, h))
            if not train:
                continue
            grad = torch.ones_like(h) / h.numel()
            for name, inp, out in reversed(outputs[first:]):
                seconds, _ = clock(lambda out=out, grad=grad: out.backward(grad))
                times.setdefault((name, "backward"), []).append(seconds)
                grad = inp.grad
            self.net.zero_grad(set_to_none=True)
        return times
