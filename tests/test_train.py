"""The training pipeline end to end on generated data: CLI runs, checkpoints, exact resume,
divergence, evaluation and prediction, and an overfitting smoke test of the whole chain.

Runs use the real AlexNet layer table at a small width on small crops (--width, --crop) so that
they take seconds.
"""

import csv
import os
import signal

import numpy as np
import pytest

from numpynet import checkpoint, evaluate, predict, train
from numpynet.data import centre_batch, open_imagenet, source
from numpynet.data.demo import generate_demo_dataset
from numpynet.layers import SoftmaxCrossEntropy
from numpynet.metrics import ErrorMeter, topk_correct, topk_error
from numpynet.models import alexnet
from numpynet.optim import SGD
from numpynet.schedule import LRSchedule

QUICK = ["--width", "0.125", "--crop", "67", "--image-size", "80", "--batch-size", "8",
         "--no-progress", "--workers", "1"]


@pytest.fixture(scope="module")
def dataset(tmp_path_factory):
    root = tmp_path_factory.mktemp("demo")
    return generate_demo_dataset(root / "imagenet", num_classes=4, train_per_class=8,
                                 val_per_class=3, image_size=64, seed=1, progress=False,
                                 workers=1)


def run_args(dataset, tmp_path, *extra):
    return ["--data", str(dataset), "--cache", str(tmp_path / "cache"), *QUICK, *extra]


def losses_of(args, interrupt_at=None, seconds_per_step=15):
    """Train with `args`, recording every step's loss; optionally Ctrl-C at step `interrupt_at`.
    --time-budget counts on a fake clock that every step moves on by `seconds_per_step`."""
    losses, now = [], [0.0]

    def on_batch(epoch, b, loss):
        losses.append(loss)
        now[0] += seconds_per_step
        if interrupt_at is not None and len(losses) == interrupt_at:
            os.kill(os.getpid(), signal.SIGINT)       # handled: finish the step, save, stop

    try:
        train.train(train.parse_args(args), on_batch=on_batch, clock=lambda: now[0])
    except KeyboardInterrupt:
        pass
    return losses


def test_cli_run_writes_metrics_checkpoints_and_plots(dataset, tmp_path):
    out = tmp_path / "run"
    assert train.main(run_args(dataset, tmp_path, "--epochs", "2", "--out", str(out))) == 0
    for name in ("config.json", "metrics.csv", "curves.png", "filters.png", "last.npz",
                 "best.npz"):
        assert (out / name).is_file(), name
    rows = list(csv.DictReader(open(out / "metrics.csv")))
    assert [r["epoch"] for r in rows] == ["1", "2"]
    assert all(0 <= float(r["val_top1_err"]) <= 1 for r in rows)
    assert float(rows[0]["val_top5_err"]) == 0.0          # 4 classes: top-5 always right


def test_checkpoint_round_trip(dataset, tmp_path):
    out = tmp_path / "run"
    train.main(run_args(dataset, tmp_path, "--epochs", "1", "--out", str(out)))
    net, meta, mean = checkpoint.model_from_checkpoint(out / "last.npz")
    arrays, _ = checkpoint.load(out / "last.npz")
    for key, value in net.state_dict().items():
        np.testing.assert_array_equal(value, arrays[f"param/{key}"])
    assert meta["state"]["epoch"] == 1 and meta["state"]["next_batch"] == 0
    assert len(meta["wnids"]) == 4 and mean.shape == (80, 80, 3)
    assert set(checkpoint.velocity(arrays)) == {f"{l.name}.{p}" for l, p, _, _ in net.parameters()}


def test_resume_after_an_interrupt_gives_the_same_losses(dataset, tmp_path):
    """Ctrl-C mid-epoch, --resume, and every later step's loss is exactly as without the stop."""
    full = losses_of(run_args(dataset, tmp_path, "--epochs", "2", "--out", str(tmp_path / "a")))
    assert len(full) == 8                                 # 2 epochs x 4 batches
    out_b = tmp_path / "b"
    first = losses_of(run_args(dataset, tmp_path, "--epochs", "2", "--out", str(out_b)),
                      interrupt_at=6)
    assert len(first) == 6
    rest = losses_of(["--resume", str(out_b), "--no-progress"])
    assert first + rest == full
    a, _ = checkpoint.load(tmp_path / "a" / "last.npz")
    b, _ = checkpoint.load(out_b / "last.npz")
    for key in a:
        np.testing.assert_array_equal(a[key], b[key], err_msg=key)
    rows_a = list(csv.DictReader(open(tmp_path / "a" / "metrics.csv")))
    rows_b = list(csv.DictReader(open(out_b / "metrics.csv")))
    for ra, rb in zip(rows_a, rows_b):
        assert ra["train_loss"] == rb["train_loss"] and ra["val_top1_err"] == rb["val_top1_err"]


