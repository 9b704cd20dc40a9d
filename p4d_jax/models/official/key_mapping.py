"""Strict state dict -> parameter mapping, shared by the official
converters: each of our parameter paths names the key it is read from,
every key of the state dict is read or ignored for a stated reason, and
anything else is a `WeightsMismatch` that names the key.

Layouts: conv OIHW -> HWIO, Linear [out, in] -> [in, out], vectors as they
are (`to_ours`).
"""

from __future__ import annotations

import re
from typing import Callable, Mapping, Sequence

import numpy as np

from p4d_jax.user_errors import UserError

# (our module path pattern, its key's module prefix, or a function of the
# match giving it): first match wins; no match: the same names with dots.
Rename = tuple[str, "str | Callable[[re.Match], str]"]


class WeightsMismatch(UserError):
  """The state dict is not the one the converter knows (or is damaged)."""


def renamed(path: str, modules: Sequence[Rename],
            leaves: Mapping[str, str]) -> str:
  """Our parameter path -> its key: the module part by the first of
  `modules` that matches, the leaf by `leaves`."""
  module, leaf = path.rsplit("/", 1)
  for pattern, rename in modules:
    m = re.match(pattern, module)
    if m:
      module = rename if isinstance(rename, str) else rename(m)
      break
  else:
    module = module.replace("/", ".")
  return f"{module}.{leaves[leaf]}"


def to_ours(value: np.ndarray) -> np.ndarray:
  """A torch tensor in our layout: conv OIHW -> HWIO, Linear [out, in] ->
  [in, out], vectors as they are."""
  if value.ndim == 4:
    return value.transpose(2, 3, 1, 0)
  return value.T if value.ndim == 2 else value


def ignored_reason(key: str, ignored: Sequence[tuple[str, str]]) -> str | None:
  """Why `key` is not read (the first matching (pattern, reason)), or None."""
  for pattern, reason in ignored:
    if re.search(pattern, key):
      return reason
  return None


def _first(keys: list[str]) -> str:
  more = f" (and {len(keys) - 1} more)" if len(keys) > 1 else ""
  return f"{keys[0]}{more}"


def convert(state_dict: Mapping[str, np.ndarray],
            like: Mapping[str, tuple[int, ...]],
            key_of: Callable[[str], str],
            ignored: Sequence[tuple[str, str]],
            what: str,
            special: Mapping[str, tuple[list[str], np.ndarray]] | None = None,
            hint: str = "") -> dict[str, np.ndarray]:
  """{our path: float32 array} for every path of `like` ({path: shape}):
  read from `state_dict[key_of(path)]` in our layout, or for the paths in
  `special`, given with the keys they were made of. `what` names the model
  in errors (e.g. "a Portrait4D-v2 generator"), `hint` follows it where a
  key is missing (which file to give)."""
  special = dict(special or {})
  wanted = {path: special[path][0] if path in special else [key_of(path)]
            for path in like}
  missing = sorted({k for keys in wanted.values() for k in keys
                    if k not in state_dict})
  if missing:
    raise WeightsMismatch(f"key {_first(missing)} is missing: not "
                          f"{what}{hint}.")
  read = {k for keys in wanted.values() for k in keys}
  extra = sorted(k for k in state_dict
                 if k not in read and ignored_reason(k, ignored) is None)
  if extra:
    raise WeightsMismatch(
        f"unexpected key {_first(extra)}: the converter maps every key "
        f"of {what} and knows no other; is it another model's checkpoint?")
  out = {}
  for path, shape in like.items():
    keys = wanted[path]
    value = (special[path][1] if path in special
             else to_ours(np.asarray(state_dict[keys[0]])))
    if tuple(value.shape) != tuple(shape):
      theirs = " + ".join(str(tuple(np.shape(state_dict[k]))) for k in keys)
      raise WeightsMismatch(
          f"{' + '.join(keys)} has shape {theirs}, the model wants "
          f"{tuple(shape)} (as {path}): {what} of other sizes.")
    if not np.issubdtype(value.dtype, np.floating):
      raise WeightsMismatch(f"{keys[0]} holds {value.dtype}, not floats.")
    out[path] = np.asarray(value, np.float32)
  return out
