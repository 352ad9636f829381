"""The cost model (numpynet/costs.py): multiply-adds, parameters and activation memory per
layer, checked against numbers worked out by hand from the paper's layer shapes; and the places
that report costs (Sequential.summary, the benchmark's FLOPs, the cost plot) use its numbers.
"""

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import pytest  # noqa: E402

import numpynet as nn  # noqa: E402
from numpynet import costs, viz  # noqa: E402
from numpynet.models import INPUT_SHAPE, alexnet  # noqa: E402


@pytest.fixture(scope="module")
def paper_net():
    return alexnet(1000, groups=2)


def test_multiply_adds_by_hand(paper_net):
    shape = (3, 227, 227)
    rows = {r["name"]: r for r in costs.layer_table(paper_net, shape)}
    # conv1: 96 filters x 55 x 55 positions x (3 x 11 x 11) weights each
    assert rows["conv1"]["multiply_adds"] == 96 * 55 * 55 * 3 * 11 * 11 == 105_415_200
    # conv2 sees only its group's 48 of the 96 channels
    assert rows["conv2"]["multiply_adds"] == 256 * 27 * 27 * 48 * 5 * 5 == 223_948_800
    assert rows["conv3"]["multiply_adds"] == 384 * 13 * 13 * 256 * 3 * 3 == 149_520_384
    assert rows["fc6"]["multiply_adds"] == 9216 * 4096
    assert rows["fc8"]["multiply_adds"] == 4096 * 1000
    for name in ("relu1", "norm1", "pool1", "flatten", "drop6"):
        assert rows[name]["multiply_adds"] == 0


def test_layer_table_params_and_memory(paper_net):
    rows = costs.layer_table(paper_net, (3, 227, 227), batch=128)
    assert rows[0]["name"] == "input" and rows[0]["activation_bytes"] == 128 * 3 * 227 * 227 * 4
    by_name = {r["name"]: r for r in rows}
    assert by_name["conv1"]["shape"] == (96, 55, 55)
    assert by_name["conv1"]["activation_bytes"] == 128 * 96 * 55 * 55 * 4 == 148_684_800
    assert by_name["pool5"]["shape"] == (256, 6, 6)
    assert by_name["conv1"]["params"] == 96 * 3 * 11 * 11 + 96 == 34_944
    assert by_name["conv2"]["params"] == 256 * 48 * 5 * 5 + 256 == 307_456
    assert sum(r["params"] for r in rows) == 60_965_224
    assert sum(r["params"] for r in costs.layer_table(alexnet(1000, groups=1))) == 62_378_344
    text = costs.format_layer_table(rows)
    assert "60,965,224" in text and "105.4" in text


def test_multiply_adds_of_a_small_grouped_conv():
    layer = nn.Conv2D(4, 6, 3, stride=2, padding=1, groups=2)
    # output 6 x 4 x 4 (from 4 x 8 x 8), each a dot product over 2 channels x 3 x 3
    assert costs.multiply_adds(layer, (4, 8, 8)) == 6 * 4 * 4 * 2 * 3 * 3
    assert costs.multiply_adds(nn.Linear(5, 7), (5,)) == 35
    assert costs.multiply_adds(nn.ReLU(), (4, 8, 8)) == 0


def test_conv1_multiply_adds_by_hand(paper_net):
    """conv1: 96 filters, each a dot product over 3 x 11 x 11 = 363 inputs, at 55 x 55 places."""
    conv1 = paper_net["conv1"]
    assert costs.multiply_adds(conv1, INPUT_SHAPE) == 96 * 363 * 55 * 55
    assert costs.parameters(conv1) == 96 * 363 + 96


