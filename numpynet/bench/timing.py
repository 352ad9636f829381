"""Timing: a clock that waits for the GPU, medians and spreads, the machine's matrix-product
peak, and the measured steps (whole steps in turns between the frameworks; steps per layer)."""

import statistics
import time

import numpy as np


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
    """Per-layer times of numpynet (wall clock and process CPU time) and PyTorch's, one
    instrumented step each in turns. Returns (times, cpu, torch_times or None)."""
    net = runners[0].net
    times, cpu, torch_times = {}, {}, {}
    step = runners[0].train_step if train else runners[0].infer
    for _ in range(args.repeats):
        with runners[0].layer_timers(clock, times, cpu):
            seconds, _ = clock(step)
        times.setdefault(("step", "total"), []).append(seconds)
        if len(runners) == 2:
            for key, t in runners[1].layer_times(clock, 1, [l.name for l in net.layers],
                                                 train).items():
                torch_times.setdefault(key, []).extend(t)
    return times, cpu, (torch_times or None)
