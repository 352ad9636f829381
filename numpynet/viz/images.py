"""Pictures of images and of what the network says about them (notebooks 3 and 5).

    as_rgb(image)                 uint8 or 0-255 float, HWC or CHW -> float HWC in [0, 1]
    plot_image_grid(images)       a grid of images with titles
    plot_crop_boxes(image, ...)   where crops of an image were taken
    plot_top5(images, probs)      five most probable classes under each image (figure 4, left)
    plot_neighbours(q, nbrs)      each query image beside its nearest neighbours (figure 4, right)
    plot_confusion(y, pred)       the confusion matrix (numpynet.metrics) as a picture
"""

import numpy as np

from ..metrics import confusion_matrix
from .figures import palette, pyplot


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
    plt = pyplot()
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
    plt = pyplot()
    fig, ax = plt.subplots(figsize=(4.2, 4.4))
    ax.imshow(as_rgb(image))
    H, W = np.shape(image)[:2]
    for i, ((t, l), colour) in enumerate(zip(zip(tops, lefts), palette(len(tops)))):
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
    plt = pyplot()
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
    plt = pyplot()
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


def plot_confusion(labels, predictions, names=None, title="confusion matrix"):
    """Rows: true class, columns: predicted class; the diagonal is what was right. Each row is
    shaded by the fraction of that class's images, annotated with counts."""
    plt = pyplot()
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
