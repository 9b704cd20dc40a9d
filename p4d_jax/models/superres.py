"""EG3D-style super-resolution (SuperresolutionHybrid8XDC), Flax NNX, NHWC.

Two StyleGAN2 synthesis blocks in the 'skip' layout take the rendered feature
image (and its first 3 channels as RGB) from the neural-rendering resolution
to 4x (one block per 2x; configurable): each block upsamples with the [1, 3, 3, 1] FIR filter, runs two
modulated 3x3 convs (the first after the upsampling) and adds a ToRGB of its
features to the upsampled RGB. Styles come from `w` through per-layer affine
maps (bias 1); Portrait4D feeds the never-updated w_avg, i.e. w = 0, so the
styles are the affine biases. Noise is off, as in Portrait4D.

The upsampling conv is the reference's exactly (a transposed conv fused with
the filter, `flip_weight=False`): zeros between samples, padding (3, 2), the
4x4 FIR filter, then a VALID 3x3 convolution with the spatially flipped
kernel. Every layer clamps to +-256 (the reference's conv_clamp, active in
float32 too). The unused noise_strength scalars are left out.
"""

from __future__ import annotations

import math

import jax
import jax.numpy as jnp
import numpy as np
from flax import nnx

from p4d_jax.models import sizes as sizes_lib

# numpy: a jnp constant would start JAX's backend at import.
_FIR = np.array([1.0, 3.0, 3.0, 1.0], np.float32)
CLAMP = 256.0     # the SR blocks' conv_clamp


def upsample2d(x: jax.Array, pad: tuple[int, int] = (2, 1)) -> jax.Array:
  """upfirdn2d.upsample2d: zeros between samples, padding `pad` (before,
  after) on both axes, then the 4x4 FIR filter (gain 4, so a constant image
  stays constant). [B, H, W, C] -> [B, 2H + sum(pad) - 3, ..., C]: 2H with
  the default padding, 2H + 2 with the up-conv's (3, 2)."""
  b, h, w, c = x.shape
  up = jnp.zeros((b, 2 * h, 2 * w, c), x.dtype).at[:, ::2, ::2].set(x)
  up = jnp.pad(up, ((0, 0), pad, pad, (0, 0)))
  kernel = jnp.outer(_FIR, _FIR) / jnp.sum(_FIR) ** 2 * 4.0
  kernel = jnp.tile(kernel[:, :, None, None], (1, 1, 1, c)).astype(x.dtype)
  return jax.lax.conv_general_dilated(
      up, kernel, (1, 1), "VALID", dimension_numbers=("NHWC", "HWIO", "NHWC"),
      feature_group_count=c)


class Affine(nnx.Module):
  """StyleGAN2's FullyConnectedLayer for styles: w [B, W] -> [B, out];
  raw N(0, 1) weights scaled by 1/sqrt(W) at run time, bias initialised to 1."""

  def __init__(self, w_dim: int, out: int, rngs: nnx.Rngs):
    self.weight = nnx.Param(jax.random.normal(rngs.params(), (w_dim, out)))
    self.bias = nnx.Param(jnp.ones((out,)))
    self.gain = 1.0 / math.sqrt(w_dim)

  def __call__(self, w):
    return w @ (self.weight[...] * self.gain) + self.bias[...]


