"""The paper's two-GPU model parallelism (section 3.2, figure 2), run as two MPI ranks.

Each rank holds one "tower": half of the kernels of conv1..conv5 and half of the units of
fc6..fc8 (tower g has filters / units [g*F/2, (g+1)*F/2) of every layer, which is what
`groups=2` means inside one process), and computes on the whole batch. The towers talk only
where the paper's GPUs do:

    where               what crosses (each rank sends)              bytes per image, 227 input
    before conv3        its half of pool2's maps (allgather)        128 x 13 x 13 x 4 = 86,528
    before fc6          its half of pool5, flattened (allgather)    128 x  6 x  6 x 4 = 18,432
    before fc7, fc8     its 2048 units of fc6 / fc7 (allgather)     2048 x 4 = 8,192 each
    after fc8           its 500 logits (allgather)                  500 x 4 = 2,000
    norm1, norm2        4 edge channels of the LRN input (below)    4 x 55 x 55 x 4 = 48,400
                                                                    4 x 27 x 27 x 4 = 11,664
    backward            the same tensors' gradients, except the logits (every rank holds the
                        whole loss): for a gathered input, dL/d(part of tower t) is the sum of
                        both towers' dL/d(whole input) over that part (a reduce-scatter), and
                        the LRN edges' gradients

Per image and rank, forward 183,408 bytes and backward 181,408: about 47 MB a step at batch
128, against the 2 x 244 MB of gradients a 2-rank data-parallel step moves. `exchanges(net)`
computes this table from any network's shapes (notebook 2 prints it).

One difference from the paper. numpynet's one-process `groups=2` network normalises (LRN)
across all 96 (256) channels, so the 5-channel windows of the channels next to the boundary
between the towers reach into the other tower; the paper's GPUs normalised their own maps only.
To compute exactly what the one-process network computes, each tower receives 2 * (size // 2)
= 4 edge channels of the other's LRN input (2 for the windows of its own edge channels, 2 more
for the windows of those 2, which its backward pass needs) and the matching edge of dL/dy.

Exactness: the logits and every weight gradient equal the one-process network with the same
weights up to the order of float additions (checked in float64 and float32 by
tests/test_parallel_model.py); dropout draws the whole layer's mask and keeps the tower's
columns, so even the masks agree (parallel/dropout.py).

Checkpoints are one-process ones: every parameter, buffer and momentum buffer splits along its
first axis (output channels or units), so `split_state_dict` / `merge_state_dicts` turn the
state of the one-process network into the two towers' and back.
"""

import copy

import numpy as np

from ..layers import (BatchNorm2D, Conv2D, Dropout, Layer, Linear, LocalResponseNorm,
                      MaxPool2D, Sequential)
from ..optim import SGD
from .dropout import SlicedDropout

TOWERS = 2


