"""Audio to motion: speech features at 50 Hz -> one expression vector per
video frame at 12.5 Hz (SynthHeads' standardised parameters, the space the
`oracle` and `pretrained` motion sources fill).

`config.model.kind` picks the network, both on the shared audio trunk
(`temporal.AudioTrunk`):
  regressor  the deterministic baseline: the trunk read out linearly
  cvae       Real3D-Portrait's design: a conditional VAE with a flow prior
             (`audio2motion_vae`)

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
from p4d_jax.models import audio2motion_vae
from p4d_jax.models import temporal
from p4d_jax.models.sizes import Audio2MotionSizes

class AudioToMotion(temporal.AudioTrunk):
  """The regressor: features [B, 4T, F] -> standardised expressions
  [B, T, outputs], the trunk's hidden vectors read out linearly."""

  def __init__(self, sizes: Audio2MotionSizes, features: int,
               rngs: nnx.Rngs):
    super().__init__(sizes, features, rngs)
    self.out = nnx.Linear(sizes.width, sizes.outputs, rngs=rngs)

  def __call__(self, features: jax.Array) -> jax.Array:
    return self.out(self.hidden(features))

  def fit_terms(self, features, target, key) -> tuple[jax.Array, dict]:
    """(prediction, extra loss terms) for training: no extra terms."""
    del target, key
    return self(features), {}

  def generate(self, features, key, temperature: float) -> jax.Array:
    del key, temperature
    return self(features)


NETWORKS = {"regressor": AudioToMotion, "cvae": audio2motion_vae.MotionVAE}


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
    if sizes.kind not in NETWORKS:
      raise user_errors.UserError(
          f"config.model.kind {sizes.kind!r} is not one of "
          f"{sorted(NETWORKS)}.")
    if kind not in features_lib.KINDS:
      raise user_errors.UserError(
          f"config.audio.features {kind!r} is not one of "
          f"{sorted(features_lib.KINDS)}.")
    self.sizes, self.kind = sizes, kind
    self.features, dim = features_lib.KINDS[kind]
    self.network = NETWORKS[sizes.kind]
    abstract = nnx.eval_shape(
        lambda k: self.network(sizes, dim, nnx.Rngs(k)), jax.random.key(0))
    self.graphdef = nnx.graphdef(abstract)
    self.abstract_params = {PREFIX: nnx.state(abstract, nnx.Param)}

  @classmethod
  def from_config(cls, config) -> "Audio2Motion":
    return cls(config_bridge.from_fields(Audio2MotionSizes, config.model,
                                         "config.model"),
               config.audio.features)

  def init(self, key: jax.Array) -> dict:
    _, dim = features_lib.KINDS[self.kind]
    net = self.network(self.sizes, dim, nnx.Rngs(key))
    return {PREFIX: nnx.state(net, nnx.Param)}

  def _features(self, wave: jax.Array) -> jax.Array:
    feats = self.features(wave)
    frames = feats.shape[-2] // temporal.DOWNSAMPLE
    if not frames:
      raise user_errors.UserError(
          f"{wave.shape[-1]} samples of audio are shorter than one video "
          f"frame ({temporal.DOWNSAMPLE * features_lib.HOP} samples at "
          "16 kHz).")
    return feats[..., :frames * temporal.DOWNSAMPLE, :]

  def predict(self, params, wave: jax.Array, key: jax.Array | None = None,
              temperature: float = 0.0) -> jax.Array:
    """16 kHz waves [B, N] -> standardised expressions [B, T, outputs], one
    per video frame at 12.5 fps (T = N // 1280; frame k at k / 12.5 s).
    The cvae samples its prior at `temperature` (0: its centre) with
    `key`; the regressor has nothing to sample."""
    net = nnx.merge(self.graphdef, params[PREFIX])
    key = jax.random.key(0) if key is None else key
    return net.generate(self._features(wave), key, temperature)

  def fit_terms(self, params, wave: jax.Array, target: jax.Array,
                key: jax.Array) -> tuple[jax.Array, dict]:
    """Training: (prediction [B, T, outputs] given the target track, as
    the network fits it, and its extra loss terms, e.g. the cvae's kl)."""
    net = nnx.merge(self.graphdef, params[PREFIX])
    return net.fit_terms(self._features(wave), target, key)


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
