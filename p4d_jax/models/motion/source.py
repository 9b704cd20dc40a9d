"""What every motion source is: where Psi's motion vector comes from.

Psi's cross-attention consumes a motion vector [B, D] per frame (the source
frame's to neutralise, the driving frame's to re-animate). A source says
which field of a frame it reads (`reads`), optionally owns an NNX module
(stored as the model's `motion_encoder`, so its parameters live in the
model's state), fills those parameters at initialisation (`load`), and
says whether training may change them (`trainable`).

Adding a source: one module beside this one with a subclass, plus one line
in `KINDS` (p4d_jax/models/motion/__init__.py).
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
from flax import nnx
from ml_collections import ConfigDict


class MotionSource:
  """`cfg` is config.motion, `dim` the model's motion width D."""

  # What it reads of a frame: "image" ([B, S, S, 3] in [-1, 1]), "framed"
  # (dict(image=..., camera=[B, 25] the frame's head-relative camera label))
  # or "expression" ([B, E] standardised SynthHeads expression parameters).
  reads: str = "image"
  # Whether its parameters (if any) are optimised with Psi.
  trainable: bool = True

  def __init__(self, cfg: ConfigDict, dim: int):
    self.cfg, self.dim = cfg, dim

  def build(self, rngs: nnx.Rngs) -> nnx.Module | None:
    """The module holding its parameters, or None."""
    del rngs
    return None

  def load(self, params: nnx.State) -> nnx.State:
    """Its parameters (the model's `motion_encoder` subtree) at
    initialisation; the default keeps the fresh ones."""
    return params

  def encode(self, module: nnx.Module | None, frames: jax.Array
             ) -> jax.Array:
    """Frames (the field `reads`) -> motion [B, D]."""
    raise NotImplementedError


def check_width(width: int, dim: int) -> None:
  if width > dim:
    raise ValueError(f"{width} expression parameters do not fit the "
                     f"model's motion width {dim}.")


def pad_to(code: jax.Array, dim: int) -> jax.Array:
  """Expression-like codes [B, E] -> [B, dim], zero beyond E."""
  check_width(code.shape[-1], dim)
  return jnp.pad(code, [(0, 0)] * (code.ndim - 1) +
                 [(0, dim - code.shape[-1])])
