"""What every plot needs: pyplot (without a screen outside notebooks), colours, and saving."""

import os
import sys
from pathlib import Path

from ..files import atomic_path


def pyplot():
    """matplotlib.pyplot, on the Agg backend unless in a notebook or MPLBACKEND says otherwise
    (no screen is needed to write a PNG)."""
    import matplotlib
    if os.environ.get("MPLBACKEND") is None and "ipykernel" not in sys.modules:
        matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    return plt


def palette(n):
    """n distinguishable colours (tab10, then tab20's lighter ones)."""
    plt = pyplot()
    base = list(plt.get_cmap("tab10").colors) + list(plt.get_cmap("tab20").colors[1::2])
    return [base[i % len(base)] for i in range(n)]


def save(fig, path, dpi=100):
    """Write a figure to `path` atomically (numpynet/files.py) and close it; the format comes
    from the suffix of `path` (default png), since the temporary name has none."""
    plt = pyplot()
    fmt = Path(path).suffix.lstrip(".").lower() or "png"
    with atomic_path(path) as tmp:
        fig.savefig(tmp, dpi=dpi, format=fmt)
    plt.close(fig)
    return Path(path)
