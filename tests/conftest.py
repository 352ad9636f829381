import numpy as np
import pytest

from numpynet.kernels import dispatch


@pytest.fixture(params=["fast", "reference"])
def kernels(request):
    """Run a test once with the Numba kernels and once with the NumPy reference kernels."""
    with dispatch.using(request.param):
        yield request.param


@pytest.fixture
def rng():
    return np.random.default_rng(0)
