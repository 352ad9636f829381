"""Diagrams of what the layers compute, on arrays small enough to print (notebooks 1 and 2).

    plot_matrix(a)                a small array as a grid of numbers
    plot_im2col(x, kh, kw)        patches of an image becoming the columns of a matrix
    plot_pooling(x, settings)     max-pooling windows and their outputs, e.g. 2x2/2 vs 2x2/1
    plot_lrn_effect(a, b)         activations across channels before and after LRN
    plot_layer_costs(rows)        parameters, memory and multiply-adds per layer as bars
                                  (rows from numpynet.costs.layer_table)
    tower_stages(rows)            the layers that multiply, what follows each, and which ones
                                  see both towers' maps (the GPUs exchange data there)
    plot_two_towers(net)          the paper's figure 2: two towers, their sizes, the exchanges
    plot_feature_maps(maps)       a layer's output for one image, one small picture per channel
    plot_embedding(points, y)     2-d points (e.g. a PCA of fc7 features) coloured by class
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

    from ..kernels.im2col import im2col
    plt = pyplot()
    x = np.asarray(x, dtype=float)
    if x.ndim == 2:
        x = x[None]
    C, H, W = x.shape
    Ho, Wo = conv_output_hw(H, W, kh, kw, stride, pad)
    cols = im2col.reference(x[None], kh, kw, stride, pad)          # (C*kh*kw, Ho*Wo)
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
    from ..layers.pool import maxpool_forward
    plt = pyplot()
    x = np.asarray(x, dtype=float)
    H, W = x.shape
    fig, axes = plt.subplots(len(settings), 2, squeeze=False,
                             figsize=(0.55 * W * 2 + 1.6, len(settings) * (0.55 * H + 0.9)))
    for (k, s), (ax_in, ax_out) in zip(settings, axes):
        y, arg = maxpool_forward.reference(x[None, None], k, s)
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


# --------------------------------------------------------------------------- figure 2

def _rows_of(net_or_table, input_shape):
    """`costs.layer_table` rows: given as they are, or built from a network."""
    if isinstance(net_or_table, (list, tuple)):
        return list(net_or_table)
    from ..costs import layer_table
    return layer_table(net_or_table, input_shape)


def _side(shape):
    """(96, 55, 55) -> "55x55", (4096,) -> "" (a vector has no side)."""
    return "x".join(str(n) for n in shape[1:])


def tower_stages(rows):
    """The layers that multiply (Conv2D, Linear) of `costs.layer_table` rows, one dict each:

        name, row (its table row), channels (its output's channels or units), groups,
        after (what follows it up to the next one: LRN, pooling, dropout, as text),
        shape (the stage's last picture-shaped output, e.g. pool5's (256, 6, 6)),
        exchange (True where the layer reads both towers' maps).

    The rule, read off the model: a layer with groups == 1 whose input is another layer's
    output (not the image) sees all the maps, so the two towers (the paper's two GPUs) exchange
    data at its input; a layer with groups == 2 sees only its own tower's half.
    """
    stages = []
    for row in rows:
        kind, layer = row["type"], row["layer"]
        if kind in ("Conv2D", "Linear"):
            groups = getattr(layer, "groups", 1)
            stages.append(dict(name=row["name"], row=row, channels=row["shape"][0],
                               groups=groups, after=[], shape=row["shape"],
                               exchange=bool(stages) and groups == 1))
        elif stages and kind in ("LocalResponseNorm", "BatchNorm2D", "MaxPool2D", "Dropout"):
            stage = stages[-1]
            if kind == "MaxPool2D":
                stage["after"].append(f"pool {layer.kernel_size}/{layer.stride}")
                stage["shape"] = row["shape"]
            else:
                stage["after"].append({"LocalResponseNorm": "LRN", "BatchNorm2D": "BN",
                                       "Dropout": "dropout"}[kind])
    return stages


def _stage_text(stage, channels):
    """What one tower's box says: the layer, its output and what follows (pooling's size)."""
    layer, row = stage["row"]["layer"], stage["row"]
    if stage["row"]["type"] == "Conv2D":
        (k, _), s = layer.kernel_size, layer.stride
        lines = [f"{stage['name']}  {k}x{k}" + (f" /{s}" if s > 1 else ""),
                 f"{channels} x {_side(row['shape'])}"]
    else:
        lines = [stage["name"], f"{channels}"]
    if stage["after"]:
        lines.append(", ".join(stage["after"]))
    if stage["shape"] != row["shape"]:
        lines.append(f"-> {channels} x {_side(stage['shape'])}")
    return "\n".join(lines)


def plot_two_towers(net_or_table, input_shape=(3, 227, 227), title=None):
    """The paper's figure 2 redrawn from the model: every layer split in two towers (one per
    GPU, half the channels each), their sizes from `costs.layer_table`, and red arrows crossing
    between the towers exactly where a layer reads both towers' maps (`tower_stages`: groups
    1 after the image; in AlexNet conv3, fc6, fc7, fc8). The last layer is drawn whole. Each
    crossing arrow's gid is "exchange:<layer>"."""
    from matplotlib.patches import FancyArrowPatch, FancyBboxPatch
    plt = pyplot()
    rows = _rows_of(net_or_table, input_shape)
    stages = tower_stages(rows)
    if not stages:
        raise ValueError("plot_two_towers: the network has no Conv2D or Linear layer to draw")
    step, box, towers = 1.45, 1.15, (0.55, -0.55)          # x spacing, box width, tower centres
    fig, ax = plt.subplots(figsize=(1.3 * step * (len(stages) + 1), 5.0))

    def draw_box(x, y, height, text, colour):
        ax.add_patch(FancyBboxPatch((x - box / 2, y - height / 2), box, height,
                                    boxstyle="round,pad=0.02", fc=colour, ec="0.3", lw=0.8))
        ax.text(x, y, text, ha="center", va="center", fontsize=8)

    def arrow(x0, y0, x1, y1, gid, colour="0.55"):
        patch = FancyArrowPatch((x0 + box / 2, y0), (x1 - box / 2, y1), arrowstyle="-|>",
                                mutation_scale=9, color=colour, lw=1.2 if gid else 0.9)
        patch.set_gid(gid)
        ax.add_patch(patch)

    C, H, W = rows[0]["shape"]
    draw_box(0, 0, 0.7, f"image\n{C} x {H}x{W}", "0.93")
    last = len(stages) - 1
    for i, stage in enumerate(stages, start=1):
        whole = i - 1 == last
        exchange = f"exchange:{stage['name']}" if stage["exchange"] else None
        colour = "mistyrose" if stage["exchange"] else ("lavender" if stage["groups"] > 1
                                                       else "honeydew")
        x, x0 = i * step, (i - 1) * step
        targets = (0.0,) if whole else towers
        sources = (0.0,) if i == 1 else towers
        for y1 in targets:
            for y0 in sources:
                crossing = y0 != y1 or whole
                if crossing and not exchange and i > 1:
                    continue                       # groups == 2: each tower reads its own half
                arrow(x0, y0, x1=x, y1=y1, gid=exchange if crossing and i > 1 else None,
                      colour="tab:red" if exchange else "0.55")
        half = stage["channels"] if whole else stage["channels"] // 2
        for y in targets:
            draw_box(x, y, 0.8, _stage_text(stage, half), colour)
        if exchange:
            ax.text(x - step / 2, 1.12, "both towers", color="tab:red", ha="center", fontsize=7)
    ax.text(0, -1.25, "red: the layer reads both towers' maps (the GPUs exchange data there); "
            "blue: groups=2, each tower reads only its own half; green: reads the image",
            fontsize=8, ha="left", va="center")
    split = [s["name"] for s in stages if s["groups"] > 1]
    ax.set_title(title or "two towers, one per GPU (the paper's figure 2): "
                 + (f"groups=2 in {', '.join(split)}" if split else
                    "groups=1 everywhere, so the towers exchange at every layer"), fontsize=10)
    ax.set_xlim(-box / 2 - 0.1, last * step + step + box / 2 + 0.1)
    ax.set_ylim(-1.4, 1.3)
    ax.set_axis_off()
    fig.tight_layout()
    return fig


