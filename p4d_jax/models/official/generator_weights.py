"""The official generator's state dict -> the synthesizer's parameters, key
by key, strictly.

Every parameter of the paper-size `Synthesizer` names the official key it
comes from (`official_key`); every official key is either read that way or
listed in `IGNORED` with the reason. A key missing, one neither read nor
ignored, a shape that differs, or a fixed buffer with other values than the
release's is a `WeightsMismatch` naming it. Layouts: conv OIHW -> HWIO,
Linear [out, in] -> [in, out], LayerNorm weight -> scale, the OSG
decoder's two heads -> one layer (`field_mlp.reference_arrays`).

    named = convert(state_dict, like)   # {parameter path: float32 array}

A mismatch is a `key_mapping.WeightsMismatch`.
"""

from __future__ import annotations

import re
from typing import Mapping

import numpy as np

from p4d_jax.models import field_mlp
from p4d_jax.models.official import key_mapping

# (official key pattern, why it is not a parameter here). A module's fixed
# buffers are checked against the values this code assumes (`_FIXED`).
IGNORED = (
    (r"^deformer\.", "FLAME data of the neck deformer: the identity at FLAME "
     "global pose 0, the inference path used here (camera-carried pose)"),
    (r"^dataset_label_std$", "a training-set statistic"),
    (r"\.noise_(const|strength)$", "super-resolution noise (noise_mode 'none')"),
    (r"\.resample_filter$", "the fixed [1, 3, 3, 1] FIR filter (checked)"),
    (r"^w_avg$", "the super-resolution's w, zero in the release (checked)"),
)

_FIR = np.array([1.0, 3.0, 3.0, 1.0])
_FIXED = {
    r"\.resample_filter$": (np.outer(_FIR, _FIR) / 64.0, "the [1, 3, 3, 1] "
                            "filter this code's upsampling uses"),
    r"^w_avg$": (np.zeros((512,)), "zero: this code feeds the super-"
                 "resolution w = 0 as the official inference does"),
}

# (our module path pattern, official module prefix): first match wins; a
# path no pattern matches has the same names with dots.
_MODULES: tuple[key_mapping.Rename, ...] = (
    (r"^encoder_global/conv1$", "encoder_global.encoder.conv1"),
    (r"^encoder_global/layers/(\d+)/(\d+)/(conv1|conv2|downsample)$",
     lambda m: (f"encoder_global.encoder.layer{int(m[1]) + 1}.{m[2]}.{m[3]}"
                + (".0" if m[3] == "downsample" else ""))),
    (r"^encoder_global/aspp/branches/(\d+)$",
     lambda m: f"encoder_global.decoder.0.convs.{m[1]}.0"),
    (r"^encoder_global/aspp/pool_conv$", "encoder_global.decoder.0.convs.4.1"),
    (r"^encoder_global/aspp/project$", "encoder_global.decoder.0.project.0"),
    (r"^encoder_global/head_conv$", "encoder_global.decoder.1"),
    (r"^encoder_detail/stem$", "encoder_detail.encoder.0"),
    (r"^encoder_detail/convs/(\d+)$",
     lambda m: f"encoder_detail.encoder.{2 * int(m[1]) + 2}"),
    (r"^encoder_canonical/(driving|neutral)_motion/maps/(\d+)$",
     lambda m: (f"encoder_canonical.maps{'_neutral' * (m[1] == 'neutral')}"
                f".{2 * int(m[2])}")),
    (r"^encoder_canonical/(driving|neutral)_motion/proj_y$",
     lambda m: f"encoder_canonical.proj_y{'_neutral' * (m[1] == 'neutral')}"),
    (r"^encoder_canonical/conv_up1$", "encoder_canonical.convs.1"),
    (r"^encoder_canonical/conv_up2$", "encoder_canonical.convs.4"),
    (r"^encoder_canonical/conv_out$", "encoder_canonical.convs.6"),
    (r"^generator_triplane/convs(1|2)/(\d+)$",
     lambda m: f"generator_triplane.convs{m[1]}.{2 * int(m[2])}"),
    (r"^background/(input_conv|middle)$", lambda m: f"background.{m[1]}.0"),
    (r"^background/down/(\d+)/(0|1)$",
     lambda m: (f"background.down_conv_{int(m[1]) + 1}." +
                ("0" if m[2] == "0" else "2.op"))),
    (r"^background/up/(\d+)/(0|1)$",
     lambda m: (f"background.up_conv_{int(m[1]) + 1}." +
                ("0" if m[2] == "0" else "2.conv"))),
)
_LEAVES = {"kernel": "weight", "weight": "weight", "scale": "weight",
           "bias": "bias"}
DECODER = "decoder"   # the OSG decoder: field_mlp.reference_arrays
WHAT = "a Portrait4D-v2 generator"
HINT = " (pass the G_ema of portrait4d-v2-vfhq512.pkl, or its state dict)"


def official_key(path: str) -> str:
  """Our parameter path ("encoder_detail/stem/kernel") -> the official
  state-dict key ("encoder_detail.encoder.0.weight"); not for the decoder."""
  return key_mapping.renamed(path, _MODULES, _LEAVES)


def ignored_reason(key: str) -> str | None:
  return key_mapping.ignored_reason(key, IGNORED)


def _check_fixed(state_dict: Mapping[str, np.ndarray]) -> None:
  for key, value in state_dict.items():
    for pattern, (want, what) in _FIXED.items():
      if re.search(pattern, key) and not (
          np.shape(value) == want.shape and
          np.allclose(np.asarray(value, np.float64), want, atol=1e-7)):
        raise key_mapping.WeightsMismatch(
            f"{key} is not {what} (shape {np.shape(value)}, max |value| "
            f"{float(np.max(np.abs(value))):.3g}); this checkpoint's "
            "generator differs from the release this converter knows.")


def convert(state_dict: Mapping[str, np.ndarray],
            like: Mapping[str, tuple[int, ...]]) -> dict[str, np.ndarray]:
  """The official generator `state_dict` -> {our parameter path: float32
  array} for every path of `like` ({path: shape}, the paper-size
  synthesizer's parameters), or a WeightsMismatch naming the first key that
  is missing, unexpected or misshapen."""
  head = DECODER + "."
  decoder = {k[len(head):]: v for k, v in state_dict.items()
             if k.startswith(head)}
  keys = [head + k for k in field_mlp.reference_keys(decoder)]
  if all(k in state_dict for k in keys):
    try:
      arrays = field_mlp.reference_arrays(decoder)
    except ValueError as err:   # heads that do not stack
      raise key_mapping.WeightsMismatch(
          f"the decoder's keys {keys} do not fit together: {err}") from err
    special = {f"{DECODER}/{name}": (keys, value)
               for name, value in arrays.items()}
  else:   # the missing key is named by key_mapping.convert
    special = {path: (keys, None) for path in like
               if path.startswith(DECODER + "/")}
  _check_fixed(state_dict)
  return key_mapping.convert(state_dict, like, official_key, IGNORED, WHAT,
                             special, HINT)
