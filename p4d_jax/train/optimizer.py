"""Adam with per-group learning-rate multipliers chosen by regex on parameter
paths (e.g. Portrait4D's x2.5 for the motion layers), from config.

    tx = make_optimizer(params, lr=1e-4, b1=0.9, b2=0.999, eps=1e-5,
                        lr_groups=((MOTION_LAYERS, 2.5),))
"""

from __future__ import annotations

import re
from typing import Sequence

import jax
import optax

from p4d_jax import tree_paths

# Portrait4D's `cross_lr_scale` group: the motion MLPs and token projections
# and every cross-attention with its norm, inside the canonical transformer.
MOTION_LAYERS = r"^encoder_canonical/.*(maps|proj_y|norm2|attn2)"


def group_labels(params, lr_groups: Sequence[tuple[str, float]]):
  """A pytree of labels: "group<i>" for the first matching group, else
  "base"."""
  def label(path, _):
    name = tree_paths.path_name(path)
    for i, (pattern, _scale) in enumerate(lr_groups):
      if re.search(pattern, name):
        return f"group{i}"
    return "base"
  return jax.tree_util.tree_map_with_path(label, params)


SCHEDULES = ("constant", "cosine")


def learning_rate(lr: float, schedule: str = "constant",
                  warmup_steps: int = 0, decay_steps: int = 0,
                  end_scale: float = 0.05) -> float | optax.Schedule:
  """`lr` itself for "constant" without warm-up (the optimizer's state and
  updates are then exactly those of a plain float); else a schedule: a
  linear warm-up from 0 over `warmup_steps`, then constant, or for "cosine"
  a cosine from `lr` down to `end_scale * lr` at step `decay_steps`."""
  if schedule not in SCHEDULES:
    raise ValueError(f"optimizer.schedule={schedule!r}: not one of "
                     f"{SCHEDULES}.")
  if schedule == "cosine":
    if decay_steps <= warmup_steps:
      raise ValueError(
          f"optimizer.decay_steps={decay_steps} must exceed "
          f"optimizer.warmup_steps={warmup_steps} for the cosine schedule.")
    return optax.warmup_cosine_decay_schedule(
        0.0, lr, warmup_steps, decay_steps, end_scale * lr)
  if warmup_steps:
    return optax.linear_schedule(0.0, lr, warmup_steps)
  return lr


def make_optimizer(params, lr: float, b1: float = 0.9, b2: float = 0.999,
                   eps: float = 1e-8,
                   lr_groups: Sequence[tuple[str, float]] = ()
                   ) -> optax.GradientTransformation:
  """Adam whose learning rate is multiplied per group; `lr` may be a schedule."""
  def adam(scale):
    if callable(lr):
      return optax.adam(lambda step: scale * lr(step), b1, b2, eps)
    return optax.adam(scale * lr, b1, b2, eps)

  transforms = {"base": adam(1.0)}
  for i, (_pattern, scale) in enumerate(lr_groups):
    transforms[f"group{i}"] = adam(scale)
  return optax.multi_transform(transforms, group_labels(params, lr_groups))
