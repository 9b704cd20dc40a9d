"""The tri-plane decoder (Portrait4D's DecoderTriplane), Flax NNX, NHWC.

concat(canonical, detail) -> two convs -> overlapping patch tokens -> SegFormer
blocks with spatial-reduction attention -> pixel shuffle -> concat canonical
-> three convs -> conv_last -> [B, 3, H, W, C] planes for `rendering.triplane`
(channel k*C + c of the last conv is channel c of plane k).
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
from flax import nnx

from p4d_jax.models import attention as A
from p4d_jax.models.encoders import lrelu
from p4d_jax.models import remat
from p4d_jax.models import sizes as sizes_lib


# conv_last's init: N(0, 0.15), zero bias (the reference's choice).
_LAST_INIT = nnx.initializers.normal(0.15)


class DecoderTriplane(nnx.Module):
  """canonical [B, H, W, Cc] + detail [B, H, W, Cd] -> planes [B, 3, H, W, C]."""

  def __init__(self, sizes: sizes_lib.TriplaneSizes, rngs: nnx.Rngs):
    s = sizes
    w0, w1 = s.widths
    self.convs1 = nnx.List([
        A.conv(s.canonical_channels + s.detail_channels, w0, 3, rngs),
        A.conv(w0, w1, 3, rngs)])
    self.patch_embed = A.OverlapPatchEmbed(w1, s.dim, rngs)
    self.trans_blocks = nnx.List([
        A.Block(s.dim, s.heads, s.mlp_ratio, rngs, sr_ratio=s.sr_ratio)
        for _ in range(s.blocks)])
    self.remat = "none"   # the blocks' policy (models/remat.py)
    self.convs2 = nnx.List([
        A.conv(s.dim // 4 + s.canonical_channels, w0, 3, rngs),
        A.conv(w0, w1, 3, rngs), A.conv(w1, w1, 3, rngs)])
    self.conv_last = nnx.Conv(w1, 3 * s.plane_channels, (3, 3),
                              padding=((1, 1), (1, 1)), kernel_init=_LAST_INIT,
                              rngs=rngs)
    self.plane_channels = s.plane_channels

  def __call__(self, canonical: jax.Array, detail: jax.Array) -> jax.Array:
    x = jnp.concatenate([canonical, detail], -1)
    for layer in self.convs1:
      x = lrelu(layer(x))
    tokens, grid = self.patch_embed(x)
    for blk in self.trans_blocks:
      tokens = remat.apply(blk, self.remat, tokens, grid)
    x = A.pixel_shuffle(tokens.reshape(x.shape[0], *grid, -1))
    x = jnp.concatenate([x, canonical], -1)
    for layer in self.convs2:
      x = lrelu(layer(x))
    x = self.conv_last(x)
    b, h, w, _ = x.shape
    return x.reshape(b, h, w, 3, self.plane_channels).transpose(0, 3, 1, 2, 4)
