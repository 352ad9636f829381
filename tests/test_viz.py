"""The plotting helpers: every figure builds, and the numbers they show are the right ones.

The cost table the cost plot draws is checked by hand in test_costs.py.
"""

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402

from numpynet import costs, metrics, viz  # noqa: E402
from numpynet.models import alexnet  # noqa: E402


@pytest.fixture(autouse=True)
def close_figures():
    yield
    plt.close("all")


def texts(ax):
    return [t.get_text() for t in ax.texts]


# --------------------------------------------------------------------------- the cost plot

@pytest.fixture(scope="module")
def paper_net():
    return alexnet(1000, groups=2)


def test_plot_layer_costs(paper_net):
    fig = viz.plot_layer_costs(costs.layer_table(paper_net))
    assert len(fig.axes) == 3


# --------------------------------------------------------------------------- filters

def test_filter_grid_shape_and_range(rng):
    W = rng.standard_normal((96, 3, 11, 11))
    grid = viz.filter_grid(W, columns=12, pad=1)
    assert grid.shape == (8 * 12 + 1, 12 * 12 + 1, 3)
    assert grid.min() >= 0 and grid.max() <= 1
    first = grid[1:12, 1:12]                       # filter 0, stretched on its own to [0, 1]
    assert first.min() == 0 and first.max() == 1
    np.testing.assert_allclose(first, (W[0].transpose(1, 2, 0) - W[0].min()) / np.ptp(W[0]))
    last = grid[1 + 7 * 12:1 + 7 * 12 + 11, 1 + 11 * 12:1 + 11 * 12 + 11]   # filter 95
    np.testing.assert_allclose(last, (W[95].transpose(1, 2, 0) - W[95].min()) / np.ptp(W[95]))


def test_filter_grid_constant_filter_and_bad_shape():
    grid = viz.filter_grid(np.zeros((2, 3, 3, 3)), columns=2)
    assert np.all(grid[1:4, 1:4] == 0.5)
    with pytest.raises(ValueError, match="RGB"):
        viz.filter_grid(np.zeros((4, 1, 3, 3)))


def test_plot_filters(rng):
    fig = viz.plot_filters(rng.standard_normal((8, 3, 5, 5)), columns=4)
    assert len(fig.axes) == 1


# --------------------------------------------------------------------------- small arrays

def test_plot_pooling_shows_the_worked_example():
    x = np.array([[1, 3, 5, 5], [4, 1, 4, 9], [3, 2, 0, 1], [5, 2, 4, 6]])
    fig = viz.plot_pooling(x, settings=((2, 2), (2, 1)))
    axes = fig.axes
    assert texts(axes[1]) == ["4", "9", "5", "6"]
    assert texts(axes[3]) == ["4", "5", "9", "4", "4", "9", "5", "4", "6"]
    # the winners are in bold in the input: with stride 1 the 9 wins two windows
    bold = [t.get_text() for t in axes[2].texts if t.get_fontweight() == "bold"]
    assert sorted(bold) == sorted(["5", "4", "4", "9", "5", "4", "6"])


def test_plot_im2col_columns_are_patches():
    x = np.arange(16).reshape(4, 4)
    fig = viz.plot_im2col(x, 2, 2, stride=1)
    cols_ax = fig.axes[-1]
    values = np.array(texts(cols_ax), dtype=float).reshape(4, 9)      # row-major cells
    assert list(values[:, 0]) == [0, 1, 4, 5]                        # the top-left patch
    assert list(values[:, 8]) == [10, 11, 14, 15]                    # the bottom-right patch
    fig = viz.plot_im2col(np.arange(18).reshape(2, 3, 3), 2, 2, stride=1, pad=1)
    assert len(fig.axes) == 3                                         # 2 channels + cols


def test_plot_matrix_and_lrn_and_training_error():
    assert viz.plot_matrix(np.eye(3), title="I") is not None
    fig = viz.plot_lrn_effect([10, 10, 100, 10, 10], [5, 3, 20, 3, 5])
    assert len(fig.axes) == 2
    fig = viz.plot_training_error({"ReLU": [0.8, 0.4, 0.2], "tanh": [0.9, 0.8, 0.7]},
                                  threshold=0.25)
    labels = [t.get_text() for t in fig.axes[0].get_legend().get_texts()]
    assert "reached 25% at epoch 3" in labels[0] and "not below 25%" in labels[1]


# --------------------------------------------------------------------------- images

