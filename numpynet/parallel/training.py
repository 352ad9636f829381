"""How one training run spreads over processes: one process, data-parallel ranks, or the
paper's two towers. numpynet/train.py writes its loop once; at the few points where more
processes change what happens, it asks the run's parallelism, one of the three classes below
(`for_run(args, world)` picks it):

    in the loop             OneProcess         DataParallelRun (P ranks)   ModelParallelRun (2)
    open the data           build/open cache   rank 0 first, then the others (after a barrier)
    the computing network   net                net (dropout sliced)         this rank's tower
    a step's images         the whole batch    rows [lo, hi) of it          the whole batch
    backward (train_step)   net.backward       + gradients allreduced       exchanges inside
    loss, top-k counts      this process's     summed over ranks            the same on both
    stop, budget spent      this process's     any rank's stop; rank 0's clock for the budget
    evaluation              whole val set      a shard per rank, summed     whole set on both
    before a checkpoint     -                  -                            towers -> net (rank 0)
    after a resume          -                  rank 0's weights broadcast   net -> the towers
    writes, bars, prints    this process       rank 0 only                  rank 0 only

A data-parallel run takes exactly the one-process run's steps (docs/PARALLEL.md says why), and
a model-parallel run computes exactly the one-process `groups=2` network: both write ordinary
one-process checkpoints, so any run resumes, evaluates or predicts from any other's.
"""

import contextlib
import os
import sys
from types import SimpleNamespace

import numpy as np

from ..layers import BatchNorm2D
from ..metrics import ErrorMeter
from . import model_parallel
from .data_parallel import DataParallel, reduce_counts, shard_bounds


def for_run(args, world):
    """The parallelism of a run with train's `args` over `world` (None: one process)."""
    if world is None:
        if args.model_parallel:
            raise ValueError("--model-parallel needs two MPI ranks: start it with "
                             "mpirun -n 2 python -m numpynet.train --model-parallel ...")
        return OneProcess()
    if args.device != "cpu":
        raise ValueError(f"--device {args.device}: distributed training runs on the CPU (MPI "
                         f"here sends NumPy buffers); drop --device or run one process")
    if args.model_parallel:
        return ModelParallelRun(world, args)
    return DataParallelRun(world, overlap=args.overlap, check_every=args.check_weights_every)


class OneProcess:
    """A plain run: every hook does the obvious one-process thing."""

    world, is_root, size = None, True, 1

    def describe(self):
        return "one process"

    def shared(self, value):
        """Rank 0's `value` on every process (a small Python object)."""
        return value

    def quiet(self):
        """A context in which this process prints nothing (all but rank 0)."""
        return contextlib.nullcontext()

    def open_data(self, open_data):
        """`open_data()` (which may build the cache), in the order the processes need."""
        return open_data()

    def wrap(self, net):
        """The network the steps run on, made from the one-process `net` (after `net.to`)."""
        self.net = net
        return net

    def batch_rows(self, batch_size):
        """The rows of every training batch this process computes: (lo, hi) or None (all)."""
        return None

    def begin_step(self, batch_size):
        pass

    # stage 3 of numpynet.step.train_step on this process: None, its own net.backward
    backward = None

    def count(self, meter, probs, labels, loss):
        """Add a step's results to the running `meter`; -> the mean loss of the whole batch."""
        meter.update(probs, labels, loss)
        return loss

    def after_step(self, step):
        pass

    def agree(self, stop_requested, budget):
        """-> (stop now, time budget spent), the same on every process."""
        return stop_requested, budget.spent()

    def val_split(self, split):
        """The part of the validation set this process evaluates."""
        return split

    def total(self, meter):
        """The evaluation meter of the whole validation set."""
        return meter

    def restore(self, optimizer, velocity):
        """After `checkpoint.restore_model(net, ...)`: the momentum buffers, and whatever the
        processes must share."""
        optimizer.velocity = velocity

    def saved_optimizer(self, optimizer):
        """Collective. The optimizer over the one-process net, for the checkpoint (rank 0)."""
        return optimizer


@contextlib.contextmanager
def _silenced():
    with open(os.devnull, "w") as devnull, contextlib.redirect_stdout(devnull):
        yield


