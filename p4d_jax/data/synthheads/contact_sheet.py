"""A contact sheet of SynthHeads: identities x expressions x views, for eyes."""

from __future__ import annotations

import numpy as np

from p4d_jax.data.synthheads import examples
from p4d_jax.data.synthheads import params as P
from p4d_jax.media import image_io
from p4d_jax.rendering import cameras

# One column group per expression: (label, {parameter: value}).
EXPRESSIONS = (("neutral", {}), ("jaw_open", {"jaw_open": 1.0}),
               ("smile", {"smile": 1.0}), ("blink_left", {"blink_left": 1.0}),
               ("brow_raise", {"brow_raise": 1.0}), ("pucker", {"pucker": 1.0}))
YAWS = (-0.6, 0.0, 0.6)


def contact_sheet(seed: int = 0, identities: int = 4,
                  resolution: int = 96) -> np.ndarray:
  """uint8 [rows*res, cols*res, 3]: a row per identity, for each expression
  the views at `YAWS` (positive yaw moves the camera to the subject's right)."""
  spec = examples.Spec(seed=seed, resolution=resolution, supersample=2)
  scenes, cams = [], []
  frontal = dict(elevation_param=0.1, roll=0.0, radius=4.0,
                 pivot=(0.0, 0.0, 0.09))
  for ident in range(identities):
    base = examples.still_scene(spec.seed, ident)
    for _, values in EXPRESSIONS:
      expression = P.expression_vector(**values)
      for yaw in YAWS:
        scenes.append(base._replace(expression=expression))
        cams.append(np.asarray(cameras.random_view_pose(yaw, **frontal)))
  images = examples.render_raw(spec, scenes, np.stack(cams))["rgb"]
  cols = len(EXPRESSIONS) * len(YAWS)
  grid = images.reshape(identities, cols, resolution, resolution, 3)
  grid = grid.transpose(0, 2, 1, 3, 4).reshape(identities * resolution,
                                               cols * resolution, 3)
  return image_io.to_uint8(grid * 2.0 - 1.0)
