"""2-d convolution by im2col, with the paper's channel groups.

How it is made fast (and kept small) on a CPU:

- The work is the matrix products, handed to BLAS in float32 with `out=` so that no temporary
  is made; everything else (im2col, the transposes) only moves data and should stay a small
  fraction of the time.
- The batch goes through in chunks of images (`chunk_bytes` of im2col columns each): the
  columns of the whole batch would be big (conv1: 363 x 128*55*55 floats = 560 MB at batch
  128). A chunk must still be large: every product is a parallel region in which all BLAS
  threads meet, and on a busy machine thousands of small ones (one image per chunk) ran conv1
  several times slower on 2 threads than a few large ones. 64 MB (14 images of conv1, 35 of
  conv3) was the robust choice; on an idle machine 8-16 MB chunks, which stay in the cache,
  were about 5% faster.
- Stride-1 convolutions use the wide im2col layout (kernels/im2col.py): their im2col and
  col2im become contiguous copies, for 15% more multiply-adds.
- The product comes out as (F, n, Ho, Wq) and NCHW wants (n, F, Ho, Wo): `columns_to_images` and
  `images_to_columns` move it across in Numba loops (NumPy's strided copy of such short rows
  took about 9% of a training step).
- Backward recomputes the columns of each chunk instead of keeping them from forward: the layer
  keeps only its input x, which the previous layer produced anyway. Recomputing costs one more
  im2col per chunk; keeping them would cost the memory of the whole batch's columns per layer.
- The chunks' scratch matrices come from a workspace shared by all layers, and y and dL/dx
  from a pool that reuses arrays nobody holds any more (memory.py): allocated once, not once
  per chunk and step.
- `backward(dout, input_grad=False)` skips dL/dx: nothing needs it for the first layer, and
  there it is a third of the layer's work (Sequential.backward passes it on).
"""

import numpy as np

from .. import backend
from ..kernels.im2col import (col2im, col2im_wide, columns_to_images, conv_output_size,
                              has_wide_kernels, im2col, im2col_wide, images_to_columns, wide_width)
from .base import Layer
from .memory import POOL, WORKSPACE


