"""InceptionV3 up to the 2048-d pool3 features (for FID), NHWC, inference.

The layers and names are torchvision's Inception3 (Conv2d_1a_3x3 ...
Mixed_7c; each BasicConv2d is a bias-free conv, BatchNorm with eps 0.001,
ReLU). Two variants differ only in pooling:

  fid=True   pytorch-fid's FIDInceptionV3, the graph of TensorFlow's FID
             code: the 3x3 average pools of the A, C and first E blocks
             leave the zero padding out of the count, and the last E block
             (Mixed_7c) max-pools in its pool branch;
  fid=False  torchvision's Inception3 (average pools count the padding).

Weights: `tools/convert_inception.py` turns pytorch-fid's
pt_inception-2015-12-05-6726825d.pth (or torchvision's inception_v3 state
dict) into the run directory (`p4d_jax.run_weights`) that `load` reads: the
parameters and the BatchNorm statistics, with the variant in config.json.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
from flax import nnx

from p4d_jax import run_weights
from p4d_jax.models import torch_weights

SIZE = 299
MIN_SIZE = 75  # smaller inputs leave nothing after Mixed_7a
BN_EPS = 1e-3
TASK = "inception"  # config.json's `task` of a converted run
VARIANTS = ("fid", "torchvision")
HOW_TO_MAKE = ("make one with `bash launch/run.sh python "
               "tools/convert_inception.py --pth "
               "pt_inception-2015-12-05-6726825d.pth --out DIR` "
               "(pytorch-fid's released FID weights)")
# Pool branches: "avg" counts the padding (torchvision), "avg_valid" does
# not (TensorFlow), "max" is Mixed_7c's pool in the FID graph.
POOLS = {True: ("avg_valid", "avg_valid", "avg_valid", "max"),
         False: ("avg", "avg", "avg", "avg")}


class BasicConv(nnx.Module):
  """Conv (no bias, PyTorch's symmetric padding) -> BatchNorm -> ReLU."""

  def __init__(self, d_in: int, d_out: int, kernel, rngs: nnx.Rngs,
               stride: int = 1, padding=(0, 0)):
    kh, kw = (kernel, kernel) if isinstance(kernel, int) else kernel
    ph, pw = (padding, padding) if isinstance(padding, int) else padding
    self.conv = nnx.Conv(d_in, d_out, (kh, kw), strides=stride,
                         padding=((ph, ph), (pw, pw)), use_bias=False,
                         rngs=rngs)
    self.bn = nnx.BatchNorm(d_out, epsilon=BN_EPS, use_running_average=True,
                            rngs=rngs)

  def __call__(self, x: jax.Array) -> jax.Array:
    return jax.nn.relu(self.bn(self.conv(x)))


def max_pool_3x3_s2(x: jax.Array) -> jax.Array:
  """[B, H, W, C] -> [B, (H - 3) // 2 + 1, ...]: no padding, floor."""
  return nnx.max_pool(x, (3, 3), strides=(2, 2), padding="VALID")


def pool_3x3(x: jax.Array, kind: str) -> jax.Array:
  """3x3 stride-1 pool with one pixel of padding, [B, H, W, C] -> same.

  kind "avg": sum / 9 (zeros padded in, PyTorch's count_include_pad=True);
  "avg_valid": sum / the number of in-image neighbours (4 at a corner, 6 on
  an edge); "max": max over the in-image neighbours.
  """
  pad = ((1, 1), (1, 1))
  if kind == "max":  # pads with -inf
    return nnx.max_pool(x, (3, 3), strides=(1, 1), padding=pad)
  if kind not in ("avg", "avg_valid"):
    raise ValueError(f"unknown pool {kind!r}")
  return nnx.avg_pool(x, (3, 3), strides=(1, 1), padding=pad,
                      count_include_pad=kind == "avg")


class InceptionA(nnx.Module):
  """35x35 block: 1x1 | 1x1-5x5 | 1x1-3x3-3x3 | pool-1x1, C -> 224 + pool."""

  def __init__(self, d_in: int, pool_features: int, pool: str,
               rngs: nnx.Rngs):
    self.pool = pool
    self.branch1x1 = BasicConv(d_in, 64, 1, rngs)
    self.branch5x5_1 = BasicConv(d_in, 48, 1, rngs)
    self.branch5x5_2 = BasicConv(48, 64, 5, rngs, padding=2)
    self.branch3x3dbl_1 = BasicConv(d_in, 64, 1, rngs)
    self.branch3x3dbl_2 = BasicConv(64, 96, 3, rngs, padding=1)
    self.branch3x3dbl_3 = BasicConv(96, 96, 3, rngs, padding=1)
    self.branch_pool = BasicConv(d_in, pool_features, 1, rngs)

  def __call__(self, x: jax.Array) -> jax.Array:
    b5 = self.branch5x5_2(self.branch5x5_1(x))
    b3 = self.branch3x3dbl_3(self.branch3x3dbl_2(self.branch3x3dbl_1(x)))
    bp = self.branch_pool(pool_3x3(x, self.pool))
    return jnp.concatenate([self.branch1x1(x), b5, b3, bp], axis=-1)


class InceptionB(nnx.Module):
  """35 -> 17 reduction: 3x3/2 | 1x1-3x3-3x3/2 | max pool/2, C -> C + 480."""

  def __init__(self, d_in: int, rngs: nnx.Rngs):
    self.branch3x3 = BasicConv(d_in, 384, 3, rngs, stride=2)
    self.branch3x3dbl_1 = BasicConv(d_in, 64, 1, rngs)
    self.branch3x3dbl_2 = BasicConv(64, 96, 3, rngs, padding=1)
    self.branch3x3dbl_3 = BasicConv(96, 96, 3, rngs, stride=2)

  def __call__(self, x: jax.Array) -> jax.Array:
    b3 = self.branch3x3dbl_3(self.branch3x3dbl_2(self.branch3x3dbl_1(x)))
    return jnp.concatenate([self.branch3x3(x), b3, max_pool_3x3_s2(x)],
                           axis=-1)


class InceptionC(nnx.Module):
  """17x17 block with factorised 7x7s (1x7 then 7x1), 768 -> 768."""

  def __init__(self, d_in: int, c7: int, pool: str, rngs: nnx.Rngs):
    self.pool = pool
    self.branch1x1 = BasicConv(d_in, 192, 1, rngs)
    self.branch7x7_1 = BasicConv(d_in, c7, 1, rngs)
    self.branch7x7_2 = BasicConv(c7, c7, (1, 7), rngs, padding=(0, 3))
    self.branch7x7_3 = BasicConv(c7, 192, (7, 1), rngs, padding=(3, 0))
    self.branch7x7dbl_1 = BasicConv(d_in, c7, 1, rngs)
    self.branch7x7dbl_2 = BasicConv(c7, c7, (7, 1), rngs, padding=(3, 0))
    self.branch7x7dbl_3 = BasicConv(c7, c7, (1, 7), rngs, padding=(0, 3))
    self.branch7x7dbl_4 = BasicConv(c7, c7, (7, 1), rngs, padding=(3, 0))
    self.branch7x7dbl_5 = BasicConv(c7, 192, (1, 7), rngs, padding=(0, 3))
    self.branch_pool = BasicConv(d_in, 192, 1, rngs)

  def __call__(self, x: jax.Array) -> jax.Array:
    b7 = self.branch7x7_3(self.branch7x7_2(self.branch7x7_1(x)))
    bd = x
    for conv in (self.branch7x7dbl_1, self.branch7x7dbl_2,
                 self.branch7x7dbl_3, self.branch7x7dbl_4,
                 self.branch7x7dbl_5):
      bd = conv(bd)
    bp = self.branch_pool(pool_3x3(x, self.pool))
    return jnp.concatenate([self.branch1x1(x), b7, bd, bp], axis=-1)


class InceptionD(nnx.Module):
  """17 -> 8 reduction: 1x1-3x3/2 | 1x1-1x7-7x1-3x3/2 | max pool/2."""

  def __init__(self, d_in: int, rngs: nnx.Rngs):
    self.branch3x3_1 = BasicConv(d_in, 192, 1, rngs)
    self.branch3x3_2 = BasicConv(192, 320, 3, rngs, stride=2)
    self.branch7x7x3_1 = BasicConv(d_in, 192, 1, rngs)
    self.branch7x7x3_2 = BasicConv(192, 192, (1, 7), rngs, padding=(0, 3))
    self.branch7x7x3_3 = BasicConv(192, 192, (7, 1), rngs, padding=(3, 0))
    self.branch7x7x3_4 = BasicConv(192, 192, 3, rngs, stride=2)

  def __call__(self, x: jax.Array) -> jax.Array:
    b3 = self.branch3x3_2(self.branch3x3_1(x))
    b7 = x
    for conv in (self.branch7x7x3_1, self.branch7x7x3_2, self.branch7x7x3_3,
                 self.branch7x7x3_4):
      b7 = conv(b7)
    return jnp.concatenate([b3, b7, max_pool_3x3_s2(x)], axis=-1)


class InceptionE(nnx.Module):
  """8x8 block with split 1x3 / 3x1 outputs, C -> 2048."""

  def __init__(self, d_in: int, pool: str, rngs: nnx.Rngs):
    self.pool = pool
    self.branch1x1 = BasicConv(d_in, 320, 1, rngs)
    self.branch3x3_1 = BasicConv(d_in, 384, 1, rngs)
    self.branch3x3_2a = BasicConv(384, 384, (1, 3), rngs, padding=(0, 1))
    self.branch3x3_2b = BasicConv(384, 384, (3, 1), rngs, padding=(1, 0))
    self.branch3x3dbl_1 = BasicConv(d_in, 448, 1, rngs)
    self.branch3x3dbl_2 = BasicConv(448, 384, 3, rngs, padding=1)
    self.branch3x3dbl_3a = BasicConv(384, 384, (1, 3), rngs, padding=(0, 1))
    self.branch3x3dbl_3b = BasicConv(384, 384, (3, 1), rngs, padding=(1, 0))
    self.branch_pool = BasicConv(d_in, 192, 1, rngs)

  def __call__(self, x: jax.Array) -> jax.Array:
    b3 = self.branch3x3_1(x)
    bd = self.branch3x3dbl_2(self.branch3x3dbl_1(x))
    bp = self.branch_pool(pool_3x3(x, self.pool))
    return jnp.concatenate(
        [self.branch1x1(x), self.branch3x3_2a(b3), self.branch3x3_2b(b3),
         self.branch3x3dbl_3a(bd), self.branch3x3dbl_3b(bd), bp], axis=-1)


def resize_bilinear(x: jax.Array, size: tuple[int, int]) -> jax.Array:
  """[B, H, W, C] -> [B, size[0], size[1], C] as PyTorch's F.interpolate
  (mode bilinear, align_corners=False, no antialias): half-pixel centres,
  edge pixels repeated. jax.image.resize with antialias=False is exactly
  that, when shrinking too (antialias=True would blur first)."""
  if x.shape[1:3] == tuple(size):
    return x
  return jax.image.resize(x, (x.shape[0], *size, x.shape[3]), "bilinear",
                          antialias=False)


class InceptionV3(nnx.Module):
  """images [B, H, W, 3] in [0, 1] -> pool3 features [B, 2048] (>= 0).

  As pytorch-fid's InceptionV3 with its defaults: resized to 299 x 299
  (`resize_bilinear`), scaled to [-1, 1], then `pool3`.
  """

  def __init__(self, rngs: nnx.Rngs, fid: bool = True):
    self.fid = fid
    pa, pc, pe1, pe2 = POOLS[fid]
    self.Conv2d_1a_3x3 = BasicConv(3, 32, 3, rngs, stride=2)
    self.Conv2d_2a_3x3 = BasicConv(32, 32, 3, rngs)
    self.Conv2d_2b_3x3 = BasicConv(32, 64, 3, rngs, padding=1)
    self.Conv2d_3b_1x1 = BasicConv(64, 80, 1, rngs)
    self.Conv2d_4a_3x3 = BasicConv(80, 192, 3, rngs)
    self.Mixed_5b = InceptionA(192, 32, pa, rngs)
    self.Mixed_5c = InceptionA(256, 64, pa, rngs)
    self.Mixed_5d = InceptionA(288, 64, pa, rngs)
    self.Mixed_6a = InceptionB(288, rngs)
    self.Mixed_6b = InceptionC(768, 128, pc, rngs)
    self.Mixed_6c = InceptionC(768, 160, pc, rngs)
    self.Mixed_6d = InceptionC(768, 160, pc, rngs)
    self.Mixed_6e = InceptionC(768, 192, pc, rngs)
    self.Mixed_7a = InceptionD(768, rngs)
    self.Mixed_7b = InceptionE(1280, pe1, rngs)
    self.Mixed_7c = InceptionE(2048, pe2, rngs)

  def pool3(self, x: jax.Array) -> jax.Array:
    """x [B, H, W, 3] in [-1, 1], H, W >= 75 -> [B, 2048] (the spatial mean
    of Mixed_7c; 8 x 8 at 299)."""
    if min(x.shape[1:3]) < MIN_SIZE:
      raise ValueError(f"InceptionV3 needs at least {MIN_SIZE} x {MIN_SIZE}"
                       f" pixels; got {x.shape[1:3]}")
    x = self.Conv2d_2b_3x3(self.Conv2d_2a_3x3(self.Conv2d_1a_3x3(x)))
    x = max_pool_3x3_s2(x)
    x = max_pool_3x3_s2(self.Conv2d_4a_3x3(self.Conv2d_3b_1x1(x)))
    for block in (self.Mixed_5b, self.Mixed_5c, self.Mixed_5d, self.Mixed_6a,
                  self.Mixed_6b, self.Mixed_6c, self.Mixed_6d, self.Mixed_6e,
                  self.Mixed_7a, self.Mixed_7b, self.Mixed_7c):
      x = block(x)
    return jnp.mean(x, axis=(1, 2))

  def __call__(self, images: jax.Array) -> jax.Array:
    x = resize_bilinear(images.astype(jnp.float32), (SIZE, SIZE))
    return self.pool3(2.0 * x - 1.0)


# --- Weights ---------------------------------------------------------------
# Our variable names are torchvision's module paths; only the leaf differs.
TORCH_LEAF = {"conv.kernel": "conv.weight", "bn.scale": "bn.weight",
              "bn.bias": "bn.bias", "bn.mean": "bn.running_mean",
              "bn.var": "bn.running_var"}
# Keys of the .pth files that pool3 does not use.
IGNORED_PREFIXES = ("fc.", "AuxLogits.")
IGNORED_SUFFIX = ".num_batches_tracked"


def _abstract(fid: bool) -> InceptionV3:
  return nnx.eval_shape(lambda: InceptionV3(nnx.Rngs(0), fid=fid))


def variables(model: InceptionV3) -> dict[str, nnx.Variable]:
  """{"Mixed_5b.branch1x1.conv.kernel": Variable, ...}: every weight
  (conv kernels HWIO; BN scale, bias, mean, var), 94 convs x 5."""
  return {".".join(map(str, path)): node
          for path, node in nnx.iter_graph(model)
          if isinstance(node, nnx.Variable)}


def parameter_count(model: InceptionV3) -> int:
  """Floats in all weights, BN running statistics included."""
  return sum(int(np.prod(v.shape)) for v in variables(model).values())


def torch_key(name: str) -> tuple[str, bool]:
  """Our name -> (the state-dict key, whether the value is an OIHW kernel)."""
  for leaf, tleaf in TORCH_LEAF.items():
    if name.endswith("." + leaf):
      return name[:-len(leaf)] + tleaf, leaf == "conv.kernel"
  raise ValueError(f"no PyTorch name for {name}")


def torch_shapes() -> dict[str, tuple[int, ...]]:
  """{state-dict key: its shape} of the weights pool3 uses (OIHW convs)."""
  out = {}
  for name, var in variables(_abstract(True)).items():
    key, oihw = torch_key(name)
    out[key] = tuple(var.shape[i] for i in (3, 2, 0, 1)) if oihw else var.shape
  return out


def from_state_dict(state: dict, fid: bool = True) -> InceptionV3:
  """From a torchvision-named Inception3 state dict (pytorch-fid's FID
  weights or torchvision's; fc and AuxLogits are ignored)."""
  model = _abstract(fid)
  names = variables(model)
  used = set()
  for name, var in names.items():
    key, oihw = torch_key(name)
    if key not in state:
      raise ValueError(f"missing Inception weight {key}: not an Inception3 "
                       "state dict (pytorch-fid's or torchvision's)?")
    value = np.asarray(state[key])
    torch_weights.assign(var, value.transpose(2, 3, 1, 0) if oihw else value,
                         key)
    used.add(key)
  extra = sorted(k for k in state if k not in used
                 and not k.startswith(IGNORED_PREFIXES)
                 and not k.endswith(IGNORED_SUFFIX))
  if extra:
    raise ValueError(f"unexpected Inception weights {extra[:5]} "
                     f"({len(extra)} in all)")
  return model


def save(model: InceptionV3, path: str, **about: str) -> str:
  """A run directory of all the model's weights (the BatchNorm running
  statistics too: pool3 needs them) and its variant; `about` (e.g. the
  source file) goes into its config.json."""
  config = dict(task=TASK, variant=VARIANTS[0 if model.fid else 1], **about)
  return run_weights.write(path, config, nnx.state(model))


def load(path: str) -> InceptionV3:
  """The model of a run directory that `save` / tools/convert_inception.py
  wrote, with the variant (pooling) it was converted for."""
  variant = run_weights.read_config(path, TASK, HOW_TO_MAKE).get("variant")
  if variant not in VARIANTS:
    raise ValueError(f"{path}: unknown variant {variant!r}: {HOW_TO_MAKE}")
  model = _abstract(variant == "fid")
  nnx.update(model, run_weights.read_params(path, nnx.state(model)))
  return model
