"""Run settings declared once (numpynet/settings.py): stored with a run, resumed as "the saved
settings replaced by the flags given", and runs written before the dataclasses still resume."""

import csv
import json
import shutil
from dataclasses import asdict

import numpy as np
import pytest

from numpynet import checkpoint, settings, train
from numpynet.data.demo import generate_demo_dataset
from test_train import QUICK  # noqa: E402


@pytest.fixture(scope="module")
def dataset(tmp_path_factory):
    root = tmp_path_factory.mktemp("demo")
    return generate_demo_dataset(root / "imagenet", num_classes=4, train_per_class=8,
                                 val_per_class=3, image_size=64, seed=1, progress=False,
                                 workers=1)


@pytest.fixture(scope="module")
def one_epoch(dataset, tmp_path_factory):
    """A run of one epoch (step schedule, lr / 10 after epoch 1) and its command line."""
    tmp = tmp_path_factory.mktemp("runs")
    argv = ["--data", str(dataset), "--cache", str(tmp / "cache"), *QUICK,
            "--lr-schedule", "step", "--lr-steps", "1"]
    assert train.main(argv + ["--epochs", "1", "--out", str(tmp / "run")]) == 0
    return tmp / "run", argv


def old_settings(dataset, cache, out):
    """meta["args"] and config.json as numpynet.train wrote them before numpynet/settings.py:
    vars() of its argparse namespace, --lr-steps as text (captured from that code)."""
    return {"data": str(dataset), "subset": None, "classes": None, "per_class": None,
            "val_per_class": None, "val_labels": None, "image_size": 80, "cache": str(cache),
            "workers": 1, "preset": "paper", "init": "he", "groups": 2, "width": 0.125,
            "crop": 67, "dropout": 0.5, "pool_size": 3, "lrn": True, "epochs": 1,
            "batch_size": 8, "lr": 0.01, "momentum": 0.9, "weight_decay": 0.0005,
            "lr_schedule": "step", "lr_patience": 1, "lr_steps": "1", "time_budget": None,
            "no_pca": False, "seed": 0, "device": "cpu", "distributed": False,
            "model_parallel": False, "overlap": True, "check_weights_every": 100,
            "out": str(out), "resume": None, "no_progress": True}


def rewrite_meta(path, args):
    with np.load(path) as f:
        arrays = {k: f[k] for k in f.files}
    meta = dict(json.loads(str(arrays["meta"])), args=args)
    np.savez(path, **dict(arrays, meta=np.array(json.dumps(meta))))


def test_a_run_written_before_the_settings_dataclasses_resumes_exactly(one_epoch, tmp_path):
    run, argv = one_epoch
    old = tmp_path / "old"
    shutil.copytree(run, old)
    args = old_settings(argv[1], argv[3], old)
    for name in ("last.npz", "best.npz"):
        rewrite_meta(old / name, args)
    (old / "config.json").write_text(json.dumps(args, indent=2) + "\n")
    assert train.main(["--resume", str(old), "--epochs", "2", "--no-progress"]) == 0
    rows = list(csv.DictReader(open(old / "metrics.csv")))
    assert [r["epoch"] for r in rows] == ["1", "2"]
    assert float(rows[1]["lr"]) == pytest.approx(0.001)         # "--lr-steps 1" was read
    whole = tmp_path / "whole"
    assert train.main(argv + ["--epochs", "2", "--out", str(whole)]) == 0
    a, _ = checkpoint.load(whole / "last.npz")
    b, meta = checkpoint.load(old / "last.npz")
    for key in a:
        np.testing.assert_array_equal(a[key], b[key], err_msg=key)
    assert meta["args"]["lr_steps"] == [1] and meta["args"]["epochs"] == 2


def test_resume_is_the_saved_settings_replaced_by_the_flags_given(one_epoch):
    run, _ = one_epoch
    _, meta = checkpoint.load(run / "last.npz")
    assert meta["args"] == json.loads((run / "config.json").read_text())
    again = train.parse_args(["--resume", str(run), "--lr", "0.05", "--time-budget", "2"])
    assert again == settings.resumed(meta["args"], {"resume": str(run), "lr": 0.05,
                                                    "time_budget": 2.0})
    assert (again.lr, again.time_budget, again.out) == (0.05, 2.0, str(run))
    assert (again.batch_size, again.width, again.lr_steps) == (8, 0.125, (1,))     # saved
    assert again.no_progress is False       # this invocation's: never carried over
    plain = train.parse_args(["--resume", str(run)])
    assert plain.lr == 0.01 and plain.time_budget is None


def test_resume_keeps_the_network(one_epoch, capsys):
    run, _ = one_epoch
    assert train.parse_args(["--resume", str(run), "--width", "0.125"]).width == 0.125
    for flag, value in (("--width", "0.25"), ("--groups", "1"), ("--no-lrn", None)):
        with pytest.raises(SystemExit) as e:
            train.parse_args(["--resume", str(run), flag] + ([value] if value else []))
        assert e.value.code == 2 and flag in capsys.readouterr().err


def test_saved_settings_of_older_and_newer_runs():
    """Fields a run lacks take their defaults (the paper's network); unknown keys and this
    invocation's fields are dropped."""
    saved = {"lr": 0.02, "lr_steps": "5,9", "time_budget": 3.0, "renamed_later": 1}
    s = settings.from_saved(saved)
    assert (s.lr, s.lr_steps, s.time_budget, s.dropout, s.lrn) == (0.02, (5, 9), None, 0.5, True)
    assert settings.from_saved(json.loads(json.dumps(asdict(s)))) == s


def test_the_model_part_is_what_the_bench_declares_too():
    s = settings.RunSettings(width=0.5, crop=99)
    assert s.model() == settings.ModelSettings(width=0.5, crop=99)
    assert s.problems() == [] and "--crop 300" in settings.RunSettings(crop=300).problems()[0]
