"""PD-FGC's `motion_model.pth` state dict -> the `FanEncoder` parameters of
the model's motion source (`motion_encoder/...`), key by key, strictly
(`key_mapping`): BatchNorm statistics included, `num_batches_tracked` and
the mouth embedding the official code computes and discards ignored.

    named = convert(state_dict, like)   # {"motion_encoder/...": array}
"""

from __future__ import annotations

from typing import Mapping

import numpy as np

from p4d_jax.models.official import key_mapping

PREFIX = "motion_encoder"   # where the model keeps its motion source's module
WHAT = "PD-FGC's motion encoder (motion_model.pth)"
IGNORED = (
    (r"\.num_batches_tracked$", "a BatchNorm training counter"),
    (r"^mouth_embed\.", "the mouth embedding, computed and discarded by "
     "Portrait4D (its mouth code is to_mouth's output)"),
)
_MODULES: tuple[key_mapping.Rename, ...] = (
    (r"^(.*)/downsample/(0|1)$",
     lambda m: f"{m[1].replace('/', '.')}.downsample.{2 * int(m[2])}"),
    (r"^to_(\w+)/layers/(0|1|2)$",
     lambda m: f"to_{m[1]}.{(0, 2, 3)[int(m[2])]}"),
    (r"^(\w+)_embed$", lambda m: f"{m[1]}_embed.1"),
)
_LEAVES = {"kernel": "weight", "bias": "bias", "scale": "weight",
           "mean": "running_mean", "var": "running_var"}


def official_key(path: str) -> str:
  """"model/conv2/downsample/1/kernel" (below PREFIX) ->
  "model.conv2.downsample.2.weight"."""
  return key_mapping.renamed(path, _MODULES, _LEAVES)


def convert(state_dict: Mapping[str, np.ndarray],
            like: Mapping[str, tuple[int, ...]]) -> dict[str, np.ndarray]:
  """`state_dict` -> {path: float32 array} for every path of `like` under
  PREFIX; a key missing, unexpected or misshapen is a WeightsMismatch."""
  head = PREFIX + "/"
  ours = {k[len(head):]: v for k, v in like.items() if k.startswith(head)}
  named = key_mapping.convert(state_dict, ours, official_key, IGNORED, WHAT)
  return {head + k: v for k, v in named.items()}
