"""Reads PyTorch checkpoints (.pth) into numpy without importing torch, and
`assign` puts their arrays into a module's variables (the converters'
`from_state_dict`s).

Two on-disk formats exist:

  - legacy (torch < 1.6, or `_use_new_zipfile_serialization=False`): pickles
    back to back: the magic number, the protocol version, a sys-info dict,
    the object itself (storages as persistent ids), the list of storage keys;
    then per key an int64 element count and the raw storage bytes;
  - zip (torch >= 1.6): `<name>/data.pkl` plus one raw entry per storage,
    `<name>/data/<key>`, optionally `<name>/byteorder`.

In both, a tensor is `torch._utils._rebuild_tensor_v2(storage, offset, size,
stride, ...)` over a storage named by a persistent id
('storage', storage_type, key, location, numel[, view_metadata]). The
unpickler resolves only those few names, so a checkpoint cannot run code.
"""

from __future__ import annotations

import collections
import io
import pickle
import struct
import zipfile

import jax.numpy as jnp
import ml_dtypes
import numpy as np
from flax import nnx

LEGACY_MAGIC = 0x1950a86a20f9469cfc6c

# torch storage class -> element dtype.
STORAGE_DTYPES = {
    "FloatStorage": np.float32, "DoubleStorage": np.float64,
    "HalfStorage": np.float16, "BFloat16Storage": ml_dtypes.bfloat16,
    "LongStorage": np.int64, "IntStorage": np.int32, "ShortStorage": np.int16,
    "CharStorage": np.int8, "ByteStorage": np.uint8, "BoolStorage": np.bool_,
}


class _StorageType:
  """Stands in for a torch.*Storage class named in a pickle."""

  def __init__(self, name: str):
    self.name = name
    self.dtype = np.dtype(STORAGE_DTYPES[name])


class _Storage:
  """A storage whose bytes are read later (legacy: after the object pickle)."""

  def __init__(self, dtype: np.dtype, key: str, numel: int):
    self.dtype, self.key, self.numel = dtype, key, numel
    self.data: np.ndarray | None = None


class _View:
  """Legacy storage view: `numel` elements of a root storage from `offset`."""

  def __init__(self, root: _Storage, offset: int, numel: int):
    self.root, self.offset, self.numel = root, offset, numel


class _Tensor:
  """A tensor waiting for its storage's bytes."""

  def __init__(self, storage, offset, size, stride):
    self.storage, self.offset = storage, offset
    self.size, self.stride = tuple(size), tuple(stride)

  def materialize(self) -> np.ndarray:
    storage, offset = self.storage, self.offset
    if isinstance(storage, _View):
      storage, offset = storage.root, offset + storage.offset
    flat = storage.data
    if flat is None:
      raise ValueError(f"no data for storage {storage.key}")
    n = int(np.prod(self.size)) if self.size else 1
    if n == 0:
      return np.zeros(self.size, flat.dtype)
    last = offset + sum((s - 1) * st for s, st in zip(self.size, self.stride))
    if offset < 0 or last >= flat.size:
      raise ValueError(f"tensor of size {self.size} at offset {offset} "
                       f"overruns its storage of {flat.size} elements")
    strides = tuple(st * flat.itemsize for st in self.stride)
    view = np.lib.stride_tricks.as_strided(flat[offset:], self.size, strides)
    return np.array(view)  # a copy: never a view of the file buffer


def _rebuild_tensor(storage, offset, size, stride, *unused):
  return _Tensor(storage, offset, size, stride)


def _rebuild_parameter(data, *unused):
  return data


_ALLOWED = {
    ("collections", "OrderedDict"): collections.OrderedDict,
    ("torch._utils", "_rebuild_tensor"): _rebuild_tensor,
    ("torch._utils", "_rebuild_tensor_v2"): _rebuild_tensor,
    ("torch._utils", "_rebuild_parameter"): _rebuild_parameter,
}


class _Unpickler(pickle.Unpickler):
  """Resolves only OrderedDict, tensor rebuilding and storage classes."""

  def __init__(self, file, storages: dict[str, _Storage]):
    super().__init__(file, encoding="utf-8")
    self.storages = storages

  def find_class(self, module, name):
    found = tensor_global(module, name)
    if found is not None:
      return found
    raise pickle.UnpicklingError(f"refusing to load global {module}.{name}")

  def persistent_load(self, pid):
    if not (isinstance(pid, tuple) and len(pid) in (5, 6)
            and pid[0] == "storage" and isinstance(pid[1], _StorageType)):
      raise pickle.UnpicklingError(f"unexpected persistent id {pid!r}")
    stype, key, numel = pid[1], str(pid[2]), int(pid[4])
    root = self.storages.setdefault(key, _Storage(stype.dtype, key, numel))
    view = pid[5] if len(pid) == 6 else None
    if view is not None:  # (view_key, offset, view_size), in elements
      return _View(root, int(view[1]), int(view[2]))
    return root


