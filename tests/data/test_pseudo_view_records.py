"""The pseudo-view record: a round trip keeps every value, optional fields
stay optional, bytes are deterministic, and foreign records are refused."""

import numpy as np
import pytest
from tensorflow_datasets.proto import tf_example_pb2

from p4d_jax.data import pseudo_view_records as records


def frame(rng, views=3, size=8, neural=4, optional=True):
  u8 = lambda *s: rng.integers(0, 256, s, dtype=np.uint8)   # noqa: E731
  out = dict(clip_id=1_000_003, clip_name="synthheads_clips/tiny/test/3",
             frame_index=5, num_frames=8, frame_image=u8(size, size, 3),
             frame_camera=rng.normal(size=25).astype(np.float32),
             view_image=u8(views, size, size, 3),
             view_camera=rng.normal(size=(views, 25)).astype(np.float32))
  if optional:
    out.update(frame_mask=u8(size, size), view_mask=u8(views, neural, neural),
               view_depth=rng.normal(size=(views, neural, neural)).astype(
                   np.float32))
  return out


def test_round_trip_is_exact():
  want = frame(np.random.default_rng(0))
  got = records.decode(records.encode(**want))
  assert sorted(got) == sorted(want)
  for key, value in want.items():
    np.testing.assert_array_equal(got[key], value, err_msg=key)


def test_optional_fields_are_absent_when_not_given():
  want = frame(np.random.default_rng(1), optional=False)
  got = records.decode(records.encode(**want))
  assert not {"frame_mask", "view_mask", "view_depth"} & set(got)


def test_bytes_are_deterministic_and_clip_key_reads_without_images():
  want = frame(np.random.default_rng(2))
  data = records.encode(**want)
  assert data == records.encode(**want)
  assert records.clip_key(data) == (1_000_003, 5, 8)


def test_other_schema_version_is_refused():
  example = tf_example_pb2.Example()
  example.ParseFromString(records.encode(**frame(np.random.default_rng(3))))
  version = example.features.feature["schema_version"].int64_list.value
  version[0] = records.SCHEMA_VERSION + 1
  with pytest.raises(ValueError, match="schema version 2, this code reads "
                     "version 1. Regenerate"):
    records.decode(example.SerializeToString(), "x.tfrecord@17")


def test_foreign_bytes_name_the_record():
  with pytest.raises(ValueError, match="shard@99: not a"):
    records.decode(b"\xff\xff\xff", "shard@99")
  example = tf_example_pb2.Example()
  example.features.feature["image"].bytes_list.value.append(b"")
  with pytest.raises(ValueError, match=r"missing \['schema_version'"):
    records.decode(example.SerializeToString())


def test_camera_shape_is_checked():
  bad = frame(np.random.default_rng(4))
  bad["view_camera"] = bad["view_camera"][:2]
  with pytest.raises(ValueError, match=r"view_camera must be \[3, 25\]"):
    records.encode(**bad)
