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
"""

import csv
import json
import signal
import sys
import time
from dataclasses import asdict, replace
from datetime import datetime
from pathlib import Path


from . import backend, checkpoint, openblas, settings, viz
from .data import BatchLoader, DatasetError
from .data.source import open_data
from .evaluate import evaluate
from .layers import SoftmaxCrossEntropy
from .metrics import ErrorMeter
from .models import alexnet
from .optim import SGD
from .parallel import mpi, training
from .schedule import LRSchedule
from .settings import RunSettings
from .step import train_step

METRIC_COLUMNS = ["epoch", "train_loss", "train_top1_err", "val_loss", "val_top1_err",
                  "val_top5_err", "lr", "seconds", "images_per_s"]


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


# --------------------------------------------------------------------------- the loop

class StopRequest:
    """Ctrl-C (SIGINT), SIGTERM or SIGUSR1 sets a flag that the loop checks between steps, so a
    checkpoint is never written from half-updated weights; a second one interrupts at once.
    (SIGUSR1 is what `mpirun` passes on to every rank without ending them.)"""

    SIGNALS = tuple(getattr(signal, name) for name in ("SIGINT", "SIGTERM", "SIGUSR1")
                    if hasattr(signal, name))

    def __init__(self):
        self.requested = False

    def __enter__(self):
        self.previous = {s: signal.signal(s, self._handle) for s in self.SIGNALS}
        return self

    def _handle(self, signum, frame):
        if self.requested:
            raise KeyboardInterrupt
        self.requested = True
        print(f"\n{signal.Signals(signum).name}: stopping after this step (again to abort "
              f"without saving)...", file=sys.stderr, flush=True)

    def __exit__(self, *exc):
        for s, handler in self.previous.items():
            signal.signal(s, handler)


class RunStopped(KeyboardInterrupt):
    """The run stopped on request, after saving its checkpoint (on every rank alike)."""


class TimeBudget:
    """--time-budget: wall time since the first training step of this invocation.

    `clock()` returns seconds (time.monotonic; tests pass a fake one). Without a budget
    (minutes None) it is never spent and has no fraction.
    """

    def __init__(self, minutes, clock=time.monotonic):
        self.seconds = None if minutes is None else 60 * minutes
        self.clock, self.started = clock, None

    def start(self):
        """Called before every step; the first call starts the clock."""
        if self.started is None:
            self.started = self.clock()

    def fraction(self):
        """Share of the budget spent, 0 before the first step (may pass 1)."""
        if self.started is None:
            return 0.0
        return (self.clock() - self.started) / self.seconds

    def spent(self):
        return self.seconds is not None and self.fraction() >= 1


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


class Run:
    """Everything one training run holds: data, network, optimiser, schedule, progress.

    `par` (parallel/training.py) says what changes when the run spans several processes:
    `self.net` is the one-process network (what checkpoints hold), `self.compute` the one the
    steps run on (the same, or this rank's tower of it).
    """

    def __init__(self, args, clock=time.monotonic, par=None):
        self.args, self.par = args, par or training.OneProcess()
        self.budget = TimeBudget(args.time_budget, clock)
        self.out = Path(args.out)
        if self.par.is_root:
            self.out.mkdir(parents=True, exist_ok=True)
        if args.problems():                         # parse_args has said so already
            raise ValueError(args.problems()[0])
        self.data = data = self.par.open_data(lambda: open_data(args))
        print(data.summary())
        m = args.model()
        self.model = dict(num_classes=data.num_classes, groups=m.groups, seed=args.seed,
                          preset=m.preset, init=m.init, width=m.width, input_size=m.crop,
                          dropout=m.dropout, pool_size=m.pool_size, lrn=m.lrn)
        self.net = alexnet(**self.model)
        self.net.to(args.device)
        self.compute = self.par.wrap(self.net)
        self.opt = SGD(self.compute, lr=args.lr, momentum=args.momentum,
                       weight_decay=args.weight_decay)
        self.schedule = LRSchedule(args.lr, args.lr_schedule, patience=args.lr_patience,
                                   steps=args.lr_steps)
        self.meter, self.epoch, self.start_batch = ErrorMeter(), 0, 0
        self.best_error = float("inf")            # lowest val top-1 error so far (best.npz)
        self.loss_fn = SoftmaxCrossEntropy()
        self.train_loader = BatchLoader(data.train, args.batch_size, train=True, seed=args.seed,
                                        crop=args.crop, pca_std=0 if args.no_pca else 0.1,
                                        device=args.device,
                                        rows=self.par.batch_rows(args.batch_size))
        if len(self.train_loader) == 0:
            raise DatasetError(f"{len(data.train.labels)} training images are fewer than one "
                               f"batch of {args.batch_size}: lower --batch-size")
        self.val_loader = (BatchLoader(self.par.val_split(data.val), args.batch_size,
                                       train=False, mean=data.mean, crop=args.crop,
                                       device=args.device)
                           if data.val is not None else None)
        if self.par.is_root:
            (self.out / "config.json").write_text(json.dumps(asdict(args), indent=2) + "\n")
        print("config  " + " ".join(f"--{k.replace('_', '-')}={settings.shown(v)}"
                                    for k, v in asdict(args).items()
                                    if v is not None and v is not False))
        if args.device == "cpu":
            print(openblas.describe())               # which matrix-product kernels run
        if self.par.world is not None:
            print(f"{self.par.describe()}; to stop all ranks cleanly: kill -USR1 <mpirun's pid>")

    def restore(self, path):
        """Continue from a checkpoint: weights, velocity, schedule, position, running metrics."""
        arrays, meta = checkpoint.load(path)
        checkpoint.restore_model(self.net, arrays, meta)
        self.net.to(self.args.device)
        self.par.restore(self.opt, {k: backend.to_device(v, self.args.device)
                                    for k, v in checkpoint.velocity(arrays).items()})
        state = meta["state"]
        self.epoch, self.start_batch = state["epoch"], state["next_batch"]
        self.schedule.load_state(state["schedule"])
        self.meter.load_state(state["meter"])
        self.best_error = state["best_error"]
        print(f"resuming {self.out} at epoch {self.epoch + 1}, batch {self.start_batch}")

    def save(self, name, next_batch=0):
        """Checkpoint `name` (last.npz / best.npz) at (self.epoch, next_batch)."""
        state = dict(epoch=self.epoch, next_batch=next_batch, schedule=self.schedule.state(),
                     meter=self.meter.state(), best_error=self.best_error)
        meta = dict(args=asdict(self.args), model=self.model, state=state, wnids=self.data.wnids,
                    names=self.data.names, crop=self.args.crop)
        optimizer = self.par.saved_optimizer(self.opt)     # all ranks: a model-parallel gather
        if self.par.is_root:
            checkpoint.save(self.out / name, self.net, meta, optimizer=optimizer,
                            mean=self.data.mean)

    def diverged(self, where, error):
        return TrainingDiverged(f"{where}: {error}\nthe last good checkpoint is "
                                f"{self.out / 'last.npz'}")

    def progress(self, b):
        """The share t in [0, 1] of the run done before step `b` of this epoch, for the lr
        schedule: of the time budget if there is one, else of all --epochs' steps."""
        if self.budget.seconds is not None:
            return self.par.shared(self.budget.fraction())       # rank 0's clock
        n = len(self.train_loader)
        return (self.epoch * n + b) / (self.args.epochs * n)

    def out_of_time(self):
        """Is the time budget spent? (By rank 0's clock, on every rank.)"""
        return self.par.agree(False, self.budget)[1]

    def train_epoch(self, stop, on_batch=None):
        """One epoch of SGD steps from self.start_batch, or fewer if the time budget runs out.
        Returns (seconds it took, index of the next batch: len(train_loader) when whole)."""
        from tqdm import tqdm
        args, net, loss_fn, meter, par = self.args, self.compute, self.loss_fn, self.meter, self.par
        self.opt.lr = self.schedule.lr
        if self.start_batch == 0:
            meter.reset()
        t0, first = time.time(), self.start_batch
        next_batch = first
        bar = tqdm(total=len(self.train_loader), initial=first, disable=args.no_progress,
                   desc=f"epoch {self.epoch + 1}/{args.epochs}", unit="batch", dynamic_ncols=True)
        with bar:
            for b, (x, y) in enumerate(self.train_loader.epoch(self.epoch, first), start=first):
                self.budget.start()
                self.opt.lr = self.schedule.at(self.progress(b))
                par.begin_step(args.batch_size)          # x, y: this rank's rows of the batch
                try:
                    loss, _ = train_step(net, loss_fn, self.opt, backend.to_device(x),
                                         backend.to_device(y), backward=par.backward)
                except ValueError as e:                  # the loss is NaN or infinite
                    raise self.diverged(f"epoch {self.epoch + 1}, batch {b}", e) from None
                loss = par.count(meter, backend.to_numpy(loss_fn.probs), y, loss)
                par.after_step(self.epoch * len(self.train_loader) + b + 1)
                rate = (b + 1 - first) * args.batch_size / (time.time() - t0)
                bar.set_postfix(loss=f"{meter.loss():.3f}", top1=f"{100 * meter.error(1):.1f}%",
                                img_s=f"{rate:.1f}")
                bar.update()
                if on_batch is not None:
                    on_batch(self.epoch, b, loss)
                stop_now, out_of_time = par.agree(stop.requested, self.budget)
                if stop_now:
                    bar.close()
                    self.save("last.npz", next_batch=b + 1)
                    print(f"saved {self.out / 'last.npz'}; continue with: "
                          f"python -m numpynet.train --resume {self.out}")
                    raise RunStopped
                next_batch = b + 1
                if out_of_time:
                    break
        return time.time() - t0, next_batch

    def finish_epoch(self, seconds, next_batch):
        """Validate, step the lr schedule, write checkpoints, metrics and plots. An epoch cut
        short by the time budget (next_batch < batches per epoch) gets a fractional epoch in its
        row and leaves the schedule as it is; its checkpoints resume at next_batch."""
        args, batches = self.args, len(self.train_loader)
        whole = next_batch == batches
        try:
            val = (self.par.total(evaluate(self.compute, self.val_loader, self.loss_fn,
                                           not args.no_progress))
                   if self.val_loader else None)
        except ValueError as e:
            raise self.diverged(f"validation after epoch {self.epoch + 1}", e) from None
        steps = next_batch - self.start_batch
        epoch = self.epoch + 1 if whole else self.epoch + next_batch / batches   # 2.5: half of 3
        row = dict(epoch=epoch, train_loss=self.meter.loss(),
                   train_top1_err=self.meter.error(1), val_loss=val.loss() if val else "",
                   val_top1_err=val.error(1) if val else "",
                   val_top5_err=val.error(5) if val else "", lr=self.opt.lr, seconds=seconds,
                   images_per_s=steps * args.batch_size / seconds)
        is_best = val is not None and val.error(1) < self.best_error
        if is_best:
            self.best_error = val.error(1)
        note = "" if whole else f" (partial: time budget spent after batch {next_batch}/{batches})"
        if whole:
            self.schedule.end_of_epoch(self.epoch, val.error(1) if val else None)
            self.epoch, next_batch = self.epoch + 1, 0
        self.start_batch = next_batch
        self.save("last.npz", next_batch)
        if is_best:
            self.save("best.npz", next_batch)
        if self.par.is_root:
            write_epoch(self.out, row, self.net, note)


class TrainingDiverged(RuntimeError):
    pass


def write_epoch(out, row, net, note=""):
    """Append the epoch's row to metrics.csv, print it, refresh curves.png and filters.png."""
    path = out / "metrics.csv"
    new = not path.exists()
    with open(path, "a", newline="") as f:
        writer = csv.DictWriter(f, METRIC_COLUMNS)
        if new:
            writer.writeheader()
        writer.writerow({k: (f"{v:.6g}" if isinstance(v, float) else v) for k, v in row.items()})
    val = (f"val loss {row['val_loss']:.3f}, top-1 err {100 * row['val_top1_err']:.1f}%, "
           f"top-5 err {100 * row['val_top5_err']:.1f}%" if row["val_loss"] != "" else "no val")
    print(f"epoch {row['epoch']:g}{note}: train loss {row['train_loss']:.3f}, top-1 err "
          f"{100 * row['train_top1_err']:.1f}%; {val}; lr {row['lr']:g}; {row['seconds']:.0f}s "
          f"({row['images_per_s']:.1f} img/s)", flush=True)
    viz.save(viz.plot_curves(path, title=str(out)), out / "curves.png")
    W, groups = backend.to_numpy(net["conv1"].params["W"]), net["conv2"].groups
    per = len(W) // groups                        # kernels per group: 48 at full width
    viz.save(viz.plot_filters(W, 12 if per % 12 == 0 else per, groups=groups,
                              title=f"conv1 after epoch {row['epoch']:g}"), out / "filters.png")


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
