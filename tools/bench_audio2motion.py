"""Audio to motion measured on held-out SynthHeads clips with exact ground
truth (p4d_jax/evaluation/talking_heads.py): one JSON line per figure and
method.

  python tools/bench_audio2motion.py --run=runs/a2m_tiny [--clips=16 \\
      --every=2 --resolution=64 --supersample=1] [--psi=runs/psi4d_oracle]

The held-out clips are SynthHeads identities the model never heard (their
own motion and voice, `data.speech_clips.held_out`). Methods:
  model          the run's prediction from the clip's speech (a cvae's at
                 --temperature, default 0)
  mean_motion    every frame the mean expression of 256 training clips
  another_clip   the exact motion of the next held-out clip (chance level)
Figures:
  parameters     jaw_open / smile / pucker: correlation and mean absolute
                 error against the exact track (raw units), all frames
  offset         the lag (frames, + = motion late) that best lines the jaw
                 track up with the audio's RMS, and the correlation there
  mouth_psnr     mouth-region PSNR through SynthHeads' EXACT renderer (the
                 exact frame vs the same frame with the method's mouth
                 parameters), every --every-th frame; the gain over
                 another_clip with its 95% paired bootstrap interval
  psi_mouth_psnr (--psi, a motion.kind oracle or pretrained Psi run) the
                 same through Psi: each clip's first frame as the source,
                 driven by the method's codes at the clip's cameras, against
                 the exact frames
  video          (--video=MP4) the first held-out clip with its speech:
                 exact render | exact renderer, the model's mouth | (--psi)
                 Psi, the model's mouth
"""

from __future__ import annotations

import json
import time

import numpy as np

import configs
from p4d_jax import user_errors
from p4d_jax.data import speech_clips
from p4d_jax.data.synthheads import examples
from p4d_jax.data.synthheads import params as P
from p4d_jax.evaluation import image_metrics
from p4d_jax.evaluation import lip_sync
from p4d_jax.evaluation import paired_stats
from p4d_jax.evaluation import talking_heads
from p4d_jax.inference import avatar as avatar_lib
from p4d_jax.inference import talking
from p4d_jax.media import audio_io
from p4d_jax.media import image_io
from p4d_jax.models import audio2motion
from p4d_jax.tasks import runs


def parse_args(argv=None):
  p = user_errors.ArgumentParser(description=__doc__)
  p.add_argument("--run", required=True, help="an audio2motion run")
  p.add_argument("--clips", type=int, default=16, help="held-out clips")
  p.add_argument("--every", type=int, default=2,
                 help="render every N-th frame for the PSNR figures")
  p.add_argument("--resolution", type=int, default=64)
  p.add_argument("--supersample", type=int, default=1)
  p.add_argument("--temperature", type=float, default=0.0,
                 help="a cvae run's prior temperature (0: its centre)")
  p.add_argument("--psi", default="", help="a Psi run (oracle/pretrained)")
  p.add_argument("--video", default="", help="an mp4 of the first held-out "
                 "clip with its speech (see the module)")
  args = p.parse_args(argv)
  if args.clips < 2 or args.every < 1:
    raise user_errors.UserError("--clips must be >= 2 and --every >= 1.")
  return args


def emit(**line):
  print(json.dumps(line), flush=True)


def methods(talker: talking.Talker, held: dict) -> dict:
  """{method: raw tracks [C, T, 6]} (see the module)."""
  model = np.stack([P.raw_expression(talker.standardised(w))
                    for w in held["wave"]])
  settings = speech_clips.SpeechSettings()
  train = np.stack([speech_clips.clip(settings, i)["expression"]
                    for i in range(256)])
  mean = np.broadcast_to(train.mean((0, 1)), held["raw"].shape)
  return dict(model=model, mean_motion=np.array(mean),
              another_clip=np.roll(held["raw"], 1, axis=0))


class PsiDriver:
  """A Psi run (motion.kind oracle or pretrained) animating each held-out
  clip's first frame with expression tracks, at the clip's cameras."""

  def __init__(self, path: str, supersample: int):
    run = runs.load_run(path, defaults=configs.preset, task="psi4d")
    if run.config.motion.kind not in ("oracle", "pretrained"):
      raise user_errors.UserError(
          f"--psi {path} is a motion.kind={run.config.motion.kind} run; "
          "give an oracle or pretrained one.")
    self.avatar = avatar_lib.Avatar(run.model, run.params)
    self.reads = run.model.motion_reads
    self.spec = examples.Spec(resolution=run.model.image_size,
                              supersample=supersample)

  def render(self, ident: int, exact: np.ndarray, track: np.ndarray,
             frames: np.ndarray) -> np.ndarray:
    """Clip `ident` (exact raw track [T, 6]) driven by the mouth of
    `track` [T, 6] at `frames` -> images [F, S, S, 3] in [0, 1]."""
    scenes, world = examples.clip_scenes(self.spec, int(ident))
    source = examples.render_raw(self.spec, scenes[:1], world[:1])["rgb"][0]
    # An oracle source reads its first frame's exact expression.
    code = (self.avatar.expression_codes(
        P.standardise_expression(exact[:1]))[0]
            if self.reads == "expression" else None)
    prepared = self.avatar.prepare(
        source * 2.0 - 1.0, talking_heads.frame_labels(scenes, world, [0])[0],
        code=code)
    mouth = talking_heads.with_mouth(exact, track)[frames]
    got = self.avatar.render_codes(
        prepared, self.avatar.expression_codes(
            P.standardise_expression(mouth)),
        talking_heads.frame_labels(scenes, world, frames))
    return (got["image"] + 1.0) / 2.0


