"""Data parallelism: every rank holds the whole network and computes on its part of the batch.

One SGD step on P ranks, with the global batch of B images the one-process run would take:

    rank r takes images [lo_r, hi_r) of the batch            (contiguous; sizes differ by <= 1)
    forward, loss L_r = mean over its n_r images, backward of (n_r / B) * L_r
    g = sum over ranks of the P gradients                     (Allreduce, in place)
    every rank applies the same SGD step with g

Since L = (1/B) sum_images l = sum_r (n_r / B) L_r, the summed gradient is exactly the gradient
of the one-process loss over the B images: only the order of the float32 additions differs, so
the runs agree to rounding. (SoftmaxCrossEntropy divides dL/dlogits by the local batch size
n_r; `backward` multiplies by n_r / B.) Every rank then holds bit-identical weights: they start
equal (`broadcast_parameters` from rank 0) and all add the same reduced gradient.

The gradients travel in buckets, flat buffers of about `bucket_mb` MB that hold the gradients
of a few consecutive layers (last layers first: they finish backward first). With `overlap`,
a bucket's Iallreduce starts as soon as backward is done with its layers, while the earlier
layers still compute (the scheme of PyTorch's DistributedDataParallel and of Horovod), and
`backward` waits for all of them before returning. After the first step each layer's grads
are views into its bucket, so backward writes dL/dW straight into the buffer that is sent.

Dropout masks are drawn for the whole batch and sliced (parallel/dropout.py), so the masks,
too, equal the one-process run's. BatchNorm (the "batchnorm" preset) normalises with the
statistics of the rank's own images, as DistributedDataParallel does without SyncBatchNorm:
that run does not equal the one-process one, and its running averages are rank 0's.
"""

import numpy as np

from ..layers import Dropout
from .dropout import SlicedDropout


class WeightsOutOfSync(RuntimeError):
    """The ranks of a data-parallel run no longer hold identical weights."""


def shard_bounds(n, rank, size):
    """[lo, hi) of rank's part of n items: contiguous, the first n % size ranks one larger."""
    if size < 1 or not 0 <= rank < size:
        raise ValueError(f"shard_bounds: rank {rank} of {size} ranks")
    q, extra = divmod(n, size)
    lo = rank * q + min(rank, extra)
    return lo, lo + q + (rank < extra)


def shard(global_batch_indices, rank, size):
    """Rank's contiguous part of the indices of the global batch (see shard_bounds)."""
    lo, hi = shard_bounds(len(global_batch_indices), rank, size)
    return global_batch_indices[lo:hi]


def reduce_counts(world, counts):
    """{name: number} summed over ranks (top-1 / top-5 correct, loss sums, n, ...), every rank
    gets the totals, as floats (exact for counts below 2^53)."""
    names = sorted(counts)
    totals = np.array([float(counts[k]) for k in names], dtype=np.float64)
    world.Allreduce_sum(totals)
    return dict(zip(names, totals.tolist()))


class _Bucket:
    """A flat buffer holding the gradients of some consecutive layers."""

    def __init__(self, entries, dtype):
        self.entries = entries                 # [(layer, name, offset, shape)]
        size = sum(int(np.prod(shape)) for _, _, _, shape in entries)
        self.buffer = np.zeros(size, dtype=dtype)

    def view(self, offset, shape):
        return self.buffer[offset:offset + int(np.prod(shape))].reshape(shape)

    def pack(self):
        """Make every gradient of the bucket live in the buffer (a copy only where backward
        wrote it elsewhere, e.g. the biases' fresh sums)."""
        for layer, name, offset, shape in self.entries:
            view, grad = self.view(offset, shape), layer.grads.get(name)
            if grad is None:
                raise ValueError(f"DataParallel: no gradient for {layer.name}.{name} after "
                                 f"backward")
            if grad is not view:
                view[...] = grad
                layer.grads[name] = view