# --------------------------------------------------------------------------- inside a network

def plot_feature_maps(maps, count=32, columns=16, title=None):
    """The first `count` channels of one image's activations `maps` (C, H, W), each channel a
    small grey picture scaled to its own maximum (white: its strongest response). A channel that
    is zero everywhere (its ReLU silent on this image) is framed in red."""
    plt = pyplot()
    maps = np.asarray(maps, dtype=np.float64)
    if maps.ndim != 3:
        raise ValueError(f"plot_feature_maps: expected one image's maps (C, H, W), got "
                         f"{maps.shape}")
    count = min(count, len(maps))
    columns = min(columns, count)
    rows = -(-count // columns)
    fig, axes = plt.subplots(rows, columns, squeeze=False,
                             figsize=(0.75 * columns, 0.8 * rows + (0.5 if title else 0.1)))
    for c, ax in enumerate(axes.flat):
        ax.set_xticks([])
        ax.set_yticks([])
        if c >= count:
            ax.set_axis_off()
            continue
        top = maps[c].max()
        ax.imshow(maps[c], cmap="gray", vmin=0, vmax=top if top > 0 else 1,
                  interpolation="nearest")
        ax.set_title(str(c), fontsize=6, pad=1)
        for spine in ax.spines.values():
            spine.set_color("tab:red" if top <= 0 else "0.7")
            spine.set_linewidth(1.5 if top <= 0 else 0.5)
    if title:
        fig.suptitle(title, fontsize=10)
    fig.tight_layout(pad=0.3)
    return fig


def plot_embedding(points, labels, names=None, highlight=(), title=None):
    """2-d points (M, 2), e.g. the first two principal components of fc7 features, one colour
    per class of `labels` (M,); the points at the indices `highlight` drawn as large stars."""
    plt = pyplot()
    points, labels = np.asarray(points, dtype=np.float64), np.asarray(labels)
    if points.ndim != 2 or points.shape[1] != 2 or len(points) != len(labels):
        raise ValueError(f"plot_embedding: expected points (M, 2) and labels (M,), got "
                         f"{points.shape} and {labels.shape}")
    classes = np.unique(labels)
    fig, ax = plt.subplots(figsize=(5.5, 4.5))
    for k, colour in zip(classes, palette(len(classes))):
        mine = labels == k
        ax.scatter(*points[mine].T, s=12, color=colour, alpha=0.7,
                   label=names[k] if names is not None else str(k))
        star = [i for i in highlight if mine[i]]
        if star:
            ax.scatter(*points[star].T, s=180, marker="*", color=colour, edgecolor="k", lw=0.8)
    ax.legend(fontsize=7, markerscale=1.5, loc="best")
    ax.set(xlabel="first principal component", ylabel="second principal component")
    ax.grid(alpha=0.3)
    if title:
        ax.set_title(title, fontsize=10)
    fig.tight_layout()
    return fig
