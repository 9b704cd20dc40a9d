"""Audio-driven motion scored on held-out SynthHeads clips, exactly.

A method gives raw expression tracks [C, T, 6] for the held-out clips (from
their speech, or a control: the mean motion, another clip's motion). It is
scored by

- `parameter_scores`: the mouth parameters' (jaw_open, smile, pucker)
  Pearson correlation with the exact track over all frames, and their mean
  absolute error in raw units;
- `mouth_psnr`: its pixel effect through SynthHeads' EXACT renderer: each
  scored frame is rendered twice with the clip's identity, pose, lighting
  and camera, once with the exact expression and once with the method's
  mouth parameters (the others exact), and the PSNR is taken inside the
  mouth region (`synthheads.regions`). This is the motion's effect where a
  perfect renderer shows it, not through Psi.
"""

from __future__ import annotations

import numpy as np

from p4d_jax.data.synthheads import examples
from p4d_jax.data.synthheads import params as P
from p4d_jax.data.synthheads import regions
from p4d_jax.data.synthheads import render
from p4d_jax.evaluation import image_metrics

MOUTH = ("jaw_open", "smile", "pucker")
_MOUTH_INDEX = [P.index(P.EXPRESSION, n) for n in MOUTH]


def parameter_scores(pred: np.ndarray, exact: np.ndarray) -> dict:
  """{<param>_corr, <param>_mae} for the mouth parameters of raw tracks
  [C, T, 6] (a constant track, up to float rounding, has correlation 0)."""
  out = {}
  for name, i in zip(MOUTH, _MOUTH_INDEX):
    p, t = pred[..., i].ravel(), exact[..., i].ravel()
    p, t = p - p.mean(), t - t.mean()
    constant = min(np.abs(p).max(), np.abs(t).max()) < 1e-6
    out[f"{name}_corr"] = 0.0 if constant else float(
        (p * t).sum() / np.sqrt((p * p).sum() * (t * t).sum()))
    out[f"{name}_mae"] = float(np.abs(pred[..., i] - exact[..., i]).mean())
  return out


def with_mouth(exact: np.ndarray, method: np.ndarray) -> np.ndarray:
  """The exact tracks with the method's mouth parameters."""
  out = np.array(exact, np.float32)
  out[..., _MOUTH_INDEX] = method[..., _MOUTH_INDEX]
  return out


def frame_labels(clip: list, world: np.ndarray, frames: np.ndarray
                 ) -> np.ndarray:
  """Head-relative camera labels [F, 25] of a clip's scenes and world
  cameras (`examples.clip_scenes`) at `frames`."""
  pose = np.stack([clip[f].pose for f in frames])
  return examples.camera_label(np.asarray(
      render.head_relative_camera(world[frames], pose)))


def render_frames(spec: examples.Spec, idents, tracks: np.ndarray,
                  frames: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
  """Clip `idents[c]` at `frames` with expressions `tracks[c]` [C, T, 6]
  -> images [C * F, S, S, 3] in [0, 1] and mouth masks [C * F, S, S]."""
  scenes, cams, masks = [], [], []
  for ident, track in zip(idents, tracks):
    clip, world = examples.clip_scenes(spec, int(ident))
    labels = frame_labels(clip, world, frames)
    for f, label in zip(frames, labels):
      scenes.append(clip[f]._replace(expression=track[f]))
      masks.append(regions.region_masks(clip[f].identity, label,
                                        spec.resolution)[1])
    cams.append(world[frames])
  out = examples.render_raw(spec, scenes, np.concatenate(cams))
  return out["rgb"], np.stack(masks)


def mouth_psnr(spec: examples.Spec, idents, exact: np.ndarray,
               methods: dict, frames: np.ndarray) -> dict:
  """{method: mouth-region PSNR [C * F] of its render against the exact
  one} (see the module)."""
  target, mask = render_frames(spec, idents, exact, frames)
  out = {}
  for name, track in methods.items():
    pred, _ = render_frames(spec, idents, with_mouth(exact, track), frames)
    out[name] = np.asarray(image_metrics.masked_psnr(pred, target, mask))
  return out
