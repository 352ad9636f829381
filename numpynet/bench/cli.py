"""The command line: flags, the restart with the thread settings, and the order of the reports.

Threads: `--threads N` (default: all cores) is given to BLAS, Numba and PyTorch alike. BLAS and
OpenMP read their settings when they load, before this module runs, so the benchmark restarts
itself once with OPENBLAS_NUM_THREADS, OMP_NUM_THREADS, MKL_NUM_THREADS and NUMBA_NUM_THREADS
set (and NUMPYNET_BENCH_RESTARTED=1, so that it does not restart again). `--blas-core NAME`
restarts with OPENBLAS_CORETYPE=NAME as well (numpynet/openblas.py says more).
"""

import argparse
import os
import sys

from .. import __version__, backend, config
from ..models import INPUT_SHAPE
from ..settings import COUNT, NON_NEGATIVE_INT, ModelSettings, SessionSettings, add_flags, number
from .children import RESTARTED, memory_child, startup_child
from .ranks import ranks_child, report_ranks
from .report import header, report_agreement, report_memory, report_speed, report_startup
from .runners import THREAD_VARIABLES, NumpynetRunner, set_threads
from .timing import Clock, matmul_peak
from .torch_runner import TorchRunner, import_torch


def parse_args(argv=None):
    p = argparse.ArgumentParser(prog="python -m numpynet.bench",
                                description="Time AlexNet's training step and inference.")
    p.add_argument("--version", action="version", version=f"numpynet {__version__}")
    p.add_argument("--batch", type=COUNT, default=128, help="images per step (default: 128)")
    p.add_argument("--repeats", type=COUNT, default=5, help="timed steps (default: 5)")
    p.add_argument("--warmup", type=NON_NEGATIVE_INT, default=1,
                   help="untimed steps after the first one (default: 1)")
    p.add_argument("--threads", type=COUNT, default=None,
                   help="threads for BLAS, Numba and PyTorch (default: all cores)")
    # help set afterwards: Python 3.10's BooleanOptionalAction would add "(default: True)"
    p.add_argument("--layers", action=argparse.BooleanOptionalAction,
                   default=True).help = "per-layer table (default: on)"
    p.add_argument("--eval", action="store_true",
                   help="inference only (forward with train=False), no training step")
    p.add_argument("--compare", choices=["torch", "none"], default="none",
                   help="also run the same network in PyTorch, in the same process "
                        "(default: none)")
    add_flags(p, SessionSettings, only=("device",))
    add_flags(p, ModelSettings, only=("preset", "groups"))
    p.add_argument("--small", action="store_true",
                   help="a narrow AlexNet (width 1/8) on 67x67 inputs: for tests, not timing")
    p.add_argument("--memory", action=argparse.BooleanOptionalAction, default=True).help = \
        "peak memory of a training step, per framework, in a fresh process (default: on)"
    p.add_argument("--startup", action="store_true",
                   help="time import + first step with a cold and a warm Numba cache")
    p.add_argument("--blas-core", default="keep",
                   help="OpenBLAS's kernels: keep (the environment's choice) or an "
                        "OPENBLAS_CORETYPE name, e.g. SkylakeX or Haswell (default: keep)")
    p.add_argument("--ranks", type=number(int, "a whole number >= 2", lambda v: v >= 2),
                   metavar="P",
                   help="instead: the step on 1 process vs P MPI ranks (data and model "
                        "parallel) on the same --threads, and a cost model, bench/ranks.py "
                        "(default: not run)")
    p.add_argument("--child", choices=["memory", "startup", "ranks"], help=argparse.SUPPRESS)
    p.add_argument("--mode", choices=["one", "data", "model"], help=argparse.SUPPRESS)
    p.add_argument("--no-overlap", dest="overlap", action="store_false", help=argparse.SUPPRESS)
    p.add_argument("--framework", choices=["numpynet", "torch"], default="numpynet",
                   help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    if args.ranks is not None and args.ranks > args.batch:
        p.error(f"--ranks must be at most --batch ({args.batch}), got {args.ranks}")
    if args.ranks is not None and args.device != "cpu":
        p.error("--ranks measures CPU processes: drop --device gpu")
    args.threads = args.threads or len(os.sched_getaffinity(0))
    args.input_shape = (3, 67, 67) if args.small else INPUT_SHAPE
    return args


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
    if config.get(RESTARTED):
        return
    env = restart_environment(args)
    if env is None:
        return
    os.environ.update(env, **{RESTARTED: "1"})
    sys.stdout.flush()
    os.execv(sys.executable, [sys.executable, "-m", "numpynet.bench", *argv])


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
    if args.ranks:
        report_ranks(args)
        return

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
    if args.child == "ranks":
        return ranks_child(args)
    if restart:
        restart_if_needed(args, argv)
    run(args)


def command(argv=None):
    """The command line (`python -m numpynet.bench`, `numpynet-bench`): main with the restart."""
    return main(argv, restart=True)
