"""Audio to motion, the deterministic baseline: speech features at 50 Hz ->
one expression vector per video frame at 12.5 Hz (SynthHeads' standardised
parameters, the space the `oracle` and `pretrained` motion sources fill).

A temporal conv net, not causal: a conv at the feature rate, two stride-2
convs down to the frame rate (feature frame 4k is centred on video frame k,
`audio.features`; the padding keeps output k centred there too), residual
dilated convs that see about a second either side, and a linear read-out.
Real3D-Portrait's conditional VAE with a flow prior is the reference design
this baseline is measured against (not built yet).

`Audio2Motion` is the model handle: (graphdef, params) from a config, the
feature extractor it was configured with, `predict` (waves -> expressions)
and `load` (a trained run's EMA weights).

    model, params = audio2motion.load(run_dir)
    expressions = model.predict(params, wave)    # [B, N] -> [B, N // 1280, 6]
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
from flax import nnx

from p4d_jax import config_bridge
from p4d_jax import run_weights
from p4d_jax import user_errors
from p4d_jax.audio import features as features_lib
from p4d_jax.models.sizes import Audio2MotionSizes

DOWNSAMPLE = 4   # feature frames per video frame


def _conv(d_in: int, d_out: int, kernel: int, rngs: nnx.Rngs, stride: int = 1,
          dilation: int = 1) -> nnx.Conv:
  half = dilation * (kernel - 1) // 2
  return nnx.Conv(d_in, d_out, (kernel,), strides=(stride,),
                  padding=((half, half),), kernel_dilation=(dilation,),
                  rngs=rngs)


class _Residual(nnx.Module):
  def __init__(self, width: int, dilation: int, rngs: nnx.Rngs):
    self.norm = nnx.LayerNorm(width, rngs=rngs)
    self.conv = _conv(width, width, 3, rngs, dilation=dilation)
    self.mix = nnx.Linear(width, width, rngs=rngs)

  def __call__(self, x):
    return x + self.mix(jax.nn.gelu(self.conv(jax.nn.gelu(self.norm(x)))))


class AudioToMotion(nnx.Module):
  """features [B, 4T, F] -> standardised expressions [B, T, outputs]."""

  def __init__(self, sizes: Audio2MotionSizes, features: int,
               rngs: nnx.Rngs):
    w = sizes.width
    self.stem = _conv(features, w, 5, rngs)
    self.down = nnx.List([_conv(w, w, 5, rngs, stride=2) for _ in range(2)])
    self.blocks = nnx.List([_Residual(w, d, rngs) for d in sizes.dilations])
    self.norm = nnx.LayerNorm(w, rngs=rngs)
    self.out = nnx.Linear(w, sizes.outputs, rngs=rngs)

  def __call__(self, features: jax.Array) -> jax.Array:
    if features.shape[-2] % DOWNSAMPLE:
      raise ValueError(f"{features.shape[-2]} feature frames: give a "
                       f"multiple of {DOWNSAMPLE} (one video frame each).")
    x = jax.nn.gelu(self.stem(features))
    for conv in self.down:
      x = jax.nn.gelu(conv(x))
    for block in self.blocks:
      x = block(x)
    return self.out(self.norm(x))


def laplacian(sequence: jax.Array) -> jax.Array:
  """Mean squared second difference (-1/2, 1, -1/2) over time of
  [B, T, E] (the temporal smoothness term)."""
  mid = sequence[:, 1:-1] - 0.5 * (sequence[:, :-2] + sequence[:, 2:])
  return jnp.mean(jnp.square(mid))


PREFIX = "audio2motion"
TASK = "audio2motion"
HOW_TO_MAKE = ("train one with `python -m launch.main "
               "--config=configs/audio2motion.py:tiny --workdir=DIR`.")


class Audio2Motion:
  """The network as (graphdef, params) under `audio2motion/`, with its
  feature extractor (`audio.features.KINDS[kind]`)."""

  def __init__(self, sizes: Audio2MotionSizes, kind: str = "logmel_f0"):
    if kind not in features_lib.KINDS:
      raise user_errors.UserError(
          f"config.audio.features {kind!r} is not one of "
          f"{sorted(features_lib.KINDS)}.")
    self.sizes, self.kind = sizes, kind
    self.features, dim = features_lib.KINDS[kind]
    abstract = nnx.eval_shape(
        lambda k: AudioToMotion(sizes, dim, nnx.Rngs(k)), jax.random.key(0))
    self.graphdef = nnx.graphdef(abstract)
    self.abstract_params = {PREFIX: nnx.state(abstract, nnx.Param)}

  @classmethod
  def from_config(cls, config) -> "Audio2Motion":
    return cls(config_bridge.from_fields(Audio2MotionSizes, config.model,
                                         "config.model"),
               config.audio.features)

  def init(self, key: jax.Array) -> dict:
    _, dim = features_lib.KINDS[self.kind]
    net = AudioToMotion(self.sizes, dim, nnx.Rngs(key))
    return {PREFIX: nnx.state(net, nnx.Param)}

  def predict(self, params, wave: jax.Array) -> jax.Array:
    """16 kHz waves [B, N] -> standardised expressions [B, T, outputs], one
    per video frame at 12.5 fps (T = N // 1280; frame k at k / 12.5 s)."""
    feats = self.features(wave)
    frames = feats.shape[-2] // DOWNSAMPLE
    if not frames:
      raise user_errors.UserError(
          f"{wave.shape[-1]} samples of audio are shorter than one video "
          f"frame ({DOWNSAMPLE * features_lib.HOP} samples at 16 kHz).")
    net = nnx.merge(self.graphdef, params[PREFIX])
    return net(feats[..., :frames * DOWNSAMPLE, :])


def load(path: str) -> tuple[Audio2Motion, dict]:
  """A trained audio-to-motion run -> (its model handle, EMA parameters)."""
  config = run_weights.read_config(path, TASK, HOW_TO_MAKE)
  model = Audio2Motion(
      config_bridge.from_fields(Audio2MotionSizes, config["model"],
                                f"{path}: model"),
      config["audio"]["features"])
  like = jax.tree.map(lambda x: jax.ShapeDtypeStruct(x.shape, x.dtype),
                      model.abstract_params)
  return model, run_weights.read_params(path, like)