def test_same_seed_same_run(dataset, tmp_path):
    args = run_args(dataset, tmp_path, "--epochs", "1")
    assert losses_of(args + ["--out", str(tmp_path / "a")]) == \
        losses_of(args + ["--out", str(tmp_path / "b")])
    assert losses_of(args + ["--out", str(tmp_path / "c"), "--seed", "1"]) != \
        losses_of(args + ["--out", str(tmp_path / "d")])


@pytest.mark.filterwarnings("ignore::RuntimeWarning")
def test_divergence_stops_with_a_clear_message(dataset, tmp_path, capsys):
    out = tmp_path / "run"
    code = train.main(run_args(dataset, tmp_path, "--epochs", "1", "--lr", "1e12",
                               "--out", str(out)))
    err = capsys.readouterr().err
    assert code == 1 and "diverged" in err and "last good checkpoint" in err
    assert not (out / "best.npz").exists()


def test_missing_dataset_is_a_clear_error(tmp_path, capsys):
    code = train.main(["--data", str(tmp_path / "nowhere"), *QUICK])
    err = capsys.readouterr().err
    assert code == 2 and "train/<wnid>" in err and "Traceback" not in err


def test_demo_dataset_is_used_when_no_imagenet_is_found(tmp_path, monkeypatch, capsys):
    monkeypatch.delenv("NUMPYNET_DATA", raising=False)
    monkeypatch.setattr(source, "DEFAULT_DATA", str(tmp_path / "imagenet"))
    monkeypatch.setattr(source, "DEMO_DATA", str(tmp_path / "demo"))
    args = train.parse_args(["--subset", "3", "--per-class", "8", "--val-per-class", "2",
                             "--epochs", "1", "--out", str(tmp_path / "run"),
                             "--cache", str(tmp_path / "cache"), *QUICK])
    train.train(args)
    out = capsys.readouterr().out
    assert "GENERATED DEMO DATASET" in out and "--data" in out
    assert (tmp_path / "demo" / "train").is_dir()


def test_evaluate_and_predict_clis(dataset, tmp_path, capsys):
    out = tmp_path / "run"
    train.main(run_args(dataset, tmp_path, "--epochs", "1", "--out", str(out)))
    capsys.readouterr()
    assert evaluate.main(["--checkpoint", str(out / "best.npz"), "--ten-crop",
                          "--no-progress"]) == 0
    line = capsys.readouterr().out.strip().splitlines()[-1]
    assert "12 validation images, 10-crop: top-1 error" in line and "top-5 error 0.00%" in line
    image = next((dataset / "train").glob("*/*.JPEG"))
    assert predict.main([str(image), "--checkpoint", str(out)]) == 0
    shown = capsys.readouterr().out.splitlines()
    assert shown[0] == str(image) and len(shown) == 5       # path + 4 classes (only 4 exist)
    total = sum(float(l.split("%")[0]) for l in shown[1:])
    assert total == pytest.approx(100, abs=0.05)
    assert predict.main([str(tmp_path / "missing.jpg"), "--checkpoint", str(out)]) == 1


@pytest.fixture(scope="module")
def hundred_images(tmp_path_factory):
    """100 demo images (10 classes) centre-cropped to 67 px: (100, 3, 67, 67), labels."""
    tmp = tmp_path_factory.mktemp("hundred")
    root = generate_demo_dataset(tmp / "d", num_classes=10, train_per_class=10,
                                 val_per_class=1, image_size=64, progress=False, workers=1)
    data = open_imagenet(root, size=80, cache_root=tmp / "cache", progress=False, workers=1)
    return centre_batch(np.asarray(data.train.images), data.mean, 67), data.train.labels


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_overfits_a_hundred_images(hundred_images, seed):
    """The whole forward/backward/update chain works: 100 images, learned by heart.

    A sanity check that must hold on any CPU and BLAS, so it runs well inside the stable range:
    with momentum 0.9 on this full batch the loss never rises at lr 0.003 and falls steadily at
    0.005, but spikes (to 5-10, sometimes dying at chance) from about lr 0.007 on. There, which
    way a spike goes is decided by float32 rounding, which differs between BLAS kernels and
    thread counts. At lr 0.003 every seed reaches 0.02 in 105-117 steps on AVX2 and AVX-512
    kernels alike; the test allows 250.
    """
    x, y = hundred_images
    net = alexnet(10, width=0.25, input_size=67, dropout=0.0, seed=seed)
    rng = np.random.default_rng(seed)
    for name in ("fc6", "fc7"):      # 1024 wide here: He's std learns, the paper's 0.01 stalls
        W = net[name].params["W"]
        net[name].params["W"] = (rng.standard_normal(W.shape) * np.sqrt(2 / W.shape[1])) \
            .astype(np.float32)
    opt, loss_fn = SGD(net, lr=0.003, momentum=0.9, weight_decay=0), SoftmaxCrossEntropy()
    losses = [loss_fn.forward(net.forward(x), y)]
    while losses[-1] >= 0.02 and len(losses) <= 250:
        net.backward(loss_fn.backward())
        opt.step()
        losses.append(loss_fn.forward(net.forward(x), y))
    assert losses[0] == pytest.approx(np.log(10), abs=0.1)
    assert losses[-1] < 0.02, f"still at loss {losses[-1]:.3f} after {len(losses) - 1} steps"
    assert topk_error(loss_fn.probs, y, 1) == 0


