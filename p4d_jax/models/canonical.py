"""The canonical transformer (Portrait4D's EncoderCanonical), Flax NNX.

Global features -> overlapping patch tokens -> `neutral_blocks` BlockCross
attending to the SOURCE motion tokens (to neutralise the expression) ->
`motion_blocks` BlockCross attending to the DRIVING motion tokens (to
re-animate) -> pixel shuffle and an upsampling conv head -> canonical features.
Motion vectors become tokens through an MLP and one wide Linear. With
motion_scale 0 the cross-attention drops out: that network is Psi3d.
"""

from __future__ import annotations

import math

import jax
from flax import nnx

from p4d_jax.models import attention as A
from p4d_jax.models import remat
from p4d_jax.models import sizes as sizes_lib


class MotionTokens(nnx.Module):
  """motion [B, D] -> MLP (LeakyReLU 0.01) -> Linear -> tokens [B, G*G, dim].

  Fan-in scaled init (He for the MLP), so unit-RMS motion gives tokens of
  unit size, like the image tokens they meet. SegFormer's std-0.02 init,
  used everywhere else, shrinks the motion about 1000x over three layers;
  Psi then trained as if there were no driver (the eye and mouth metrics
  did not move in 1,200 steps)."""

  def __init__(self, s: sizes_lib.CanonicalSizes, rngs: nnx.Rngs):
    self.maps = nnx.List([A.fan_in_linear(s.motion_dim, s.motion_hidden,
                                          rngs, gain=2.0),
                          A.fan_in_linear(s.motion_hidden, s.motion_hidden,
                                          rngs, gain=2.0)])
    self.proj_y = A.fan_in_linear(s.motion_hidden, s.motion_grid**2 * s.dim,
                                  rngs)
    self.tokens = s.motion_grid**2

  def __call__(self, motion: jax.Array) -> jax.Array:
    h = motion
    for layer in self.maps:
      h = jax.nn.leaky_relu(layer(h), 0.01)
    y = self.proj_y(h)
    return y.reshape(y.shape[0], self.tokens, -1)


class EncoderCanonical(nnx.Module):
  """Global features [B, H, W, C_in] -> canonical features [B, 4H, 4W, C_out]."""

  def __init__(self, sizes: sizes_lib.CanonicalSizes, rngs: nnx.Rngs):
    s = sizes
    self.patch_embed = A.OverlapPatchEmbed(s.in_channels, s.dim, rngs)
    self.neutral_motion = MotionTokens(s, rngs)
    self.driving_motion = MotionTokens(s, rngs)
    fan_in = s.cross_init == "fan_in"
    block = lambda: A.BlockCross(s.dim, s.heads, s.mlp_ratio, rngs,  # noqa
                                 fan_in_cross=fan_in)
    self.trans_blocks_neutral = nnx.List([block()
                                          for _ in range(s.neutral_blocks)])
    self.trans_blocks_motion = nnx.List([block()
                                         for _ in range(s.motion_blocks)])
    self.remat = "none"   # the blocks' policy (models/remat.py)
    shuffled = s.dim // 4
    self.conv_up1 = A.conv(shuffled, s.head_channels, 3, rngs)
    self.conv_up2 = A.conv(s.head_channels, s.head_channels, 3, rngs)
    self.conv_out = A.conv(s.head_channels, s.out_channels, 3, rngs)

  def neutralise(self, features: jax.Array, source_motion: jax.Array,
                 motion_scale: jax.Array) -> jax.Array:
    """features [B, H, W, C_in], source motion [B, D], motion_scale [B] ->
    neutral tokens [B, H/2, W/2, dim]: what depends on the source alone, so
    a reenactment computes it once per source."""
    x, grid = self.patch_embed(features)
    neutral = self.neutral_motion(source_motion)
    for blk in self.trans_blocks_neutral:
      x = remat.apply(blk, self.remat, x, grid, neutral, motion_scale)
    return x.reshape(x.shape[0], *grid, x.shape[-1])

  def animate(self, neutral: jax.Array, driving_motion: jax.Array,
              motion_scale: jax.Array) -> jax.Array:
    """Neutral tokens [B, h, w, dim], driving motion [B, D] -> canonical
    features [B, 8h, 8w, C_out]."""
    return self.decode(self.reenact(neutral, driving_motion, motion_scale))

  def reenact(self, neutral: jax.Array, driving_motion: jax.Array,
              motion_scale: jax.Array) -> jax.Array:
    """Neutral tokens [B, h, w, dim] -> the motion blocks' tokens (same
    shape), driven by motion [B, D]."""
    b, h, w, c = neutral.shape
    x, grid = neutral.reshape(b, h * w, c), (h, w)
    driving = self.driving_motion(driving_motion)
    for blk in self.trans_blocks_motion:
      x = remat.apply(blk, self.remat, x, grid, driving, motion_scale)
    return x.reshape(b, h, w, c)

  def decode(self, tokens: jax.Array) -> jax.Array:
    """Tokens [B, h, w, dim] -> pixel shuffle -> the conv head ->
    canonical features [B, 8h, 8w, C_out]."""
    x = A.pixel_shuffle(tokens)
    x = jax.nn.relu(self.conv_up1(A.upsample_bilinear(x)))
    x = jax.nn.relu(self.conv_up2(A.upsample_bilinear(x)))
    return self.conv_out(x)

  def __call__(self, features: jax.Array, source_motion: jax.Array,
               driving_motion: jax.Array, motion_scale: jax.Array) -> jax.Array:
    """features [B, H, W, C_in]; motions [B, D]; motion_scale [B]."""
    return self.animate(self.neutralise(features, source_motion, motion_scale),
                        driving_motion, motion_scale)


def parameter_count(module: nnx.Module) -> int:
  """Number of parameter elements of a module (an `nnx.eval_shape` one too)."""
  return sum(math.prod(x.shape)
             for x in jax.tree.leaves(nnx.state(module, nnx.Param)))