class DataParallel:
    """Wraps a Sequential `net` for data-parallel training over `world` (parallel.mpi.World).

    Per step:  part = dp.begin_step(B); forward/loss on images [part] of the global batch;
               dp.backward(dlogits); optimizer.step(); loss = dp.mean_loss(local_loss)
    (docs/PARALLEL.md has the whole loop). Wrap the network after `astype` / `to`: the buckets
    take the parameters' dtype. The network's Dropout layers are replaced by SlicedDropout
    (same name, same generator), which checkpoints treat as Dropout.
    """

    def __init__(self, net, world, bucket_mb=25, overlap=True, check_every=100):
        self.net, self.world = net, world
        self.overlap, self.check_every = overlap, check_every
        for _, name, w, _ in net.parameters():
            if not isinstance(w, np.ndarray):
                raise ValueError(f"DataParallel: parameter {name} is not a NumPy array; MPI "
                                 f"here sends CPU memory only (run data-parallel on the CPU)")
        self.net.layers[:] = [SlicedDropout(l) if isinstance(l, Dropout) else l
                              for l in net.layers]
        self.buckets = self._make_buckets(bucket_mb * 2**20)
        # the bucket whose gradients are all known once backward has passed layer i
        self._ready_after = {min(net.layers.index(e[0]) for e in b.entries): b
                             for b in self.buckets}
        self._share = None

    def _make_buckets(self, bucket_bytes):
        buckets, entries, offset, dtype = [], [], 0, None
        for layer in reversed(self.net.layers):
            if not layer.params:
                continue
            layer_dtype = next(iter(layer.params.values())).dtype
            if entries and (offset * dtype.itemsize >= bucket_bytes or layer_dtype != dtype):
                buckets.append(_Bucket(entries, dtype))
                entries, offset = [], 0
            dtype = layer_dtype
            for name, w in layer.params.items():
                entries.append((layer, name, offset, w.shape))
                offset += w.size
        if entries:
            buckets.append(_Bucket(entries, dtype))
        return buckets

    # ----------------------------------------------------------------- start and resume

    def broadcast_parameters(self, root=0):
        """Give every rank root's weights, buffers and dropout generator states (call at the
        start and after loading a checkpoint)."""
        for key, array in self.net.state_dict().items():
            if not array.flags.c_contiguous:
                raise ValueError(f"DataParallel: {key} is not C-contiguous; cannot broadcast")
            self.world.Bcast(array, root=root)
        for layer in self.net.layers:
            if isinstance(layer, Dropout):
                layer.rng.bit_generator.state = self.world.bcast(layer.rng.bit_generator.state,
                                                                 root=root)

    def broadcast_velocity(self, optimizer, root=0):
        """Give every rank root's SGD momentum buffers (after a resume, whether every rank or
        only root loaded the checkpoint): a rank without a buffer root has gets zeros first."""
        params = {f"{layer.name}.{name}": w for layer, name, w, _ in self.net.parameters()}
        for key in self.world.bcast(sorted(optimizer.velocity), root=root):
            if key not in optimizer.velocity:
                optimizer.velocity[key] = np.zeros_like(params[key])
            self.world.Bcast(optimizer.velocity[key], root=root)

    # ----------------------------------------------------------------- one step

    def begin_step(self, global_batch_size):
        """This rank's part of a global batch: a slice of its rows (images). Also tells the
        dropout layers which rows of the whole batch's masks are this rank's."""
        if global_batch_size < self.world.size:
            raise ValueError(f"DataParallel: a batch of {global_batch_size} images cannot be "
                             f"split over {self.world.size} ranks; use a larger --batch-size")
        lo, hi = shard_bounds(global_batch_size, self.world.rank, self.world.size)
        for layer in self.net.layers:
            if isinstance(layer, SlicedDropout):
                layer.rows = (lo, hi, global_batch_size)
        self._share = (hi - lo, global_batch_size)
        return slice(lo, hi)

    def backward(self, dlogits):
        """Backward of this rank's share of the global mean loss, then the gradients summed
        over ranks: afterwards every rank's grads are those of the one-process step."""
        if self._share is None:
            raise ValueError("DataParallel: call begin_step(batch_size) before backward")
        n_local, n_global = self._share
        dout = dlogits * dlogits.dtype.type(n_local / n_global)
        if self.overlap:
            self._backward_overlapped(dout)
        else:
            self.net.backward(dout, input_grad=False)
            self.allreduce_gradients()

    def allreduce_gradients(self):
        """Sum every layer's grads over ranks, bucket by bucket (blocking)."""
        for bucket in self.buckets:
            bucket.pack()
            self.world.Allreduce_sum(bucket.buffer)

    def _backward_overlapped(self, dout):
        """Sequential.backward walked by hand: after each layer, the buckets it completes start
        their Iallreduce; all are waited for at the end."""
        layers, pending = self.net.layers, []
        first = min(self._ready_after)                 # the first layer with parameters
        for i in range(len(layers) - 1, first - 1, -1):
            if i == first and getattr(layers[i], "can_skip_input_grad", False):
                layers[i].backward(dout, input_grad=False)  # nothing needs dL/d(image)
            else:
                dout = layers[i].backward(dout)
            bucket = self._ready_after.get(i)
            if bucket is not None:
                bucket.pack()
                pending.append(self.world.Iallreduce_sum(bucket.buffer))
            self.world.test_all(pending)               # lets MPI progress the sends
        self.world.wait_all(pending)

    def mean_loss(self, local_loss):
        """The global batch's mean loss from each rank's mean over its own images."""
        n_local, n_global = self._share
        total = np.array([local_loss * n_local], dtype=np.float64)
        self.world.Allreduce_sum(total)
        return float(total[0]) / n_global

    # ----------------------------------------------------------------- checks

    def weights_checksum(self):
        """(parameters, 2) float64: the sum and the sum of squares of every parameter (in the
        network's order), computed the same way on every rank."""
        rows = []
        for _, _, w, _ in self.net.parameters():
            flat = w.reshape(-1)
            squares = sum(float(np.square(flat[i:i + 2**20], dtype=np.float64).sum())
                          for i in range(0, flat.size, 2**20))
            rows.append((float(flat.sum(dtype=np.float64)), squares))
        return np.array(rows, dtype=np.float64)

    def check_in_sync(self):
        """Raise WeightsOutOfSync (on every rank alike) unless all ranks hold identical weights,
        naming the first parameter that differs."""
        names = [f"{layer.name}.{name}" for layer, name, _, _ in self.net.parameters()]
        sums = self.world.allgather(self.weights_checksum())
        for rank, other in enumerate(sums[1:], start=1):
            differ = np.flatnonzero((other != sums[0]).any(axis=1))
            if differ.size:
                i = differ[0]
                raise WeightsOutOfSync(
                    f"rank {rank}'s weights differ from rank 0's, first at {names[i]} "
                    f"(sum {other[i, 0]!r} vs {sums[0][i, 0]!r}, sum of squares "
                    f"{other[i, 1]!r} vs {sums[0][i, 1]!r}): the ranks no longer take the same "
                    f"steps; stop and resume from the last checkpoint")

    def after_step(self, step):
        """Call after each optimizer step: checks the weights every `check_every` steps."""
        if self.check_every and step % self.check_every == 0:
            self.check_in_sync()
