"""Psi's training task: cross-view self-reenactment on pseudo multi-view
records (`psi4d_batches`), in the shared loop.

Psi is Psi3d's synthesizer plus a motion encoder (`models.psi`); a Psi3d
run initialises it (`train.init_from`; the motion encoder starts fresh, the
cross-attention outputs at zero). Each step animates the source frame with
the driving motion, taken from a pseudo view of the driving frame for
exactly round(p_motion * B) examples of the batch (a seeded permutation
picks which) and from the real frame for the rest, then:

  - supervises at the real driving camera with the real frame: Psi3d's terms
    (L1 and perceptual on four pairs, opacity; `Psi3dTask.
    reconstruction_terms`), optionally adversarial;
  - every `pseudo_every` steps, renders at pseudo view q's camera and adds
    the perceptual distance to that precomputed view, both images masked by
    their own opacity, scaled by the interval (a lazy term).

Every probability, period and weight is in config.loss.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
from flax import nnx

from p4d_jax.models import motion_encoder
from p4d_jax.models import psi
from p4d_jax.models import sizes as sizes_lib
from p4d_jax.tasks import psi3d
from p4d_jax.tasks import psi4d_batches
from p4d_jax.train import optimizer


def motion_choice(key: jax.Array, batch: int, p_motion: float) -> jax.Array:
  """[batch] bool: True where the motion comes from a pseudo view. Exactly
  round(p_motion * batch) are True, at seeded random places."""
  return jax.random.permutation(key, batch) < round(p_motion * batch)


def _upsample(mask: jax.Array, size: int) -> jax.Array:
  """[B, N, N] -> [B, size, size, 1]."""
  up = jax.image.resize(mask, (mask.shape[0], size, size), "linear")
  return up[..., None]


class Psi4dTask(psi3d.Psi3dTask):
  """Builds Psi, its batches and its step from a configs/psi4d.py config."""

  # Parameters a Psi3d checkpoint does not set: the motion encoder, which it
  # lacks, and the motion-token maps, which it never trains (motion scale 0).
  init_fresh = r"^(motion_encoder|encoder_canonical/(neutral|driving)_motion)/"

  def __init__(self, config):
    self.motion_sizes = sizes_lib.MotionSizes(
        widths=tuple(config.motion.widths), dim=config.model.canonical.motion_dim)
    super().__init__(config)
    opt = config.optimizer
    motion_scale = 0.0 if config.motion.frozen else opt.motion_lr_scale
    self.tx = optimizer.make_optimizer(
        self.abstract_params, lr=opt.lr, b1=opt.b1, b2=opt.b2, eps=opt.eps,
        lr_groups=((optimizer.MOTION_LAYERS, opt.motion_lr_scale),
                   (r"^motion_encoder/", motion_scale)))

  def _build_model(self, key):
    return psi.Psi(self.sizes, self.motion_sizes, nnx.Rngs(key))

  def init_state(self, key: jax.Array) -> dict:
    state = super().init_state(key)
    if self.config.motion.weights:
      model = self.model(state["params"])
      nnx.update(model.motion_encoder, motion_encoder.load_npz(
          self.config.motion.weights,
          nnx.state(model.motion_encoder, nnx.Param)))
      params = nnx.state(model, nnx.Param)
      state.update(params=params, ema=params, opt_state=self.tx.init(params))
    return state

  def dataset(self):
    return psi4d_batches.training_batches(
        self.config.data, self.config.image_size, self.config.batch_size)

  def planes(self, model, image, driving=None):
    if driving is None:   # Psi3d's static reconstruction (motion scale 0)
      return super().planes(model, image)
    return model.animated_planes(image, driving, 1.0)

  def driving_images(self, batch: dict, key: jax.Array) -> jax.Array:
    """Per example, pseudo view p or the real driving frame."""
    use_view = motion_choice(key, batch["image"].shape[0],
                             self.config.loss.p_motion)
    return jnp.where(use_view[:, None, None, None],
                     batch["motion_view_image"], batch["driving_image"])

  def _pseudo_view_term(self, params, planes, batch, key) -> jax.Array:
    model = self.model(params)
    n, size = self.config.neural_resolution, self.config.image_size
    out = model.render_planes(
        planes, model.background_image(batch["image"], n),
        batch["pseudo_c2w"], batch["pseudo_intrinsics"], resolution=n,
        cfg=self.render_cfg, key=key)
    ours = out["image"] * _upsample((out["mask"] + 1.0) / 2.0, size)
    theirs = batch["pseudo_image"] * _upsample(batch["pseudo_mask"], size)
    return self.perceptual(ours, theirs)

  def _generator_loss(self, params, d_params, batch, step, key):
    lc = self.config.loss
    k_choice, k_render, k_tv, k_pseudo = jax.random.split(key, 4)
    tg = self.targets(batch)
    out = self.render(params, batch["image"], batch["target_c2w"],
                      batch["target_intrinsics"], k_render,
                      driving=self.driving_images(batch, k_choice))
    terms = self.reconstruction_terms(params, d_params, out, tg, step, k_tv)
    if lc.pseudo_view > 0:
      terms["pseudo_view"] = lc.pseudo_every * jax.lax.cond(
          step % lc.pseudo_every == 0,
          lambda: self._pseudo_view_term(params, out["planes"], batch,
                                         k_pseudo),
          lambda: jnp.zeros((), jnp.float32))
    terms["skipped_records"] = jnp.sum(batch["skipped_records"]).astype(
        jnp.float32)
    loss = self.weighted({k: v for k, v in terms.items()
                          if k != "skipped_records"})
    return loss, (terms, out, tg)
