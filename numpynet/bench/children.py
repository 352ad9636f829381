"""Measurements that need a fresh process: peak memory of a training step, and start-up time.

The parent runs `python -m numpynet.bench --child memory|startup ...` (`run_child`), which
prints one JSON line; NUMPYNET_BENCH_RESTARTED=1 in the child's environment keeps it from
restarting itself (numpynet/bench/cli.py).
"""

import gc
import json
import os
import subprocess
import sys
import time

from .runners import NumpynetRunner, set_threads
from .torch_runner import TorchRunner, import_torch

RESTARTED = "NUMPYNET_BENCH_RESTARTED"          # set in the restarted process (no second restart)


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
    """In a fresh process: build the network and take one training step, then print
    {"ok": true} as a JSON line. The child measures nothing itself: the parent (`run_child`)
    times the whole process from outside, so the seconds include the interpreter's start, the
    imports and Numba's compilation or cache loading."""
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
