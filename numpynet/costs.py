"""What a network costs, layer by layer: arithmetic, parameters and activation memory.

The one cost model of numpynet: `Sequential.summary`, `viz.plot_layer_costs`, the benchmark's
GFLOP/s (numpynet/bench/) and notebook 2 all read the table built here.

    multiply_adds(layer, shape)      multiply-adds of one layer for ONE image of `shape`
    layer_table(net, shape)          per layer: output shape, parameters, activation memory,
                                     multiply-adds, receptive field (one walk through the layers)
    receptive_field(layer, r, j)     (r, j) after `layer`, from (r, j) before it
    step_flops(net, shape, batch)    floating-point operations of a forward (+ backward) step
    format_layer_table(rows)         the table as text, with totals (notebook 2)
    format_summary(rows)             the shorter table `Sequential.summary` prints

Counting, per image (the convolutions and the fully connected layers do almost all the work):

    Conv2D   F * Ho * Wo * (C / groups) * kh * kw    every output: a dot product of that length
             (conv1: 96 * 55 * 55 * 3 * 11 * 11 = 105,415,200)
    Linear   in * out
    others   0   (ReLU, pooling, LRN cost a few operations per value: under 1% of the total)

    FLOPs    = 2 * multiply-adds                    (one multiply and one add)
    backward = 2 * forward                          (dW = D @ cols.T and dx = W.T @ D, each as
                                                    large a product as forward's W @ cols)
    except the first layer that multiplies, in a training step: nobody needs dL/d(image), so it
    computes dW only (Sequential.backward(input_grad=False)), and its backward = 1 * forward.

Receptive field: the side r of the square of input pixels that one output value depends on,
and the jump j, the distance in input pixels between two neighbouring outputs. For a window of
k at stride s (a convolution or a pooling; padding does not change r):

    r_out = r_in + (k - 1) * j_in        j_out = j_in * s        (the image: r = 1, j = 1)

    AlexNet at 227: conv1 11, pool1 19, conv2 51, pool2 67, conv3 99, conv4 131, conv5 163,
    pool5 195; from fc6 on, every value depends on the whole image (r = None in the table).
"""

from .layers.conv import Conv2D
from .layers.linear import Linear
from .layers.pool import MaxPool2D
from .layers.flatten import Flatten
from .shapes import size_of


def multiply_adds(layer, input_shape):
    """Multiply-adds of `layer` for ONE image of `input_shape` (without the batch axis)."""
    if isinstance(layer, Conv2D):
        _, F, Ho, Wo = layer.output_shape((1, *input_shape))
        kh, kw = layer.kernel_size
        return F * Ho * Wo * (layer.in_channels // layer.groups) * kh * kw
    if isinstance(layer, Linear):
        return layer.in_features * layer.out_features
    return 0


def parameters(layer):
    """Number of trainable values of `layer` (weights and biases)."""
    return sum(int(p.size) for p in layer.params.values())


def receptive_field(layer, r, j):
    """(r, j) after `layer` from (r, j) before it (module docstring): a window of k at stride s
    gives r + (k - 1) * j and j * s; a layer without a window keeps both, except Flatten and
    Linear, after which every value sees the whole image (r = j = None)."""
    if r is None or isinstance(layer, (Flatten, Linear)):
        return None, None
    if isinstance(layer, (Conv2D, MaxPool2D)):
        k = layer.kernel_size if isinstance(layer, MaxPool2D) else layer.kernel_size[0]
        return r + (k - 1) * j, j * layer.stride
    return r, j


def layer_table(net, input_shape=(3, 227, 227), batch=128, bytes_per_value=4):
    """One dict per layer, the input first:

        name, type, layer (the object; None for the input), shape (output, without the batch),
        params, activation_bytes (the output of `batch` images, float32 by default: what the
        forward pass keeps for the backward pass), multiply_adds (per image),
        receptive_field and jump (in input pixels; None from Flatten on: the whole image).
    """
    shape, r, j = tuple(input_shape), 1, 1
    rows = [dict(name="input", type="image", layer=None, shape=shape, params=0,
                 activation_bytes=batch * size_of(shape) * bytes_per_value, multiply_adds=0,
                 receptive_field=r, jump=j)]
    for layer in net.layers:
        out = tuple(layer.output_shape((1, *shape))[1:])
        r, j = receptive_field(layer, r, j)
        rows.append(dict(name=layer.name, type=type(layer).__name__, layer=layer, shape=out,
                         params=parameters(layer),
                         activation_bytes=batch * size_of(out) * bytes_per_value,
                         multiply_adds=multiply_adds(layer, shape), receptive_field=r, jump=j))
        shape = out
    return rows


def step_flops(net, input_shape, batch=1, train=True):
    """{layer name: (forward, backward)} FLOPs of one step on `batch` images of `input_shape`
    (backward 0 when not `train`); the rule for backward is in the module docstring."""
    flops, first = {}, True
    for row in layer_table(net, input_shape, batch)[1:]:
        forward = 2 * batch * row["multiply_adds"]
        backward = 2 * forward
        if forward and first:
            backward, first = forward, False        # weight gradient only: no dL/d(image)
        flops[row["name"]] = (forward, backward if train else 0)
    return flops


def format_layer_table(rows, batch=128):
    """`layer_table` rows as a text table with totals (memory in MB = 10^6 bytes; receptive
    field in input pixels, "all" from Flatten on)."""
    head = ("layer", "type", "output", "params", f"act. MB (x{batch})", "mult-adds (M)", "RF px")
    lines = [f"{head[0]:<9}{head[1]:<18}{head[2]:>16}{head[3]:>13}{head[4]:>17}{head[5]:>15}"
             f"{head[6]:>8}"]
    lines.append("-" * len(lines[0]))
    for r in rows:
        shape = "x".join(str(n) for n in r["shape"])
        params = format(r["params"], ",") if r["params"] else ""
        macs = format(r["multiply_adds"] / 1e6, ",.1f") if r["multiply_adds"] else ""
        field = "all" if r["receptive_field"] is None else r["receptive_field"]
        lines.append(f"{r['name']:<9}{r['type']:<18}{shape:>16}{params:>13}"
                     f"{r['activation_bytes'] / 1e6:>17.1f}{macs:>15}{field:>8}")
    lines.append("-" * len(lines[0]))
    params = sum(r["params"] for r in rows)
    act = sum(r["activation_bytes"] for r in rows)
    macs = sum(r["multiply_adds"] for r in rows)
    lines.append(f"{'total':<9}{'':<18}{'':>16}{params:>13,}{act / 1e6:>17.1f}{macs / 1e6:>15,.1f}")
    return "\n".join(lines)


def format_summary(rows):
    """The layers (name, repr, output shape, parameters) of `layer_table` rows, and the total
    parameter count: what `Sequential.summary` prints."""
    cells = [(r["name"], repr(r["layer"]), str(r["shape"]), f"{r['params']:,}" if r["params"]
              else "") for r in rows if r["layer"] is not None]
    wide = max(len(c[1]) for c in cells)
    fmt = f"{{:<10}} {{:<{wide}}} {{:>15}} {{:>12}}"
    rule = "-" * len(fmt.format("", "", "", ""))
    lines = [fmt.format("layer", "type", "output shape", "params"), rule]
    lines += [fmt.format(*c) for c in cells]
    lines += [rule, fmt.format("total", "", "", f"{sum(r['params'] for r in rows):,}")]
    return "\n".join(lines)
