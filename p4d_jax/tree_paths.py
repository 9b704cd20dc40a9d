"""Names of pytree leaves: the one spelling that sharding rules, optimizer
groups, checkpoint matching and weight files share."""

from __future__ import annotations

import jax


def path_name(path) -> str:
  """A pytree key path as "a/b/0/kernel". An nnx Variable's own `value`
  attribute is left out, and every key kind (dict key, attribute, list
  index) is spelt as a string, as Orbax stores it, so an nnx.State and a
  checkpoint's plain dicts name a parameter alike."""
  parts = []
  for k in path:
    if isinstance(k, jax.tree_util.GetAttrKey):
      if k.name != "value":
        parts.append(k.name)
    else:
      name = str(getattr(k, "key", getattr(k, "idx", k)))
      if name != "value":
        parts.append(name)
  return "/".join(parts)


def named_leaves(tree) -> dict:
  """{path_name: leaf} of a pytree."""
  return {path_name(p): v
          for p, v in jax.tree_util.tree_flatten_with_path(tree)[0]}


def fill(like, named: dict):
  """A pytree like `like` whose leaves are `named[path_name]` (every leaf's
  name must be there)."""
  return jax.tree_util.tree_map_with_path(
      lambda p, _: named[path_name(p)], like)
