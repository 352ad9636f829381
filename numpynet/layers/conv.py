"""2-d convolution by im2col, with the paper's channel groups.

Two code paths compute the same numbers (tests/test_fast_paths.py checks they agree):

- the reference path (`NUMPYNET_KERNELS=reference`, or `kernels.dispatch.use_kernels`): the
  equations of the Conv2D docstring, line for line, on the whole batch at once;
- the fast path (the default): the same products, with the batch cut into chunks of images
  whose columns come from a shared workspace (optionally in the wide im2col layout for stride
  1, `wide_columns`), and the product moved to and from NCHW by compiled loops
  (`_forward_in_chunks`, `_backward_in_chunks`);
  3x3 stride-1 layers instead by Winograd's F(2x2, 3x3), the same convolution with 2.25 times
  fewer multiplies (kernels/winograd.py; `_forward_winograd`, `_backward_winograd`).
  Why each of these pays, with measurements: docs/PERFORMANCE.md.
"""

import numpy as np

from .. import backend
from ..kernels import dispatch, winograd
from ..kernels.im2col import col2im, col2im_wide, im2col, im2col_wide, wide_is_fast_for
from ..kernels.product_layout import columns_to_images, images_to_columns
from ..memory import POOL, WORKSPACE
from ..shapes import conv_output_hw, padded_planes_shape, phase_planes_shape, size_of, wide_width
from .base import Layer


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

    Backward recomputes `cols` from x instead of keeping it from forward: the layer keeps only
    its input, which the previous layer produced anyway (the columns of a whole batch are large:
    conv1's are 363 x 128*55*55 floats, 560 MB, at batch 128).

    The fast path runs the batch through in chunks of images (`chunk_bytes` of columns each).
    With `wide_columns = True`, stride-1 convolutions use the wide layout of kernels/im2col.py
    (Wq = W + 2*pad columns per output row instead of Wo, the extra ones dropped): off by
    default, as the step measured 3-5% faster without it (docs/PERFORMANCE.md). 3x3 stride-1
    ones (AlexNet's conv3-5) use Winograd's F(2x2, 3x3) instead of im2col (`winograd`;
    kernels/winograd.py). None of these changes the result beyond rounding.

    Parameters (PyTorch / Caffe layout): W (F, C/G, kh, kw), b (F,).
    Init: W ~ N(0, weight_std^2), default He's std = sqrt(2 / fan_in); b = `bias` (default 0).
    `backward(dout, input_grad=False)` skips dL/dx, which the first layer never needs.
    """

    chunk_bytes = 64 * 2**20       # im2col columns per chunk (at least one image's worth)
    wide_columns = False           # stride 1: im2col in the wide layout (kernels/im2col.py)
    winograd = True                # 3x3, stride 1: Winograd's F(2x2, 3x3) (kernels/winograd.py)
    workspace = WORKSPACE          # scratch matrices, shared by every layer (numpynet/memory.py)
    can_skip_input_grad = True     # backward(dout, input_grad=False) is supported

    x = None                       # the input, kept by forward for backward
    U = None                       # Winograd: the transformed filters, kept likewise

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
        return (N, self.out_channels, *conv_output_hw(H, W, kh, kw, self.stride, self.padding))

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

    # ----------------------------------------------------------------- forward, backward

    def forward(self, x, train=True):
        self._check_input(x)
        self.U = None
        if dispatch.kernels() == "reference":
            y = self._forward_reference(x)
        elif self._uses_winograd(x):
            y = self._forward_winograd(x, train)
        else:
            y = self._forward_in_chunks(x)
        self.x = x if train else None          # (not cols: backward recomputes them)
        return y

    def backward(self, dout, input_grad=True):
        """dL/dy -> dL/dx, filling grads["W"], grads["b"]; `input_grad=False` skips dL/dx
        (returns None), which a network's first layer never needs."""
        if self.x is None:
            raise self._error("backward needs a forward(x, train=True) first")
        if dispatch.kernels() == "reference":
            dx = self._backward_reference(dout, input_grad)
        elif self._uses_winograd(self.x):
            dx = self._backward_winograd(dout, input_grad)
        else:
            dx = self._backward_in_chunks(dout, input_grad)
        self.x = None
        return dx

    # ----------------------------------------------------------------- the reference path

    def _split(self, a):
        """The rows of `a` in G equal blocks, one per group (W, Y and D by filters, cols by
        channels)."""
        n = a.shape[0] // self.groups
        return [a[g * n:(g + 1) * n] for g in range(self.groups)]

    def _forward_reference(self, x):
        xp = backend.get_array_module(x)
        (kh, kw), s, p = self.kernel_size, self.stride, self.padding
        N, F, Ho, Wo = self.output_shape(x.shape)
        W, b = self.params["W"].reshape(F, -1), self.params["b"]          # W (F, C/G*kh*kw)
        cols = im2col(x, kh, kw, s, p)                                     # (C*kh*kw, N*Ho*Wo)
        Y = xp.concatenate([W_g @ cols_g for W_g, cols_g in zip(self._split(W),
                                                                self._split(cols))])
        Y += b[:, None]                                                    # (F, N*Ho*Wo)
        return xp.ascontiguousarray(Y.reshape(F, N, Ho, Wo).transpose(1, 0, 2, 3))

    def _backward_reference(self, dout, input_grad):
        xp = backend.get_array_module(dout)
        (kh, kw), s, p = self.kernel_size, self.stride, self.padding
        x, F = self.x, self.out_channels
        W = self.params["W"].reshape(F, -1)
        cols = im2col(x, kh, kw, s, p)                                     # recomputed
        D = dout.transpose(1, 0, 2, 3).reshape(F, -1)                      # (F, N*Ho*Wo)
        dW = xp.concatenate([D_g @ cols_g.T for D_g, cols_g in zip(self._split(D),
                                                                   self._split(cols))])
        self.grads["W"], self.grads["b"] = dW.reshape(self.params["W"].shape), D.sum(axis=1)
        if not input_grad:
            return None
        dcols = xp.concatenate([W_g.T @ D_g for W_g, D_g in zip(self._split(W), self._split(D))])
        return col2im(dcols, x.shape, kh, kw, s, p)

    # ----------------------------------------------------------------- the fast path

    def _forward_in_chunks(self, x):
        """The reference's products, chunk by chunk, into reused memory."""
        xp = backend.get_array_module(x)
        W, b = self.params["W"], self.params["b"]
        N, F, Ho, Wo = self.output_shape(x.shape)
        y = POOL.empty((N, F, Ho, Wo), xp.result_type(x.dtype, W.dtype), xp)
        wide = self._uses_wide_columns(x)
        Wq = self._row_width(x.shape, wide)
        Wmat = W.reshape(F, -1)                                # (F, C/G*kh*kw)
        for lo, hi in self._chunks(x.shape, x.dtype.itemsize, wide):
            cols = self._columns(x[lo:hi], xp, wide)           # (C*kh*kw, n*Ho*Wq)
            out = self.workspace.get("out", (F, cols.shape[1]), y.dtype, xp)
            for W_g, cols_g, out_g in zip(self._split(Wmat), self._split(cols),
                                          self._split(out)):
                xp.matmul(W_g, cols_g, out=out_g)
            # (F, n, Ho, Wq) -> y[lo:hi] (n, F, Ho, Wo): drop wrap-around columns, add the bias
            columns_to_images(out.reshape(F, hi - lo, Ho, Wq), b, y[lo:hi])
        return y

    def _backward_in_chunks(self, dout, input_grad):
        """The reference's products, chunk by chunk; dW is summed over the chunks."""
        xp = backend.get_array_module(dout)
        x, W = self.x, self.params["W"]
        F, Ho = self.out_channels, dout.shape[2]
        wide = self._uses_wide_columns(x)
        Wq = self._row_width(x.shape, wide)
        Wmat = W.reshape(F, -1)
        dW = self._grad_array("W", W.shape, xp.result_type(dout.dtype, x.dtype), xp)
        dW[...] = 0
        db = xp.zeros(F, dtype=dout.dtype)
        dx = POOL.empty(x.shape, xp.result_type(dout.dtype, W.dtype), xp) if input_grad else None
        for lo, hi in self._chunks(x.shape, x.dtype.itemsize, wide):
            cols = self._columns(x[lo:hi], xp, wide)           # recomputed, (K, n*Ho*Wq)
            # dL/dY laid out like the product (F, n*Ho*Wq), zero in wrap-around columns
            D = self.workspace.get("D", (F, cols.shape[1]), dout.dtype, xp)
            images_to_columns(dout[lo:hi], D.reshape(F, hi - lo, Ho, Wq))
            db += D.sum(axis=1)
            self._add_weight_gradient(D, cols, dW.reshape(F, -1), xp)
            if input_grad:
                dcols = self.workspace.get("dcols", cols.shape, dx.dtype, xp)
                for W_g, D_g, dcols_g in zip(self._split(Wmat), self._split(D),
                                             self._split(dcols)):
                    xp.matmul(W_g.T, D_g, out=dcols_g)
                self._add_columns_to_image(dcols, dx[lo:hi], xp, wide)
        self.grads["W"], self.grads["b"] = dW, db
        return dx

    def _add_weight_gradient(self, D, cols, dWmat, xp):
        """dWmat += D_g @ cols_g.T per group, through a workspace buffer (no temporary)."""
        for D_g, cols_g, dW_g in zip(self._split(D), self._split(cols), self._split(dWmat)):
            dW_g += xp.matmul(D_g, cols_g.T, out=self.workspace.get("dW", dW_g.shape,
                                                                   dW_g.dtype, xp))

    def _uses_wide_columns(self, x):
        """Stride 1, and compiled wide kernels for arrays like x (not on a GPU)."""
        return self.wide_columns and self.stride == 1 and wide_is_fast_for(x)

    def _row_width(self, x_shape, wide):
        """Columns per output row: Wo, or Wp = W + 2*pad in the wide layout."""
        _, _, _, Wo = self.output_shape(x_shape)
        return wide_width(x_shape[3], self.kernel_size[1], self.padding) if wide else Wo

    def _chunks(self, x_shape, itemsize, wide):
        """Ranges [lo, hi) of images, each small enough that its im2col columns fit in
        `chunk_bytes` (at least one image per chunk)."""
        N, C, _, _ = x_shape
        _, _, Ho, _ = self.output_shape(x_shape)
        kh, kw = self.kernel_size
        return self._image_ranges(N, C * kh * kw * Ho * self._row_width(x_shape, wide) * itemsize)

    def _image_ranges(self, N, bytes_per_image):
        """[lo, hi) ranges of the N images, `chunk_bytes` // bytes_per_image (at least 1) each."""
        step = max(1, min(N, self.chunk_bytes // bytes_per_image))
        return [(lo, min(N, lo + step)) for lo in range(0, N, step)]

    def _planes(self, x_shape, wide, dtype, xp):
        """Scratch for the im2col kernels' padded input, from the workspace (None on a GPU,
        whose kernels do not use it)."""
        if xp is not np:
            return None
        s, p = self.stride, self.padding
        shape = padded_planes_shape(x_shape, p) if wide else phase_planes_shape(x_shape, s, p)
        return self.workspace.get("planes", (size_of(shape),), dtype, xp)

    def _columns(self, x, xp, wide):
        """im2col of the images x (a chunk), into the shared workspace: (C*kh*kw, n*Ho*Wq)."""
        (kh, kw), s, p = self.kernel_size, self.stride, self.padding
        N, C, _, _ = x.shape
        _, _, Ho, _ = self.output_shape(x.shape)
        shape = (C * kh * kw, N * Ho * self._row_width(x.shape, wide))
        cols = self.workspace.get("cols", shape, x.dtype, xp)
        planes = self._planes(x.shape, wide, x.dtype, xp)
        if wide:
            return im2col_wide(x, kh, kw, p, out=cols, scratch=planes)
        return im2col(x, kh, kw, s, p, out=cols, scratch=planes)

    def _add_columns_to_image(self, dcols, dx, xp, wide):
        """dx (a chunk of dL/dx) = col2im(dcols), the adjoint of `_columns`."""
        (kh, kw), s, p = self.kernel_size, self.stride, self.padding
        if wide:
            planes = self._planes(dx.shape, wide, dcols.dtype, xp)
            result = col2im_wide(dcols, dx.shape, kh, kw, p, out=dx, scratch=planes)
        else:
            result = col2im(dcols, dx.shape, kh, kw, s, p, out=dx)
        if result is not dx:                                   # (GPU kernels return a new array)
            dx[...] = result

    # ----------------------------------------------------------------- the fast path: Winograd

    def _uses_winograd(self, x):
        """3x3 filters, stride 1, and compiled transforms for arrays like x (not on a GPU)."""
        return (self.winograd and self.kernel_size == (3, 3) and self.stride == 1
                and winograd.is_fast_for(x))

    def _winograd_chunks(self, x_shape, itemsize):
        """Image ranges whose V (16, C, T) and M (16, F, T) each fit in `chunk_bytes`."""
        N, C, H, W = x_shape
        th, tw = winograd.tiles(*winograd.output_hw(H, W, self.padding))
        per_image = 16 * max(C, self.out_channels) * th * tw * itemsize
        return self._image_ranges(N, per_image)

    def _tile_matrices(self, name, rows, x_chunk, dtype):
        """A (16, rows, T) workspace array for the T tiles of the images in x_chunk."""
        N, _, H, W = x_chunk.shape
        th, tw = winograd.tiles(*winograd.output_hw(H, W, self.padding))
        return self.workspace.get(name, (16, rows, N * th * tw), dtype, np)

    def _forward_winograd(self, x, train):
        """y by Winograd's F(2x2, 3x3): per chunk V = B^T d B, M[xi] = U[xi] @ V[xi] per group,
        y = A^T M A + b (kernels/winograd.py)."""
        W, b = self.params["W"], self.params["b"]
        N, F, Ho, Wo = self.output_shape(x.shape)
        y = POOL.empty((N, F, Ho, Wo), np.result_type(x.dtype, W.dtype), np)
        U = winograd.filter_transform(W)                        # (16, F, C/G)
        self.U = U if train else None                           # kept for backward
        for lo, hi in self._winograd_chunks(x.shape, x.dtype.itemsize):
            V = winograd.input_transform(x[lo:hi], self.padding,
                                         out=self._tile_matrices("cols", self.in_channels,
                                                                 x[lo:hi], x.dtype))
            M = self._tile_matrices("out", F, x[lo:hi], y.dtype)  # (16, F, T)
            for xi in range(16):
                for U_g, V_g, M_g in zip(self._split(U[xi]), self._split(V[xi]),
                                         self._split(M[xi])):
                    np.matmul(U_g, V_g, out=M_g)
            winograd.output_transform(M, b, y[lo:hi])
        return y

    def _backward_winograd(self, dout, input_grad):
        """Per chunk: V again, dM = A dY A^T, dU[xi] += dM[xi] @ V[xi]^T, and for dL/dx
        dV[xi] = U[xi]^T @ dM[xi] (into V's memory), dx = B dV B^T summed over the tiles;
        finally dW = G^T dU G."""
        x, W = self.x, self.params["W"]
        F, pad = self.out_channels, self.padding
        dtype = np.result_type(dout.dtype, x.dtype)
        U = self.U if self.U is not None else winograd.filter_transform(W)
        dU = np.zeros(U.shape, dtype=dtype)
        dx = POOL.empty(x.shape, np.result_type(dout.dtype, W.dtype), np) if input_grad else None
        for lo, hi in self._winograd_chunks(x.shape, x.dtype.itemsize):
            V = winograd.input_transform(x[lo:hi], pad, out=self._tile_matrices(
                "cols", self.in_channels, x[lo:hi], x.dtype))   # recomputed, (16, C, T)
            dM = winograd.output_grad_transform(dout[lo:hi], out=self._tile_matrices(
                "D", F, x[lo:hi], dout.dtype))                  # (16, F, T)
            for xi in range(16):
                self._add_weight_gradient(dM[xi], V[xi], dU[xi], np)
            if input_grad:
                for xi in range(16):
                    for U_g, dM_g, dV_g in zip(self._split(U[xi]), self._split(dM[xi]),
                                               self._split(V[xi])):
                        np.matmul(U_g.T, dM_g, out=dV_g)
                dx_chunk = dx[lo:hi]
                result = winograd.input_grad_transform(V, dx_chunk.shape, pad, out=dx_chunk)
                if result is not dx_chunk:                     # (it could not write there)
                    dx_chunk[...] = result
        dW = self._grad_array("W", W.shape, dtype, np)
        dW[...] = winograd.filter_grad_transform(dU)
        self.grads["W"], self.grads["b"] = dW, dout.sum(axis=(0, 2, 3))
        self.U = None
        return dx
