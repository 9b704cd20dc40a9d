"""The identity stage's trainable sets, as deltas on a frozen Psi and its
fused source state, each switchable (configs/adapt.py `identity`):

  tokens  a residual [1, h, w, dim] on the fused neutral tokens. It passes
          through the motion blocks, so it stays consistent across
          expressions (a residual on the planes would bake in the inputs').
  biases  deltas on the biases of the field decoder and the
          super-resolution (`BIASES`); with `geometry_biases` off, those
          that move the density (the decoder's hidden bias, the density
          entry of its output bias) stay fixed.
  lora    low-rank adapters W + (alpha / r) A B on q, kv and proj of the
          motion blocks' and the tri-plane decoder's attention (`LORA`); B
          starts at zero.
  weights full deltas on every parameter whose path matches the regex
          `weights` (default: the tri-plane generator's, the field
          decoder's and the super-resolution's), except those `biases`
          holds: fine-tuning of the networks after the motion blocks, which
          therefore also stays consistent across expressions.

Every delta starts at zero, so `apply` of fresh trainables returns the
parameters and source state unchanged, bit for bit. `apply` is also how
an adapted avatar is saved: the deltas merged into plain Psi parameters.

`offset_density` adds one scalar to the field decoder's raw density
everywhere (calibration's density offset, adaptation/fit.py): it grows or
shrinks the head and sharpens or softens its surface as a whole.
"""

from __future__ import annotations

import re

import jax
import jax.numpy as jnp

from p4d_jax import tree_paths
from p4d_jax.user_errors import UserError

BIASES = r"^(decoder|superresolution)/.*bias$"
DENSITY_BIASES = ("decoder/hidden/bias", "decoder/output/bias")
LORA = (r"^(encoder_canonical/trans_blocks_motion/\d+/attn[12]|"
        r"generator_triplane/trans_blocks/\d+/attn)/(q|kv|proj)/kernel$")


def bias_names(named: dict, cfg) -> list[str]:
  """The parameters (of `named`, {path name: leaf}) the `biases` set holds
  under `cfg` (the `identity` section); [] when it is off."""
  if not cfg.biases:
    return []
  return [n for n in named if re.search(BIASES, n) and (
      cfg.geometry_biases or n != DENSITY_BIASES[0])]


def weight_names(named: dict, cfg) -> list[str]:
  """The parameters the `weights` set holds: those `cfg.weights` matches
  that `biases` does not hold; [] when it is "". A pattern that is not a
  regular expression, or that leaves the set empty, is a user error."""
  if not cfg.weights:
    return []
  try:
    pattern = re.compile(cfg.weights)
  except re.error as err:
    raise UserError(f"identity.weights={cfg.weights!r} is not a regular "
                    f"expression ({err}); \"\" turns the set off.") from err
  held = set(bias_names(named, cfg))
  names = [n for n in named if pattern.search(n) and n not in held]
  if not names:
    raise UserError(
        f"identity.weights={cfg.weights!r} names no parameter of this Psi "
        "that the biases set does not hold (names look like "
        "'generator_triplane/conv_last/kernel'); \"\" turns the set off.")
  return names


def init(params, source: dict, cfg, key: jax.Array) -> dict:
  """Fresh trainables (zero deltas) for the sets `cfg` (the `identity`
  section) switches on: {tokens, biases: {name: delta}, weights: {name:
  delta}, lora: {name: (A, B)}}; a set that is off is absent."""
  named = tree_paths.named_leaves(params)
  out = {}
  if cfg.tokens:
    out["tokens"] = jnp.zeros_like(source["neutral"][:1])
  if cfg.biases:
    out["biases"] = {n: jnp.zeros_like(named[n])
                     for n in bias_names(named, cfg)}
  if cfg.weights:
    out["weights"] = {n: jnp.zeros_like(named[n])
                      for n in weight_names(named, cfg)}
  if cfg.lora_rank > 0:
    names = sorted(n for n in named if re.search(LORA, n))
    keys = jax.random.split(key, len(names))
    out["lora"] = {
        n: (jax.random.normal(k, (named[n].shape[0], cfg.lora_rank)) /
            jnp.sqrt(named[n].shape[0]),
            jnp.zeros((cfg.lora_rank, named[n].shape[1])))
        for n, k in zip(names, keys)}
  return out


def apply(params, source: dict, trainables: dict, lora_alpha: float = 1.0,
          geometry_biases: bool = True) -> tuple[object, dict]:
  """(Psi parameters, fused source state) with the deltas added: what the
  adapted avatar renders with."""
  biases = dict(trainables.get("biases", {}))
  if not geometry_biases and DENSITY_BIASES[1] in biases:
    # Column 0 of the field decoder's output is the density.
    biases[DENSITY_BIASES[1]] = biases[DENSITY_BIASES[1]].at[0].set(0.0)
  deltas = {**biases, **trainables.get("weights", {})}
  lora = trainables.get("lora", {})

  def add(path, leaf):
    name = tree_paths.path_name(path)
    if name in deltas:
      leaf = leaf + deltas[name]
    if name in lora:   # a kernel may have both a full delta and an adapter
      a, b = lora[name]
      leaf = leaf + (lora_alpha / a.shape[1]) * (a @ b)
    return leaf

  params = jax.tree_util.tree_map_with_path(add, params)
  if "tokens" in trainables:
    source = dict(source, neutral=source["neutral"] + trainables["tokens"])
  return params, source


def offset_density(params, offset: jax.Array):
  """Psi parameters with `offset` [] added to the raw density (column 0 of
  the field decoder's output bias)."""
  def add(path, leaf):
    if tree_paths.path_name(path) == DENSITY_BIASES[1]:
      return leaf.at[0].add(offset)
    return leaf
  return jax.tree_util.tree_map_with_path(add, params)


def magnitudes(trainables: dict) -> dict:
  """Mean square of each set's delta ({tokens, biases, weights, lora}:
  [])."""
  out = {}
  for name, tree in trainables.items():
    leaves = jax.tree.leaves(tree if name != "lora" else
                             {n: ab[1] for n, ab in tree.items()})
    total = sum(jnp.sum(jnp.square(x)) for x in leaves)
    out[name] = total / sum(x.size for x in leaves)
  return out