def test_topk_hand_example():
    scores = np.array([[0.1, 0.5, 0.4], [0.7, 0.2, 0.1], [0.2, 0.3, 0.5]])
    labels = np.array([2, 0, 0])
    np.testing.assert_array_equal(topk_correct(scores, labels, 1), [False, True, False])
    np.testing.assert_array_equal(topk_correct(scores, labels, 2), [True, True, False])
    assert topk_error(scores, labels, 3) == 0
    meter = ErrorMeter(ks=(1, 2))
    meter.update(scores[:2], labels[:2], loss=1.0)
    meter.update(scores[2:], labels[2:], loss=4.0)
    assert meter.error(1) == pytest.approx(2 / 3) and meter.loss() == pytest.approx(2.0)


def test_lr_schedules():
    plateau = LRSchedule(0.01, "plateau", patience=2)
    lrs = [plateau.end_of_epoch(e, err) for e, err in enumerate([0.9, 0.8, 0.8, 0.85, 0.7])]
    assert lrs == pytest.approx([0.01, 0.01, 0.01, 0.001, 0.001])
    step = LRSchedule(0.01, "step", steps=(2, 4))
    assert [step.end_of_epoch(e) for e in range(4)] == pytest.approx([0.01, 0.001, 0.001, 1e-4])


@pytest.mark.parametrize("extra", [["--preset", "batchnorm"], ["--preset", "caffe", "--init",
                                                                 "caffe", "--groups", "1"]])
def test_presets_train_and_reload(dataset, tmp_path, extra):
    """Other variants run through the CLI; a checkpoint restores them exactly (BatchNorm's
    running statistics included)."""
    out = tmp_path / "run"
    assert train.main(run_args(dataset, tmp_path, "--epochs", "1", "--out", str(out),
                               *extra)) == 0
    net, meta, mean = checkpoint.model_from_checkpoint(out / "last.npz")
    arrays, _ = checkpoint.load(out / "last.npz")
    if "batchnorm" in extra:
        stats = arrays["param/bn1.running_mean"]
        assert np.any(stats != 0)                              # learned during the epoch
        np.testing.assert_array_equal(net["bn1"].buffers["running_mean"], stats)
    x = centre_batch(np.asarray(open_imagenet(dataset, size=80, cache_root=tmp_path / "cache",
                                              progress=False).val.images[:2]), mean, 67)
    a = net.forward(x, train=False)
    again, _, _ = checkpoint.model_from_checkpoint(out / "last.npz")
    np.testing.assert_array_equal(a, again.forward(x, train=False))


def test_best_checkpoint_is_the_lowest_validation_error(dataset, tmp_path):
    """best.npz follows the validation error whatever the lr schedule (here: constant)."""
    out = tmp_path / "run"
    train.main(run_args(dataset, tmp_path, "--epochs", "3", "--lr-schedule", "constant",
                        "--out", str(out)))
    errors = [float(r["val_top1_err"]) for r in csv.DictReader(open(out / "metrics.csv"))]
    _, meta = checkpoint.load(out / "best.npz")
    assert meta["state"]["epoch"] == 1 + errors.index(min(errors))
    assert meta["state"]["best_error"] == pytest.approx(min(errors))


def rows_of(run):
    return list(csv.DictReader(open(run / "metrics.csv")))


