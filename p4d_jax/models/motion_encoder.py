"""The motion encoder: a driving image -> a motion vector for Psi's
cross-attention (Portrait4D's role for PD-FGC's 548-d embedding).

A small strided CNN with global average pooling, trained jointly with Psi
by default. Whatever the encoder sees of the driving image can leak its
identity into the reenactment; what limits that here is the bottleneck
(`dim`, 548 at paper size like PD-FGC, 16 in tiny), the pooling (no spatial
layout survives), and training on pseudo views of the driving frame (90% of
steps) whose identity differs in detail from the real frame the loss sees.
The `learned` and `pretrained` motion sources (`models.motion`) use it; the
latter reads trained weights from a run and keeps them frozen.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
from flax import nnx

from p4d_jax.models import attention as A
from p4d_jax.models import encoders
from p4d_jax.models import sizes as sizes_lib


class MotionEncoder(nnx.Module):
  """image [B, S, S, 3] in [-1, 1] -> motion [B, dim]."""

  def __init__(self, sizes: sizes_lib.MotionSizes, rngs: nnx.Rngs):
    widths = (5,) + tuple(sizes.widths)   # RGB + coordinate channels
    self.convs = nnx.List([A.conv(a, b, 3, rngs, stride=2)
                           for a, b in zip(widths[:-1], widths[1:])])
    self.head = A.linear(widths[-1], sizes.dim, rngs)

  def __call__(self, image: jax.Array) -> jax.Array:
    x = encoders.add_coords(image)
    for conv in self.convs:
      x = encoders.lrelu(conv(x))
    motion = self.head(jnp.mean(x, axis=(1, 2)))
    # Unit RMS, like PD-FGC's embeddings: the fresh CNN's raw output is about
    # 1e-3, so small that the motion tokens were nearly constant and Psi
    # learnt to ignore the driver (the eye and mouth metrics showed it).
    return motion * jax.lax.rsqrt(jnp.mean(jnp.square(motion), axis=-1,
                                           keepdims=True) + 1e-12)

