"""Sizes, and nothing else: how large a convolution's or a pooling's output is, and how large
the scratch arrays of the im2col kernels must be.

A leaf module: it imports nothing of numpynet, so that every other module (the CPU kernels, the
GPU kernels, the layers, the cost tables) may import it without a cycle.

    >>> conv_output_size(227, 11, 4, 0)        # conv1: (227 - 11) // 4 + 1
    55
"""


def conv_output_size(size, kernel, stride, pad):
    """Output length along one axis of a convolution or pooling window:
    (size + 2*pad - kernel) // stride + 1."""
    return (size + 2 * pad - kernel) // stride + 1


def conv_output_hw(H, W, kh, kw, stride, pad):
    """(Ho, Wo) of a convolution or pooling over an H x W input."""
    return conv_output_size(H, kh, stride, pad), conv_output_size(W, kw, stride, pad)


def wide_width(W, kw, pad):
    """Columns per output row in the wide im2col layout (kernels/im2col.py): the padded input
    width Wp = W + 2*pad. Wo = Wp - kw + 1 of them are real outputs; the kw - 1 others are
    wrap-around columns, computed and dropped."""
    return W + 2 * pad


def wide_length(H, W, kh, kw, pad):
    """Columns per image in the wide layout: Ho * Wp, with Ho = H + 2*pad - kh + 1."""
    return (H + 2 * pad - kh + 1) * wide_width(W, kw, pad)


def phase_columns(W, stride, pad):
    """ceil(Wp / stride): columns in each of the `stride` phases of a padded row."""
    return -(-(W + 2 * pad) // stride)


def phase_planes_shape(x_shape, stride, pad):
    """(N, C, Hp, stride, ceil(Wp/stride)): the padded input with every row split into its
    stride phases, the scratch array of the standard im2col kernel."""
    N, C, H, W = x_shape
    return (N, C, H + 2 * pad, stride, phase_columns(W, stride, pad))


def padded_planes_shape(x_shape, pad):
    """(N, C, Hp*Wp): the padded input, each plane flattened; the wide kernels' scratch."""
    N, C, H, W = x_shape
    return (N, C, (H + 2 * pad) * (W + 2 * pad))


def size_of(shape):
    """Number of elements of an array of `shape` (a Python int, never overflowing)."""
    n = 1
    for d in shape:
        n *= int(d)
    return n