def psi_psnr(psi: PsiDriver, held: dict, tracks: dict,
             frames: np.ndarray) -> dict:
  """{method: mouth PSNR [C * F] through Psi} (`psi_mouth_psnr`)."""
  target, mask = talking_heads.render_frames(psi.spec, held["ident"],
                                             held["raw"], frames)
  out = {name: [] for name in tracks}
  for c, ident in enumerate(held["ident"]):
    rows = slice(c * len(frames), (c + 1) * len(frames))
    for name, track in tracks.items():
      got = psi.render(ident, held["raw"][c], track[c], frames)
      out[name].append(np.asarray(image_metrics.masked_psnr(
          got, target[rows], mask[rows])))
  return {k: np.concatenate(v) for k, v in out.items()}


def write_example(path: str, spec: examples.Spec, held: dict, tracks: dict,
                  psi: PsiDriver | None) -> str:
  """The first held-out clip, every frame, with its speech: the exact
  render | the exact renderer with the model's mouth | (--psi) Psi driven
  by the model's mouth."""
  frames = np.arange(held["raw"].shape[1])
  ident, exact, model = held["ident"][:1], held["raw"][:1], tracks["model"][:1]
  panels = [talking_heads.render_frames(spec, ident, exact, frames)[0],
            talking_heads.render_frames(
                spec, ident, talking_heads.with_mouth(exact, model),
                frames)[0]]
  if psi is not None:
    panels.append(psi.render(ident[0], exact[0], model[0], frames))
  side = image_io.to_uint8(np.concatenate(panels, axis=2) * 2.0 - 1.0)
  return audio_io.write_video(path, side, talking.FPS, held["wave"][0])


def report_psnr(figure: str, psnr: dict, **extra):
  for name, values in psnr.items():
    line = dict(figure=figure, method=name, psnr=float(values.mean()),
                frames=len(values), **extra)
    if name != "another_clip":
      line["gain_over_another_clip"] = paired_stats.bootstrap_mean(
          values - psnr["another_clip"])
    emit(**line)


def main(argv=None):
  args = parse_args(argv)
  tic = time.time()
  talker = talking.Talker(*audio2motion.load(args.run),
                          temperature=args.temperature)
  emit(figure="run", run=args.run, kind=talker.model.sizes.kind,
       temperature=args.temperature)
  settings = speech_clips.SpeechSettings()
  held = speech_clips.held_out(settings, args.clips)
  tracks = methods(talker, held)
  envelope = lip_sync.frame_envelope(held["wave"], settings.samples_per_frame)
  for name, track in tracks.items():
    emit(figure="parameters", method=name, clips=args.clips,
         **talking_heads.parameter_scores(track, held["raw"]))
    if np.ptp(track[..., 0]) == 0:   # a constant jaw has no offset
      emit(figure="offset", method=name, offset_frames=None)
      continue
    corr = lip_sync.lag_correlations(track[..., 0], envelope)
    best = max(corr, key=corr.get)
    emit(figure="offset", method=name, offset_frames=best,
         corr_at_offset=corr[best], corr_at_0=corr[0])
  frames = np.arange(0, settings.frames, args.every)
  spec = examples.Spec(resolution=args.resolution,
                       supersample=args.supersample)
  report_psnr("mouth_psnr", talking_heads.mouth_psnr(
      spec, held["ident"], held["raw"], tracks, frames),
      resolution=args.resolution, supersample=args.supersample,
      renderer="synthheads exact")
  psi = PsiDriver(args.psi, args.supersample) if args.psi else None
  if psi is not None:
    report_psnr("psi_mouth_psnr", psi_psnr(psi, held, tracks, frames),
                psi=args.psi)
  if args.video:
    emit(figure="video", path=write_example(args.video, spec, held, tracks,
                                            psi))
  emit(figure="seconds", value=round(time.time() - tic, 1))


if __name__ == "__main__":
  user_errors.run(main)