def test_time_budget_stops_mid_epoch_and_resumes_with_a_new_budget(dataset, tmp_path, capsys):
    """A budget of 45 s on a clock at 15 s per step: 3 of the epoch's 4 steps, then validation,
    checkpoints and a row for epoch 0.75. --resume with 1.5 min more trains 6 more steps and
    stops in epoch 3; --resume without a budget runs to --epochs. The losses are exactly those
    of a run without any stop."""
    full = losses_of(run_args(dataset, tmp_path, "--epochs", "3", "--out", str(tmp_path / "a")))
    assert len(full) == 12                                # 3 epochs x 4 batches
    out = tmp_path / "b"
    first = losses_of(run_args(dataset, tmp_path, "--epochs", "3", "--time-budget", "0.75",
                               "--out", str(out)))
    assert len(first) == 3
    assert "epoch 0.75 (partial: time budget spent after batch 3/4)" in capsys.readouterr().out
    for name in ("last.npz", "best.npz", "curves.png", "metrics.csv"):
        assert (out / name).is_file(), name
    assert [r["epoch"] for r in rows_of(out)] == ["0.75"]
    _, meta = checkpoint.load(out / "last.npz")
    assert (meta["state"]["epoch"], meta["state"]["next_batch"]) == (0, 3)
    more = losses_of(["--resume", str(out), "--time-budget", "1.5", "--no-progress"])
    assert len(more) == 6                                 # 1 + 4 + 1 steps
    _, meta = checkpoint.load(out / "last.npz")
    assert (meta["state"]["epoch"], meta["state"]["next_batch"]) == (2, 1)
    assert meta["args"]["time_budget"] == 1.5
    rest = losses_of(["--resume", str(out), "--no-progress"])
    assert len(rest) == 3 and first + more + rest == full
    rows_a, rows_b = rows_of(tmp_path / "a"), rows_of(out)
    assert [r["epoch"] for r in rows_b] == ["0.75", "1", "2", "2.25", "3"]
    whole = [r for r in rows_b if "." not in r["epoch"]]
    for ra, rb in zip(rows_a, whole, strict=True):
        assert ra["train_loss"] == rb["train_loss"] and ra["val_top1_err"] == rb["val_top1_err"]


def test_cosine_schedule_follows_the_budget_and_restarts_on_resume(dataset, tmp_path):
    """Steps at t = 0, 1/3, 2/3 of a 45 s budget: the last one's lr is 0.01 * 0.5 * (1 + cos(2
    pi / 3)) = 0.0025. A resume with a new budget starts again from --lr."""
    out = tmp_path / "run"
    losses_of(run_args(dataset, tmp_path, "--lr-schedule", "cosine", "--time-budget", "0.75",
                       "--out", str(out)))
    losses_of(["--resume", str(out), "--time-budget", "0.75", "--no-progress"])
    rows = rows_of(out)
    assert [r["epoch"] for r in rows] == ["0.75", "1", "1.5"]
    assert [float(r["lr"]) for r in rows] == pytest.approx([0.0025, 0.01, 0.0025])


def test_cosine_schedule_over_epochs_resumes_exactly(dataset, tmp_path):
    """Without a budget, cosine decays by steps over all --epochs: a resume continues it exactly,
    and the last step of epoch 2 (step 7 of 8) runs at 0.01 * 0.5 * (1 + cos(7 pi / 8))."""
    args = run_args(dataset, tmp_path, "--epochs", "2", "--lr-schedule", "cosine")
    full = losses_of(args + ["--out", str(tmp_path / "a")])
    first = losses_of(args + ["--out", str(tmp_path / "b")], interrupt_at=5)
    rest = losses_of(["--resume", str(tmp_path / "b"), "--no-progress"])
    assert first + rest == full
    lrs = [float(r["lr"]) for r in rows_of(tmp_path / "b")]
    assert lrs == pytest.approx([0.01 * 0.5 * (1 + np.cos(np.pi * t)) for t in (3 / 8, 7 / 8)],
                                rel=1e-5)


@pytest.mark.parametrize("value", ["0", "-5", "nan", "inf", "soon"])
def test_time_budget_must_be_a_positive_number_of_minutes(value, capsys):
    with pytest.raises(SystemExit) as e:
        train.parse_args(["--time-budget", value])
    err = capsys.readouterr().err
    assert e.value.code == 2 and "--time-budget" in err and "minutes" in err


def test_a_run_saved_before_the_ablation_options_resumes(dataset, tmp_path):
    """Checkpoints older than --dropout, --pool-size and --no-lrn lack them: they resume, load
    and predict with the paper's choices (0.5, 3, LRN), as they were trained."""
    import json
    out = tmp_path / "old"
    assert train.main(run_args(dataset, tmp_path, "--epochs", "1", "--out", str(out))) == 0
    with np.load(out / "last.npz") as f:
        arrays = {k: f[k] for k in f.files}
    meta = json.loads(str(arrays["meta"]))
    for settings in (meta["args"], meta["model"]):
        for key in ("dropout", "pool_size", "lrn"):
            del settings[key]
    np.savez(out / "last.npz", **dict(arrays, meta=np.array(json.dumps(meta))))
    net, _, _ = checkpoint.model_from_checkpoint(out / "last.npz")
    assert net["pool1"].kernel_size == 3 and net["drop6"].p == 0.5
    assert "norm1" in [layer.name for layer in net.layers]
    assert train.main(["--resume", str(out), "--epochs", "2", "--no-progress"]) == 0
    assert [r["epoch"] for r in csv.DictReader(open(out / "metrics.csv"))] == ["1", "2"]
