"""Diagrams of what the layers compute, on arrays small enough to print (notebooks 1 and 2).

    plot_matrix(a)                a small array as a grid of numbers
    plot_im2col(x, kh, kw)        patches of an image becoming the columns of a matrix
    plot_pooling(x, settings)     max-pooling windows and their outputs, e.g. 2x2/2 vs 2x2/1
    plot_lrn_effect(a, b)         activations across channels before and after LRN
    plot_layer_costs(rows)        parameters, memory and multiply-adds per layer as bars
                                  (rows from numpynet.costs.layer_table)
"""

import numpy as np

from ..shapes import conv_output_hw
from .figures import palette, pyplot


def plot_matrix(a, ax=None, title=None, fmt="{:g}", colours=None, bold=None, title_pad=6):
    """A small 2-d array as a grid of numbers. `colours` (H, W, 3 or 4) tints the cells,
    `bold` (H, W) bool sets those numbers in bold. Returns the figure."""
    plt = pyplot()
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

    from ..kernels.im2col import im2col_reference
    plt = pyplot()
    x = np.asarray(x, dtype=float)
    if x.ndim == 2:
        x = x[None]
    C, H, W = x.shape
    Ho, Wo = conv_output_hw(H, W, kh, kw, stride, pad)
    cols = im2col_reference(x[None], kh, kw, stride, pad)          # (C*kh*kw, Ho*Wo)
    xpad = np.pad(x, ((0, 0), (pad, pad), (pad, pad)))
    P = Ho * Wo
    colours = palette(P)

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
    from ..kernels.pool import maxpool_forward_reference
    plt = pyplot()
    x = np.asarray(x, dtype=float)
    H, W = x.shape
    fig, axes = plt.subplots(len(settings), 2, squeeze=False,
                             figsize=(0.55 * W * 2 + 1.6, len(settings) * (0.55 * H + 0.9)))
    for (k, s), (ax_in, ax_out) in zip(settings, axes):
        y, arg = maxpool_forward_reference(x[None, None], k, s)
        y, arg = y[0, 0], arg[0, 0]
        Ho, Wo = y.shape
        colours = palette(Ho * Wo)
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
    plt = pyplot()
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


def plot_layer_costs(rows, batch=128):
    """Parameters, activation memory (for `batch` images) and multiply-adds per layer, as bars:
    the convolutions hold few weights but do almost all the arithmetic; fc6-fc8 the reverse."""
    plt = pyplot()
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
