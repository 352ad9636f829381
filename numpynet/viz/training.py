"""Plots of training: the curves of a run, several runs side by side, conv1's filters.

    read_metrics(path)            metrics.csv -> {column: array}
    plot_curves(metrics)          loss and top-1 / top-5 error per epoch, lr drops marked
    plot_training_error(curves)   training error per epoch of several runs (ReLU vs tanh)
    filter_grid(W)                conv1's kernels tiled into one RGB image
    plot_filters(W)               that image (the paper's figure 3)

Used by the training CLI (curves.png, filters.png) and notebooks 4 and 5.
"""

import csv
from pathlib import Path

import numpy as np

from .figures import palette, pyplot


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
    plt = pyplot()
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
                ax_err.plot(epoch, 100 * m[col], style,
                            label=f"val top-{col[len('val_top')]}")
        # a step drop (lr / 10), not the small per-epoch decrements of a cosine schedule
        drops = epoch[1:][m["lr"][1:] <= m["lr"][:-1] / 2]
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


def plot_training_error(curves, threshold=None, title="training error per epoch"):
    """curves: {label: training error (fraction) after each epoch}. With `threshold`, a dashed
    line there and, for each run, the first epoch that reached it (the paper's figure 1)."""
    plt = pyplot()
    fig, ax = plt.subplots(figsize=(6.5, 3.8))
    for (label, errors), colour in zip(curves.items(), palette(len(curves))):
        errors = 100 * np.asarray(errors, dtype=float)
        epochs = np.arange(1, len(errors) + 1)
        reached, note = [], ""
        if threshold is not None:
            reached = np.nonzero(errors <= 100 * threshold)[0]
            note = (f" (reached {100 * threshold:g}% at epoch {epochs[reached[0]]})"
                    if len(reached) else f" (not below {100 * threshold:g}%)")
        ax.plot(epochs, errors, "o-", ms=3, color=colour, label=label + note)
        if len(reached):
            ax.axvline(epochs[reached[0]], color=colour, ls=":", lw=1)
    if threshold is not None:
        ax.axhline(100 * threshold, color="k", ls="--", lw=1)
    ax.set(xlabel="epoch", ylabel="training error (%)", title=title, ylim=(0, 100))
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
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
    plt = pyplot()
    W = np.asarray(W)
    columns = min(columns, len(W))
    grid = filter_grid(W, columns)
    rows = -(-len(W) // columns)
    fig, ax = plt.subplots(figsize=(max(columns * 0.6, 3.0), rows * 0.6 + 0.6))
    ax.imshow(grid, interpolation="nearest")
    ax.set_axis_off()
    ax.set_title(title)
    fig.tight_layout()
    return fig
