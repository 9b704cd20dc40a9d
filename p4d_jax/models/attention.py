"""SegFormer-style transformer parts (Flax NNX): attention with optional
spatial reduction, cross-attention, Mix-FFN, the two block types, the
overlapping patch embedding, and the pixel ops that go with them.

Tokens are [B, N, C] over an H x W grid in row-major order (n = h * W + w),
as PyTorch's `flatten(2).transpose(1, 2)` of NCHW gives; images are NHWC.
Attribute names follow the Portrait4D modules (`attn1`, `norm2`, `mlp.fc1`,
...) so weight converters map keys one to one.
"""

from __future__ import annotations

import math

import jax
import jax.numpy as jnp
from flax import nnx

# The reference's LayerNorm epsilon (PyTorch default), not Flax's 1e-6.
LN_EPS = 1e-5


def linear(d_in: int, d_out: int, rngs: nnx.Rngs, zero: bool = False):
  """A Linear with the reference init: truncated normal (std 0.02), zero bias."""
  init = (nnx.initializers.zeros_init() if zero else
          nnx.initializers.truncated_normal(0.02))
  return nnx.Linear(d_in, d_out, kernel_init=init, rngs=rngs)


def fan_in_linear(d_in: int, d_out: int, rngs: nnx.Rngs, gain: float = 1.0):
  """A Linear with weights of variance gain / d_in, zero bias: unit inputs
  give outputs of size sqrt(gain) (1: LeCun; 2: He, before a ReLU)."""
  init = nnx.initializers.variance_scaling(gain, "fan_in", "normal")
  return nnx.Linear(d_in, d_out, kernel_init=init, rngs=rngs)


def conv_fan_out_init(groups: int = 1):
  """N(0, sqrt(2 / fan_out)) with PyTorch's fan_out = k*k*out / groups."""
  def init(key, shape, dtype=jnp.float32):
    kh, kw, _, out = shape
    std = math.sqrt(2.0 / (kh * kw * out / groups))
    return std * jax.random.normal(key, shape, dtype)
  return init