def test_as_rgb_layouts_and_scales():
    hwc = np.full((4, 5, 3), 255, np.uint8)
    assert viz.as_rgb(hwc).shape == (4, 5, 3) and viz.as_rgb(hwc).max() == 1.0
    chw = np.full((3, 4, 5), 300.0)                                    # clipped
    assert viz.as_rgb(chw).shape == (4, 5, 3) and viz.as_rgb(chw).max() == 1.0
    assert viz.as_rgb(np.zeros((4, 5), np.uint8)).shape == (4, 5, 3)
    assert viz.as_rgb(np.full((2, 2, 3), -20.0)).min() == 0.0


def test_image_plots(rng):
    images = rng.integers(0, 256, (5, 16, 16, 3), dtype=np.uint8)
    fig = viz.plot_image_grid(images, titles=list("abcde"), columns=3)
    assert len(fig.axes) == 6
    fig = viz.plot_crop_boxes(images[0], [0, 2], [1, 3], 12, labels=["a", "b"])
    assert len(fig.axes[0].patches) == 2
    probs = rng.dirichlet(np.ones(7), size=3)
    names = [f"class {i}" for i in range(7)]
    fig = viz.plot_top5(images[:3], probs, names, labels=[0, 1, 2])
    assert len(fig.axes) == 6
    fig = viz.plot_neighbours(images[:2], images[None, :4].repeat(2, axis=0),
                              query_titles=["q0", "q1"])
    assert len(fig.axes) == 2 * 5


def test_confusion_matrix_counts():
    counts = metrics.confusion_matrix([0, 0, 1, 2, 2, 2], [0, 1, 1, 2, 0, 2], 3)
    np.testing.assert_array_equal(counts, [[1, 1, 0], [0, 1, 0], [1, 0, 2]])
    fig = viz.plot_confusion([0, 0, 1, 2, 2, 2], [0, 1, 1, 2, 0, 2], ["a", "b", "c"])
    assert "66.7%" in fig.axes[0].get_title()


# --------------------------------------------------------------------------- curves, save

def test_plot_curves_marks_the_lr_drop(tmp_path):
    path = tmp_path / "metrics.csv"
    path.write_text("epoch,train_loss,train_top1_err,val_loss,val_top1_err,val_top5_err,lr,"
                    "seconds,images_per_s\n"
                    "1,2.3,0.9,2.2,0.85,0.5,0.01,1,1\n"
                    "2,2.0,0.8,2.1,0.80,0.4,0.01,1,1\n"
                    "3,1.8,0.7,1.9,0.70,0.3,0.001,1,1\n")
    fig = viz.plot_curves(path)
    drops = [line for line in fig.axes[0].lines if line.get_linestyle() == ":"]
    assert len(drops) == 1 and drops[0].get_xdata()[0] == 2.5
    out = viz.save(fig, tmp_path / "curves.png")
    assert out.stat().st_size > 0


# --------------------------------------------------------------------------- figure 2

def exchanges_drawn(fig):
    """The layers at whose input the figure draws arrows crossing between the towers."""
    gids = [p.get_gid() for p in fig.axes[0].patches if p.get_gid()]
    return {g.split(":", 1)[1] for g in gids if g.startswith("exchange:")}, len(gids)


def test_two_towers_exchange_where_the_model_reads_both_halves(paper_net):
    fig = viz.plot_two_towers(paper_net)
    drawn, arrows = exchanges_drawn(fig)
    assert drawn == {"conv3", "fc6", "fc7", "fc8"}
    assert arrows == 2 + 2 + 2 + 2                    # two crossings each; fc8 drawn whole
    words = " ".join(texts(fig.axes[0]))
    assert "48 x 55x55" in words and "-> 128 x 6x6" in words and "2048" in words  # halves
    # the same rule, read off a model that is split nowhere: every layer after conv1 reads both
    one_gpu = alexnet(10, groups=1, width=0.25, input_size=99)
    assert exchanges_drawn(viz.plot_two_towers(one_gpu, (3, 99, 99)))[0] == {
        "conv2", "conv3", "conv4", "conv5", "fc6", "fc7", "fc8"}
    stages = viz.tower_stages(costs.layer_table(one_gpu, (3, 99, 99)))
    assert stages[0]["shape"] == (24, 11, 11) and stages[4]["shape"] == (64, 2, 2)
    assert [s["exchange"] for s in stages] == [False] + [True] * 7


