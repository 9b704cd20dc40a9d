"""TFDS builders for SynthHeads: `synthheads_multiview`, `_clips` and `_eval`.

They write ArrayRecord files, which need no TensorFlow and give grain random
access. Images and masks are PNG bytes (`media.image_io.decode_image`), depth
is float32 (0 = background), cameras are 25-float labels (see `examples`).

    builder = builders.make("multiview", "tiny", data_dir="outputs/datasets")
    builder.download_and_prepare()
    source = builder.as_data_source("train")   # random access, for grain

Configs: "tiny" (tests, seconds), "small" (default, minutes), "base" (hours);
`make(..., **overrides)` derives a named variant, e.g. resolution=128.
"""

from __future__ import annotations

import dataclasses
import os

import numpy as np
import tensorflow_datasets as tfds

from p4d_jax.data.synthheads import examples
from p4d_jax.data.synthheads import params as P
from p4d_jax.user_errors import UserError

SIZES = {
    "tiny": examples.Spec(resolution=32, supersample=1, identities=8, clips=6,
                          held_out=4, views=3, frames=8, eval_pairs=4,
                          novel_views=2),
    # The end-to-end demo's set (tools/demo.py): small's resolution, fewer
    # heads, one ray a pixel, so that it builds in about a minute.
    "demo": examples.Spec(supersample=1, identities=96, clips=24, held_out=8,
                          frames=48, eval_pairs=16, novel_views=2),
    # demo at 128^2: models at 64^2 neural rendering (8x8 canonical tokens),
    # where a perfect expression transfer gains 3.2 dB (eyes) and 4.4 dB
    # (mouth) against 1.4 and 3.6 at 64^2 (README, issue 18's ceiling).
    "demo128": examples.Spec(resolution=128, supersample=1, identities=96,
                             clips=24, held_out=8, frames=48, eval_pairs=16,
                             novel_views=2),
    # demo's eval pairs drawn from its 24 training clips instead (the frames
    # Psi trained on): against `demo`'s held-out pairs, how much of what a
    # model does holds for identities it never saw (README, Training Psi).
    "demo_seen": examples.Spec(supersample=1, identities=96, clips=24,
                               held_out=8, frames=48, eval_pairs=64,
                               novel_views=2, eval_split="train"),
    # small's held-out pairs four times over (128 cross-identity), small's 64
    # among them. Only its `eval` set is meant to be built.
    "small_eval256": examples.Spec(eval_pairs=256),
    "small": examples.Spec(),
    "base": examples.Spec(resolution=128, identities=4096, clips=1024,
                          held_out=256, views=8, frames=96, eval_pairs=512,
                          novel_views=4),
}


@dataclasses.dataclass(eq=False)
class SynthHeadsConfig(tfds.core.BuilderConfig):
  spec: examples.Spec = examples.Spec()


def _config(name: str, spec: examples.Spec) -> SynthHeadsConfig:
  return SynthHeadsConfig(name=name, spec=spec,
                          description=f"SynthHeads {name}: {spec}")


_F = tfds.features


def _bytes(*shape):
  return _F.Tensor(shape=shape, dtype=np.object_)


def _floats(*shape):
  return _F.Tensor(shape=shape, dtype=np.float32, encoding=_F.Encoding.BYTES)


def _scene_features() -> dict:
  return dict(identity=_floats(len(P.IDENTITY)),
              lighting=_floats(len(P.LIGHTING)),
              background=_floats(len(P.BACKGROUND)))


def _view_features(res: int, *lead: int) -> dict:
  """Images and cameras of views with leading dims `lead` (() = one view)."""
  return dict(image=_bytes(*lead), mask=_bytes(*lead),
              depth=_floats(*lead, res, res),
              camera=_floats(*lead, 25), world_camera=_floats(*lead, 25))


class _SynthHeadsBuilder(tfds.core.GeneratorBasedBuilder):
  """Shared set-up; subclasses give features and splits."""
  VERSION = tfds.core.Version("1.1.0")
  RELEASE_NOTES = {"1.0.0": "First SynthHeads release.",
                   "1.1.0": "Clips span 4x the time (12.5 fps), blinks "
                            "come twice as often, smile, brow and pucker "
                            "change within a clip: Psi's training pairs "
                            "carry expression changes."}
  BUILDER_CONFIGS = [_config(name, spec) for name, spec in SIZES.items()]
  DEFAULT_CONFIG_NAME = "small"

  @property
  def spec(self) -> examples.Spec:
    return self.builder_config.spec

  def _info(self) -> tfds.core.DatasetInfo:
    return tfds.core.DatasetInfo(
        builder=self, description=self.__doc__,
        features=_F.FeaturesDict(self._features()),
        homepage="https://github.com/YuDeng/Portrait-4D")

  SPLITS = ("train", "test")

  def _features(self) -> dict:
    raise NotImplementedError

  def _split_generators(self, dl_manager):
    del dl_manager
    return {split: self._generate_examples(split) for split in self.SPLITS}


