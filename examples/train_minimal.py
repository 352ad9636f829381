"""Train a small AlexNet on the generated demo set: the whole loop in one screen, public API only.

    python examples/train_minimal.py                  # 10 classes, width 0.25: ~3 min, 2 cores
    python examples/train_minimal.py --quick          # a smoke run (the test suite runs this)

The pieces: `generate_demo_dataset` writes JPEGs in ImageNet's on-disk layout, `open_imagenet`
decodes them once into a uint8 cache (with the mean image and the RGB PCA), `BatchLoader` crops,
flips and colour-shifts, `alexnet` builds the paper's network, `train_step` is forward, loss,
backward, update. `python -m numpynet.train` is this loop with checkpoints, schedules and plots.
By default the validation error falls from chance (90%) to about 60% in 15 epochs.
"""

import argparse
import tempfile
from pathlib import Path

import numpynet as nn
from numpynet.data import BatchLoader, open_imagenet
from numpynet.data.demo import generate_demo_dataset
from numpynet.metrics import ErrorMeter
from numpynet.models import alexnet


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--quick", action="store_true", help="tiny settings, for a smoke test")
    p.add_argument("--epochs", type=int, default=15, help="passes over the training images")
    p.add_argument("--out", help="folder for the demo set and its cache (default: a temp folder)")
    return p.parse_args(argv)


def main(argv=None):
    args = parse_args(argv)
    classes, per_class, width, crop, batch = (3, 8, 0.125, 67, 8) if args.quick else \
                                             (10, 60, 0.25, 99, 16)
    epochs = 1 if args.quick else args.epochs
    root = Path(args.out or tempfile.mkdtemp(prefix="numpynet-example-"))

    # 1. data: a generated stand-in for ImageNet, decoded once into a cache
    generate_demo_dataset(root / "demo", num_classes=classes, train_per_class=per_class,
                          val_per_class=max(2, per_class // 4), image_size=crop + 29)
    data = open_imagenet(root / "demo", size=crop + 29, cache_root=root / "cache")
    train = BatchLoader(data.train, batch_size=batch, train=True, crop=crop, seed=0)
    val = BatchLoader(data.val, batch_size=batch, train=False, crop=crop, mean=data.mean)

    # 2. the network, the loss and the optimiser (the paper's SGD: momentum 0.9, decay 5e-4)
    net = alexnet(classes, width=width, input_size=crop, seed=0)
    loss_fn, opt = nn.SoftmaxCrossEntropy(), nn.SGD(net, lr=0.02)
    print(net.summary((3, crop, crop)))

    # 3. the loop: one training step per batch, then the validation error
    for epoch in range(1, epochs + 1):
        seen = ErrorMeter(ks=(1,))
        for x, y in train:
            loss, logits = nn.train_step(net, loss_fn, opt, x, y)
            seen.update(logits, y, loss)
        held_out = ErrorMeter(ks=(1,))
        for x, y in val:
            logits = net.forward(x, train=False)
            held_out.update(logits, y, loss_fn.forward(logits, y))
        print(f"epoch {epoch}: train loss {seen.loss():.3f}, top-1 error {seen.error(1):.1%} | "
              f"val loss {held_out.loss():.3f}, top-1 error {held_out.error(1):.1%}")
    return held_out


if __name__ == "__main__":
    main()
