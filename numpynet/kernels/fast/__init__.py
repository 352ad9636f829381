"""The engine: the compiled twin of every kernel, handed to kernels/dispatch.py by name.

Each function here takes the arguments of the reference of the same name (in the layer that
declares it) and returns what it returns, computed by Numba loops, in chunks, into reused
memory. None of this is needed to understand what a network computes: the references are.

- `conv`: the convolution, chunked: im2col columns of a few images at a time in a shared
  workspace, the product moved to and from NCHW by compiled loops, and 3x3 stride-1 layers by
  Winograd's F(2x2, 3x3) (`winograd`, `product_layout`)
- `im2col`, `relu`, `pool`, `lrn`, `batchnorm`, `sgd`: compiled loops, parallel over planes
  (and Scale's product, beside ReLU)
- `linear`: Linear's weight gradient, into reused memory
- `memory`: the workspace and the array pool the fast kernels take their outputs from

Threads: numpynet selects Numba's `workqueue` threading layer unless you chose one
(NUMBA_THREADING_LAYER), because OpenMP's spinning idle threads slow down the BLAS threads that
run between the kernels (docs/PERFORMANCE.md). Its one limit: Numba's parallel kernels cannot be
launched from two Python threads at the same time.
"""

import os

import numba

if "NUMBA_THREADING_LAYER" not in os.environ:
    numba.config.THREADING_LAYER = "workqueue"

from .. import dispatch  # noqa: E402
from . import batchnorm, conv, im2col, linear, lrn, pool, relu, sgd  # noqa: E402

# kernel name -> its compiled twin: every public function these modules list in __all__
dispatch.add_twins({name: getattr(module, name)
                    for module in (batchnorm, conv, im2col, linear, lrn, pool, relu, sgd)
                    for name in module.__all__})
