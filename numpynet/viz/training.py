"""Plots of training: the curves of a run, several runs side by side, conv1's filters.

    read_metrics(path)            metrics.csv -> {column: array}
    plot_curves(metrics)          loss and top-1 / top-5 error per epoch, lr drops marked
    plot_training_error(curves)   training error per epoch of several runs (ReLU vs tanh)
    filter_grid(W)                conv1's kernels tiled into one RGB image
    plot_filters(W, groups=2)     that image (the paper's figure 3), a line between the groups
    colour_spread(W)              per kernel, how much its colour channels differ (0: grey)
    smoothness(W)                 per kernel, how alike neighbouring weights are (0: noise)
    plot_update_ratios(layers, r) each layer's ||update|| / ||W|| per step, per init

Used by the training CLI (curves.png, filters.png), numpynet.diagnostics and notebooks 4, 5.
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


def colour_spread(W):
    """For each kernel of W (F, 3, kh, kw): the variance across its 3 colour channels, averaged
    over its kh*kw pixels, divided by the variance of all its values. 0 for a grey kernel (the
    same pattern in R, G and B: colour-agnostic); about 2/3 for random noise; towards 1 for
    colour-opponent kernels (red against green, blue against yellow). Returns (F,)."""
    W = np.asarray(W, dtype=np.float64)
    if W.ndim != 4 or W.shape[1] != 3:
        raise ValueError(f"colour_spread: expected RGB kernels (F, 3, kh, kw), got {W.shape}")
    across = W.var(axis=1).mean(axis=(1, 2))                      # (F,)
    total = W.reshape(len(W), -1).var(axis=1)
    return np.divide(across, total, out=np.zeros_like(across), where=total > 0)


def smoothness(W):
    """For each kernel of W (F, C, kh, kw): the correlation between horizontally and vertically
    neighbouring weights (within each channel, over the whole kernel). About 0 for the white
    noise of an initialisation; towards 1 for the smooth edges and blobs of a trained first
    layer (the paper's figure 3). A number for "distinguishable from noise". Returns (F,)."""
    W = np.asarray(W, dtype=np.float64)
    if W.ndim != 4 or min(W.shape[2:]) < 2:
        raise ValueError(f"smoothness: expected kernels (F, C, kh, kw) of at least 2x2, "
                         f"got {W.shape}")
    W = W - W.mean(axis=(2, 3), keepdims=True)                     # each channel around 0
    pairs = [(W[..., :, 1:], W[..., :, :-1]), (W[..., 1:, :], W[..., :-1, :])]
    products = sum((a * b).sum(axis=(1, 2, 3)) for a, b in pairs)
    energy = sum(0.5 * ((a ** 2).sum(axis=(1, 2, 3)) + (b ** 2).sum(axis=(1, 2, 3)))
                 for a, b in pairs)
    return np.divide(products, energy, out=np.zeros_like(products), where=energy > 0)


def plot_filters(W, columns=12, title="conv1 filters", groups=1):
    """The paper's figure 3: conv1's kernels as colour images. With `groups=2` a red line
    divides the first half from the second: in AlexNet (groups=2 in conv2) kernels 0-47 feed
    only conv2's first group, 48-95 only its second, as if on different GPUs; the paper saw
    colour-agnostic kernels on one and colour-specific ones on the other. Each group must fill
    whole rows (its size a multiple of `columns`)."""
    plt = pyplot()
    W = np.asarray(W)
    columns = min(columns, len(W))
    per = len(W) // groups
    if groups > 1 and (len(W) % groups or per % columns):
        raise ValueError(f"plot_filters: {len(W)} kernels in {groups} groups of {per} do not "
                         f"fill whole rows of {columns}; pass columns= a divisor of {per}")
    grid = filter_grid(W, columns)
    rows = -(-len(W) // columns)
    fig, ax = plt.subplots(figsize=(max(columns * 0.6, 3.0), rows * 0.6 + 0.6))
    ax.imshow(grid, interpolation="nearest")
    cell = W.shape[2] + 1                                  # a kernel and its 1 px of padding
    for g in range(1, groups):
        ax.axhline(g * per // columns * cell, color="tab:red", lw=2.5, gid=f"divider:{g}")
    if groups > 1:
        for g in range(groups):
            ax.text(-1, (g + 0.5) * (per // columns) * cell, f"group {g + 1}\n{g * per}-"
                    f"{(g + 1) * per - 1}", ha="right", va="center", fontsize=8)
    ax.set_axis_off()
    ax.set_title(title)
    fig.tight_layout()
    return fig


def plot_update_ratios(layers, by_init, title="update / weight ratio per step"):
    """by_init: {init name: array (steps, len(layers)) of ||v|| / ||W||}, as
    numpynet.diagnostics records them. One panel per init, one line per layer, log scale, the
    rule of thumb 1e-3 dashed."""
    plt = pyplot()
    fig, axes = plt.subplots(1, len(by_init), figsize=(4.6 * len(by_init), 3.6), sharey=True,
                             squeeze=False)
    colours = palette(len(layers))
    for ax, (init, ratios) in zip(axes[0], by_init.items()):
        steps = np.arange(1, len(ratios) + 1)
        for j, (name, colour) in enumerate(zip(layers, colours)):
            ax.semilogy(steps, ratios[:, j], color=colour, lw=2.2 if name == "conv1" else 1,
                        label=name)
        ax.axhline(1e-3, color="k", ls="--", lw=1)
        ax.set(xlabel="step", title=f"init {init}")
        ax.grid(alpha=0.3, which="both")
    axes[0][0].set_ylabel("||update|| / ||W||")
    axes[0][-1].legend(fontsize=7, ncol=2)
    fig.suptitle(title)
    fig.tight_layout()
    return fig
