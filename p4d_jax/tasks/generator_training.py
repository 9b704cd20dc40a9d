"""What Psi3d's and Psi's training share, as parts both tasks compose (no
task inherits another): the state (params, EMA, Adam, optionally a dual
discriminator), Portrait4D's reconstruction terms as a pure function of
renders and targets, their weighting, and the step around a task's loss.

Reconstruction terms (every weight from config.loss):
  - L1 and a perceptual term on four pairs: the super-resolved image vs the
    target; the raw rendering vs the target area-downsampled to the neural
    resolution; the head alone vs the target times its mask; the predicted
    background vs the target outside the mask;
  - opacity (rendered weights sum vs the mask), masked depth L1 against an
    exact depth, EG3D's density TV every `density_tv_every` steps;
  - optionally the terms inside the eye and mouth regions at each target
    camera (`expression_terms`: expression_l1, expression_opacity);
  - optionally (loss.adversarial > 0) a non-saturating GAN term from a dual
    discriminator trained in the same step, with lazy R1 every `r1_every`.
"""

from __future__ import annotations

from typing import Callable, Sequence

import jax
import jax.numpy as jnp
import ml_collections
import optax
from flax import nnx

from p4d_jax.evaluation import image_metrics
from p4d_jax.evaluation import view_targets
from p4d_jax.models import discriminator
from p4d_jax.models import model as model_lib
from p4d_jax.tasks import expression_terms
from p4d_jax.train import losses
from p4d_jax.train import optimizer
from p4d_jax.user_errors import UserError

# loss(params, d_params, batch, step, key) ->
#     (loss, (terms, extra metrics, renders, targets))
LossFn = Callable[..., tuple[jax.Array, tuple[dict, dict, dict, dict]]]

# A term's weight is config.loss[name], but for these names.
WEIGHT_KEYS = dict(perceptual="lpips")


def _learning_rate(config: ml_collections.ConfigDict):
  """config.optimizer's lr, under its schedule (decay_steps 0: the run's
  total_steps)."""
  opt = config.optimizer
  try:
    return optimizer.learning_rate(
        opt.lr, opt.schedule, opt.warmup_steps,
        opt.decay_steps or config.train.total_steps, opt.end_scale)
  except ValueError as err:
    raise UserError(str(err)) from err


