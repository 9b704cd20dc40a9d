"""Compute dtype by config: parameters (and so the optimizer state and EMA)
stay float32; layers cast their inputs and weights to the compute dtype.

Every layer with a `dtype` attribute (Flax's Linear, Conv, LayerNorm and
ours: EqualizedLinear, ModulatedConv) gets the compute dtype; LayerNorm
still reduces in float32. The synthesizer hands its planes and background to
the renderer in float32, and the renderer composites (alpha, transmittance,
weights) in float32 whatever the field decoder computed in: a cumulative
product over 96 samples is where bfloat16's 8-bit mantissa would show. The
losses therefore see float32 images.
"""

from __future__ import annotations

import jax.numpy as jnp
from flax import nnx

DTYPES = {"float32": jnp.float32, "bfloat16": jnp.bfloat16}


def set_compute_dtype(model: nnx.Module, name: str) -> None:
  """Sets every layer's compute dtype ("float32" or "bfloat16")."""
  if name not in DTYPES:
    raise ValueError(f"Unknown compute dtype {name!r}; use one of "
                     f"{sorted(DTYPES)}.")
  model.set_attributes(dtype=DTYPES[name])
