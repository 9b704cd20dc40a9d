"""LPIPS-VGG (v0.1), the perceptual distance of Zhang et al. 2018, NHWC.

d(a, b) = sum over five VGG16 taps l of mean_{h,w} sum_c w_lc (n(fa) - n(fb))^2
with f the ReLU outputs relu1_2 .. relu5_3 of torchvision's vgg16 `features`
applied to the LPIPS-scaled images, and n(f) = f / (||f||_c + 1e-10) the unit
normalisation over channels. Weights come from torchvision's ImageNet VGG16
and the `lpips` release (lin0..lin4); `tools/convert_lpips.py` turns the two
.pth files into the run directory (`p4d_jax.run_weights`) that `load` reads.

Inference only: the weights are fixed (call it from a closure inside
jax.grad w.r.t. the images, and keep it out of any optimised state).
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
from flax import nnx

from p4d_jax import run_weights
from p4d_jax.models import attention as A
from p4d_jax.models import torch_weights

# Output widths of the 13 convs of vgg16.features, their index in it (the
# torchvision keys), the convs tapped after their ReLU, the convs followed by
# a 2x2 max pool before the next tap.
WIDTHS = (64, 64, 128, 128, 256, 256, 256, 512, 512, 512, 512, 512, 512)
TORCH_INDEX = (0, 2, 5, 7, 10, 12, 14, 17, 19, 21, 24, 26, 28)
TAPS = (1, 3, 6, 9, 12)
POOL_AFTER = (1, 3, 6, 9)
# LPIPS' ScalingLayer: images in [-1, 1] -> roughly ImageNet-normalised.
SHIFT = np.array([-.030, -.088, -.188], np.float32)
SCALE = np.array([.458, .448, .450], np.float32)
EPS = 1e-10
TASK = "lpips"  # config.json's `task` of a converted run
HOW_TO_MAKE = ("make one with `bash launch/run.sh python "
               "tools/convert_lpips.py --vgg vgg16-397923af.pth --out DIR` "
               "(the torchvision VGG16 weights; `--lin` defaults to an "
               "installed lpips package)")


class VGG16Features(nnx.Module):
  """torchvision's vgg16 `features` up to relu5_3: 3x3 convs (padding 1) with
  ReLU, 2x2 stride-2 max pools between the blocks."""

  def __init__(self, rngs: nnx.Rngs):
    ins = (3,) + WIDTHS[:-1]
    self.convs = nnx.List([A.conv(i, o, 3, rngs) for i, o in zip(ins, WIDTHS)])

  def __call__(self, x: jax.Array) -> list[jax.Array]:
    """x [B, H, W, 3] -> 5 taps [B, H / 2^k, W / 2^k, 64 | 128 | 256 | 512 |
    512], k = 0..4 (floor division, as PyTorch's MaxPool2d)."""
    taps = []
    for i, conv in enumerate(self.convs):
      x = jax.nn.relu(conv(x))
      if i in TAPS:
        taps.append(x)
      if i in POOL_AFTER:
        x = nnx.max_pool(x, (2, 2), strides=(2, 2), padding="VALID")
    return taps


def unit_normalize(f: jax.Array) -> jax.Array:
  """f / (||f|| over channels + EPS), [..., C] -> [..., C].

  The double `where` keeps the gradient finite where a pixel's features are
  all zero (ReLU), where sqrt's derivative would be infinite.
  """
  sq = jnp.sum(f * f, axis=-1, keepdims=True)
  pos = sq > 0
  norm = jnp.where(pos, jnp.sqrt(jnp.where(pos, sq, 1.0)), 0.0)
  return f / (norm + EPS)


class LPIPS(nnx.Module):
  """LPIPS-VGG: (a, b) [B, H, W, 3] in [-1, 1] -> distance [B].

  `lin[l]` [C_l] are the non-negative 1x1 weights per tap (init: ones, the
  unweighted "baseline" variant).
  """

  def __init__(self, rngs: nnx.Rngs):
    self.vgg = VGG16Features(rngs)
    self.lin = nnx.List([nnx.Param(jnp.ones((WIDTHS[t],), jnp.float32))
                         for t in TAPS])

  def taps(self, a: jax.Array, b: jax.Array) -> list[jax.Array]:
    """The per-tap distances, 5 x [B] (their sum is the distance)."""
    if min(a.shape[1:3]) < 16:  # relu5_3 would be empty: a NaN mean
      raise ValueError(f"LPIPS-VGG needs images of at least 16 x 16; got "
                       f"{a.shape[1:3]}")
    x = jnp.concatenate([a, b]).astype(jnp.float32)
    feats = self.vgg((x - SHIFT) / SCALE)  # one pass for both images
    out = []
    for f, w in zip(feats, self.lin):
      fa, fb = jnp.split(unit_normalize(f), 2)
      out.append(jnp.mean(((fa - fb) ** 2) @ w[...], axis=(1, 2)))
    return out

  def __call__(self, a: jax.Array, b: jax.Array) -> jax.Array:
    return sum(self.taps(a, b))


def _abstract() -> LPIPS:
  return nnx.eval_shape(lambda: LPIPS(nnx.Rngs(0)))


def _set_lin(model: LPIPS, lin: dict):
  for l, var in enumerate(model.lin):
    key = f"lin{l}.model.1.weight"
    if key not in lin:
      raise ValueError(f"missing LPIPS weight {key}; got {sorted(lin)}")
    # [1, C, 1, 1] -> [C]
    torch_weights.assign(var, np.asarray(lin[key]).reshape(-1), key)


def from_state_dicts(vgg: dict, lin: dict) -> LPIPS:
  """From torchvision vgg16 (`features.N.weight` OIHW, `.bias`) and lpips
  (`lin{l}.model.1.weight` [1, C, 1, 1]) state dicts."""
  model = _abstract()
  for conv, t in zip(model.vgg.convs, TORCH_INDEX):
    w, b = f"features.{t}.weight", f"features.{t}.bias"
    if w not in vgg or b not in vgg:
      raise ValueError(f"missing VGG16 weight {w} or {b}: not a torchvision "
                       "vgg16 state dict?")
    torch_weights.assign(conv.kernel,
                         np.asarray(vgg[w]).transpose(2, 3, 1, 0), w)  # HWIO
    torch_weights.assign(conv.bias, vgg[b], b)
  _set_lin(model, lin)
  return model


def random_backbone(key, lin: dict) -> LPIPS:
  """A random VGG with the given lpips `lin` weights (for tests)."""
  model = LPIPS(nnx.Rngs(key))
  _set_lin(model, lin)
  return model


def save(model: LPIPS, path: str, **about: str) -> str:
  """A run directory of the model's weights; `about` (e.g. the source
  files) goes into its config.json beside the task."""
  return run_weights.write(path, dict(task=TASK, **about), nnx.state(model))


def load(path: str) -> LPIPS:
  """The LPIPS model of a run directory that `save` /
  tools/convert_lpips.py wrote."""
  run_weights.read_config(path, TASK, HOW_TO_MAKE)
  model = _abstract()
  nnx.update(model, run_weights.read_params(path, nnx.state(model)))
  return model
