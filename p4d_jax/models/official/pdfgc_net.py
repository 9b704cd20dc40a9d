"""PD-FGC's motion encoder (Portrait4D's `FanEncoder`), Flax NNX, NHWC, for
inference: BatchNorm with the checkpoint's running statistics, no dropout.

    FAN: conv 7x7/2 -> BN -> ReLU -> ConvBlock(64, 128) -> max pool 2 ->
         ConvBlock(128, 128) -> ConvBlock(128, 256) -> hourglass (depth 4,
         56 -> 28 -> 14 -> 7 -> 3, bilinear back up) -> ConvBlock -> 1x1 conv
         -> BN -> ReLU -> 1x1 conv to 68 heatmaps -> BN -> ReLU ->
         conv 3x3/2 to one 28x28 map -> ReLU -> Linear -> feature [512]
    heads: Linear -> ReLU -> BN -> Linear (512), then for the pose, eye and
         emotion codes ReLU -> Linear (6, 6, 30); the mouth code is the
         512-d head itself.

Attribute names follow the official modules (`m0.b1_4`, `to_mouth`, ...),
so `pdfgc_weights` maps keys one to one. A crop [B, 224, 224, 3] in
[-1, 1] (`pdfgc_crop`) -> motion [B, 548] = eye 6 | emotion 30 | mouth 512.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
from flax import nnx

from p4d_jax.models import attention as A

BN_EPS = 1e-5
HOURGLASS_DEPTH = 4
HEADS = {"headpose": 6, "eye": 6, "emo": 30}   # ReLU -> Linear after to_*
MOTION = ("eye", "emo", "mouth")                # the 548-d code, in order


class BatchNorm(nnx.Module):
  """Inference BatchNorm over the last axis: running statistics and the
  affine map, all loaded from the checkpoint."""

  def __init__(self, channels: int):
    self.scale = nnx.Param(jnp.ones((channels,)))
    self.bias = nnx.Param(jnp.zeros((channels,)))
    self.mean = nnx.Param(jnp.zeros((channels,)))
    self.var = nnx.Param(jnp.ones((channels,)))

  def __call__(self, x):
    inv = jax.lax.rsqrt(self.var[...] + BN_EPS) * self.scale[...]
    return (x - self.mean[...]) * inv + self.bias[...]


def _conv3(d_in, d_out, rngs):
  return A.conv(d_in, d_out, 3, rngs, bias=False)


class ConvBlock(nnx.Module):
  """Pre-activation residual block: three BN-ReLU-3x3 convs of out/2,
  out/4, out/4 channels, concatenated, plus the input (through BN-ReLU-1x1
  when the width changes)."""

  def __init__(self, d_in: int, d_out: int, rngs: nnx.Rngs):
    self.bn1 = BatchNorm(d_in)
    self.conv1 = _conv3(d_in, d_out // 2, rngs)
    self.bn2 = BatchNorm(d_out // 2)
    self.conv2 = _conv3(d_out // 2, d_out // 4, rngs)
    self.bn3 = BatchNorm(d_out // 4)
    self.conv3 = _conv3(d_out // 4, d_out // 4, rngs)
    self.downsample = (nnx.List([BatchNorm(d_in),
                                 A.conv(d_in, d_out, 1, rngs, bias=False)])
                       if d_in != d_out else None)

  def __call__(self, x):
    out1 = self.conv1(jax.nn.relu(self.bn1(x)))
    out2 = self.conv2(jax.nn.relu(self.bn2(out1)))
    out3 = self.conv3(jax.nn.relu(self.bn3(out2)))
    skip = x
    if self.downsample is not None:
      bn, conv = self.downsample
      skip = conv(jax.nn.relu(bn(x)))
    return jnp.concatenate([out1, out2, out3], -1) + skip


def _max_pool2(x):
  """2x2 max pool, stride 2, odd sizes floored."""
  return nnx.max_pool(x, (2, 2), strides=(2, 2), padding="VALID")


def _resize(x, height: int, width: int):
  """Bilinear, align_corners=False (F.upsample / F.interpolate)."""
  return jax.image.resize(x, (x.shape[0], height, width, x.shape[-1]),
                          "linear", antialias=False)


class HourGlass(nnx.Module):
  """Recursive hourglass of 256-wide ConvBlocks: level L keeps an upper
  branch at its size and a lower one at half size (max pool, the next
  level, bilinear back up)."""

  def __init__(self, depth: int, rngs: nnx.Rngs):
    self.depth = depth
    for level in range(depth, 0, -1):
      for name in ("b1", "b2", "b3") + (("b2_plus",) if level == 1 else ()):
        setattr(self, f"{name}_{level}", ConvBlock(256, 256, rngs))

  def _level(self, level: int, x):
    up = getattr(self, f"b1_{level}")(x)
    low = getattr(self, f"b2_{level}")(_max_pool2(x))
    low = (self._level(level - 1, low) if level > 1
           else getattr(self, f"b2_plus_{level}")(low))
    low = getattr(self, f"b3_{level}")(low)
    return up + _resize(low, x.shape[1], x.shape[2])

  def __call__(self, x):
    return self._level(self.depth, x)


class FAN(nnx.Module):
  """PD-FGC's FAN_use: crop [B, 224, 224, 3] -> feature [B, 512]."""

  def __init__(self, rngs: nnx.Rngs):
    self.conv1 = A.conv(3, 64, 7, rngs, stride=2)
    self.bn1 = BatchNorm(64)
    self.conv2 = ConvBlock(64, 128, rngs)
    self.conv3 = ConvBlock(128, 128, rngs)
    self.conv4 = ConvBlock(128, 256, rngs)
    self.m0 = HourGlass(HOURGLASS_DEPTH, rngs)
    self.top_m_0 = ConvBlock(256, 256, rngs)
    self.conv_last0 = A.conv(256, 256, 1, rngs)
    self.bn_end0 = BatchNorm(256)
    self.l0 = A.conv(256, 68, 1, rngs)
    self.bn5 = BatchNorm(68)
    self.conv6 = A.conv(68, 1, 3, rngs, stride=2)
    self.fc = nnx.Linear(28 * 28, 512, rngs=rngs)

  def stages(self, x) -> dict:
    """The network's stages: conv4 [B, 56, 56, 256], hourglass (same),
    heatmaps [B, 56, 56, 68], conv6 [B, 28, 28, 1] (before its ReLU) and
    the feature [B, 512]."""
    x = jax.nn.relu(self.bn1(self.conv1(x)))
    x = _max_pool2(self.conv2(x))
    conv4 = self.conv4(self.conv3(x))
    hourglass = self.m0(conv4)
    ll = self.bn_end0(self.conv_last0(self.top_m_0(hourglass)))
    heatmaps = self.l0(jax.nn.relu(ll))
    conv6 = self.conv6(jax.nn.relu(self.bn5(heatmaps)))
    flat = jax.nn.relu(conv6.reshape(conv6.shape[0], -1))
    return dict(conv4=conv4, hourglass=hourglass, heatmaps=heatmaps,
                conv6=conv6, feature=self.fc(flat))


