"""LPIPS-VGG and the torch-free .pth reader.

The wheel test needs the lpips release's vgg.pth: an installed package
(`pip install --no-deps lpips==0.1.4`, which pulls in no torch) or the wheel
at /tmp/lpipswheel; it skips otherwise. Everything else writes its own files.
"""

import collections
import glob
import importlib.util
import json
import os
import pickle
import zipfile

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from p4d_jax.models import lpips
from p4d_jax.models import torch_weights
from p4d_jax.user_errors import UserError
from tests.models.torch_files import Storage
from tests.models.torch_files import Tensor
from tests.models.torch_files import write_legacy
from tests.models.torch_files import write_zip
from tools import convert_lpips

WHEELS = "/tmp/lpipswheel"
LIN_SHAPES = {f"lin{l}.model.1.weight": (1, c, 1, 1)
              for l, c in enumerate((64, 128, 256, 512, 512))}


def _sample(legacy: bool):
  """A nested checkpoint with strided, offset, half and int64 tensors."""
  floats = Storage("7", np.arange(12, dtype=np.float32) * 0.5 - 1.25)
  longs = Storage("9", np.array([3, -2, 1 << 40], np.int64))
  halves = Storage("11", np.array([0.5, -1.5, 65504.0], np.float16))
  obj = {"state_dict": collections.OrderedDict([
      ("conv", {"weight": Tensor(floats, 0, (2, 3), (3, 1))}),
      ("t", Tensor(floats, 1, (3, 2), (1, 3))),  # transposed, offset view
      ("steps", Tensor(longs, 0, (3,), (1,))),
      ("half", Tensor(halves, 1, (2,), (1,))),
      ("scalar", Tensor(floats, 11, (), ())),
      ("epoch", 5),
  ])}
  expected = {
      "conv.weight": np.arange(6, dtype=np.float32).reshape(2, 3) * 0.5 - 1.25,
      "t": (np.arange(1, 7, dtype=np.float32) * 0.5 - 1.25).reshape(2, 3).T,
      "steps": np.array([3, -2, 1 << 40], np.int64),
      "half": np.array([-1.5, 65504.0], np.float16),
      "scalar": np.float32(11 * 0.5 - 1.25),
  }
  storages = [floats, longs, halves]
  if legacy:  # a view of root "7" (legacy-only pid): its elements 8..11
    view = Storage("7", floats.values, ("v", 8, 4))
    obj["state_dict"]["view"] = Tensor(view, 1, (2,), (2,))
    expected["view"] = np.array([9, 11], np.float32) * 0.5 - 1.25
  return obj, storages, expected


@pytest.mark.parametrize("fmt", ["legacy", "zip", "zip_big_endian"])
def test_reader_round_trip_gives_the_exact_values(tmp_path, fmt):
  obj, storages, expected = _sample(legacy=fmt == "legacy")
  path = str(tmp_path / "sample.pth")
  if fmt == "legacy":
    write_legacy(path, obj, storages)
  else:
    write_zip(path, obj, storages, "big" if "big" in fmt else "little")
  got = torch_weights.load_state_dict(path)
  assert sorted(got) == sorted(expected)  # 'epoch' (not a tensor) dropped
  for key, want in expected.items():
    assert got[key].dtype == want.dtype and got[key].shape == want.shape, key
    np.testing.assert_array_equal(got[key], want, err_msg=key)


@pytest.mark.parametrize("fmt", ["legacy", "zip"])
@pytest.mark.parametrize("cut", [10, 0.5, -3])
def test_truncated_file_raises_value_error_naming_it(tmp_path, fmt, cut):
  obj, storages, _ = _sample(legacy=fmt == "legacy")
  path = str(tmp_path / "whole.pth")
  (write_legacy if fmt == "legacy" else write_zip)(path, obj, storages)
  data = open(path, "rb").read()
  end = int(len(data) * cut) if isinstance(cut, float) else cut
  bad = str(tmp_path / "cut.pth")
  with open(bad, "wb") as f:
    f.write(data[:end])
  with pytest.raises(ValueError, match="cut.pth"):
    torch_weights.load_state_dict(bad)


