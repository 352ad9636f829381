"""The layers of AlexNet, one concept per module, each with forward and backward."""

from .base import Layer
from .batchnorm import BatchNorm2D
from .conv import Conv2D
from .dropout import Dropout
from .flatten import Flatten
from .linear import Linear
from .lrn import LocalResponseNorm
from .pool import MaxPool2D
from .relu import ReLU
from .scale import Scale
from .sequential import Sequential
from .softmax import SoftmaxCrossEntropy

__all__ = ["Layer", "BatchNorm2D", "Conv2D", "Dropout", "Flatten", "Linear",
           "LocalResponseNorm", "MaxPool2D", "ReLU", "Scale", "Sequential", "SoftmaxCrossEntropy"]
