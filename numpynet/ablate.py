"""Test the paper's claims: train with one of its choices undone, over several seeds.

    python -m numpynet.ablate [--variants ...] [--seeds 3] [--epochs 8] [options of train]

Each variant is the baseline (the paper's network, at whatever --width and --crop you give)
with one change:

    baseline      nothing changed
    pool2x2       non-overlapping 2x2 max-pooling at stride 2 instead of 3x3 (section 3.4:
                  top-1 error +0.4% on ImageNet without the overlap); the same output sizes
    no-lrn        no local response normalisation (section 3.3: top-1 +1.4%)
    no-dropout    no dropout in fc6 and fc7 (section 4.2: "substantial overfitting")

Every variant is trained once per seed (--seed 0, 1, ...: the same data order, crops and initial
weights for every variant of one seed) with numpynet.train, into --out/<variant>/seed<k>/. A run
folder that already holds all its epochs is reused, so an interrupted ablation continues where
it stopped. Then, from each run's last metrics row:

    results.csv     variant, seed, val top-1 / top-5 error, train top-1 error, seconds
    ablation.png    each variant's change of val top-1 error against the baseline, per seed
                    and as a mean with its standard error

The change against the baseline is taken seed by seed (paired), which removes the part of the
noise that one seed's data order and initial weights put into both runs. Small runs are noisy
all the same: a difference within about two standard errors of 0 is not a finding.
"""

import argparse
import csv
import sys
from datetime import datetime
from pathlib import Path

import numpy as np

from . import __version__, files, viz
from .settings import COUNT

# name -> (the change, as numpynet.train options; the paper's top-1 change from undoing it)
VARIANTS = {
    "baseline": ([], None),
    "pool2x2": (["--pool-size", "2"], 0.4),
    "no-lrn": (["--no-lrn"], 1.4),
    "no-dropout": (["--dropout", "0"], None),
}
OWN = ("--seed", "--out", "--resume", "--epochs", "--pool-size", "--no-lrn", "--dropout")


def parse_args(argv=None):
    """-> (the ablation's own arguments, the options passed on to every numpynet.train run)."""
    from .train import parse_args as train_args
    p = argparse.ArgumentParser(prog="python -m numpynet.ablate",
                                description=__doc__.split("\n")[0], allow_abbrev=False,
                                epilog="Any other option goes to every numpynet.train run "
                                       "(--width, --crop, --batch-size, --lr, --data, ...).")
    p.add_argument("--version", action="version", version=f"numpynet {__version__}")
    p.add_argument("--variants", nargs="+", choices=list(VARIANTS), default=list(VARIANTS),
                   help="which variants to train; the baseline is always added (default: all)")
    p.add_argument("--seeds", type=COUNT, default=3, help="seeds per variant, 0, 1, ... "
                   "(default: 3)")
    p.add_argument("--epochs", type=COUNT, default=8, help="epochs per run (default: 8)")
    p.add_argument("--out", help="output folder (default: runs/ablate-<date-time>)")
    own, rest = p.parse_known_args(argv)
    for option in rest:
        if option.split("=")[0] in OWN:
            p.error(f"{option.split('=')[0]} is set by the ablation itself for every run; "
                    f"leave it out")
    train_args(rest)                # a bad option of train's stops here, with train's error
    own.variants = ["baseline"] + [v for v in own.variants if v != "baseline"]
    return own, rest


def last_row(run):
    """The last row of run/metrics.csv as {column: float}, plus "seconds_total" (the run's
    training time over all its rows), or None if there is none."""
    path = Path(run) / "metrics.csv"
    metrics = viz.read_metrics(path) if path.is_file() else {}
    if not metrics:
        return None
    return dict({k: float(v[-1]) for k, v in metrics.items()},
                seconds_total=float(metrics["seconds"].sum()))


def mean_and_error(d):
    """(mean, standard error of the mean) of the paired changes d; the error is NaN for one."""
    return d.mean(), d.std(ddof=1) / np.sqrt(len(d)) if len(d) > 1 else np.nan


