"""Pretraining the expression extractor (the `pretrained` motion source of
configs/psi4d.py) as an ml_collections config.

  get_config("tiny")    the extractor Psi tiny reads: 32^2 aligned crops of
                        64^2 frames, fresh 64^2 SynthHeads renders every
                        step, batch 32

Run: `python -m launch.main --config=configs/motion.py:tiny --workdir=DIR`,
then give Psi `--config.motion.kind=pretrained --config.motion.weights=DIR`.
Sections: `motion.extractor` (the network's sizes, `ExtractorSizes`),
`data` (the renders: `expression_renders.RenderSettings`), `augment` (the
degradations and crop jitter), `loss` (the identity-invariance weight, the
EMA), `optimizer` (AdamW, warm-up then cosine), `train` (the loop's) and
`eval` (held-out identities).
"""

import ml_collections

import configs

from p4d_jax import config_bridge
from p4d_jax.models import sizes


def get_config(arg: str = "tiny") -> ml_collections.ConfigDict:
  presets = {"tiny": dict(batch=32, steps=6000, lr=3e-3, repeats=12,
                          window=32)}
  p = configs.pick(presets, arg, "motion")
  config = ml_collections.ConfigDict()
  config.task = "motion_extractor"
  config.preset = arg
  config.motion = ml_collections.ConfigDict(dict(
      extractor=config_bridge.to_fields(sizes.ExtractorSizes())))
  config.batch_size = p["batch"]
  # Renders: resolution, supersample (1: aliased, degraded below), seed,
  # p_neutral (each parameter's chance of staying at neutral), repeats (the
  # steps each rendered pair serves, on average), window (the rendered
  # batches each step draws from).
  config.data = ml_collections.ConfigDict(dict(
      resolution=64, supersample=1, seed=0, p_neutral=0.3,
      repeats=p["repeats"], window=p["window"]))
  # blur: max Gaussian std (pixels of the frame); color: max gain/offset;
  # noise: max noise std; jitter: crop shift (half sides), log-scale, angle.
  config.augment = ml_collections.ConfigDict(dict(
      blur=0.8, color=0.1, noise=0.04,
      jitter=dict(shift=0.06, scale=0.06, angle=0.06)))
  config.loss = ml_collections.ConfigDict(dict(
      invariance=0.1, ema_half_life_images=2_000.0, ema_rampup=0.05))
  configs.supervised_sections(config, p["lr"], p["steps"], every=1000)
  config.eval = ml_collections.ConfigDict(dict(held_out=256, batch=32))
  return config
