"""grain input pipelines over the project's TFDS data sets.

`synthheads(kind, size, split)` opens a built SynthHeads data set for random
access and decodes every stored PNG into uint8 arrays:

    ds = pipeline.synthheads("multiview", "small", "train", data_dir=DIR,
                             seed=0)
    example = ds[0]   # example["image"]: uint8 [V, H, W, 3]

Training adds batching and per-host sharding on top of this MapDataset.
"""

from __future__ import annotations


import grain
import numpy as np

from p4d_jax.data import builders
from p4d_jax.media import image_io
from p4d_jax.user_errors import MissingFile

# Fields stored as encoded images, anywhere in an example.
IMAGE_FIELDS = ("image", "mask")


def decode_images(example: dict, where: str = "example") -> dict:
  """Decodes PNG fields (any leading dims) to uint8 arrays, recursively."""
  out = {}
  for key, value in example.items():
    name = f"{where}.{key}"
    if isinstance(value, dict):
      out[key] = decode_images(value, name)
    elif key in IMAGE_FIELDS:
      flat = np.asarray(value, dtype=object)
      images = [image_io.decode_image(b, f"{name}[{i}]")
                for i, b in enumerate(flat.reshape(-1))]
      out[key] = np.stack(images).reshape(*flat.shape, *images[0].shape)
    else:
      out[key] = value
  return out


def synthheads(kind: str, size: str, split: str, data_dir: str,
               seed: int | None = None, **overrides) -> grain.MapDataset:
  """A decoded grain MapDataset over a built SynthHeads data set.

  `seed` shuffles (None keeps the stored order). A data set that has not been
  built raises a MissingFile error that says how to build it.
  """
  builder = builders.make(kind, size, data_dir=data_dir, **overrides)
  if not builders.is_built(builder):
    sets = " ".join(f"--set {k}={v}" for k, v in overrides.items())
    raise MissingFile(
        f"SynthHeads {kind}/{builder.builder_config.name} is not built in "
        f"{data_dir}. Build it with: bash launch/run.sh python "
        f"tools/make_synthheads.py --kinds {kind} --size {size} "
        f"--data_dir {data_dir} {sets}".rstrip())
  source = builder.as_data_source(split)
  ds = grain.MapDataset.source(source)
  if seed is not None:
    ds = ds.shuffle(seed=seed)
  return ds.map(lambda ex: decode_images(ex, f"{kind}/{split}"))
