"""AlexNet as in Krizhevsky, Sutskever & Hinton (2012), section 3.5 and figure 2.

    layer   op                                    output (C, H, W)   groups
    conv1   96 x 11x11, stride 4  -> ReLU -> LRN  (96, 55, 55)
    pool1   max 3x3, stride 2                     (96, 27, 27)
    conv2   256 x 5x5, pad 2      -> ReLU -> LRN  (256, 27, 27)      2
    pool2   max 3x3, stride 2                     (256, 13, 13)
    conv3   384 x 3x3, pad 1      -> ReLU         (384, 13, 13)          (sees both halves)
    conv4   384 x 3x3, pad 1      -> ReLU         (384, 13, 13)      2
    conv5   256 x 3x3, pad 1      -> ReLU         (256, 13, 13)      2
    pool5   max 3x3, stride 2                     (256, 6, 6)
    fc6     9216 -> 4096          -> ReLU -> dropout 0.5
    fc7     4096 -> 4096          -> ReLU -> dropout 0.5
    fc8     4096 -> num_classes   (softmax in the loss)

The input is 3x227x227. The paper says 224x224, but then conv1 would give (224 - 11) / 4 + 1 =
54.25 positions: only 227 makes the arithmetic come out at 55 (most replications use 227; some
instead pad conv1 by 2 and keep 224).

`groups=2` is the paper's split of the network over two GPUs: conv2, conv4 and conv5 only see the
feature maps on their own GPU. It gives 60,965,224 parameters for 1000 classes; `groups=1`, the
one-GPU variant everybody else runs, gives 62,378,344 (the often quoted "62.3 million").

Presets: the network's shape (the layer table above) with these differences

    preset      normalisation after conv1, conv2
    paper       LRN size 5, alpha 1e-4, beta 0.75, k 2 (alpha multiplies the plain sum, as in
                the text)
    caffe       LRN size 5, alpha 1e-4 / 5, beta 0.75, k 1 (BVLC reference: Caffe divides alpha
                by size, so its alpha = 1e-4 is 2e-5 here) -- use with init="caffe"
    batchnorm   BatchNorm after each of the 5 convolutions (before its ReLU), no LRN
    torchvision torchvision's `models.alexnet`, for its trained weights (numpynet/weights/):
                a different layer table (TORCHVISION_CONV_TABLE), 224 crops, no LRN

How torchvision's AlexNet departs from the paper (it follows Krizhevsky's 2014 "one weird
trick" one-GPU network, not the 2012 one):

    layer   torchvision                            paper
    conv1   64 x 11x11, stride 4, pad 2 (55, 55)   96, pad 0 (227 input)
    conv2   192 x 5x5, pad 2                       256, groups 2
    conv3   384 x 3x3, pad 1                       384
    conv4   256 x 3x3, pad 1                       384, groups 2
    conv5   256 x 3x3, pad 1                       256, groups 2
    norm    none                                   LRN after conv1 and conv2
    pool6   adaptive average pooling to 6x6        none
    fc6/7   dropout BEFORE the layer: drops pool5  dropout after fc6's and fc7's ReLU
            and fc6's outputs (fc7's output is fed
            to fc8 undropped)
    input   224x224, (x / 255 - mean) / std per    227x227, 0-255 minus the mean image
            channel, mean (0.485, 0.456, 0.406),
            std (0.229, 0.224, 0.225), RGB

61,100,840 parameters. At 224 (and at 227) pool5's map is already 6x6, where adaptive average
pooling to 6x6 is the identity, so numpynet leaves it out and accepts only the input sizes
that give 6x6 (223 to 254); torchvision would average other sizes down to 6x6. The
per-channel mean and std are the importer's business (weights/torchvision.py): they fold
into conv1's weights, so the network eats numpynet's usual 0-255 pixels minus a mean.

Initialisations (`init=`), independent of the preset:
    paper   W ~ N(0, 0.01) everywhere; biases 1 in conv2, conv4, conv5, fc6, fc7; 0 elsewhere.
            Exactly the text. 0.01 is not scaled to a layer's fan-in, so the signal shrinks
            layer by layer and the loss stays flat for a long time at the start.
    caffe   W ~ N(0, 0.01), but N(0, 0.005) for fc6 and fc7; biases 0.1 where the paper has 1,
            0 elsewhere: what the BVLC Caffe replication switched to.
    he      (default) convolutions W ~ N(0, 2 / fan_in) (He et al. 2015), keeping the
            activations' scale through every conv + ReLU, with a fixed Scale(1/64) in front of
            conv1 so that its 0-255-minus-mean input has unit scale; the fully-connected layers
            keep the paper's N(0, 0.01) (under He, one SGD step would move fc8's logits by about
            lr * |h7|^2 ~ 8000 lr and the first steps would kill the ReLUs); biases 0. It
            starts learning at once.
    he16    he, but Scale(1/16) in front of conv1 and conv1's W ~ N(0, (std / 16)^2), std =
            sqrt(2 / 363): a fixed factor c in front of a layer multiplies its effective
            learning rate by c^2 (y = W (c x): W_eff = c W moves by c^2 lr dL/dW_eff), so conv1
            learns 16x faster than under he, from a start a quarter of he's size. For watching
            conv1 learn (the paper's figure 3) in a CPU-sized run; slower at first overall.
The measurements behind these choices (the update/weight ratios, how far conv1 moves, what the
kernels look like and what he16 costs) are in docs/PERFORMANCE.md, "Initialisations".
"""

