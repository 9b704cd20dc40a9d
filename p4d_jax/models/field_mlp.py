"""The tri-plane field decoder: OSG-style MLP from plane features to (feature, sigma).

Structure of both references: equalised-lr FC (C -> hidden) + softplus, then a
density head (raw output) and a feature head with sigmoid * (1 + 2e-3) - 1e-3.
View directions are unused. The two heads share fan-in and gains, so they are
stored as ONE [hidden, 1 + out] layer (column 0 = density): one matmul instead
of two, and identical numbers.
"""

from __future__ import annotations

from typing import Mapping

import jax
import jax.numpy as jnp
import numpy as np
from flax import nnx

from p4d_jax.models.layers import EqualizedLinear
from p4d_jax.rendering import volume


class FieldDecoder(nnx.Module):
  """Aggregated plane features [..., C] -> (features [..., out], raw sigma [...])."""

  def __init__(self, in_features: int = 32, hidden: int = 64,
               out_features: int = 32, *, lr_mul: float = 1.0,
               zero_init_sigma: bool = True, rngs: nnx.Rngs):
    self.hidden = EqualizedLinear(in_features, hidden, lr_mul=lr_mul,
                                  rngs=rngs)
    self.output = EqualizedLinear(hidden, 1 + out_features, lr_mul=lr_mul,
                                  rngs=rngs)
    if zero_init_sigma:  # Portrait4D starts from an empty density field.
      self.output.kernel[...] = self.output.kernel[...].at[:, 0].set(0.0)
      self.output.bias[...] = self.output.bias[...].at[0].set(0.0)

  def __call__(self, features: jax.Array) -> tuple[jax.Array, jax.Array]:
    h = volume.softplus(self.hidden(features))
    out = self.output(h)
    feats = jax.nn.sigmoid(out[..., 1:]) * (1 + 2e-3) - 1e-3
    return feats, out[..., 0]


def reference_arrays(tensors: Mapping[str, np.ndarray],
                     prefix: str = "") -> dict[str, np.ndarray]:
  """A reference OSGDecoder's stored tensors in this decoder's layout:
  {"hidden/kernel", "hidden/bias", "output/kernel", "output/bias"}.

  Accepts both layouts: EG3D (`net.0`, `net.2` with 1 + C outputs, row 0 =
  sigma) and Portrait4D (`net.0`, `out_sigma`, `out_rgb`). Tensors are the raw
  stored ones ([out, in] weights); the gains are the layers' own, so the
  decoder must be built with the reference's lr_mul. The keys read are
  `reference_keys(tensors, prefix)`.
  """
  def get(name):
    key = prefix + name
    if key not in tensors:
      raise KeyError(
          f"Decoder weights: missing {key!r}. Expected EG3D keys net.0.*, "
          f"net.2.* or Portrait4D keys net.0.*, out_sigma.*, out_rgb.*; found "
          f"{sorted(k for k in tensors if k.startswith(prefix))[:8]}.")
    return np.asarray(tensors[key], np.float32)

  hidden_w, hidden_b = get("net.0.weight"), get("net.0.bias")
  if prefix + "net.2.weight" in tensors:
    out_w, out_b = get("net.2.weight"), get("net.2.bias")
  else:
    out_w = np.concatenate([get("out_sigma.weight"), get("out_rgb.weight")])
    out_b = np.concatenate([get("out_sigma.bias"), get("out_rgb.bias")])
  return {"hidden/kernel": hidden_w.T, "hidden/bias": hidden_b,
          "output/kernel": out_w.T, "output/bias": out_b}


def reference_keys(tensors: Mapping[str, np.ndarray],
                   prefix: str = "") -> list[str]:
  """The keys `reference_arrays` reads: EG3D's if `net.2` is there, else
  Portrait4D's."""
  names = (("net.2.weight", "net.2.bias") if prefix + "net.2.weight" in tensors
           else ("out_sigma.weight", "out_sigma.bias", "out_rgb.weight",
                 "out_rgb.bias"))
  return [prefix + n for n in ("net.0.weight", "net.0.bias") + names]


def load_reference_weights(decoder: FieldDecoder,
                           tensors: Mapping[str, np.ndarray],
                           prefix: str = "") -> None:
  """Copies a reference OSGDecoder's stored tensors (`reference_arrays`)
  into `decoder` in place."""
  arrays = reference_arrays(tensors, prefix)
  for name, layer in (("hidden", decoder.hidden), ("output", decoder.output)):
    w, b = arrays[f"{name}/kernel"], arrays[f"{name}/bias"]
    expected = layer.kernel[...].shape
    if w.shape != expected or b.shape != (expected[1],):
      raise ValueError(
          f"Decoder weights: shape {w.T.shape}/{b.shape} does not fit a layer "
          f"with kernel {expected} (stored [out, in] = {expected[::-1]}).")
    layer.kernel[...] = jnp.asarray(w)
    layer.bias[...] = jnp.asarray(b)
