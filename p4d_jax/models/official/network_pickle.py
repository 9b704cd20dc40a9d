"""Reads the official network pickles (`portrait4d-v2-vfhq512.pkl`: a dict of
G, D, G_ema, ... torch modules) into state dicts, without torch and without
running anything the pickle names.

The snapshots are `pickle.dump` of modules of two kinds: the repo's
`persistent_class` modules, reduced to
`torch_utils.persistence._reconstruct_persistent_obj(meta)` with the module's
`__dict__` in `meta["state"]` (their embedded source code is never looked
at), and plain torch modules, rebuilt by `copyreg` + `__setstate__`. Tensors
are `torch._utils._rebuild_tensor_v2` over storages that are
`torch.storage._load_from_bytes(blob)`, each blob a legacy `torch.save` of
one storage (`torch_weights` reads both). Every other global becomes an
inert stand-in that keeps its state and runs nothing.

    nets = read("portrait4d-v2-vfhq512.pkl")
    nets["G_ema"].state_dict      # {key: np.ndarray}, state_dict() order
    nets["G_ema"].attrs           # plain attributes: rendering_kwargs, ...
"""

from __future__ import annotations

import _compat_pickle
import codecs
import collections
import dataclasses
import pickle

import numpy as np

from p4d_jax.models import torch_weights

_PERSISTENT = ("torch_utils.persistence", "_reconstruct_persistent_obj")


class _Inert:
  """Any other pickled class: its instances keep their state, nothing runs."""

  def __init__(self, *args, **kwargs):
    del args, kwargs
    self.state = None

  def __setstate__(self, state):
    self.state = state

  def __call__(self, *args, **kwargs):   # e.g. builtins.getattr(...)
    return _Inert()


def _persistent_object(meta) -> _Inert:
  obj = _Inert()
  obj.state = meta.get("state") if isinstance(meta, dict) else None
  return obj


def _from_type(func, new_type, args, state):   # torch._tensor subclasses
  del new_type, state
  return func(*args)


def _numpy_global(module: str, name: str):
  """numpy's array and scalar reconstructors (plain data, no code)."""
  if module in ("numpy.core.multiarray", "numpy._core.multiarray") and name in (
      "_reconstruct", "scalar"):
    core = getattr(np, "_core", None) or np.core
    return getattr(core.multiarray, name)
  if module == "numpy" and name in ("ndarray", "dtype"):
    return getattr(np, name)
  if module == "numpy.dtypes" and name.endswith("DType"):
    return getattr(np.dtypes, name)
  return None


_GLOBALS = {
    _PERSISTENT: _persistent_object,
    ("torch.storage", "_load_from_bytes"): torch_weights.storage_from_bytes,
    ("torch._tensor", "_rebuild_from_type_v2"): _from_type,
    ("collections", "OrderedDict"): collections.OrderedDict,
    ("_codecs", "encode"): codecs.encode,   # bytes in protocol-2 pickles
    ("copyreg", "_reconstructor"): lambda cls, base, state: cls(),
    ("builtins", "set"): set, ("builtins", "frozenset"): frozenset,
    ("builtins", "slice"): slice, ("builtins", "range"): range,
    ("builtins", "complex"): complex, ("builtins", "bytearray"): bytearray,
}


class _Unpickler(pickle.Unpickler):

  def find_class(self, module, name):
    # Protocol-2 pickles spell some modules the Python 2 way (__builtin__).
    module, name = _compat_pickle.NAME_MAPPING.get((module, name),
                                                   (module, name))
    module = _compat_pickle.IMPORT_MAPPING.get(module, module)
    if (module, name) in _GLOBALS:
      return _GLOBALS[(module, name)]
    found = (torch_weights.tensor_global(module, name) or
             _numpy_global(module, name))
    if found is not None:
      return found
    return type(name, (_Inert,), {"qualname": f"{module}.{name}"})


@dataclasses.dataclass
class Network:
  state_dict: dict[str, np.ndarray]
  attrs: dict          # the module's plain attributes (numbers, strings, ...)


def _module_state(obj) -> dict | None:
  state = getattr(obj, "state", None)
  if isinstance(state, dict) and "_parameters" in state and "_modules" in state:
    return state
  return None


def _state_dict(state: dict, prefix: str, out: dict) -> None:
  """torch.nn.Module.state_dict(): own parameters, persistent buffers, then
  the children depth first."""
  skip = state.get("_non_persistent_buffers_set") or set()
  for name, value in state["_parameters"].items():
    if value is not None:
      out[prefix + name] = torch_weights.materialize(value)
  for name, value in (state.get("_buffers") or {}).items():
    if value is not None and name not in skip:
      out[prefix + name] = torch_weights.materialize(value)
  for name, child in state["_modules"].items():
    child_state = _module_state(child)
    if child_state is not None:
      _state_dict(child_state, f"{prefix}{name}.", out)


def _plain(value):
  if isinstance(value, (str, int, float, bool)) or value is None:
    return value
  if isinstance(value, dict):
    return {str(k): _plain(v) for k, v in value.items()}
  if isinstance(value, (list, tuple)):
    return [_plain(v) for v in value]
  return repr(type(value).__name__)


def read(path: str) -> dict[str, Network]:
  """The modules of a network pickle, by name. Raises ValueError for a
  file that is not one (or is damaged), naming what failed."""
  try:
    with open(path, "rb") as f:
      data = _Unpickler(f).load()
    if not isinstance(data, dict):
      raise ValueError(f"it holds a {type(data).__name__}, not a dict of "
                       "networks")
    nets = {}
    for name, obj in data.items():
      state = _module_state(obj)
      if state is None:
        continue
      out: dict[str, np.ndarray] = {}
      _state_dict(state, "", out)
      attrs = {k: _plain(v) for k, v in state.items()
               if not k.startswith("_") and not isinstance(v, _Inert)}
      nets[str(name)] = Network(out, attrs)
  except (pickle.UnpicklingError, EOFError, KeyError, ValueError, TypeError,
          AttributeError, IndexError, MemoryError) as err:
    raise ValueError(f"cannot read network pickle {path}: "
                     f"{type(err).__name__}: {err}") from err
  return nets
