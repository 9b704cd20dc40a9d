"""Few-shot adaptation: K photos of one person -> an adapted avatar.

  python tools/adapt.py --run=runs/psi4d_tiny --images=a.jpg b.jpg c.jpg \\
      --out=outputs/avatar_me [--config=configs/adapt.py:tiny \\
      --config.identity.lora_rank=4]
  python tools/reenact.py --avatar=outputs/avatar_me --driving=talk.mp4

--images takes images, folders of images, clips from tools/preprocess.py or
SynthHeads clips (`synthheads:clips/demo/test:3`), as many as you like:
every frame of each is an input, at most --max_inputs of them (evenly
spaced). Photos are aligned and posed as tools/preprocess.py does; one
without a face is an error. The first input is the avatar's reference (its
detail features and background with fusion.detail=first).

Feed-forward fusion of the inputs, then calibration and the identity stage
(configs/adapt.py; p4d_jax/adaptation/fit.py), with a progress line and
ETA. The avatar is written as a Psi run directory with its source state
(p4d_jax/adaptation/saved.py). With one input and zero steps
(--config.calibration.steps=0 --config.identity.steps=0) it is plain Psi
on that image, bit for bit. Inputs that carry their foreground masks
(SynthHeads clips) also calibrate the head's density against them; other
inputs do not (p4d_jax/adaptation/fit.py).
"""

from __future__ import annotations

import os
import time

from absl import flags
from absl import logging
from ml_collections import config_flags
import numpy as np

import configs
from p4d_jax import user_errors
from p4d_jax.adaptation import fit
from p4d_jax.adaptation import saved
from p4d_jax.inference import avatar as avatar_lib
from p4d_jax.inference import media
from p4d_jax.media import image_io
from p4d_jax.tasks import runs

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

_CONFIG = user_errors.define_flags(lambda: config_flags.DEFINE_config_file(
    "config", os.path.join(ROOT, "configs/adapt.py:tiny"),
    "The adaptation's config file and argument.", lock_config=True))
_RUN = flags.DEFINE_string("run", None, "A trained Psi run directory.")
_STEP = flags.DEFINE_integer("step", None, "The run's step (default: newest).")
_IMAGES = flags.DEFINE_multi_string(
    "images", [], "Inputs: images, folders, clips (more may follow as "
    "plain arguments).")
_OUT = flags.DEFINE_string("out", None, "The avatar directory to write.")
_MAX_INPUTS = flags.DEFINE_integer("max_inputs", 8, "At most this many "
                                   "inputs, evenly spaced.")
_ALIGN = flags.DEFINE_enum("align", "on", ["on", "off"],
                           "Find and align faces (off: centre-crop, frontal "
                           "camera).")
_FACE_INDEX = flags.DEFINE_integer("face_index", 0, "Which face (largest "
                                   "first).")
_DATA_DIR = flags.DEFINE_string("data_dir", "", "SynthHeads data sets.")
flags.mark_flags_as_required(["run", "out"])


def load_inputs(specs: list[str], size: int, max_inputs: int,
                **load_options) -> media.Frames:
  """Every frame of every spec (see module doc) -> uint8 images [K, S, S, 3]
  and labels [K, 25], at most `max_inputs`, evenly spaced; `truth["mask"]`
  [K, S, S] when every input carries its foreground mask."""
  if not specs:
    raise user_errors.UserError("no inputs: give --images=IMG [IMG ...] "
                                "(images, folders or clips).")
  if max_inputs < 1:
    raise user_errors.UserError(f"--max_inputs={max_inputs}: adaptation "
                                "needs at least one input.")
  loaded = [media.load(s, size, require_face=True, **load_options)
            for s in specs]
  images = np.concatenate([f.images for f in loaded])
  labels = np.concatenate([f.cameras for f in loaded])
  # Foreground masks only where every input has one (SynthHeads clips).
  masks = (np.concatenate([f.truth["mask"] for f in loaded])
           if all(f.truth for f in loaded) else None)
  if len(images) > max_inputs:
    pick = np.round(np.linspace(0, len(images) - 1, max_inputs)).astype(int)
    images, labels = images[pick], labels[pick]
    masks = None if masks is None else masks[pick]
  note = "; ".join(f.note for f in loaded)
  truth = None if masks is None else dict(mask=masks)
  return media.Frames(images, labels, loaded[0].fps, note, truth)


def main(argv):
  logging.set_verbosity(logging.WARNING)
  cfg, out = _CONFIG.value, _OUT.value
  user_errors.check_writable(os.path.dirname(os.path.abspath(out)),
                             "--out's parent")
  run = runs.load_run(_RUN.value, _STEP.value, defaults=configs.preset,
                      task="psi4d")
  size = run.model.image_size
  avatar = avatar_lib.Avatar(run.model, run.params)
  adapter = fit.Adapter(avatar, cfg)   # checks the config before the inputs
  inputs = load_inputs(list(_IMAGES.value) + list(argv[1:]), size,
                       _MAX_INPUTS.value, align=_ALIGN.value == "on",
                       face_index=_FACE_INDEX.value, data_dir=_DATA_DIR.value)
  print(f"[adapt] inputs: {len(inputs.images)} ({inputs.note})\n"
        f"[adapt] model: {_RUN.value} step {run.step}", flush=True)
  tic = time.perf_counter()
  masks = inputs.truth["mask"] if inputs.truth else None
  print("[adapt] masks: " + (
      "the inputs' own (density offset and mask term on)" if masks is not None
      else "none (density offset and mask term off)"), flush=True)
  result = adapter.fit(image_io.to_float(inputs.images), inputs.cameras,
                       masks=masks)
  total_s = time.perf_counter() - tic
  moved = np.abs(result.labels - inputs.cameras).max()
  about = dict(
      run=os.path.abspath(_RUN.value), step=run.step, inputs=inputs.note,
      count=len(inputs.images), masks=masks is not None,
      labels=inputs.cameras.tolist(),
      calibrated_labels=result.labels.tolist(), steps=result.steps,
      steps_s=round(result.seconds, 2), total_s=round(total_s, 2),
      final_loss=result.losses[-1] if result.losses else None,
      source_shapes=saved.source_shapes(result.source),
      config=cfg.to_dict())
  saved.save(out, run, result.params, result.source, about,
             inputs.images[0])
  print(f"[adapt] {result.steps} steps in {result.seconds:.1f} s (all: "
        f"{total_s:.1f} s, with fusion and compiling); the cameras moved by "
        f"up to {moved:.4f} in their labels\n[adapt] avatar: {out}  (animate "
        f"it: tools/reenact.py --avatar={out} --driving=...)", flush=True)


if __name__ == "__main__":
  user_errors.run_absl(main)
