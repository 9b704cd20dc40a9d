"""Small building blocks shared by the models."""

from __future__ import annotations

import math

import jax
import jax.numpy as jnp
from flax import nnx


class EqualizedLinear(nnx.Module):
  """StyleGAN2's fully connected layer with equalised learning rate.

  The stored parameters are not the effective ones:
  y = x @ (kernel * lr_mul / sqrt(in)) + bias * lr_mul. Storing them this way
  (kernel ~ N(0, 1 / lr_mul^2)) is what makes the learning-rate multiplier
  work with a plain optimiser, and what lets converted reference weights give
  identical outputs. `kernel` is [in, out] (the reference stores [out, in]).
  """

  def __init__(self, in_features: int, out_features: int, *,
               lr_mul: float = 1.0, bias_init: float = 0.0,
               zero_init: bool = False, rngs: nnx.Rngs):
    if zero_init:
      kernel = jnp.zeros((in_features, out_features), jnp.float32)
    else:
      kernel = jax.random.normal(rngs.params(), (in_features, out_features),
                                 jnp.float32) / lr_mul
    self.kernel = nnx.Param(kernel)
    self.bias = nnx.Param(
        jnp.full((out_features,), bias_init / lr_mul, jnp.float32))
    self.weight_gain = lr_mul / math.sqrt(in_features)
    self.bias_gain = lr_mul
    self.dtype = None   # compute dtype (models/precision.py); None: x's

  def __call__(self, x: jax.Array) -> jax.Array:
    x = x.astype(self.dtype or x.dtype)
    kernel = self.kernel[...] * self.weight_gain
    return x @ kernel.astype(x.dtype) + (self.bias[...] *
                                         self.bias_gain).astype(x.dtype)
