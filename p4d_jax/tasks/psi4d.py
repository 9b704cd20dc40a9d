"""Psi's training task: cross-view self-reenactment on pseudo multi-view
records (`data.psi4d_batches`), in the shared loop.

Psi is the synthesizer plus a motion source (`config.motion.kind`,
`models.motion`); a Psi3d run initialises it (`train.init_from`; the motion
encoder and motion-token maps start fresh, the cross-attention outputs at
zero). Each step animates the source frame with the driving motion and
then:

  - supervises at the real driving camera with the real frame: Psi3d's
    terms (`generator_training`), optionally adversarial;
  - every `pseudo_every` steps, renders at pseudo view q's camera and adds
    the perceptual distance to that precomputed view, both images masked by
    their own opacity, and optionally (`pseudo_depth`) the L1 to its stored
    depth, scaled by the interval (lazy terms).

An image-reading source reads the driving motion from a pseudo view of the
driving frame for exactly round(p_motion * B) examples of the batch (a
seeded permutation picks which) and from the real frame for the rest; the
oracle reads the driving frame's expression parameters. Every probability,
period and weight is in config.loss.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import ml_collections

from p4d_jax.data import psi4d_batches
from p4d_jax.models import model as model_lib
from p4d_jax.tasks import generator_training
from p4d_jax.tasks import psi3d
from p4d_jax.train import losses
from p4d_jax.train import optimizer


def uses_pseudo_depth(config) -> bool:
  """Whether the loss has the pseudo views' depth term, so batches carry
  `pseudo_depth` (the training data and the ahead-of-time traced batch)."""
  return config.loss.get("pseudo_depth", 0.0) > 0


def motion_choice(key: jax.Array, batch: int, p_motion: float) -> jax.Array:
  """[batch] bool: True where the motion comes from a pseudo view. Exactly
  round(p_motion * batch) are True, at seeded random places."""
  return jax.random.permutation(key, batch) < round(p_motion * batch)


def _upsample(mask: jax.Array, size: int) -> jax.Array:
  """[B, N, N] -> [B, size, size, 1]."""
  up = jax.image.resize(mask, (mask.shape[0], size, size), "linear")
  return up[..., None]


class Psi4dTask:
  """Builds Psi, its batches and its step from a configs/psi4d.py config."""

  def __init__(self, config: ml_collections.ConfigDict):
    self.config = config
    self.model = model_lib.Model.from_config(config)
    # Parameters a Psi3d checkpoint does not set: the motion encoder, which
    # it lacks, and the motion-token maps, which it never trains (motion
    # scale 0); with a fan-in cross-attention init also the cross-attention
    # q/kv, which Psi3d holds at its own (std 0.02) init, never trained.
    fresh = [r"^(motion_encoder|encoder_canonical/(neutral|driving)_motion)/"]
    if self.model.sizes.canonical.cross_init == "fan_in":
      fresh.append(r"^encoder_canonical/trans_blocks_\w+/\d+/attn2/(q|kv)/")
    self.init_fresh = "|".join(fresh)
    self.batch_size = config.batch_size
    self.sharding_rules = psi3d.sharding_rules(config)
    opt = config.optimizer
    encoder_scale = opt.motion_lr_scale if self.model.motion.trainable else 0.0
    self.training = generator_training.GeneratorTraining(
        config, self.model,
        lr_groups=((optimizer.MOTION_LAYERS, opt.motion_lr_scale),
                   (r"^motion_encoder/", encoder_scale)))

  def init_state(self, key: jax.Array) -> dict:
    return self.training.init_state(key)

  def dataset(self):
    return psi4d_batches.training_batches(
        self.config.data, self.config.image_size, self.config.batch_size,
        expressions=self.model.motion_reads == "expression",
        depth=uses_pseudo_depth(self.config))

  def motions(self, params, batch: dict, key: jax.Array):
    """(source, driving) motion [B, D]: per example, from pseudo view p or
    the real driving frame (image sources), or the exact expressions."""
    reads = self.model.motion_reads
    if reads == "expression":
      return (self.model.motion_code(params, batch["source_expression"]),
              self.model.motion_code(params, batch["driving_expression"]))
    use_view = motion_choice(key, batch["image"].shape[0],
                             self.config.loss.p_motion)
    pick = lambda a, b: jnp.where(   # noqa: E731
        use_view.reshape((-1,) + (1,) * (a.ndim - 1)), a, b)
    source = dict(image=batch["image"], camera=batch["source_camera"])
    driving = dict(
        image=pick(batch["motion_view_image"], batch["driving_image"]),
        camera=pick(batch["motion_view_camera"], batch["driving_camera"]))
    if reads == "image":
      source, driving = source["image"], driving["image"]
    return (self.model.motion_code(params, source),
            self.model.motion_code(params, driving))

  def _pseudo_view_terms(self, params, planes, batch, key) -> jax.Array:
    """[2]: the perceptual distance to pseudo view q (both masked by their
    opacity) and, with `pseudo_depth` in the batch, the L1 to its depth
    weighted by Psi3d's opacity there (else 0)."""
    size = self.config.image_size
    out = self.model.render(params, planes,
                            self.model.background(params, batch["image"]),
                            batch["pseudo_c2w"],
                            batch["pseudo_intrinsics"], key)
    ours = out["image"] * _upsample((out["mask"] + 1.0) / 2.0, size)
    theirs = batch["pseudo_image"] * _upsample(batch["pseudo_mask"], size)
    depth = (losses.l1(out["depth"], batch["pseudo_depth"],
                       batch["pseudo_mask"]) if "pseudo_depth" in batch
             else jnp.zeros((), jnp.float32))
    return jnp.stack([self.training.perceptual(ours, theirs), depth])

  def loss(self, params, d_params, batch, step, key):
    lc = self.config.loss
    k_choice, k_render, k_tv, k_pseudo = jax.random.split(key, 4)
    tg = self.training.targets(batch)
    source_motion, driving_motion = self.motions(params, batch, k_choice)
    out = self.model.render_views(params, batch["image"], batch["target_c2w"],
                                  batch["target_intrinsics"], k_render,
                                  source_motion, driving_motion)
    terms = self.training.reconstruction_terms(params, d_params, out, tg,
                                               step, k_tv)
    if lc.pseudo_view > 0 or uses_pseudo_depth(self.config):
      pseudo = lc.pseudo_every * jax.lax.cond(
          step % lc.pseudo_every == 0,
          lambda: self._pseudo_view_terms(params, out["planes"], batch,
                                          k_pseudo),
          lambda: jnp.zeros((2,), jnp.float32))
      terms["pseudo_view"] = pseudo[0]
      if "pseudo_depth" in batch:
        terms["pseudo_depth"] = pseudo[1]
    extra = dict(skipped_records=jnp.sum(batch["skipped_records"]).astype(
        jnp.float32))
    return self.training.weighted(terms), (terms, extra, out, tg)

  def train_step(self, state: dict, batch: dict, key: jax.Array):
    return self.training.step(self.loss, state, batch, key)
