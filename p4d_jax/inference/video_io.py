"""Writing videos and images atomically, and turning depth into colour."""

from __future__ import annotations

import contextlib
import os
import tempfile
import warnings
from typing import Sequence

import imageio.v2 as imageio
import numpy as np


@contextlib.contextmanager
def atomic_path(path: str):
  """Yields a temp name beside `path`; renamed to `path` when the block
  succeeds, removed when it fails, so `path` is never half-written."""
  directory = os.path.dirname(os.path.abspath(path)) or "."
  os.makedirs(directory, exist_ok=True)
  suffix = os.path.splitext(path)[1]
  fd, tmp = tempfile.mkstemp(prefix=".tmp-", suffix=suffix, dir=directory)
  os.close(fd)
  os.chmod(tmp, 0o644)  # mkstemp makes 0600 files; outputs are for sharing.
  try:
    yield tmp
    os.replace(tmp, path)
  finally:
    if os.path.exists(tmp):
      os.remove(tmp)


def write_video(path: str, frames: Sequence[np.ndarray] | np.ndarray,
                fps: float = 24) -> str:
  """Writes uint8 frames [T, H, W, 3] to an mp4 (H.264) via a temp file.

  A crash mid-write leaves no half-written file at `path`.
  """
  with atomic_path(path) as tmp, warnings.catch_warnings():
    # The ffmpeg writer forks a subprocess that execs at once, so JAX's
    # warning about forking a multithreaded process does not apply.
    warnings.filterwarnings("ignore", message="os.fork",
                            category=RuntimeWarning)
    # macro_block_size=1: odd sizes are written as they are, not resized.
    with imageio.get_writer(tmp, fps=fps, codec="libx264", quality=8,
                            macro_block_size=1, format="FFMPEG") as writer:
      for frame in frames:
        writer.append_data(np.asarray(frame))
  return path


def write_image(path: str, image: np.ndarray) -> str:
  """Writes a uint8 image [H, W, 3] (format from the extension) atomically."""
  with atomic_path(path) as tmp:
    imageio.imwrite(tmp, np.asarray(image))
  return path


def to_uint8(image: np.ndarray) -> np.ndarray:
  """Float image in [-1, 1] -> uint8."""
  return np.clip(np.rint((np.asarray(image) + 1.0) * 127.5), 0,
                 255).astype(np.uint8)


# Control points of a perceptually ordered blue -> yellow colour map.
_DEPTH_COLORS = np.array([
    [0.99, 0.91, 0.15], [0.55, 0.82, 0.25], [0.13, 0.57, 0.55],
    [0.23, 0.32, 0.55], [0.27, 0.0, 0.33]
])


def colorize_depth(depth: np.ndarray, near: float, far: float,
                   alpha: np.ndarray | None = None) -> np.ndarray:
  """Depth [H, W] -> uint8 [H, W, 3]: near is yellow, far is purple.

  Pixels with `alpha` below 0.5 (background) are black.
  """
  t = np.clip((np.asarray(depth) - near) / max(far - near, 1e-8), 0.0, 1.0)
  x = t * (len(_DEPTH_COLORS) - 1)
  lo = np.floor(x).astype(int).clip(0, len(_DEPTH_COLORS) - 2)
  frac = (x - lo)[..., None]
  rgb = _DEPTH_COLORS[lo] * (1 - frac) + _DEPTH_COLORS[lo + 1] * frac
  if alpha is not None:
    rgb = rgb * (np.asarray(alpha) >= 0.5)[..., None]
  return (rgb * 255).astype(np.uint8)
