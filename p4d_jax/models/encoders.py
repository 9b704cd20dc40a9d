"""Image encoders with coordinate channels (Flax NNX, NHWC): the detail CNN
and the background U-Net. Images are in [-1, 1]; both see x, y in [-1, 1]
appended as two extra channels (x first), as Portrait4D's AddCoord does.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
from flax import nnx

from p4d_jax.models import attention as A
from p4d_jax.models import sizes as sizes_lib


def add_coords(image: jax.Array) -> jax.Array:
  """[B, H, W, C] -> [B, H, W, C + 2] with x (columns) then y (rows)."""
  b, h, w, _ = image.shape
  y, x = jnp.meshgrid(jnp.linspace(-1.0, 1.0, h), jnp.linspace(-1.0, 1.0, w),
                      indexing="ij")
  coords = jnp.broadcast_to(jnp.stack([x, y], -1), (b, h, w, 2))
  return jnp.concatenate([image, coords.astype(image.dtype)], -1)


def lrelu(x):
  return jax.nn.leaky_relu(x, 0.01)


class EncoderDetail(nnx.Module):
  """7x7 stride-2 conv, then 3x3 convs, LeakyReLU(0.01) after each:
  image [B, H, W, 3] -> detail features [B, H/2, W/2, width]."""

  def __init__(self, sizes: sizes_lib.DetailSizes, rngs: nnx.Rngs):
    s = sizes
    self.stem = A.conv(s.in_channels + 2, s.stem, 7, rngs, stride=2)
    self.convs = nnx.List([A.conv(s.stem if i == 0 else s.width, s.width, 3,
                                  rngs) for i in range(s.convs)])

  def __call__(self, image: jax.Array) -> jax.Array:
    x = lrelu(self.stem(add_coords(image)))
    for layer in self.convs:
      x = lrelu(layer(x))
    return x


def upsample_nearest(x: jax.Array) -> jax.Array:
  """[B, H, W, C] -> [B, 2H, 2W, C] by repeating pixels."""
  return jnp.repeat(jnp.repeat(x, 2, axis=1), 2, axis=2)


class EncoderBackground(nnx.Module):
  """A U-Net: image [B, H, W, 3] -> background features [B, H, W, out].

  A stride-2 input conv, three (conv, strided-conv) downsamplings, a middle
  conv, four (concat skip, conv, nearest x2 + conv) upsamplings, an output
  conv; LeakyReLU(0.01) after every conv but the output one.
  """

  def __init__(self, sizes: sizes_lib.BackgroundSizes, rngs: nnx.Rngs):
    w = sizes.widths
    self.input_conv = A.conv(sizes.in_channels + 2, w[0], 3, rngs, stride=2)
    self.down = nnx.List([
        nnx.List([A.conv(w[i], w[i], 3, rngs),
                  A.conv(w[i], w[i + 1], 3, rngs, stride=2)])
        for i in range(3)])
    self.middle = A.conv(w[3], w[3], 3, rngs)
    # (input channels after the skip concat, output channels) per level.
    ups = [(2 * w[3], w[2]), (2 * w[2], w[1]), (2 * w[1], w[0]),
           (2 * w[0], w[0])]
    self.up = nnx.List([
        nnx.List([A.conv(c_in, c_out, 3, rngs), A.conv(c_out, c_out, 3, rngs)])
        for c_in, c_out in ups])
    self.out_conv = A.conv(w[0], sizes.out_channels, 3, rngs)

  def __call__(self, image: jax.Array) -> jax.Array:
    h = lrelu(self.input_conv(add_coords(image)))
    skips = [h]
    for conv, down in self.down:
      h = down(lrelu(conv(h)))
      skips.append(h)
    h = lrelu(self.middle(h))
    for (conv, up), skip in zip(self.up, reversed(skips)):
      h = lrelu(conv(jnp.concatenate([h, skip], -1)))
      h = up(upsample_nearest(h))
    return self.out_conv(h)
