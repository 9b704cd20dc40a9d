"""The pseudo multi-view record: its one schema, version, encoder and decoder.

One record per clip frame, a `tf.train.Example` (TensorFlow's proto, through
tfds' TF-free copy). Frames of a clip are stored consecutively, in order.

    schema_version  int64           SCHEMA_VERSION
    clip_id         int64           unique per clip in the data set
    clip_name       bytes           where the clip came from
    frame_index     int64           index of the frame in its clip
    num_frames      int64           frames of the clip (all stored)
    frame/image     bytes           PNG, uint8 [S, S, 3]: the real frame
    frame/camera    float [25]      its camera label (cameras.pack_label)
    frame/mask      bytes           PNG, uint8 [S, S]            (optional)
    views/image     bytes [K]       PNG, uint8 [S, S, 3]: Psi3d's pseudo views
    views/camera    float [K*25]    their camera labels
    views/mask      bytes [K]       PNG, uint8 [N, N]: rendered opacity (opt.)
    views/depth     float [K*N*N]   rendered ray distance       (optional)
    views/depth_size int64          N, present with views/depth
    frame/expression float [E]      the frame's exact expression parameters
                                    (SynthHeads clips only; optional)


`decode` gives numpy arrays under flat names (`frame_image`, `view_camera`,
...). A change of the fields bumps SCHEMA_VERSION; a reader meeting another
version refuses with a message rather than misreading.
"""

from __future__ import annotations

import numpy as np
from tensorflow_datasets.proto import tf_example_pb2

from p4d_jax.media import image_io
from p4d_jax.user_errors import UserError

SCHEMA_VERSION = 1
CAMERA_LABEL = 25

# The directory the pseudo-view stage writes (p4d_jax/stages/pseudo_views.py).
SETTINGS = "settings.json"
MANIFEST = "manifest.json"


def shard_name(index: int, count: int) -> str:
  return f"pseudo_views-{index:05d}-of-{count:05d}.tfrecord"

REQUIRED = ("schema_version", "clip_id", "clip_name", "frame_index",
            "num_frames", "frame/image", "frame/camera", "views/image",
            "views/camera")
OPTIONAL = ("frame/mask", "views/mask", "views/depth", "views/depth_size",
            "frame/expression")


def _ints(feature, values):
  feature.int64_list.value.extend(int(v) for v in np.ravel(values))


def _floats(feature, values):
  feature.float_list.value.extend(
      np.asarray(values, np.float32).ravel().tolist())


def _bytes(feature, values):
  feature.bytes_list.value.extend(values)


def encode(clip_id: int, clip_name: str, frame_index: int, num_frames: int,
           frame_image: np.ndarray, frame_camera: np.ndarray,
           view_image: np.ndarray, view_camera: np.ndarray,
           frame_mask: np.ndarray | None = None,
           view_mask: np.ndarray | None = None,
           view_depth: np.ndarray | None = None,
           frame_expression: np.ndarray | None = None) -> bytes:
  """One frame's record. Images uint8 [S, S, 3] / [K, S, S, 3], masks uint8
  [S, S] / [K, N, N], depth float [K, N, N], cameras [25] / [K, 25],
  expression float [E]."""
  views = len(view_image)
  if np.shape(view_camera) != (views, CAMERA_LABEL):
    raise ValueError(f"view_camera must be [{views}, {CAMERA_LABEL}], got "
                     f"{np.shape(view_camera)}.")
  example = tf_example_pb2.Example()
  f = example.features.feature
  _ints(f["schema_version"], [SCHEMA_VERSION])
  _ints(f["clip_id"], [clip_id])
  _bytes(f["clip_name"], [clip_name.encode()])
  _ints(f["frame_index"], [frame_index])
  _ints(f["num_frames"], [num_frames])
  _bytes(f["frame/image"], [image_io.encode_png(frame_image)])
  _floats(f["frame/camera"], frame_camera)
  _bytes(f["views/image"], [image_io.encode_png(v) for v in view_image])
  _floats(f["views/camera"], view_camera)
  if frame_mask is not None:
    _bytes(f["frame/mask"], [image_io.encode_png(frame_mask)])
  if view_mask is not None:
    _bytes(f["views/mask"], [image_io.encode_png(m) for m in view_mask])
  if view_depth is not None:
    _floats(f["views/depth"], view_depth)
    _ints(f["views/depth_size"], [np.shape(view_depth)[-1]])
  if frame_expression is not None:
    _floats(f["frame/expression"], frame_expression)
  return example.SerializeToString(deterministic=True)


def parse(data: bytes, where: str = "record"):
  """The record's feature map, with its version checked; `where` names it."""
  example = tf_example_pb2.Example()
  try:
    example.ParseFromString(data)
  except Exception as err:  # protobuf's DecodeError and friends
    raise UserError(f"{where}: not a tf.train.Example ({err}).") from err
  f = example.features.feature
  missing = [k for k in REQUIRED if k not in f]
  if missing:
    raise UserError(f"{where}: not a pseudo-view record, missing "
                     f"{missing}.")
  version = f["schema_version"].int64_list.value[0]
  if version != SCHEMA_VERSION:
    raise UserError(
        f"{where}: pseudo-view schema version {version}, this code reads "
        f"version {SCHEMA_VERSION}. Regenerate the records with "
        "tools/precompute_pseudo_views.py, or read them with the matching "
        "p4d_jax release.")
  return f


def clip_key(data: bytes, where: str = "record") -> tuple[int, int, int]:
  """(clip_id, frame_index, num_frames) without decoding any image."""
  f = parse(data, where)
  return (f["clip_id"].int64_list.value[0], f["frame_index"].int64_list.value[0],
          f["num_frames"].int64_list.value[0])


def _pngs(feature, where):
  values = feature.bytes_list.value
  return np.stack([image_io.decode_image(b, f"{where}[{i}]")
                   for i, b in enumerate(values)])


def decode(data: bytes, where: str = "record") -> dict:
  """The record as numpy arrays (images decoded); `where` names it in
  errors (e.g. "file.tfrecord@offset")."""
  f = parse(data, where)
  out = dict(
      clip_id=np.int64(f["clip_id"].int64_list.value[0]),
      clip_name=f["clip_name"].bytes_list.value[0].decode(),
      frame_index=np.int64(f["frame_index"].int64_list.value[0]),
      num_frames=np.int64(f["num_frames"].int64_list.value[0]),
      frame_image=_pngs(f["frame/image"], f"{where} frame/image")[0],
      frame_camera=np.asarray(f["frame/camera"].float_list.value, np.float32),
      view_image=_pngs(f["views/image"], f"{where} views/image"))
  views = len(out["view_image"])
  out["view_camera"] = np.asarray(
      f["views/camera"].float_list.value, np.float32).reshape(views, -1)
  if "frame/mask" in f:
    out["frame_mask"] = _pngs(f["frame/mask"], f"{where} frame/mask")[0]
  if "views/mask" in f:
    out["view_mask"] = _pngs(f["views/mask"], f"{where} views/mask")
  if "views/depth" in f:
    n = f["views/depth_size"].int64_list.value[0]
    out["view_depth"] = np.asarray(f["views/depth"].float_list.value,
                                   np.float32).reshape(views, n, n)
  if "frame/expression" in f:
    out["frame_expression"] = np.asarray(
        f["frame/expression"].float_list.value, np.float32)
  return out