def test_reader_refuses_arbitrary_globals(tmp_path):
  class Evil:
    def __reduce__(self):
      return print, ("executed",)
  path = str(tmp_path / "evil.pth")
  with zipfile.ZipFile(path, "w") as z:
    z.writestr("archive/data.pkl", pickle.dumps({"x": Evil()}, protocol=2))
  with pytest.raises(ValueError, match="evil.pth.*refusing.*print"):
    torch_weights.load_state_dict(path)


def _wheel_lin_path(tmp_path_factory):
  spec = importlib.util.find_spec("lpips")  # does not import it (torch)
  for root in (spec.submodule_search_locations or []) if spec else []:
    path = os.path.join(root, "weights", "v0.1", "vgg.pth")
    if os.path.isfile(path):
      return path
  for wheel in sorted(glob.glob(os.path.join(WHEELS, "lpips-*.whl"))):
    out = tmp_path_factory.mktemp("wheel")
    with zipfile.ZipFile(wheel) as z:
      return z.extract("lpips/weights/v0.1/vgg.pth", out)
  return None


@pytest.fixture(scope="module")
def wheel_lin_path(tmp_path_factory):
  path = _wheel_lin_path(tmp_path_factory)
  if path is None:
    pytest.skip("needs the lpips release weights: `pip install --no-deps "
                f"lpips==0.1.4` (or its wheel in {WHEELS})")
  return path


@pytest.fixture(scope="module")
def lin(tmp_path_factory):
  """The real v0.1 lin weights when present, else random non-negative ones."""
  path = _wheel_lin_path(tmp_path_factory)
  if path:
    return torch_weights.load_state_dict(path)
  rng = np.random.default_rng(0)
  return {k: rng.uniform(0, 1, s).astype(np.float32)
          for k, s in LIN_SHAPES.items()}


def test_reader_gives_the_release_shapes(wheel_lin_path):
  got = torch_weights.load_state_dict(wheel_lin_path)
  assert {k: v.shape for k, v in got.items()} == LIN_SHAPES
  assert all(v.dtype == np.float32 and (v >= 0).all() and v.max() > 0
             for v in got.values())


# --- LPIPS -----------------------------------------------------------------