class Head(nnx.Module):
  """Linear -> ReLU -> BatchNorm -> Linear, 512 -> 512 (`to_*`)."""

  def __init__(self, rngs: nnx.Rngs):
    self.layers = nnx.List([nnx.Linear(512, 512, rngs=rngs), BatchNorm(512),
                            nnx.Linear(512, 512, rngs=rngs)])

  def __call__(self, x):
    first, bn, last = self.layers
    return last(bn(jax.nn.relu(first(x))))


class FanEncoder(nnx.Module):
  """Crop [B, 224, 224, 3] in [-1, 1] -> motion [B, 548]."""

  def __init__(self, rngs: nnx.Rngs):
    self.model = FAN(rngs)
    self.to_mouth = Head(rngs)
    for name, width in HEADS.items():
      setattr(self, f"to_{name}", Head(rngs))
      setattr(self, f"{name}_embed", nnx.Linear(512, width, rngs=rngs))

  def codes(self, crop) -> dict:
    """The FAN's stages plus every head's code: headpose [B, 6] (unused by
    Portrait4D), eye [B, 6], emo [B, 30], mouth [B, 512]."""
    out = self.model.stages(crop)
    feature = out["feature"]
    out["mouth"] = self.to_mouth(feature)
    for name in HEADS:
      hidden = getattr(self, f"to_{name}")(feature)
      out[name] = getattr(self, f"{name}_embed")(jax.nn.relu(hidden))
    return out

  def __call__(self, crop):
    out = self.codes(crop)
    return jnp.concatenate([out[name] for name in MOTION], -1)
