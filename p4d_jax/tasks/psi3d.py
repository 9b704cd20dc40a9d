"""Psi3d's training task for the shared loop (`p4d_jax.train.loop`).

Input: one view of a still SynthHeads head; supervision at that view and
other views of it (`multiview_batches`). The static synthesizer is the
`Synthesizer` with motion scale 0. The step applies Portrait4D's Psi3d
terms, every weight from `config.loss`:

  - L1 and a perceptual term on four pairs: the super-resolved image vs the
    target; the raw rendering vs the target area-downsampled to the neural
    resolution; the head alone vs the target times its mask; the predicted
    background vs the target outside the mask;
  - opacity (rendered weights sum vs the mask), masked depth L1 against the
    exact depth, EG3D's density TV every `density_tv_every` steps;
  - optionally (loss.adversarial > 0) a non-saturating GAN term from a dual
    discriminator trained in the same step, with lazy R1 every `r1_every`.

The perceptual term is LPIPS-VGG when `loss.lpips_weights` names a converted
file (tools/convert_lpips.py), else 1 - SSIM, which needs no weights.
The state keeps an EMA of the generator for evaluation.
"""

from __future__ import annotations

import functools

import jax
import jax.numpy as jnp
import ml_collections
import optax
from flax import nnx

from p4d_jax.evaluation import image_metrics
from p4d_jax.models import discriminator
from p4d_jax.models import precision
from p4d_jax.models import remat
from p4d_jax.models import sizes as sizes_lib
from p4d_jax.models import synthesizer
from p4d_jax.rendering import render
from p4d_jax.rendering import render_config
from p4d_jax.tasks import multiview_batches
from p4d_jax.train import losses
from p4d_jax.train import optimizer


def perceptual_fn(weights_path: str):
  """(a, b) [B, H, W, 3] in [-1, 1] -> mean distance; and its name."""
  if weights_path:
    from p4d_jax.models import lpips   # pylint: disable=import-outside-toplevel
    model = lpips.load_npz(weights_path)
    return (lambda a, b: jnp.mean(model(a, b))), "lpips"
  return (lambda a, b: jnp.mean(1.0 - image_metrics.ssim(
      (a + 1.0) / 2.0, (b + 1.0) / 2.0))), "1-ssim"