def _tensors(arrays: dict):
  """{key: array} -> (object with contiguous tensors, their storages)."""
  obj, storages = collections.OrderedDict(), []
  for i, (key, value) in enumerate(arrays.items()):
    storages.append(Storage(str(i), value.reshape(-1)))
    strides = tuple(int(s) // value.itemsize for s in value.strides)
    obj[key] = Tensor(storages[-1], 0, value.shape, strides)
  return obj, storages


@pytest.fixture(scope="module")
def torch_vgg():
  """A random torchvision-layout vgg16 state dict (OIHW), classifier too."""
  rng = np.random.default_rng(1)
  out, c_in = {}, 3
  for t, c in zip(lpips.TORCH_INDEX, lpips.WIDTHS):
    std = np.sqrt(2.0 / (9 * c_in))
    out[f"features.{t}.weight"] = rng.normal(0, std, (c, c_in, 3, 3)).astype(
        np.float32)
    out[f"features.{t}.bias"] = rng.normal(0, 0.1, (c,)).astype(np.float32)
    c_in = c
  out["classifier.0.bias"] = np.zeros(4096, np.float32)  # ignored
  return out


@pytest.fixture(scope="module")
def model(torch_vgg, lin):
  return lpips.from_state_dicts(torch_vgg, lin)


def _images(seed, shape=(2, 32, 32, 3)):
  return jax.random.uniform(jax.random.key(seed), shape, minval=-1, maxval=1)


def _conv_torch(x, w, b):
  """PyTorch's Conv2d (3x3, padding 1): x [H, W, I], w OIHW -> [H, W, O]."""
  h, wd, _ = x.shape
  xp = np.pad(x.astype(np.float64), ((1, 1), (1, 1), (0, 0)))
  out = np.zeros((h, wd, w.shape[0])) + b
  for ky in range(3):
    for kx in range(3):
      out += xp[ky:ky + h, kx:kx + wd] @ w[:, :, ky, kx].T.astype(np.float64)
  return out


def _taps_by_hand(vgg, x):
  """relu1_2 and relu2_2 of one image [H, W, 3] in [-1, 1], numpy."""
  layer = lambda x, t: np.maximum(_conv_torch(  # noqa: E731
      x, vgg[f"features.{t}.weight"], vgg[f"features.{t}.bias"]), 0)
  x = (x - lpips.SHIFT) / lpips.SCALE
  t1 = layer(layer(x, 0), 2)
  h, w = t1.shape[0] // 2 * 2, t1.shape[1] // 2 * 2  # floor, as MaxPool2d
  pooled = t1[:h, :w].reshape(h // 2, 2, w // 2, 2, -1).max(axis=(1, 3))
  return t1, layer(layer(pooled, 5), 7)


def _tap_distance(fa, fb, w):
  unit = lambda f: f / (np.sqrt((f * f).sum(-1, keepdims=True)) + 1e-10)  # noqa
  return np.mean(((unit(fa) - unit(fb)) ** 2) @ w.astype(np.float64))


def test_converted_conv_matches_a_direct_convolution(model, torch_vgg):
  """OIHW -> HWIO: our first two convs vs PyTorch's definition, by hand."""
  x = np.asarray(_images(3, (1, 6, 7, 3)))  # H != W catches a swap
  y0 = model.vgg.convs[0](jnp.asarray(x))
  want0 = _conv_torch(x[0], torch_vgg["features.0.weight"],
                      torch_vgg["features.0.bias"])
  np.testing.assert_allclose(y0[0], want0, rtol=1e-4, atol=1e-4)
  y1 = model.vgg.convs[1](y0)
  want1 = _conv_torch(np.asarray(y0[0]), torch_vgg["features.2.weight"],
                      torch_vgg["features.2.bias"])
  np.testing.assert_allclose(y1[0], want1, rtol=1e-4, atol=1e-4)


def test_vgg_taps_have_the_torchvision_shapes(model):
  taps = model.vgg(_images(0, (1, 33, 40, 3)))
  assert [t.shape for t in taps] == [
      (1, 33, 40, 64), (1, 16, 20, 128), (1, 8, 10, 256), (1, 4, 5, 512),
      (1, 2, 2, 512)]
  with pytest.raises(ValueError, match="at least 16"):
    model(_images(0, (1, 15, 40, 3)), _images(1, (1, 15, 40, 3)))


def test_one_tap_distances_equal_the_hand_computed_ones(model, torch_vgg, lin):
  """Scaling layer, convs, ReLU, floor max pool, unit norm, lin weights and
  the spatial mean, for relu1_2 and relu2_2, against numpy."""
  a, b = _images(4, (2, 17, 18, 3)), _images(5, (2, 17, 18, 3))
  want = np.zeros((2, 2))
  for i in range(2):
    ha = _taps_by_hand(torch_vgg, np.asarray(a[i]))
    hb = _taps_by_hand(torch_vgg, np.asarray(b[i]))
    for l in range(2):
      want[l, i] = _tap_distance(ha[l], hb[l],
                                 lin[f"lin{l}.model.1.weight"].reshape(-1))
  taps = model.taps(a, b)
  for l in range(2):
    np.testing.assert_allclose(taps[l], want[l], rtol=2e-4)
  assert all(np.all(np.isfinite(t)) for t in taps)
  np.testing.assert_allclose(model(a, b), sum(taps), rtol=1e-6)
  # The whole distance with every lin weight but tap 1's at zero.
  only = {k: (v if k.startswith("lin1.") else np.zeros_like(v))
          for k, v in lin.items()}
  one = lpips.from_state_dicts(torch_vgg, only)
  np.testing.assert_allclose(one(a, b), want[1], rtol=2e-4)


def test_identity_symmetry_and_positivity(model):
  a, b = _images(6), _images(7)
  np.testing.assert_allclose(model(a, a), 0.0, atol=1e-7)
  d = model(a, b)
  assert d.shape == (2,) and np.all(d > 1e-3)
  np.testing.assert_allclose(model(b, a), d, rtol=1e-6)


def test_invariant_to_scaling_about_the_shift_without_biases(torch_vgg, lin):
  """With zero VGG biases every tap is positively homogeneous in the scaled
  input (x - shift) / scale, and the unit norm cancels the factor: so
  d(shift + c (a - shift), ...) = d(a, b). Scaling about 0 is not invariant,
  which shows the test sees the shift."""
  vgg = {k: (np.zeros_like(v) if k.endswith("bias") else v)
         for k, v in torch_vgg.items()}
  m = lpips.from_state_dicts(vgg, lin)
  a, b = 0.5 * _images(8), 0.5 * _images(9)
  d = m(a, b)
  about = lambda x, c: lpips.SHIFT + c * (x - lpips.SHIFT)  # noqa: E731
  for c in (0.25, 1.7):
    np.testing.assert_allclose(m(about(a, c), about(b, c)), d, rtol=1e-4)
  assert not np.allclose(m(0.25 * a, 0.25 * b), d, rtol=1e-2)


def test_run_directory_round_trip(model, tmp_path):
  """Saved and read back, from the run or its checkpoints/, equal."""
  path = str(tmp_path / "lpips")
  lpips.save(model, path, vgg="v.pth")
  assert sorted(os.listdir(path)) == ["checkpoints", "config.json"]
  a, b = _images(10), _images(11)
  for where in (path, os.path.join(path, "checkpoints")):
    np.testing.assert_array_equal(lpips.load(where)(a, b), model(a, b))


def test_gradients_wrt_the_images_are_finite(model):
  """Against another image, a flat one (many all-zero features) and itself,
  in one batch (a sum of gradients is finite only if each one is)."""
  a, b = _images(12, (1, 16, 16, 3)), _images(13, (1, 16, 16, 3))
  others = lambda x: jnp.concatenate([b, jnp.full_like(b, -1.0), x])  # noqa
  loss = lambda x: jnp.sum(model(jnp.concatenate([x] * 3), others(x)))  # noqa
  grad = jax.jit(jax.grad(loss))(a)
  assert np.all(np.isfinite(grad)) and np.any(grad != 0)
  # sqrt's derivative at 0 is infinite; unit_normalize must avoid it.
  zero_grad = jax.grad(lambda f: jnp.sum(lpips.unit_normalize(f)))(
      jnp.zeros((2, 4)))
  assert np.all(np.isfinite(zero_grad))


def test_convert_tool_end_to_end(tmp_path, torch_vgg, lin, model):
  """A legacy-format VGG16 and a zip-format lin file, as torch writes them."""
  vgg_path, lin_path = str(tmp_path / "vgg16.pth"), str(tmp_path / "lin.pth")
  write_legacy(vgg_path, *_tensors(torch_vgg))
  write_zip(lin_path, *_tensors(lin))
  out = str(tmp_path / "out" / "lpips")
  convert_lpips.main(["--vgg", vgg_path, "--lin", lin_path, "--out", out])
  a, b = _images(14), _images(15)
  np.testing.assert_array_equal(lpips.load(out)(a, b), model(a, b))
  with open(os.path.join(out, "config.json")) as f:
    assert json.load(f) == dict(task="lpips", vgg="vgg16.pth", lin="lin.pth")
  with pytest.raises(UserError, match="not an empty directory"):   # never
    convert_lpips.main(["--vgg", vgg_path, "--lin", lin_path,   # over a run
                        "--out", out])
  with pytest.raises(UserError, match="absent.pth: no such file"):
    convert_lpips.main(["--vgg", str(tmp_path / "absent.pth"), "--out", out])


def test_tool_finds_an_installed_lpips(wheel_lin_path):
  if importlib.util.find_spec("lpips") is None:
    pytest.skip("needs `pip install --no-deps lpips==0.1.4`")
  assert os.path.samefile(convert_lpips.installed_lin(), wheel_lin_path)
