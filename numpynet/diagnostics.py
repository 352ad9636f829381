"""How fast each layer learns: the update-to-weight ratio of every SGD step.

    ratio(layer) = ||v|| / ||W||        after a step, v being the step just taken (w <- w + v)

A rule of thumb (cs231n, "ratio of weights:updates"): about 1e-3. Far below it a layer barely
moves from where it started, and the network learns on top of what is in effect its random
initialisation; far above it a layer forgets faster than it learns. What matters most is that no
layer is far behind the others. This is how the two "he" inits were compared (numpynet/models/
alexnet.py, "he" against "he16").

    python -m numpynet.diagnostics --inits he he16 --steps 40 [any option of numpynet.train]

runs --steps training steps (from the same seed, on the same batches) under each init and
writes into --out (default runs/diagnostics-<date-time>):

    ratios.csv    init, step, one column per layer
    ratios.png    the ratios per step, one panel per init (log scale)

and prints each layer's median ratio per init. Validation and checkpoints are skipped: it is a
measurement, not a run to keep.
"""

import argparse
import csv
import sys
from dataclasses import replace
from datetime import datetime
from pathlib import Path

import numpy as np

from . import __version__, backend, files, viz
from .models import INITS
from .settings import COUNT


def update_ratios(net, optimizer):
    """{layer name: ||v|| / ||W||} for every layer with weights "W", from the velocity that
    `optimizer`'s last step added to them (empty before its first step)."""
    ratios = {}
    for layer, name, w, _ in net.parameters():
        v = optimizer.velocity.get(f"{layer.name}.{name}")
        if name != "W" or v is None:
            continue
        xp = backend.get_array_module(w)
        size = float(xp.linalg.norm(w.ravel()))
        ratios[layer.name] = float(xp.linalg.norm(v.ravel())) / size if size > 0 else np.inf
    return ratios


class _Enough(Exception):
    """Raised from the step hook once enough steps are recorded."""


def record_ratios(args, steps):
    """Train `steps` SGD steps as `args` (numpynet.train's namespace) says, through the training
    CLI's own Run; -> (layer names, array (steps, layers) of update ratios)."""
    from .run import Run, StopRequest
    run, rows = Run(args), []

    def after_step(epoch, batch, loss):
        rows.append(update_ratios(run.net, run.opt))
        if len(rows) >= steps:
            raise _Enough

    try:
        with StopRequest() as stop:
            while True:                      # epochs without validation until `steps`
                run.train_epoch(stop, after_step)
                run.epoch, run.start_batch = run.epoch + 1, 0
    except _Enough:
        pass
    layers = list(rows[0])
    return layers, np.array([[row[name] for name in layers] for row in rows])


def parse_args(argv=None):
    """-> (diagnostics' own arguments, the training arguments for numpynet.train)."""
    from .train import parse_args as train_args
    p = argparse.ArgumentParser(prog="python -m numpynet.diagnostics",
                                description=__doc__.split("\n")[0], allow_abbrev=False,
                                epilog="Any other option goes to numpynet.train (see python -m "
                                       "numpynet.train --help): --width, --crop, --batch-size, "
                                       "--lr, --data, ...")
    p.add_argument("--version", action="version", version=f"numpynet {__version__}")
    p.add_argument("--inits", nargs="+", choices=INITS, default=["he", "he16"],
                   help="the inits to compare (default: he he16)")
    p.add_argument("--steps", type=COUNT, default=40,
                   help="training steps per init (default: 40)")
    p.add_argument("--out", help="output folder (default: runs/diagnostics-<date-time>)")
    own, rest = p.parse_known_args(argv)
    if any(a.split("=")[0] == "--init" for a in rest):
        p.error("--init: give the inits to compare with --inits (one or more)")
    return own, train_args(rest)


def write_csv(path, layers, by_init):
    """ratios.csv: init, step (1-based), one column per layer; atomically."""
    with files.atomic_path(path) as tmp, open(tmp, "w", newline="") as f:
        out = csv.writer(f)
        out.writerow(["init", "step"] + layers)
        for init, ratios in by_init.items():
            for step, row in enumerate(ratios, start=1):
                out.writerow([init, step] + [f"{r:.6g}" for r in row])


def table(layers, by_init):
    """The median ratio of each layer per init, as text; a last column compares each layer with
    the median over all layers (how far behind or ahead of the others it is)."""
    lines = ["median update / weight ratio per step (||v|| / ||W||)",
             f"{'layer':<8}" + "".join(f"{init:>12}{'vs all':>8}" for init in by_init)]
    medians = {init: np.median(r, axis=0) for init, r in by_init.items()}
    for j, name in enumerate(layers):
        cells = "".join(f"{m[j]:>12.2e}{m[j] / np.median(m):>7.2f}x" for m in medians.values())
        lines.append(f"{name:<8}" + cells)
    return "\n".join(lines)


def main(argv=None):
    from .data import DatasetError
    own, args = parse_args(argv)
    out = Path(own.out or Path("runs") / datetime.now().strftime("diagnostics-%Y%m%d-%H%M%S"))
    by_init, layers = {}, None
    for init in own.inits:
        print(f"--- init {init}: {own.steps} steps")
        run_args = replace(args, init=init, out=str(out / init))
        try:
            layers, by_init[init] = record_ratios(run_args, own.steps)
        except (DatasetError, FileNotFoundError, ValueError) as e:
            print(f"error: {e}", file=sys.stderr)
            return 2
    write_csv(out / "ratios.csv", layers, by_init)
    viz.save(viz.plot_update_ratios(layers, by_init), out / "ratios.png")
    print(table(layers, by_init))
    print(f"wrote {out / 'ratios.csv'} and {out / 'ratios.png'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
