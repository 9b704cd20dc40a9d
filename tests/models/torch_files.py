"""PyTorch checkpoint files written without torch, for the readers' tests:
the legacy and zip `torch.save` formats, and network pickles the way the
official training loop writes them (persistent-class modules holding plain
torch modules, tensors over `_load_from_bytes` storage blobs).

Pickled with stand-ins named like torch's, then their module renamed: a
protocol-2 GLOBAL opcode is "c<module>\\n<name>\\n", so the bytes are those
torch writes, and no torch is needed.
"""

import collections
import io
import pickle
import struct
import zipfile

import numpy as np

from p4d_jax.models import torch_weights


def _rebuild_tensor_v2(*args):
  raise AssertionError("stand-in, never called")


def _rebuild_parameter(*args):
  raise AssertionError("stand-in, never called")


def _load_from_bytes(*args):
  raise AssertionError("stand-in, never called")


def _reconstruct_persistent_obj(*args):
  raise AssertionError("stand-in, never called")


class FloatStorage: ...  # noqa: E701


class LongStorage: ...  # noqa: E701


class HalfStorage: ...  # noqa: E701


class Conv2d:   # a plain torch module: copyreg + __setstate__ of its dict
  def __init__(self, state):
    self.__dict__.update(state)


STORAGE_TYPES = {np.float32: FloatStorage, np.int64: LongStorage,
                 np.float16: HalfStorage}
RENAMES = {"_rebuild_tensor_v2": "torch._utils",
           "_rebuild_parameter": "torch._utils",
           "_load_from_bytes": "torch.storage",
           "_reconstruct_persistent_obj": "torch_utils.persistence",
           "Conv2d": "torch.nn.modules.conv", "FloatStorage": "torch",
           "LongStorage": "torch", "HalfStorage": "torch"}


class Storage:
  def __init__(self, key, values, view=None):
    self.key, self.values, self.view = key, np.asarray(values), view


class Tensor:
  def __init__(self, storage, offset, size, stride):
    self.args = (storage, offset, tuple(size), tuple(stride), False,
                 collections.OrderedDict())


class Parameter:
  def __init__(self, tensor):
    self.tensor = tensor


class StorageBlob:
  """A network pickle's storage: `_load_from_bytes(legacy torch.save)`."""

  def __init__(self, storage: Storage):
    self.storage = storage


class PersistentModule:
  """A `persistent_class` module: its __dict__ as meta["state"]."""

  def __init__(self, class_name: str, state: dict):
    self.meta = dict(type="class", version=4, module_src="raise SystemExit",
                     class_name=class_name, state=state)


def module_state(parameters: dict, buffers: dict = None, modules: dict = None,
                 **attrs) -> dict:
  """A torch module's __dict__ with its parameters, buffers and children."""
  return dict(training=False, _parameters=collections.OrderedDict(parameters),
              _buffers=collections.OrderedDict(buffers or {}),
              _non_persistent_buffers_set=set(),
              _modules=collections.OrderedDict(modules or {}), **attrs)


class _Pickler(pickle.Pickler):
  def __init__(self, f, legacy):
    super().__init__(f, protocol=2)
    self.legacy = legacy

  def persistent_id(self, obj):
    if not isinstance(obj, Storage):
      return None
    pid = ("storage", STORAGE_TYPES[obj.values.dtype.type], obj.key, "cpu",
           obj.values.size)
    return pid + (obj.view,) if self.legacy else pid

  def reducer_override(self, obj):
    if isinstance(obj, Tensor):
      return _rebuild_tensor_v2, obj.args
    if isinstance(obj, Parameter):
      return _rebuild_parameter, (obj.tensor, False, collections.OrderedDict())
    if isinstance(obj, StorageBlob):
      return _load_from_bytes, (legacy_bytes(obj.storage, [obj.storage]),)
    if isinstance(obj, PersistentModule):
      return _reconstruct_persistent_obj, (obj.meta,)
    return NotImplemented


def pickled(obj, legacy: bool) -> bytes:
  f = io.BytesIO()
  _Pickler(f, legacy).dump(obj)
  data = f.getvalue()
  for name, module in RENAMES.items():
    data = data.replace(f"c{__name__}\n{name}\n".encode(),
                        f"c{module}\n{name}\n".encode())
  assert __name__.encode() not in data
  return data


def legacy_bytes(obj, storages) -> bytes:
  """The legacy format: magic, version, sys info, object, keys, storages."""
  f = io.BytesIO()
  for header in (torch_weights.LEGACY_MAGIC, 1001,
                 dict(protocol_version=1001, little_endian=True,
                      type_sizes=dict(short=2, int=4, long=4))):
    pickle.dump(header, f, protocol=2)
  f.write(pickled(obj, legacy=True))
  pickle.dump([s.key for s in storages], f, protocol=2)
  for s in storages:
    f.write(struct.pack("<q", s.values.size))
    f.write(s.values.astype(s.values.dtype.newbyteorder("<")).tobytes())
  return f.getvalue()


def write_legacy(path, obj, storages):
  with open(path, "wb") as f:
    f.write(legacy_bytes(obj, storages))


def write_zip(path, obj, storages, byteorder="little"):
  """The zip format: archive/data.pkl and archive/data/<key>."""
  end = "<" if byteorder == "little" else ">"
  with zipfile.ZipFile(path, "w", zipfile.ZIP_STORED) as z:
    z.writestr("archive/data.pkl", pickled(obj, legacy=False))
    z.writestr("archive/byteorder", byteorder)
    for s in storages:
      z.writestr(f"archive/data/{s.key}",
                 s.values.astype(s.values.dtype.newbyteorder(end)).tobytes())
