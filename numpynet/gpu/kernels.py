"""The hot loops on an NVIDIA GPU: Numba-CUDA kernels that take and return CuPy arrays.

Each function here takes the arguments of its NumPy reference twin (kernels/im2col.py and the
layers, whose docstrings give the formulas) and computes the same thing; it is found by its
name (numpynet/kernels/dispatch.py) and runs for CuPy arrays:

    im2col(x, kh, kw, stride, pad)              x (N, C, H, W) -> cols (C*kh*kw, N*Ho*Wo)
    col2im(cols, x_shape, kh, kw, stride, pad)  the adjoint: sums every column entry back
    maxpool_forward(x, k, stride)               -> y, arg (int32 window offset i*k + j)
    maxpool_backward(dout, arg, x_shape, k, stride)
    lrn_forward(a, size, alpha, beta, k)        -> b
    lrn_backward(dout, a, size, alpha, beta, k) -> dL/da (b and d recomputed from a)

They accept the CPU engine's `out=` and `scratch=` and ignore them (they return new arrays,
from CuPy's memory pool). The kernels that have no GPU version here (the convolution's
products, ReLU, BatchNorm, the SGD update) run as the reference's array code on CuPy: on a
GPU the convolution is the reference's one im2col and one matrix product per group, whole
batch at once (cuBLAS), which the card's memory holds.

Thread mapping: every OUTPUT element is computed by exactly one thread, so no two threads write
the same place: no atomics, and the result does not depend on scheduling (deterministic, run
after run).

    im2col            one thread per entry of cols: copy one input pixel, or 0 in the padding
    col2im            one thread per input pixel: GATHER the entries of the windows covering it
                      (the scatter `x[...] += cols[...]` would need atomicAdd, whose order and
                      therefore whose float rounding changes from run to run)
    maxpool_forward   one thread per output: scan its k x k window, strict `>` (first max wins)
    maxpool_backward  one thread per input pixel: gather dL/dy from the windows that chose it
    lrn_*             one thread per element: its clipped window of `size` channels

The gathers visit the windows covering a pixel in the order the reference adds them (window
offset (i, j) ascending, i.e. window index descending), so col2im and maxpool_backward agree with
the NumPy reference bit for bit, not just to rounding; im2col and max-pooling forward only copy,
so they are exact too. LRN agrees to rounding (the GPU fuses multiply-adds and has its own pow).
Sums are carried in the array's dtype (the `zero` argument): a literal 0.0 would make Numba add
float32 data in float64, which costs up to 64x on GPUs with few float64 units.

Every kernel is a grid-stride loop (`for idx in range(cuda.grid(1), n, cuda.gridsize(1))`), so
any grid size is correct: `launch_config` caps the grid at MAX_BLOCKS, and the simulator tests
use a small grid on purpose so that each thread handles several elements.

Why Numba-CUDA for every kernel, not CuPy's RawKernel / ElementwiseKernel: the kernels are
Python, readable next to their Numba CPU twins, and Numba's CUDA simulator
(NUMBA_ENABLE_CUDASIM=1) runs them on a CPU with NumPy arrays, so CPU-only CI tests the very
code that runs on the GPU (tests/test_gpu_sim.py). A CuPy kernel is a string of CUDA C that
nothing can run without a GPU. Numba accepts CuPy arrays through `__cuda_array_interface__`
without copying; the outputs are allocated with the input's array module (`cupy.empty` on the
GPU, `numpy.empty` under the simulator), which is the only difference between the two runs.

Ordering with CuPy. CuPy queues its work (cuBLAS products, elementwise ops) on its current
stream; the kernels here are launched on the same stream (`cuda.external_stream`) so they run
in order with it without any host synchronisation. For the same reason the arrays are handed to
Numba with `as_cuda_array(a, sync=False)`: by default Numba would synchronise on the stream
that CuPy exports with every array, stalling the CPU at every launch.

Importing this module needs Numba only: not CuPy, and not a GPU (kernels compile on first use).
"""

import math

import numpy as np
from numba import cuda

from .. import backend
from ..shapes import conv_output_hw

THREADS_PER_BLOCK = 256     # a multiple of the warp size (32)
MAX_BLOCKS = 4096           # enough to fill any current GPU; grid-stride loops do the rest


# --------------------------------------------------------------------------- launching

check_available = backend.check_numba_cuda   # a one-line error unless Numba can launch them