class Distributed(OneProcess):
    """What every multi-process run shares: rank 0 opens the data first, and the ranks agree
    on when to stop."""

    def __init__(self, world):
        self.world, self.is_root, self.size = world, world.is_root, world.size

    def open_data(self, open_data):
        """Rank 0 builds the cache (or the demo set) first; the others then open what it made,
        so two builds never race."""
        data = open_data() if self.is_root else None
        self.world.barrier()
        return data if self.is_root else open_data()

    def agree(self, stop_requested, budget):
        """Ctrl-C / SIGTERM on any rank stops all at this step; rank 0's clock says when the
        time budget is spent (one Allreduce of two numbers per step)."""
        flags = np.array([bool(stop_requested), self.is_root and budget.spent()], np.float64)
        self.world.Allreduce_sum(flags)           # [ranks asking to stop, rank 0's budget]
        return bool(flags[0]), bool(flags[1])

    def shared(self, value):
        return self.world.bcast(value)

    def quiet(self):
        return contextlib.nullcontext() if self.is_root else _silenced()


class DataParallelRun(Distributed):
    """Every rank the whole network and its rows of each global batch (parallel/data_parallel)."""

    def __init__(self, world, overlap=True, check_every=100):
        super().__init__(world)
        self.overlap, self.check_every = overlap, check_every

    def describe(self):
        return (f"data parallel over {self.size} ranks (gradients allreduced "
                f"{'during backward' if self.overlap else 'after backward'})")

    def wrap(self, net):
        if self.is_root and any(isinstance(layer, BatchNorm2D) for layer in net.layers):
            print("note: BatchNorm normalises with each rank's own images, so this run does "
                  "not take the one-process run's steps exactly", file=sys.stderr)
        self.net = net
        self.dp = DataParallel(net, self.world, overlap=self.overlap,
                               check_every=self.check_every)
        self.dp.broadcast_parameters()
        return net

    def batch_rows(self, batch_size):
        if batch_size < self.size:
            raise ValueError(f"--batch-size {batch_size} cannot be split over {self.size} "
                             f"ranks; use at least {self.size}")
        return shard_bounds(batch_size, self.world.rank, self.size)

    def begin_step(self, batch_size):
        self.dp.begin_step(batch_size)

    def backward(self, dlogits):
        """train_step's backward: this rank's rows, then the gradients summed over ranks."""
        self.dp.backward(dlogits)

    def count(self, meter, probs, labels, loss):
        mine = ErrorMeter(meter.ks)
        mine.update(probs, labels, loss)
        totals = reduce_counts(self.world, mine.counts())
        meter.add(totals)
        return totals["loss_sum"] / totals["n"]

    def after_step(self, step):
        self.dp.after_step(step)

    def val_split(self, split):
        lo, hi = shard_bounds(len(split.labels), self.world.rank, self.size)
        return SimpleNamespace(images=split.images[lo:hi], labels=split.labels[lo:hi])

    def total(self, meter):
        whole = ErrorMeter(meter.ks)
        whole.add(reduce_counts(self.world, meter.counts()))
        return whole

    def restore(self, optimizer, velocity):
        optimizer.velocity = velocity
        self.dp.broadcast_parameters()
        self.dp.broadcast_velocity(optimizer)


class ModelParallelRun(Distributed):
    """The paper's two GPUs as two ranks, one tower each (parallel/model_parallel.py). Both
    compute on the whole batch and hold the whole logits, so what they count is the same."""

    def __init__(self, world, args):
        if args.groups != 2:
            raise ValueError("--model-parallel splits the paper's two towers: use --groups 2")
        if world.size != model_parallel.TOWERS:
            raise ValueError(f"--model-parallel runs the paper's two towers on exactly 2 ranks "
                             f"(mpirun -n 2), got {world.size}")
        super().__init__(world)

    def describe(self):
        return "model parallel: the paper's two towers, one per rank"

    def wrap(self, net):
        self.net, self.tower = net, model_parallel.tower(net, self.world)
        return self.tower

    def restore(self, optimizer, velocity):
        model_parallel.scatter_from(self.net, self.tower, self.world, optimizer, velocity)

    def saved_optimizer(self, optimizer):
        return model_parallel.gather_to_root(self.net, self.tower, self.world, optimizer)
