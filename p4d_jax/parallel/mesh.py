"""The device mesh: axes ("data", "fsdp", "model"), sized by config.

    mesh = make_mesh({"data": -1, "fsdp": 2, "model": 1})

-1 takes the devices the other axes leave. The batch is split over
("data", "fsdp"); parameters are split over "fsdp" (and "model") by rules.
"""

from __future__ import annotations

import math
from typing import Mapping, Sequence

import jax
import numpy as np
from jax.sharding import AxisType, Mesh, NamedSharding, PartitionSpec as P

AXES = ("data", "fsdp", "model")
BATCH_AXES = ("data", "fsdp")


def resolve_shape(shape: Mapping[str, int], device_count: int) -> dict:
  """Fills one -1 entry so the axes multiply to `device_count`."""
  unknown = set(shape) - set(AXES)
  if unknown:
    raise ValueError(f"Unknown mesh axes {sorted(unknown)}; use {AXES}.")
  sizes = {a: int(shape.get(a, 1)) for a in AXES}
  free = [a for a, n in sizes.items() if n == -1]
  if len(free) > 1:
    raise ValueError(f"Mesh {sizes}: at most one axis may be -1.")
  fixed = math.prod(n for n in sizes.values() if n != -1)
  if free:
    if device_count % fixed:
      raise ValueError(f"Mesh {sizes}: {device_count} devices do not divide "
                       f"by the fixed axes' product {fixed}.")
    sizes[free[0]] = device_count // fixed
  if math.prod(sizes.values()) != device_count:
    raise ValueError(f"Mesh {sizes} needs {math.prod(sizes.values())} "
                     f"devices; there are {device_count}.")
  return sizes


def make_mesh(shape: Mapping[str, int],
              devices: Sequence[jax.Device] | None = None) -> Mesh:
  """A ("data", "fsdp", "model") mesh over `devices` (default: all)."""
  devices = list(jax.devices() if devices is None else devices)
  sizes = resolve_shape(shape, len(devices))
  grid = np.asarray(devices).reshape([sizes[a] for a in AXES])
  return Mesh(grid, AXES, axis_types=(AxisType.Auto,) * len(AXES))


def batch_sharding(mesh: Mesh) -> NamedSharding:
  """Leading (batch) dim split over data and fsdp, the rest replicated."""
  return NamedSharding(mesh, P(BATCH_AXES))