def train_all(own, train_options, out, train=None):
    """Train every (variant, seed) not yet trained; -> list of result rows (dicts)."""
    if train is None:
        from .train import main as train
    results, total = [], len(own.variants) * own.seeds
    for k, (variant, seed) in enumerate((v, s) for v in own.variants for s in range(own.seeds)):
        run = out / variant / f"seed{seed}"
        row = last_row(run)
        if row is None or row["epoch"] < own.epochs:       # new, or stopped part-way: (re)start
            print(f"--- [{k + 1}/{total}] {variant}, seed {seed}: training into {run}", flush=True)
            resume = ["--resume", str(run)] if (run / "last.npz").is_file() else \
                train_options + VARIANTS[variant][0] + ["--seed", str(seed), "--out", str(run)]
            code = train(resume + ["--epochs", str(own.epochs)])
            if code:
                raise RuntimeError(f"training {variant} (seed {seed}) failed with exit code "
                                   f"{code}; its run folder is {run}")
            row = last_row(run)
        else:
            print(f"--- [{k + 1}/{total}] {variant}, seed {seed}: reusing {run}")
        results.append(dict(variant=variant, seed=seed, val_top1_err=row["val_top1_err"],
                            val_top5_err=row["val_top5_err"],
                            train_top1_err=row["train_top1_err"], seconds=row["seconds_total"]))
    return results


def differences(results):
    """{variant: array over seeds of (its val top-1 error - the baseline's, same seed)}, in
    percentage points, for every variant but the baseline."""
    error = {(r["variant"], r["seed"]): 100 * r["val_top1_err"] for r in results}
    variants = list(dict.fromkeys(r["variant"] for r in results))
    seeds = sorted({r["seed"] for r in results})
    return {v: np.array([error[v, s] - error["baseline", s] for s in seeds])
            for v in variants if v != "baseline"}


def summary(results):
    """The results as a text table: mean errors, and each variant's paired change."""
    diffs = differences(results)
    seeds = len({r["seed"] for r in results})
    lines = [f"val top-1 error over {seeds} seed(s); change = variant - baseline, same seed, "
             f"mean +- standard error",
             f"{'variant':<12}{'val top-1':>10}{'val top-5':>10}{'train top-1':>12}"
             f"{'change':>16}{'paper':>8}"]
    for variant in dict.fromkeys(r["variant"] for r in results):
        rows = [r for r in results if r["variant"] == variant]
        cells = "".join(f"{100 * np.mean([r[c] for r in rows]):>{w}.1f}%"
                        for c, w in (("val_top1_err", 9), ("val_top5_err", 9),
                                     ("train_top1_err", 11)))
        change, paper = "", ""
        if variant in diffs:
            mean, se = mean_and_error(diffs[variant])
            change = f"{mean:+.1f}" if np.isnan(se) else f"{mean:+.1f} +- {se:.1f}"
            if VARIANTS[variant][1] is not None:
                paper = f"+{VARIANTS[variant][1]:.1f}"
        lines.append(f"{variant:<12}{cells}{change:>16}{paper:>8}")
    return "\n".join(lines)


def write_results(path, results):
    columns = ["variant", "seed", "val_top1_err", "val_top5_err", "train_top1_err", "seconds"]
    with files.atomic_path(path) as tmp, open(tmp, "w", newline="") as f:
        writer = csv.DictWriter(f, columns)
        writer.writeheader()
        writer.writerows(results)


def plot(results, title="what undoing one choice does to the val top-1 error"):
    """Per variant: each seed's paired change (dots) and the mean +- standard error (bar);
    the paper's ImageNet figure where it gives one (star)."""
    plt = viz.figures.pyplot()
    diffs = differences(results)
    fig, ax = plt.subplots(figsize=(1.8 + 1.5 * len(diffs), 3.6))
    for i, (variant, d) in enumerate(diffs.items()):
        mean, se = mean_and_error(d)
        ax.bar(i, mean, yerr=0 if np.isnan(se) else se, color="tab:blue", alpha=0.5, capsize=6)
        ax.plot(np.full(len(d), i), d, "o", color="tab:blue", ms=4)
        if VARIANTS[variant][1] is not None:
            ax.plot(i, VARIANTS[variant][1], "*", color="tab:red", ms=12,
                    label="the paper (ImageNet)" if i == 0 else None)
    ax.axhline(0, color="k", lw=1)
    ax.set_xticks(range(len(diffs)), list(diffs))
    ax.set(ylabel="val top-1 error change (points)", title=title)
    ax.grid(alpha=0.3, axis="y")
    if any(VARIANTS[v][1] is not None for v in diffs):
        ax.legend(fontsize=8)
    fig.tight_layout()
    return fig


def run(argv=None, train=None):
    """The whole ablation; -> (results, output folder). `train` (tests) replaces numpynet.train's
    main."""
    own, train_options = parse_args(argv)
    out = Path(own.out or Path("runs") / datetime.now().strftime("ablate-%Y%m%d-%H%M%S"))
    results = train_all(own, train_options, out, train)
    write_results(out / "results.csv", results)
    viz.save(plot(results), out / "ablation.png")
    return results, out


def main(argv=None):
    try:
        results, out = run(argv)
    except RuntimeError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    print(summary(results))
    print(f"wrote {out / 'results.csv'} and {out / 'ablation.png'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
