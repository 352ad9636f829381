"""The hot loops, each as a readable NumPy reference and a Numba-compiled twin.

- `im2col`: convolution as a matrix product (im2col / col2im)
- `pool`: max-pooling forward and backward
- `lrn`: local response normalisation forward and backward
- `relu`: ReLU forward and backward into given arrays
- `sgd`: the SGD-with-momentum update in one pass

The layers call the dispatching functions (`im2col.im2col`, `pool.maxpool_forward`, ...), which
pick the implementation from `numpynet.backend`; tests check the twins agree.

Threads. The Numba kernels run in parallel (`parallel=True`) between BLAS's matrix products,
which have their own threads. With Numba's default OpenMP threading layer the two thread pools
get in each other's way: OpenMP's idle threads keep spinning after a kernel, on the cores BLAS
then wants, and a training step of AlexNet on a 2-core machine took 3 to 5 times as long (in
CPU time) as with Numba's own `workqueue` layer, whose idle threads sleep. So numpynet selects
`workqueue` unless you chose a layer yourself (NUMBA_THREADING_LAYER). Its one limit: it does
not allow Numba's parallel kernels to be launched from two Python threads at the same time.
"""

import os

import numba

if "NUMBA_THREADING_LAYER" not in os.environ:
    numba.config.THREADING_LAYER = "workqueue"
