"""Plots, in plain matplotlib: used by the notebooks and by the training CLI.

Training
    plot_curves(metrics)          loss and top-1 / top-5 error per epoch, lr drops marked
    plot_training_error(curves)   training error per epoch of several runs (ReLU vs tanh)
Layers (notebook 1)
    plot_matrix(a)                a small array as a grid of numbers
    plot_im2col(x, kh, kw)        patches of an image becoming the columns of a matrix
    plot_pooling(x, settings)     max-pooling windows and their outputs, e.g. 2x2/2 vs 2x2/1
    plot_lrn_effect(a, b)         activations across channels before and after LRN
The network (notebook 2)
    multiply_adds(layer, shape)   multiply-adds of one layer for one image
    layer_table(net, shape)       per layer: output shape, parameters, activation memory, FLOPs
    format_layer_table(rows)      that table as text
    plot_layer_costs(rows)        parameters, memory and multiply-adds per layer as bars
Images (notebooks 3 and 5)
    as_rgb(image)                 uint8 or 0-255 float, HWC or CHW -> float HWC in [0, 1]
    plot_image_grid(images)       a grid of images with titles
    plot_crop_boxes(image, ...)   where crops of an image were taken
    plot_filters(W)               conv1's kernels as a grid of colour images (the paper's figure 3)
    plot_top5(images, probs)      five most probable classes under each image (figure 4, left)
    plot_neighbours(q, nbrs)      each query image beside its nearest neighbours (figure 4, right)
    confusion_matrix(y, pred, k)  counts[true, predicted]
    plot_confusion(y, pred)       that matrix as a picture
    save(fig, path)               write a figure atomically (temp file, then rename)

Every plot_* function returns a matplotlib Figure (in a notebook it is shown when the cell ends).
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
                ax_err.plot(epoch, 100 * m[col], style,
                            label=f"val top-{col[len('val_top')]}")
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



# --------------------------------------------------------------------------- small arrays

def _colours(n):
    """n distinguishable colours (tab10, then tab20's lighter ones)."""
    plt = _plt()
    base = list(plt.get_cmap("tab10").colors) + list(plt.get_cmap("tab20").colors[1::2])
    return [base[i % len(base)] for i in range(n)]


def plot_matrix(a, ax=None, title=None, fmt="{:g}", colours=None, bold=None, title_pad=6):
    """A small 2-d array as a grid of numbers. `colours` (H, W, 3 or 4) tints the cells,
    `bold` (H, W) bool sets those numbers in bold. Returns the figure."""
    plt = _plt()
    a = np.asarray(a)
    if a.ndim == 1:
        a = a[None]
    H, W = a.shape
    if ax is None:
        _, ax = plt.subplots(figsize=(0.5 * W + 0.4, 0.5 * H + 0.5))
    face = np.ones((H, W, 4)) if colours is None else np.asarray(colours, dtype=float)
    if face.shape[-1] == 3:
        face = np.concatenate([face, np.ones((H, W, 1))], axis=-1)
    ax.imshow(face, interpolation="nearest", extent=(0, W, H, 0))
    for h in range(H):
        for w in range(W):
            weight = "bold" if bold is not None and bold[h, w] else "normal"
            ax.text(w + 0.5, h + 0.5, fmt.format(a[h, w]), ha="center", va="center",
                    fontsize=9, fontweight=weight)
    ax.hlines(np.arange(H + 1), 0, W, color="0.55", lw=0.7)
    ax.vlines(np.arange(W + 1), 0, H, color="0.55", lw=0.7)
    ax.set_frame_on(False)
    ax.set_xticks([])
    ax.set_yticks([])
    ax.set_xlim(-0.05, W + 0.05)
    ax.set_ylim(H + 0.05, -0.05)
    if title:
        ax.set_title(title, fontsize=10, pad=title_pad)
    return ax.figure


def _tint(colour, alpha=0.35):
    """A light version of an RGB colour (mixed with white)."""
    return tuple(1 - alpha + alpha * c for c in colour[:3])


def _window_box(ax, top, left, h, w, colour, inset):
    from matplotlib.patches import Rectangle
    ax.add_patch(Rectangle((left + inset, top + inset), w - 2 * inset, h - 2 * inset,
                           fill=False, edgecolor=colour, lw=2))


def plot_im2col(x, kh, kw, stride=1, pad=0, title=None):
    """im2col drawn: every kh x kw patch of the image (outlined in its own colour) becomes one
    column of the matrix `cols` (C*kh*kw, Ho*Wo), the same colour on top of it. A convolution is
    then one matrix product, W (F, C*kh*kw) @ cols. `x` is (H, W) or (C, H, W), small."""
    from matplotlib.patches import Rectangle

    from .kernels.im2col import conv_output_size, im2col_reference
    plt = _plt()
    x = np.asarray(x, dtype=float)
    if x.ndim == 2:
        x = x[None]
    C, H, W = x.shape
    Ho, Wo = conv_output_size(H, kh, stride, pad), conv_output_size(W, kw, stride, pad)
    cols = im2col_reference(x[None], kh, kw, stride, pad)          # (C*kh*kw, Ho*Wo)
    xpad = np.pad(x, ((0, 0), (pad, pad), (pad, pad)))
    P = Ho * Wo
    colours = _colours(P)

    rows_k, cols_k = cols.shape
    cell = 0.42
    fig = plt.figure(figsize=(cell * (W + 2 * pad + cols_k) + 2.6,
                              max(cell * rows_k, C * cell * (H + 2 * pad + 1.5)) + 1.7))
    grid = fig.add_gridspec(C, 2, width_ratios=[W + 2 * pad, cols_k], wspace=0.5)
    inset = 0.3 / max(1, P) if P > 1 else 0.0
    for c in range(C):
        ax = fig.add_subplot(grid[c, 0])
        shade = np.full((H + 2 * pad, W + 2 * pad, 3), 0.88)          # grey: the padding
        shade[pad:pad + H, pad:pad + W] = 1.0
        plot_matrix(xpad[c], ax=ax, colours=shade,
                    title=f"image{f', channel {c}' if C > 1 else ''}"
                          f"{f' (padded by {pad})' if pad else ''}")
        for p in range(P):
            oh, ow = divmod(p, Wo)
            _window_box(ax, oh * stride, ow * stride, kh, kw, colours[p], 0.04 + p * inset)
    ax = fig.add_subplot(grid[:, 1])
    tint = np.array([[_tint(colours[p]) for p in range(P)]] * rows_k)
    plot_matrix(cols, ax=ax, colours=tint, title_pad=14,
                title=f"cols = im2col(x): {rows_k} x {cols_k}\n(one column per output pixel)")
    for p in range(P):
        ax.add_patch(Rectangle((p, -0.4), 1, 0.32, color=colours[p], clip_on=False))
    ax.set_yticks(np.arange(rows_k) + 0.5)
    ax.set_yticklabels([(f"c{c} " if C > 1 else "") + f"({i},{j})" for c in range(C)
                        for i in range(kh) for j in range(kw)], fontsize=7)
    ax.tick_params(length=0)
    ax.set_ylabel("row = (channel, i, j) offset in the patch", fontsize=8)
    fig.suptitle(title or f"im2col, {kh}x{kw} kernel, stride {stride}, pad {pad}:\n"
                          f"{H}x{W} image -> {Ho}x{Wo} outputs", fontsize=11)
    height = fig.get_size_inches()[1]
    fig.subplots_adjust(top=1 - 1.45 / height, bottom=0.2 / height, left=0.03, right=0.97)
    return fig


def plot_pooling(x, settings=((2, 2), (2, 1)), title=None):
    """Max-pooling of the 2-d array `x` for each (kernel, stride) in `settings`: the input with
    every window outlined in its own colour (the winners in bold), and the output, each cell
    tinted like its window. With stride < kernel the windows overlap and a pixel can win twice."""
    from .kernels.pool import maxpool_forward_reference
    plt = _plt()
    x = np.asarray(x, dtype=float)
    H, W = x.shape
    fig, axes = plt.subplots(len(settings), 2, squeeze=False,
                             figsize=(0.55 * W * 2 + 1.6, len(settings) * (0.55 * H + 0.9)))
    for (k, s), (ax_in, ax_out) in zip(settings, axes):
        y, arg = maxpool_forward_reference(x[None, None], k, s)
        y, arg = y[0, 0], arg[0, 0]
        Ho, Wo = y.shape
        colours = _colours(Ho * Wo)
        winners = np.zeros((H, W), dtype=bool)
        for oh in range(Ho):
            for ow in range(Wo):
                i, j = divmod(int(arg[oh, ow]), k)
                winners[oh * s + i, ow * s + j] = True
        plot_matrix(x, ax=ax_in, bold=winners,
                    title=f"{k}x{k} windows, stride {s}" + (" (overlapping)" if s < k else ""))
        inset = 0.25 / (Ho * Wo)
        for p in range(Ho * Wo):
            oh, ow = divmod(p, Wo)
            _window_box(ax_in, oh * s, ow * s, k, k, colours[p], 0.04 + p * inset)
        tint = np.array([[_tint(colours[oh * Wo + ow]) for ow in range(Wo)] for oh in range(Ho)])
        plot_matrix(y, ax=ax_out, colours=tint, title=f"output {Ho}x{Wo}")
        ax_out.set_xlim(-0.05, W + 0.05)        # same cell size as the input
        ax_out.set_ylim(H + 0.05, -0.05)
    if title:
        fig.suptitle(title)
    fig.tight_layout()
    return fig


def plot_lrn_effect(a, b, title="local response normalisation across channels"):
    """Activations a_i of one pixel across channels before LRN, b_i after, and the gain b_i / a_i:
    channels next to a strong one are divided by more (lateral inhibition)."""
    plt = _plt()
    a, b = np.asarray(a, dtype=float), np.asarray(b, dtype=float)
    ch = np.arange(len(a))
    fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(10, 3.2))
    ax1.bar(ch - 0.2, a, 0.4, label="a (before)", color="0.6")
    ax1.bar(ch + 0.2, b, 0.4, label="b (after)", color="tab:blue")
    ax1.set(xlabel="channel i", ylabel="activation", title="activations")
    ax1.legend(fontsize=8)
    gain = np.divide(b, a, out=np.full_like(a, np.nan), where=a != 0)
    ax2.plot(ch, gain, "o-", color="tab:red")
    ax2.set(xlabel="channel i", ylabel=r"$b_i / a_i = d_i^{-\beta}$", title="gain",
            ylim=(0, None))
    for ax in (ax1, ax2):
        ax.set_xticks(ch)
        ax.grid(alpha=0.3)
    fig.suptitle(title)
    fig.tight_layout()
    return fig


