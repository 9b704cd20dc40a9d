"""A state dict from any file the official release (or a user's export of
it) comes in, read without torch:

  .pkl                 a network pickle (`network_pickle`); `module` picks
                       the network (G_ema: the one the official inference
                       uses)
  .pth / .pt / .bin    a torch.save'd state dict (`torch_weights`), keys
                       optionally under "<module>."
  .npz                 numpy arrays under the state dict's keys

A missing, damaged or foreign file is a UserError naming it.
"""

from __future__ import annotations

import os
import zipfile

import numpy as np

from p4d_jax.models import torch_weights
from p4d_jax.models.official import network_pickle
from p4d_jax.user_errors import MissingFile
from p4d_jax.user_errors import UserError

KINDS = {".pkl": "network pickle", ".pth": "torch", ".pt": "torch",
         ".bin": "torch", ".npz": "numpy"}


def _npz(path: str) -> dict[str, np.ndarray]:
  try:
    with np.load(path, allow_pickle=False) as data:
      return {k: data[k] for k in data.files}
  except (OSError, ValueError, zipfile.BadZipFile, EOFError) as err:
    raise ValueError(f"cannot read numpy archive {path}: "
                     f"{type(err).__name__}: {err}") from err


def _unprefixed(state_dict: dict, module: str) -> dict:
  """Keys all under "<module>." (a dict of networks saved whole) -> the
  module's own keys."""
  head = module + "."
  if state_dict and all(k.startswith(head) for k in state_dict):
    return {k[len(head):]: v for k, v in state_dict.items()}
  return state_dict


def read_state_dict(path: str, module: str = "G_ema"
                    ) -> tuple[dict[str, np.ndarray], dict]:
  """(state dict, the network's plain attributes ({} but for pickles)) of
  `path`; raises a UserError for a file that is missing, of an unknown
  kind, damaged, or without `module`."""
  if not os.path.isfile(path):
    raise MissingFile(f"{path}: no such file (the official checkpoint, e.g. "
                      "portrait4d-v2-vfhq512.pkl).")
  kind = KINDS.get(os.path.splitext(path)[1].lower())
  if kind is None:
    raise UserError(f"{path}: unknown kind of file; give a network pickle "
                    "(.pkl), a torch state dict (.pth, .pt, .bin) or a numpy "
                    "archive (.npz).")
  try:
    if kind == "network pickle":
      nets = network_pickle.read(path)
      if module not in nets:
        raise UserError(f"{path} holds the networks {sorted(nets)}, no "
                        f"{module!r}; pick one with --module.")
      return nets[module].state_dict, nets[module].attrs
    if kind == "torch":
      return _unprefixed(torch_weights.load_state_dict(path), module), {}
    return _unprefixed(_npz(path), module), {}
  except UserError:
    raise
  except ValueError as err:
    raise UserError(f"{err} (is it damaged, or another kind of file than "
                    f"its name says?)") from err
