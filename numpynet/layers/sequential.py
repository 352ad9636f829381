"""A stack of layers run one after the other."""

from .. import backend


class Sequential:
    """forward: x -> layer_1 -> ... -> layer_L;  backward: dout -> layer_L -> ... -> layer_1.

    Layers without a name get one from their type and position ("conv2d0", "relu1", ...), so
    that every parameter has a unique key "<layer>.<param>" (e.g. "conv1.W") in `state_dict()`.
    """

    def __init__(self, *layers):
        self.layers = list(layers)
        seen = set()
        for i, layer in enumerate(self.layers):
            if layer.name is None:
                layer.name = f"{type(layer).__name__.lower()}{i}"
            if layer.name in seen:
                raise ValueError(f"Sequential: two layers are named {layer.name!r}")
            seen.add(layer.name)

    def forward(self, x, train=True):
        for layer in self.layers:
            x = layer.forward(x, train=train)
        return x

    def backward(self, dout, input_grad=True):
        """dL/d(output) -> dL/d(input), filling every layer's grads.

        `input_grad=False`: nothing needs dL/d(input) (training on images does not), so the
        layers before the first one with parameters are skipped, and that one may skip its own
        dL/dx (Conv2D and Linear do: a third of their backward work); returns None then.
        """
        first = 0
        if not input_grad:
            while first < len(self.layers) - 1 and not self.layers[first].params:
                first += 1
        for i in reversed(range(first, len(self.layers))):
            layer = self.layers[i]
            if i == first and not input_grad and getattr(layer, "can_skip_input_grad", False):
                return layer.backward(dout, input_grad=False)
            dout = layer.backward(dout)
        return dout if input_grad else None

    def __getitem__(self, key):
        """A layer by position or by name: net[0], net["conv1"]."""
        if isinstance(key, str):
            for layer in self.layers:
                if layer.name == key:
                    return layer
            raise KeyError(f"no layer named {key!r}; layers: {[l.name for l in self.layers]}")
        return self.layers[key]

    def __len__(self):
        return len(self.layers)

    def __iter__(self):
        return iter(self.layers)

    def parameters(self):
        """Yield (layer, name, param, grad) for every parameter; grad is None before backward."""
        for layer in self.layers:
            for name, param in layer.params.items():
                yield layer, name, param, layer.grads.get(name)

    def num_params(self):
        return sum(int(p.size) for _, _, p, _ in self.parameters())

    # ----------------------------------------------------------------- saving and devices

    def state_dict(self):
        """{"<layer>.<name>": array} of every parameter and buffer (arrays are not copied)."""
        state = {}
        for layer in self.layers:
            for name, arr in {**layer.params, **layer.buffers}.items():
                state[f"{layer.name}.{name}"] = arr
        return state

    def load_state_dict(self, state):
        """Copy arrays into the parameters and buffers, checking that names and shapes match."""
        own = self.state_dict()
        missing = sorted(set(own) - set(state))
        unexpected = sorted(set(state) - set(own))
        if missing or unexpected:
            raise ValueError(f"state does not fit this network: missing {missing[:5]}, "
                             f"unexpected {unexpected[:5]}")
        for key, arr in own.items():
            if tuple(state[key].shape) != tuple(arr.shape):
                raise ValueError(f"state does not fit this network: {key} has shape "
                                 f"{tuple(state[key].shape)}, expected {tuple(arr.shape)}")
        for layer in self.layers:
            for store in (layer.params, layer.buffers):
                for name, arr in store.items():
                    xp = backend.get_array_module(arr)
                    store[name] = xp.asarray(state[f"{layer.name}.{name}"], dtype=arr.dtype)

    def to(self, device):
        """Move parameters and buffers to 'cpu' or 'gpu' (see numpynet.backend); returns self."""
        for layer in self.layers:
            for store in (layer.params, layer.buffers):
                for name in store:
                    store[name] = backend.to_device(store[name], device)
            layer.grads.clear()
        return self

    def astype(self, dtype):
        """Cast parameters and buffers (e.g. to float64 for gradient checks); returns self."""
        for layer in self.layers:
            for store in (layer.params, layer.buffers):
                for name in store:
                    store[name] = store[name].astype(dtype)
        return self

    # ----------------------------------------------------------------- description

    def summary(self, input_shape):
        """A table of layers, output shapes and parameter counts for inputs of `input_shape`
        (C, H, W), computed from the layers' own shape rules (numpynet/costs.py)."""
        from .. import costs          # costs sits above the layers: it knows Conv2D and Linear
        return costs.format_summary(costs.layer_table(self, input_shape))
