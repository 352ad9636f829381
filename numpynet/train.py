"""Train AlexNet on an ImageNet subset:  python -m numpynet.train --subset 100

The paper's recipe by default (section 5): SGD with batch 128, momentum 0.9, weight decay 5e-4,
learning rate 0.01 divided by 10 whenever the validation error stops improving, 90 epochs;
random 227x227 crops, horizontal flips and PCA colour noise (section 4.1).

Everything a run writes goes to --out (default runs/<date-time>):
    config.json    the effective settings          metrics.csv   one row per epoch
    curves.png     loss and error curves           filters.png   conv1's kernels (figure 3)
    last.npz       checkpoint after every epoch    best.npz      lowest validation top-1 error
`--resume runs/<name>` continues exactly where it stopped (weights, momentum, lr schedule, epoch
and batch, RNG states); Ctrl-C saves a checkpoint first. Without ImageNet at --data, a generated
demo dataset in the same on-disk layout is used, and the run says so.

`--time-budget MINUTES` stops training once that much wall time has passed since the run's first
training step (validation between epochs counts; data decoding before it does not), checked after
every batch; then it validates and writes the checkpoints and a metrics row as after an epoch. A
partial epoch's row has a fractional epoch (2.5: half of epoch 3). The budget belongs to one
invocation: `--resume RUN --time-budget 5` trains 5 more minutes, `--resume RUN` alone until
--epochs. `--lr-schedule cosine` decays the lr to 0 over the budget (by time spent, so it restarts
from --lr over a resumed run's new budget), or without one over all --epochs (by steps, so a
resume continues it exactly).

On several processes, through MPI (numpynet/parallel/, docs/PARALLEL.md):
    mpirun -n P python -m numpynet.train ...                    data parallel: the same steps
    mpirun -n 2 python -m numpynet.train --model-parallel ...   the paper's two towers
Only rank 0 writes and prints. SIGINT, SIGTERM or SIGUSR1 to any rank stops all of them cleanly
at the same step, with a checkpoint; `kill -USR1 <mpirun's pid>` reaches every rank (Ctrl-C on
mpirun itself makes Open MPI kill the ranks at once: the last epoch's checkpoint remains).

The code: this file is the command line (`parse_args`; every flag is declared once, in
numpynet/settings.py) and the loop over epochs (`train`); one run's steps, validation and
checkpoints are numpynet/run/loop.py, stopping is run/stop.py, its records run/records.py.
"""

import sys
import time
from dataclasses import replace
from datetime import datetime
from pathlib import Path

from . import backend, checkpoint, settings
from .data import DatasetError
from .parallel import mpi, training
from .run import Run, RunStopped, StopRequest, TrainingDiverged
from .settings import RunSettings


def parse_args(argv=None):
    """-> RunSettings (numpynet/settings.py): the defaults, or with --resume the saved run's,
    replaced by the flags given. Every value is checked here: a bad one is an argparse error
    (exit status 2) that names its flag."""
    p = settings.parser_for("python -m numpynet.train", __doc__.split("\n")[0], defaults=False)
    given = vars(p.parse_args(argv))                      # only the flags on the command line
    if "resume" not in given:
        run = RunSettings(**given)
    else:
        try:
            _, meta = checkpoint.load(Path(given["resume"]) / "last.npz")
        except (FileNotFoundError, ValueError) as e:
            p.error(f"--resume: {e}")
        if changed := settings.changed_model(meta["args"], given):
            p.error(f"{', '.join(changed)}: a resumed run keeps the network its checkpoint "
                    f"was trained as; leave {'them' if len(changed) > 1 else 'it'} out")
        if "out" in given and Path(given["out"]) != Path(given["resume"]):
            p.error("--out: a resumed run writes into its own folder (--resume RUN)")
        run = settings.resumed(meta["args"], given)
    for problem in run.problems():
        p.error(problem)
    return run


def train(args, on_batch=None, clock=time.monotonic, world=None):
    """Run (or resume) training as `args` (RunSettings, from parse_args) says; returns the run
    folder.

    `on_batch(epoch, batch, loss)` is called after every step (tests use it to interrupt);
    `clock()` gives the seconds that --time-budget counts (tests pass a fake one); `world`
    (parallel.mpi.World, or None for one process) is the MPI run this process belongs to.
    """
    if args.device == "gpu":
        backend.use("gpu")
    par = training.for_run(args, world)
    out = par.shared(args.out or str(Path("runs") / datetime.now().strftime("%Y%m%d-%H%M%S")))
    args = replace(args, out=str(out), no_progress=args.no_progress or not par.is_root)
    with par.quiet():                           # rank 0 alone draws progress bars and prints
        run = Run(args, clock, par)
        if args.resume:
            run.restore(Path(args.resume) / "last.npz")
        with StopRequest() as stop:
            while run.epoch < args.epochs and not run.out_of_time():
                seconds, next_batch = run.train_epoch(stop, on_batch)
                run.finish_epoch(seconds, next_batch)
        if run.out_of_time():
            print(f"time budget of {args.time_budget:g} min spent; train longer with: "
                  f"python -m numpynet.train --resume {run.out} --time-budget MINUTES")
    return run.out


def main(argv=None):
    args = parse_args(argv)
    try:
        world = mpi.init(distributed=args.distributed or args.model_parallel)
    except mpi.MPIUnavailable as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    try:
        out = train(args, world=world)
    except (DatasetError, FileNotFoundError, TrainingDiverged, RuntimeError, ValueError) as e:
        return fail(world, e, 1 if isinstance(e, TrainingDiverged) else 2)
    except RunStopped:
        return 130                              # every rank stopped here, checkpoint written
    except KeyboardInterrupt:
        return fail(world, "interrupted", 130)
    if world is None or world.is_root:
        print(f"done: {out}")
    return 0


def fail(world, error, code):
    """Say what went wrong and return the exit code; on one rank of several, end them all
    (MPI_Abort): the others would wait for this one for ever."""
    if world is not None and world.size > 1:
        world.abort(str(error), code)
    print(f"error: {error}", file=sys.stderr)
    return code


if __name__ == "__main__":
    sys.exit(main())
