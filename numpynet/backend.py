"""Which array module the layers compute with: NumPy on the CPU, CuPy on an NVIDIA GPU.

Every layer finds its array module from its input (``xp = get_array_module(x)``) instead of
writing ``np.`` everywhere, so the same lines of math run on either device. CuPy is optional:
nothing here imports it until a GPU array is asked for.

    >>> xp = get_array_module(np.zeros(3))   # numpy
    >>> use("gpu")                           # later: move models/batches with to_device()

This module is only about arrays and devices. Which implementation of a hot loop runs
(reference, Numba or GPU kernels) is chosen in numpynet/kernels/dispatch.py.
"""

import sys

import numpy as np

_DEVICE = "cpu"


def _cupy_if_loaded():
    """The cupy module if it was imported already (never imports it ourselves)."""
    return sys.modules.get("cupy")


def get_array_module(*arrays):
    """numpy, or cupy if any argument is a CuPy array."""
    cp = _cupy_if_loaded()
    if cp is not None and any(isinstance(a, cp.ndarray) for a in arrays):
        return cp
    return np


def is_gpu_array(x):
    return get_array_module(x) is not np


def load_cupy():
    """Import CuPy and check that a GPU answers; a one-line error otherwise."""
    try:
        import cupy as cp
    except ImportError:
        raise RuntimeError("the GPU backend needs CuPy: pip install 'numpynet-alexnet[gpu-cuda13]' "
                           "or 'numpynet-alexnet[gpu-cuda12]', the one matching your CUDA major "
                           "version (nvidia-smi shows it)") from None
    try:
        n = cp.cuda.runtime.getDeviceCount()
    except Exception as e:  # CUDA driver missing, no device, ...
        raise RuntimeError(f"CuPy is installed but no CUDA GPU is usable: {e}") from None
    if n == 0:
        raise RuntimeError("CuPy is installed but it sees no CUDA GPU")
    return cp


def check_numba_cuda():
    """A one-line RuntimeError unless Numba can launch CUDA kernels (or is simulating them):
    the GPU kernels (numpynet/gpu/kernels.py) are Numba-CUDA code."""
    from numba import cuda
    if not cuda.is_available():
        problem = str(cuda.cuda_error() or "no CUDA GPU found").strip().splitlines()[0]
        raise RuntimeError(f"the GPU kernels need Numba's CUDA target and a GPU ({problem}): "
                           f"pip install 'numba-cuda[cu12]' (cu13 for CUDA 13)")


def use(device):
    """Select the default device for new models and batches: 'cpu' (NumPy) or 'gpu' (CuPy)."""
    global _DEVICE
    device = {"numpy": "cpu", "cupy": "gpu", "cuda": "gpu"}.get(device, device)
    if device not in ("cpu", "gpu"):
        raise ValueError(f"unknown device {device!r}: use 'cpu' or 'gpu'")
    if device == "gpu":
        load_cupy()
        check_numba_cuda()
    _DEVICE = device


def current_device():
    return _DEVICE


def xp_for(device=None):
    """The array module for a device name ('cpu' or 'gpu'; default: the current device)."""
    device = device or _DEVICE
    return load_cupy() if device == "gpu" else np


def to_device(x, device=None):
    """Copy an array to `device` (default: the current one); no copy if it is there already."""
    device = device or _DEVICE
    if device == "gpu":
        return load_cupy().asarray(x)
    return to_numpy(x)


def to_numpy(x):
    """A NumPy array from a NumPy or CuPy array (copying from the GPU if needed)."""
    if is_gpu_array(x):
        return x.get()
    return np.asarray(x)
