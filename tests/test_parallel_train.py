"""`mpirun -n 2 python -m numpynet.train` end to end: data-parallel and model-parallel runs take
the one-process run's steps, stop cleanly on a signal to any rank, resume in any mode, and end
with an error (not a hang) when a rank dies.

Each test starts mpirun itself (tests/mpi_helpers.py) on a small generated dataset, at the
real layer table's small width, so that a run takes seconds.
"""

import csv
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from numpynet import checkpoint, train
from numpynet.data.demo import generate_demo_dataset

sys.path.insert(0, str(Path(__file__).parent))
from mpi_helpers import finish, ranks_of, start  # noqa: E402
from test_train import QUICK  # noqa: E402
BOUND = 60             # seconds for a run to end after a rank is killed: start-up and the abort


@pytest.fixture(scope="module")
def dataset(tmp_path_factory):
    """4 classes x 24 training images: 12 batches of 8 per epoch, 9 val images per class."""
    root = tmp_path_factory.mktemp("demo")
    return generate_demo_dataset(root / "imagenet", num_classes=4, train_per_class=24,
                                 val_per_class=9, image_size=64, seed=1, progress=False,
                                 workers=1)


def run_args(dataset, tmp_path, out, *extra):
    return ["--data", str(dataset), "--cache", str(tmp_path / "cache"), *QUICK,
            "--out", str(out), *extra]


def one_process(args):
    assert train.main(args) == 0


def two_ranks(args, timeout=240):
    done = finish(start([sys.executable, "-m", "numpynet.train", *args]), timeout, "train")
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    return done


def metrics(out):
    return list(csv.DictReader(open(Path(out) / "metrics.csv")))


def assert_same_run(a, b, rtol=1e-4):
    """Runs `a` and `b` took the same steps: per-epoch losses and errors, and the weights and
    momentum of last.npz, equal up to float32 rounding (the order of the sums differs)."""
    for ra, rb in zip(metrics(a), metrics(b), strict=True):
        assert ra["epoch"] == rb["epoch"]
        for key in ("train_loss", "val_loss", "lr"):
            np.testing.assert_allclose(float(ra[key]), float(rb[key]), rtol=rtol, err_msg=key)
        for key in ("train_top1_err", "val_top1_err", "val_top5_err"):
            assert abs(float(ra[key]) - float(rb[key])) <= 1 / 32, key   # one image at most
    assert_same_checkpoint(a, b, rtol)


def assert_same_checkpoint(a, b, rtol=1e-4):
    """last.npz of runs `a` and `b`: same position, weights and momentum to float32 rounding."""
    arrays_a, meta_a = checkpoint.load(Path(a) / "last.npz")
    arrays_b, meta_b = checkpoint.load(Path(b) / "last.npz")
    assert meta_a["state"]["epoch"] == meta_b["state"]["epoch"]
    assert sorted(arrays_a) == sorted(arrays_b)
    for key, value in arrays_a.items():
        scale = float(np.abs(value).max()) or 1.0
        np.testing.assert_allclose(arrays_b[key], value, rtol=rtol, atol=rtol * scale,
                                   err_msg=key)


@pytest.mark.parametrize("mode", [[], ["--model-parallel"]], ids=["data", "model"])
def test_two_ranks_take_the_one_process_steps(dataset, tmp_path, mode):
    one, two = tmp_path / "one", tmp_path / "two"
    one_process(run_args(dataset, tmp_path, one, "--epochs", "2"))
    done = two_ranks(run_args(dataset, tmp_path, two, "--epochs", "2", *mode))
    assert_same_run(one, two)
    assert done.stdout.count("epoch 2:") == 1                  # rank 0 alone prints
    assert ("model parallel" if mode else "data parallel over 2 ranks") in done.stdout
    assert (two / "curves.png").is_file() and (two / "best.npz").is_file()


@pytest.mark.parametrize("first, then", [([], ["--model-parallel"]), (["--model-parallel"], [])],
                         ids=["data-then-model", "model-then-one-process"])
