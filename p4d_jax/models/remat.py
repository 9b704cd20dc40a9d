"""Rematerialisation (gradient checkpointing) of transformer blocks, by
policy name, so configs can trade compute for memory.

  "none"                              store every activation (no recompute)
  "full"                              store only each block's inputs
  "dots_saveable"                     store matmul outputs, recompute the rest
  "dots_with_no_batch_dims_saveable"  store only weight-times-activation
                                      matmuls (not attention's q.k, p.v)

Only memory and compute move; the numbers are the same up to the order in
which XLA fuses the recomputed ops. The renderer's ray chunks have their own
switch (`RenderConfig.remat` with `chunk_rays`).
"""

from __future__ import annotations

import jax
from flax import nnx

POLICIES = {
    "none": None,
    "full": jax.checkpoint_policies.nothing_saveable,
    "dots_saveable": jax.checkpoint_policies.dots_saveable,
    "dots_with_no_batch_dims_saveable":
        jax.checkpoint_policies.dots_with_no_batch_dims_saveable,
}


def check(name: str) -> str:
  if name not in POLICIES:
    raise ValueError(f"Unknown remat policy {name!r}; use one of "
                     f"{sorted(POLICIES)}.")
  return name


def set_policy(model: nnx.Module, name: str) -> None:
  """Sets the policy of every module with a `remat` attribute (the modules
  that loop over transformer blocks)."""
  model.set_attributes(remat=check(name))


def apply(block: nnx.Module, name: str, x: jax.Array, grid: tuple[int, int],
          *args) -> jax.Array:
  """block(x, grid, *args), recomputed in the backward pass under policy
  `name` ("none": stored as usual)."""
  if name == "none":
    return block(x, grid, *args)
  # The grid (Python ints) is closed over: static, never traced.
  fn = nnx.remat(lambda b, x, *a: b(x, grid, *a), policy=POLICIES[name])
  return fn(block, x, *args)
