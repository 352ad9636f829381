"""The one place that decides which implementation of a hot loop runs.

Every kernel (im2col, max-pooling, LRN, ...) has up to three implementations of the same
arithmetic, tested against each other and against its definition as plain loops
(numpynet/kernels/naive.py, which nothing dispatches to: it is for reading and for the tests):

    reference   vectorised array code: the definition made fast enough to use (runs on CuPy)
    numba       compiled CPU loops, for NumPy arrays
    gpu         Numba-CUDA loops, for CuPy arrays (numpynet/gpu/kernels.py, imported on first
                use so that a CPU user never imports CuPy)

A kernel module declares each kernel once,

    im2col = dispatch.kernel("im2col", reference=im2col_reference, numba=im2col_numba)

and the layers call `im2col(x, ...)`. On each call the kernel looks at its first argument and
at the kind chosen here (`use_kernels`, or NUMPYNET_KERNELS in numpynet/config):

    kind 'reference'            -> reference
    kind 'fast', NumPy array    -> numba (reference if the kernel has none)
    kind 'fast', CuPy array     -> the function of the same name in gpu/kernels.py, if there
                                   is one, else reference (array code runs on CuPy unchanged)

All three take the same arguments. `out=` and `scratch=` (where given) are requests, not
promises (the GPU kernels ignore them): use the returned array. `kernel.is_fast_for(x)` says
whether a compiled implementation would run for x.

`instrument(wrapper)` routes every kernel call through `wrapper(name, fn, *args, **kwargs)`
while it is active: that is how the benchmark times im2col inside the convolutions, without
patching any module.
"""

import contextlib

from .. import backend, config

_kind = None                   # set by use_kernels; until then NUMPYNET_KERNELS decides
_wrapper = None                # the active instrument() wrapper, or None
KERNELS = {}                   # name -> Kernel, every kernel declared so far


def use_kernels(kind):
    """'fast' (Numba / GPU kernels, the default) or 'reference' (plain NumPy, readable)."""
    global _kind
    if kind not in ("fast", "reference"):
        raise ValueError(f"unknown kernel kind {kind!r}: use 'fast' or 'reference'")
    _kind = kind


def kernels():
    """The kind in use: 'fast' or 'reference' (NUMPYNET_KERNELS, read on first use so that a
    bad value is an error there, not at import)."""
    global _kind
    if _kind is None:
        _kind = config.get("NUMPYNET_KERNELS")
    return _kind


@contextlib.contextmanager
def using(kind):
    """Run a block with the kernels of `kind`, then restore the previous kind."""
    old = kernels()
    use_kernels(kind)
    try:
        yield
    finally:
        use_kernels(old)


def path(x):
    """Which implementation a kernel uses for array `x` now: 'reference', 'numba' or 'gpu'."""
    if kernels() == "reference":
        return "reference"
    return "gpu" if backend.is_gpu_array(x) else "numba"


def gpu_module():
    """numpynet/gpu/kernels.py (imported here, on the first GPU array, never before)."""
    from ..gpu import kernels as gpu
    return gpu


class Kernel:
    """A named hot loop with its implementations; calling it picks one for its first argument."""

    def __init__(self, name, reference, numba=None, doc=None):
        self.name, self.reference, self.numba = name, reference, numba
        self.__name__ = name
        self.__doc__ = doc or reference.__doc__

    def gpu(self):
        """The GPU implementation, or None if gpu/kernels.py has none of this name."""
        return getattr(gpu_module(), self.name, None)

    def implementation(self, x):
        """The function that a call with first argument `x` runs."""
        where = path(x)
        if where == "numba" and self.numba is not None:
            return self.numba
        if where == "gpu":
            return self.gpu() or self.reference
        return self.reference

    def is_fast_for(self, x):
        """Whether a compiled (Numba or GPU) implementation would run for `x`."""
        return self.implementation(x) is not self.reference

    def __call__(self, x, *args, **kwargs):
        fn = self.implementation(x)
        if _wrapper is not None:
            return _wrapper(self.name, fn, x, *args, **kwargs)
        return fn(x, *args, **kwargs)

    def __repr__(self):
        return f"<kernel {self.name}>"


def kernel(name, reference, numba=None, doc=None):
    """Declare a kernel (see the module docstring); returns the callable the layers use."""
    if name in KERNELS:
        raise ValueError(f"kernel {name!r} is declared twice")
    KERNELS[name] = k = Kernel(name, reference, numba, doc)
    return k


@contextlib.contextmanager
def instrument(wrapper):
    """While active, every kernel call runs as `wrapper(name, fn, *args, **kwargs)`, where fn
    is the implementation chosen; the wrapper must call it and return its result."""
    global _wrapper
    old, _wrapper = _wrapper, wrapper
    try:
        yield
    finally:
        _wrapper = old
