"""What a network costs, layer by layer: arithmetic, parameters and activation memory.

The one cost model of numpynet: `Sequential.summary`, `viz.plot_layer_costs`, the benchmark's
GFLOP/s (numpynet/bench/) and notebook 2 all read the table built here.

    multiply_adds(layer, shape)      multiply-adds of one layer for ONE image of `shape`
    layer_table(net, shape)          per layer: output shape, parameters, activation memory,
                                     multiply-adds (one walk through the layers' output_shape)
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
"""

from .layers.conv import Conv2D
from .layers.linear import Linear
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


def layer_table(net, input_shape=(3, 227, 227), batch=128, bytes_per_value=4):
    """One dict per layer, the input first:

        name, type, layer (the object; None for the input), shape (output, without the batch),
        params, activation_bytes (the output of `batch` images, float32 by default: what the
        forward pass keeps for the backward pass), multiply_adds (per image).
    """
    shape = tuple(input_shape)
    rows = [dict(name="input", type="image", layer=None, shape=shape, params=0,
                 activation_bytes=batch * size_of(shape) * bytes_per_value, multiply_adds=0)]
    for layer in net.layers:
        out = tuple(layer.output_shape((1, *shape))[1:])
        rows.append(dict(name=layer.name, type=type(layer).__name__, layer=layer, shape=out,
                         params=parameters(layer),
                         activation_bytes=batch * size_of(out) * bytes_per_value,
                         multiply_adds=multiply_adds(layer, shape)))
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
