"""An adapted avatar on disk: a Psi run directory (`p4d_jax.run_weights`, the
project's one weights format) plus its source.

    AVATAR/config.json          the Psi run's config (task psi4d)
    AVATAR/checkpoints/0/       params = ema = Psi with the deltas merged;
                                `source` = the adapted source state
    AVATAR/avatar.json          what made it: the Psi run, the inputs, the
                                calibrated labels, the adaptation config
    AVATAR/source.png           the first input (reenactment shows it)

So `runs.load_run(AVATAR)` reads it as any Psi run, and `load` adds the
source state that `inference.avatar.Avatar.render` animates. The directory
is written under a temporary name and renamed when complete.
"""

from __future__ import annotations

import json
import os

import jax
import numpy as np

from p4d_jax import run_weights
from p4d_jax.media import atomic
from p4d_jax.media import image_io
from p4d_jax.media import json_file
from p4d_jax.tasks import runs
from p4d_jax.user_errors import MissingFile

META = "avatar.json"
SOURCE_IMAGE = "source.png"


def save(path: str, run: runs.Run, params, source: dict, about: dict,
         source_image: np.ndarray) -> str:
  """Writes the avatar (`about`: JSON-able facts for avatar.json;
  `source_image` uint8 [S, S, 3])."""
  config = json.loads(run.config.to_json_best_effort())
  with atomic.atomic_dir(path) as tmp:
    run_weights.write(tmp, config, params,
                      extra=dict(source=jax.tree.map(np.asarray, source)))
    atomic.write_json(os.path.join(tmp, META), about, indent=2)
    atomic.write_bytes(os.path.join(tmp, SOURCE_IMAGE),
                       image_io.encode_png(source_image))
  return path


def load(path: str, defaults: runs.Defaults) -> tuple[runs.Run, dict, dict]:
  """An avatar directory -> (its Psi run with the adapted parameters, the
  source state [1, ...], avatar.json)."""
  meta_path = os.path.join(path, META)
  if not os.path.exists(meta_path):
    raise MissingFile(f"{path} is not an adapted avatar (no {META}); "
                      "tools/adapt.py --out=DIR writes one.")
  about = json_file.read(meta_path, "the avatar is damaged: run "
                         "tools/adapt.py again.")
  run = runs.load_run(path, defaults=defaults, task="psi4d")
  like = about["source_shapes"]
  abstract = {k: jax.ShapeDtypeStruct(tuple(v), np.float32)
              for k, v in like.items()}
  source = run_weights.read_params(path, abstract, item="source")
  return run, source, about


def source_shapes(source: dict) -> dict:
  """{name: shape} of a source state, as avatar.json stores it."""
  return {k: list(np.shape(v)) for k, v in source.items()}


def source_image(path: str) -> np.ndarray:
  """The avatar's first input, uint8 [S, S, 3]."""
  return image_io.read_image(os.path.join(path, SOURCE_IMAGE))
