"""BatchLoader: reproducible, resumable, prefetching batches."""

import threading
from types import SimpleNamespace

import numpy as np
import pytest
from data_fixtures import make_imagenet, open_tiny

from numpynet.data import BatchLoader
from numpynet.data.loader import background

S, C, M = 16, 12, 50


@pytest.fixture
def split():
    rng = np.random.default_rng(0)
    return SimpleNamespace(
        images=rng.integers(0, 256, (M, S, S, 3)).astype(np.uint8),   # (M, S, S, 3)
        labels=np.arange(M, dtype=np.int64) % 5,                      # (M,)
        mean=rng.uniform(0, 255, (S, S, 3)).astype(np.float32),
        eigvals=np.array([3000.0, 200.0, 30.0]),
        eigvecs=np.linalg.qr(rng.standard_normal((3, 3)))[0])


def batches(loader, epoch, start_batch=0):
    return [(x.copy(), y.copy()) for x, y in loader.epoch(epoch, start_batch)]


def same(a, b):
    return len(a) == len(b) and all(np.array_equal(x1, x2) and np.array_equal(y1, y2)
                                    for (x1, y1), (x2, y2) in zip(a, b))


def prefetch_threads():
    return [t for t in threading.enumerate() if t.name == "numpynet-prefetch" and t.is_alive()]


def test_same_seed_same_batches(split):
    a = BatchLoader(split, batch_size=8, crop=C, seed=3)
    b = BatchLoader(split, batch_size=8, crop=C, seed=3)
    for epoch in (0, 1):
        assert same(batches(a, epoch), batches(b, epoch))
    other = BatchLoader(split, batch_size=8, crop=C, seed=4)
    assert not same(batches(a, 0), batches(other, 0))
    assert not same(batches(a, 0), batches(a, 1))                      # epochs differ


def test_resume_mid_epoch_gives_the_same_batches(split):
    loader = BatchLoader(split, batch_size=8, crop=C, seed=1)
    full = batches(loader, 2)
    fresh = BatchLoader(split, batch_size=8, crop=C, seed=1)           # a new process, say
    assert same(batches(fresh, 2, start_batch=3), full[3:])
    x, y = fresh.batch(2, 4)
    assert np.array_equal(x, full[4][0]) and np.array_equal(y, full[4][1])
    assert batches(fresh, 2, start_batch=len(fresh)) == []


def test_batch_is_the_documented_function_of_seed_epoch_and_index(split):
    from numpynet.data import train_batch
    loader = BatchLoader(split, batch_size=8, crop=C, seed=5)
    order = np.random.default_rng([5, 0, 3]).permutation(M)           # shuffle of epoch 3
    for b in (0, 4):
        idx = order[b * 8:(b + 1) * 8]
        rng = np.random.default_rng([5, 1, 3, b])                      # augmentation of (3, b)
        expect = train_batch(split.images[idx], split.mean, split.eigvals, split.eigvecs, rng,
                             crop=C)
        x, y = loader.batch(3, b)
        assert np.array_equal(x, expect) and np.array_equal(y, split.labels[idx])


def test_prefetch_changes_nothing(split):
    on = BatchLoader(split, batch_size=8, crop=C, seed=2, prefetch=True)
    off = BatchLoader(split, batch_size=8, crop=C, seed=2, prefetch=False)
    assert same(batches(on, 1), batches(off, 1))


@pytest.mark.parametrize("pca_std", [0.1, 0])
def test_a_part_of_each_batch_is_that_part_of_the_whole_batch(split, pca_std):
    """rows=(lo, hi): what a data-parallel rank makes is exactly its rows of the whole batch
    (same images, crops, flips and colour shifts), for every split of the batch."""
    whole = BatchLoader(split, batch_size=7, crop=C, seed=2, pca_std=pca_std)
    for lo, hi in [(0, 4), (4, 7), (2, 5), (3, 3)]:
        part = BatchLoader(split, batch_size=7, crop=C, seed=2, pca_std=pca_std, rows=(lo, hi))
        assert len(part) == len(whole)
        for (x, y), (xw, yw) in zip(batches(part, 1), batches(whole, 1)):
            np.testing.assert_array_equal(x, xw[lo:hi])
            np.testing.assert_array_equal(y, yw[lo:hi])


def test_rows_must_be_a_part_of_a_training_batch(split):
    for bad in [dict(rows=(0, 9)), dict(rows=(3, 2)), dict(rows=(0, 2), train=False),
                dict(rows=(0, 2), drop_last=False)]:
        with pytest.raises(ValueError, match="rows="):
            BatchLoader(split, batch_size=8, crop=C, **bad)


