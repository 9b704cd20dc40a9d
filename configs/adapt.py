"""Few-shot adaptation (tools/adapt.py) as an ml_collections config.

  get_config("tiny")     the default: fusion, calibration, then the identity
                         stage, sized for the tiny Psi on a CPU core
  get_config("paper")    the same stages with longer schedules, for the
                         paper-size Psi on an accelerator

Every knob of the adaptation (p4d_jax/adaptation):
  fusion       how K inputs become one source state before any step
  calibration  per-image camera corrections (rotation about the head,
               translation, optional shared focal scale) and, optionally, a
               per-image motion-code correction; Gaussian priors in the
               units of the expected label noise
  identity     the trainable sets (token residual, field-decoder and SR
               bias deltas, LoRA on attention), each switchable
  regularise   the frozen pre-adaptation model's renders at unobserved
               cameras and expressions, magnitude priors, density TV
  loss         the photometric terms on the input views

Override on the command line: tools/adapt.py --config=configs/adapt.py:tiny
--config.identity.lora_rank=4.
"""

import ml_collections

import configs


def get_config(arg: str = "tiny") -> ml_collections.ConfigDict:
  presets = {"tiny": dict(calib=40, ident=240), "paper": dict(calib=200,
                                                                ident=500)}
  p = configs.pick(presets, arg, "adapt")
  config = ml_collections.ConfigDict()
  config.preset = arg
  config.seed = 0
  # "mean": average the K inputs' neutral tokens, detail features and
  # backgrounds; "first": neutral tokens averaged, detail and background of
  # the first input (the one you list first: your best, most frontal view).
  config.fusion = ml_collections.ConfigDict(dict(detail="mean"))
  # Stage 1 (weights frozen) runs `steps`; the identity stage keeps the
  # cameras free at lr * identity_lr_scale. rotation_sigma (degrees),
  # translation_sigma (fraction of the camera distance) and focal_sigma
  # (fraction) are the prior's scales; `prior` its weight. zero_mean: fix the
  # gauge by removing the mean correction over the inputs (K > 1).
  # density: one offset on the raw density everywhere, at density_lr, only
  # when the inputs come with masks (the references are rendered again with
  # it when calibration ends).
  config.calibration = ml_collections.ConfigDict(dict(
      enabled=True, steps=p["calib"], lr=3e-3, identity_lr_scale=0.3,
      density=True, density_lr=0.1,
      focal=False, motion=False, motion_lr=1e-2, motion_prior=1e-3,
      rotation_sigma=3.0, translation_sigma=0.02, focal_sigma=0.02,
      prior=1e-3, zero_mean=False))
  # Stage 2. tokens: a residual on the fused neutral tokens; biases: deltas
  # on the field decoder's and the super-resolution's biases (with
  # geometry_biases, also those that move the density); weights: a regex,
  # full deltas on every parameter it matches that `biases` does not hold
  # ("": off); lora_rank > 0: low-rank adapters on q/kv/proj of the motion
  # blocks' and the tri-plane decoder's attention (alpha / rank scaling).
  config.identity = ml_collections.ConfigDict(dict(
      steps=p["ident"], tokens=True, token_lr=1e-1, biases=True,
      bias_lr=3e-3, geometry_biases=False,
      weights=r"^(generator_triplane|decoder|superresolution)/",
      weights_lr=1e-3, lora_rank=0, lora_alpha=1.0, lora_lr=3e-3))
  # references: cameras of the frozen model's renders (yaws up to
  # reference_yaw radians) x expressions (the inputs' motion codes mixed);
  # per_step of them are rendered each identity step; `reference` weighs
  # the L1 to their images (0: it held the unseen views to the fused
  # avatar's, which is what adaptation is meant to improve), reference_depth
  # the L1 to their depth (it holds the geometry). The magnitude priors are
  # mean squares of each set; density_tv is EG3D's regulariser.
  config.regularise = ml_collections.ConfigDict(dict(
      references=8, per_step=2, reference_yaw=1.0, reference=0.0,
      reference_depth=20.0, token_magnitude=1e-3, bias_magnitude=1e-3,
      weight_magnitude=0.0, lora_magnitude=1e-3, density_tv=0.05))
  # L1 on the super-resolved image and on the raw render, plus 1 - SSIM;
  # mask: L1 of the rendered opacity against the inputs' foreground masks
  # where they come with any (SynthHeads; photos have none).
  config.loss = ml_collections.ConfigDict(dict(l1=1.0, raw_l1=0.5,
                                               ssim=0.2, mask=1.0))
  config.lock()
  return config
