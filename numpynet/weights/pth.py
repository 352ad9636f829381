"""PyTorch's .pth files without PyTorch: a restricted unpickler for saved state_dicts.

`torch.save(state_dict)` pickles a dict of tensors. Each tensor pickles as a call
`torch._utils._rebuild_tensor_v2(storage, offset, size, stride, requires_grad, hooks)`, where
`storage` is a "persistent id" ('storage', torch.FloatStorage, key, device, numel) whose bytes
are stored apart from the pickle. Two layouts of those bytes:

    zip (PyTorch >= 1.6)   a zip archive: <name>/data.pkl (the pickle), <name>/data/<key> (each
                           storage's raw little-endian bytes), <name>/byteorder
    legacy (older saves,   one stream: pickles of a magic number, the protocol version 1001 and
    such as torchvision's  system info, then the state_dict's pickle, then the pickled list of
    2017 downloads)        storage keys, then per key an int64 count and the raw bytes

Only the names a state_dict needs are allowed (`ALLOWED`); anything else in the pickle (the
way a malicious file runs code) raises, as `torch.load(weights_only=True)` does.
"""

import io
import pickle
import zipfile
from collections import OrderedDict
from pathlib import Path

import numpy as np

STORAGES = {"FloatStorage": "<f4", "DoubleStorage": "<f8", "HalfStorage": "<f2",
            "LongStorage": "<i8", "IntStorage": "<i4", "ByteStorage": "u1",
            "BFloat16Storage": "bfloat16"}
LEGACY_MAGIC = 0x1950A86A20F9469CFC6C
LEGACY_PROTOCOL = 1001


class StorageType:
    """Stands for torch.FloatStorage etc. in the pickle: just the element type."""

    def __init__(self, name):
        self.dtype = STORAGES[name]


class _Tensor:
    """What _rebuild_tensor_v2 stands for until the storages' bytes are read."""

    def __init__(self, storage, offset, size, stride, *unused):
        self.storage, self.offset, self.size, self.stride = storage, offset, size, stride

    def array(self, storages):
        """A strided view of the storage (a flat array), copied."""
        flat = storages[self.storage]
        view = np.lib.stride_tricks.as_strided(
            flat[self.offset:], shape=tuple(self.size),
            strides=tuple(s * flat.dtype.itemsize for s in self.stride))
        return np.array(view)


def _rebuild_parameter(data, *unused):
    return data


ALLOWED = {("collections", "OrderedDict"): OrderedDict,
           ("torch._utils", "_rebuild_tensor_v2"): _Tensor,
           ("torch._utils", "_rebuild_parameter"): _rebuild_parameter,
           **{("torch", name): StorageType(name) for name in STORAGES}}


def _as_array(raw, dtype):
    if dtype == "bfloat16":                         # the top half of a float32
        return (np.frombuffer(raw, "<u2").astype(np.uint32) << 16).view(np.float32)
    return np.frombuffer(raw, dtype)


class _Unpickler(pickle.Unpickler):
    """Allows only ALLOWED's names; notes each storage's key and element type."""

    def __init__(self, file):
        super().__init__(file)
        self.dtypes = {}

    def find_class(self, module, name):
        if (module, name) not in ALLOWED:
            raise pickle.UnpicklingError(f"{module}.{name} is not part of a state_dict "
                                         f"(refused: a pickle can run code)")
        return ALLOWED[(module, name)]

    def persistent_load(self, pid):
        kind, storage_type, key, *_ = pid
        if kind != "storage" or not isinstance(storage_type, StorageType):
            raise pickle.UnpicklingError(f"unexpected persistent id {pid!r}")
        self.dtypes[key] = storage_type.dtype
        return key


def load(path):
    """-> {key: NumPy array} of a PyTorch-saved state_dict (zip or legacy)."""
    path = Path(path)
    try:
        state, storages = (_load_zip if zipfile.is_zipfile(path) else _load_legacy)(path)
        return {k: v.array(storages) for k, v in state.items() if isinstance(v, _Tensor)}
    except (pickle.UnpicklingError, ValueError, KeyError, EOFError, TypeError,
            StopIteration) as e:
        raise ValueError(f"{path} is not a readable PyTorch state_dict ({e or type(e).__name__})"
                         f"; with PyTorch installed it is read by torch.load instead") from None


def _load_zip(path):
    with zipfile.ZipFile(path) as z:
        names = z.namelist()
        pkl = next(n for n in names if n.endswith("data.pkl"))
        prefix = pkl[:-len("data.pkl")]
        if prefix + "byteorder" in names and z.read(prefix + "byteorder") != b"little":
            raise ValueError("a big-endian save")
        unpickler = _Unpickler(io.BytesIO(z.read(pkl)))
        state = unpickler.load()
        storages = {k: _as_array(z.read(f"{prefix}data/{k}"), dtype)
                    for k, dtype in unpickler.dtypes.items()}
    return state, storages


def _load_legacy(path):
    with open(path, "rb") as f:
        if pickle.load(f) != LEGACY_MAGIC:
            raise ValueError("neither a zip archive nor a legacy PyTorch file")
        if pickle.load(f) != LEGACY_PROTOCOL:
            raise ValueError("an unknown legacy PyTorch protocol")
        pickle.load(f)                              # system info (byte order, sizes)
        unpickler = _Unpickler(f)
        state = unpickler.load()
        storages = {}
        for key in pickle.load(f):                  # the storages, in this order
            dtype = unpickler.dtypes[key]
            count = int(np.frombuffer(f.read(8), "<i8")[0])
            itemsize = 2 if dtype == "bfloat16" else np.dtype(dtype).itemsize
            storages[key] = _as_array(f.read(count * itemsize), dtype)
    return state, storages
