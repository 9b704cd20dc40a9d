"""Renders Psi3d's pseudo views of every clip frame into sharded TFRecords.

  python tools/precompute_pseudo_views.py --config=configs/pseudo_views.py:tiny \
      --config.checkpoint=runs/psi3d_tiny --out=outputs/pseudo_views/tiny

(from a fresh clone, prefix `bash launch/run.sh`). Any config key can be
overridden (`--config.views=8`, `--config.cameras.yaw='(-0.5, 0.5)'`).
Rerunning skips finished shards and redoes an interrupted one; several
processes (`--process_index/--process_count`, default: JAX's) split the
shards between them; each takes a lock on OUT for its shards (a second
process on the same shards is refused). OUT/sheet.png shows the first frames
of the first clip next to their pseudo views. Read the records with
`p4d_jax.data.pseudo_view_reader.clips(OUT, seed)`, which checks OUT against
its manifest (sizes, record counts). To check every shard's sha256 too:

  python tools/precompute_pseudo_views.py --verify --out=OUT

`--config.checkpoint=exact` renders SynthHeads clips' views exactly instead
(`stages.exact_views`: a perfect Psi3d, the upper bound for ablations).
"""

from __future__ import annotations

import json
import os

from absl import flags
from absl import logging
from ml_collections import config_flags
import jax
import numpy as np

import configs
from p4d_jax import user_errors
from p4d_jax.data import builders
from p4d_jax.data import clip_sources
from p4d_jax.data import pseudo_view_manifest
from p4d_jax.data import pseudo_view_records
from p4d_jax.data import tfrecord_io
from p4d_jax.media import image_io
from p4d_jax.rendering import camera_settings
from p4d_jax.stages import exact_views
from p4d_jax.stages import pseudo_views
from p4d_jax.tasks import runs

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

_CONFIG = user_errors.define_flags(lambda: config_flags.DEFINE_config_file(
    "config", os.path.join(ROOT, "configs/pseudo_views.py:tiny"),
    "The stage's config file and argument.", lock_config=True))
_OUT = flags.DEFINE_string("out", None, "Output directory of the records.")
_PROCESS_INDEX = flags.DEFINE_integer(
    "process_index", -1, "This process's index (-1: jax.process_index()).")
_PROCESS_COUNT = flags.DEFINE_integer(
    "process_count", -1, "How many processes split the shards (-1: "
    "jax.process_count()).")
_VERIFY = flags.DEFINE_bool(
    "verify", False, "Only check OUT: its manifest against the shards and "
    "every shard's sha256; exit 2 naming the first damaged shard.")
flags.mark_flags_as_required(["out"])


def clip_source(data) -> clip_sources.ClipSource:
  if data.source == "synthheads":
    return clip_sources.synthheads_clips(data.size, data.split, data.data_dir)
  if data.source == "preprocessed":   # tools/preprocess.py's output root
    return clip_sources.preprocessed_clips(data.data_dir)
  raise user_errors.UserError(
      f"config.data.source {data.source!r} is not known; use "
                   "'synthheads' or 'preprocessed'.")


def load_psi3d(config) -> runs.Run:
  """The Psi3d run config.checkpoint at config.checkpoint_step."""
  return runs.load_run(
      config.checkpoint,
      None if config.checkpoint_step < 0 else config.checkpoint_step,
      defaults=configs.preset, task="psi3d")


def psi3d_renderer(config, run: runs.Run, source: clip_sources.ClipSource):
  """(renderer, checkpoint step) of the Psi3d `run` over `source`'s clips."""
  size = source.get(0)["image"].shape[1]
  if size != run.model.image_size:
    raise user_errors.UserError(
        f"The clips ({source.name}) are {size}^2 but the Psi3d run "
        f"{config.checkpoint} was trained at {run.model.image_size}^2; use "
        "clips of its resolution (config.data) or another checkpoint.")
  return (pseudo_views.PseudoViewRenderer(run.model, run.params,
                                          config.frames_per_batch), run.step)