class Psi3dTask:
  """Builds the model, its batches and its step from a configs/psi3d.py
  config."""

  def __init__(self, config: ml_collections.ConfigDict):
    self.config = config
    self.sizes = sizes_lib.SynthesizerSizes.from_config(config.model)
    # Again after the config file's check: command-line overrides come after.
    sizes_lib.check_resolution(config.neural_resolution,
                               self.sizes.superres.factor, config.image_size)
    self.render_cfg = render_config.RenderConfig.from_config(config.render)
    self.batch_size = config.batch_size
    self.sharding_rules = tuple(
        (str(pattern), spec if isinstance(spec, str) else tuple(spec))
        for pattern, spec in config.sharding_rules)
    abstract = nnx.eval_shape(self._build_model, jax.random.key(0))
    # Static settings: they live in the graphdef, not in the parameters.
    precision.set_compute_dtype(abstract, config.model.compute_dtype)
    remat.set_policy(abstract, config.model.remat)
    self.graphdef, self.abstract_params = nnx.split(abstract, nnx.Param)
    opt = config.optimizer
    self.tx = optimizer.make_optimizer(
        self.abstract_params, lr=opt.lr, b1=opt.b1, b2=opt.b2, eps=opt.eps,
        lr_groups=((optimizer.MOTION_LAYERS, opt.motion_lr_scale),))
    self.adversarial = config.loss.adversarial > 0
    if self.adversarial:
      d = nnx.eval_shape(self._build_discriminator, jax.random.key(0))
      self.d_graphdef = nnx.graphdef(d)
      self.d_tx = optax.adam(config.discriminator.lr, opt.b1, opt.b2, opt.eps)
    self.perceptual, self.perceptual_name = perceptual_fn(
        config.loss.lpips_weights if config.loss.lpips > 0 else "")
    if config.loss.lpips > 0:
      print(f"[psi3d] perceptual term: {self.perceptual_name}"
            + ("" if config.loss.lpips_weights else " (no loss.lpips_weights;"
               " see tools/convert_lpips.py)"), flush=True)

  def _build_model(self, key):
    return synthesizer.Synthesizer(self.sizes, nnx.Rngs(key))

  def _build_discriminator(self, key):
    return discriminator.DualDiscriminator(
        tuple(self.config.discriminator.widths), nnx.Rngs(key))

  def model(self, params) -> synthesizer.Synthesizer:
    return nnx.merge(self.graphdef, params)

  def init_state(self, key: jax.Array) -> dict:
    k_g, k_d = jax.random.split(key)
    params = nnx.state(self._build_model(k_g), nnx.Param)
    state = dict(params=params, ema=params, opt_state=self.tx.init(params),
                 step=jnp.zeros((), jnp.int32))
    if self.adversarial:
      d_params = nnx.state(self._build_discriminator(k_d), nnx.Param)
      state.update(d_params=d_params, d_opt_state=self.d_tx.init(d_params))
    return state

  def dataset(self):
    return multiview_batches.training_batches(
        self.config.data, self.config.image_size, self.config.batch_size)

  def targets(self, batch: dict) -> dict:
    """Flattens [B, T, ...] targets to [B*T, ...] at both resolutions
    (depth only when the batch has `target_depth`)."""
    flat = lambda x: x.reshape(-1, *x.shape[2:])   # noqa: E731
    image = flat(batch["target_image"])
    mask = flat(batch["target_mask"])
    down = functools.partial(image_metrics.area_downsample,
                             factor=self.sizes.superres.factor)
    out = dict(image=image, image_raw=down(image), mask_raw=down(mask),
               c2w=flat(batch["target_c2w"]),
               intrinsics=flat(batch["target_intrinsics"]))
    if "target_depth" in batch:
      full = (mask > 0.99).astype(jnp.float32)
      out.update(depth_raw=down(flat(batch["target_depth"]) * full),
                 depth_valid=down(full) > 0.999)
    return out

  def planes(self, model, image: jax.Array, driving=None) -> jax.Array:
    """Psi3d's tri-planes of images [B, S, S, 3] (motion scale 0; Psi's
    task animates them with `driving`)."""
    del driving
    b = image.shape[0]
    zeros = jnp.zeros((b, self.sizes.canonical.motion_dim), image.dtype)
    return model.planes(image, zeros, zeros, jnp.zeros((b,), image.dtype))

  def render(self, params, image: jax.Array, c2w: jax.Array,
             intrinsics: jax.Array, key: jax.Array, driving=None) -> dict:
    """Inputs [B, S, S, 3] (and, for Psi, driving images), cameras
    [B, T, 4, 4] / [B, T, 3, 3] -> outputs for [B*T] renders, plus planes
    [B, ...]."""
    model = self.model(params)
    b, t = c2w.shape[:2]
    planes = self.planes(model, image, driving)
    bg = model.background_image(image, self.config.neural_resolution)
    out = model.render_planes(
        jnp.repeat(planes, t, axis=0), jnp.repeat(bg, t, axis=0),
        c2w.reshape(b * t, 4, 4), intrinsics.reshape(b * t, 3, 3),
        resolution=self.config.neural_resolution, cfg=self.render_cfg,
        key=key)
    return dict(out, planes=planes)

  def _generator_loss(self, params, d_params, batch, step, key):
    k_render, k_tv = jax.random.split(key)
    tg = self.targets(batch)
    out = self.render(params, batch["image"], batch["target_c2w"],
                      batch["target_intrinsics"], k_render)
    terms = self.reconstruction_terms(params, d_params, out, tg, step, k_tv)
    return self.weighted(terms), (terms, out, tg)

  def weighted(self, terms: dict) -> jax.Array:
    """The loss: every term times its config.loss weight."""
    lc = self.config.loss
    weights = dict(l1=lc.l1, perceptual=lc.lpips, opacity=lc.opacity,
                   depth=lc.depth, density_tv=lc.density_tv,
                   adversarial=lc.adversarial,
                   pseudo_view=lc.get("pseudo_view", 0.0))
    return sum(weights[k] * v for k, v in terms.items())

  def reconstruction_terms(self, params, d_params, out: dict, tg: dict,
                           step: jax.Array, k_tv: jax.Array) -> dict:
    """The unweighted terms of renders `out` against targets `tg`."""
    lc = self.config.loss
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
    if lc.depth > 0 and "depth_raw" in tg:
      terms["depth"] = losses.l1(out["depth"], tg["depth_raw"],
                                 tg["depth_valid"])
    if lc.density_tv > 0:
      field = render.triplane_field(out["planes"], self.model(params).decoder,
                                    self.render_cfg)
      scenes = jnp.arange(out["planes"].shape[0])
      tv = losses.density_tv(lambda x: field(x, scenes)[1], k_tv,
                             out["planes"].shape[0],
                             self.render_cfg.box_warp)
      terms["density_tv"] = jnp.where(step % lc.density_tv_every == 0, tv, 0.0)
    if self.adversarial:
      d = nnx.merge(self.d_graphdef, d_params)
      terms["adversarial"] = losses.generator_adversarial(
          d(discriminator.dual_input(out["image"], out["image_raw"])))
    return terms

  def _discriminator_step(self, state, out, tg, step):
    lc = self.config.loss
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

  def train_step(self, state: dict, batch: dict, key: jax.Array):
    lc = self.config.loss
    step = state["step"] + 1
    (loss, (terms, out, tg)), grads = jax.value_and_grad(
        self._generator_loss, has_aux=True)(
            state["params"], state.get("d_params"), batch, step, key)
    updates, opt_state = self.tx.update(grads, state["opt_state"],
                                        state["params"])
    params = optax.apply_updates(state["params"], updates)
    decay = losses.ema_decay(self.batch_size, lc.ema_half_life_images,
                             step * self.batch_size, lc.ema_rampup)
    new_state = dict(params=params, opt_state=opt_state, step=step,
                     ema=losses.ema_update(state["ema"], params, decay))
    metrics = dict(loss=loss, **terms, psnr=jnp.mean(image_metrics.psnr(
        (out["image"] + 1.0) / 2.0, (tg["image"] + 1.0) / 2.0)))
    if self.adversarial:
      d_state, d_metrics = self._discriminator_step(state, out, tg, step)
      new_state.update(d_state)
      metrics.update(d_metrics)
    return new_state, metrics
