"""Reading the official checkpoint files without torch (network pickles as
the official training loop writes them, torch files, npz) and the strict
key mapping: a missing, unexpected or misshapen key, or a fixed buffer of
other values, is one error that names it. (Conversion of the whole
synthetic checkpoint: test_official_parity.py.)"""

import collections
import os

import numpy as np
import pytest
from flax import nnx

from p4d_jax import tree_paths
from p4d_jax.models import sizes
from p4d_jax.models import synthesizer
from p4d_jax.models.official import checkpoint_files
from p4d_jax.models.official import generator_weights
from p4d_jax.models.official import key_mapping
from p4d_jax.models.official import network_pickle
from p4d_jax.models.official import pdfgc_net
from p4d_jax.models.official import pdfgc_weights
from p4d_jax.user_errors import MissingFile
from p4d_jax.user_errors import UserError
from tests.models import official_vectors as ov
from tests.models import torch_files as tf
from tools import convert_official

needs_vectors = pytest.mark.skipif(
    not os.path.exists(os.path.join(ov.DIR, "synthetic_checkpoint.py")),
    reason=f"no synthetic_checkpoint.py in {ov.DIR}")


def _network_pickle(path):
  """G_ema and D as the official snapshot holds them, and what state_dict()
  gives for G_ema."""
  floats = tf.Storage("0", np.arange(12, dtype=np.float32) - 5.5)
  longs = tf.Storage("1", np.array([7], np.int64))
  blob = tf.StorageBlob(floats)
  conv = tf.Conv2d(tf.module_state(collections.OrderedDict(
      weight=tf.Parameter(tf.Tensor(blob, 0, (2, 3), (3, 1))), bias=None)))
  child = tf.PersistentModule("Child", tf.module_state(
      {"scale": tf.Parameter(tf.Tensor(blob, 1, (3, 2), (1, 3)))},
      buffers={"steps": tf.Tensor(tf.StorageBlob(longs), 0, (), ()),
               "cache": tf.Tensor(blob, 0, (1,), (1,))}))
  child.meta["state"]["_non_persistent_buffers_set"] = {"cache"}
  g = tf.PersistentModule("TriPlaneReconstructorNeutralize", tf.module_state(
      {}, buffers={"w_avg": tf.Tensor(blob, 6, (2,), (1,))},
      modules=collections.OrderedDict(conv=conv, child=child, none=None),
      rendering_kwargs=dict(box_warp=1.3, depth_resolution=48),
      neural_rendering_resolution=128))
  snapshot = dict(training_set_kwargs=dict(resolution=512), G_ema=g,
                  D=tf.PersistentModule("D", tf.module_state({})),
                  augment_pipe=None)
  path.write_bytes(tf.pickled(snapshot, legacy=False))
  return collections.OrderedDict([
      ("w_avg", np.array([0.5, 1.5], np.float32)),
      ("conv.weight", (np.arange(6, dtype=np.float32) - 5.5).reshape(2, 3)),
      ("child.scale", (np.arange(1, 7, dtype=np.float32) - 5.5
                       ).reshape(2, 3).T),
      ("child.steps", np.array(7, np.int64))])


def test_network_pickle_gives_state_dicts_in_module_order(tmp_path):
  path = tmp_path / "snapshot.pkl"
  expected = _network_pickle(path)
  nets = network_pickle.read(str(path))
  assert sorted(nets) == ["D", "G_ema"]
  got = nets["G_ema"].state_dict
  assert list(got) == list(expected)   # params, buffers, then children
  for key, value in expected.items():
    assert got[key].dtype == value.dtype
    np.testing.assert_array_equal(got[key], value)
  assert nets["G_ema"].attrs["rendering_kwargs"]["box_warp"] == 1.3
  assert nets["G_ema"].attrs["neural_rendering_resolution"] == 128
  assert nets["D"].state_dict == {}
  state, attrs = checkpoint_files.read_state_dict(str(path))
  assert list(state) == list(expected) and attrs["rendering_kwargs"]
  with pytest.raises(UserError, match=r"holds the networks \['D', 'G_ema'\], "
                     "no 'G'; pick one with --module"):
    checkpoint_files.read_state_dict(str(path), "G")


def test_network_pickle_runs_nothing_it_names(tmp_path):
  marker = tmp_path / "ran"

  class Payload:
    def __reduce__(self):
      return os.system, (f"touch {marker}",)
  path = tmp_path / "evil.pkl"
  path.write_bytes(tf.pickled(dict(G_ema=Payload()), legacy=False))
  assert network_pickle.read(str(path)) == {}
  assert not marker.exists()


def test_bad_files_are_user_errors_naming_them(tmp_path):
  with pytest.raises(MissingFile, match="nope.pkl: no such file"):
    checkpoint_files.read_state_dict(str(tmp_path / "nope.pkl"))
  (tmp_path / "g.ckpt").write_bytes(b"x")
  with pytest.raises(UserError, match="g.ckpt: unknown kind of file"):
    checkpoint_files.read_state_dict(str(tmp_path / "g.ckpt"))
  for name in ("text.pkl", "text.pth", "text.npz"):
    (tmp_path / name).write_text("not a checkpoint\n")
    with pytest.raises(UserError, match=f"cannot read .*{name}.*damaged"):
      checkpoint_files.read_state_dict(str(tmp_path / name))
  cut = tmp_path / "cut.pkl"
  _network_pickle(cut)
  cut.write_bytes(cut.read_bytes()[:200])
  with pytest.raises(UserError, match="cannot read network pickle .*cut.pkl"):
    checkpoint_files.read_state_dict(str(cut))


