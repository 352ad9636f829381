"""How fast is a training step of AlexNet, layer by layer, and against PyTorch on the same machine?

    python -m numpynet.bench                         # batch 128, training step and inference
    python -m numpynet.bench --compare torch         # the same network in PyTorch, same process
    python -m numpynet.bench --batch 2 --repeats 1   # a quick look

What it measures, for the paper's AlexNet (`alexnet(1000)`, groups=2) on a random batch:

- the training step: forward, softmax loss, backward and the SGD update (momentum 0.9, weight
  decay 5e-4), and inference (forward with train=False; `--eval`: only that); median and
  spread over `--repeats` steps after `--warmup` steps. The first step of the process is timed
  on its own: it includes Numba's compilation (or loading the compiled kernels from its cache).
  With `--compare torch` the two frameworks take their steps in turns, so that a busy spell of
  a shared machine slows both; the CPU s column (process CPU time per step, all threads) is
  less disturbed by other programs than the wall clock.
- per layer: forward and backward time, share of the step, GFLOP/s; inside the convolutions,
  the time spent in im2col/col2im (both layouts, see kernels/im2col.py).
- achieved GFLOP/s against the machine's matrix-product peak, measured in the same run as a
  4096 x 4096 float32 `A @ B`.
- `--memory`: the peak resident memory of a training step, for each framework in a fresh
  process (see `memory_child`).
- `--startup`: import + first training step in a fresh process, with an empty Numba cache
  (cold) and again with the cache it left (warm).

Threads: `--threads N` (default: all cores) is given to BLAS, Numba and PyTorch alike. BLAS and
OpenMP read their settings when they load, before this module runs, so the benchmark restarts
itself once with OPENBLAS_NUM_THREADS, OMP_NUM_THREADS, MKL_NUM_THREADS and NUMBA_NUM_THREADS
set. OpenBLAS's kernels are the environment's choice (OPENBLAS_CORETYPE, or OpenBLAS's own
detection; the header says which ran); `--blas-core NAME` restarts with OPENBLAS_CORETYPE=NAME
instead, e.g. SkylakeX for the AVX-512 kernels (numpynet/openblas.py says more). PyTorch does
not use OpenBLAS: its kernels are its own choice.

PyTorch is never needed by numpynet: it is imported here only for `--compare torch`, and the
comparison is skipped with a note when it is not installed. Its network is built layer for layer
from numpynet's, with the same weights (the run starts by checking that both give the same
logits), LRN's alpha converted to PyTorch's convention (layers/lrn.py).
"""

import argparse
import contextlib
import datetime
import gc
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time

import numpy as np

from . import backend, openblas
from .layers import (BatchNorm2D, Conv2D, Dropout, Flatten, Linear, LocalResponseNorm,
                     MaxPool2D, ReLU, Scale, SoftmaxCrossEntropy)
from .layers import conv as conv_module
from .models import INPUT_SHAPE, PRESETS, alexnet
from .optim import SGD

THREAD_VARIABLES = ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS",
                    "NUMBA_NUM_THREADS")
RESTARTED = "NUMPYNET_BENCH_RESTARTED"          # set in the restarted process (no second restart)


# --------------------------------------------------------------------------- command line

