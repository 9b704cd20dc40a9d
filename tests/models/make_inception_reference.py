"""Writes tests/models/data/inception_reference.npz: torchvision's Inception3
pool3 features, standard and with pytorch-fid's pooling, for deterministic
weights that tests/models/test_inception.py rebuilds without torch.

  python tests/models/make_inception_reference.py   # needs torch, torchvision

Runs on the CPU (a GPU's TF32 convolutions would loosen the comparison).
The weight rule (`reference_weight`) and the input (`reference_input`) are
plain numpy, imported by the test; torch is imported only in `main`.

The input is `reference_input()` [2, 299, 299, 3] in [0, 1] (NHWC; the model
sees it as NCHW, scaled to 2x - 1, no resize). The npz holds
features_torchvision [2, 2048],
features_fid [2, 2048], and shapes (one "key=AxBxC" string per weight, to
name a layout mismatch).
"""

from __future__ import annotations

import copy
import os
import zlib

import numpy as np

OUT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "data",
                   "inception_reference.npz")


def reference_weight(key: str, shape: tuple[int, ...]) -> np.ndarray:
  """The value of state-dict entry `key`, float32 of `shape`.

  z = np.random.default_rng(zlib.crc32(key.encode())).standard_normal(shape)
  conv.weight [O, I, kh, kw]: z / sqrt(I kh kw); bn.weight: 1 + 0.1 z;
  bn.bias: 0.1 z; bn.running_mean: 0.1 z; bn.running_var: 1 + 0.1 |z|.
  """
  z = np.random.default_rng(zlib.crc32(key.encode())).standard_normal(shape)
  if key.endswith("conv.weight"):
    out = z / np.sqrt(np.prod(shape[1:]))
  elif key.endswith("bn.weight"):
    out = 1.0 + 0.1 * z
  elif key.endswith(("bn.bias", "bn.running_mean")):
    out = 0.1 * z
  elif key.endswith("bn.running_var"):
    out = 1.0 + 0.1 * np.abs(z)
  else:
    raise ValueError(f"no reference rule for {key}")
  return out.astype(np.float32)


def reference_input() -> np.ndarray:
  """[2, 299, 299, 3] float32 in [0, 1]."""
  return np.random.default_rng(0).uniform(size=(2, 299, 299, 3)).astype(
      np.float32)


def main():
  # pylint: disable=import-outside-toplevel
  import torch
  import torch.nn.functional as F
  from torchvision.models import inception as tvi

  class _PoolSwap:
    """Replaces the last output of a block's `_forward` (its pool branch)
    with branch_pool(this pool of x)."""

    def _forward(self, x):
      outputs = super()._forward(x)  # pylint: disable=no-member
      outputs[-1] = self.branch_pool(self.fid_pool(x))
      return outputs

  class _AvgValid(_PoolSwap):
    def fid_pool(self, x):  # TF's average pool: padding not counted
      return F.avg_pool2d(x, 3, stride=1, padding=1, count_include_pad=False)

  class _Max(_PoolSwap):
    def fid_pool(self, x):  # the FID graph's Mixed_7c
      return F.max_pool2d(x, 3, stride=1, padding=1)

  model = tvi.inception_v3(weights=None, aux_logits=False, init_weights=False,
                           transform_input=False)
  model.fc = torch.nn.Identity()
  shapes = []
  with torch.no_grad():
    for key, value in model.state_dict().items():
      if key.endswith("num_batches_tracked"):
        continue
      value.copy_(torch.from_numpy(reference_weight(key, tuple(value.shape))))
      shapes.append(f"{key}={'x'.join(map(str, value.shape))}")
  model.eval()

  fid = copy.deepcopy(model)
  swaps = {"Mixed_5b": tvi.InceptionA, "Mixed_5c": tvi.InceptionA,
           "Mixed_5d": tvi.InceptionA, "Mixed_6b": tvi.InceptionC,
           "Mixed_6c": tvi.InceptionC, "Mixed_6d": tvi.InceptionC,
           "Mixed_6e": tvi.InceptionC, "Mixed_7b": tvi.InceptionE}
  for name, base in swaps.items():
    block = getattr(fid, name)
    assert type(block) is base, (name, type(block))
    # Same weights, new forward: swap the class, not the module.
    block.__class__ = type(f"Fid{base.__name__}", (_AvgValid, base), {})
  fid.Mixed_7c.__class__ = type("FidInceptionE2", (_Max, tvi.InceptionE), {})

  images = reference_input()
  x = torch.from_numpy(images).permute(0, 3, 1, 2).contiguous() * 2 - 1
  with torch.no_grad():
    features_torchvision = model(x).numpy()
    features_fid = fid(x).numpy()
  assert features_torchvision.shape == (2, 2048), features_torchvision.shape
  os.makedirs(os.path.dirname(OUT), exist_ok=True)
  np.savez_compressed(OUT, features_torchvision=features_torchvision,
                      features_fid=features_fid, shapes=np.array(shapes))
  print(f"wrote {OUT} ({len(shapes)} weights; feature scale "
        f"{np.abs(features_fid).max():.4g} fid, "
        f"{np.abs(features_torchvision).max():.4g} torchvision)")


if __name__ == "__main__":
  main()
