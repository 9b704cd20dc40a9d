"""Psi3d's training task for the shared loop (`p4d_jax.train.loop`).

Input: one view of a still SynthHeads head; supervision at that view and
other views of it (`data.multiview_batches`). The model is the static
synthesizer (`models.model.Model` without a motion source: motion scale 0);
the step applies Portrait4D's Psi3d terms (`generator_training`), every
weight from `config.loss`. The state keeps an EMA of the generator for
evaluation.
"""

from __future__ import annotations

import jax
import ml_collections

from p4d_jax.data import multiview_batches
from p4d_jax.models import model as model_lib
from p4d_jax.tasks import generator_training
from p4d_jax.train import optimizer


def sharding_rules(config: ml_collections.ConfigDict) -> tuple:
  """config.sharding_rules as (regex, spec) tuples."""
  return tuple((str(pattern), spec if isinstance(spec, str) else tuple(spec))
               for pattern, spec in config.sharding_rules)


class Psi3dTask:
  """Builds the model, its batches and its step from a configs/psi3d.py
  config."""

  def __init__(self, config: ml_collections.ConfigDict):
    self.config = config
    self.model = model_lib.Model.from_config(config)
    self.batch_size = config.batch_size
    self.sharding_rules = sharding_rules(config)
    self.training = generator_training.GeneratorTraining(
        config, self.model,
        lr_groups=((optimizer.MOTION_LAYERS,
                    config.optimizer.motion_lr_scale),))

  def init_state(self, key: jax.Array) -> dict:
    return self.training.init_state(key)

  def dataset(self):
    return multiview_batches.training_batches(
        self.config.data, self.config.image_size, self.config.batch_size)

  def loss(self, params, d_params, batch, step, key):
    k_render, k_tv = jax.random.split(key)
    tg = self.training.targets(batch)
    out = self.model.render_views(params, batch["image"], batch["target_c2w"],
                                  batch["target_intrinsics"], k_render)
    terms = self.training.reconstruction_terms(params, d_params, out, tg,
                                               step, k_tv)
    return self.training.weighted(terms), (terms, {}, out, tg)

  def train_step(self, state: dict, batch: dict, key: jax.Array):
    return self.training.step(self.loss, state, batch, key)
