"""Plots, in plain matplotlib: used by the notebooks and by the training CLI.

    plot_curves(metrics)     loss and top-1 / top-5 error per epoch, lr drops marked
    plot_filters(W)          conv1's kernels as a grid of colour images (the paper's figure 3)
    save(fig, path)          write a figure atomically (temp file, then rename)
"""

import csv
import os
from pathlib import Path

import numpy as np


def _plt():
    import matplotlib
    if os.environ.get("MPLBACKEND") is None and "ipykernel" not in __import__("sys").modules:
        matplotlib.use("Agg")             # no screen needed outside notebooks
    import matplotlib.pyplot as plt
    return plt


def read_metrics(path):
    """metrics.csv -> {column: np.array} (empty cells become NaN)."""
    with open(path, newline="") as f:
        rows = list(csv.DictReader(f))
    if not rows:
        return {}
    return {k: np.array([float(r[k]) if r[k] not in ("", None) else np.nan for r in rows])
            for k in rows[0]}


def plot_curves(metrics, title=None):
    """Loss (left) and error rates (right) per epoch; vertical lines where the lr dropped."""
    plt = _plt()
    m = read_metrics(metrics) if isinstance(metrics, (str, Path)) else metrics
    fig, (ax_loss, ax_err) = plt.subplots(1, 2, figsize=(10, 3.8))
    if m:
        epoch = m["epoch"]
        ax_loss.plot(epoch, m["train_loss"], "o-", label="train")
        if "val_loss" in m and np.isfinite(m["val_loss"]).any():
            ax_loss.plot(epoch, m["val_loss"], "o-", label="val")
        ax_err.plot(epoch, 100 * m["train_top1_err"], "o-", label="train top-1")
        for col, style in (("val_top1_err", "o-"), ("val_top5_err", "s--")):
            if col in m and np.isfinite(m[col]).any():
                ax_err.plot(epoch, 100 * m[col], style, label=col.replace("_err", "")
                            .replace("_", " "))
        drops = epoch[1:][np.diff(m["lr"]) < 0]
        for ax in (ax_loss, ax_err):
            for e in drops:
                ax.axvline(e - 0.5, color="grey", ls=":", lw=1)
    ax_loss.set(xlabel="epoch", ylabel="cross-entropy loss", title="loss")
    ax_err.set(xlabel="epoch", ylabel="error (%)", title="error (dotted: lr / 10)", ylim=(0, 100))
    for ax in (ax_loss, ax_err):
        ax.grid(alpha=0.3)
        ax.legend(fontsize=8)
    if title:
        fig.suptitle(title)
    fig.tight_layout()
    return fig


def filter_grid(W, columns=12, pad=1):
    """conv1 weights (F, 3, kh, kw) -> one RGB image (rows*(kh+pad), columns*(kw+pad), 3) in
    [0, 1], each filter stretched to the full range on its own so that its pattern shows."""
    W = np.asarray(W, dtype=np.float64)
    F, C, kh, kw = W.shape
    if C != 3:
        raise ValueError(f"filter_grid: expected RGB filters (F, 3, kh, kw), got {W.shape}")
    rows = -(-F // columns)
    grid = np.ones((rows * (kh + pad) + pad, columns * (kw + pad) + pad, 3))
    for f in range(F):
        img = W[f].transpose(1, 2, 0)
        lo, hi = img.min(), img.max()
        img = (img - lo) / (hi - lo) if hi > lo else np.full_like(img, 0.5)
        r, c = divmod(f, columns)
        grid[pad + r * (kh + pad):pad + r * (kh + pad) + kh,
             pad + c * (kw + pad):pad + c * (kw + pad) + kw] = img
    return grid


def plot_filters(W, columns=12, title="conv1 filters"):
    """The paper's figure 3: conv1's kernels as colour images (with groups=2 the first 48 and the
    last 48 were learned on different GPUs: the paper saw colour-agnostic ones on one and
    colour-specific ones on the other)."""
    plt = _plt()
    grid = filter_grid(W, columns)
    fig, ax = plt.subplots(figsize=(columns * 0.6, grid.shape[0] / grid.shape[1] * columns * 0.6))
    ax.imshow(grid, interpolation="nearest")
    ax.set_axis_off()
    ax.set_title(title)
    fig.tight_layout()
    return fig


def save(fig, path):
    """Write a figure to `path` atomically and close it."""
    plt = _plt()
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.stem}.tmp-{os.getpid()}{path.suffix}")
    fig.savefig(tmp, dpi=100)
    os.replace(tmp, path)
    plt.close(fig)
    return path
