"""numpynet.ablate: the variants are the networks they claim to be, the runs are real training
runs (resumed when cut short), and the paired differences and the table are right."""

import csv

import numpy as np
import pytest

from numpynet import ablate, checkpoint, train
from numpynet.data.demo import generate_demo_dataset
from numpynet.layers import LocalResponseNorm, MaxPool2D
from numpynet.models import alexnet

QUICK = ["--width", "0.125", "--crop", "67", "--image-size", "80", "--batch-size", "8",
         "--no-progress", "--workers", "1"]


@pytest.fixture(scope="module")
def dataset(tmp_path_factory):
    return generate_demo_dataset(tmp_path_factory.mktemp("demo") / "imagenet", num_classes=4,
                                 train_per_class=8, val_per_class=3, image_size=64, seed=1,
                                 progress=False, workers=1)


def options(dataset, tmp_path):
    return ["--data", str(dataset), "--cache", str(tmp_path / "cache"), *QUICK]


def test_each_variant_undoes_exactly_one_choice():
    base = alexnet(10, width=0.25, input_size=99)
    pools = [l for l in alexnet(10, width=0.25, input_size=99, pool_size=2)
             if isinstance(l, MaxPool2D)]
    assert [(p.kernel_size, p.stride) for p in pools] == [(2, 2)] * 3
    no_lrn = alexnet(10, width=0.25, input_size=99, lrn=False)
    assert not any(isinstance(l, LocalResponseNorm) for l in no_lrn)
    assert [l.name for l in no_lrn] == [l.name for l in base if l.name not in ("norm1", "norm2")]
    x = np.random.default_rng(0).normal(0, 64, (2, 3, 99, 99)).astype(np.float32)
    for variant in (alexnet(10, width=0.25, input_size=99, pool_size=2), no_lrn):
        assert variant.forward(x, train=False).shape == (2, 10)     # same sizes, 2x2 pooling
    assert {l.p for l in alexnet(10, dropout=0.0) if hasattr(l, "p")} == {0.0}
    with pytest.raises(ValueError, match="pool_size"):
        alexnet(10, pool_size=4)


def test_an_ablation_trains_every_variant_and_seed_and_resumes(dataset, tmp_path):
    out, calls = tmp_path / "ablate", []

    def counting_train(argv):
        calls.append(argv)
        return train.main(argv)

    argv = ["--seeds", "2", "--epochs", "1", "--out", str(out)] + options(dataset, tmp_path)
    results, _ = ablate.run(argv, train=counting_train)
    assert [(r["variant"], r["seed"]) for r in results] == [
        (v, s) for v in ablate.VARIANTS for s in (0, 1)]
    assert len(calls) == 8 and all(0 <= r["val_top1_err"] <= 1 for r in results)
    # each run is the network its variant names, trained from its seed
    for variant, seed, want in (("pool2x2", 1, {"pool_size": 2}), ("no-lrn", 0, {"lrn": False}),
                                ("no-dropout", 1, {"dropout": 0.0}), ("baseline", 0, {})):
        _, meta, _ = checkpoint.model_from_checkpoint(out / variant / f"seed{seed}" / "last.npz")
        model = meta["model"]
        assert model["seed"] == seed
        for key, default in (("pool_size", 3), ("lrn", True), ("dropout", 0.5)):
            assert model[key] == want.get(key, default), (variant, key)
    rows = list(csv.DictReader(open(out / "results.csv")))
    assert len(rows) == 8 and (out / "ablation.png").stat().st_size > 0

    # a second call with more epochs resumes every run; the same call again trains nothing
    calls.clear()
    more, _ = ablate.run(["--seeds", "2", "--epochs", "2", "--out", str(out)]
                         + options(dataset, tmp_path), train=counting_train)
    assert len(calls) == 8 and all(c[0] == "--resume" for c in calls)
    assert all(ablate.last_row(out / r["variant"] / f"seed{r['seed']}")["epoch"] == 2
               for r in more)
    calls.clear()
    ablate.run(["--seeds", "2", "--epochs", "2", "--out", str(out)] + options(dataset, tmp_path),
               train=counting_train)
    assert calls == []


def test_differences_are_paired_by_seed_and_the_table_says_so():
    results = [dict(variant=v, seed=s, val_top1_err=e, val_top5_err=0.1, train_top1_err=0.2,
                    seconds=1.0)
               for v, errors in (("baseline", (0.50, 0.60, 0.40)), ("no-lrn", (0.52, 0.63, 0.41)))
               for s, e in enumerate(errors)]
    d = ablate.differences(results)["no-lrn"]
    np.testing.assert_allclose(d, [2.0, 3.0, 1.0], atol=1e-9)        # points, seed by seed
    text = ablate.summary(results)
    assert "+2.0 +- 0.6" in text and "+1.4" in text                    # se = 1 / sqrt(3)
    assert "50.0%" in text and "52.0%" in text


def test_options_the_ablation_sets_itself_are_refused(capsys):
    for bad in (["--seed", "3"], ["--resume=x", "--seeds", "1"], ["--no-lrn"]):
        with pytest.raises(SystemExit):
            ablate.parse_args(bad)
        assert "set by the ablation itself" in capsys.readouterr().err
    own, rest = ablate.parse_args(["--variants", "no-lrn", "--width", "0.25"])
    assert own.variants == ["baseline", "no-lrn"] and rest == ["--width", "0.25"]


def test_a_failed_run_names_its_folder(dataset, tmp_path, capsys):
    code = ablate.main(["--seeds", "1", "--epochs", "1", "--out", str(tmp_path / "a"),
                        "--data", str(tmp_path / "nowhere"), "--no-progress"])
    assert code == 2
    err = capsys.readouterr().err
    assert "baseline (seed 0) failed" in err and str(tmp_path / "a" / "baseline") in err