import numpy as np

from ..layers import (BatchNorm2D, Conv2D, Dropout, Flatten, Linear, LocalResponseNorm,
                      MaxPool2D, ReLU, Scale, Sequential)

INPUT_SHAPE = (3, 227, 227)
PRESETS = ("paper", "caffe", "batchnorm", "torchvision")
INITS = ("he", "he16", "caffe", "paper")

# (name, out_channels, kernel, stride, padding, split over the two GPUs?)
CONV_TABLE = [("conv1", 96, 11, 4, 0, False),
              ("conv2", 256, 5, 1, 2, True),
              ("conv3", 384, 3, 1, 1, False),
              ("conv4", 384, 3, 1, 1, True),
              ("conv5", 256, 3, 1, 1, True)]
TORCHVISION_CONV_TABLE = [("conv1", 64, 11, 4, 2, False),
                          ("conv2", 192, 5, 1, 2, False),
                          ("conv3", 384, 3, 1, 1, False),
                          ("conv4", 256, 3, 1, 1, False),
                          ("conv5", 256, 3, 1, 1, False)]
INPUT_SIZE = {"torchvision": 224}               # the crop of a preset, if not 227
FC_TABLE = [("fc6", 4096), ("fc7", 4096)]     # (name, units); fc8 gets num_classes
POOL_AFTER = ("conv1", "conv2", "conv5")
NORM_AFTER = ("conv1", "conv2")
BIAS_ONE = ("conv2", "conv4", "conv5", "fc6", "fc7")          # the paper's "biases = 1" layers
PIXEL_STD = 64.0    # std of the network's input: 0-255 pixels minus the mean image
INPUT_SCALE = {"he": PIXEL_STD, "he16": 16.0}    # the fixed Scale(1 / s) in front of conv1
CONV1_GAIN = {"he": 1.0, "he16": 0.25}          # conv1's std against He's, on the same pixels
HE_OVERRIDES = {"fc6": 0.01, "fc7": 0.01, "fc8": 0.01}    # the paper's std for the fc layers


def _normalisation(preset, conv_name, channels):
    """The layer that follows conv_name's ReLU (LRN), or precedes it (BatchNorm), or None."""
    if preset == "torchvision":
        return None
    if preset == "batchnorm":
        return BatchNorm2D(channels, name=f"bn{conv_name[-1]}")
    if conv_name not in NORM_AFTER:
        return None
    if preset == "caffe":
        return LocalResponseNorm(5, alpha=1e-4 / 5, beta=0.75, k=1.0, name=f"norm{conv_name[-1]}")
    return LocalResponseNorm(5, alpha=1e-4, beta=0.75, k=2.0, name=f"norm{conv_name[-1]}")


