"""The hot loops, each as a loop definition, a vectorised NumPy reference and a Numba kernel.

- `naive`: every kernel's definition as plain Python loops (small inputs; for reading, tests)
- `im2col`: convolution as a matrix product (im2col / col2im, standard and wide layouts)
- `product_layout`: Conv2D's product (F, n, Ho, Wq) <-> NCHW images
- `winograd`: the transforms of Winograd's F(2x2, 3x3), Conv2D's fast path for 3x3 filters
- `pool`: max-pooling forward and backward
- `lrn`: local response normalisation forward and backward
- `relu`: ReLU forward and backward into given arrays
- `sgd`: the SGD-with-momentum update in one pass
- `batchnorm`: BatchNorm statistics, normalisation and backward, per channel
- `dispatch`: the one place that picks reference / Numba / GPU for every call

Each kernel module declares its kernels with `dispatch.kernel(name, reference, numba)`; the
layers call those (`im2col.im2col`, `pool.maxpool_forward`, ...). tests/test_kernels.py checks
that the loops, the references and the Numba kernels agree.

Threads: numpynet selects Numba's `workqueue` threading layer unless you chose one
(NUMBA_THREADING_LAYER), because OpenMP's spinning idle threads slow down the BLAS threads that
run between the kernels (docs/PERFORMANCE.md). Its one limit: Numba's parallel kernels cannot be
launched from two Python threads at the same time.
"""

import os

import numba

if "NUMBA_THREADING_LAYER" not in os.environ:
    numba.config.THREADING_LAYER = "workqueue"
