"""What the benchmark prints: the header (machine, BLAS, threads, network), the step tables,
the per-layer table, the agreement of the two frameworks, memory and start-up."""

import datetime
import os
import platform
import statistics
import tempfile

import numpy as np

from .. import backend, costs, openblas
from .children import run_child
from .timing import layer_times, measure, summary


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


def layer_times_table(net, times, flops, torch_times=None, cpu=None, peak=None):
    """Per layer: forward, backward (ms, medians), share of the step, GFLOP/s, the process CPU
    time of forward + backward and how many cores that kept busy (CPU / wall: 2 on 2 cores is
    every thread working or spinning, 1 a single thread, or threads waiting on each other), and
    PyTorch's times. Shares are of the same instrumented steps (sum of the layer's times / sum
    of the steps'), so that a busy spell of the machine cannot push them past 100%."""
    def ms(key, source):
        return 1000 * statistics.median(source[key]) if key in source else 0.0

    steps = sum(times["step", "total"])
    cpu = cpu or {}

    def share(*keys):
        return 100 * sum(sum(times.get(key, [])) for key in keys) / steps

    def cores(*keys):
        wall = sum(sum(times.get(key, [])) for key in keys)
        return sum(sum(cpu.get(key, [])) for key in keys) / wall if wall else 0.0

    head = f"  {'layer':<9}{'fwd ms':>9}{'bwd ms':>9}{'% step':>8}{'GFLOP/s':>9}"
    if cpu:
        head += f"{'CPU ms':>9}{'cores':>7}"
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
        if cpu:
            line += f"{ms(keys[0], cpu) + ms(keys[1], cpu):>9.1f}{cores(*keys):>7.2f}"
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
    inside = [name for name in ("im2col", "col2im", "Winograd transforms", "layout moves")
              if (name, "kernel") in times]
    if inside:
        lines.append("  inside Conv2D: " + ", ".join(
            f"{name} {1000 * sum(times[name, 'kernel']) / per_step:.0f} ms "
            f"({share((name, 'kernel')):.1f}%"
            + (f", {cores((name, 'kernel')):.2f} cores)" if cpu else ")") for name in inside))
        lines.append(products_line(net, times, flops, peak, inside))
    if ("Winograd transforms", "kernel") in times:
        lines.append("  (3x3 layers by Winograd's F(2x2, 3x3): their GFLOP/s count the direct "
                     "convolution's multiply-adds, 2.25x the ones done)")
    lines.append(f"  (instrumented steps: {1000 * steps / per_step:.0f} ms each on average; "
                 f"shares are of their total)")
    return "\n".join(lines)


def products_line(net, times, flops, peak, inside):
    """The matrix products: Conv2D's time less the kernels timed inside it (`inside`; what is
    left is its BLAS products, and small NumPy sums such as the bias gradient), plus the Linear
    layers'. Their share of the step and their rate: the step's % of peak is the one times
    the other (over the peak), so this line says which of the two holds a step back."""
    layers = [layer.name for layer in net.layers if type(layer).__name__ in ("Conv2D", "Linear")]
    total = (sum(sum(times.get((name, d), [])) for name in layers for d in ("forward", "backward"))
             - sum(sum(times[name, "kernel"]) for name in inside))       # over all the steps
    steps = times["step", "total"]
    gflops = sum(sum(flops[name]) for name in layers) * len(steps) / total / 1e9
    line = (f"  matrix products (Conv2D less the kernels above, and Linear): "
            f"{1000 * total / len(steps):.0f} ms ({100 * total / sum(steps):.1f}%) "
            f"at {gflops:.0f} GFLOP/s")
    return line + (f", {100 * gflops / peak:.0f}% of the peak" if peak else "")


def report_speed(runners, args, clock, peak):
    """The training-step and inference tables (and per layer, unless --no-layers)."""
    net = runners[0].net
    for train in ([False] if args.eval else [True, False]):
        flops = costs.step_flops(net, args.input_shape, args.batch, train=train)
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
            times, cpu, torch_times = layer_times(runners, args, clock, train)
            print(f"\nper layer ({'training step' if train else 'inference'}, medians of "
                  f"{args.repeats}; % of numpynet's step; CPU ms = process CPU time of fwd + "
                  f"bwd, cores = CPU / wall; speed = PyTorch time / numpynet time):")
            print(layer_times_table(net, times, flops, torch_times, cpu, peak))


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