def _array(data: bytes, dtype: np.dtype, order: str, count: int):
  """`count` elements of `dtype` stored with byte order `order`, native."""
  if count * dtype.itemsize > len(data):
    raise EOFError(f"storage of {count} elements has only {len(data)} bytes")
  # Read through a same-size unsigned int: bfloat16 has no byte-order flag.
  raw = np.dtype(f"{order}u{dtype.itemsize}") if dtype != np.bool_ else dtype
  out = np.frombuffer(data, raw, count=count).astype(raw.newbyteorder("="))
  return out.view(dtype)


def _read_legacy(f, storages) -> object:
  load = lambda: _Unpickler(f, storages).load()  # noqa: E731
  if load() != LEGACY_MAGIC:
    raise pickle.UnpicklingError("not a PyTorch checkpoint (bad magic number)")
  load()  # protocol version
  sys_info = load()
  order = "<" if sys_info.get("little_endian", True) else ">"
  obj = load()
  for key in load():
    storage = storages[str(key)]
    header = f.read(8)
    if len(header) != 8:
      raise EOFError(f"truncated before storage {key}")
    (numel,) = struct.unpack(order + "q", header)
    storage.data = _array(f.read(numel * storage.dtype.itemsize),
                          storage.dtype, order, numel)
  return obj


def storage_from_bytes(data: bytes) -> _Storage:
  """`torch.storage._load_from_bytes(data)`: one storage saved in the legacy
  format (how network pickles hold their tensors' bytes)."""
  storage = _read_legacy(io.BytesIO(data), {})
  if not isinstance(storage, _Storage):
    raise pickle.UnpicklingError("a storage blob holds no storage")
  return storage


def tensor_global(module: str, name: str):
  """The stand-in for a global that rebuilds tensors or names a storage
  type (None for any other): what a reader of another pickle format
  resolves of torch's names."""
  if (module, name) in _ALLOWED:
    return _ALLOWED[(module, name)]
  if module in ("torch", "torch.cuda") and name in STORAGE_DTYPES:
    return _StorageType(name)
  return None


def materialize(value):
  """A rebuilt tensor as a numpy array; anything else as it is."""
  return value.materialize() if isinstance(value, _Tensor) else value


def _read_zip(f, storages) -> object:
  with zipfile.ZipFile(f) as z:
    names = z.namelist()
    pkl = [n for n in names if n.endswith("data.pkl") and n.count("/") == 1]
    if len(pkl) != 1:
      raise pickle.UnpicklingError(f"expected one <name>/data.pkl, got {pkl}")
    prefix = pkl[0][:-len("data.pkl")]
    order = "<"
    if prefix + "byteorder" in names:
      order = "<" if z.read(prefix + "byteorder").strip() == b"little" else ">"
    obj = _Unpickler(io.BytesIO(z.read(pkl[0])), storages).load()
    for key, storage in storages.items():
      storage.data = _array(z.read(f"{prefix}data/{key}"), storage.dtype,
                            order, storage.numel)
  return obj


def _flatten(obj, prefix: str, out: dict):
  if isinstance(obj, dict):
    for k, v in obj.items():
      _flatten(v, f"{prefix}{k}.", out)
  elif isinstance(obj, _Tensor):
    out[prefix[:-1]] = obj.materialize()


def load_state_dict(path: str) -> dict[str, np.ndarray]:
  """The tensors of a .pth file as {dotted key: array}.

  Nested dicts are flattened with '.'; a top-level 'state_dict' is unwrapped;
  anything that is not a tensor (metadata, numbers) is dropped. Raises
  FileNotFoundError for a missing file and ValueError naming it for a
  corrupt, truncated or unsupported one.
  """
  storages: dict[str, _Storage] = {}
  with open(path, "rb") as f:
    try:
      is_zip = zipfile.is_zipfile(f)
      f.seek(0)
      if is_zip:
        obj = _read_zip(f, storages)
      elif f.read(4) == b"PK\x03\x04":  # a zip without its directory
        raise zipfile.BadZipFile("a zip checkpoint, truncated or corrupt")
      else:
        f.seek(0)
        obj = _read_legacy(f, storages)
      if isinstance(obj, dict) and isinstance(obj.get("state_dict"), dict):
        obj = obj["state_dict"]
      out: dict[str, np.ndarray] = {}
      _flatten(obj, "", out)
    except (pickle.UnpicklingError, EOFError, KeyError, ValueError, TypeError,
            AttributeError, IndexError, struct.error, zipfile.BadZipFile,
            UnicodeDecodeError) as err:
      raise ValueError(f"cannot read PyTorch checkpoint {path}: "
                       f"{type(err).__name__}: {err}") from err
  return out


def assign(var: nnx.Variable, value, name: str) -> None:
  """Sets a float32 variable, or names `name` and both shapes."""
  value = np.asarray(value, np.float32)
  if value.shape != var.shape:
    raise ValueError(f"{name}: shape {value.shape}, expected {var.shape}")
  var.set_value(jnp.asarray(value))  # `[...] =` fails on eval_shape values