class Conv2D(Layer):
    """y[n, f] = b[f] + sum_{c, i, j} W[f, c, i, j] * xpad[n, g*C/G + c, oh*s + i, ow*s + j]

    where g = f // (F/G) is the filter's group: with `groups=G` the channels are split in G
    equal blocks and filter block g only sees channel block g. AlexNet's `groups=2` is the
    paper's two-GPU split (conv2, conv4, conv5 each see only the maps of "their" GPU).

    Computation, per group g (rows of `cols` and `W` restricted to that group):
        cols  = im2col(x)                     (C*kh*kw, N*Ho*Wo)
        Y_g   = W_g @ cols_g + b_g            (F/G, N*Ho*Wo)  -> reshaped to (N, F, Ho, Wo)
    Backward, with D_g = dL/dY_g laid out as (F/G, N*Ho*Wo):
        dW_g  = D_g @ cols_g.T                dL/db = sum of D over all positions
        dcols_g = W_g.T @ D_g                 dx = col2im(dcols)   (sums overlapping windows)

    The batch is processed in chunks of images, each with its own `cols`, and stride-1
    convolutions use the wide layout of kernels/im2col.py (Wq = W + 2*pad columns per output
    row instead of Wo, the extra ones dropped); see the module docstring. Neither changes the
    result.

    Parameters (PyTorch / Caffe layout): W (F, C/G, kh, kw), b (F,).
    Init: W ~ N(0, weight_std^2), default He's std = sqrt(2 / fan_in); b = `bias` (default 0).
    """

    chunk_bytes = 64 * 2**20       # im2col columns per chunk (at least one image's worth)
    wide_columns = True            # stride 1: im2col in the wide layout (kernels/im2col.py)
    workspace = WORKSPACE          # scratch matrices, shared by every layer (memory.py)
    can_skip_input_grad = True     # backward(dout, input_grad=False) is supported

    x = None                       # the input, kept by forward for backward

    def __init__(self, in_channels, out_channels, kernel_size, stride=1, padding=0, groups=1,
                 name=None, rng=None, weight_std=None, bias=0.0):
        super().__init__(name)
        if groups < 1 or in_channels % groups or out_channels % groups:
            raise self._error(f"in_channels={in_channels} and out_channels={out_channels} must "
                              f"both be divisible by groups={groups}")
        kh, kw = (kernel_size, kernel_size) if np.isscalar(kernel_size) else kernel_size
        self.in_channels, self.out_channels, self.groups = in_channels, out_channels, groups
        self.kernel_size, self.stride, self.padding = (kh, kw), stride, padding
        rng = np.random.default_rng(rng)
        std = np.sqrt(2 / (in_channels // groups * kh * kw)) if weight_std is None else weight_std
        self.params["W"] = rng.standard_normal((out_channels, in_channels // groups, kh, kw),
                                               dtype=np.float32) * np.float32(std)
        self.params["b"] = np.full(out_channels, bias, dtype=np.float32)

    def describe(self):
        kh, kw = self.kernel_size
        s = f"{self.in_channels}->{self.out_channels}, {kh}x{kw}, stride {self.stride}"
        if self.padding:
            s += f", pad {self.padding}"
        return s + (f", groups {self.groups}" if self.groups > 1 else "")

    def output_shape(self, input_shape):
        N, C, H, W = input_shape
        kh, kw = self.kernel_size
        return (N, self.out_channels, conv_output_size(H, kh, self.stride, self.padding),
                conv_output_size(W, kw, self.stride, self.padding))

    def _check_input(self, x):
        self._check_rank(x, 4, "(N, C, H, W)")
        N, C, H, W = x.shape
        kh, kw = self.kernel_size
        p = self.padding
        if C != self.in_channels:
            raise self._error(f"expected {self.in_channels} input channels, got input of shape "
                              f"{x.shape}")
        if kh > H + 2 * p or kw > W + 2 * p:
            raise self._error(f"kernel {kh}x{kw} is larger than the padded input "
                              f"{H + 2 * p}x{W + 2 * p} (input shape {x.shape}, padding {p})")

    # ----------------------------------------------------------------- columns, chunks

    def _row_width(self, x_shape, wide):
        """Columns per output row: Wo, or Wp = W + 2*pad in the wide layout."""
        _, _, _, Wo = self.output_shape(x_shape)
        return wide_width(x_shape[3], self.kernel_size[1], self.padding) if wide else Wo

    def _uses_wide_columns(self, x):
        return self.wide_columns and self.stride == 1 and has_wide_kernels(x)

    def _chunks(self, x_shape, itemsize, wide):
        """Ranges [lo, hi) of images, each small enough that its im2col columns fit in
        `chunk_bytes` (at least one image per chunk)."""
        N, C, _, _ = x_shape
        _, _, Ho, _ = self.output_shape(x_shape)
        kh, kw = self.kernel_size
        per_image = C * kh * kw * Ho * self._row_width(x_shape, wide) * itemsize
        step = max(1, min(N, self.chunk_bytes // per_image))
        return [(lo, min(N, lo + step)) for lo in range(0, N, step)]

    def _columns(self, x, xp, wide):
        """im2col of the images x (a chunk), into the shared workspace: (C*kh*kw, n*Ho*Wq)."""
        (kh, kw), s, p = self.kernel_size, self.stride, self.padding
        N, C, H, W = x.shape
        _, _, Ho, _ = self.output_shape(x.shape)
        shape = (C * kh * kw, N * Ho * self._row_width(x.shape, wide))
        cols = self.workspace.get("cols", shape, x.dtype, xp)
        # scratch for the padded input (split in its stride phases by the standard kernel);
        # only the Numba kernels use it
        planes = (self.workspace.get("planes", (N * C * (H + 2 * p) * (W + 2 * p + s - 1),),
                                     x.dtype, xp) if xp is np else None)
        if wide:
            return im2col_wide(x, kh, kw, p, out=cols, scratch=planes)
        return im2col(x, kh, kw, s, p, out=cols, scratch=planes)

    def _add_columns_to_image(self, dcols, dx, xp, wide):
        """dx (a chunk of dL/dx) = col2im(dcols), the adjoint of `_columns`."""
        (kh, kw), s, p = self.kernel_size, self.stride, self.padding
        if wide:
            N, C, H, W = dx.shape
            planes = (self.workspace.get("planes", (N * C * (H + 2 * p) * (W + 2 * p),),
                                         dcols.dtype, xp) if xp is np else None)
            result = col2im_wide(dcols, dx.shape, kh, kw, p, out=dx, scratch=planes)
        else:
            result = col2im(dcols, dx.shape, kh, kw, s, p, out=dx)
        if result is not dx:                                   # (GPU kernels return a new array)
            dx[...] = result

    def _group_slices(self, K):
        """Per group: (rows of W / of the output, rows of cols) as slices."""
        Fg, Kg = self.out_channels // self.groups, K // self.groups
        return [(slice(g * Fg, (g + 1) * Fg), slice(g * Kg, (g + 1) * Kg))
                for g in range(self.groups)]

    # ----------------------------------------------------------------- forward, backward

    def forward(self, x, train=True):
        self._check_input(x)
        xp = backend.get_array_module(x)
        W, b = self.params["W"], self.params["b"]
        F = self.out_channels
        y = POOL.empty(self.output_shape(x.shape), xp.result_type(x.dtype, W.dtype), xp)
        Ho = y.shape[2]
        wide = self._uses_wide_columns(x)
        Wq = self._row_width(x.shape, wide)
        Wmat = W.reshape(F, -1)                                # (F, C/G*kh*kw)
        for lo, hi in self._chunks(x.shape, x.dtype.itemsize, wide):
            cols = self._columns(x[lo:hi], xp, wide)           # (C*kh*kw, n*Ho*Wq)
            out = self.workspace.get("out", (F, cols.shape[1]), y.dtype, xp)
            for rows, krows in self._group_slices(cols.shape[0]):
                xp.matmul(Wmat[rows], cols[krows], out=out[rows])
            # (F, n, Ho, Wq) -> y[lo:hi] (n, F, Ho, Wo): drop wrap-around columns, add the bias
            columns_to_images(out.reshape(F, hi - lo, Ho, Wq), b, y[lo:hi])
        self.x = x if train else None          # (not cols: backward recomputes them)
        return y

    def backward(self, dout, input_grad=True):
        """dL/dy -> dL/dx, filling grads["W"], grads["b"]; `input_grad=False` skips dL/dx
        (returns None), which a network's first layer never needs."""
        if self.x is None:
            raise self._error("backward needs a forward(x, train=True) first")
        xp = backend.get_array_module(dout)
        x, W = self.x, self.params["W"]
        F, Ho = self.out_channels, dout.shape[2]
        wide = self._uses_wide_columns(x)
        Wq = self._row_width(x.shape, wide)
        Wmat = W.reshape(F, -1)
        dW = self._grad_array("W", W.shape, xp.result_type(dout.dtype, x.dtype), xp)
        dW[...] = 0
        dWmat = dW.reshape(F, -1)
        db = xp.zeros(F, dtype=dout.dtype)
        dx = POOL.empty(x.shape, xp.result_type(dout.dtype, W.dtype), xp) if input_grad else None
        for lo, hi in self._chunks(x.shape, x.dtype.itemsize, wide):
            cols = self._columns(x[lo:hi], xp, wide)           # recomputed, (K, n*Ho*Wq)
            # dL/dY laid out like the product (F, n*Ho*Wq), zero in wrap-around columns
            D = self.workspace.get("D", (F, cols.shape[1]), dout.dtype, xp)
            images_to_columns(dout[lo:hi], D.reshape(F, hi - lo, Ho, Wq))
            db += D.sum(axis=1)
            if input_grad:
                dcols = self.workspace.get("dcols", cols.shape, dx.dtype, xp)
            for rows, krows in self._group_slices(cols.shape[0]):
                part = self.workspace.get("dW", dWmat[rows].shape, dW.dtype, xp)
                dWmat[rows] += xp.matmul(D[rows], cols[krows].T, out=part)
                if input_grad:
                    xp.matmul(Wmat[rows].T, D[rows], out=dcols[krows])
            if input_grad:
                self._add_columns_to_image(dcols, dx[lo:hi], xp, wide)
        self.grads["W"], self.grads["b"] = dW, db
        self.x = None
        return dx
