"""EG3D's dual discriminator, reduced: one network sees the super-resolved
image and the raw neural rendering together.

The raw image is upsampled to the final size and concatenated with it (6
channels), so the discriminator judges whether the two agree as well as
whether they look real. Here it is a plain residual CNN (StyleGAN2's
'resnet' layout: per resolution two 3x3 convs and a stride-2 skip) ending in
a global mean and one logit; EG3D also conditions on the camera, which this
one does not.
"""

from __future__ import annotations

import math
from typing import Sequence

import jax
import jax.numpy as jnp
from flax import nnx

from p4d_jax.models import attention


def dual_input(image: jax.Array, image_raw: jax.Array) -> jax.Array:
  """image [B, S, S, 3] and image_raw [B, R, R, 3] -> [B, S, S, 6]."""
  b, s = image.shape[0], image.shape[1]
  up = jax.image.resize(image_raw, (b, s, s, 3), "linear", antialias=False)
  return jnp.concatenate([image, up], axis=-1)


class _Block(nnx.Module):
  """Two 3x3 convs, the second with stride 2, plus a strided 1x1 skip."""

  def __init__(self, d_in: int, d_out: int, rngs: nnx.Rngs):
    self.conv0 = attention.conv(d_in, d_in, 3, rngs)
    self.conv1 = attention.conv(d_in, d_out, 3, rngs, stride=2)
    self.skip = attention.conv(d_in, d_out, 1, rngs, stride=2, bias=False)

  def __call__(self, x):
    y = jax.nn.leaky_relu(self.conv0(x), 0.2)
    y = jax.nn.leaky_relu(self.conv1(y), 0.2)
    return (y + self.skip(x)) / math.sqrt(2.0)


class DualDiscriminator(nnx.Module):
  """[B, S, S, 6] -> logits [B]; one residual block per width."""

  def __init__(self, widths: Sequence[int], rngs: nnx.Rngs):
    self.stem = attention.conv(6, widths[0], 1, rngs)
    self.blocks = nnx.List([_Block(a, b, rngs)
                            for a, b in zip(widths, (*widths[1:],
                                                     widths[-1]))])
    self.out = attention.linear(widths[-1], 1, rngs)

  def __call__(self, x: jax.Array) -> jax.Array:
    x = jax.nn.leaky_relu(self.stem(x), 0.2)
    for block in self.blocks:
      x = block(x)
    return self.out(jnp.mean(x, axis=(1, 2)))[:, 0]
