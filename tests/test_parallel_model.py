"""The paper's two-GPU model parallelism as 2 MPI ranks equals the one-process groups=2 network.

`_rank_towers` runs on both ranks of an `mpirun -n 2` (tests/mpi_helpers.py); the tests compute
the same forward and backward here, in one process, and compare.
"""

import sys
from pathlib import Path

import numpy as np
import pytest

from numpynet import checkpoint
from numpynet.layers import SoftmaxCrossEntropy
from numpynet.models import alexnet
from numpynet.optim import SGD
from numpynet.parallel import model_parallel as mp

sys.path.insert(0, str(Path(__file__).parent))
from mpi_helpers import run_ranks  # noqa: E402

# 9 classes: fc8 splits 5 / 4 (the paper's 1000 split evenly); width 0.125: conv1 has 12 maps
MODEL = {"num_classes": 9, "groups": 2, "seed": 0, "init": "he", "width": 0.125,
         "input_size": 67}
CASES = [("paper", "float64"), ("paper", "float32"), ("batchnorm", "float64")]


def _net(preset, dtype):
    return alexnet(**MODEL, preset=preset, dropout=0.5).astype(dtype)


def _batch(dtype):
    rng = np.random.default_rng(3)
    x = (rng.standard_normal((4, 3, 67, 67)) * 64).astype(dtype)
    return x, rng.integers(0, MODEL["num_classes"], 4)


def _forward_backward(net, dtype):
    """logits, loss and {"<layer>.<param>": gradient} of one training forward and backward."""
    x, y = _batch(dtype)
    loss_fn = SoftmaxCrossEntropy()
    logits = net.forward(x, train=True)
    loss = loss_fn.forward(logits, y)
    net.backward(loss_fn.backward(), input_grad=False)
    grads = {f"{l.name}.{k}": g.copy() for l, k, _, g in net.parameters()}
    return logits, loss, grads


def _rank_towers(world, out):
    results = {}
    for preset, dtype in CASES:
        net = _net(preset, dtype)
        tower = mp.tower(net, world)
        logits, loss, grads = _forward_backward(tower, dtype)
        np.savez(Path(out) / f"{preset}-{dtype}-{world.rank}.npz", logits=logits, **grads)
        results[f"{preset}-{dtype}"] = {"loss": loss, "bytes": mp.bytes_sent(tower)}
    # a step, a one-process checkpoint of both towers, and back into fresh towers
    opt = SGD(tower, lr=0.01)
    opt.step()
    full_opt = mp.gather_to_root(net, tower, world, opt)
    path = Path(out) / "towers.npz"
    if world.is_root:
        checkpoint.save(path, net, {"model": dict(MODEL, preset=preset)}, optimizer=full_opt)
    world.barrier()
    arrays, meta = checkpoint.load(path)
    fresh_net = _net(preset, dtype)
    checkpoint.restore_model(fresh_net, arrays, meta)
    fresh_tower = mp.tower(fresh_net, world)
    fresh_opt = SGD(fresh_tower, lr=0.01)
    mp.scatter_from(fresh_net, fresh_tower, world, fresh_opt, checkpoint.velocity(arrays))
    same = all(np.array_equal(a, b) for a, b in zip(tower.state_dict().values(),
                                                     fresh_tower.state_dict().values()))
    same_velocity = all(np.array_equal(opt.velocity[k], fresh_opt.velocity[k])
                        for k in opt.velocity)
    results["resumed"] = same and same_velocity and sorted(opt.velocity) == sorted(
        fresh_opt.velocity)
    return results


@pytest.fixture(scope="module")
def towers(tmp_path_factory):
    out = tmp_path_factory.mktemp("towers")
    return out, run_ranks(__file__, "_rank_towers", 2, {"out": str(out)})


@pytest.mark.parametrize("preset, dtype", CASES)
def test_towers_compute_the_one_process_logits_and_gradients(towers, preset, dtype):
    out, results = towers
    logits, loss, grads = _forward_backward(_net(preset, dtype), dtype)
    rtol = 1e-10 if dtype == "float64" else 1e-5
    for rank in range(2):
        assert results[rank][f"{preset}-{dtype}"]["loss"] == pytest.approx(loss, rel=rtol)
        with np.load(out / f"{preset}-{dtype}-{rank}.npz") as tower:
            np.testing.assert_allclose(tower["logits"], logits, rtol=rtol, atol=rtol)
            for key, g in mp.split_state_dict(grads, rank).items():
                # a layer's largest gradient as the scale (conv biases before a BatchNorm
                # have gradient 0 plus rounding noise)
                layer = key.split(".")[0]
                scale = max(float(np.abs(v).max()) for k, v in grads.items()
                            if k.startswith(layer + "."))
                np.testing.assert_allclose(tower[key], g, rtol=rtol, atol=rtol * scale,
                                           err_msg=f"rank {rank} {key}")


def test_bytes_sent_are_those_of_the_docstring_table(towers):
    # at width 0.125 and 67 input: conv1 12 maps 15x15, pool2 32 x 3x3, pool5 32 x 1x1,
    # fc6 / fc7 512 units; float64: 8 bytes; batch 4; tower 0 sends 5 of 9 logits
    lrn = 4 * (15 * 15 + 7 * 7)
    forward = lrn + 16 * 9 + 16 + 256 + 256
    results = towers[1]
    assert results[0]["paper-float64"]["bytes"] == 4 * 8 * (2 * forward + 5)
    table = mp.exchanges(_net("paper", "float64"), (3, 67, 67), itemsize=8)   # from shapes
    assert 4 * sum(fwd + bwd for _, _, fwd, bwd in table) == results[0]["paper-float64"]["bytes"]
    full = mp.exchanges(alexnet(1000))                      # the docstring's table, at 227
    assert [(where, fwd) for where, _, fwd, _ in full] == [
        ("norm1", 48400), ("norm2", 11664), ("before conv3", 86528), ("before fc6", 18432),
        ("before fc7", 8192), ("before fc8", 8192), ("after fc8", 2000)]
    assert sum(r[2] for r in full) == 183408 and sum(r[3] for r in full) == 181408
    assert results[1]["batchnorm-float64"]["bytes"] == 4 * 8 * (2 * (forward - lrn) + 4)


def test_a_tower_checkpoint_is_a_one_process_checkpoint_and_back(towers):
    out, results = towers
    assert all(r["resumed"] for r in results)
    net, meta, _ = checkpoint.model_from_checkpoint(out / "towers.npz")
    assert meta["model"]["groups"] == 2 and net["fc8"].params["W"].shape[0] == 9


def test_split_and_merge_of_a_state_dict_round_trip():
    state = _net("paper", "float32").state_dict()
    parts = [mp.split_state_dict(state, t) for t in range(2)]
    assert parts[0]["fc8.W"].shape[0] == 5 and parts[1]["conv3.W"].shape[1] == 32
    merged = mp.merge_state_dicts(parts)
    assert merged.keys() == state.keys()
    assert all(np.array_equal(merged[k], state[k]) for k in state)
