"""Training audio to motion (`models.audio2motion`: the deterministic
regressor, or the conditional VAE with a flow prior): SynthHeads speech in,
the clip's exact standardised expression parameters out (the `oracle`
motion space).

Batches are windows of SynthHeads clips with their speech
(`data.speech_clips`; nothing is rendered). The step scales each wave by a
random gain (log-uniform in `augment.gain`: loudness says how open the jaw
is only up to the microphone's gain, so the spectrum must say it too),
regresses the parameters weighted by `loss.weights` (blinks make no sound:
weight 0, they are painted in afterwards, `inference.talking`), and adds a
temporal smoothness term (the squared second difference, Real3D's
Laplacian); the cvae adds `loss.kl` x its KL term (its track is decoded
from a posterior sample of the exact track). Evaluation decodes the cvae's
prior at temperature 0. `Audio2MotionEvaluator` measures held-out clips (other
identities, so other motion and other voices): per-parameter correlation,
error, and the audio-visual offset of the predicted jaw.

    python -m launch.main --config=configs/audio2motion.py:tiny --workdir=DIR
"""

from __future__ import annotations

import os

import jax
import jax.numpy as jnp
import ml_collections
import numpy as np

from p4d_jax import config_bridge
from p4d_jax.data import speech_clips
from p4d_jax.evaluation import eval_runs
from p4d_jax.evaluation import lip_sync
from p4d_jax.models import audio2motion
from p4d_jax.tasks import motion_extractor
from p4d_jax.tasks import psi3d
from p4d_jax.train import supervised


def settings(config) -> speech_clips.SpeechSettings:
  return config_bridge.from_fields(speech_clips.SpeechSettings, config.data,
                                   "config.data")


class Audio2MotionTask:
  """Builds the model, its batches and its step from configs/audio2motion.py."""

  def __init__(self, config: ml_collections.ConfigDict):
    self.config = config
    self.model = audio2motion.Audio2Motion.from_config(config)
    self.batch_size = config.batch_size
    self.sharding_rules = psi3d.sharding_rules(config)
    self.tx = supervised.optimizer(config.optimizer,
                                   config.train.total_steps)
    self.weights = jnp.asarray(config.loss.weights, jnp.float32)

  def init_state(self, key: jax.Array) -> dict:
    return supervised.init_state(self.model.init(key), self.tx)

  def dataset(self):
    return speech_clips.training_batches(settings(self.config),
                                         self.batch_size)

  def loss(self, params, batch, key):
    k_gain, k_fit = jax.random.split(key)
    low, high = np.log(self.config.augment.gain)
    gain = jnp.exp(jax.random.uniform(k_gain, (batch["wave"].shape[0], 1),
                                      minval=low, maxval=high))
    pred, extra = self.model.fit_terms(params, batch["wave"] * gain,
                                       batch["expression"], k_fit)
    heard = pred * (self.weights > 0)
    terms = dict(
        regression=jnp.mean(self.weights * jnp.square(
            pred - batch["expression"])) / jnp.mean(self.weights),
        smoothness=audio2motion.laplacian(heard), **extra)
    loss = terms["regression"] + self.config.loss.smoothness * terms[
        "smoothness"]
    if "kl" in terms:
      loss = loss + self.config.loss.kl * terms["kl"]
    return loss, terms

  def train_step(self, state: dict, batch: dict, key: jax.Array):
    return supervised.step(self.tx, self.loss, state, batch, key,
                           self.batch_size, self.config.loss)


class Audio2MotionEvaluator:
  """`evaluate(state, step)`: the EMA model on `eval.clips` held-out clips ->
  corr_<parameter>, mse_<parameter> (standardised units) and `offset`, the
  lag (frames) that best aligns the predicted jaw with the audio's RMS."""

  def __init__(self, model: audio2motion.Audio2Motion, cfg, workdir: str):
    self.model, self.cfg = model, cfg
    self.outdir = os.path.join(workdir, "eval")
    self.clips = speech_clips.held_out(settings(cfg), cfg.eval.clips)
    self._predict = jax.jit(lambda params, b: dict(
        pred=self.model.predict(params, b["wave"])))

  def predict(self, params) -> np.ndarray:
    return eval_runs.render_all(self._predict, params,
                                dict(wave=self.clips["wave"]),
                                self.cfg.eval.batch)["pred"]

  def __call__(self, state: dict, step: int) -> dict:
    pred = self.predict(state["ema"])
    truth = self.clips["expression"]
    flat = lambda x: x.reshape(-1, x.shape[-1])  # noqa: E731
    corr = motion_extractor.correlations(flat(pred), flat(truth))
    metrics = {f"corr_{k}": v for k, v in corr.items()}
    mse = np.mean(np.square(pred - truth), (0, 1))
    metrics.update({f"mse_{k}": float(v) for k, v in zip(corr, mse)})
    envelope = lip_sync.frame_envelope(
        self.clips["wave"], settings(self.cfg).samples_per_frame)
    metrics["offset"] = float(lip_sync.offset(pred[..., 0], envelope))
    eval_runs.report(self.outdir, step, metrics, lambda: self.grid(pred),
                     len(truth))
    return metrics

  def grid(self, pred: np.ndarray) -> np.ndarray:
    """uint8: predicted (top) over exact (bottom) parameter tracks of the
    first clips, one row of pixels a parameter, grey = 0."""
    k = min(8, len(pred))
    tracks = np.concatenate([pred[:k], self.clips["expression"][:k]], -1)
    rows = np.clip(128 + 48 * tracks.transpose(0, 2, 1), 0, 255)
    tall = np.repeat(np.repeat(rows.reshape(-1, rows.shape[-1]), 4, 0), 4, 1)
    return np.repeat(tall[..., None], 3, -1).astype(np.uint8)
