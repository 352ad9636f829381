"""One training run: its data, network, optimiser and lr schedule, its epochs of steps
(`train_step`, numpynet/step.py), the validation after each, and its checkpoints."""

import time
from dataclasses import asdict
from pathlib import Path

from .. import backend, checkpoint, openblas
from ..data import BatchLoader, DatasetError
from ..data.source import open_data
from ..evaluate import evaluate
from ..layers import SoftmaxCrossEntropy
from ..metrics import ErrorMeter
from ..models import alexnet
from ..optim import SGD
from ..parallel import training
from ..schedule import LRSchedule
from ..step import train_step
from .records import config_line, write_config, write_epoch
from .stop import RunStopped, TimeBudget


class TrainingDiverged(RuntimeError):
    """The loss became NaN or infinite; the message names the last good checkpoint."""


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
            write_config(self.out, args)
        print(config_line(args))
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
