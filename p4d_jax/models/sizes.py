"""Every model part's sizes, as plain frozen dataclasses.

Kept apart from the Flax modules that take them, and free of JAX, so config
files can build, round-trip and check sizes without importing the model
stack or starting a JAX backend. `tiny()` is each part's test/CPU size; the
defaults (`paper()` where it exists) are the released network's.
"""

from __future__ import annotations

import dataclasses

from p4d_jax import config_bridge
from p4d_jax.user_errors import UserError


@dataclasses.dataclass(frozen=True)
class GlobalSizes:
  """models/global_encoder.py: the dilated ResNet and its DeepLabV3 head."""
  in_channels: int = 3
  blocks: tuple[int, int, int, int] = (3, 4, 6, 3)       # ResNet-34
  widths: tuple[int, int, int, int] = (64, 128, 256, 512)
  head_channels: int = 256
  aspp_rates: tuple[int, int, int] = (12, 24, 36)

  @classmethod
  def tiny(cls) -> "GlobalSizes":
    return cls(blocks=(1, 1, 1, 1), widths=(8, 16, 32, 64), head_channels=32,
               aspp_rates=(2, 4, 6))


@dataclasses.dataclass(frozen=True)
class DetailSizes:
  """models/encoders.py: the detail CNN."""
  in_channels: int = 3
  stem: int = 64
  width: int = 96
  convs: int = 4          # 3x3 convs after the 7x7 stride-2 stem

  @classmethod
  def tiny(cls) -> "DetailSizes":
    return cls(stem=16, width=24, convs=2)


@dataclasses.dataclass(frozen=True)
class BackgroundSizes:
  """models/encoders.py: the background U-Net."""
  in_channels: int = 3
  widths: tuple[int, ...] = (64, 128, 256, 512)
  out_channels: int = 32

  @classmethod
  def tiny(cls) -> "BackgroundSizes":
    return cls(widths=(8, 16, 32, 64), out_channels=8)


@dataclasses.dataclass(frozen=True)
class CanonicalSizes:
  """models/canonical.py: the canonical transformer's widths and counts."""
  in_channels: int = 256      # global feature channels
  dim: int = 1024             # token width
  heads: int = 4
  mlp_ratio: float = 2.0
  neutral_blocks: int = 4
  motion_blocks: int = 4
  motion_dim: int = 548       # PD-FGC eye 6 + emotion 30 + mouth 512
  motion_hidden: int = 512
  motion_grid: int = 8        # motion tokens = motion_grid ** 2
  head_channels: int = 128
  out_channels: int = 96
  # The motion cross-attention's q/kv init: "segformer" (std 0.02, the
  # release's) or "fan_in" (attention.BlockCross says why).
  cross_init: str = "segformer"

  def __post_init__(self):
    if self.cross_init not in ("segformer", "fan_in"):
      raise UserError(f"model.canonical.cross_init={self.cross_init!r}: "
                      "not 'segformer' or 'fan_in'.")

  @classmethod
  def paper(cls) -> "CanonicalSizes":
    return cls()

  @classmethod
  def tiny(cls) -> "CanonicalSizes":
    return cls(in_channels=32, dim=64, heads=2, neutral_blocks=1,
               motion_blocks=1, motion_dim=16, motion_hidden=32, motion_grid=2,
               head_channels=32, out_channels=24)


@dataclasses.dataclass(frozen=True)
class TriplaneSizes:
  """models/triplane_decoder.py: the tri-plane decoder."""
  canonical_channels: int = 96
  detail_channels: int = 96
  widths: tuple[int, int] = (256, 128)    # convs1, then convs2's last two
  dim: int = 1024
  heads: int = 2
  mlp_ratio: float = 2.0
  blocks: int = 1
  sr_ratio: int = 2
  plane_channels: int = 32

  @classmethod
  def tiny(cls) -> "TriplaneSizes":
    return cls(canonical_channels=24, detail_channels=24, widths=(32, 16),
               dim=64, heads=2, plane_channels=8)


@dataclasses.dataclass(frozen=True)
class SuperResSizes:
  """models/superres.py: the super-resolution blocks."""
  in_channels: int = 32
  widths: tuple[int, ...] = (256, 128)   # one 2x block per width
  w_dim: int = 512
  # The released network feeds every feature channel as 2f - 1. Trained
  # from scratch at tiny size that input lets the head go transparent (the
  # background features paint it: rendered opacity 0.02 against a mask
  # mean of 0.45 after 1,500 steps), so tiny feeds the features as they are.
  signed_input: bool = True

  @property
  def factor(self) -> int:
    return 2 ** len(self.widths)

  @classmethod
  def tiny(cls) -> "SuperResSizes":
    return cls(in_channels=8, widths=(16, 8), w_dim=16, signed_input=False)


