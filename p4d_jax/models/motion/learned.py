"""`learned`: a CNN motion encoder trained jointly with Psi (the ablation
the paper argues against; `models.motion_encoder` is the network)."""

from __future__ import annotations

from flax import nnx

from p4d_jax.models import motion_encoder
from p4d_jax.models import sizes as sizes_lib
from p4d_jax.models.motion import source


class LearnedMotion(source.MotionSource):
  reads = "image"
  trainable = True

  def sizes(self) -> sizes_lib.MotionSizes:
    return sizes_lib.MotionSizes(widths=tuple(self.cfg.widths),
                                      dim=self.dim)

  def build(self, rngs: nnx.Rngs) -> nnx.Module:
    return motion_encoder.MotionEncoder(self.sizes(), rngs)

  def encode(self, module, frames):
    return module(frames)