def test_step_flops_twice_the_multiply_adds_and_backward_rule():
    net = nn.Sequential(nn.Conv2D(3, 4, 3, name="c1"), nn.ReLU(name="r"),
                        nn.Conv2D(4, 2, 3, name="c2"), nn.Flatten(name="f"),
                        nn.Linear(2 * 4 * 4, 5, name="fc"))
    # c1: 4 x 6 x 6 outputs of 3*3*3 = 27; c2: 2 x 4 x 4 outputs of 4*3*3 = 36; fc: 32 x 5
    c1, c2, fc = 4 * 6 * 6 * 27, 2 * 4 * 4 * 36, 32 * 5
    flops = costs.step_flops(net, (3, 8, 8), batch=3)
    assert flops["c1"] == (2 * 3 * c1, 2 * 3 * c1)          # first layer: no dL/dx, dW only
    assert flops["c2"] == (2 * 3 * c2, 4 * 3 * c2)          # dW and dx, each as much as forward
    assert flops["fc"] == (2 * 3 * fc, 4 * 3 * fc)
    assert flops["r"] == flops["f"] == (0, 0) and "input" not in flops
    assert costs.step_flops(net, (3, 8, 8), batch=3, train=False)["c2"] == (2 * 3 * c2, 0)


def test_summary_bench_and_plot_read_the_same_table(paper_net):
    rows = costs.layer_table(paper_net, INPUT_SHAPE, batch=128)
    by_name = {r["name"]: r for r in rows}
    # the benchmark's FLOPs: 2 per multiply-add of the table, per image of the batch
    flops = costs.step_flops(paper_net, INPUT_SHAPE, batch=4, train=False)
    assert all(flops[r["name"]][0] == 2 * 4 * r["multiply_adds"] for r in rows[1:])
    # Sequential.summary: one line per layer, with the table's shape and parameters
    lines = paper_net.summary(INPUT_SHAPE).splitlines()
    conv2 = next(line for line in lines if line.startswith("conv2 "))
    assert "(256, 27, 27)" in conv2 and f"{by_name['conv2']['params']:,}" in conv2
    assert len(lines) == len(paper_net.layers) + 4 and not any(
        line.startswith("input") for line in lines)
    # the cost plot: its bars are the table's numbers
    fig = viz.plot_layer_costs(rows)
    widths = [p.get_width() for p in fig.axes[2].patches]
    assert widths == pytest.approx([r["multiply_adds"] / 1e6 for r in rows])
    plt.close(fig)


def test_format_layer_table_totals(paper_net):
    text = costs.format_layer_table(costs.layer_table(paper_net, INPUT_SHAPE, batch=1))
    last = text.splitlines()[-1].split()
    assert last[0] == "total" and last[1] == "60,965,224"


def test_receptive_fields_of_alexnet(paper_net):
    """r_out = r_in + (k - 1) * j_in, j_out = j_in * s, from r = j = 1 at the 227 px image."""
    rows = {r["name"]: r for r in costs.layer_table(paper_net, INPUT_SHAPE)}
    fields = {name: rows[name]["receptive_field"] for name in
              ("conv1", "pool1", "conv2", "pool2", "conv3", "conv4", "conv5", "pool5")}
    assert fields == dict(conv1=11, pool1=19, conv2=51, pool2=67, conv3=99, conv4=131,
                          conv5=163, pool5=195)
    assert [rows[n]["jump"] for n in ("input", "conv1", "pool1", "pool2", "pool5")] == \
        [1, 4, 8, 16, 32]
    assert rows["relu1"]["receptive_field"] == rows["norm1"]["receptive_field"] == 11
    assert rows["input"]["receptive_field"] == 1
    assert rows["flatten"]["receptive_field"] is None and rows["fc8"]["receptive_field"] is None
    # by hand, on a small net: 3x3/1 -> r 3, j 1; 2x2/2 pool -> r 4, j 2; 3x3/2 -> r 8, j 4
    net = nn.Sequential(nn.Conv2D(1, 1, 3, padding=1, name="a"), nn.MaxPool2D(2, 2, name="p"),
                        nn.Conv2D(1, 1, 3, stride=2, name="b"))
    assert [(r["receptive_field"], r["jump"]) for r in costs.layer_table(net, (1, 16, 16))] == \
        [(1, 1), (3, 1), (4, 2), (8, 4)]
    text = costs.format_layer_table(costs.layer_table(paper_net, INPUT_SHAPE))
    assert text.splitlines()[0].split()[-2:] == ["RF", "px"]
    assert next(line for line in text.splitlines() if line.startswith("pool5")).endswith(" 195")
