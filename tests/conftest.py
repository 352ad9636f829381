import numpy as np
import pytest

from numpynet import backend


@pytest.fixture(params=["fast", "reference"])
def kernels(request):
    """Run a test once with the Numba kernels and once with the NumPy reference kernels."""
    old = backend.kernels()
    backend.use_kernels(request.param)
    yield request.param
    backend.use_kernels(old)


@pytest.fixture
def rng():
    return np.random.default_rng(0)
