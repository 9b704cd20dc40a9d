"""Test-time adaptation of a Psi avatar to K views of one person.

    adapter = Adapter(avatar, cfg)          # an inference.avatar.Avatar and
                                            # configs/adapt.py's config
    result = adapter.fit(images, labels)    # [K, S, S, 3] in [-1, 1], [K, 25]
    result.params, result.source            # render with Avatar(model,
                                            # params).render(source, ...)

Feed-forward fusion first (`fusion`), then two stages of Adam in one jitted
step (compiled once, whatever the stage or the identity):

  calibration  `calibration.steps` steps: per-image camera corrections (and
               optionally motion-code corrections) and, with masks, one
               density offset (`calibration.density`: the head grown or
               shrunk as a whole), weights otherwise frozen
  identity     `identity.steps` steps: the trainable sets of `identity`,
               cameras and density offset still free at a lower learning
               rate

Loss on the input views: L1 on the super-resolved image and on the raw
render (each input over its own background), 1 - SSIM, and where the
inputs come with foreground masks (SynthHeads), L1 between the rendered
opacity and the mask (`loss.mask`). Regularisers: the pre-adaptation
avatar's renders at `regularise.references` unseen cameras x expressions
(image L1 and depth L1 on its opacity; rendered again with the calibrated
density offset when calibration ends, so they hold the identity stage to
the calibrated head, not to the fused one), the magnitudes of the deltas,
the camera prior, EG3D's density TV. Every
learning rate and weight is an argument of the step, so a stage change or a
new identity never recompiles (calibration steps compute the identity
stage's terms at weight 0: one compilation, about a minute on one CPU core
at the tiny size, costs more than that waste).
"""

from __future__ import annotations

import dataclasses
import time
from typing import Callable

import jax
import jax.numpy as jnp
import numpy as np
import optax

from p4d_jax import tree_paths
from p4d_jax.adaptation import calibration
from p4d_jax.adaptation import fusion
from p4d_jax.adaptation import identity
from p4d_jax.evaluation import image_metrics
from p4d_jax.evaluation import view_targets
from p4d_jax.inference import avatar as avatar_lib
from p4d_jax.progress import Progress
from p4d_jax.train import losses


@dataclasses.dataclass
class Result:
  params: object          # Psi parameters with the deltas merged
  source: dict            # the adapted source state [1, ...]
  labels: np.ndarray      # the calibrated input labels [K, 25]
  steps: int
  seconds: float          # the steps alone (the first compiles)
  losses: list            # per step: the total loss


def reference_labels(count: int, max_yaw: float) -> np.ndarray:
  """`count` labels at yaws spread over +-max_yaw, elevations alternating
  about the frontal one."""
  yaws = np.linspace(-max_yaw, max_yaw, count)
  up = avatar_lib.FRONTAL["elevation"] + 0.2 * (-1.0) ** np.arange(count)
  return np.stack([avatar_lib.view_label(float(y), float(e))
                   for y, e in zip(yaws, up)])


def reference_motions(codes: np.ndarray, count: int,
                      rng: np.random.Generator) -> np.ndarray:
  """Expressions no input shows: mixes of two inputs' codes [K, D] plus
  noise of half their RMS -> [count, D]."""
  codes = np.asarray(codes)
  i, j = rng.integers(len(codes), size=(2, count))
  w = rng.random((count, 1))
  rms = np.sqrt(np.mean(np.square(codes))) + 1e-6
  mixed = w * codes[i] + (1 - w) * codes[j]
  return (mixed + 0.5 * rms * rng.normal(size=mixed.shape)).astype(
      np.float32)


