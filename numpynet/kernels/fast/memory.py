"""Memory that the layers reuse from one step to the next, instead of asking for it afresh.

Why: a large new NumPy array comes straight from the operating system, one zeroed page (and one
page fault) at a time, which for the layers that only move data (ReLU, pooling, LRN) costs more
than their arithmetic (measurements: docs/PERFORMANCE.md). Two tools:

`Workspace`: named scratch arrays, for temporaries that never leave a layer (Conv2D's im2col
columns of one chunk of images). One flat array per name; `get` hands out a view of it, valid
until the next `get` of the same name.

    cols = WORKSPACE.get("cols", (363, 4 * 3025), np.float32)   # allocated the first time
    cols = WORKSPACE.get("cols", (363, 2 * 3025), np.float32)   # the same memory again

`ArrayPool`: arrays that a layer returns (its output y, or dL/dx). The caller may keep those as
long as it likes, so their memory can only be reused once nobody refers to them any more. The
pool keeps every array it made and, for a new request, picks one whose only remaining
reference is the pool's own (Python's reference count says so exactly), of at least the size
asked for and at most twice it. Arrays a caller still holds, or any view of them, are never
handed out again; one that stays unused for a while is given back to the system.

    y = POOL.empty((128, 96, 55, 55), np.float32)     # new memory, or a free array reused

Both are module-level and shared by all layers (the layers run one after the other), so do not
run two networks in two Python threads at the same time (Numba's workqueue threading layer,
numpynet/kernels/__init__.py, does not allow that either). Neither does anything for CuPy
arrays (CuPy has its own memory pool): they just allocate.
"""

import sys

import numpy as np

from ...shapes import size_of


class Workspace:
    def __init__(self):
        self._arrays = {}                      # name -> flat array (NumPy or CuPy)

    def get(self, name, shape, dtype, xp=np):
        """A C-contiguous array of `shape` and `dtype` (contents undefined), reusing memory."""
        size = size_of(shape)
        flat = self._arrays.get(name)
        if (flat is None or flat.size < size or flat.dtype != dtype
                or not isinstance(flat, xp.ndarray)):
            flat = self._arrays[name] = xp.empty(max(size, 1), dtype=dtype)
        return flat[:size].reshape(shape)

    def nbytes(self):
        return sum(a.nbytes for a in self._arrays.values())

    def clear(self):
        self._arrays.clear()


class ArrayPool:
    idle_limit = 200                  # requests a free array may sit unused before it is freed

    def __init__(self):
        self._blocks = []             # [flat uint8 array, request number when last handed out]
        self._requests = 0

    def empty(self, shape, dtype, xp=np):
        """An uninitialised array of `shape` and `dtype`, in reused memory when possible."""
        if xp is not np:
            return xp.empty(shape, dtype=dtype)
        dtype = np.dtype(dtype)
        nbytes = size_of(shape) * dtype.itemsize
        self._requests += 1
        entry = self._best_free(nbytes)
        if entry is None:
            self._free_idle()
            entry = [np.empty(max(nbytes, 1), dtype=np.uint8), 0]
            self._blocks.append(entry)
        entry[1] = self._requests
        return entry[0][:nbytes].view(dtype).reshape(shape)

    def _best_free(self, nbytes):
        """The smallest free block with nbytes <= size <= 2 * nbytes, or None."""
        best = None
        for entry in self._blocks:
            size = entry[0].nbytes
            if nbytes <= size <= 2 * nbytes and (best is None or size < best[0].nbytes) \
                    and self._is_free(entry):
                best = entry
        return best

    @staticmethod
    def _is_free(entry):
        # the references: the entry's list, and getrefcount's own argument
        return sys.getrefcount(entry[0]) == 2

    def _free_idle(self):
        self._blocks = [e for e in self._blocks
                        if not (self._is_free(e) and self._requests - e[1] > self.idle_limit)]

    def nbytes(self):
        return sum(e[0].nbytes for e in self._blocks)

    def clear(self):
        """Forget every array (those still in use stay valid; their memory is freed with them)."""
        self._blocks = []


WORKSPACE = Workspace()
POOL = ArrayPool()
