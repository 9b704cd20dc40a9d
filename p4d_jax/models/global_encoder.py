"""The global image encoder (Portrait4D's EncoderGlobal), Flax NNX, NHWC.

A ResNet-34 with every BatchNorm removed and no conv biases, dilated to output
stride 8 (layer3: stride 1, dilation 2; layer4: dilation 4), on the image plus
coordinate channels; then a DeepLabV3 head without BatchNorm: ASPP (1x1, three
dilated 3x3, image pooling) -> 1x1 projection -> 3x3 conv, ReLU after each.
Image [B, H, W, 3] -> global features [B, H/8, W/8, head_channels].
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
from flax import nnx

from p4d_jax.models import attention as A
from p4d_jax.models.encoders import add_coords
from p4d_jax.models import sizes as sizes_lib


def _conv(d_in, d_out, kernel, rngs, stride=1, dilation=1):
  """The ResNet/DeepLab convs carry no bias."""
  return A.conv(d_in, d_out, kernel, rngs, stride=stride, dilation=dilation,
                bias=False)


class BasicBlock(nnx.Module):
  """conv3x3 -> ReLU -> conv3x3, plus the (1x1-projected) input, -> ReLU."""

  def __init__(self, d_in, d_out, stride, dilation, rngs):
    self.conv1 = _conv(d_in, d_out, 3, rngs, stride, dilation)
    self.conv2 = _conv(d_out, d_out, 3, rngs, 1, dilation)
    self.downsample = (_conv(d_in, d_out, 1, rngs, stride)
                       if stride != 1 or d_in != d_out else None)

  def __call__(self, x):
    skip = x if self.downsample is None else self.downsample(x)
    return jax.nn.relu(self.conv2(jax.nn.relu(self.conv1(x))) + skip)


def _max_pool(x):
  """3x3 stride-2 max pool with padding 1 (padding never wins the max)."""
  return nnx.max_pool(x, (3, 3), strides=(2, 2), padding=((1, 1), (1, 1)))


class ASPP(nnx.Module):
  """Atrous spatial pyramid pooling without BatchNorm, then the projection."""

  def __init__(self, d_in, d_out, rates, rngs):
    self.branches = nnx.List(
        [_conv(d_in, d_out, 1, rngs)] +
        [_conv(d_in, d_out, 3, rngs, dilation=r) for r in rates])
    self.pool_conv = _conv(d_in, d_out, 1, rngs)
    self.project = _conv(d_out * (len(rates) + 2), d_out, 1, rngs)

  def __call__(self, x):
    outs = [jax.nn.relu(branch(x)) for branch in self.branches]
    pooled = jax.nn.relu(self.pool_conv(jnp.mean(x, (1, 2), keepdims=True)))
    # Bilinear resize of a 1x1 map is a broadcast.
    outs.append(jnp.broadcast_to(pooled, outs[0].shape))
    return jax.nn.relu(self.project(jnp.concatenate(outs, -1)))


class EncoderGlobal(nnx.Module):
  """Image [B, H, W, C] -> global features [B, H/8, W/8, head_channels]."""

  def __init__(self, sizes: sizes_lib.GlobalSizes, rngs: nnx.Rngs):
    s = sizes
    self.conv1 = _conv(s.in_channels + 2, s.widths[0], 7, rngs, stride=2)
    # (stride, dilation) of each stage at output stride 8.
    stages = ((1, 1), (2, 1), (1, 2), (1, 4))
    layers, d_in = [], s.widths[0]
    for count, width, (stride, dilation) in zip(s.blocks, s.widths, stages):
      layers.append(nnx.List([
          BasicBlock(d_in if i == 0 else width, width, stride if i == 0 else 1,
                     dilation, rngs) for i in range(count)]))
      d_in = width
    self.layers = nnx.List(layers)
    self.aspp = ASPP(d_in, s.head_channels, s.aspp_rates, rngs)
    self.head_conv = _conv(s.head_channels, s.head_channels, 3, rngs)

  def __call__(self, image: jax.Array) -> jax.Array:
    x = _max_pool(jax.nn.relu(self.conv1(add_coords(image))))
    for layer in self.layers:
      for block in layer:
        x = block(x)
    return jax.nn.relu(self.head_conv(self.aspp(x)))