def test_training_epoch_shapes_and_coverage(split):
    loader = BatchLoader(split, batch_size=8, crop=C, seed=0)
    assert len(loader) == M // 8                                       # drop_last for training
    seen = []
    for x, y in loader.epoch(0):
        assert x.shape == (8, 3, C, C) and x.dtype == np.float32 and y.dtype == np.int64
        seen.append(y)
    order = loader.order(0)
    assert sorted(order.tolist()) == list(range(M)) and order.tolist() != list(range(M))
    assert np.array_equal(np.concatenate(seen), split.labels[order[:len(loader) * 8]])
    assert len(BatchLoader(split, batch_size=8, crop=C, drop_last=False)) == 7


def test_evaluation_in_order_with_centre_and_ten_crops(split):
    loader = BatchLoader(split, batch_size=8, train=False, crop=C)
    assert len(loader) == 7                                            # last batch partial
    got = batches(loader, 0)
    assert got[-1][0].shape == (M - 6 * 8, 3, C, C)
    assert np.array_equal(np.concatenate([y for _, y in got]), split.labels)
    o = (S - C) // 2
    first = split.images[:8, o:o + C, o:o + C].astype(np.float32) - split.mean[o:o + C, o:o + C]
    assert np.array_equal(got[0][0], first.transpose(0, 3, 1, 2))
    ten = BatchLoader(split, batch_size=8, train=False, crop=C, ten_crop=True)
    x, y = next(iter(ten))
    assert x.shape == (10, 8, 3, C, C) and np.array_equal(x[4], got[0][0])


def test_val_split_needs_the_training_mean(split):
    val = SimpleNamespace(images=split.images, labels=split.labels)
    with pytest.raises(ValueError, match="mean=data.mean"):
        BatchLoader(val, train=False)
    assert len(BatchLoader(val, batch_size=10, train=False, mean=split.mean)) == 5
    with pytest.raises(ValueError, match="pca_std=0"):
        BatchLoader(val, train=True, mean=split.mean)


def test_prefetch_thread_stops_on_break_and_errors(split):
    loader = BatchLoader(split, batch_size=4, crop=C)
    for i, _ in enumerate(loader.epoch(0)):
        if i == 1:
            break
    assert prefetch_threads() == []

    with pytest.raises(KeyboardInterrupt):
        for _ in loader.epoch(0):
            raise KeyboardInterrupt                                    # Ctrl-C in the loop body
    assert prefetch_threads() == []

    it = loader.epoch(0)
    next(it)
    it.close()                                                         # abandoned iterator
    assert prefetch_threads() == []


def test_errors_while_preparing_a_batch_reach_the_consumer():
    def broken():
        yield 1
        raise RuntimeError("cannot read batch 1")

    got = []
    with pytest.raises(RuntimeError, match="cannot read batch 1"):
        for item in background(broken()):
            got.append(item)
    assert got == [1] and prefetch_threads() == []


def test_loader_over_a_real_cache(tmp_path):
    make_imagenet(tmp_path / "ds", train_per_class=5, val_per_class=3)
    data = open_tiny(tmp_path / "ds", tmp_path / "cache")
    train = BatchLoader(data.train, batch_size=4, crop=C, seed=0)
    assert len(train) == 3
    x, y = next(iter(train))
    assert x.shape == (4, 3, C, C) and set(y.tolist()) <= {0, 1, 2}
    val = BatchLoader(data.val, batch_size=4, train=False, crop=C, mean=data.mean)
    assert np.array_equal(np.concatenate([y for _, y in val]), data.val.labels)


def test_gpu_loader_without_cupy_is_a_one_line_error(tmp_path):
    import numpynet.backend as backend
    try:
        backend.load_cupy()
        pytest.skip("CuPy and a GPU are present")
    except RuntimeError:
        pass
    split = type("Split", (), {"images": np.zeros((4, 8, 8, 3), np.uint8),
                               "labels": np.zeros(4, np.int64)})()
    with pytest.raises(RuntimeError, match="CuPy"):
        BatchLoader(split, 2, train=False, crop=6, mean=np.zeros((8, 8, 3), np.float32),
                    device="gpu")
    with pytest.raises(ValueError, match="device"):
        BatchLoader(split, 2, train=False, crop=6, mean=np.zeros((8, 8, 3), np.float32),
                    device="tpu")