def parse_args(argv=None):
    p = argparse.ArgumentParser(prog="python -m numpynet.bench",
                                description="Time AlexNet's training step and inference.")
    p.add_argument("--batch", type=int, default=128, help="images per step (default 128)")
    p.add_argument("--repeats", type=int, default=5, help="timed steps (default 5)")
    p.add_argument("--warmup", type=int, default=1,
                   help="untimed steps after the first one (default 1)")
    p.add_argument("--threads", type=int, default=None,
                   help="threads for BLAS, Numba and PyTorch (default: all cores)")
    p.add_argument("--layers", action=argparse.BooleanOptionalAction, default=True,
                   help="per-layer table (default on)")
    p.add_argument("--eval", action="store_true",
                   help="inference only (forward with train=False), no training step")
    p.add_argument("--compare", choices=["torch", "none"], default="none",
                   help="also run the same network in PyTorch, in the same process")
    p.add_argument("--device", choices=["cpu", "gpu"], default="cpu",
                   help="cpu (NumPy) or gpu (CuPy; needs numpynet[gpu])")
    p.add_argument("--preset", choices=PRESETS, default="paper",
                   help="AlexNet preset (models/alexnet.py; default paper)")
    p.add_argument("--groups", type=int, choices=[1, 2], default=2,
                   help="2: the paper's two-GPU split (default); 1: the one-GPU variant")
    p.add_argument("--small", action="store_true",
                   help="a narrow AlexNet (width 1/8) on 67x67 inputs: for tests, not timing")
    p.add_argument("--memory", action=argparse.BooleanOptionalAction, default=True,
                   help="peak memory of a training step, per framework, in a fresh process")
    p.add_argument("--startup", action="store_true",
                   help="time import + first step with a cold and a warm Numba cache")
    p.add_argument("--blas-core", default="keep",
                   help="OpenBLAS's kernels: keep (the environment's choice, the default) or an "
                        "OPENBLAS_CORETYPE name, e.g. SkylakeX or Haswell")
    p.add_argument("--child", choices=["memory", "startup"], help=argparse.SUPPRESS)
    p.add_argument("--framework", choices=["numpynet", "torch"], default="numpynet",
                   help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    if args.batch < 1 or args.repeats < 1 or args.warmup < 0:
        p.error("--batch and --repeats must be >= 1, --warmup >= 0")
    args.threads = args.threads or len(os.sched_getaffinity(0))
    args.input_shape = (3, 67, 67) if args.small else INPUT_SHAPE
    return args


def build_alexnet(args):
    """The benchmark's network: the paper's AlexNet for 1000 classes (or its --small version)."""
    size = {"width": 1 / 8, "input_size": 67} if args.small else {}
    return alexnet(1000, groups=args.groups, preset=args.preset, seed=0, **size)


# --------------------------------------------------------------------------- threads and BLAS

def restart_environment(args):
    """The environment variables the benchmark must start with, or None if it already has them."""
    env = {name: str(args.threads) for name in THREAD_VARIABLES}
    if args.blas_core != "keep":
        env["OPENBLAS_CORETYPE"] = args.blas_core
    if all(os.environ.get(k) == v for k, v in env.items()):
        return None
    return env


def restart_if_needed(args, argv):
    """Re-run this command with the thread and BLAS settings in the environment (once)."""
    if os.environ.get(RESTARTED):
        return
    env = restart_environment(args)
    if env is None:
        return
    os.environ.update(env, **{RESTARTED: "1"})
    sys.stdout.flush()
    os.execv(sys.executable, [sys.executable, "-m", "numpynet.bench", *argv])


def set_threads(threads):
    """Numba's and OpenBLAS's thread counts for this process (both are also set by the
    environment variables of the restart; this makes in-process use honour --threads too)."""
    import numba
    numba.set_num_threads(min(threads, numba.config.NUMBA_NUM_THREADS))
    openblas.set_threads(threads)


# --------------------------------------------------------------------------- timing

class Clock:
    """Wall-clock timing; on a GPU it waits for the queued work first (`sync`)."""

    def __init__(self, device):
        self.sync = _gpu_sync if device == "gpu" else (lambda: None)

    def __call__(self, fn):
        self.sync()
        start = time.perf_counter()
        result = fn()
        self.sync()
        return time.perf_counter() - start, result


def _gpu_sync():
    import cupy
    cupy.cuda.get_current_stream().synchronize()


def summary(times):
    """Median and spread (min, max) of a list of seconds."""
    return {"median": statistics.median(times), "min": min(times), "max": max(times)}


def matmul_peak(xp, clock, n=4096, repeats=3):
    """GFLOP/s of a float32 n x n matrix product, the best this BLAS does on this machine."""
    rng = np.random.default_rng(0)
    a = xp.asarray(rng.standard_normal((n, n), dtype=np.float32))
    b = xp.asarray(rng.standard_normal((n, n), dtype=np.float32))
    clock(lambda: a @ b)
    times = [clock(lambda: a @ b)[0] for _ in range(repeats)]
    return 2 * n ** 3 / statistics.median(times) / 1e9


# --------------------------------------------------------------------------- FLOPs

def layer_flops(layer, input_shape):
    """(forward, backward) floating-point operations of `layer` for a batch of `input_shape`.
    Only the products count (conv and linear: 2 per multiply-add); backward is the weight
    gradient plus the input gradient, each as much as forward."""
    N = input_shape[0]
    if isinstance(layer, Conv2D):
        _, F, Ho, Wo = layer.output_shape(input_shape)
        kh, kw = layer.kernel_size
        fwd = 2 * N * F * Ho * Wo * (layer.in_channels // layer.groups) * kh * kw
    elif isinstance(layer, Linear):
        fwd = 2 * N * layer.in_features * layer.out_features
    else:
        return 0, 0
    return fwd, 2 * fwd


def network_flops(net, input_shape, train=True):
    """{layer name: (forward, backward)} FLOPs; the first layer with parameters computes no
    input gradient in a training step (Sequential.backward(input_grad=False))."""
    flops, shape, first = {}, tuple(input_shape), True
    for layer in net.layers:
        fwd, bwd = layer_flops(layer, shape)
        if fwd and first:
            bwd, first = bwd // 2, False
        flops[layer.name] = (fwd, bwd if train else 0)
        shape = layer.output_shape(shape)
    return flops


# --------------------------------------------------------------------------- numpynet

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
        logits = self.net.forward(self.x, train=True)
        self.loss.forward(logits, self.labels)
        self.net.backward(self.loss.backward(), input_grad=False)
        self.opt.step()

    def infer(self):
        return self.net.forward(self.x, train=False)

    @contextlib.contextmanager
    def layer_timers(self, clock, times):
        """Time every layer's forward and backward (into times[(name, 'forward')] etc.) while
        the network runs its ordinary code path, and im2col/col2im inside the convolutions."""
        def timed(fn, key):
            def wrapper(*a, **k):
                seconds, result = clock(lambda: fn(*a, **k))
                times.setdefault(key, []).append(seconds)
                return result
            return wrapper

        for layer in self.net.layers:
            layer.forward = timed(layer.forward, (layer.name, "forward"))
            layer.backward = timed(layer.backward, (layer.name, "backward"))
        self.loss.forward = timed(self.loss.forward, ("loss", "forward"))
        self.loss.backward = timed(self.loss.backward, ("loss", "backward"))
        self.opt.step = timed(self.opt.step, ("SGD update", "step"))
        kernels = {name: getattr(conv_module, name)
                   for name in ("im2col", "col2im", "im2col_wide", "col2im_wide")}
        for name, fn in kernels.items():
            setattr(conv_module, name, timed(fn, (name.replace("_wide", ""), "kernel")))
        try:
            yield
        finally:
            for obj in (*self.net.layers, self.loss):
                del obj.forward, obj.backward              # back to the class's methods
            del self.opt.step
            for name, fn in kernels.items():
                setattr(conv_module, name, fn)


# --------------------------------------------------------------------------- PyTorch

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


# --------------------------------------------------------------------------- measuring

def measure(runners, args, clock, train):
    """Per runner: the first step, `warmup` more, then `repeats` timed steps, taken in turns
    (numpynet, PyTorch, numpynet, ...) so that a slow spell of a shared machine falls on both.
    Returns {name: {'first': s, 'steps': [s, ...], 'cpu': [s, ...]}} (cpu: process CPU time,
    all threads, which a busy machine inflates less than the wall clock)."""
    results = {}
    for r in runners:
        step = r.train_step if train else r.infer
        results[r.name] = {"first": clock(step)[0], "steps": [], "cpu": []}
        for _ in range(args.warmup):
            clock(step)
    for _ in range(args.repeats):
        for r in runners:
            cpu = time.process_time()
            seconds, _ = clock(r.train_step if train else r.infer)
            results[r.name]["steps"].append(seconds)
            results[r.name]["cpu"].append(time.process_time() - cpu)
    return results


def layer_times(runners, args, clock, train):
    """Per-layer times of numpynet (and PyTorch), one instrumented step each in turns."""
    net = runners[0].net
    times, torch_times = {}, {}
    step = runners[0].train_step if train else runners[0].infer
    for _ in range(args.repeats):
        with runners[0].layer_timers(clock, times):
            seconds, _ = clock(step)
        times.setdefault(("step", "total"), []).append(seconds)
        if len(runners) == 2:
            for key, t in runners[1].layer_times(clock, 1, [l.name for l in net.layers],
                                                 train).items():
                torch_times.setdefault(key, []).extend(t)
    return times, (torch_times or None)


def _status_bytes(field):
    """VmRSS, VmHWM, ... of this process from /proc/self/status, in bytes."""
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith(field + ":"):
                return int(line.split()[1]) * 1024
    raise OSError(f"no {field} in /proc/self/status")


def memory_child(args):
    """In a fresh process: build the model and the batch and note the resident memory
    ('before'); run one training step (it allocates the gradients, the optimiser's momentum and
    the layers' reusable memory, and loads the compiled kernels); then reset the kernel's
    resident-set high-water mark (VmHWM) and report it over two more steps ('peak': everything
    resident while training, from the interpreter to the activations). Prints one JSON line."""
    if args.framework == "torch":
        runner = TorchRunner(args, import_torch())
    else:
        set_threads(args.threads)
        runner = NumpynetRunner(args)
    gc.collect()
    before = _status_bytes("VmRSS")
    runner.train_step()
    try:
        with open("/proc/self/clear_refs", "w") as f:
            f.write("5")                                # reset VmHWM to the current RSS
    except OSError:
        pass                                            # then the peak includes step one
    for _ in range(2):
        runner.train_step()
    print(json.dumps({"before": before, "peak": _status_bytes("VmHWM")}))


def startup_child(args):
    """In a fresh process: import, build, one training step. Prints the seconds as JSON."""
    set_threads(args.threads)
    runner = NumpynetRunner(args)
    runner.train_step()
    print(json.dumps({"ok": True}))


def run_child(args, kind, framework="numpynet", batch=None, env=None):
    command = [sys.executable, "-m", "numpynet.bench", "--child", kind, "--framework", framework,
               "--batch", str(batch or args.batch), "--threads", str(args.threads),
               "--preset", args.preset, "--groups", str(args.groups)] + ["--small"] * args.small
    start = time.perf_counter()
    done = subprocess.run(command, capture_output=True, text=True,
                          env={**os.environ, RESTARTED: "1", **(env or {})})
    seconds = time.perf_counter() - start
    if done.returncode != 0:
        tail = done.stderr.strip().splitlines()[-1:] or ["(no output)"]
        raise RuntimeError(f"{kind} measurement for {framework} failed: {tail[0]}")
    return seconds, json.loads(done.stdout.strip().splitlines()[-1])


# --------------------------------------------------------------------------- report

def gb(n):
    return f"{n / 1e9:.2f} GB"


def header(args, peak):
    import numba
    lines = [
        f"numpynet benchmark, {datetime.datetime.now():%Y-%m-%d %H:%M}",
        f"machine: {openblas.cpu_name()}, {len(os.sched_getaffinity(0))} cores, "
        f"{platform.system()} {platform.release()}; Python {platform.python_version()}, "
        f"NumPy {np.__version__}, "
        f"Numba {numba.__version__}",
        f"BLAS: {openblas.info()['config']}",
        f"  {openblas.describe()}",
        f"threads: {args.threads} for BLAS, Numba ({numba.get_num_threads()} running, threading "
        f"layer {numba.config.THREADING_LAYER}) and PyTorch",
        f"network: AlexNet{' (--small: width 1/8)' if args.small else ''}, preset "
        f"{args.preset}, groups={args.groups}, batch {args.batch} x "
        f"{'x'.join(map(str, args.input_shape))} float32, device {args.device}",
        f"timing: median of {args.repeats} steps after the first and {args.warmup} warm-up "
        f"step(s); spread = min-max",
        f"matrix-product peak: {peak:.0f} GFLOP/s (float32 4096 x 4096 A @ B, this run)",
    ]
    return "\n".join(lines)


def overall_table(results, batch, flops, peak):
    """One line per framework: median, spread, images/s, GFLOP/s, % of the peak, CPU time."""
    lines = [f"  {'':<20}{'median':>9}{'spread':>17}{'img/s':>8}{'GFLOP/s':>9}{'% peak':>8}"
             f"{'CPU s':>7}"]
    for name, r in results.items():
        s = summary(r["steps"])
        gflops = flops / s["median"] / 1e9
        lines.append(f"  {name:<20}{s['median']:>8.3f}s{s['min']:>9.3f}-{s['max']:.3f}s"
                     f"{batch / s['median']:>8.1f}{gflops:>9.0f}{100 * gflops / peak:>7.0f}%"
                     f"{statistics.median(r['cpu']):>7.2f}")
    if len(results) == 2:
        (a, ra), (b, rb) = results.items()
        ratio = statistics.median(rb["steps"]) / statistics.median(ra["steps"])
        lines.append(f"  speed {a} / {b}: {ratio:.2f}x "
                     f"({'faster' if ratio >= 1 else 'slower'})")
    return "\n".join(lines)


def layer_table(net, times, flops, torch_times=None):
    """Per layer: forward, backward (ms, medians), share of the step, GFLOP/s, and PyTorch's.
    Shares are of the same instrumented steps (sum of the layer's times / sum of the steps'),
    so that a busy spell of the machine cannot push them past 100%."""
    def ms(key, source):
        return 1000 * statistics.median(source[key]) if key in source else 0.0

    steps = sum(times["step", "total"])

    def share(*keys):
        return 100 * sum(sum(times.get(key, [])) for key in keys) / steps

    head = f"  {'layer':<9}{'fwd ms':>9}{'bwd ms':>9}{'% step':>8}{'GFLOP/s':>9}"
    if torch_times:
        head += f" |{'torch fwd':>10}{'bwd':>9}{'speed':>7}"
    lines = [head]
    kinds = {}
    for layer in net.layers:
        keys = ((layer.name, "forward"), (layer.name, "backward"))
        f, b = ms(keys[0], times), ms(keys[1], times)
        total_flops = sum(flops[layer.name])
        gflops = f"{total_flops / ((f + b) / 1000) / 1e9:>9.0f}" if total_flops else " " * 9
        line = f"  {layer.name:<9}{f:>9.1f}{b:>9.1f}{share(*keys):>7.1f}%{gflops}"
        if torch_times:
            tf, tb = ms(keys[0], torch_times), ms(keys[1], torch_times)
            line += f" |{tf:>10.1f}{tb:>9.1f}{(tf + tb) / max(f + b, 1e-9):>6.2f}x"
        lines.append(line)
        kinds.setdefault(type(layer).__name__, []).extend(keys)
    per_step = len(times["step", "total"])
    lines.append("  by kind: " + ", ".join(
        f"{kind} {1000 * sum(sum(times.get(k, [])) for k in keys) / per_step:.0f} ms "
        f"({share(*keys):.1f}%)" for kind, keys in sorted(kinds.items(), key=lambda kv:
                                                           -share(*kv[1]))))
    outside = [("loss", ("loss", "forward"), ("loss", "backward")),
               ("SGD update", ("SGD update", "step"))]
    if ("loss", "forward") in times:
        layers = [key for keys in kinds.values() for key in keys]
        lines.append("  outside the layers: " + ", ".join(
            f"{name} {1000 * sum(sum(times.get(k, [])) for k in keys) / per_step:.0f} ms "
            f"({share(*keys):.1f}%)" for name, *keys in outside)
            + f", the rest {100 - share(*layers, *[k for _, *ks in outside for k in ks]):.1f}%")
    inside = [name for name in ("im2col", "col2im") if (name, "kernel") in times]
    if inside:
        lines.append("  inside Conv2D: " + ", ".join(
            f"{name} {1000 * sum(times[name, 'kernel']) / per_step:.0f} ms "
            f"({share((name, 'kernel')):.1f}%)" for name in inside))
    lines.append(f"  (instrumented steps: {1000 * steps / per_step:.0f} ms each on average; "
                 f"shares are of their total)")
    return "\n".join(lines)


# --------------------------------------------------------------------------- main

def report_speed(runners, args, clock, peak):
    """The training-step and inference tables (and per layer, unless --no-layers)."""
    net = runners[0].net
    for train in ([False] if args.eval else [True, False]):
        flops = network_flops(net, (args.batch, *args.input_shape), train=train)
        results = measure(runners, args, clock, train)
        print("\ntraining step (forward + loss + backward + SGD update):" if train
              else "\ninference (forward, train=False):")
        print(overall_table(results, args.batch, sum(f + b for f, b in flops.values()), peak))
        if train:
            step = statistics.median(results["numpynet"]["steps"])
            first = results["numpynet"]["first"]
            print(f"  numpynet's first step: {first:.2f} s (includes Numba compilation or "
                  f"cache loading: {first - step:.2f} s more than later steps)")
        if args.layers and (train or args.eval):
            times, torch_times = layer_times(runners, args, clock, train)
            print(f"\nper layer ({'training step' if train else 'inference'}, medians of "
                  f"{args.repeats}; % of numpynet's step; speed = PyTorch time / numpynet time):")
            print(layer_table(net, times, flops, torch_times))


def report_agreement(runners):
    """Both frameworks' inference logits on the same batch: the same network, computed twice."""
    ours = backend.to_numpy(runners[0].infer())
    theirs = runners[1].infer().cpu().numpy()
    err = float(np.abs(ours - theirs).max() / np.abs(theirs).max())
    print(f"\nsame network, same weights: inference logits of numpynet and PyTorch differ by "
          f"at most {err:.1e} of the largest")


def report_memory(args, frameworks):
    print("\npeak memory while training (a fresh process per framework; resident-set "
          "high-water mark over steps 2-3; 'step' = that peak minus the resident memory "
          "before the first step, which holds the imports, the weights and the batch):")
    if args.device == "gpu":
        print("  (measured on the CPU only: skipped)")
        return
    peaks = {}
    for fw in frameworks:
        _, m = run_child(args, "memory", fw)
        peaks[fw] = m["peak"]
        print(f"  {fw:<10} peak {gb(m['peak'])}   step {gb(m['peak'] - m['before'])}")
    if len(peaks) == 2:
        print(f"  numpynet / PyTorch peak: {peaks['numpynet'] / peaks['torch']:.2f}x")


def report_startup(args):
    print("\nstart-up: fresh process, import + build + first training step at batch 2:")
    with tempfile.TemporaryDirectory() as cache:
        env = {"NUMBA_CACHE_DIR": cache}
        cold, _ = run_child(args, "startup", batch=2, env=env)
        warm, _ = run_child(args, "startup", batch=2, env=env)
    print(f"  empty Numba cache (compiles every kernel): {cold:.1f} s; "
          f"with the cache it left: {warm:.1f} s")


def run(args):
    clock = Clock(args.device)
    if args.device == "gpu":
        try:
            backend.use("gpu")
        except RuntimeError as e:
            sys.exit(f"error: {e}")
    else:
        set_threads(args.threads)
    peak = matmul_peak(backend.xp_for(args.device), clock)
    print(header(args, peak), flush=True)

    runners = [NumpynetRunner(args)]
    if args.compare == "torch":
        torch = import_torch()
        if torch is None:
            print("\n--compare torch: PyTorch is not installed here; comparison skipped "
                  "(pip install torch)")
        else:
            runners.append(TorchRunner(args, torch, runners[0]))
    if len(runners) == 2:
        report_agreement(runners)                  # before either trains its copy
    report_speed(runners, args, clock, peak)
    if args.memory and not args.eval:
        report_memory(args, ["numpynet", "torch"][:len(runners)])
    if args.startup:
        report_startup(args)


def main(argv=None, restart=False):
    """Run the benchmark; `restart=True` (the command line) first re-runs the command with the
    thread and BLAS environment variables set, if they are not set already."""
    argv = sys.argv[1:] if argv is None else argv
    args = parse_args(argv)
    if args.child == "memory":
        return memory_child(args)
    if args.child == "startup":
        return startup_child(args)
    if restart:
        restart_if_needed(args, argv)
    run(args)


if __name__ == "__main__":
    main(restart=True)
