"""Pretraining the expression extractor (the `pretrained` motion source's
network, `models.motion.extractor`): our analogue of PD-FGC's motion
encoder, trained once, then frozen inside Psi.

Each step renders fresh SynthHeads (`data.expression_renders`: never the
same identity twice), degrades them as pseudo views and real frames are
degraded (blur, noise, colour, a jittered crop, so that a slightly wrong
camera still finds the face), and regresses the exact standardised
expression parameters, plus an identity-invariance term: the two
identities that share an expression must give the same output. Held-out
identities measure it (`ExtractorEvaluator`: per-parameter correlation).

    python -m launch.main --config=configs/motion.py:tiny --workdir=DIR
"""

from __future__ import annotations

import dataclasses
import os

import jax
import jax.numpy as jnp
import ml_collections
import numpy as np
from flax import nnx

from p4d_jax import config_bridge
from p4d_jax.data import expression_renders
from p4d_jax.data.synthheads import params as P
from p4d_jax.evaluation import eval_runs
from p4d_jax.media import image_io
from p4d_jax.models import sizes as sizes_lib
from p4d_jax.models.motion import extractor
from p4d_jax.models.motion import face_crop
from p4d_jax.models.motion import pretrained
from p4d_jax.tasks import psi3d
from p4d_jax.train import supervised


class Extractor:
  """The network as (graphdef, params) under `motion_encoder/`, the prefix
  the pretrained source reads."""

  def __init__(self, sizes: sizes_lib.ExtractorSizes):
    abstract = nnx.eval_shape(
        lambda k: extractor.ExpressionExtractor(sizes, nnx.Rngs(k)),
        jax.random.key(0))
    self.sizes = sizes
    self.graphdef = nnx.graphdef(abstract)

  def init(self, key: jax.Array) -> dict:
    net = extractor.ExpressionExtractor(self.sizes, nnx.Rngs(key))
    return {pretrained.PREFIX: nnx.state(net, nnx.Param)}

  def net(self, params) -> extractor.ExpressionExtractor:
    return nnx.merge(self.graphdef, params[pretrained.PREFIX])

  def predict(self, params, images: jax.Array, labels: jax.Array):
    """Frames [B, S, S, 3], labels [B, 25] -> expressions [B, E]."""
    return self.net(params)(images, labels)


def gaussian_blur(images: jax.Array, sigma: jax.Array) -> jax.Array:
  """[B, H, W, C] blurred by a 5-tap Gaussian of per-image std `sigma` [B]
  (pixels; 0 leaves the image as it is), edges repeated."""
  taps = jnp.arange(-2, 3, dtype=jnp.float32)
  w = jnp.exp(-taps**2 / (2 * jnp.maximum(sigma, 1e-3)[:, None]**2))
  w = w / jnp.sum(w, -1, keepdims=True)                       # [B, 5]
  pad = jnp.pad(images, ((0, 0), (2, 2), (2, 2), (0, 0)), mode="edge")
  h, wd = images.shape[1:3]
  rows = sum(w[:, k, None, None, None] * pad[:, k:k + h] for k in range(5))
  return sum(w[:, k, None, None, None] * rows[:, :, k:k + wd]
             for k in range(5))


def degrade(key: jax.Array, images: jax.Array, cfg) -> jax.Array:
  """Training degradations of frames [B, S, S, 3] in [-1, 1] (config.augment):
  blur, brightness/contrast, Gaussian noise."""
  b = images.shape[0]
  k_blur, k_gain, k_bias, k_noise, k_level = jax.random.split(key, 5)
  x = gaussian_blur(images, jax.random.uniform(k_blur, (b,), maxval=cfg.blur))
  gain = 1 + cfg.color * jax.random.uniform(k_gain, (b, 1, 1, 3), minval=-1)
  bias = cfg.color * jax.random.uniform(k_bias, (b, 1, 1, 3), minval=-1)
  level = jax.random.uniform(k_level, (b, 1, 1, 1), maxval=cfg.noise)
  x = x * gain + bias + level * jax.random.normal(k_noise, x.shape)
  return jnp.clip(x, -1.0, 1.0)


def crop_jitter(key: jax.Array, batch: int, cfg) -> jax.Array:
  """[B, 4] crop perturbations (`face_crop.crop`'s jitter)."""
  scale = jnp.array([cfg.shift, cfg.shift, cfg.scale, cfg.angle])
  return scale * jax.random.uniform(key, (batch, 4), minval=-1.0)


