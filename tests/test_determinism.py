"""Same inputs, same numbers, however many threads the Numba kernels run on.

The kernels split their work over threads by whole rows or (image, channel) planes, and no two
threads ever add into the same element, so the thread count must not change a single bit. BLAS
is different: OpenBLAS splits a product's sums differently for another thread count, and the
results then differ in the last bits (about 1e-6 relative in float32); that is rounding, and
no test here depends on it.
"""

import numba
import numpy as np
import pytest

from numpynet.layers import SoftmaxCrossEntropy
from numpynet.models import alexnet


def gradients_with_numba_threads(threads):
    numba.set_num_threads(threads)
    try:
        rng = np.random.default_rng(0)
        x = rng.standard_normal((6, 3, 67, 67), dtype=np.float32) * 64
        net = alexnet(10, width=0.125, input_size=67, dropout=0.0, seed=0)
        loss = SoftmaxCrossEntropy()
        loss.forward(net.forward(x), rng.integers(0, 10, 6))
        net.backward(loss.backward())
        return {f"{l.name}.{p}": g.copy() for l, p, _, g in net.parameters()}
    finally:
        numba.set_num_threads(numba.config.NUMBA_NUM_THREADS)


@pytest.mark.skipif(numba.config.NUMBA_NUM_THREADS < 2, reason="needs 2 or more Numba threads")
def test_numba_thread_count_changes_no_bit():
    one = gradients_with_numba_threads(1)
    many = gradients_with_numba_threads(numba.config.NUMBA_NUM_THREADS)
    for key in one:
        np.testing.assert_array_equal(one[key], many[key], err_msg=key)
