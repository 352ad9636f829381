"""numpynet's OpenBLAS default reaches the environment only when it can take effect, and never
over a value that is already there."""

import json
import os
import subprocess
import sys

import pytest

from numpynet import openblas

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def fresh_python(code, **env):
    """Run `code` in a new interpreter with `env` (None: removed) and return its JSON answer."""
    environ = {**os.environ, "PYTHONPATH": ROOT + os.pathsep + os.environ.get("PYTHONPATH", "")}
    for name, value in env.items():
        if value is None:
            environ.pop(name, None)
        else:
            environ[name] = value
    done = subprocess.run([sys.executable, "-c", code], env=environ, capture_output=True,
                          text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout.strip().splitlines()[-1])


REPORT = ("import json, os, numpynet; print(json.dumps([numpynet.openblas.APPLIED, "
          "os.environ.get('OPENBLAS_THREAD_TIMEOUT')]))")


def test_default_is_set_when_numpynet_comes_first():
    applied, value = fresh_python(REPORT, OPENBLAS_THREAD_TIMEOUT=None,
                                  NUMPYNET_BLAS_DEFAULTS=None)
    assert applied == openblas.DEFAULTS and value == "4"


@pytest.mark.parametrize("code, env", [
    (REPORT, {"OPENBLAS_THREAD_TIMEOUT": "9"}),                      # yours wins
    (REPORT, {"OPENBLAS_THREAD_TIMEOUT": None, "NUMPYNET_BLAS_DEFAULTS": "0"}),   # turned off
    ("import numpy; " + REPORT, {"OPENBLAS_THREAD_TIMEOUT": None}),  # too late: NumPy first
])
def test_default_leaves_the_environment_alone(code, env):
    applied, value = fresh_python(code, **env)
    assert applied == {} and value == env.get("OPENBLAS_THREAD_TIMEOUT")


def test_describe_names_the_kernels_and_where_they_came_from():
    line = openblas.describe()
    core = openblas.info()["core"]
    assert line.startswith(f"OpenBLAS kernels {core} (") and "OPENBLAS_THREAD_TIMEOUT" in line


def test_info_reads_the_kernels_and_threads_from_the_library():
    """OPENBLAS_CORETYPE picks the kernels and OPENBLAS_NUM_THREADS, then set_threads, the
    thread count: all read back from OpenBLAS itself (through threadpoolctl), in a fresh
    process. (OpenBLAS never runs more threads than the process has cores.)"""
    code = ("import json, os, numpynet; from numpynet import openblas; before = openblas.info(); "
            "openblas.set_threads(2); "
            "print(json.dumps([before, openblas.info(), len(os.sched_getaffinity(0))]))")
    before, after, cores = fresh_python(code, OPENBLAS_CORETYPE="Haswell",
                                        OPENBLAS_NUM_THREADS="1")
    if before["core"] == "?":
        pytest.skip(f"NumPy does not run on OpenBLAS here ({before['config']})")
    assert before["core"] == after["core"] == "Haswell"
    assert before["threads"] == 1 and after["threads"] == min(2, cores)
    assert after["config"].startswith("OpenBLAS 0.") and f"threads {after['threads']}" in \
        after["config"]
