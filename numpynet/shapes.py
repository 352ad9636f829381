"""Sizes, and nothing else: how large a convolution's or a pooling's output is, and how large
the scratch arrays of the compiled im2col kernel must be.

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


def phase_columns(W, stride, pad):
    """ceil(Wp / stride): columns in each of the `stride` phases of a padded row."""
    return -(-(W + 2 * pad) // stride)


def phase_planes_shape(x_shape, stride, pad):
    """(N, C, Hp, stride, ceil(Wp/stride)): the padded input with every row split into its
    stride phases, the scratch array of the standard im2col kernel."""
    N, C, H, W = x_shape
    return (N, C, H + 2 * pad, stride, phase_columns(W, stride, pad))


def size_of(shape):
    """Number of elements of an array of `shape` (a Python int, never overflowing)."""
    n = 1
    for d in shape:
        n *= int(d)
    return n
