"""The GPU backend, tested on a machine without a GPU.

- tests/gpu_sim_checks.py runs the Numba-CUDA kernels in Numba's CUDA simulator and compares
  them with the NumPy references; it needs NUMBA_ENABLE_CUDASIM=1 before Numba is imported, so
  it runs in a subprocess whose output is shown if it fails.
- Importing numpynet, and numpynet.gpu, never needs CuPy; asking for the GPU without it is a
  one-line error.
"""

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from numpynet import backend

ROOT = Path(__file__).resolve().parent.parent


def run_python(*args, env=None, timeout=300):
    """Run `python *args` in the repository root -> (return code, stdout + stderr)."""
    done = subprocess.run([sys.executable, *args], cwd=ROOT, env=env, capture_output=True,
                          text=True, timeout=timeout)
    return done.returncode, done.stdout + done.stderr


def test_gpu_kernels_in_the_cuda_simulator():
    env = dict(os.environ, NUMBA_ENABLE_CUDASIM="1")
    code, output = run_python("-m", "pytest", "tests/gpu_sim_checks.py", "-q", "-p",
                              "no:cacheprovider", env=env)
    assert code == 0, f"simulator checks failed (exit code {code}):\n{output}"
    summary = output.strip().splitlines()[-1]
    assert re.search(r"\d+ passed", summary) and "skipped" not in summary, \
        f"simulator checks did not all run:\n{output}"


BLOCK_CUPY = "import sys; sys.modules['cupy'] = None; "     # `import cupy` -> ImportError


def test_importing_needs_no_cupy():
    code, output = run_python("-c", BLOCK_CUPY + (
        "import numpynet, numpynet.gpu, numpynet.gpu.kernels, numpynet.gpu.augment; "
        "import numpynet.kernels.im2col, numpynet.layers.pool, numpynet.layers.lrn, "
        "numpynet.kernels.naive, numpynet.kernels.fast"))
    assert code == 0, output


def test_use_gpu_without_cupy_is_a_one_line_error(monkeypatch):
    monkeypatch.setitem(sys.modules, "cupy", None)
    with pytest.raises(RuntimeError) as error:
        backend.use("gpu")
    message = str(error.value)
    assert "CuPy" in message and "pip install" in message and "\n" not in message
    assert error.value.__cause__ is None and error.value.__suppress_context__  # no chained trace
    assert backend.current_device() == "cpu"


def test_gpu_batches_without_cupy_are_the_same_error(monkeypatch):
    from numpynet.gpu import augment
    monkeypatch.setitem(sys.modules, "cupy", None)
    with pytest.raises(RuntimeError, match="CuPy"):
        augment.centre_batch(None, None)


def test_launch_config():
    from numpynet.gpu import kernels as G
    assert G.launch_config(1) == (1, G.THREADS_PER_BLOCK)
    assert G.launch_config(G.THREADS_PER_BLOCK) == (1, G.THREADS_PER_BLOCK)
    assert G.launch_config(G.THREADS_PER_BLOCK + 1) == (2, G.THREADS_PER_BLOCK)
    assert G.launch_config(10 ** 12) == (G.MAX_BLOCKS, G.THREADS_PER_BLOCK)  # grid-stride


def test_no_cuda_for_numba_is_a_one_line_error():
    from numba import cuda

    from numpynet.gpu import kernels as G
    if cuda.is_available():
        pytest.skip("Numba can use a GPU here")
    with pytest.raises(RuntimeError, match="numba-cuda") as error:
        G.check_available()
    assert "\n" not in str(error.value)
