"""Temporal conv blocks over [B, T, C] sequences, and the audio trunk the
audio-to-motion models share: speech features at 50 Hz -> one hidden
vector per video frame at 12.5 Hz.

The trunk is a conv at the feature rate, then two stride-2 convs down to
the frame rate (feature frame 4k is centred on video frame k,
`audio.features`; the symmetric padding keeps output k centred there too),
then residual dilated convs (about a second either side at the default
dilations) and a layer norm.
"""

from __future__ import annotations

import jax
from flax import nnx

from p4d_jax.models.sizes import Audio2MotionSizes

DOWNSAMPLE = 4   # feature frames per video frame


def conv1d(d_in: int, d_out: int, kernel: int, rngs: nnx.Rngs,
           stride: int = 1, dilation: int = 1, zero: bool = False
           ) -> nnx.Conv:
  """A 'same'-padded 1-D conv, centred (odd kernels); `zero`: zero init."""
  half = dilation * (kernel - 1) // 2
  init = {"kernel_init": nnx.initializers.zeros_init()} if zero else {}
  return nnx.Conv(d_in, d_out, (kernel,), strides=(stride,),
                  padding=((half, half),), kernel_dilation=(dilation,),
                  rngs=rngs, **init)


class Residual(nnx.Module):
  """x + Linear(GELU(Conv(GELU(LayerNorm(x))))), a dilated conv."""

  def __init__(self, width: int, dilation: int, rngs: nnx.Rngs):
    self.norm = nnx.LayerNorm(width, rngs=rngs)
    self.conv = conv1d(width, width, 3, rngs, dilation=dilation)
    self.mix = nnx.Linear(width, width, rngs=rngs)

  def __call__(self, x):
    return x + self.mix(jax.nn.gelu(self.conv(jax.nn.gelu(self.norm(x)))))


class AudioTrunk(nnx.Module):
  """features [B, 4T, F] -> hidden [B, T, width] (see the module)."""

  def __init__(self, sizes: Audio2MotionSizes, features: int,
               rngs: nnx.Rngs):
    w = sizes.width
    self.stem = conv1d(features, w, 5, rngs)
    self.down = nnx.List([conv1d(w, w, 5, rngs, stride=2) for _ in range(2)])
    self.blocks = nnx.List([Residual(w, d, rngs) for d in sizes.dilations])
    self.norm = nnx.LayerNorm(w, rngs=rngs)

  def hidden(self, features: jax.Array) -> jax.Array:
    if features.shape[-2] % DOWNSAMPLE:
      raise ValueError(f"{features.shape[-2]} feature frames: give a "
                       f"multiple of {DOWNSAMPLE} (one video frame each).")
    x = jax.nn.gelu(self.stem(features))
    for conv in self.down:
      x = jax.nn.gelu(conv(x))
    for block in self.blocks:
      x = block(x)
    return self.norm(x)
