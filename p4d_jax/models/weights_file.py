"""Converted weights (LPIPS, Inception) as one .npz: written atomically, read
back with errors that name the file, the array and how to make the file."""

from __future__ import annotations

import os
import zipfile

import numpy as np

from p4d_jax.media import atomic


def write(path: str, arrays: dict[str, np.ndarray], **tags: str) -> None:
  """`arrays` plus string `tags` (e.g. format=...) to `path` (temp name,
  then rename: never half-written)."""
  with atomic.atomic_path(path) as tmp, open(tmp, "wb") as f:
    np.savez(f, **{k: np.array(v) for k, v in tags.items()}, **arrays)


def read(path: str, fmt: str, what: str, how_to_make: str
         ) -> dict[str, np.ndarray]:
  """The arrays of a file `write` made with format=fmt (the tag removed)."""
  if not os.path.isfile(path):
    raise FileNotFoundError(f"no {what} weights at {path}: {how_to_make}")
  try:
    with np.load(path, allow_pickle=False) as z:
      arrays = {k: z[k] for k in z.files}
  except (OSError, ValueError, EOFError, KeyError, zipfile.BadZipFile) as err:
    raise ValueError(f"cannot read {what} weights {path} ({err}): "
                     f"{how_to_make}") from err
  if str(arrays.pop("format", "")) != fmt:
    raise ValueError(f"{path} is not a {what} weights file: {how_to_make}")
  return arrays