class Adapter:
  """Fits the avatar of `avatar` (an `inference.avatar.Avatar`: a Psi
  model and its parameters, kept frozen) to K views, per `cfg`
  (configs/adapt.py)."""

  def __init__(self, avatar: avatar_lib.Avatar, cfg):
    # A bad `identity.weights` pattern fails here, before any input is read.
    identity.weight_names(tree_paths.named_leaves(avatar.params),
                          cfg.identity)
    self.avatar, self.cfg = avatar, cfg
    self.model = avatar.model
    self._adam = optax.scale_by_adam()
    self._step = jax.jit(self._step_fn)
    self._merge = jax.jit(self._merge_fn)
    self._references = jax.jit(self._references_fn)

  # -- pure pieces ----------------------------------------------------------

  def _merge_fn(self, params, fused, trainables):
    params, source = identity.apply(params, fused, trainables["identity"],
                                    self.cfg.identity.lora_alpha,
                                    self.cfg.identity.geometry_biases)
    return identity.offset_density(params, trainables["density"]), source

  def _render(self, params, source, motion, background, c2w, intr, key):
    n = motion.shape[0]
    src = jax.tree.map(lambda x: jnp.broadcast_to(x, (n, *x.shape[1:])),
                       source)
    planes = self.model.animate(params, src, motion)
    out = self.model.render(params, planes, background, c2w, intr, key)
    return out, planes

  def _references_fn(self, params, fused, motion, labels):
    c2w, intr = calibration.apply(labels, calibration.zeros(len(labels)))
    bg = jnp.broadcast_to(fused["background"],
                          (len(labels), *fused["background"].shape[1:]))
    out, _ = self._render(params, fused, motion, bg, c2w, intr,
                          jax.random.key(0))
    return dict(image=out["image"], depth=out["depth"],
                mask=view_targets.to01(out["mask"]))

  def _loss(self, trainables, data, weights, key, ref_index):
    cfg = self.cfg
    params, source = self._merge_fn(data["params"], data["fused"],
                                    trainables)
    correction = calibration.gauge_fixed(trainables["cameras"],
                                         cfg.calibration.zero_mean)
    c2w, intr = calibration.apply(data["labels"], correction)
    motion = data["codes"] + trainables["motion"]
    k_in, k_ref, k_tv = jax.random.split(key, 3)
    out, planes = self._render(params, source, motion, data["backgrounds"],
                               c2w, intr, k_in)
    terms = dict(
        l1=losses.l1(out["image"], data["images"]),
        raw_l1=losses.l1(out["image_raw"], data["images_raw"]),
        ssim=1.0 - jnp.mean(image_metrics.ssim(
            view_targets.to01(out["image"]),
            view_targets.to01(data["images"]))),
        camera_prior=calibration.prior(
            correction, data["labels"], cfg.calibration.rotation_sigma,
            cfg.calibration.translation_sigma, cfg.calibration.focal_sigma),
        motion_prior=jnp.mean(jnp.square(trainables["motion"])),
        mask=losses.l1(view_targets.to01(out["mask"]), data["masks_raw"]))
    ref = jax.tree.map(lambda x: x[ref_index], data["references"])
    c2w_r, intr_r = calibration.apply(ref["labels"],
                                      calibration.zeros(len(ref_index)))
    bg = jnp.broadcast_to(source["background"],
                          (len(ref_index), *source["background"].shape[1:]))
    out_r, _ = self._render(params, source, ref["motion"], bg, c2w_r,
                            intr_r, k_ref)
    terms["reference"] = losses.l1(out_r["image"], ref["image"])
    terms["reference_depth"] = losses.l1(out_r["depth"], ref["depth"],
                                         ref["mask"])
    sigma = lambda x: self.model.field(params, planes[:1])(  # noqa: E731
        x, jnp.zeros((1,), jnp.int32))[1]
    terms["density_tv"] = losses.density_tv(sigma, k_tv, 1,
                                            self.model.render_cfg.box_warp)
    for name, value in identity.magnitudes(trainables["identity"]).items():
      terms[f"{name}_magnitude"] = value
    total = sum(weights[k] * v for k, v in terms.items())
    return total, terms

  def _step_fn(self, trainables, opt_state, data, weights, lrs, key,
               ref_index):
    grads, terms = jax.grad(self._loss, has_aux=True)(
        trainables, data, weights, key, ref_index)
    updates, opt_state = self._adam.update(grads, opt_state)
    trainables = jax.tree.map(lambda p, u, lr: p - lr * u, trainables,
                              updates, lrs)
    return trainables, opt_state, terms

  # -- the loop -------------------------------------------------------------

  def weights(self, stage: str, masks: bool) -> dict:
    """Every loss term's weight in a stage (the names `_loss` reports);
    the identity stage's terms weigh 0 in calibration, the mask term 0
    without `masks`."""
    c, r = self.cfg, self.cfg.regularise
    on = float(stage == "identity")
    return dict(l1=c.loss.l1, raw_l1=c.loss.raw_l1, ssim=c.loss.ssim,
                mask=c.loss.mask * float(masks),
                camera_prior=c.calibration.prior,
                motion_prior=c.calibration.motion_prior,
                reference=r.reference * on,
                reference_depth=r.reference_depth * on,
                density_tv=r.density_tv * on,
                tokens_magnitude=r.token_magnitude * on,
                biases_magnitude=r.bias_magnitude * on,
                lora_magnitude=r.lora_magnitude * on,
                weights_magnitude=r.weight_magnitude * on)

  def _rates(self, trainables: dict, stage: str, masks: bool) -> dict:
    """Per-leaf learning rates of a stage (0: frozen). The density offset
    trains only with masks: the photometric terms alone shrink the head
    (and worsen its depth)."""
    c = self.cfg
    cam = c.calibration.lr if c.calibration.enabled else 0.0
    if stage == "identity":
      cam *= c.calibration.identity_lr_scale
    ident = stage == "identity"
    rate = dict(tokens=c.identity.token_lr * ident,
                biases=c.identity.bias_lr * ident,
                lora=c.identity.lora_lr * ident,
                weights=c.identity.weights_lr * ident)
    focal = cam if c.calibration.focal else 0.0
    density = c.calibration.density_lr if (c.calibration.density and
                                           masks) else 0.0
    if stage == "identity":
      density *= c.calibration.identity_lr_scale
    return dict(
        cameras=dict(rotation=cam, translation=cam, focal=focal),
        density=density,
        motion=c.calibration.motion_lr if c.calibration.motion else 0.0,
        identity={k: jax.tree.map(lambda _: rate[k], v)  # noqa: B023
                  for k, v in trainables["identity"].items()})

  def prepare(self, images: np.ndarray, labels: np.ndarray,
              masks: np.ndarray | None = None) -> dict:
    """The fixed inputs of every step: frozen parameters, the fused and
    per-input states, motion codes, the images (and masks: zeros when
    there are none; the mask term then weighs 0) and the references."""
    cfg, avatar = self.cfg, self.avatar
    inputs = fusion.encode_inputs(avatar, images, labels)
    fused = fusion.fuse(inputs, cfg.fusion.detail)
    codes = avatar.motion_codes(images, labels)
    rng = np.random.default_rng(cfg.seed)
    ref_labels = reference_labels(cfg.regularise.references,
                                  cfg.regularise.reference_yaw)
    ref_motion = reference_motions(np.asarray(codes),
                                   cfg.regularise.references, rng)
    if self.schedule():
      refs = self._references(avatar.params, fused, jnp.asarray(ref_motion),
                              jnp.asarray(ref_labels))
    else:   # no step: nothing reads them
      refs = dict(image=jnp.zeros(()), depth=jnp.zeros(()),
                  mask=jnp.zeros(()))
    images = jnp.asarray(images, jnp.float32)
    masks = jnp.zeros(images.shape[:3]) if masks is None else jnp.asarray(
        masks, jnp.float32)
    factor = self.model.sizes.superres.factor
    return dict(
        params=avatar.params, fused=fused, codes=codes,
        backgrounds=inputs["background"], images=images,
        images_raw=image_metrics.area_downsample(images, factor),
        masks_raw=image_metrics.area_downsample(masks, factor),
        labels=jnp.asarray(labels, jnp.float32),
        references=dict(refs, labels=jnp.asarray(ref_labels),
                        motion=jnp.asarray(ref_motion)))

  def init(self, data: dict) -> dict:
    k = data["labels"].shape[0]
    return dict(cameras=calibration.zeros(k), density=jnp.zeros(()),
                motion=jnp.zeros_like(data["codes"]),
                identity=identity.init(data["params"], data["fused"],
                                       self.cfg.identity,
                                       jax.random.key(self.cfg.seed)))

  def schedule(self) -> list[str]:
    """The stage of each step."""
    c = self.cfg
    calib = c.calibration.steps if (c.calibration.enabled or
                                    c.calibration.motion) else 0
    return ["calibration"] * calib + ["identity"] * c.identity.steps

  def fit(self, images: np.ndarray, labels: np.ndarray, progress: bool = True,
          on_step: Callable[[int, dict, dict], None] | None = None,
          masks: np.ndarray | None = None) -> Result:
    """Adapts to views [K, S, S, 3] in [-1, 1] at labels [K, 25], with
    their foreground masks [K, S, S] in [0, 1] where known.
    `on_step(step, data, trainables)` runs after every step (and at 0)."""
    data = self.prepare(images, labels, masks)
    trainables = self.init(data)
    opt_state = self._adam.init(trainables)
    schedule = self.schedule()
    bar = Progress(len(schedule), "adapt", every=10) if (
        progress and schedule) else None
    refs = self.cfg.regularise.references
    per = min(self.cfg.regularise.per_step, refs)
    history, tic = [], time.perf_counter()
    if on_step:
      on_step(0, data, trainables)
    for step, stage in enumerate(schedule):
      if step and stage != schedule[step - 1] and masks is not None:
        data = self.recalibrated_references(data, trainables)
      rates = jax.tree.map(jnp.float32, self._rates(trainables, stage,
                                                    masks is not None))
      weights = {k: jnp.float32(v) for k, v in
                 self.weights(stage, masks is not None).items()}
      ref_index = jnp.asarray((step * per + np.arange(per)) % refs)
      trainables, opt_state, terms = self._step(
          trainables, opt_state, data, weights, rates,
          jax.random.fold_in(jax.random.key(self.cfg.seed), step), ref_index)
      total = float(sum(weights[k] * v for k, v in terms.items()))
      if not np.isfinite(total):
        raise FloatingPointError(f"adaptation loss is {total} at step {step}.")
      history.append(total)
      if bar:
        bar.update(step + 1, stage=stage, loss=f"{total:.4f}")
      if on_step:
        on_step(step + 1, data, trainables)
    seconds = time.perf_counter() - tic
    return self.finish(data, trainables, len(schedule), seconds, history)

  def recalibrated_references(self, data: dict, trainables: dict) -> dict:
    """`data` with the references rendered again by the pre-adaptation
    avatar with the calibrated density offset (a no-op when it is off;
    `fit` calls it only with masks, without them the offset stays 0)."""
    if not self.cfg.calibration.density:
      return data
    ref = data["references"]
    params = identity.offset_density(data["params"], trainables["density"])
    fresh = self._references(params, data["fused"], ref["motion"],
                             ref["labels"])
    return dict(data, references=dict(ref, **fresh))

  def finish(self, data: dict, trainables: dict, steps: int,
             seconds: float, history: list) -> Result:
    params, source = self.adapted(data, trainables)
    correction = calibration.gauge_fixed(trainables["cameras"],
                                         self.cfg.calibration.zero_mean)
    labels = np.asarray(calibration.corrected_labels(data["labels"],
                                                     correction))
    return Result(params, source, labels, steps, seconds, history)

  def adapted(self, data: dict, trainables: dict) -> tuple[object, dict]:
    """The avatar's parameters and source state after these trainables."""
    return self._merge(data["params"], data["fused"], trainables)
