"""Plots, in plain matplotlib, for the notebooks and the training CLI.

    viz/training.py    curves of a run; conv1's filters and their colour; update ratios
                       (train, diagnostics, notebooks 4, 5)
    viz/diagrams.py    what the layers compute, on small arrays; the cost bars; figure 2's two
                       towers; feature maps, a 2-d embedding (notebooks 1, 2, 5)
    viz/images.py      images, crops, top-5 bars, neighbours, confusion (notebooks 3 and 5)
    viz/figures.py     pyplot without a screen, colours, save(fig, path) (atomic)

Every name is importable from here: `from numpynet import viz; viz.plot_curves(path)`. Every
plot_* function returns a matplotlib Figure (in a notebook it is shown when the cell ends). The
numbers the cost plot shows come from numpynet/costs.py; the confusion matrix from
numpynet/metrics.py.
"""

from .diagrams import (plot_embedding, plot_feature_maps, plot_im2col, plot_layer_costs,
                       plot_lrn_effect, plot_matrix, plot_pooling, plot_two_towers, tower_stages)
from .figures import save
from .images import (as_rgb, plot_confusion, plot_crop_boxes, plot_image_grid, plot_neighbours,
                     plot_top5)
from .training import (colour_spread, filter_grid, plot_curves, plot_filters, plot_training_error,
                       plot_update_ratios, read_metrics, smoothness)

__all__ = ["as_rgb", "colour_spread", "filter_grid", "plot_confusion", "plot_crop_boxes",
           "plot_curves", "plot_embedding", "plot_feature_maps", "plot_filters", "plot_im2col",
           "plot_image_grid", "plot_layer_costs", "plot_lrn_effect", "plot_matrix",
           "plot_neighbours", "plot_pooling", "plot_top5", "plot_training_error",
           "plot_two_towers", "plot_update_ratios", "read_metrics", "save", "smoothness",
           "tower_stages"]
