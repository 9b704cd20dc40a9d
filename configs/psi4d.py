"""Psi (the 4D synthesizer) training as an ml_collections config.

  get_config("tiny")            configs/psi3d.py:tiny's network plus a motion
                                encoder, on the pseudo views of
                                configs/pseudo_views.py:tiny, initialised from
                                a psi3d:tiny run
  get_config("tiny_monocular")  ablation: no pseudo views (motion from the real
                                frame, no cross-view term)
  get_config("tiny_scratch")    ablation: no Psi3d initialisation
  get_config("tiny_oracle")     motion = SynthHeads' exact expressions (the
                                upper bound of any motion extractor)
  get_config("tiny_pretrained") motion = the frozen expression extractor of
                                a configs/motion.py:tiny run (motion.weights,
                                default runs/motion_tiny), read from the real
                                driving frame (p_motion 0)
  get_config("small")           configs/psi3d.py:small's network (128^2, 64^2
                                neural rendering, 8x8 canonical tokens) with
                                an 8x8 motion-token grid (tiny: 2x2), on the
                                pseudo views of a psi3d:small run (issue 18)
  get_config("small_oracle")    the same with motion = exact expressions
  get_config("paper")           the released sizes (548-d motion)
  get_config("official")        the released network's inference settings, as
                                tools/convert_official.py writes its runs:
                                paper sizes, 128^2 neural rendering, 48 + 48
                                samples, motion from PD-FGC ("pdfgc"; "codes"
                                without its weights)

Run: `python -m launch.main --config=configs/psi4d.py:tiny --workdir=DIR
--config.data.pseudo_views=OUT --config.train.init_from=PSI3D_RUN/checkpoints`.
Sections as configs/psi3d.py, plus `motion` (kind: where the motion comes
from; widths; weights: a run directory for kind "pretrained") and the Psi
terms in `loss`:
p_motion (share of each batch driven by a pseudo view), pseudo_view (weight
of the cross-view perceptual term), pseudo_every (its period) and
expression_l1 (an L1 inside the eye and mouth regions; off by default) and
pseudo_depth (an L1 to the pseudo views' Psi3d depth; off by default).
"""

import ml_collections

import configs
from configs import psi3d
from p4d_jax import config_bridge
from p4d_jax.models import sizes


def get_config(arg: str = "tiny") -> ml_collections.ConfigDict:
  variants = {
      "tiny": dict(base="tiny"),
      "tiny_monocular": dict(base="tiny", p_motion=0.0, pseudo_view=0.0),
      "tiny_scratch": dict(base="tiny", init_from=""),
      "tiny_oracle": dict(base="tiny", motion="oracle"),
      "tiny_pretrained": dict(base="tiny", motion="pretrained", p_motion=0.0),
      "small": dict(base="small"),
      "small_oracle": dict(base="small", motion="oracle"),
      "paper": dict(base="paper"),
      "official": dict(base="paper", motion="pdfgc"),
  }
  v = configs.pick(variants, arg, "psi4d")
  base = v["base"]
  cpu = base != "paper"   # the CPU presets, tiny and small
  config = psi3d.get_config(base)
  if base == "small":
    config.model.canonical.motion_grid = 8
  # "fan_in": the motion cross-attention's q/kv at fan-in scale
  # (models/attention.BlockCross); "segformer" is the release's init, which
  # at the CPU sizes left the driver out (README, issue 18).
  config.model.canonical.cross_init = "fan_in" if cpu else "segformer"
  config.task = "psi4d"
  config.preset = arg
  # Where the motion vectors come from (p4d_jax/models/motion): "learned"
  # (a CNN trained with Psi; widths: its), "pretrained" (the expression
  # extractor of a configs/motion.py run, the directory `weights`, frozen),
  # "oracle" (SynthHeads' exact expression parameters).
  # extractor: the pretrained extractor's sizes (configs/motion.py's; they
  # must match the run in `weights`).
  config.motion = ml_collections.ConfigDict(dict(
      kind=v.get("motion", "learned"),
      widths=(16, 32) if cpu else (32, 64, 128, 256),
      weights=f"runs/motion_{base}" if v.get("motion") == "pretrained" else "",
      extractor=config_bridge.to_fields(sizes.ExtractorSizes())))
  # One element per clip of the records; each example draws source and
  # driving frames and two pseudo views of the driving frame.
  # drivers_per_source: consecutive examples sharing one source frame.
  # driver_candidates n > 1: the driving frame is the one of n draws whose
  # exact expression is farthest from the source's (records without
  # expressions, i.e. not SynthHeads, draw it uniformly). 4 in the CPU
  # presets: pairs then differ 1.6x more (README, issue 18).
  config.data = ml_collections.ConfigDict(dict(
      pseudo_views=f"outputs/pseudo_views/{base}" if cpu else "",
      seed=0, cycle_length=4, shuffle_window=16, skip_corrupt=False,
      drivers_per_source=1, driver_candidates=4 if cpu else 1))
  # Real frames carry no depth in the records; Portrait4D's Psi terms:
  # 90% of motions from pseudo views, the cross-view LPIPS every 4 steps.
  # expression_l1 (Psi3d's config, there 0): 4 carries more expression at
  # tiny, at a cost in depth and opacity (README, issue 18).
  # pseudo_depth: weight of an L1 to the pseudo views' stored Psi3d depth
  # (every pseudo_every steps, with the cross-view term; 0: off).
  config.loss.update(dict(depth=0.0, p_motion=v.get("p_motion", 0.9),
                          pseudo_view=v.get("pseudo_view", 1.0),
                          pseudo_every=4, pseudo_depth=0.0))
  config.train.init_from = v.get("init_from",
                                 f"runs/psi3d_{base}/checkpoints" if cpu
                                 else "")
  # Reenactment against SynthHeads' exact targets (held-out identities).
  config.eval = ml_collections.ConfigDict(dict(
      synthheads_size={"tiny": "small", "small": "demo128"}.get(base, "base"),
      data_dir="", pairs=64,
      batch=8, grid_rows=6))
  config.train.eval_every = 600 if cpu else 5000
  return config