def conv(d_in: int, d_out: int, kernel: int, rngs: nnx.Rngs, stride: int = 1,
         padding: int | None = None, groups: int = 1, dilation: int = 1,
         bias: bool = True):
  """A Conv with PyTorch padding semantics (`padding` per side; default
  (kernel // 2) * dilation, which keeps the size at stride 1)."""
  pad = (kernel // 2) * dilation if padding is None else padding
  return nnx.Conv(d_in, d_out, (kernel, kernel), strides=stride,
                  padding=((pad, pad), (pad, pad)), feature_group_count=groups,
                  kernel_dilation=dilation, use_bias=bias,
                  kernel_init=conv_fan_out_init(groups), rngs=rngs)


def layer_norm(dim: int, rngs: nnx.Rngs):
  return nnx.LayerNorm(dim, epsilon=LN_EPS, rngs=rngs)


def gelu(x):
  """The exact (erf) GELU of PyTorch's nn.GELU()."""
  return jax.nn.gelu(x, approximate=False)


def pixel_shuffle(x: jax.Array, factor: int = 2) -> jax.Array:
  """PyTorch's PixelShuffle on NHWC: channel c*f*f + i*f + j -> (c, f*h+i, f*w+j).

  [B, H, W, C * f * f] -> [B, H * f, W * f, C] (not depth_to_space's order).
  """
  b, h, w, c = x.shape
  out = c // (factor * factor)
  x = x.reshape(b, h, w, out, factor, factor)
  x = x.transpose(0, 1, 4, 2, 5, 3)
  return x.reshape(b, h * factor, w * factor, out)


def upsample_bilinear(x: jax.Array, factor: int = 2) -> jax.Array:
  """Bilinear upsampling with align_corners=True (nn.UpsamplingBilinear2d).

  [B, H, W, C] -> [B, H * factor, W * factor, C]; corner pixels are kept.
  """
  def along(x, axis):
    n = x.shape[axis]
    m = n * factor
    pos = jnp.arange(m, dtype=jnp.float32) * ((n - 1) / max(m - 1, 1))
    lo = jnp.clip(jnp.floor(pos).astype(jnp.int32), 0, n - 1)
    hi = jnp.minimum(lo + 1, n - 1)
    frac = (pos - lo).reshape([-1 if a == axis else 1 for a in range(x.ndim)])
    return (jnp.take(x, lo, axis=axis) * (1.0 - frac) +
            jnp.take(x, hi, axis=axis) * frac)
  return along(along(x, 1), 2)


class Attention(nnx.Module):
  """Multi-head attention: self (context None) or cross (context tokens).

  q = Linear(x); k | v = split(Linear(context or x)); with `sr_ratio` > 1 the
  self-attention keys/values come from a strided conv + LayerNorm of the
  token grid (SegFormer's spatial reduction). `zero_proj` zero-initialises
  the output projection (cross-attention starts as a no-op); `fan_in_qkv`
  initialises q and kv at fan-in scale instead of std 0.02, so that values
  keep their context's size (see BlockCross).
  """

  def __init__(self, dim: int, heads: int, rngs: nnx.Rngs, sr_ratio: int = 1,
               zero_proj: bool = False, fan_in_qkv: bool = False):
    self.heads = heads
    self.sr_ratio = sr_ratio
    make = fan_in_linear if fan_in_qkv else linear
    self.q = make(dim, dim, rngs)
    self.kv = make(dim, 2 * dim, rngs)
    self.proj = linear(dim, dim, rngs, zero=zero_proj)
    if sr_ratio > 1:
      self.sr = conv(dim, dim, sr_ratio, rngs, stride=sr_ratio, padding=0)
      self.norm = layer_norm(dim, rngs)

  def __call__(self, x: jax.Array, grid: tuple[int, int],
               context: jax.Array | None = None) -> jax.Array:
    """x [B, N, C] on `grid` (H, W); context [B, M, C] or None -> [B, N, C]."""
    b, n, c = x.shape
    if context is None:
      context = x
      if self.sr_ratio > 1:
        h, w = grid
        reduced = self.sr(x.reshape(b, h, w, c))
        context = self.norm(reduced.reshape(b, -1, c))
    head_dim = c // self.heads
    split = lambda t: t.reshape(b, t.shape[1], self.heads, head_dim)  # noqa
    q = split(self.q(x))
    k, v = jnp.split(self.kv(context), 2, axis=-1)
    logits = jnp.einsum("bnhd,bmhd->bhnm", q, split(k)) / math.sqrt(head_dim)
    attn = jax.nn.softmax(logits, axis=-1)
    out = jnp.einsum("bhnm,bmhd->bnhd", attn, split(v)).reshape(b, n, c)
    return self.proj(out)


class DepthwiseConv(nnx.Module):
  """A 3x3 depthwise conv on the token grid (Mix-FFN's position signal)."""

  def __init__(self, dim: int, rngs: nnx.Rngs):
    self.dwconv = conv(dim, dim, 3, rngs, groups=dim)

  def __call__(self, x, grid):
    b, n, c = x.shape
    return self.dwconv(x.reshape(b, *grid, c)).reshape(b, n, c)


class MixFFN(nnx.Module):
  """fc1 -> depthwise 3x3 -> exact GELU -> fc2."""

  def __init__(self, dim: int, hidden: int, rngs: nnx.Rngs):
    self.fc1 = linear(dim, hidden, rngs)
    self.dwconv = DepthwiseConv(hidden, rngs)
    self.fc2 = linear(hidden, dim, rngs)

  def __call__(self, x, grid):
    return self.fc2(gelu(self.dwconv(self.fc1(x), grid)))


class Block(nnx.Module):
  """Pre-norm SegFormer block: x += Attn(LN x); x += MixFFN(LN x)."""

  def __init__(self, dim: int, heads: int, mlp_ratio: float, rngs: nnx.Rngs,
               sr_ratio: int = 1):
    self.norm1 = layer_norm(dim, rngs)
    self.attn = Attention(dim, heads, rngs, sr_ratio=sr_ratio)
    self.norm2 = layer_norm(dim, rngs)
    self.mlp = MixFFN(dim, int(dim * mlp_ratio), rngs)

  def __call__(self, x, grid):
    x = x + self.attn(self.norm1(x), grid)
    return x + self.mlp(self.norm2(x), grid)


class BlockCross(nnx.Module):
  """Motion-aware block: cross-attention to motion tokens, scaled per sample,
  then self-attention, then Mix-FFN (all pre-norm, in this order).

  The cross-attention output projection starts at zero and its result is
  multiplied by `motion_scale` [B]: 0 makes the block a plain SegFormer block
  (Psi3d), 1 lets motion in (Psi). `fan_in_cross`: the cross-attention's q
  and kv at fan-in scale. With SegFormer's std 0.02 the values shrink the
  motion tokens ~6x (at width 64) and the zero projection's gradient is
  that small too: after 800 tiny steps the driver still varied what the
  block adds by 0.5 % of the token stream (issue 18's closed gate).
  """

  def __init__(self, dim: int, heads: int, mlp_ratio: float, rngs: nnx.Rngs,
               fan_in_cross: bool = False):
    self.norm2 = layer_norm(dim, rngs)
    self.attn2 = Attention(dim, heads, rngs, zero_proj=True,
                           fan_in_qkv=fan_in_cross)
    self.norm1 = layer_norm(dim, rngs)
    self.attn1 = Attention(dim, heads, rngs)
    self.norm3 = layer_norm(dim, rngs)
    self.mlp = MixFFN(dim, int(dim * mlp_ratio), rngs)

  def __call__(self, x, grid, motion, motion_scale):
    """x [B, N, C], motion tokens [B, M, C], motion_scale [B] -> [B, N, C]."""
    cross = self.attn2(self.norm2(x), grid, context=motion)
    x = x + motion_scale[:, None, None] * cross
    x = x + self.attn1(self.norm1(x), grid)
    return x + self.mlp(self.norm3(x), grid)


class OverlapPatchEmbed(nnx.Module):
  """Conv (kernel 3, stride 2, pad 1) + LayerNorm: image -> tokens and grid."""

  def __init__(self, d_in: int, dim: int, rngs: nnx.Rngs, kernel: int = 3,
               stride: int = 2):
    self.proj = conv(d_in, dim, kernel, rngs, stride=stride)
    self.norm = layer_norm(dim, rngs)

  def __call__(self, x: jax.Array) -> tuple[jax.Array, tuple[int, int]]:
    """[B, H, W, C_in] -> ([B, H' * W', dim], (H', W'))."""
    x = self.proj(x)
    b, h, w, c = x.shape
    return self.norm(x.reshape(b, h * w, c)), (h, w)