def alexnet(num_classes=1000, groups=2, seed=0, preset="paper", init="he", dropout=0.5,
            width=1.0, input_size=None, pool_size=3, lrn=True):
    """The paper's network as a Sequential (input (N, 3, 227, 227), output (N, num_classes)).

    Three knobs undo one of the paper's choices each, for testing its claims (numpynet/ablate.py):
    `dropout` (0.5 in fc6 and fc7; 0 turns it off, section 4.2), `pool_size` (3: overlapping
    3x3 windows at stride 2; 2: the non-overlapping 2x2 that section 3.4 compares with, the same
    output sizes) and `lrn` (False: no local response normalisation, section 3.3).

    For tests and quick CPU experiments only, two knobs shrink it while keeping its layer table:
    `width` scales every layer's channel and unit count (1.0 is the paper), and `input_size`
    (at least 67, the smallest input that survives the three poolings; 227 in the paper) changes
    the crop, and with it fc6's input (256 * 6 * 6 = 9216 at 227). None: the preset's own
    (224 for torchvision, 227 for the others). The torchvision preset has no split layers, so
    `groups` changes nothing there.
    """
    input_size = INPUT_SIZE.get(preset, 227) if input_size is None else input_size
    if preset not in PRESETS:
        raise ValueError(f"alexnet: unknown preset {preset!r}; choose from {PRESETS}")
    if init not in INITS:
        raise ValueError(f"alexnet: unknown init {init!r}; choose from {INITS}")
    if groups not in (1, 2):
        raise ValueError(f"alexnet: groups must be 1 (one GPU) or 2 (the paper's split), "
                         f"got {groups}")
    if num_classes < 1:
        raise ValueError(f"alexnet: num_classes must be >= 1, got {num_classes}")
    if not 0 < width <= 1:
        raise ValueError(f"alexnet: width must be in (0, 1], got {width}")
    if pool_size not in (2, 3):
        raise ValueError(f"alexnet: pool_size must be 3 (the paper's overlapping pooling) or 2 "
                         f"(non-overlapping), got {pool_size}")
    if not 0 <= dropout < 1:
        raise ValueError(f"alexnet: dropout must be in [0, 1), got {dropout}")
    if input_size < 67:
        raise ValueError(f"alexnet: input_size must be at least 67 (the paper's is 227), "
                         f"got {input_size}")

    def scaled(n):                    # a multiple of 2 so that the groups still split evenly
        return max(2, int(round(n * width / 2)) * 2)

    rng = np.random.default_rng(seed)
    layers, in_channels = [], 3
    if init in INPUT_SCALE:
        layers.append(Scale(1 / INPUT_SCALE[init], name="scale"))
    table = TORCHVISION_CONV_TABLE if preset == "torchvision" else CONV_TABLE
    for name, out, k, s, p, split in table:
        i, out = name[-1], scaled(out)
        layers.append(Conv2D(in_channels, out, k, stride=s, padding=p,
                             groups=groups if split else 1, name=name, rng=rng,
                             **init_values(name, init)))
        norm = _normalisation(preset, name, out) if lrn or preset == "batchnorm" else None
        if isinstance(norm, BatchNorm2D):
            layers.append(norm)
        layers.append(ReLU(name=f"relu{i}"))
        if isinstance(norm, LocalResponseNorm):
            layers.append(norm)
        if name in POOL_AFTER:
            layers.append(MaxPool2D(pool_size, 2, name=f"pool{i}"))
        in_channels = out

    layers.append(Flatten(name="flatten"))
    shape = (1, 3, input_size, input_size)
    for layer in layers:
        shape = layer.output_shape(shape)
    if preset == "torchvision":
        _check_pool5(layers, input_size)
    n_in = shape[1]                                # pool5's output, flattened: 256 * 6 * 6
    for j, (name, n_out) in enumerate(FC_TABLE):
        i, n_out = name[-1], scaled(n_out)
        fc = [Linear(n_in, n_out, name=name, rng=rng, **init_values(name, init)),
              ReLU(name=f"relu{i}")]
        drop = Dropout(dropout, seed=[seed, j], name=f"drop{i}")
        layers += [drop, *fc] if preset == "torchvision" else [*fc, drop]
        n_in = n_out
    layers.append(Linear(n_in, num_classes, name="fc8", rng=rng, **init_values("fc8", init)))
    return Sequential(*layers)


def _check_pool5(layers, input_size):
    """torchvision pools pool5's map to 6x6 (adaptive average pooling); numpynet has no such
    layer, so it takes only the input sizes where the map is 6x6 already (the pooling is then
    the identity)."""
    shape = (1, 3, input_size, input_size)
    for layer in layers[:-1]:                       # up to pool5 (the last one is Flatten)
        shape = layer.output_shape(shape)
    if shape[2:] != (6, 6):
        raise ValueError(f"alexnet: the torchvision preset needs pool5's map to be 6x6 (its "
                         f"adaptive average pooling is not built here); input_size "
                         f"{input_size} gives {shape[2]}x{shape[3]}: use 223 to 254 (224 is "
                         f"torchvision's)")


def init_values(layer_name, scheme):
    """{'weight_std': ..., 'bias': ...} of a conv or fc layer under an init scheme (see above;
    weight_std None means the layer's own He default, sqrt(2 / fan_in))."""
    if scheme in INPUT_SCALE:
        if layer_name == "conv1":      # He's std for unit-scale input, times s / 64, times gain
            return {"weight_std": np.sqrt(2 / (3 * 11 * 11)) * INPUT_SCALE[scheme] / PIXEL_STD
                    * CONV1_GAIN[scheme], "bias": 0.0}
        return {"weight_std": HE_OVERRIDES.get(layer_name), "bias": 0.0}
    std = 0.005 if scheme == "caffe" and layer_name in ("fc6", "fc7") else 0.01
    bias = (1.0 if scheme == "paper" else 0.1) if layer_name in BIAS_ONE else 0.0
    return {"weight_std": std, "bias": bias}