def halves(n):
    """The towers' shares of n filters / units (tower 0 the larger one if n is odd)."""
    return [n - n // TOWERS, n // TOWERS]


def _bounds(sizes, tower):
    lo = sum(sizes[:tower])
    return lo, lo + sizes[tower]


def split_state_dict(state, tower):
    """Tower `tower`'s part of a one-process state dict (or of SGD velocity, or of grads):
    every array's rows [lo, hi) along its first axis."""
    part = {}
    for key, array in state.items():
        lo, hi = _bounds(halves(array.shape[0]), tower)
        part[key] = np.ascontiguousarray(array[lo:hi])
    return part


def merge_state_dicts(states):
    """The one-process state dict from the towers' (the inverse of split_state_dict)."""
    return {key: np.concatenate([s[key] for s in states], axis=0) for key in states[0]}


class GatherChannels(Layer):
    """Every tower gets the whole activation, made of the towers' parts along axis 1:

        forward:   y = [x_0, x_1]  (concatenated along channels / features)
        backward:  dL/dx_t = sum over towers s of (dL/dy on s)[:, part t]

    The sum is there because each tower's dL/dy is only the part of the gradient that flows
    through its own next layer (the loss is the sum of both paths). With `replicated=True`
    (the logits) everything after the gather is computed identically on both towers, so each
    tower already holds the whole dL/dy and keeps its part, without communication.

    `sizes`: the towers' channels; a flattened input carries the same number of features per
    channel in each tower. `bytes_sent` counts what this rank sent.
    """

    def __init__(self, world, sizes, replicated=False, name=None):
        super().__init__(name)
        self.world, self.sizes, self.replicated = world, list(sizes), replicated
        self.bytes_sent = 0

    def describe(self):
        return f"towers {self.sizes}" + (", replicated after" if self.replicated else "")

    def _parts(self, shape, channels):
        """Per tower: (entries along axis 1, entries in all), for an array of `shape` holding
        `channels` channels along axis 1."""
        per_channel, rest = shape[1] // channels, int(np.prod(shape[2:]))
        return [(s * per_channel, shape[0] * s * per_channel * rest) for s in self.sizes]

    def output_shape(self, input_shape):
        width = sum(n for n, _ in self._parts(input_shape, self.sizes[self.world.rank]))
        return (input_shape[0], width, *input_shape[2:])

    def forward(self, x, train=True):                  # x: this tower's part
        parts = self._parts(x.shape, self.sizes[self.world.rank])
        flat = self.world.Allgatherv(x, [count for _, count in parts])
        self.bytes_sent += x.nbytes
        blocks = np.split(flat, np.cumsum([count for _, count in parts])[:-1])
        return np.concatenate([b.reshape(x.shape[0], n, *x.shape[2:])
                               for b, (n, _) in zip(blocks, parts)], axis=1)

    def backward(self, dout):                          # dout: dL/d(the whole activation)
        parts = self._parts(dout.shape, sum(self.sizes))
        starts = np.cumsum([0] + [n for n, _ in parts])
        lo, hi = starts[self.world.rank], starts[self.world.rank + 1]
        if self.replicated:
            return np.ascontiguousarray(dout[:, lo:hi])
        send = np.concatenate([dout[:, a:b].reshape(-1) for a, b in zip(starts, starts[1:])])
        mine = self.world.Reduce_scatter_sum(send, [count for _, count in parts])
        self.bytes_sent += send.nbytes - mine.nbytes     # the other towers' parts
        return mine.reshape(dout.shape[0], hi - lo, *dout.shape[2:])


class LRNAcrossTowers(Layer):
    """`lrn` (LocalResponseNorm over all channels of both towers) on a tower's half of them.

    forward: x_ext = x with the other tower's h = 2 * (size // 2) nearest channels appended at
    the boundary; y = LRN(x_ext) without those channels. backward: likewise with dL/dy, then
    LRN's backward on the extended channels, keeping the tower's own. Exact for the tower's
    channels: their windows (+- size // 2) and the windows of those (+- size // 2 more) lie
    within x_ext. `bytes_sent` counts what this rank sent.
    """

    def __init__(self, lrn, world, sizes, name=None):
        super().__init__(name or lrn.name)
        self.lrn, self.world = copy.deepcopy(lrn), world
        self.halo = 2 * (lrn.size // 2)
        if min(sizes) < self.halo:
            raise self._error(f"each tower needs at least {self.halo} channels for the LRN "
                              f"window, got {sizes}")
        self.bytes_sent = 0

    def describe(self):
        return f"{self.lrn.describe()}, {self.halo} channels from the other tower"

    def _extend(self, a):
        """a with the other tower's edge channels on the boundary side."""
        h, left = self.halo, self.world.rank == 0          # tower 0 holds the first channels
        edge = a[:, -h:] if left else a[:, :h]
        theirs = self.world.Sendrecv(edge, 1 - self.world.rank)
        self.bytes_sent += theirs.nbytes
        return np.concatenate([a, theirs] if left else [theirs, a], axis=1)

    def _own(self, a_ext):
        own = slice(0, -self.halo) if self.world.rank == 0 else slice(self.halo, None)
        return np.ascontiguousarray(a_ext[:, own])

    def forward(self, x, train=True):
        return self._own(self.lrn.forward(self._extend(x), train=train))

    def backward(self, dout):
        return self._own(self.lrn.backward(self._extend(dout)))


def _gather_if_split(layers, world, split, name):
    """Append a GatherChannels before `name` if the activation is split; -> None (not split)."""
    if split is not None:
        layers.append(GatherChannels(world, split, name=f"gather_{name}"))
    return None


def _tower_layer(layer, world, split):
    """-> (tower's version of `layer`, the split of its output) for the layers with channels or
    units; None for the ones a tower runs unchanged (ReLU, pooling, Scale, Flatten)."""
    rank = world.rank
    if isinstance(layer, Conv2D):
        if layer.groups not in (1, TOWERS):
            raise ValueError(f"model parallel: {layer.name} has groups={layer.groups}; "
                             f"expected 1 or {TOWERS}")
        sizes = halves(layer.out_channels)
        in_channels = layer.in_channels // layer.groups
        return Conv2D(in_channels, sizes[rank], layer.kernel_size, stride=layer.stride,
                      padding=layer.padding, name=layer.name, rng=0), sizes
    if isinstance(layer, Linear):
        sizes = halves(layer.out_features)
        return Linear(layer.in_features, sizes[rank], name=layer.name, rng=0), sizes
    if isinstance(layer, BatchNorm2D):
        return BatchNorm2D(split[rank], momentum=layer.momentum, eps=layer.eps,
                           name=layer.name), split
    if isinstance(layer, LocalResponseNorm):
        return LRNAcrossTowers(layer, world, split), split
    if isinstance(layer, Dropout):
        return SlicedDropout(layer, cols=(*_bounds(split, rank), sum(split))), split
    return None


def tower(net, world):
    """This rank's tower of the one-process `groups=2` AlexNet `net`, with net's weights.

    Dropout layers share net's generators (so restoring net's checkpoint restores them)."""
    if world.size != TOWERS:
        raise ValueError(f"model parallel: the paper's split needs exactly {TOWERS} ranks "
                         f"(mpirun -n {TOWERS}), got {world.size}")
    layers, split = [], None       # split: the towers' channels of the activation, or None
    for layer in net.layers:
        if isinstance(layer, Linear) or (isinstance(layer, Conv2D) and layer.groups == 1):
            split = _gather_if_split(layers, world, split, layer.name)
        made = _tower_layer(layer, world, split)
        if made is None:
            layers.append(copy.deepcopy(layer))
        else:
            layers.append(made[0])
            split = made[1]
    if split is not None:
        layers.append(GatherChannels(world, split, replicated=True, name="gather_logits"))
    dtype = next(iter(net.state_dict().values())).dtype
    result = Sequential(*layers).astype(dtype)
    result.load_state_dict(split_state_dict(net.state_dict(), world.rank))
    return result


def exchanges(net, input_shape=(3, 227, 227), itemsize=4):
    """Where tower 0 of the one-process `groups=2` network `net` sends data, per image:
    [(where, what, bytes forward, bytes backward)], from the layers' shapes alone (no MPI).
    Backward sends the same tensors' gradients (for a gather: the other tower's part of
    dL/d(whole input)), except for the logits, which both towers hold whole."""
    rows, shape, channels, name = [], (1, *input_shape), None, None
    for layer in net.layers:
        gathers = isinstance(layer, Linear) or (isinstance(layer, Conv2D) and layer.groups == 1)
        if gathers and channels is not None:
            whole = int(np.prod(shape[1:]))
            mine, theirs = (whole * h // channels for h in halves(channels))
            rows.append((f"before {layer.name}", f"its half of {name}'s output",
                         mine * itemsize, theirs * itemsize))
        if isinstance(layer, LocalResponseNorm) and channels is not None:
            edge = 2 * (layer.size // 2) * int(np.prod(shape[2:])) * itemsize
            rows.append((layer.name, f"{2 * (layer.size // 2)} edge channels of its input",
                         edge, edge))
        shape = layer.output_shape(shape)
        if isinstance(layer, (Conv2D, Linear, MaxPool2D)):
            name = layer.name                          # what the tensor is called in the paper
        if isinstance(layer, (Conv2D, Linear)):
            channels = shape[1]
    rows.append(("after fc8", "its part of the logits", halves(channels)[0] * itemsize, 0))
    return rows


def bytes_sent(tower_net):
    """What this rank has sent so far, summed over the tower's exchange points."""
    return sum(getattr(layer, "bytes_sent", 0) for layer in tower_net.layers)


# --------------------------------------------------------------------- checkpoints

def gather_to_root(net, tower_net, world, optimizer=None):
    """Collective. On rank 0: loads both towers' weights into the one-process `net` and
    returns an SGD over it with both towers' velocity (for checkpoint.save); None elsewhere."""
    states = world.comm.gather(tower_net.state_dict(), root=0)
    velocities = world.comm.gather(optimizer.velocity if optimizer else None, root=0)
    if not world.is_root:
        return None
    net.load_state_dict(merge_state_dicts(states))
    if optimizer is None:
        return None
    full = SGD(net, optimizer.lr, optimizer.momentum, optimizer.weight_decay,
               optimizer.decay_biases)
    full.velocity = merge_state_dicts(velocities) if velocities[0] else {}
    return full


def scatter_from(net, tower_net, world, optimizer=None, velocity=None):
    """After every rank has restored the one-process `net` from a checkpoint: give the tower its
    part of the weights (and `optimizer` its part of `velocity`, a one-process velocity dict)."""
    tower_net.load_state_dict(split_state_dict(net.state_dict(), world.rank))
    if optimizer is not None and velocity:
        optimizer.load_state_dict({"lr": optimizer.lr, "momentum": optimizer.momentum,
                                   "weight_decay": optimizer.weight_decay,
                                   "velocity": split_state_dict(velocity, world.rank)})
