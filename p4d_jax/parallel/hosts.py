"""How a multi-process (multi-host) job splits its data and joins batches.

Every process runs the same program on its own devices. Each reads a
disjoint part of the data (`part`) and batches its share of the global batch
(`local_batch_size`); the loop joins the processes' batches into one global
array (`global_batch`). With one process each of these is the identity, so
tests and laptops run the same code.
"""

from __future__ import annotations

import jax


def part(items, process_index: int, process_count: int):
  """Process `process_index`'s part of `items` (a list, range or grain
  MapDataset): every process_count-th item from its index. The parts are
  disjoint, cover every item, and differ in length by at most one."""
  if not 0 <= process_index < process_count:
    raise ValueError(f"process_index {process_index} is not in "
                     f"[0, {process_count}).")
  return items[process_index::process_count]


def local_batch_size(global_batch: int, process_count: int) -> int:
  """This process's share of a global batch."""
  if global_batch % process_count:
    raise ValueError(f"batch_size {global_batch} does not split over "
                     f"{process_count} processes.")
  return global_batch // process_count


def global_batch(local, sharding: jax.sharding.Sharding):
  """Every process's local batch (a pytree of numpy arrays, leading dim
  local_batch_size) joined along that dim into global arrays laid out by
  `sharding`: each process's rows land on its own devices, no copying
  between hosts."""
  return jax.tree.map(
      lambda x: jax.make_array_from_process_local_data(sharding, x), local)
