"""The pseudo multi-view stage (tools/precompute_pseudo_views.py) as a config.

  get_config("tiny")   SynthHeads `clips/small` (64 clips x 32 frames, 64^2)
                       through a configs/psi3d.py:tiny run: 4 views a frame,
                       8 shards
  get_config("small")  SynthHeads `clips/demo128` (24 clips x 48 frames,
                       128^2) through a configs/psi3d.py:small run: 4 views,
                       8 shards
  get_config("base")   SynthHeads `clips/base` (1,024 clips x 64 frames,
                       128^2) through a Psi3d trained at 128^2: 4 views, 64
                       shards

`data.source` is "synthheads" (a built SynthHeads clips set: `size`,
`split`, `data_dir`) or "preprocessed" (tools/preprocess.py's output root in
`data_dir`). `checkpoint` is the Psi3d run directory (launch.main's --workdir); its EMA
weights render. `cameras` are Portrait4D's random-view ranges (radians and
world units, `rendering.camera_settings.RandomViewRanges`). Everything but
`frames_per_batch`'s effect on speed decides the records' bytes and is
saved to OUT/settings.json; a rerun with other settings into the same
directory is refused.
"""

import dataclasses

import ml_collections

import configs

from p4d_jax.rendering import camera_settings


def get_config(arg: str = "tiny") -> ml_collections.ConfigDict:
  presets = {"tiny": dict(size="small", shards=8),
             "small": dict(size="demo128", shards=8),
             "base": dict(size="base", shards=64)}
  p = configs.pick(presets, arg, "pseudo_views")
  config = ml_collections.ConfigDict()
  config.checkpoint = ""          # required: a Psi3d run directory
  config.checkpoint_step = -1     # -1: its newest checkpoint
  config.data = ml_collections.ConfigDict(dict(
      source="synthheads", size=p["size"], split="train", data_dir=""))
  config.views = 4
  config.cameras = ml_collections.ConfigDict(
      dataclasses.asdict(camera_settings.RandomViewRanges()))
  config.seed = 0
  config.num_shards = p["shards"]
  config.frames_per_batch = 8
  config.store_masks = True
  config.store_depth = True
  return config
