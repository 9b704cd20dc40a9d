"""Preprocessed clips on disk: what tools/preprocess.py writes and the
pseudo-view stage reads (config.data.source = "preprocessed").

    ROOT/<name>/frames/00000.png   aligned crops, uint8 [S, S, 3]
    ROOT/<name>/cameras.npy        float32 [T, 25] camera labels (head frame)
    ROOT/<name>/landmarks.npy      float32 [T, 68, 2] landmarks in the crop
    ROOT/<name>/clip.json          name, clip_id, fps, size, frames, source

A clip is written to a hidden temp directory and renamed when complete. Its
clip_id is a CRC of its name, so it does not depend on which other clips are
present.
"""

from __future__ import annotations

import json
import os
import zlib

import numpy as np

from p4d_jax.media import atomic
from p4d_jax.media import image_io
from p4d_jax.media import json_file
from p4d_jax.user_errors import MissingFile
from p4d_jax.user_errors import UserError

META = "clip.json"
_REDO = "rerun tools/preprocess.py on the clip's source to rewrite it."


def clip_id(name: str) -> int:
  return zlib.crc32(name.encode())


def write_clip(root: str, name: str, frames: np.ndarray, cameras: np.ndarray,
               landmarks: np.ndarray, fps: float, source: str) -> str:
  """Writes one clip atomically; returns its directory."""
  final = os.path.join(root, name)
  with atomic.atomic_dir(final) as tmp:
    os.makedirs(os.path.join(tmp, "frames"))
    for t, frame in enumerate(frames):
      with open(os.path.join(tmp, "frames", f"{t:05d}.png"), "wb") as f:
        f.write(image_io.encode_png(np.asarray(frame, np.uint8)))
    np.save(os.path.join(tmp, "cameras.npy"), np.asarray(cameras, np.float32))
    np.save(os.path.join(tmp, "landmarks.npy"),
            np.asarray(landmarks, np.float32))
    meta = dict(name=name, clip_id=clip_id(name), fps=fps,
                size=int(frames.shape[1]), frames=len(frames), source=source)
    with open(os.path.join(tmp, META), "w") as f:
      json.dump(meta, f, indent=1)
  return final


def list_clips(root: str) -> list[str]:
  """Names of the complete clips under root, sorted (hidden names are
  unfinished writes)."""
  if not os.path.isdir(root):
    raise MissingFile(f"{root} does not exist; write clips there with "
                            "tools/preprocess.py.")
  return sorted(n for n in os.listdir(root) if not n.startswith(".") and
                os.path.exists(os.path.join(root, n, META)))


def read_meta(root: str, name: str) -> dict:
  path = os.path.join(root, name, META)
  meta = json_file.read(path, _REDO)
  missing = [k for k in ("name", "clip_id", "fps", "frames")
             if not isinstance(meta, dict) or k not in meta]
  if missing:
    raise UserError(f"{path}: not a clip's metadata (no {missing}); {_REDO}")
  return meta


def _read_array(path: str) -> np.ndarray:
  try:
    return np.load(path)
  except FileNotFoundError as err:
    raise MissingFile(f"{path} does not exist; {_REDO}") from err
  except (ValueError, OSError, EOFError) as err:   # cut or foreign bytes
    raise UserError(f"{path}: not a readable .npy array ({err}); "
                    f"{_REDO}") from err


def read_clip(root: str, name: str) -> dict:
  """The clip as the pseudo-view stage wants it: `image` uint8 [T, S, S, 3],
  `camera` [T, 25], `landmarks`, `clip_id`, `clip_name`, `fps`."""
  meta = read_meta(root, name)
  path = os.path.join(root, name)
  frames = []
  for t in range(meta["frames"]):
    frames.append(image_io.read_image(
        os.path.join(path, "frames", f"{t:05d}.png")))
  return dict(image=np.stack(frames),
              camera=_read_array(os.path.join(path, "cameras.npy")),
              landmarks=_read_array(os.path.join(path, "landmarks.npy")),
              clip_id=meta["clip_id"], clip_name=meta["name"],
              fps=meta["fps"])
