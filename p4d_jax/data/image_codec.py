"""Lossless image bytes for records: PNG in, PNG out, with named errors."""

from __future__ import annotations

import io

import numpy as np
from PIL import Image


def encode_png(image: np.ndarray) -> bytes:
  """uint8 [H, W, 3] or [H, W] -> PNG bytes."""
  image = np.asarray(image)
  if image.dtype != np.uint8 or image.ndim not in (2, 3):
    raise ValueError(f"encode_png wants uint8 [H, W(, 3)], got {image.dtype} "
                     f"{image.shape}.")
  buffer = io.BytesIO()
  Image.fromarray(image).save(buffer, format="PNG", compress_level=1)
  return buffer.getvalue()


def decode_png(data: bytes, what: str = "image") -> np.ndarray:
  """PNG (or any PIL-readable) bytes -> uint8 array; `what` names the culprit."""
  try:
    with Image.open(io.BytesIO(data)) as img:
      return np.asarray(img)
  except Exception as err:  # PIL raises several types for bad bytes.
    raise ValueError(f"Cannot decode {what} ({len(data)} bytes): {err}. The "
                     "record is corrupt; rebuild the data set.") from err
