"""Frame sequences in and out: videos (mp4, gif, ...), folders of images and
single images as uint8 RGB [T, H, W, 3].

    frames, fps = video_io.read_frames("talk.mp4")  # None for stills, folders
    video_io.write_video("out.mp4", frames, fps=25)  # atomically
"""

from __future__ import annotations

import contextlib
import os
import subprocess
import warnings
from typing import Sequence

import imageio.v2 as imageio
import imageio.v3 as iio
import numpy as np

from p4d_jax.media import atomic
from p4d_jax.media import image_io
from p4d_jax.user_errors import MissingFile
from p4d_jax.user_errors import UserError

DEFAULT_FPS = 25.0   # for videos that do not say


@contextlib.contextmanager
def quiet_fork():
  """imageio's ffmpeg forks a subprocess that execs at once, so JAX's warning
  about forking a multithreaded process does not apply."""
  with warnings.catch_warnings():
    warnings.filterwarnings("ignore", message="os.fork",
                            category=RuntimeWarning)
    yield


def read_folder(directory: str) -> tuple[list[str], np.ndarray]:
  """(names, uint8 [T, H, W, 3]) of a folder's images, in name order."""
  if not os.path.isdir(directory):
    raise MissingFile(f"{directory} does not exist.")
  names = sorted(n for n in os.listdir(directory)
                 if n.lower().endswith(image_io.IMAGE_EXTENSIONS))
  if not names:
    raise UserError(f"{directory} holds no images "
                     f"({', '.join(image_io.IMAGE_EXTENSIONS)}).")
  frames = [image_io.read_image(os.path.join(directory, n)) for n in names]
  shapes = {f.shape for f in frames}
  if len(shapes) > 1:
    raise UserError(f"The images in {directory} differ in size: "
                     f"{sorted(shapes)}.")
  return names, np.stack(frames)


def _fps(path: str, meta: dict) -> float:
  if path.lower().endswith(".gif") and meta.get("duration"):
    return 1000.0 / float(meta["duration"])   # a GIF frame's milliseconds
  return float(meta.get("fps") or DEFAULT_FPS)


def _ffmpeg_scan(path: str) -> tuple[int, str]:
  """(video frames ffmpeg finds in `path` without decoding them, its first
  error line or ""): what is wrong with a file imageio fails on or reads
  short."""
  import imageio_ffmpeg  # pylint: disable=import-outside-toplevel
  with quiet_fork():
    result = subprocess.run(
        [imageio_ffmpeg.get_ffmpeg_exe(), "-nostdin", "-v", "error", "-i",
         path, "-map", "0:v:0?", "-c", "copy", "-f", "null", "-progress",
         "pipe:1", "-nostats", "-"], capture_output=True, text=True,
        check=False)
  frames = [int(line[len("frame="):]) for line in result.stdout.splitlines()
            if line.startswith("frame=")]
  errors = [line.split("] ", 1)[-1].rstrip(".")
            for line in result.stderr.splitlines()]
  return (frames[-1] if frames else 0), (errors[0] if errors else "")


def _what_is_wrong(path: str, err: Exception) -> str:
  """Why imageio could not read `path`, in the user's terms."""
  frames, error = _ffmpeg_scan(path)
  with open(path, "rb") as f:
    mp4 = f.read(8)[4:] == b"ftyp"   # every MP4/MOV starts with this box
  if "moov atom not found" in error and mp4:
    return ("video truncated: its index (the 'moov' atom) is missing, as in "
            "a cut download or an unfinished write")
  if frames:
    return f"video truncated at frame {frames} ({error or err})"
  if mp4 or "does not contain any stream" in error:
    return "video has no frames"
  return f"not a video ({error or err})"


def _expected_frames(path: str, meta: dict) -> int | None:
  """The frame count a video's header promises (None for GIFs and videos
  that do not say)."""
  duration, fps = meta.get("duration"), meta.get("fps")
  if path.lower().endswith(".gif") or not duration or not fps or \
      not np.isfinite(duration * fps):
    return None
  return int(round(duration * fps))


def read_video(path: str) -> tuple[np.ndarray, float]:
  """A video file (mp4, gif, ...) -> uint8 RGB [T, H, W, 3] and its fps. An
  empty, cut or frameless file is a user error that says which."""
  if not os.path.isfile(path):
    raise MissingFile(f"{path} does not exist.")
  if not os.path.getsize(path):
    raise UserError(f"{path}: empty file (0 bytes)")
  try:
    # One open file for frames and metadata: one ffmpeg process, not two
    # (each has 10 s to report the header, which a busy machine can miss).
    with quiet_fork(), iio.imopen(path, "r") as file:
      frames = np.asarray(file.read(index=...))
      meta = file.metadata()
  except Exception as err:  # imageio raises many types for bad files
    raise UserError(f"{path}: {_what_is_wrong(path, err)}.") from err
  expected = _expected_frames(path, meta)
  if expected and len(frames) < expected - 1:   # a cut file decodes short
    _, error = _ffmpeg_scan(path)
    if error:
      raise UserError(f"{path}: video truncated at frame {len(frames)} (its "
                      f"header says {expected}; {error}).")
  if frames.ndim == 3:   # grey frames
    frames = np.repeat(frames[..., None], 3, axis=-1)
  if frames.ndim != 4 or frames.shape[-1] not in (3, 4) or \
      frames.dtype != np.uint8:
    raise UserError(f"{path}: frames of {frames.dtype} {frames.shape[1:]} "
                    "are not 8-bit RGB images.")
  return np.ascontiguousarray(frames[..., :3]), _fps(path, meta)


def read_frames(path: str) -> tuple[np.ndarray, float | None]:
  """uint8 RGB frames [T, H, W, 3] of a video, an image (T = 1) or a folder
  of images (in name order), and the fps (None for images and folders)."""
  if os.path.isdir(path):
    return read_folder(path)[1], None
  if path.lower().endswith(image_io.IMAGE_EXTENSIONS):
    return image_io.read_image(path)[None], None
  return read_video(path)


def _write_h264(path: str, frames, fps: float) -> None:
  # macro_block_size=1: odd sizes are written as they are, not resized.
  with quiet_fork(), imageio.get_writer(path, fps=fps, codec="libx264",
                                     quality=8, macro_block_size=1,
                                     format="FFMPEG") as writer:
    for frame in frames:
      writer.append_data(np.asarray(frame))


def write_video(path: str, frames: Sequence[np.ndarray] | np.ndarray,
                fps: float = 24) -> str:
  """Writes uint8 frames [T, H, W, 3] atomically: a GIF for a .gif path,
  else H.264 (mp4). Returns `path`."""
  with atomic.atomic_path(path) as tmp:
    if path.lower().endswith(".gif"):
      iio.imwrite(tmp, np.stack([np.asarray(f) for f in frames]),
                  duration=1000.0 / fps, loop=0)
    else:
      _write_h264(tmp, frames, fps)
  return path
