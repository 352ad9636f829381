"""OpenBLAS, which multiplies numpynet's matrices: one setting numpynet chooses, and which
kernels it runs.

NumPy's wheels ship OpenBLAS, and every convolution and fully connected layer is one of its
float32 matrix products (`sgemm`). OpenBLAS reads its settings from the environment once, when
NumPy loads it. numpynet chooses one of them:

- OPENBLAS_THREAD_TIMEOUT=4. After a product OpenBLAS's worker threads keep spinning for 2^28
  cycles by default, waiting for the next one, on the very cores that numpynet's Numba kernels
  (ReLU, LRN, pooling, im2col, run between the products) then need. With 2^4 cycles they sleep
  almost at once and leave those cores free. It changes no result. (Measured effect:
  docs/PERFORMANCE.md, "Data pipeline".)

`apply_defaults()` puts it into the environment unless a value is there already (yours wins)
or NUMPYNET_BLAS_DEFAULTS=0. numpynet/__init__.py calls it first thing, so that it takes effect
whenever numpynet is imported before NumPy, as in `python -m numpynet.train`; imported after
NumPy it is too late, and `apply_defaults` leaves the environment alone. `APPLIED` says what it
set. This is the one change `import numpynet` makes to os.environ (numpynet/config lists
it with the variables numpynet reads).

Another setting is left to you: OPENBLAS_CORETYPE, the kernels. OpenBLAS picks them by asking
the processor what it is, unless OPENBLAS_CORETYPE names a set. Some machine images pin
`Haswell` (AVX2), which runs everywhere and gives the same sums on every host; on a processor
with AVX-512, `SkylakeX` uses the wider vectors, runs the products faster and gives results
that differ in the last bits. `info()` says which set is running and with how many threads
(read from the library itself through threadpoolctl). For example:

    OPENBLAS_CORETYPE=SkylakeX python -m numpynet.train ...

This module must not import NumPy at the top: it runs before NumPy is loaded (numpynet.config,
which it reads, imports only the standard library).
"""

import os
import sys

from . import config

DEFAULTS = {"OPENBLAS_THREAD_TIMEOUT": "4"}
APPLIED = {}                   # those of DEFAULTS that apply_defaults() put into the environment
AVX512 = ("avx512f", "avx512bw", "avx512dq", "avx512vl")   # what the SkylakeX kernels use


def _cpuinfo_field(name):
    """The value of the first `name : value` line of /proc/cpuinfo ('' if there is none)."""
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.split(":", 1)[0].strip() == name:
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return ""


def cpu_flags():
    return set(_cpuinfo_field("flags").split())


def cpu_name():
    import platform
    return _cpuinfo_field("model name") or platform.processor() or platform.machine()


def apply_defaults():
    """Put `DEFAULTS` into os.environ where they are not set; nothing if NumPy is already
    loaded (too late) or NUMPYNET_BLAS_DEFAULTS=0. Returns `APPLIED`."""
    if "numpy" in sys.modules or not config.flag("NUMPYNET_BLAS_DEFAULTS"):
        return APPLIED
    for name, value in DEFAULTS.items():
        if name not in os.environ:
            os.environ[name] = APPLIED[name] = value
    return APPLIED


# --------------------------------------------------------------------------- the loaded library

def _openblas():
    """threadpoolctl's handle on the OpenBLAS that NumPy loaded, or None (NumPy on MKL, ...).

    threadpoolctl finds the BLAS libraries loaded in the process and calls their own functions
    (openblas_get_corename, openblas_set_num_threads) under whatever symbol names the build
    gave them, on Linux, macOS and Windows alike."""
    import numpy  # noqa: F401  (loads OpenBLAS)
    from threadpoolctl import ThreadpoolController
    found = ThreadpoolController().select(internal_api="openblas").lib_controllers
    numpys = [lib for lib in found if "numpy" in lib.filepath]     # not another package's copy
    return (numpys or found or [None])[0]


def info():
    """What the OpenBLAS NumPy loaded runs: {'core': 'SkylakeX', 'threads': 2, 'config':
    'OpenBLAS 0.3.31 (pthreads, threads 2), libscipy_openblas64_....so'}; 'core' '?' and
    'config' 'not OpenBLAS, or not found' where there is none (e.g. NumPy built on MKL)."""
    lib = _openblas()
    if lib is None:
        return {"core": "?", "threads": None, "config": "not OpenBLAS, or not found"}
    return {"core": lib.architecture or "?", "threads": lib.num_threads,
            "config": f"OpenBLAS {lib.version} ({lib.threading_layer}, threads "
                      f"{lib.num_threads}), {os.path.basename(lib.filepath)}"}


def set_threads(threads):
    """OpenBLAS's thread count for this process (no effect if NumPy does not use OpenBLAS)."""
    lib = _openblas()
    if lib is not None:
        lib.set_num_threads(threads)


def describe():
    """One line: the kernels OpenBLAS runs, where that choice came from, and the thread timeout."""
    core, chosen = info()["core"], os.environ.get("OPENBLAS_CORETYPE")
    source = f"OPENBLAS_CORETYPE={chosen}" if chosen else "OpenBLAS's own choice"
    line = f"OpenBLAS kernels {core} ({source})"
    if core in ("Haswell", "Zen") and set(AVX512) <= cpu_flags():
        line += " on a processor with AVX-512 (OPENBLAS_CORETYPE=SkylakeX would use it)"
    timeout = os.environ.get("OPENBLAS_THREAD_TIMEOUT")
    if timeout is None:
        return line + "; OPENBLAS_THREAD_TIMEOUT unset (2^28 cycles)"
    if timeout == DEFAULTS["OPENBLAS_THREAD_TIMEOUT"]:
        return line + f"; OPENBLAS_THREAD_TIMEOUT={timeout} (numpynet's default)"
    return line + f"; OPENBLAS_THREAD_TIMEOUT={timeout}"
