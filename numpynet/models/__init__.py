"""Network definitions (the shape of a network, kept apart from how it is trained)."""

from .alexnet import INPUT_SHAPE, PRESETS, alexnet

__all__ = ["INPUT_SHAPE", "PRESETS", "alexnet"]