class GeneratorTraining:
  """The parts, from a config (optimizer, loss, discriminator) and model."""

  def __init__(self, config: ml_collections.ConfigDict,
               model: model_lib.Model,
               lr_groups: Sequence[tuple[str, float]]):
    self.config, self.model = config, model
    self.loss_cfg = config.loss
    self.batch_size = config.batch_size
    opt = config.optimizer
    self.tx = optimizer.make_optimizer(
        model.abstract_params, lr=_learning_rate(config), b1=opt.b1,
        b2=opt.b2, eps=opt.eps, lr_groups=lr_groups)
    self.adversarial = config.loss.adversarial > 0
    if self.adversarial:
      d = nnx.eval_shape(self._build_discriminator, jax.random.key(0))
      self.d_graphdef = nnx.graphdef(d)
      self.d_tx = optax.adam(config.discriminator.lr, opt.b1, opt.b2, opt.eps)
    self.perceptual, self.perceptual_name = view_targets.perceptual_fn(
        config.loss.lpips_weights if config.loss.lpips > 0 else "")
    if config.loss.lpips > 0:
      print(f"[{config.task}] perceptual term: {self.perceptual_name}"
            + ("" if config.loss.lpips_weights else " (no loss.lpips_weights;"
               " see tools/convert_lpips.py)"), flush=True)

  def _build_discriminator(self, key):
    return discriminator.DualDiscriminator(
        tuple(self.config.discriminator.widths), nnx.Rngs(key))

  def init_state(self, key: jax.Array) -> dict:
    k_g, k_d = jax.random.split(key)
    params = self.model.init(k_g)
    state = dict(params=params, ema=params, opt_state=self.tx.init(params),
                 step=jnp.zeros((), jnp.int32))
    if self.adversarial:
      d_params = nnx.state(self._build_discriminator(k_d), nnx.Param)
      state.update(d_params=d_params, d_opt_state=self.d_tx.init(d_params))
    return state

  def targets(self, batch: dict) -> dict:
    return view_targets.targets(batch, self.model.sizes.superres.factor)

  def weighted(self, terms: dict) -> jax.Array:
    """The loss: every term times its config.loss weight (a task's own
    terms, e.g. Psi's pseudo_view, are weighted by their own key)."""
    return sum(self.loss_cfg[WEIGHT_KEYS.get(k, k)] * v
               for k, v in terms.items())

  def reconstruction_terms(self, params, d_params, out: dict, tg: dict,
                           step: jax.Array, k_tv: jax.Array) -> dict:
    """The unweighted terms of renders `out` against targets `tg`."""
    lc = self.loss_cfg
    m = tg["mask_raw"][..., None]
    target01 = (tg["image_raw"] + 1.0) / 2.0
    pairs = [(out["image"], tg["image"]), (out["image_raw"], tg["image_raw"]),
             (2.0 * out["foreground"] - 1.0, 2.0 * target01 * m - 1.0),
             (2.0 * out["background"] * (1.0 - m) - 1.0,
              2.0 * target01 * (1.0 - m) - 1.0)]
    terms = dict(l1=sum(losses.l1(a, b) for a, b in pairs))
    if lc.lpips > 0:
      terms["perceptual"] = sum(self.perceptual(a, b) for a, b in pairs)
    terms["opacity"] = losses.opacity((out["mask"] + 1.0) / 2.0,
                                      tg["mask_raw"])
    terms.update(expression_terms.terms(lc, out, tg))
    if lc.depth > 0 and "depth_raw" in tg:
      terms["depth"] = losses.l1(out["depth"], tg["depth_raw"],
                                 tg["depth_valid"])
    if lc.density_tv > 0:
      field = self.model.field(params, out["planes"])
      scenes = jnp.arange(out["planes"].shape[0])
      tv = losses.density_tv(lambda x: field(x, scenes)[1], k_tv,
                             out["planes"].shape[0],
                             self.model.render_cfg.box_warp)
      terms["density_tv"] = jnp.where(step % lc.density_tv_every == 0, tv, 0.0)
    if self.adversarial:
      d = nnx.merge(self.d_graphdef, d_params)
      terms["adversarial"] = losses.generator_adversarial(
          d(discriminator.dual_input(out["image"], out["image_raw"])))
    return terms

  def _discriminator_step(self, state, out, tg, step):
    lc = self.loss_cfg
    real = discriminator.dual_input(tg["image"], tg["image_raw"])
    fake = jax.lax.stop_gradient(discriminator.dual_input(out["image"],
                                                          out["image_raw"]))

    def d_loss(d_params):
      d = nnx.merge(self.d_graphdef, d_params)
      loss = losses.discriminator_adversarial(d(real), d(fake))
      # Lazy R1: every r1_every steps, scaled by the interval.
      r1 = jax.lax.cond(step % lc.r1_every == 0,
                        lambda: losses.r1_penalty(d, real),
                        lambda: jnp.zeros((), real.dtype))
      return loss + 0.5 * lc.r1_gamma * lc.r1_every * r1, (loss, r1)

    (_, (loss, r1)), grads = jax.value_and_grad(d_loss, has_aux=True)(
        state["d_params"])
    updates, d_opt_state = self.d_tx.update(grads, state["d_opt_state"],
                                            state["d_params"])
    return dict(d_params=optax.apply_updates(state["d_params"], updates),
                d_opt_state=d_opt_state), dict(d_loss=loss, r1=r1)

  def step(self, loss_fn: LossFn, state: dict, batch: dict, key: jax.Array):
    """One step of `loss_fn`: Adam, EMA, the discriminator; metrics are the
    loss, its terms, the loss's extra metrics and the image's PSNR."""
    lc = self.loss_cfg
    step = state["step"] + 1
    (loss, (terms, extra, out, tg)), grads = jax.value_and_grad(
        loss_fn, has_aux=True)(state["params"], state.get("d_params"), batch,
                               step, key)
    updates, opt_state = self.tx.update(grads, state["opt_state"],
                                        state["params"])
    params = optax.apply_updates(state["params"], updates)
    decay = losses.ema_decay(self.batch_size, lc.ema_half_life_images,
                             step * self.batch_size, lc.ema_rampup)
    new_state = dict(params=params, opt_state=opt_state, step=step,
                     ema=losses.ema_update(state["ema"], params, decay))
    metrics = dict(loss=loss, **terms, **extra, psnr=jnp.mean(
        image_metrics.psnr((out["image"] + 1.0) / 2.0,
                           (tg["image"] + 1.0) / 2.0)))
    if self.adversarial:
      d_state, d_metrics = self._discriminator_step(state, out, tg, step)
      new_state.update(d_state)
      metrics.update(d_metrics)
    return new_state, metrics