def test_torch_and_numpy_state_dicts_lose_a_module_prefix(tmp_path):
  values = tf.Storage("0", np.arange(4, dtype=np.float32))
  tf.write_zip(tmp_path / "g.pth", {"G_ema": {"a": tf.Tensor(
      values, 0, (4,), (1,))}}, [values])
  state, attrs = checkpoint_files.read_state_dict(str(tmp_path / "g.pth"))
  assert list(state) == ["a"] and attrs == {}
  np.savez(tmp_path / "g.npz", **{"b.c": np.ones(2), "d": np.zeros(1)})
  state, _ = checkpoint_files.read_state_dict(str(tmp_path / "g.npz"))
  assert sorted(state) == ["b.c", "d"]


@pytest.fixture(scope="module")
def like():
  net = nnx.eval_shape(lambda: synthesizer.Synthesizer(
      sizes.SynthesizerSizes.paper(), nnx.Rngs(0)))
  return {k: v.shape for k, v in
          tree_paths.named_leaves(nnx.state(net, nnx.Param)).items()}


@pytest.fixture
def zeros():
  """Every official key at its shape (zeros; lazily allocated), with the
  fixed buffers' release values."""
  sc = ov.synthetic_checkpoint()
  return {k: (sc.fixed_value(k, shape, dtype)
              if sc.rule_for(k)[0] == "fixed" else np.zeros(shape, dtype))
          for k, (shape, dtype) in sc.load_key_shapes().items()}


@needs_vectors
def test_every_parameter_has_an_official_key(like, zeros):
  """Our 365 paths read 367 of the 383 keys (the decoder's two heads make
  one layer); the other 16 are the listed ignored ones."""
  keys = {generator_weights.official_key(p) for p in like
          if not p.startswith("decoder/")}
  decoder = {k for k in zeros if k.startswith("decoder.")}
  assert keys.isdisjoint(decoder) and keys <= set(zeros)
  rest = set(zeros) - keys - decoder
  assert all(generator_weights.ignored_reason(k) for k in rest)
  assert len(like) == 365 and len(keys | decoder) == 367 and len(rest) == 16


@needs_vectors
@pytest.mark.parametrize("change, message", [
    (lambda sd: sd.pop("encoder_canonical.proj_y.weight"),
     r"key encoder_canonical.proj_y.weight is missing: not a Portrait4D-v2 "
     r"generator \(pass the G_ema"),
    (lambda sd: sd.pop("decoder.out_rgb.bias"),
     "key decoder.out_rgb.bias is missing"),
    (lambda sd: sd.update({"mapping.fc0.weight": np.zeros(3)}),
     "unexpected key mapping.fc0.weight: the converter maps every key"),
    (lambda sd: sd.update({"background.down_conv_1.0.bias": np.zeros(63)}),
     r"background.down_conv_1.0.bias has shape \(63,\), the model wants "
     r"\(64,\) \(as background/down/0/0/bias\)"),
    (lambda sd: sd.update({"w_avg": np.full(512, 0.1, np.float32)}),
     r"w_avg is not zero: this code feeds the super-resolution w = 0"),
    (lambda sd: sd.update({"superresolution.block1.resample_filter":
                           np.eye(4, dtype=np.float32)}),
     "superresolution.block1.resample_filter is not the .1, 3, 3, 1. "
     "filter"),
])
def test_a_mismatch_is_one_error_naming_the_key(like, zeros, change, message):
  change(zeros)
  with pytest.raises(key_mapping.WeightsMismatch, match=message):
    generator_weights.convert(zeros, like)


@needs_vectors
def test_pdfgc_keys_map_one_to_one():
  net = nnx.eval_shape(lambda: pdfgc_net.FanEncoder(nnx.Rngs(0)))
  like = {f"{pdfgc_weights.PREFIX}/{k}": v.shape for k, v in
          tree_paths.named_leaves(nnx.state(net, nnx.Param)).items()}
  state_dict = ov.synthetic_checkpoint().make_pdfgc_state_dict(0)
  named = pdfgc_weights.convert(state_dict, like)
  assert set(named) == set(like)
  assert pdfgc_weights.official_key("model/conv2/downsample/1/kernel") == (
      "model.conv2.downsample.2.weight")
  assert pdfgc_weights.official_key("to_eye/layers/1/var") == (
      "to_eye.2.running_var")
  del state_dict["to_mouth.2.running_var"]
  with pytest.raises(key_mapping.WeightsMismatch,
                     match="key to_mouth.2.running_var is missing: not "
                     "PD-FGC's motion encoder"):
    pdfgc_weights.convert(state_dict, like)


def test_differing_inference_settings_are_named():
  assert convert_official.settings_warnings(dict(
      rendering_kwargs=dict(box_warp=1.3, depth_resolution=48))) == []
  assert convert_official.settings_warnings(dict(
      rendering_kwargs=dict(depth_resolution=64),
      neural_rendering_resolution=64)) == [
          "rendering_kwargs['depth_resolution'] is 64, this preset uses 48",
          "neural_rendering_resolution is 64, this preset uses 128"]
