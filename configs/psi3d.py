"""Psi3d (static synthesizer) training as an ml_collections config.

  get_config("tiny")    trains on this CPU from SynthHeads multiview `small`
                        (64^2): 64^2 input and output, 32^2 neural rendering
                        with 2x super-resolution, 24 + 24 samples, batch 4
  get_config("small")   tiny's networks at 128^2 (SynthHeads `demo128`): 64^2
                        neural rendering, so 8x8 canonical tokens (issue 18's
                        expression config; its Psi is configs/psi4d.py:small)
  get_config("paper")   the released network: 512^2 input, 128^2 neural
                        rendering, 4x super-resolution, 48 + 48 samples,
                        batch 32, Portrait4D's loss weights

Run it with `python -m launch.main --config=configs/psi3d.py:tiny
--workdir=DIR`, overriding any key with `--config.KEY=VALUE`.

Sections: `model` holds every part's sizes (p4d_jax/models/sizes.py's
`SynthesizerSizes.from_config` builds them), `render` is configs/render.py's,
`data`, `loss`, `discriminator`, `optimizer`, `sharding_rules`, `train` (the
loop's `LoopConfig`) and `eval`.
"""

import dataclasses

import ml_collections

import configs

from p4d_jax.models import sizes
from p4d_jax.rendering import render_config


def _tiny_sizes() -> sizes.SynthesizerSizes:
  # One 2x SR block: 32^2 neural rendering -> the data's 64^2.
  return dataclasses.replace(
      sizes.SynthesizerSizes.tiny(),
      superres=dataclasses.replace(sizes.SuperResSizes.tiny(),
                                   widths=(16,)))


# Paper size: vectors (biases, norm scales) replicated, since splitting a few
# KiB only adds collectives; the transformers' matrices split Megatron-style
# over "model" (q, kv and fc1 by output, proj and fc2 by input, the depthwise
# conv by channel) and over "fsdp" on the other dim; every other array over
# "fsdp" on its largest dim that divides. With model = 1 (the default mesh)
# this is plain FSDP.
PAPER_RULES = (
    (r"proj_y/bias$", "fsdp"),   # the motion maps' 64K-long bias is not small
    (r"(bias|scale)$", "replicate"),
    (r"(attn\d?/(q|kv)|mlp/fc1)/kernel$", ("fsdp", "model")),
    (r"(attn\d?/proj|mlp/fc2)/kernel$", ("model", "fsdp")),
    (r"mlp/dwconv/dwconv/kernel$", (None, None, None, "model")),
    (".*", "fsdp"),
)