def plot_training_error(curves, threshold=None, title="training error per epoch"):
    """curves: {label: training error (fraction) after each epoch}. With `threshold`, a dashed
    line there and, for each run, the first epoch that reached it (the paper's figure 1)."""
    plt = _plt()
    fig, ax = plt.subplots(figsize=(6.5, 3.8))
    for (label, errors), colour in zip(curves.items(), _colours(len(curves))):
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


# --------------------------------------------------------------------------- the network's costs

def multiply_adds(layer, input_shape):
    """Multiply-adds of `layer` for ONE image of `input_shape` (without the batch axis).

    Conv2D: every output value is a dot product of length (C / groups) * kh * kw, so
        F * Ho * Wo * (C / groups) * kh * kw      (conv1: 96 * 55 * 55 * 3 * 11 * 11 = 105,415,200)
    Linear: in * out.  Other layers do no multiply-adds worth counting (ReLU, pooling and LRN
    cost a few operations per value: well under 1% of the total).
    """
    from .layers import Conv2D, Linear
    if isinstance(layer, Conv2D):
        _, F, Ho, Wo = layer.output_shape((1, *input_shape))
        kh, kw = layer.kernel_size
        return F * Ho * Wo * (layer.in_channels // layer.groups) * kh * kw
    if isinstance(layer, Linear):
        return layer.in_features * layer.out_features
    return 0


def layer_table(net, input_shape=(3, 227, 227), batch=128, bytes_per_value=4):
    """One dict per layer (the input first): name, type, output shape (without the batch),
    params, activation_bytes (the layer's output for `batch` images, float32 by default: what
    the forward pass keeps for the backward pass) and multiply_adds (per image)."""
    shape = tuple(input_shape)
    rows = [dict(name="input", type="image", shape=shape, params=0,
                 activation_bytes=batch * int(np.prod(shape)) * bytes_per_value, multiply_adds=0)]
    for layer in net.layers:
        out = tuple(layer.output_shape((1, *shape))[1:])
        rows.append(dict(name=layer.name, type=type(layer).__name__, shape=out,
                         params=sum(int(p.size) for p in layer.params.values()),
                         activation_bytes=batch * int(np.prod(out)) * bytes_per_value,
                         multiply_adds=multiply_adds(layer, shape)))
        shape = out
    return rows


def format_layer_table(rows, batch=128):
    """`layer_table` rows as a text table with totals (memory in MB = 10^6 bytes)."""
    head = ("layer", "type", "output", "params", f"act. MB (x{batch})", "mult-adds (M)")
    lines = [f"{head[0]:<9}{head[1]:<18}{head[2]:>16}{head[3]:>13}{head[4]:>17}{head[5]:>15}"]
    lines.append("-" * len(lines[0]))
    for r in rows:
        shape = "x".join(str(n) for n in r["shape"])
        params = format(r["params"], ",") if r["params"] else ""
        macs = format(r["multiply_adds"] / 1e6, ",.1f") if r["multiply_adds"] else ""
        lines.append(f"{r['name']:<9}{r['type']:<18}{shape:>16}{params:>13}"
                     f"{r['activation_bytes'] / 1e6:>17.1f}{macs:>15}")
    lines.append("-" * len(lines[0]))
    params = sum(r["params"] for r in rows)
    act = sum(r["activation_bytes"] for r in rows)
    macs = sum(r["multiply_adds"] for r in rows)
    lines.append(f"{'total':<9}{'':<18}{'':>16}{params:>13,}{act / 1e6:>17.1f}{macs / 1e6:>15,.1f}")
    return "\n".join(lines)


def plot_layer_costs(rows, batch=128):
    """Parameters, activation memory (for `batch` images) and multiply-adds per layer, as bars:
    the convolutions hold few weights but do almost all the arithmetic; fc6-fc8 the reverse."""
    plt = _plt()
    names = [r["name"] for r in rows]
    y = np.arange(len(rows))
    series = [("parameters (millions)", [r["params"] / 1e6 for r in rows]),
              (f"activations, batch {batch} (MB)", [r["activation_bytes"] / 1e6 for r in rows]),
              ("multiply-adds per image (millions)", [r["multiply_adds"] / 1e6 for r in rows])]
    fig, axes = plt.subplots(1, 3, figsize=(12, 0.22 * len(rows) + 1.5), sharey=True)
    for ax, (label, values), colour in zip(axes, series, ("tab:blue", "tab:orange", "tab:green")):
        ax.barh(y, values, color=colour)
        total = sum(values)
        ax.set_title(f"{label}\ntotal {total:,.1f}", fontsize=10)
        ax.grid(axis="x", alpha=0.3)
    axes[0].set_yticks(y)
    axes[0].set_yticklabels(names, fontsize=8)
    axes[0].invert_yaxis()
    fig.tight_layout()
    return fig


# --------------------------------------------------------------------------- images

def as_rgb(image):
    """An image for imshow: (H, W, 3) float in [0, 1] from uint8 or a float image on the 0-255
    scale (clipped), laid out HWC or CHW; (H, W) grayscale is repeated in 3 channels."""
    a = np.asarray(image)
    if a.ndim == 3 and a.shape[0] in (1, 3) and a.shape[-1] not in (1, 3):
        a = a.transpose(1, 2, 0)
    if a.ndim == 2:
        a = a[..., None]
    if a.shape[-1] == 1:
        a = np.repeat(a, 3, axis=-1)
    return np.clip(a.astype(np.float64) / 255.0, 0.0, 1.0)


def plot_image_grid(images, titles=None, columns=None, scale=1.8, title=None):
    """Images (a list or an array (B, H, W, 3) / (B, 3, H, W), uint8 or 0-255 floats) in a grid."""
    plt = _plt()
    n = len(images)
    columns = columns or min(n, 8)
    rows = -(-n // columns)
    fig, axes = plt.subplots(rows, columns, squeeze=False,
                             figsize=(scale * columns, scale * rows + (0.4 if title else 0.1)))
    for i, ax in enumerate(axes.flat):
        ax.set_axis_off()
        if i < n:
            ax.imshow(as_rgb(images[i]), interpolation="nearest" if
                      np.shape(images[i])[-2] <= 64 else "antialiased")
            if titles is not None:
                ax.set_title(titles[i], fontsize=8)
    if title:
        fig.suptitle(title)
    fig.tight_layout()
    return fig


def plot_crop_boxes(image, tops, lefts, crop, title=None, labels=None):
    """The image with a square of side `crop` outlined at each (tops[i], lefts[i]); each label
    sits inside its square, in the corner farthest from the image's centre."""
    from matplotlib.patches import Rectangle
    plt = _plt()
    fig, ax = plt.subplots(figsize=(4.2, 4.4))
    ax.imshow(as_rgb(image))
    H, W = np.shape(image)[:2]
    for i, ((t, l), colour) in enumerate(zip(zip(tops, lefts), _colours(len(tops)))):
        ax.add_patch(Rectangle((l - 0.5, t - 0.5), crop, crop, fill=False, edgecolor=colour,
                               lw=1.5))
        if labels is not None:
            corners = [(t, l), (t, l + crop), (t + crop, l), (t + crop, l + crop)]
            far = int(np.argmax([(y - H / 2) ** 2 + (x - W / 2) ** 2 + 1e-6 * -k
                                 for k, (y, x) in enumerate(corners)]))
            bottom, right = far >= 2, far % 2 == 1
            ax.text(l + crop - 4 if right else l + 4, t + crop - 4 if bottom else t + 4,
                    labels[i], color=colour, fontsize=8, fontweight="bold",
                    ha="right" if right else "left", va="bottom" if bottom else "top")
    ax.set_axis_off()
    if title:
        ax.set_title(title, fontsize=10)
    fig.tight_layout()
    return fig


def _short(name, width=22):
    name = str(name).split(",")[0]
    return name if len(name) <= width else name[:width - 1] + "…"


def plot_top5(images, probs, names, labels=None, k=5, title=None):
    """The paper's figure 4 (left): each image above a bar chart of its k most probable classes;
    the bar of the true class (when `labels` is given) is red, the others blue."""
    plt = _plt()
    n = len(images)
    probs = np.asarray(probs)
    k = min(k, probs.shape[1])
    fig, axes = plt.subplots(2, n, squeeze=False, figsize=(2.4 * n, 4.2),
                             gridspec_kw=dict(height_ratios=[1.3, 1]))
    for i in range(n):
        ax_img, ax_bar = axes[0, i], axes[1, i]
        ax_img.imshow(as_rgb(images[i]))
        ax_img.set_axis_off()
        order = np.argsort(-probs[i])[:k]
        if labels is not None:
            truth = int(labels[i])
            verdict = ("top-1 right" if order[0] == truth else
                       "top-5 right" if truth in order else "wrong")
            ax_img.set_title(f"{_short(names[truth], 24)}\n({verdict})", fontsize=8)
        colours = ["tab:red" if labels is not None and c == int(labels[i]) else "tab:blue"
                   for c in order]
        ax_bar.barh(np.arange(k), probs[i][order], color=colours)
        ax_bar.set_yticks(np.arange(k))
        ax_bar.set_yticklabels([_short(names[c], 16) for c in order], fontsize=7)
        ax_bar.invert_yaxis()
        ax_bar.set_xlim(0, 1)
        ax_bar.tick_params(axis="x", labelsize=7)
    if title:
        fig.suptitle(title)
    fig.tight_layout()
    return fig


def plot_neighbours(queries, neighbours, query_titles=None, neighbour_titles=None, title=None,
                    scale=1.5):
    """The paper's figure 4 (right): each query image (first column, framed) followed by the
    images nearest to it. queries (Q, ...) images; neighbours (Q, K, ...) images."""
    plt = _plt()
    Q, K = len(queries), len(neighbours[0])
    fig, axes = plt.subplots(Q, K + 1, squeeze=False,
                             figsize=(scale * (K + 1), scale * Q + (0.5 if title else 0.2)))
    for q in range(Q):
        for j in range(K + 1):
            ax = axes[q, j]
            ax.imshow(as_rgb(queries[q] if j == 0 else neighbours[q][j - 1]))
            ax.set_xticks([])
            ax.set_yticks([])
            if j == 0:
                for spine in ax.spines.values():
                    spine.set_edgecolor("tab:red")
                    spine.set_linewidth(3)
            else:
                ax.set_frame_on(False)
            text = (query_titles[q] if j == 0 and query_titles is not None else
                    neighbour_titles[q][j - 1] if j > 0 and neighbour_titles is not None else None)
            if text:
                ax.set_title(_short(text, 21), fontsize=7)
    if title:
        fig.suptitle(title)
    fig.tight_layout()
    return fig


def confusion_matrix(labels, predictions, num_classes=None):
    """counts[t, p] = how many images of true class t were predicted as p."""
    labels, predictions = np.asarray(labels, dtype=int), np.asarray(predictions, dtype=int)
    if num_classes is None:
        num_classes = int(max(labels.max(initial=-1), predictions.max(initial=-1))) + 1
    counts = np.zeros((num_classes, num_classes), dtype=np.int64)
    np.add.at(counts, (labels, predictions), 1)
    return counts


def plot_confusion(labels, predictions, names=None, title="confusion matrix"):
    """Rows: true class, columns: predicted class; the diagonal is what was right. Each row is
    shaded by the fraction of that class's images, annotated with counts."""
    plt = _plt()
    k = len(names) if names is not None else None
    counts = confusion_matrix(labels, predictions, k)
    k = counts.shape[0]
    fractions = counts / np.maximum(counts.sum(axis=1, keepdims=True), 1)
    side = min(0.45 * k + 2.5, 14)
    fig, ax = plt.subplots(figsize=(side + 1.5, side))
    im = ax.imshow(fractions, cmap="Blues", vmin=0, vmax=1)
    if k <= 25:
        for t in range(k):
            for p in range(k):
                if counts[t, p]:
                    ax.text(p, t, str(counts[t, p]), ha="center", va="center", fontsize=7,
                            color="white" if fractions[t, p] > 0.5 else "black")
    labels_text = ([_short(n, 20) for n in names] if names is not None
                   else [str(i) for i in range(k)])
    if k <= 40:
        ax.set_xticks(np.arange(k))
        ax.set_yticks(np.arange(k))
        ax.set_xticklabels(labels_text, rotation=60, ha="right", fontsize=7)
        ax.set_yticklabels(labels_text, fontsize=7)
    ax.set(xlabel="predicted class", ylabel="true class")
    accuracy = np.trace(counts) / max(counts.sum(), 1)
    ax.set_title(f"{title} (top-1 accuracy {100 * accuracy:.1f}%)", fontsize=10)
    fig.colorbar(im, ax=ax, fraction=0.046, pad=0.04, label="fraction of the true class")
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
