"""InceptionV3 pool3 features: pooling, resizing, weight conversion, and (if
tests/models/data/inception_reference.npz exists) torchvision's numbers."""

import json
import os

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from flax import nnx

from p4d_jax.evaluation import fid
from p4d_jax.models import inception
from p4d_jax.user_errors import UserError
from tests.models import make_inception_reference as reference
from tests.models import test_lpips
from tools import convert_inception

# torchvision's published inception_v3 size, 27,161,264 trainable floats,
# less AuxLogits (conv0 768*128 + 2*128, conv1 128*768*25 + 2*768, fc
# 768*1000 + 1000) and fc (2048*1000 + 1000): conv weights + BN gamma, beta.
TRAINABLE = (27_161_264 - (98_304 + 256 + 2_457_600 + 1_536 + 769_000)
             - 2_049_000)
# Keras' InceptionV3 without top: 34,432 non-trainable floats (BN mean and
# var; Keras has no BN gamma there, so this count is independent of ours).
RUNNING_STATS = 34_432


@pytest.fixture(scope="module")
def torch_state():
  """A torchvision-named state dict: every pool3 weight (by the reference
  rule, so a forward pass stays finite), plus keys the converter must
  ignore (fc, AuxLogits, num_batches_tracked)."""
  out = {k: reference.reference_weight(k, s)
         for k, s in inception.torch_shapes().items()}
  out["fc.weight"] = np.zeros((1008, 2048), np.float32)
  out["fc.bias"] = np.zeros((1008,), np.float32)
  out["AuxLogits.conv0.conv.weight"] = np.zeros((128, 768, 1, 1), np.float32)
  out["Mixed_5b.branch1x1.bn.num_batches_tracked"] = np.array(7, np.int64)
  return out


@pytest.fixture(scope="module")
def model(torch_state):
  return inception.from_state_dict(torch_state)


def _used(state: dict) -> dict:
  return {k: v for k, v in state.items()
          if not k.startswith(inception.IGNORED_PREFIXES)
          and not k.endswith(inception.IGNORED_SUFFIX)}


def test_random_model_gives_finite_non_negative_pool3_features(model):
  images = np.random.default_rng(1).integers(0, 256, (2, 64, 80, 3), np.uint8)
  feats = fid.features(model, images, batch=2)
  assert feats.shape == (2, 2048) and feats.dtype == np.float32
  assert np.all(np.isfinite(feats)) and np.all(feats >= 0)
  assert np.any(feats > 0) and not np.allclose(feats[0], feats[1])


@pytest.mark.slow
def test_pool3_needs_75_pixels_and_the_variants_differ(model, torch_state):
  x = jax.random.uniform(jax.random.key(2), (1, 75, 80, 3), minval=-1)
  with pytest.raises(ValueError, match="at least 75"):
    model.pool3(x[:, :74])
  tv = inception.from_state_dict(torch_state, fid=False)
  a, b = model.pool3(x), tv.pool3(x)
  assert a.shape == b.shape == (1, 2048)
  assert not np.allclose(a, b, rtol=1e-2, atol=0)


def test_pool_3x3_counts_only_valid_neighbours_by_hand():
  x = -1.0 - np.random.default_rng(3).uniform(size=(1, 4, 5, 2))  # all < 0
  valid = np.asarray(inception.pool_3x3(jnp.asarray(x), "avg_valid"))[0]
  padded = np.asarray(inception.pool_3x3(jnp.asarray(x), "avg"))[0]
  top = np.asarray(inception.pool_3x3(jnp.asarray(x), "max"))[0]
  x = x[0]
  corner, edge, inner = x[:2, :2], x[:2, 1:4], x[1:4, 2:5]  # 4, 6, 9 values
  np.testing.assert_allclose(valid[0, 0], corner.mean((0, 1)), rtol=1e-6)
  np.testing.assert_allclose(valid[0, 2], edge.mean((0, 1)), rtol=1e-6)
  np.testing.assert_allclose(valid[2, 3], inner.mean((0, 1)), rtol=1e-6)
  np.testing.assert_allclose(padded[0, 0], corner.sum((0, 1)) / 9, rtol=1e-6)
  np.testing.assert_allclose(padded[0, 2], edge.sum((0, 1)) / 9, rtol=1e-6)
  # Max pools pad with -inf: a corner of negative values is not 0.
  np.testing.assert_allclose(top[0, 0], corner.max((0, 1)), rtol=1e-6)


def test_stride_2_max_pool_floors():
  x = jnp.zeros((1, 8, 9, 1))
  assert inception.max_pool_3x3_s2(x).shape == (1, 3, 4, 1)


def _interpolate_by_formula(x: np.ndarray, size) -> np.ndarray:
  """PyTorch's bilinear F.interpolate, align_corners=False, [H, W, C]:
  src = max((dst + 0.5) * in / out - 0.5, 0), neighbours clamped."""
  for axis, n_out in enumerate(size):
    n_in = x.shape[axis]
    src = np.maximum((np.arange(n_out) + 0.5) * n_in / n_out - 0.5, 0)
    i0 = np.floor(src).astype(int)
    i1 = np.minimum(i0 + 1, n_in - 1)
    frac = (src - i0).reshape((-1,) + (1,) * (x.ndim - axis - 1))
    x = np.take(x, i0, axis) * (1 - frac) + np.take(x, i1, axis) * frac
  return x


