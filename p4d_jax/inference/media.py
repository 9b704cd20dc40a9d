"""Source and driving inputs for a reenactment: frames the model's size and a
camera label per frame, from whatever the user has.

    synthheads:clips/SIZE/SPLIT:I[:T]   SynthHeads clip I (frame T), exact cameras
    DIR with clip.json                  a clip from tools/preprocess.py
    DIR of images                       the images in name order, as frames
    IMAGE / VIDEO / GIF                 any size; the face is found, aligned and
                                        posed as tools/preprocess.py does

Frames without a detectable face (or with `align=False`) are centre-cropped
and resized, with the frontal camera, and a message says so.
"""

from __future__ import annotations

import dataclasses
import os

import numpy as np
from PIL import Image

from p4d_jax.data import builders
from p4d_jax.data import clip_files
from p4d_jax.data import pipeline
from p4d_jax.data.faces import landmarks
from p4d_jax.data.faces import preprocess
from p4d_jax.data.synthheads import speech
from p4d_jax.inference import avatar
from p4d_jax.media import video_io
from p4d_jax.user_errors import UserError

SYNTHHEADS = "synthheads:"
DEFAULT_FPS = 25.0


@dataclasses.dataclass
class Frames:
  images: np.ndarray    # uint8 [T, S, S, 3]
  cameras: np.ndarray   # float32 [T, 25] head-frame camera labels
  fps: float
  note: str             # where the frames came from and what was done
  # SynthHeads clips only: the exact head (identity, lighting, background),
  # per-frame expression [T, 6] (evaluation/jaw_follow.py reads them) and
  # foreground mask [T, S, S] in [0, 1] (tools/adapt.py fits to them).
  truth: dict | None = None

  def frames(self, pick: slice) -> "Frames":
    """These frames' `pick`, with their per-frame truth."""
    truth = self.truth and dict(
        self.truth, **{k: self.truth[k][pick] for k in PER_FRAME_TRUTH})
    return dataclasses.replace(self, images=self.images[pick],
                               cameras=self.cameras[pick], truth=truth)


PER_FRAME_TRUTH = ("expression", "mask")


def _synthheads_clip(spec: str, data_dir: str) -> tuple[dict, list, str]:
  """(the stored clip, [FRAME] or [], the set's size name) of
  synthheads:clips/SIZE/SPLIT:INDEX[:FRAME]."""
  try:
    what, index, *frame = spec[len(SYNTHHEADS):].split(":")
    kind, set_size, split = what.split("/")
    index, frame = int(index), [int(f) for f in frame]
  except ValueError as err:
    raise UserError(f"{spec!r}: write synthheads:clips/SIZE/SPLIT:INDEX"
                     "[:FRAME], e.g. synthheads:clips/small/test:3.") from err
  if kind != "clips":
    raise UserError(f"{spec!r}: only SynthHeads clips can be read here.")
  ds = pipeline.synthheads("clips", set_size, split,
                           builders.data_dir(data_dir))
  if not 0 <= index < len(ds):
    raise UserError(f"{spec!r}: the set has clips 0..{len(ds) - 1}.")
  return ds[index], frame, set_size


def _synthheads(spec: str, size: int, data_dir: str) -> Frames:
  ex, frame, set_size = _synthheads_clip(spec, data_dir)
  images, labels = np.asarray(ex["image"]), np.asarray(ex["camera"], np.float32)
  truth = {k: np.asarray(ex[k], np.float32)
           for k in ("identity", "lighting", "background", "expression")}
  truth["mask"] = np.asarray(ex["mask"], np.float32) / 255.0
  out = Frames(images, labels, builders.SIZES[set_size].fps,
               f"{spec}: {len(images)} frame(s) with exact cameras", truth)
  if frame:
    if not 0 <= frame[0] < len(images):
      raise UserError(f"{spec!r}: clip has frames 0..{len(images) - 1}.")
    out = out.frames(slice(frame[0], frame[0] + 1))
    out.note = f"{spec}: 1 frame(s) with exact cameras"
  _check_size(out.images, size, spec)
  return out


def synthheads_speech(spec: str, data_dir: str = "") -> np.ndarray:
  """The speech [N] (16 kHz) of synthheads:clips/SIZE/SPLIT:INDEX, derived
  from its stored expression track and identity (`synthheads.speech`)."""
  ex, _, set_size = _synthheads_clip(spec, data_dir)
  built = builders.SIZES[set_size]
  return speech.clip_audio(np.asarray(ex["expression"]), built.fps,
                           built.seed, int(ex["identity_index"]))


def _check_size(images: np.ndarray, size: int, where: str):
  if images.shape[1:3] != (size, size):
    raise UserError(f"{where} is {images.shape[1]}x{images.shape[2]}; the "
                     f"model takes {size}x{size}. Use a SynthHeads set or "
                     "clip of that size.")


def centre_crop(frames: np.ndarray, size: int) -> np.ndarray:
  """uint8 [T, H, W, 3] -> the central square, resized to [T, size, size, 3]."""
  h, w = frames.shape[1:3]
  side = min(h, w)
  top, left = (h - side) // 2, (w - side) // 2
  return np.stack([np.asarray(Image.fromarray(
      f[top:top + side, left:left + side]).resize((size, size),
                                                   Image.Resampling.LANCZOS))
                   for f in frames])


def _align(frames: np.ndarray, fps: float | None, size: int, where: str,
           align: bool, face_index: int, require_face: bool) -> Frames:
  fps_out = fps or DEFAULT_FPS
  shape = f"{frames.shape[2]}x{frames.shape[1]}"
  reason = "alignment off"
  if align:
    try:
      clip = preprocess.process(frames, fps, size, landmarks.FaceFinder(),
                                where, face_index)
      return Frames(clip["frames"], clip["cameras"].astype(np.float32),
                    fps_out, f"{where}: {len(frames)} frame(s) of {shape}, "
                    f"face aligned and posed, cropped to {size}x{size}")
    except (landmarks.NoFaceError, ImportError) as err:  # no face / no dlib
      if require_face:
        raise
      reason = str(err)
  label = avatar.view_label()
  return Frames(centre_crop(frames, size),
                np.repeat(label[None], len(frames), axis=0), fps_out,
                f"{where}: {len(frames)} frame(s) of {shape}, centre-cropped "
                f"and resized to {size}x{size} with the frontal camera "
                f"({reason})")


def load(spec: str, size: int, *, align: bool = True, face_index: int = 0,
         max_frames: int | None = None, data_dir: str = "",
         require_face: bool = False) -> Frames:
  """Frames of `spec` (see the module doc) at the model's `size`.
  `require_face`: an image or video frame without a face is an error
  (instead of a centre crop with the frontal camera)."""
  if spec.startswith(SYNTHHEADS):
    out = _synthheads(spec, size, data_dir)
  elif os.path.isdir(spec) and os.path.exists(os.path.join(spec,
                                                           clip_files.META)):
    root, name = os.path.split(os.path.normpath(spec))
    clip = clip_files.read_clip(root, name)
    _check_size(clip["image"], size, spec)
    out = Frames(clip["image"], np.asarray(clip["camera"], np.float32),
                 clip["fps"] or DEFAULT_FPS,
                 f"{spec}: a preprocessed clip of {len(clip['image'])} frames")
  else:
    frames, fps = video_io.read_frames(spec)
    if max_frames:
      frames = frames[:max_frames]
    out = _align(frames, fps, size, spec, align, face_index, require_face)
  if max_frames:
    out = out.frames(slice(0, max_frames))
  return out
