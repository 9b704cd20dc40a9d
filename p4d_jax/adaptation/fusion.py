"""Feed-forward fusion: K input views of one person -> one source state, before
any adaptation step.

Each input runs Psi's source half exactly as `inference.avatar.Avatar.prepare`
does for a single source (its motion code neutralises its expression); the
neutral tokens, which no longer depend on the input's expression, are
averaged. Detail features and background are averaged too, or taken from the
first input (`configs/adapt.py` fusion.detail = "first"). With K = 1 the
result is the single source's state, bit for bit.
"""

from __future__ import annotations

import jax.numpy as jnp
import numpy as np

DETAIL = ("mean", "first")


def encode_inputs(avatar, images: np.ndarray, labels: np.ndarray) -> dict:
  """Images [K, S, S, 3] in [-1, 1] and labels [K, 25] -> each input's
  source state stacked: neutral [K, h, w, dim], detail [K, ...], background
  [K, N, N, C], scale [K]."""
  states = [avatar.prepare(image, label) for image, label in zip(images,
                                                                 labels)]
  return {k: jnp.concatenate([s[k] for s in states]) for k in states[0]}


def fuse(inputs: dict, detail: str = "mean") -> dict:
  """`encode_inputs`' states [K, ...] -> one source state [1, ...]."""
  if detail not in DETAIL:
    raise ValueError(f"fusion.detail {detail!r} is not one of {DETAIL}.")
  mean = lambda x: jnp.mean(x, axis=0, keepdims=True)   # noqa: E731
  pick = mean if detail == "mean" else (lambda x: x[:1])
  return dict(neutral=mean(inputs["neutral"]), detail=pick(inputs["detail"]),
              background=pick(inputs["background"]),
              scale=inputs["scale"][:1])