def test_a_distributed_run_resumes_in_any_mode(dataset, tmp_path, first, then):
    """Checkpoints are one-process checkpoints: a run started on 2 ranks continues on 2 ranks
    of the other kind, or in one process, and ends where the uninterrupted run does."""
    whole, split = tmp_path / "whole", tmp_path / "split"
    one_process(run_args(dataset, tmp_path, whole, "--epochs", "3"))
    two_ranks(run_args(dataset, tmp_path, split, "--epochs", "1", *first))
    resume = ["--resume", str(split), "--epochs", "3", "--no-progress", *then]
    if then:
        two_ranks(resume)
    else:
        one_process(resume)
    assert_same_run(whole, split)


def wait_for(path, process, timeout=120):
    start_time = time.monotonic()
    while not Path(path).exists():
        if process.poll() is not None or time.monotonic() - start_time > timeout:
            process.kill()
            pytest.fail(f"{path} did not appear\n{process.communicate()}")
        time.sleep(0.02)


@pytest.mark.parametrize("how", ["SIGUSR1 to mpirun", "SIGTERM to rank 1"])
def test_a_signal_stops_every_rank_cleanly_and_the_run_resumes_exactly(dataset, tmp_path, how):
    whole, stopped = tmp_path / "whole", tmp_path / "stopped"
    one_process(run_args(dataset, tmp_path, whole, "--epochs", "4"))
    mpirun = start([sys.executable, "-m", "numpynet.train",
                    *run_args(dataset, tmp_path, stopped, "--epochs", "4")])
    wait_for(stopped / "last.npz", mpirun)                       # epoch 1 is done
    if how == "SIGUSR1 to mpirun":
        mpirun.send_signal(signal.SIGUSR1)                       # mpirun passes it to all
    else:
        os.kill(ranks_of(mpirun)[1], signal.SIGTERM)            # one rank, not rank 0
    done = finish(mpirun, BOUND, "stopped run")
    assert done.returncode == 130, done.stdout[-2000:] + done.stderr[-2000:]
    assert f"saved {stopped / 'last.npz'}" in done.stdout
    _, meta = checkpoint.load(stopped / "last.npz")
    assert (meta["state"]["epoch"], meta["state"]["next_batch"]) < (4, 0)   # it did stop
    two_ranks(["--resume", str(stopped), "--no-progress"])
    rows = metrics(stopped)
    assert rows[-1]["epoch"] == "4"
    assert_same_checkpoint(whole, stopped)


def test_a_killed_rank_ends_the_run_with_an_error_and_an_intact_checkpoint(dataset, tmp_path):
    out = tmp_path / "killed"
    mpirun = start([sys.executable, "-m", "numpynet.train",
                    *run_args(dataset, tmp_path, out, "--epochs", "50")])
    wait_for(out / "last.npz", mpirun)
    killed = time.monotonic()
    os.kill(ranks_of(mpirun)[1], signal.SIGKILL)                 # as the out-of-memory killer
    done = finish(mpirun, BOUND, "run with a killed rank")
    assert time.monotonic() - killed < BOUND
    assert done.returncode != 0
    assert "done:" not in done.stdout
    arrays, meta = checkpoint.load(out / "last.npz")             # whole, and loadable
    assert meta["state"]["next_batch"] == 0 and meta["state"]["epoch"] >= 1


def test_model_parallel_without_two_ranks_is_a_one_line_error(dataset, tmp_path):
    args = run_args(dataset, tmp_path, tmp_path / "run", "--epochs", "1", "--model-parallel")
    done = subprocess.run([sys.executable, "-m", "numpynet.train", *args], capture_output=True,
                          text=True, timeout=120)
    assert done.returncode == 2
    last = done.stderr.strip().splitlines()[-1]
    assert last.startswith("error: ") and "mpirun -n 2" in last, done.stderr


def test_distributed_without_mpi4py_is_a_one_line_error(monkeypatch, capsys):
    monkeypatch.setitem(sys.modules, "mpi4py", None)              # import mpi4py now fails
    assert train.main(["--distributed", "--epochs", "1"]) == 2
    err = capsys.readouterr().err.strip()
    assert "\n" not in err and "pip install 'numpynet-alexnet[mpi]'" in err
