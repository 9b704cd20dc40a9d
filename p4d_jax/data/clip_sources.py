"""Clips to render or train on, from any origin, behind one small record:
SynthHeads' clips or tools/preprocess.py's (`clip_files`)."""

from __future__ import annotations

import dataclasses
import os
from typing import Callable, Sequence

from p4d_jax.data import builders
from p4d_jax.data import clip_files
from p4d_jax.data import pipeline
from p4d_jax.user_errors import MissingFile


@dataclasses.dataclass(frozen=True)
class ClipSource:
  """Clips to render. `get(i)` gives clip i as a dict: uint8 `image`
  [T, S, S, 3], camera labels `camera` [T, 25], optional uint8 `mask`
  [T, S, S] (present for every clip when `has_masks`), optional exact
  `expression` [T, E] (SynthHeads), `clip_id` (int) and `clip_name`; `frames[i]` is its T."""
  name: str
  frames: Sequence[int]
  get: Callable[[int], dict]
  has_masks: bool = False


def synthheads_clips(size: str, split: str, data_dir: str = "") -> ClipSource:
  """A built SynthHeads `clips` set; clip ids are identity numbers."""
  ds = pipeline.synthheads("clips", size, split, builders.data_dir(data_dir))
  name = f"synthheads_clips/{size}/{split}"

  def get(i: int) -> dict:
    ex = ds[i]
    return dict(image=ex["image"], mask=ex["mask"], camera=ex["camera"],
                expression=ex["expression"],
                clip_id=int(ex["identity_index"]), clip_name=f"{name}/{i}")
  return ClipSource(name, [builders.SIZES[size].frames] * len(ds), get,
                    has_masks=True)


def preprocessed_clips(root: str) -> ClipSource:
  """Clips written by tools/preprocess.py under root (clip_files)."""
  names = clip_files.list_clips(root)
  if not names:
    raise MissingFile(f"{root} holds no preprocessed clips; write "
                            "them with tools/preprocess.py.")
  frames = [clip_files.read_meta(root, n)["frames"] for n in names]
  return ClipSource(f"preprocessed:{os.path.abspath(root)}", frames,
                    lambda i: clip_files.read_clip(root, names[i]))
