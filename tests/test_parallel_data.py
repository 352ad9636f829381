"""Data parallelism over MPI: 2 ranks take exactly the steps of 1 process (numpynet.parallel).

The functions starting with `_rank` run on every rank of an `mpirun -n 2` (tests/mpi_helpers.py);
the tests compare what they return with the same steps taken here, in one process.
"""

import sys
from pathlib import Path

import numpy as np
import pytest

from numpynet.layers import SoftmaxCrossEntropy
from numpynet.models import alexnet
from numpynet.optim import SGD
from numpynet.parallel import mpi
from numpynet.parallel.data_parallel import (DataParallel, WeightsOutOfSync, reduce_counts,
                                             shard, shard_bounds)

sys.path.insert(0, str(Path(__file__).parent))
from mpi_helpers import run_ranks  # noqa: E402

CLASSES, BATCH, SIZE = 10, 7, 67          # 7 images: ranks get 4 and 3, an uneven split


def _small_net(dtype):
    net = alexnet(CLASSES, groups=2, seed=0, width=0.125, input_size=SIZE, dropout=0.5)
    return net.astype(dtype)


def _batch(step, dtype):
    rng = np.random.default_rng([7, step])
    x = (rng.standard_normal((BATCH, 3, SIZE, SIZE)) * 64).astype(dtype)
    return x, rng.integers(0, CLASSES, BATCH)


def _train(steps, dtype, world=None, overlap=True):
    """`steps` SGD steps on the seeded batches -> (losses, net, DataParallel or None), over
    `world` if given."""
    net, loss_fn = _small_net(dtype), SoftmaxCrossEntropy()
    dp = None if world is None else DataParallel(net, world, bucket_mb=0.05, overlap=overlap)
    if dp is not None:
        dp.broadcast_parameters()
    opt, losses = SGD(net, lr=0.01), []
    for step in range(steps):
        x, y = _batch(step, dtype)
        part = slice(None) if dp is None else dp.begin_step(BATCH)
        loss = loss_fn.forward(net.forward(x[part]), y[part])
        if dp is None:
            net.backward(loss_fn.backward(), input_grad=False)
        else:
            dp.backward(loss_fn.backward())
            loss = dp.mean_loss(loss)
        opt.step()
        losses.append(loss)
    return losses, net, dp


def _rank_train(world, steps, dtype, overlap, out):
    losses, net, dp = _train(steps, np.dtype(dtype), world, overlap)
    dp.check_in_sync()
    if world.is_root:
        np.savez(out, **net.state_dict())
    return {"losses": losses}


@pytest.mark.parametrize("dtype, overlap", [("float32", True), ("float64", False)])
def test_two_ranks_take_the_one_process_steps(tmp_path, dtype, overlap):
    out, steps = tmp_path / "weights.npz", 3
    results = run_ranks(__file__, "_rank_train", 2, {"steps": steps, "dtype": dtype,
                                                     "overlap": overlap, "out": str(out)})
    losses, net, _ = _train(steps, np.dtype(dtype))
    rtol = 1e-5 if dtype == "float32" else 1e-10
    for r in results:
        np.testing.assert_allclose(r["losses"], losses, rtol=rtol)
    with np.load(out) as saved:
        for key, w in net.state_dict().items():
            scale = float(np.abs(w).max()) or 1.0
            np.testing.assert_allclose(saved[key], w, rtol=rtol, atol=rtol * scale, err_msg=key)


def _rank_sync_and_counts(world):
    net = _small_net(np.float32)
    dp = DataParallel(net, world)
    if world.rank == 1:
        net["fc7"].params["b"][3] += 1e-3
    try:
        dp.check_in_sync()
        message = None
    except WeightsOutOfSync as e:
        message = str(e)
    net["fc7"].params["b"][...] = 0.5 + world.rank        # as if each rank loaded its own file
    dp.broadcast_parameters()
    dp.check_in_sync()
    opt = SGD(net)
    if world.is_root:                       # only rank 0 has read the checkpoint's velocity
        opt.velocity["fc8.W"] = np.full_like(net["fc8"].params["W"], 2.0)
    dp.broadcast_velocity(opt)
    counts = reduce_counts(world, {"n": 3 + world.rank, "top1": world.rank})
    return {"message": message, "fc7_b": float(net["fc7"].params["b"][0]), "counts": counts,
            "velocity": float(opt.velocity["fc8.W"].mean()), "stop": world.any_rank(world.rank)}


def test_out_of_sync_weights_are_named_and_broadcasts_repair_them():
    results = run_ranks(__file__, "_rank_sync_and_counts", 2)
    for r in results:
        assert r["message"] is not None and "first at fc7.b" in r["message"]
        assert r["fc7_b"] == 0.5                         # rank 0's value on both ranks
        assert r["counts"] == {"n": 7.0, "top1": 1.0}
        assert r["velocity"] == 2.0 and r["stop"] is True


def test_shards_cover_the_batch_contiguously_and_evenly():
    for n, size in [(128, 2), (7, 2), (10, 3), (3, 3)]:
        bounds = [shard_bounds(n, r, size) for r in range(size)]
        assert bounds[0][0] == 0 and bounds[-1][1] == n
        assert all(a[1] == b[0] for a, b in zip(bounds, bounds[1:]))
        assert max(hi - lo for lo, hi in bounds) - min(hi - lo for lo, hi in bounds) <= 1
    assert list(shard(np.arange(7), 1, 2)) == [4, 5, 6]


def test_without_mpi4py_one_line_says_what_to_install(monkeypatch):
    monkeypatch.setitem(sys.modules, "mpi4py", None)           # import mpi4py now fails
    assert mpi.init(environ={}) is None                         # plain run: MPI not needed
    for kwargs in ({"distributed": True, "environ": {}},
                   {"environ": {"OMPI_COMM_WORLD_SIZE": "2"}}):
        with pytest.raises(mpi.MPIUnavailable) as e:
            mpi.init(**kwargs)
        assert "\n" not in str(e.value) and "pip install 'numpynet-alexnet[mpi]'" in str(e.value)