def test_two_towers_of_a_small_grouped_net():
    import numpynet as nn
    net = nn.Sequential(nn.Conv2D(3, 4, 3, name="a"), nn.Conv2D(4, 4, 3, groups=2, name="b"),
                        nn.Conv2D(4, 4, 3, name="c"), nn.Flatten(name="f"),
                        nn.Linear(4 * 2 * 2, 3, name="out"))
    assert exchanges_drawn(viz.plot_two_towers(net, (3, 8, 8)))[0] == {"c", "out"}
    with pytest.raises(ValueError, match="no Conv2D or Linear"):
        viz.plot_two_towers(nn.Sequential(nn.ReLU(name="r")), (3, 8, 8))


# --------------------------------------------------------------------------- figure 3, inside

def test_plot_filters_divides_the_two_groups(rng):
    fig = viz.plot_filters(rng.standard_normal((96, 3, 11, 11)), groups=2)
    dividers = [line for line in fig.axes[0].lines if (line.get_gid() or "").startswith("divider")]
    assert len(dividers) == 1 and dividers[0].get_ydata()[0] == 4 * 12   # after 4 rows of 12
    assert "group 2\n48-95" in texts(fig.axes[0])
    with pytest.raises(ValueError, match="whole rows"):
        viz.plot_filters(rng.standard_normal((96, 3, 11, 11)), columns=10, groups=2)


def test_colour_spread(rng):
    grey = np.repeat(rng.standard_normal((4, 1, 5, 5)), 3, axis=1)   # R = G = B
    opponent = np.concatenate([grey[:, :1], -grey[:, :1], 0 * grey[:, :1]], axis=1)
    noise = rng.standard_normal((400, 3, 11, 11))
    np.testing.assert_allclose(viz.colour_spread(grey), 0, atol=1e-12)
    assert np.all(viz.colour_spread(opponent) > 0.9)
    assert viz.colour_spread(noise).mean() == pytest.approx(2 / 3, abs=0.02)
    assert viz.colour_spread(np.zeros((1, 3, 2, 2)))[0] == 0
    with pytest.raises(ValueError, match="RGB"):
        viz.colour_spread(np.zeros((2, 1, 3, 3)))


def test_smoothness_tells_learned_kernels_from_noise(rng):
    noise = rng.standard_normal((200, 3, 11, 11))
    assert abs(viz.smoothness(noise).mean()) < 0.02                    # white noise: about 0
    y, x = np.mgrid[-5:6, -5:6]
    edge = np.cos(0.6 * x) * np.exp(-(x ** 2 + y ** 2) / 12)          # a Gabor-like edge
    gabor = np.stack([edge, edge, -edge])[None]
    assert viz.smoothness(gabor)[0] > 0.7
    checker = ((x + y) % 2 * 2 - 1.0)[None, None].repeat(3, axis=1)    # the least smooth
    assert viz.smoothness(checker)[0] == pytest.approx(-1, abs=0.05)
    assert viz.smoothness(np.ones((1, 3, 4, 4)))[0] == 0              # constant: no pattern
    with pytest.raises(ValueError, match="kernels"):
        viz.smoothness(np.zeros((2, 3, 1, 1)))


def test_update_ratios_plot(rng):
    ratios = {"he": 10 ** rng.uniform(-4, -2, (5, 3)), "he16": 10 ** rng.uniform(-4, -2, (5, 3))}
    fig = viz.plot_update_ratios(["conv1", "conv2", "fc8"], ratios)
    assert [ax.get_title() for ax in fig.axes] == ["init he", "init he16"]
    assert len(fig.axes[0].get_lines()) == 4                           # 3 layers + the 1e-3 line


def test_feature_maps_and_embedding(rng):
    maps = np.maximum(rng.standard_normal((20, 6, 6)), 0)
    maps[3] = 0                                                     # a silent channel
    fig = viz.plot_feature_maps(maps, count=20, columns=8)
    assert len(fig.axes) == 24
    assert fig.axes[3].spines["left"].get_edgecolor()[:3] == pytest.approx((0.839, 0.153, 0.157),
                                                                           abs=0.01)
    with pytest.raises(ValueError, match="one image's maps"):
        viz.plot_feature_maps(maps[None])
    points, labels = rng.standard_normal((30, 2)), np.repeat([0, 1, 2], 10)
    fig = viz.plot_embedding(points, labels, names=["a", "b", "c"], highlight=[0, 15])
    assert [t.get_text() for t in fig.axes[0].get_legend().get_texts()] == ["a", "b", "c"]
    assert len(fig.axes[0].collections) == 3 + 2                    # 3 classes, 2 stars
    with pytest.raises(ValueError, match="points"):
        viz.plot_embedding(points[:, :1], labels)
