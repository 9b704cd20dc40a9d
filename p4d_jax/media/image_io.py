"""Images as arrays: [-1, 1] float <-> uint8, PNG bytes for records, and
image files read as 8-bit RGB whatever their bit depth and channels.

    image_io.to_float(uint8)           # float32 in [-1, 1], the models' range
    image_io.to_uint8(float)           # back, rounded and clipped
    image_io.read_image("face.png")    # uint8 [H, W, 3]
    image_io.write_image("out.png", image)   # atomically
"""

from __future__ import annotations

import io
import os

import numpy as np
from PIL import Image

from p4d_jax.media import atomic
from p4d_jax.user_errors import MissingFile
from p4d_jax.user_errors import UserError

# Still-image files, by extension (everything else is read as a video).
IMAGE_EXTENSIONS = (".png", ".jpg", ".jpeg", ".bmp", ".webp", ".tif", ".tiff")

# PIL decodes 16-bit colour PNGs to 8 bits by keeping each sample's high
# byte (truncation). Decoding again with the byte order swapped gives the low
# bytes, so the samples can be rounded instead. LA;16B has no swapped
# unpacker; 8-bit RGBA has the same 4 bytes per pixel: [L hi, L lo, A hi, A lo].
_LOW_BYTES = {"RGB;16B": "RGB;16L", "RGBA;16B": "RGBA;16L", "LA;16B": "RGBA"}


def to_uint8(image: np.ndarray) -> np.ndarray:
  """Float image in [-1, 1] (any shape) -> uint8, rounded, out of range
  clipped."""
  return np.clip(np.rint((np.asarray(image) + 1.0) * 127.5), 0,
                 255).astype(np.uint8)


def to_float(image: np.ndarray) -> np.ndarray:
  """uint8 image (any shape) -> float32 in [-1, 1]."""
  return np.asarray(image, np.float32) / 127.5 - 1.0


def encode_png(image: np.ndarray) -> bytes:
  """uint8 [H, W, 3] or [H, W] -> PNG bytes (fast compression: records)."""
  image = np.asarray(image)
  if image.dtype != np.uint8 or image.ndim not in (2, 3):
    raise ValueError(f"encode_png wants uint8 [H, W(, 3)], got {image.dtype} "
                     f"{image.shape}.")
  buffer = io.BytesIO()
  Image.fromarray(image).save(buffer, format="PNG", compress_level=1)
  return buffer.getvalue()


def _round_16(samples: np.ndarray) -> np.ndarray:
  """16-bit samples -> 8 bits, rounded (65535 -> 255, 257 * k -> k)."""
  return np.rint(samples.astype(np.float64) / 257.0).astype(np.uint8)


def _png_16bit_colour(data: bytes, image: Image.Image) -> np.ndarray:
  """uint8 [H, W] or [H, W, 3] of a 16-bit RGB(A) / LA PNG; `image` is
  opened, not yet loaded."""
  rawmode = image.tile[0].args
  with Image.open(io.BytesIO(data)) as again:
    again.tile = [t._replace(args=_LOW_BYTES[rawmode]) for t in again.tile]
    low = np.asarray(again).astype(np.uint16)
  if rawmode == "LA;16B":   # `low` holds all four bytes
    return _round_16(low[..., 0] * 256 + low[..., 1])
  high = np.asarray(image).astype(np.uint16)
  return _round_16(high[..., :3] * 256 + low[..., :3])


def _pixels(data: bytes, image: Image.Image) -> np.ndarray:
  """uint8 [H, W] (grey) or [H, W, 3] (colour) of an opened image; alpha is
  dropped, palettes are expanded."""
  mode = image.mode
  if (image.format == "PNG" and len(image.tile) == 1 and
      image.tile[0].args in _LOW_BYTES):
    return _png_16bit_colour(data, image)
  if mode.startswith("I;16"):   # 16-bit grey
    return _round_16(np.asarray(image))
  if mode == "L":
    return np.asarray(image)
  if mode in ("1", "LA", "La"):
    return np.asarray(image.convert("L"))
  if mode in ("P", "PA"):   # via RGBA: a palette's transparency stays quiet
    return np.asarray(image.convert("RGBA"))[..., :3]
  return np.asarray(image.convert("RGB"))


def _not_an_image(where: str, data: bytes, err: Exception) -> UserError:
  return UserError(f"{where}: not an image ({len(data)} bytes; {err})")


def decode_image(data: bytes, where: str) -> np.ndarray:
  """Image bytes (PNG, JPEG, ...) -> uint8 [H, W] (grey) or [H, W, 3]; 16-bit
  samples rounded to 8 bits, alpha dropped. `where` names the bytes in
  errors."""
  if not data:
    raise UserError(f"{where}: empty file (0 bytes)")
  try:
    image = Image.open(io.BytesIO(data))
  except Exception as err:  # PIL raises several types for bad bytes.
    raise _not_an_image(where, data, err) from err
  with image:
    if image.mode in ("I", "F"):
      raise UserError(f"{where}: {image.mode} (32-bit) pixels have no "
                       "standard 8-bit scale; save the image as 8 or 16 bit.")
    try:
      return np.ascontiguousarray(_pixels(data, image))
    except Exception as err:  # damaged data fails only when decoded
      raise _not_an_image(where, data, err) from err


def read_image(path: str) -> np.ndarray:
  """An image file -> uint8 RGB [H, W, 3] (grey made three channels)."""
  if not os.path.isfile(path):
    raise MissingFile(f"{path} does not exist.")
  with open(path, "rb") as f:
    image = decode_image(f.read(), path)
  return image if image.ndim == 3 else np.repeat(image[..., None], 3, axis=-1)


def write_image(path: str, image: np.ndarray) -> str:
  """Writes uint8 [H, W, 3] or [H, W] atomically, the format from the
  extension; returns `path`."""
  with atomic.atomic_path(path) as tmp:
    Image.fromarray(np.asarray(image)).save(tmp)
  return path
