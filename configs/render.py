"""Renderer settings as an ml_collections config.

  get_config("p4d")    Portrait4D-v2: box 1.3, auto-plane range, 48 + 48 samples
  get_config("eg3d")   EG3D FFHQ: box 1, range [2.25, 3.3], EG3D plane axes
  get_config("tiny")   Portrait4D with 12 + 12 samples, for tests and smoke runs

Other configs embed this as their `render` section; code turns it into a
`p4d_jax.rendering.render_config.RenderConfig` with
`RenderConfig.from_config(cfg)`.
"""

import ml_collections

import configs

from p4d_jax.rendering import render_config


def get_config(arg: str = "p4d") -> ml_collections.ConfigDict:
  presets = {"p4d": ("p4d", {}), "eg3d": ("eg3d", {}),
             "tiny": ("p4d", dict(num_coarse=12, num_fine=12))}
  name, overrides = configs.pick(presets, arg, "render")
  return ml_collections.ConfigDict(
      render_config.RenderConfig.preset(name, **overrides).config_fields())