class MotionExtractorTask:
  """Builds the extractor, its batches and its step from configs/motion.py."""

  def __init__(self, config: ml_collections.ConfigDict):
    self.config = config
    self.model = Extractor(config_bridge.from_fields(
        sizes_lib.ExtractorSizes, config.motion.extractor,
        "config.motion.extractor"))
    self.batch_size = config.batch_size
    self.sharding_rules = psi3d.sharding_rules(config)
    self.tx = supervised.optimizer(config.optimizer,
                                   config.train.total_steps)

  def init_state(self, key: jax.Array) -> dict:
    return supervised.init_state(self.model.init(key), self.tx)

  def dataset(self):
    return expression_renders.training_batches(
        config_bridge.from_fields(expression_renders.RenderSettings,
                                  self.config.data, "config.data"),
        self.batch_size)

  def loss(self, params, batch, key):
    k_degrade, k_jitter = jax.random.split(key)
    images = degrade(k_degrade, batch["image"], self.config.augment)
    net = self.model.net(params)
    crops = net.crops(images, batch["camera"],
                      crop_jitter(k_jitter, images.shape[0],
                                  self.config.augment.jitter))
    pred = net.from_crops(crops)
    half = pred.shape[0] // 2
    terms = dict(
        regression=jnp.mean(jnp.square(pred - batch["expression"])),
        invariance=jnp.mean(jnp.square(pred[:half] - pred[half:])))
    return (terms["regression"] +
            self.config.loss.invariance * terms["invariance"]), terms

  def train_step(self, state: dict, batch: dict, key: jax.Array):
    return supervised.step(self.tx, self.loss, state, batch, key,
                           self.batch_size, self.config.loss)


def correlations(pred: np.ndarray, truth: np.ndarray) -> dict:
  """Per-parameter Pearson correlation {name: r} of [N, E] arrays."""
  p = pred - pred.mean(0)
  t = truth - truth.mean(0)
  r = (p * t).sum(0) / np.sqrt((p * p).sum(0) * (t * t).sum(0) + 1e-12)
  return {param.name: float(v) for param, v in zip(P.EXPRESSION, r)}


class ExtractorEvaluator:
  """`evaluate(state, step)`: the EMA extractor on held-out identities
  (rendered anti-aliased, like the stored clips, while training renders
  are aliased and blurred at random) -> corr_<parameter>, their mean and
  the mean squared error."""

  def __init__(self, model: Extractor, cfg, workdir: str):
    self.model, self.cfg = model, cfg
    self.outdir = os.path.join(workdir, "eval")
    settings = config_bridge.from_fields(expression_renders.RenderSettings,
                                         cfg.data, "config.data")
    settings = dataclasses.replace(settings, supersample=2)
    self.fields = expression_renders.held_out(settings, cfg.eval.held_out,
                                              cfg.eval.batch)
    self._predict = jax.jit(
        lambda params, b: dict(pred=self.model.predict(
            params, b["image"], b["camera"])))

  def predict(self, params) -> np.ndarray:
    return eval_runs.render_all(self._predict, params, self.fields,
                                self.cfg.eval.batch)["pred"]

  def __call__(self, state: dict, step: int) -> dict:
    pred = self.predict(state["ema"])
    truth = self.fields["expression"]
    corr = correlations(pred, truth)
    metrics = {f"corr_{k}": v for k, v in corr.items()}
    metrics["corr_mean"] = float(np.mean(list(corr.values())))
    metrics["mse"] = float(np.mean(np.square(pred - truth)))
    eval_runs.report(self.outdir, step, metrics, lambda: self.grid(),
                     len(truth))
    return metrics

  def grid(self) -> np.ndarray:
    """uint8: the first held-out frames over their aligned crops."""
    k = min(8, len(self.fields["image"]))
    sizes = self.model.sizes
    crops = face_crop.crop(jnp.asarray(self.fields["image"][:k]),
                           jnp.asarray(self.fields["camera"][:k]),
                           sizes.frame, sizes.crop)
    size = self.fields["image"].shape[1]
    up = jax.image.resize(crops, (k, size, size, 3), "nearest")
    tiles = np.concatenate([self.fields["image"][:k], np.asarray(up)], 1)
    return image_io.to_uint8(np.concatenate(list(tiles), 1))
