"""What every layer has in common (Caffe's split: set-up in __init__, forward, backward).

A layer owns
- `params`: name -> array, the single source of truth for its weights (replace an entry, e.g.
  with a float64 copy or weights loaded from a file, and the next forward uses it);
- `grads`: the same names -> dL/dparam, filled by `backward` (which never updates weights:
  that is the optimiser's job);
- `buffers`: name -> array of state that is saved with the weights but not learned
  (BatchNorm's running averages).
`forward(x, train=True)` caches what `backward(dout)` needs and returns y; `backward` returns dx.
With `train=False` (evaluation) the layers keep nothing for a backward pass.

The arrays a layer returns, and those in `grads`, may come from memory that the fast kernels
reuse (numpynet/kernels/fast/memory.py); an array is never reused while anything refers to it.
"""


class Layer:
    def __init__(self, name=None):
        self.name = name
        self.params, self.grads, self.buffers = {}, {}, {}

    def forward(self, x, train=True):
        raise NotImplementedError

    def backward(self, dout):
        raise NotImplementedError

    def output_shape(self, input_shape):
        """Shape of forward's output for an input of `input_shape` (default: unchanged)."""
        return input_shape

    def describe(self):
        """Short description of the layer's settings, for summaries."""
        return ""

    def __repr__(self):
        return f"{type(self).__name__}({self.describe()})"

    def _label(self):
        return f"{type(self).__name__} {self.name!r}" if self.name else type(self).__name__

    def _error(self, message):
        """A ValueError that says which layer complained."""
        return ValueError(f"{self._label()}: {message}")

    def _check_rank(self, x, rank, layout):
        if getattr(x, "ndim", None) != rank:
            shape = getattr(x, "shape", type(x).__name__)
            raise self._error(f"expected a {rank}-d input {layout}, got shape {shape}")