def launch_config(n):
    """(blocks, threads per block) for `n` elements, one thread per element up to MAX_BLOCKS."""
    threads = THREADS_PER_BLOCK
    blocks = min(MAX_BLOCKS, -(-n // threads))
    return blocks, threads


def current_stream(xp):
    """CuPy's current stream as a Numba stream (0, the default stream, for NumPy arrays)."""
    if xp is np:
        return 0
    return cuda.external_stream(xp.cuda.get_current_stream().ptr)


def _for_numba(a):
    """A GPU array as Numba sees it, without Numba's synchronisation; anything else as it is."""
    if hasattr(a, "__cuda_array_interface__"):
        return cuda.as_cuda_array(a, sync=False)
    return a


def launch(kernel, n, xp, *args):
    """Run `kernel(*args)` with enough threads for `n` output elements, on CuPy's stream."""
    if n == 0:
        return
    blocks, threads = launch_config(n)
    kernel[blocks, threads, current_stream(xp)](*[_for_numba(a) for a in args])


def _contiguous(*arrays):
    """(array module, the arrays C-contiguous): what every launch below needs."""
    xp = backend.get_array_module(arrays[0])
    return xp, [xp.ascontiguousarray(t) for t in arrays]


# --------------------------------------------------------------------------- device helpers

@cuda.jit(device=True)
def _nchw(idx, C, H, W):
    """Flat index -> (n, c, h, w) in a C-contiguous (N, C, H, W) array."""
    w = idx % W
    idx //= W
    h = idx % H
    idx //= H
    return idx // C, idx % C, h, w


@cuda.jit(device=True)
def _windows_covering(p, k, stride, count):
    """The windows o in 0..count-1 that cover position p (o*stride <= p < o*stride + k).

    Returns (first, last); first > last when none does (p past the last window).
    """
    first = (max(p - k + 1, 0) + stride - 1) // stride
    last = min(p // stride, count - 1)
    return first, last


# --------------------------------------------------------------------------- im2col / col2im

@cuda.jit
def _im2col_kernel(x, kh, kw, stride, pad, Ho, Wo, cols):
    N, C, H, W = x.shape
    P = cols.shape[1]                                   # N*Ho*Wo columns
    for idx in range(cuda.grid(1), cols.size, cuda.gridsize(1)):
        row = idx // P                                  # (c, i, j): which input, which offset
        col = idx % P                                   # (n, oh, ow): which output pixel
        c, i, j = row // (kh * kw), (row // kw) % kh, row % kw
        n, oh, ow = col // (Ho * Wo), (col // Wo) % Ho, col % Wo
        h = oh * stride + i - pad
        w = ow * stride + j - pad
        if 0 <= h < H and 0 <= w < W:
            cols[row, col] = x[n, c, h, w]
        else:
            cols[row, col] = 0


@cuda.jit
def _col2im_kernel(cols, kh, kw, stride, pad, Ho, Wo, zero, x):
    N, C, H, W = x.shape
    for idx in range(cuda.grid(1), x.size, cuda.gridsize(1)):
        n, c, h, w = _nchw(idx, C, H, W)
        oh_first, oh_last = _windows_covering(h + pad, kh, stride, Ho)
        ow_first, ow_last = _windows_covering(w + pad, kw, stride, Wo)
        total = zero
        for oh in range(oh_last, oh_first - 1, -1):     # offset i ascending, as the reference
            i = h + pad - oh * stride
            for ow in range(ow_last, ow_first - 1, -1):
                j = w + pad - ow * stride
                total += cols[(c * kh + i) * kw + j, (n * Ho + oh) * Wo + ow]
        x[n, c, h, w] = total


def im2col(x, kh, kw, stride=1, pad=0, out=None, scratch=None):
    """(N, C, H, W) -> cols (C*kh*kw, N*Ho*Wo); one thread per entry of cols."""
    xp, (x,) = _contiguous(x)
    N, C, H, W = x.shape
    Ho, Wo = conv_output_hw(H, W, kh, kw, stride, pad)
    cols = xp.empty((C * kh * kw, N * Ho * Wo), dtype=x.dtype)
    launch(_im2col_kernel, cols.size, xp, x, kh, kw, stride, pad, Ho, Wo, cols)
    return cols


def col2im(cols, x_shape, kh, kw, stride=1, pad=0, out=None):
    """cols (C*kh*kw, N*Ho*Wo) -> (N, C, H, W), summing overlaps; one thread per input pixel."""
    xp, (cols,) = _contiguous(cols)
    N, C, H, W = x_shape
    Ho, Wo = conv_output_hw(H, W, kh, kw, stride, pad)
    x = xp.empty(tuple(x_shape), dtype=cols.dtype)
    launch(_col2im_kernel, x.size, xp, cols, kh, kw, stride, pad, Ho, Wo, cols.dtype.type(0), x)
    return x


# --------------------------------------------------------------------------- max-pooling

@cuda.jit
def _maxpool_forward_kernel(x, k, stride, y, arg):
    N, C, Ho, Wo = y.shape
    for idx in range(cuda.grid(1), y.size, cuda.gridsize(1)):
        n, c, oh, ow = _nchw(idx, C, Ho, Wo)
        h0 = oh * stride
        w0 = ow * stride
        best = x[n, c, h0, w0]
        best_at = 0
        for i in range(k):
            for j in range(k):
                v = x[n, c, h0 + i, w0 + j]
                if v > best:                            # strict: the first max wins ties
                    best = v
                    best_at = i * k + j
        y[n, c, oh, ow] = best
        arg[n, c, oh, ow] = best_at


@cuda.jit
def _maxpool_backward_kernel(dout, arg, k, stride, zero, dx):
    N, C, H, W = dx.shape
    Ho, Wo = dout.shape[2], dout.shape[3]
    for idx in range(cuda.grid(1), dx.size, cuda.gridsize(1)):
        n, c, h, w = _nchw(idx, C, H, W)
        oh_first, oh_last = _windows_covering(h, k, stride, Ho)
        ow_first, ow_last = _windows_covering(w, k, stride, Wo)
        total = zero
        for oh in range(oh_last, oh_first - 1, -1):     # offset i ascending, as the reference
            i = h - oh * stride
            for ow in range(ow_last, ow_first - 1, -1):
                if arg[n, c, oh, ow] == i * k + (w - ow * stride):   # this window chose (h, w)
                    total += dout[n, c, oh, ow]
        dx[n, c, h, w] = total


def maxpool_forward(x, k, stride, out=None):
    """(N, C, H, W) -> y (N, C, Ho, Wo), arg int32; one thread per output."""
    xp, (x,) = _contiguous(x)
    N, C, H, W = x.shape
    Ho, Wo = conv_output_hw(H, W, k, k, stride, 0)
    y = xp.empty((N, C, Ho, Wo), dtype=x.dtype)
    arg = xp.empty((N, C, Ho, Wo), dtype=np.int32)
    launch(_maxpool_forward_kernel, y.size, xp, x, k, stride, y, arg)
    return y, arg


def maxpool_backward(dout, arg, x_shape, k, stride, out=None):
    """dout (N, C, Ho, Wo) -> dx (N, C, H, W); one thread per input pixel, gathering."""
    xp, (dout, arg) = _contiguous(dout, arg)
    dx = xp.empty(tuple(x_shape), dtype=dout.dtype)
    launch(_maxpool_backward_kernel, dx.size, xp, dout, arg, k, stride, dout.dtype.type(0), dx)
    return dx


# --------------------------------------------------------------------------- LRN

@cuda.jit(device=True)
def _window_squares(a, n, c, h, w, size, zero):
    """sum of a[n, j, h, w]^2 over the channels j of c's window, clipped at 0 and C - 1."""
    s = zero
    for j in range(max(0, c - size // 2), min(a.shape[1] - 1, c + size // 2) + 1):
        v = a[n, j, h, w]
        s += v * v
    return s


@cuda.jit
def _lrn_forward_kernel(a, size, alpha, beta, k, zero, b, d):
    N, C, H, W = a.shape
    for idx in range(cuda.grid(1), a.size, cuda.gridsize(1)):
        n, c, h, w = _nchw(idx, C, H, W)
        dd = k + alpha * _window_squares(a, n, c, h, w, size, zero)
        d[n, c, h, w] = dd
        b[n, c, h, w] = a[n, c, h, w] * math.pow(dd, -beta)


@cuda.jit
def _lrn_backward_kernel(dout, a, b, d, size, beta, two_alpha_beta, zero, da):
    N, C, H, W = a.shape
    half = size // 2
    for idx in range(cuda.grid(1), a.size, cuda.gridsize(1)):
        n, c, h, w = _nchw(idx, C, H, W)
        s = zero
        for i in range(max(0, c - half), min(C - 1, c + half) + 1):
            s += dout[n, i, h, w] * b[n, i, h, w] / d[n, i, h, w]
        da[n, c, h, w] = (dout[n, c, h, w] * math.pow(d[n, c, h, w], -beta)
                          - two_alpha_beta * a[n, c, h, w] * s)


def _lrn_forward_and_denominators(a, size, alpha, beta, k):
    """a (N, C, H, W) -> (b, d); one thread per element."""
    xp, (a,) = _contiguous(a)
    b, d = xp.empty_like(a), xp.empty_like(a)
    t = a.dtype.type                                    # constants in the data's precision
    launch(_lrn_forward_kernel, a.size, xp, a, size, t(alpha), t(beta), t(k), t(0), b, d)
    return b, d


def lrn_forward(a, size, alpha, beta, k):
    """a -> b (d dropped)."""
    return _lrn_forward_and_denominators(a, size, alpha, beta, k)[0]


def lrn_backward(dout, a, size, alpha, beta, k):
    """dL/db -> dL/da from a alone: b and d recomputed, then one thread per element."""
    b, d = _lrn_forward_and_denominators(a, size, alpha, beta, k)
    xp, arrays = _contiguous(dout, a, b, d)
    da = xp.empty_like(arrays[1])
    t = da.dtype.type
    launch(_lrn_backward_kernel, da.size, xp, *arrays, size, t(beta), t(2 * alpha * beta),
           t(0), da)
    return da
