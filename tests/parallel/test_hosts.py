"""The multi-host data split covers every example exactly once (simulated
processes), through the very functions the pipelines call: SynthHeads'
`multiview_batches.host_examples` and the pseudo-view reader's
`host_shards`; batches split and join exactly."""

import collections

import grain
import jax
import numpy as np
import pytest

from p4d_jax.data import pseudo_view_reader
from p4d_jax.parallel import hosts
from p4d_jax.parallel import mesh as mesh_lib
from p4d_jax.data import multiview_batches

COUNTS = (1, 2, 4)


def assert_exact_cover(parts, items):
  """The parts are disjoint, their union is `items`, sizes differ by <= 1."""
  seen = collections.Counter(x for part in parts for x in part)
  assert set(seen) == set(items) and set(seen.values()) == {1}, seen
  sizes = [len(part) for part in parts]
  assert max(sizes) - min(sizes) <= 1, sizes


@pytest.mark.parametrize("count", COUNTS)
@pytest.mark.parametrize("n", [4, 13, 16])
def test_part_is_an_exact_cover(n, count):
  assert_exact_cover([list(hosts.part(range(n), i, count))
                      for i in range(count)], range(n))


def test_part_refuses_an_index_out_of_range():
  with pytest.raises(ValueError, match="process_index 2 is not in"):
    hosts.part(range(4), 2, 2)


@pytest.mark.parametrize("count", COUNTS)
def test_synthheads_examples_split_exactly_once(count):
  # The pipeline's own split and shuffle, on a data set of indices.
  ds = grain.MapDataset.range(13)
  parts = [list(multiview_batches.host_examples(ds, 5, i, count))
           for i in range(count)]
  assert_exact_cover(parts, range(13))
  if count > 1:   # each host really shuffles its own part
    assert parts[1] != sorted(parts[1])
  with pytest.raises(ValueError, match="3 training examples cannot split"):
    multiview_batches.host_examples(grain.MapDataset.range(3), 0, 0, 4)


@pytest.mark.parametrize("count", COUNTS)
def test_pseudo_view_shards_split_exactly_once(count):
  manifest = {"shards": [{"file": f"views-{k:05d}-of-00006.tfrecord"}
                         for k in range(6)]}
  files = [f"/records/{s['file']}" for s in manifest["shards"]]
  parts = [pseudo_view_reader.host_shards("/records", manifest, i, count)
           for i in range(count)]
  assert_exact_cover(parts, files)
  with pytest.raises(ValueError, match="6 shards for 8 processes"):
    pseudo_view_reader.host_shards("/records", manifest, 0, 8)


def test_local_batches_split_the_global_batch():
  assert [hosts.local_batch_size(8, c) for c in COUNTS] == [8, 4, 2]
  with pytest.raises(ValueError, match="batch_size 6 does not split over 4"):
    hosts.local_batch_size(6, 4)


def test_one_process_global_batch_is_its_local_batch_sharded():
  sharding = mesh_lib.batch_sharding(mesh_lib.make_mesh({"data": -1}))
  local = {"x": np.arange(16 * 3, dtype=np.float32).reshape(16, 3),
           "id": np.arange(16, dtype=np.int32)}
  batch = hosts.global_batch(local, sharding)
  for k, v in local.items():
    assert batch[k].sharding == sharding
    assert len(batch[k].addressable_shards) == jax.device_count()
    np.testing.assert_array_equal(batch[k], v)
