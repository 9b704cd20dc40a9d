"""Parameter sharding from config rules (first match wins), big_vision style.

A rule is (regex, spec). The regex is searched in the parameter's path
("encoder_canonical/trans_blocks_motion/0/attn1/q/kernel"); the spec is

* "fsdp": split the largest dim that the fsdp axis divides (else replicate);
* "replicate": keep a full copy on every device;
* a tuple of mesh axis names / None per dim, e.g. (None, "model").

A parameter no rule matches is replicated. A spec that does not fit (wrong
rank, a dim the axis does not divide) raises an error naming the parameter.
"""

from __future__ import annotations

import re
from typing import Any, Sequence

import jax
from flax import nnx
from jax.sharding import Mesh, NamedSharding, PartitionSpec as P

from p4d_jax import tree_paths

Rule = tuple[str, Any]

# The default: every parameter fully sharded over fsdp where it divides.
FSDP_RULES: tuple[Rule, ...] = ((".*", "fsdp"),)


def _fsdp_spec(shape: Sequence[int], mesh: Mesh) -> P:
  size = mesh.shape["fsdp"]
  if size == 1:
    return P()
  for dim in sorted(range(len(shape)), key=lambda d: -shape[d]):
    if shape[dim] % size == 0:
      spec = [None] * len(shape)
      spec[dim] = "fsdp"
      return P(*spec)
  return P()


def spec_for(name: str, shape: Sequence[int], rules: Sequence[Rule],
             mesh: Mesh) -> P:
  """The PartitionSpec of one parameter."""
  for pattern, spec in rules:
    if not re.search(pattern, name):
      continue
    if spec == "fsdp":
      return _fsdp_spec(shape, mesh)
    if spec == "replicate":
      return P()
    if len(spec) != len(shape):
      raise ValueError(f"Sharding rule {pattern!r} gives {spec} to {name} "
                       f"of shape {tuple(shape)}: ranks differ.")
    for dim, axis in zip(shape, spec):
      if axis is not None and dim % mesh.shape[axis]:
        raise ValueError(f"Sharding rule {pattern!r}: {name} dim {dim} does "
                         f"not divide by mesh axis {axis!r} of size "
                         f"{mesh.shape[axis]}.")
    return P(*spec)
  return P()


def param_shardings(state: nnx.State, mesh: Mesh,
                    rules: Sequence[Rule] = FSDP_RULES):
  """NamedShardings for every array in `state` (abstract arrays work too)."""
  def one(path, x):
    return NamedSharding(mesh, spec_for(tree_paths.path_name(path), x.shape, rules,
                                        mesh))
  return jax.tree_util.tree_map_with_path(one, state)