@pytest.mark.parametrize("size", [(12, 17), (4, 5), (3, 20)])
def test_resize_matches_pytorch_bilinear(size):
  """Up, down and mixed, from [9, 11]."""
  x = np.random.default_rng(4).uniform(size=(1, 9, 11, 3))
  got = inception.resize_bilinear(jnp.asarray(x, jnp.float32), size)
  np.testing.assert_allclose(got[0], _interpolate_by_formula(x[0], size),
                             atol=1e-5)
  assert inception.resize_bilinear(x, (9, 11)) is x


def test_torch_layout_and_parameter_count(model):
  shapes = inception.torch_shapes()
  assert len(shapes) == 94 * 5  # 94 BasicConv2d: conv + 4 BN arrays each
  assert shapes["Conv2d_1a_3x3.conv.weight"] == (32, 3, 3, 3)
  assert shapes["Mixed_6b.branch7x7_2.conv.weight"] == (128, 128, 1, 7)
  assert shapes["Mixed_6e.branch7x7dbl_2.conv.weight"] == (192, 192, 7, 1)
  assert shapes["Mixed_7c.branch3x3dbl_3b.conv.weight"] == (384, 384, 3, 1)
  assert shapes["Mixed_7c.branch_pool.bn.running_var"] == (192,)
  trainable = nnx.state(model, nnx.Param)
  assert sum(v.size for v in jax.tree.leaves(trainable)) == TRAINABLE
  assert inception.parameter_count(model) == TRAINABLE + RUNNING_STATS


@pytest.mark.slow
def test_converter_round_trip(tmp_path, torch_state, capsys):
  """A zip-format .pth as torch writes it -> tool -> run directory ->
  model, the BatchNorm statistics included."""
  pth = str(tmp_path / "pt_inception.pth")
  test_lpips.write_zip(pth, *test_lpips._tensors(torch_state))
  out = str(tmp_path / "out" / "inception")
  assert convert_inception.parse_args(["--pth", pth, "--out", out]).variant == "fid"
  convert_inception.main(["--pth", pth, "--variant", "torchvision", "--out", out])
  printed = capsys.readouterr().out
  assert "fc has 1008 classes" in printed and "wrote" in printed
  assert sorted(os.listdir(out)) == ["checkpoints", "config.json"]
  with open(os.path.join(out, "config.json")) as f:
    assert json.load(f) == dict(task="inception", variant="torchvision",
                                source="pt_inception.pth")
  got = inception.load(out)
  assert not got.fid and got.Mixed_7c.pool == "avg"
  w = torch_state["Mixed_6b.branch7x7_2.conv.weight"]  # OIHW, 1 x 7
  np.testing.assert_array_equal(got.Mixed_6b.branch7x7_2.conv.kernel[...],
                                w.transpose(2, 3, 1, 0))
  bn = got.Mixed_7c.branch_pool.bn
  for var, key in ((bn.scale, "weight"), (bn.bias, "bias"),
                   (bn.mean, "running_mean"), (bn.var, "running_var")):
    np.testing.assert_array_equal(
        var[...], torch_state[f"Mixed_7c.branch_pool.bn.{key}"])
  used = _used(torch_state)
  assert inception.parameter_count(got) == sum(v.size for v in used.values())


def test_missing_or_misshapen_weights_are_named(tmp_path, torch_state):
  state = dict(torch_state)
  del state["Mixed_6e.branch7x7dbl_3.bn.running_var"]
  with pytest.raises(ValueError, match=r"Mixed_6e\.branch7x7dbl_3\.bn\."
                     "running_var"):
    inception.from_state_dict(state)
  state = dict(torch_state, **{"Mixed_5b.extra.weight": np.zeros(2)})
  with pytest.raises(ValueError, match=r"unexpected.*Mixed_5b\.extra"):
    inception.from_state_dict(state)
  pth = str(tmp_path / "fc_only.pth")  # the tool names the first missing key
  test_lpips.write_zip(pth, *test_lpips._tensors(
      {"fc.weight": np.zeros((2, 3), np.float32)}))
  with pytest.raises(UserError, match=r"missing.*Conv2d_1a_3x3\.bn\.bias"):
    convert_inception.main(["--pth", pth, "--out", str(tmp_path / "x")])


def test_features_equal_torchvision_reference():
  """torchvision's Inception3 and pytorch-fid's pooling on the weights of
  `reference.reference_weight`, from make_inception_reference.py."""
  if not os.path.isfile(reference.OUT):
    pytest.skip(f"no {reference.OUT}: run tests/models/"
                "make_inception_reference.py where torch and torchvision are "
                "installed")
  with np.load(reference.OUT) as z:
    ref = {k: z[k] for k in z.files}
  shapes = inception.torch_shapes()
  assert sorted(ref["shapes"]) == sorted(
      f"{k}={'x'.join(map(str, s))}" for k, s in shapes.items())
  state = {k: reference.reference_weight(k, s) for k, s in shapes.items()}
  run = nnx.jit(lambda m, x: m(x))
  for variant in ("fid", "torchvision"):
    got = run(inception.from_state_dict(state, fid=variant == "fid"),
              jnp.asarray(reference.reference_input()))
    want = ref[f"features_{variant}"]
    scale = np.abs(want).max()
    np.testing.assert_allclose(got, want, rtol=1e-4, atol=1e-4 * scale,
                               err_msg=variant)