class ModulatedConv(nnx.Module):
  """A modulated (optionally demodulated) conv with bias, StyleGAN2 style."""

  def __init__(self, d_in: int, d_out: int, kernel: int, w_dim: int,
               rngs: nnx.Rngs, up: bool = False, demodulate: bool = True):
    self.weight = nnx.Param(jax.random.normal(rngs.params(),
                                              (kernel, kernel, d_in, d_out)))
    self.bias = nnx.Param(jnp.zeros((d_out,)))
    self.affine = Affine(w_dim, d_in, rngs)
    self.up = up
    self.demodulate = demodulate
    # ToRGB scales its styles by 1 / sqrt(fan_in) instead of demodulating.
    self.style_gain = 1.0 if demodulate else 1.0 / math.sqrt(
        d_in * kernel * kernel)
    self.dtype = None   # compute dtype (models/precision.py); None: x's

  def __call__(self, x: jax.Array, w: jax.Array) -> jax.Array:
    # Styles and demodulation in float32; the image-sized work in `dtype`.
    dtype = self.dtype or x.dtype
    styles = self.affine(w) * self.style_gain                 # [B, in]
    weight = self.weight[...]
    x = x.astype(dtype) * styles.astype(dtype)[:, None, None, :]
    if self.up:   # the reference's transposed conv: a true convolution
      x = upsample2d(x, pad=(3, 2))
      kernel, pad = weight[::-1, ::-1], 0
    else:
      kernel, pad = weight, weight.shape[0] // 2
    x = jax.lax.conv_general_dilated(
        x, kernel.astype(dtype), (1, 1), ((pad, pad), (pad, pad)),
        dimension_numbers=("NHWC", "HWIO", "NHWC"))
    if self.demodulate:
      # 1 / |weight modulated by the sample's styles| per output channel.
      sq = jnp.einsum("hwio,bi->bo", weight**2, styles**2)
      x = x * jax.lax.rsqrt(sq + 1e-8).astype(dtype)[:, None, None, :]
    # The bias add in float32: its gradient sums over every pixel, which in
    # bfloat16 loses most of it (relative error 0.96 measured on torgb).
    return (x.astype(jnp.float32) + self.bias[...]).astype(dtype)


def _lrelu(x):
  """bias_act's lrelu: slope 0.2, gain sqrt(2), clamped."""
  return jnp.clip(jax.nn.leaky_relu(x, 0.2) * math.sqrt(2.0), -CLAMP, CLAMP)


class SynthesisBlock(nnx.Module):
  """Upsample x2: conv0 (up) -> conv1 -> img = up(img) + ToRGB(x). `w` is
  [B, W] for all three layers or [B, 3, W], one per layer (conv0, conv1,
  torgb)."""

  def __init__(self, d_in: int, d_out: int, w_dim: int, rngs: nnx.Rngs):
    self.conv0 = ModulatedConv(d_in, d_out, 3, w_dim, rngs, up=True)
    self.conv1 = ModulatedConv(d_out, d_out, 3, w_dim, rngs)
    self.torgb = ModulatedConv(d_out, 3, 1, w_dim, rngs, demodulate=False)

  def __call__(self, x, img, w):
    ws = (w,) * 3 if w.ndim == 2 else (w[:, 0], w[:, 1], w[:, 2])
    x = _lrelu(self.conv0(x, ws[0]))
    x = _lrelu(self.conv1(x, ws[1]))
    img = upsample2d(img) + jnp.clip(self.torgb(x, ws[2]), -CLAMP, CLAMP)
    return x, img


class SuperResolution(nnx.Module):
  """Feature image [B, R, R, C] (RGB = first 3 channels, in [-1, 1]) ->
  RGB [B, fR, fR, 3], f = sizes.factor (4 at paper size)."""

  def __init__(self, sizes: sizes_lib.SuperResSizes, rngs: nnx.Rngs):
    if not sizes.widths:
      raise ValueError("SuperResSizes.widths is empty; give one width per 2x "
                       "upsampling block.")
    ins = (sizes.in_channels, *sizes.widths[:-1])
    # Named block0, block1, ... like the released checkpoint's keys.
    for i, (d_in, d_out) in enumerate(zip(ins, sizes.widths)):
      setattr(self, f"block{i}", SynthesisBlock(d_in, d_out, sizes.w_dim,
                                                rngs))
    self.num_blocks = len(sizes.widths)
    self.w_dim = sizes.w_dim

  def __call__(self, features: jax.Array, rgb: jax.Array,
               w: jax.Array | None = None) -> jax.Array:
    if w is None:   # Portrait4D: the zero w_avg buffer
      w = jnp.zeros((features.shape[0], self.w_dim), features.dtype)
    x, img = features, rgb
    for i in range(self.num_blocks):
      x, img = getattr(self, f"block{i}")(x, img, w)
    return img