class SynthheadsMultiview(_SynthHeadsBuilder):
  """Multi-view stills (Psi3d training): one expression, `views` cameras."""

  def _features(self):
    s = self.spec
    return dict(identity_index=_F.Scalar(np.int64), **_scene_features(),
                expression=_floats(len(P.EXPRESSION)), pose=_floats(len(P.POSE)),
                **_view_features(s.resolution, s.views))

  def _generate_examples(self, split):
    return examples.multiview(self.spec, split)


class SynthheadsClips(_SynthHeadsBuilder):
  """Monocular talking clips (the stage-2 videos), one per identity."""

  def _features(self):
    s = self.spec
    t = s.frames
    return dict(identity_index=_F.Scalar(np.int64), **_scene_features(),
                expression=_floats(t, len(P.EXPRESSION)),
                pose=_floats(t, len(P.POSE)),
                **_view_features(s.resolution, t))

  def _generate_examples(self, split):
    return examples.clips(self.spec, split)


class SynthheadsEval(_SynthHeadsBuilder):
  """Held-out reenactment pairs with exact targets (driving and novel views)."""

  def _features(self):
    s = self.spec
    frame = dict(identity_index=_F.Scalar(np.int64), frame=_F.Scalar(np.int64),
                 **_scene_features(), expression=_floats(len(P.EXPRESSION)),
                 pose=_floats(len(P.POSE)), **_view_features(s.resolution))
    target = dict(expression=_floats(len(P.EXPRESSION)),
                  pose=_floats(len(P.POSE)), **_view_features(s.resolution))
    return dict(cross_identity=_F.Scalar(np.bool_), source=frame,
                driving=dict(frame), target=target,
                novel=_view_features(s.resolution, s.novel_views))

  SPLITS = ("test",)

  def _generate_examples(self, split):
    del split  # held-out identities only
    return examples.eval_pairs(self.spec)


def is_built(builder: _SynthHeadsBuilder) -> bool:
  """Whether the builder's data set is complete on disk (TFDS renames its
  `incomplete.*` folder to the final one only at the end)."""
  return os.path.isdir(builder.data_dir)


DEFAULT_DATA_DIR = "outputs/datasets"


def data_dir(configured: str = "") -> str:
  """`configured`, else $P4D_DATA_DIR, else outputs/datasets."""
  return configured or os.environ.get("P4D_DATA_DIR", DEFAULT_DATA_DIR)


BUILDERS = {"multiview": SynthheadsMultiview, "clips": SynthheadsClips,
            "eval": SynthheadsEval}


def make(kind: str, size: str = "small", data_dir: str | None = None,
         **overrides) -> _SynthHeadsBuilder:
  """A builder for `kind` at a named size, optionally with Spec overrides.

  Overrides give a config named after them (`small-resolution128`), so
  variants never overwrite each other.
  """
  if kind not in BUILDERS:
    raise UserError(f"Unknown SynthHeads data set {kind!r}; use one of "
                     f"{tuple(BUILDERS)}.")
  if size not in SIZES:
    raise UserError(f"Unknown SynthHeads size {size!r}; use one of "
                     f"{tuple(SIZES)}.")
  fields = {f.name for f in dataclasses.fields(examples.Spec)}
  unknown = set(overrides) - fields
  if unknown:
    raise UserError(f"Unknown SynthHeads setting(s) {sorted(unknown)}; "
                     f"known: {sorted(fields)}.")
  if overrides.get("eval_split", "test") not in ("train", "test"):
    raise UserError(f"eval_split={overrides['eval_split']!r}: use 'test' "
                     "(held-out identities) or 'train' (the training clips).")
  if not overrides:
    return BUILDERS[kind](config=size, data_dir=data_dir,
                          file_format="array_record")
  spec = dataclasses.replace(SIZES[size], **overrides)
  name = "-".join([size] + [f"{k}{v}" for k, v in sorted(overrides.items())])
  return BUILDERS[kind](config=_config(name, spec), data_dir=data_dir,
                        file_format="array_record")
