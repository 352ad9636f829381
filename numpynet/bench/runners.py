"""numpynet's side of the benchmark: the network, a batch, one training step or inference,
and the instrumented step that times every layer and the kernels inside the convolutions."""

import contextlib
import time

import numpy as np

from .. import backend, openblas
from ..kernels import dispatch
from ..layers import SoftmaxCrossEntropy
from ..models import alexnet
from ..optim import SGD
from ..step import train_step

# the environment variables that set the thread counts of BLAS, OpenMP and Numba
THREAD_VARIABLES = ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS",
                    "NUMBA_NUM_THREADS")

# kernel name (numpynet.kernels.dispatch) -> the row it is counted in
CONV_KERNELS = {"im2col": "im2col", "col2im": "col2im",
                **{f"winograd_{name}": "Winograd transforms"
                   for name in ("input", "output", "output_grad", "input_grad")},
                "columns_to_images": "layout moves", "images_to_columns": "layout moves"}


def build_alexnet(args):
    """The benchmark's network: the paper's AlexNet for 1000 classes (or its --small version)."""
    size = {"width": 1 / 8, "input_size": 67} if args.small else {}
    return alexnet(1000, groups=args.groups, preset=args.preset, seed=0, **size)


def set_threads(threads):
    """Numba's and OpenBLAS's thread counts for this process (both are also set by the
    environment variables of the restart; this makes in-process use honour --threads too)."""
    import numba
    numba.set_num_threads(min(threads, numba.config.NUMBA_NUM_THREADS))
    openblas.set_threads(threads)


class NumpynetRunner:
    """The network, a batch and an optimiser; `train_step()` and `infer()` do one of each."""

    name = "numpynet"

    def __init__(self, args):
        self.net = build_alexnet(args)
        rng = np.random.default_rng(0)
        x = rng.standard_normal((args.batch, *args.input_shape), dtype=np.float32)
        labels = rng.integers(0, 1000, args.batch)
        if args.device == "gpu":
            backend.use("gpu")
            self.net.to("gpu")
        self.x, self.labels = backend.to_device(x, args.device), backend.to_device(labels,
                                                                                  args.device)
        self.loss = SoftmaxCrossEntropy()
        self.opt = SGD(self.net, lr=0.01, momentum=0.9, weight_decay=5e-4)

    def train_step(self):
        return train_step(self.net, self.loss, self.opt, self.x, self.labels)

    def infer(self):
        return self.net.forward(self.x, train=False)

    @contextlib.contextmanager
    def layer_timers(self, clock, times, cpu=None):
        """Time every layer's forward and backward (into times[(name, 'forward')] etc.; the
        process CPU time into cpu[...] likewise), the loss and the update, while the network
        runs its ordinary code path; and, through numpynet.kernels.dispatch.instrument, the
        kernels inside the convolutions (CONV_KERNELS)."""
        for layer in self.net.layers:
            layer.forward = timed(clock, times, layer.forward, (layer.name, "forward"), cpu)
            layer.backward = timed(clock, times, layer.backward, (layer.name, "backward"), cpu)
        self.loss.forward = timed(clock, times, self.loss.forward, ("loss", "forward"))
        self.loss.backward = timed(clock, times, self.loss.backward, ("loss", "backward"))
        self.opt.step = timed(clock, times, self.opt.step, ("SGD update", "step"), cpu)
        try:
            with dispatch.instrument(conv_kernel_timer(clock, times, cpu)):
                yield
        finally:
            for obj in (*self.net.layers, self.loss):
                del obj.forward, obj.backward              # back to the class's methods
            del self.opt.step


def timed(clock, times, fn, key, cpu=None):
    """fn, with the seconds of each call appended to times[key] and, if `cpu` is a dict, the
    process CPU time of the call (all threads: BLAS's and Numba's, busy or spinning) to
    cpu[key]."""
    def wrapper(*args, **kwargs):
        start = time.process_time()
        seconds, result = clock(lambda: fn(*args, **kwargs))
        times.setdefault(key, []).append(seconds)
        if cpu is not None:
            cpu.setdefault(key, []).append(time.process_time() - start)
        return result
    return wrapper


def conv_kernel_timer(clock, times, cpu=None):
    """A dispatch.instrument wrapper: the im2col and col2im kernels (see
    kernels/im2col.py), the Winograd transforms (kernels/fast/winograd.py) and the moves between
    the product and NCHW (kernels/fast/product_layout.py) timed into
    times[(row, 'kernel')] (and cpu[...]), row as in CONV_KERNELS; every other kernel runs
    untimed."""
    def wrapper(name, fn, *args, **kwargs):
        if name not in CONV_KERNELS:
            return fn(*args, **kwargs)
        return timed(clock, times, fn, (CONV_KERNELS[name], "kernel"), cpu)(*args, **kwargs)
    return wrapper
