"""Network definitions (the shape of a network, kept apart from how it is trained)."""

from .alexnet import INITS, INPUT_SHAPE, PRESETS, alexnet

__all__ = ["INITS", "INPUT_SHAPE", "PRESETS", "alexnet"]