def exact_renderer(data) -> exact_views.ExactViewRenderer:
  """SynthHeads' exact views; masks and depth at half the clips'
  resolution, the neural resolution of every preset."""
  if data.source != "synthheads":
    raise user_errors.UserError(
        f"--config.checkpoint={exact_views.EXACT} renders SynthHeads scenes; "
        f"config.data.source is {data.source!r}, whose scenes are unknown.")
  size = builders.SIZES[data.size].resolution
  return exact_views.ExactViewRenderer(data.size, size // 2)


def settings_from(config, checkpoint: str, step: int,
                  source: clip_sources.ClipSource) -> pseudo_views.Settings:
  ranges = camera_settings.RandomViewRanges(**{
      k: tuple(float(x) for x in v) for k, v in config.cameras.items()})
  return pseudo_views.Settings(
      checkpoint=(checkpoint if checkpoint == exact_views.EXACT
                  else os.path.abspath(checkpoint)), checkpoint_step=step,
      clips=source.name, num_clips=len(source.frames), views=config.views,
      ranges=ranges, seed=config.seed, num_shards=config.num_shards,
      frames_per_batch=config.frames_per_batch,
      store_masks=config.store_masks, store_depth=config.store_depth,
      render_frame_masks=config.store_masks and not source.has_masks)


def write_sheet(out_dir: str, settings: pseudo_views.Settings,
                rows: int = 4) -> str:
  """The first `rows` frames of shard 0: the frame, then its pseudo views."""
  path = os.path.join(out_dir, pseudo_view_records.shard_name(
      0, settings.num_shards))
  lines = []
  for offset, data in tfrecord_io.read_records(path):
    frame = pseudo_view_records.decode(data, f"{path}@{offset}")
    lines.append(np.concatenate([frame["frame_image"], *frame["view_image"]],
                                axis=1))
    if len(lines) == rows:
      break
  return image_io.write_image(os.path.join(out_dir, "sheet.png"),
                              np.concatenate(lines, axis=0))


def main(argv):
  if len(argv) > 1:
    raise user_errors.UserError(f"unexpected arguments {argv[1:]}; flags "
                                "are --name=value.")
  logging.set_verbosity(logging.WARNING)   # Orbax logs restores at INFO.
  config, out_dir = _CONFIG.value, _OUT.value
  if _VERIFY.value:
    print(json.dumps(pseudo_view_manifest.verify(out_dir)), flush=True)
    return
  if not config.checkpoint:
    raise user_errors.UserError(
        "set --config.checkpoint to a Psi3d run directory (the --workdir of "
        "`python -m launch.main --config=configs/psi3d.py:tiny`), or to "
        f"'{exact_views.EXACT}' for SynthHeads' exact views.")
  user_errors.check_writable(out_dir, "--out")
  if config.checkpoint == exact_views.EXACT:
    renderer, step = exact_renderer(config.data), 0
    source = clip_source(config.data)
  else:
    # The run before the clips: a wrong --config.checkpoint is named first.
    run = load_psi3d(config)
    source = clip_source(config.data)
    renderer, step = psi3d_renderer(config, run, source)
  settings = settings_from(config, config.checkpoint, step, source)
  index = (jax.process_index() if _PROCESS_INDEX.value < 0
           else _PROCESS_INDEX.value)
  count = (jax.process_count() if _PROCESS_COUNT.value < 0
           else _PROCESS_COUNT.value)
  made_by = ("SynthHeads' exact views" if config.checkpoint == exact_views.EXACT
             else f"Psi3d step {step}")
  print(f"[pseudo-views] {source.name}: {len(source.frames)} clips, "
        f"{config.views} views a frame, {made_by}, "
        f"{len(jax.local_devices())} device(s), process {index}/{count}",
        flush=True)
  summary = pseudo_views.run(source, renderer, settings, out_dir, index,
                             count)
  if summary["manifest"] and index == 0:
    summary["sheet"] = write_sheet(out_dir, settings)
  print(json.dumps(summary), flush=True)


if __name__ == "__main__":
  user_errors.run_absl(main)
