"""numpynet: AlexNet (Krizhevsky, Sutskever & Hinton, 2012) from scratch in NumPy.

    import numpynet as nn
    net = nn.Sequential(nn.Conv2D(3, 8, 3, padding=1), nn.ReLU(), nn.MaxPool2D(2),
                        nn.Flatten(), nn.Linear(8 * 16 * 16, 10))
"""

from . import openblas

# Before NumPy loads OpenBLAS, which reads its settings then: OPENBLAS_THREAD_TIMEOUT=4 unless
# set. The one change importing numpynet makes to os.environ (numpynet/config lists it).
openblas.apply_defaults()

from . import backend, gradcheck  # noqa: E402
from .kernels import fast  # noqa: E402,F401  (the engine: the compiled twin of every kernel)
from .layers import (BatchNorm2D, Conv2D, Dropout, Flatten, Layer, Linear,  # noqa: E402
                     LocalResponseNorm, MaxPool2D, ReLU, Scale, Sequential, SoftmaxCrossEntropy)
from .optim import SGD  # noqa: E402
from .step import train_step  # noqa: E402

__version__ = "0.1.0"
__all__ = ["BatchNorm2D", "Conv2D", "Dropout", "Flatten", "Layer", "Linear", "LocalResponseNorm",
           "MaxPool2D", "ReLU", "SGD", "Scale", "Sequential", "SoftmaxCrossEntropy", "backend",
           "gradcheck", "train_step"]
