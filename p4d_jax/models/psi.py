"""Psi: the synthesizer plus the motion encoder that drives it.

Every synthesizer parameter keeps the path it has in Psi3d, so a Psi3d
checkpoint initialises Psi directly (the motion encoder starts fresh).
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
from flax import nnx

from p4d_jax.models import motion_encoder
from p4d_jax.models import sizes as sizes_lib
from p4d_jax.models import synthesizer


class Psi(synthesizer.Synthesizer):

  def __init__(self, sizes: sizes_lib.SynthesizerSizes,
               motion: sizes_lib.MotionSizes, rngs: nnx.Rngs):
    if motion.dim != sizes.canonical.motion_dim:
      raise ValueError(f"motion.dim {motion.dim} must equal "
                       f"model.canonical.motion_dim "
                       f"{sizes.canonical.motion_dim}.")
    super().__init__(sizes, rngs)
    self.motion_encoder = motion_encoder.MotionEncoder(motion, rngs)

  def animated_planes(self, source: jax.Array, driving: jax.Array,
                      motion_scale: float | jax.Array = 1.0) -> jax.Array:
    """Source and driving images [B, S, S, 3] -> planes of the source
    identity in the driving motion; motion_scale 0 is Psi3d."""
    scale = jnp.broadcast_to(jnp.asarray(motion_scale, source.dtype),
                             source.shape[:1])
    return self.planes(source, self.motion_encoder(source),
                       self.motion_encoder(driving), scale)
