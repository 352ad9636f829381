"""What a run writes besides its checkpoints: config.json, a row of metrics.csv per epoch
(printed too), and the plots curves.png and filters.png."""

import csv
import json
from dataclasses import asdict

from .. import backend, files, settings, viz

METRIC_COLUMNS = ["epoch", "train_loss", "train_top1_err", "val_loss", "val_top1_err",
                  "val_top5_err", "lr", "seconds", "images_per_s"]


def write_epoch(out, row, net, note=""):
    """Append the epoch's row to metrics.csv, print it, refresh curves.png and filters.png."""
    path = out / "metrics.csv"
    new = not path.exists()
    with open(path, "a", newline="") as f:
        writer = csv.DictWriter(f, METRIC_COLUMNS)
        if new:
            writer.writeheader()
        writer.writerow({k: (f"{v:.6g}" if isinstance(v, float) else v) for k, v in row.items()})
    val = (f"val loss {row['val_loss']:.3f}, top-1 err {100 * row['val_top1_err']:.1f}%, "
           f"top-5 err {100 * row['val_top5_err']:.1f}%" if row["val_loss"] != "" else "no val")
    print(f"epoch {row['epoch']:g}{note}: train loss {row['train_loss']:.3f}, top-1 err "
          f"{100 * row['train_top1_err']:.1f}%; {val}; lr {row['lr']:g}; {row['seconds']:.0f}s "
          f"({row['images_per_s']:.1f} img/s)", flush=True)
    viz.save(viz.plot_curves(path, title=str(out)), out / "curves.png")
    W, groups = backend.to_numpy(net["conv1"].params["W"]), net["conv2"].groups
    per = len(W) // groups                        # kernels per group: 48 at full width
    viz.save(viz.plot_filters(W, 12 if per % 12 == 0 else per, groups=groups,
                              title=f"conv1 after epoch {row['epoch']:g}"), out / "filters.png")


def write_config(out, run_settings):
    """config.json: the run's settings (numpynet/settings.py), as its checkpoints store them."""
    with files.atomic_path(out / "config.json") as tmp:
        tmp.write_text(json.dumps(asdict(run_settings), indent=2) + "\n")


def config_line(run_settings):
    """The effective settings as flags, printed at the start of a run."""
    return "config  " + " ".join(f"--{k.replace('_', '-')}={settings.shown(v)}"
                                 for k, v in asdict(run_settings).items()
                                 if v is not None and v is not False)