def get_config(arg: str = "tiny") -> ml_collections.ConfigDict:
  presets = {
      "tiny": dict(sizes=_tiny_sizes(), image=64, neural=32, samples=24,
                   batch=4, data="small", lr=5e-4, lpips=0.0, depth=1.0,
                   steps=6000, log=50, ckpt=500, eval=1000),
      "small": dict(sizes=_tiny_sizes(), image=128, neural=64, samples=24,
                    batch=4, data="demo128", lr=5e-4, lpips=0.0, depth=1.0,
                    steps=3000, log=50, ckpt=750, eval=1000),
      "paper": dict(sizes=sizes.SynthesizerSizes.paper(), image=512,
                    neural=128, samples=48, batch=32, data="base", lr=1e-4,
                    lpips=1.0, depth=0.0, steps=312_500, log=100, ckpt=5000,
                    eval=5000),
  }
  p = configs.pick(presets, arg, "psi3d")
  cpu = arg != "paper"   # the CPU presets' discriminator and sharding
  config = ml_collections.ConfigDict()
  config.task = "psi3d"
  config.preset = arg   # run loading lays a saved run over this preset
  config.model = ml_collections.ConfigDict(p["sizes"].config_fields())
  # Memory knobs (none changes what is computed, only where and how exactly):
  # compute_dtype "float32" | "bfloat16" (parameters and optimizer state stay
  # float32; rendering's compositing and the losses too, models/precision.py);
  # remat: the transformer blocks' policy, "none" | "full" | "dots_saveable"
  # | ... (models/remat.py). The renderer's is render.remat with
  # render.chunk_rays (recompute each chunk of rays in the backward pass).
  config.model.compute_dtype = "float32"
  config.model.remat = "none"
  config.image_size = p["image"]
  config.neural_resolution = p["neural"]
  config.batch_size = p["batch"]
  config.render = ml_collections.ConfigDict(render_config.RenderConfig.preset(
      "p4d", num_coarse=p["samples"], num_fine=p["samples"]).config_fields())

  # Each example: one input view, supervised at itself and `target_views`
  # other views of the same still head.
  config.data = ml_collections.ConfigDict(dict(
      kind="multiview", size=p["data"], data_dir="", seed=0, target_views=1,
      worker_threads=2))

  # Portrait4D's Psi3d terms: L1 and LPIPS on four pairs (SR image, raw
  # image, head alone vs masked target, background vs unmasked target), 0.3
  # opacity, EG3D's density TV (weight 0.25 every 16 steps), GenHead-style
  # masked depth while it is available (SynthHeads' exact depth here), and
  # 0.01 adversarial with lazy R1 (off in tiny: 0 switches it off).
  # lpips_weights: the run directory tools/convert_lpips.py writes; empty:
  # the perceptual term is 1 - SSIM (nothing is downloaded).
  # expression_l1 / expression_opacity: weights of the L1 of the images and
  # of the opacity inside the eye and mouth regions of each target camera
  # (tasks/expression_terms; 0: off, Portrait4D's terms only).
  config.loss = ml_collections.ConfigDict(dict(
      l1=1.0, lpips=p["lpips"], lpips_weights="", opacity=0.3,
      expression_l1=0.0, expression_opacity=0.0,
      depth=p["depth"], density_tv=0.25, density_tv_every=16,
      adversarial=0.0, r1_gamma=1.0, r1_every=16,
      ema_half_life_images=10_000.0, ema_rampup=0.05))
  config.discriminator = ml_collections.ConfigDict(dict(
      widths=(16, 32, 64) if cpu else (128, 256, 512, 512, 512),
      lr=p["lr"]))
  # schedule "constant" (Portrait4D's) or "cosine": warm-up_steps linear from
  # 0, then a cosine to end_scale * lr at decay_steps (0: train.total_steps).
  config.optimizer = ml_collections.ConfigDict(dict(
      lr=p["lr"], b1=0.9, b2=0.999, eps=1e-5, motion_lr_scale=2.5,
      schedule="constant", warmup_steps=0, decay_steps=0, end_scale=0.05))
  # (regex on state paths, spec): "fsdp", "replicate" or one mesh axis (or
  # None) per dim; first match wins (p4d_jax/parallel/sharding.py). They
  # apply to the parameters, the EMA and Adam's moments alike.
  config.sharding_rules = ((".*", "fsdp"),) if cpu else PAPER_RULES
  config.train = ml_collections.ConfigDict(dict(
      total_steps=p["steps"], log_every=p["log"],
      checkpoint_every=p["ckpt"], eval_every=p["eval"], max_to_keep=3,
      seed=0, mesh=(("data", -1),), resume_from="", init_from=""))
  # Held-out identities: the input is each one's first view, the targets
  # its other views within `max_yaw` (radians) of it.
  # jaw_follow: also read each render's jaw opening back against the
  # input's (novel_view.py; ~11 exact renders a pair, so off by default).
  config.eval = ml_collections.ConfigDict(dict(
      identities=32, max_yaw=0.79, grid_rows=4, batch=8, jaw_follow=False))
  sizes.check_resolution(config.neural_resolution, p["sizes"].superres.factor,
                         config.image_size)
  return config
