"""The one place that decides which implementation of a hot loop runs: the door between the
book (the math, as plain array code) and the engine (the same math, compiled and chunked).

Every kernel has up to three implementations of the same arithmetic, tested against each other
and against its definition as plain loops (numpynet/kernels/naive.py, which nothing dispatches
to: it is for reading and for the tests):

    reference   the math as vectorised array code: the function that is declared, in the layer
                that uses it (layers/relu.py's `relu_forward`, ...); runs on NumPy and CuPy
    numba       the engine: a compiled function OF THE SAME NAME in numpynet/kernels/fast/,
                for NumPy arrays; it owns its memory reuse (chunks, workspace, array pool).
                The engine hands its functions in with `add_twins` when it is imported
                (`import numpynet` does that), so the book never imports the engine
    gpu         a Numba-CUDA function of the same name in numpynet/gpu/kernels.py, for CuPy
                arrays (imported on first use, so that a CPU user never imports CuPy)

A reference is declared once, with a decorator,

    @kernel
    def relu_forward(x):
        return xp.maximum(x, 0)

and callers call `relu_forward(x)`. On each call the kernel looks at its first argument and at
the kind chosen here (`use_kernels`, or NUMPYNET_KERNELS in numpynet/config):

    kind 'reference'            -> the reference
    kind 'fast', NumPy array    -> kernels/fast/<name> (the reference if there is none)
    kind 'fast', CuPy array     -> gpu/kernels.<name> (the reference if there is none: array
                                   code runs on CuPy unchanged)

All take the reference's arguments and return what it returns; the fast ones may accept more
(`out=`, `scratch=`: requests, not promises, used inside the engine). `kernel.numba` is the
compiled function and `kernel.is_fast_for(x)` says whether it (or a GPU one) would run for x.
Kernels that exist only inside the engine (Winograd's transforms) pass theirs explicitly:
`kernel(reference, numba=..., name=...)`.

`instrument(wrapper)` routes every kernel call through `wrapper(name, fn, *args, **kwargs)`
while it is active: the one hook the benchmark uses to time kernels inside the convolutions.
"""

import contextlib

from .. import backend, config

_kind = None                   # set by use_kernels; until then NUMPYNET_KERNELS decides
_wrapper = None                # the active instrument() wrapper, or None
KERNELS = {}                   # name -> Kernel, every kernel declared so far
TWINS = {}                     # name -> the engine's compiled function of that name


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


def add_twins(twins):
    """The engine's compiled functions, {kernel name: function} (numpynet/kernels/fast/)."""
    TWINS.update(twins)


def gpu_module():
    """numpynet/gpu/kernels.py (imported here, on the first GPU array, never before)."""
    from ..gpu import kernels as gpu
    return gpu


class Kernel:
    """A named hot loop with its implementations; calling it picks one for its first argument."""

    def __init__(self, name, reference, numba=None):
        self.name, self.reference, self._numba = name, reference, numba
        self.__name__, self.__doc__ = name, reference.__doc__
        self.__wrapped__ = reference              # inspect.signature shows the reference's

    @property
    def numba(self):
        """The compiled CPU implementation: given at declaration, else the engine's twin."""
        return self._numba if self._numba is not None else TWINS.get(self.name)

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


def kernel(reference, numba=None, name=None):
    """Declare `reference` as a kernel (see the module docstring), as `@kernel` or
    `kernel(fn, numba=..., name=...)`; returns the callable that callers use."""
    name = name or reference.__name__
    if name in KERNELS:
        raise ValueError(f"kernel {name!r} is declared twice")
    KERNELS[name] = k = Kernel(name, reference, numba)
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