@dataclasses.dataclass(frozen=True)
class MotionSizes:
  """models/motion_encoder.py: the motion encoder."""
  widths: tuple[int, ...] = (32, 64, 128, 256)   # one stride-2 conv each
  dim: int = 548

  @classmethod
  def tiny(cls) -> "MotionSizes":
    return cls(widths=(16, 32), dim=16)


@dataclasses.dataclass(frozen=True)
class ExtractorSizes:
  """models/motion/extractor.py: the pretrained expression extractor."""
  frame: int = 64                        # frames are resized to this first
  crop: int = 32                         # the aligned crop's side
  widths: tuple[int, ...] = (32, 64, 128)   # stride-2 convs after a stem
  hidden: int = 128
  outputs: int = 6                       # SynthHeads' expression parameters


@dataclasses.dataclass(frozen=True)
class Audio2MotionSizes:
  """models/audio2motion.py: speech features -> per-frame expressions."""
  kind: str = "regressor"                 # or "cvae" (audio2motion_vae.py)
  width: int = 64                         # channels of every temporal conv
  dilations: tuple[int, ...] = (1, 2, 4, 8)   # residual blocks at frame rate
  outputs: int = 6                        # SynthHeads' expression parameters
  latent: int = 8                         # cvae: latent channels at T / 2
  flows: int = 4                          # cvae: coupling layers of the prior
  flow_hidden: int = 32                   # cvae: their conv width


# config.model's keys that are not sizes: how the model computes, not what.
MEMORY_KEYS = ("compute_dtype", "remat")


@dataclasses.dataclass(frozen=True)
class SynthesizerSizes:
  """Every part's sizes (models/synthesizer.py); `paper()` is the released
  network's."""
  global_: GlobalSizes = GlobalSizes()
  detail: DetailSizes = DetailSizes()
  canonical: CanonicalSizes = CanonicalSizes()
  triplane: TriplaneSizes = TriplaneSizes()
  background: BackgroundSizes = BackgroundSizes()
  superres: SuperResSizes = SuperResSizes()
  decoder_hidden: int = 64

  @classmethod
  def paper(cls) -> "SynthesizerSizes":
    return cls()

  @classmethod
  def tiny(cls) -> "SynthesizerSizes":
    return cls(global_=GlobalSizes.tiny(), detail=DetailSizes.tiny(),
               canonical=CanonicalSizes.tiny(), triplane=TriplaneSizes.tiny(),
               background=BackgroundSizes.tiny(),
               superres=SuperResSizes.tiny(), decoder_hidden=16)

  def config_fields(self) -> dict:
    """Nested plain fields for a config file (`config_bridge.to_fields`)."""
    return config_bridge.to_fields(self)

  @classmethod
  def from_config(cls, model) -> "SynthesizerSizes":
    """The inverse of `config_fields`, from config.model (whose memory knobs
    are the model handle's, not sizes); unknown keys are errors that name
    them."""
    return config_bridge.from_fields(
        cls, {k: v for k, v in dict(model).items() if k not in MEMORY_KEYS},
        "model")

  def check(self) -> None:
    """Raises a ValueError naming the first pair of widths that disagree."""
    pairs = [
        ("global_.head_channels", self.global_.head_channels,
         "canonical.in_channels", self.canonical.in_channels),
        ("canonical.out_channels", self.canonical.out_channels,
         "triplane.canonical_channels", self.triplane.canonical_channels),
        ("detail.width", self.detail.width,
         "triplane.detail_channels", self.triplane.detail_channels),
        ("background.out_channels", self.background.out_channels,
         "triplane.plane_channels", self.triplane.plane_channels),
        ("superres.in_channels", self.superres.in_channels,
         "triplane.plane_channels", self.triplane.plane_channels),
    ]
    for name_a, a, name_b, b in pairs:
      if a != b:
        raise ValueError(f"Synthesizer sizes disagree: {name_a}={a} but "
                         f"{name_b}={b}; they must be equal.")


def check_resolution(neural_resolution: int, superres_factor: int,
                     image_size: int) -> None:
  """Raises a ValueError unless the neural rendering, super-resolved, has
  the image's size."""
  if neural_resolution * superres_factor != image_size:
    raise ValueError(
        f"neural_resolution {neural_resolution} x super-resolution "
        f"{superres_factor} (2 ** len(model.superres.widths)) must equal "
        f"image_size {image_size}.")
