"""Animate one source portrait with a driving video, with a trained Psi run.

  python tools/reenact.py --workdir=runs/psi4d_tiny --source=me.jpg \\
      --driving=talk.mp4 --out=outputs/reenact [--mesh=ply --mesh_every=8]
  python tools/reenact.py --avatar=outputs/avatar_me --driving=talk.mp4

  python tools/reenact.py --workdir=runs/psi4d_oracle --source=me.jpg \
      --audio=speech.wav --audio_model=runs/a2m_tiny [--pose_from=VIDEO \
      --blink_rate=0.2 --mouth_amp=1.0]

--avatar animates an avatar that tools/adapt.py made from K photos (its
own weights and source; no --workdir, no --source).

--audio drives the head with speech instead of a video: an audio-to-motion
run (configs/audio2motion.py) turns it into SynthHeads' 6 expression
parameters at 12.5 frames a second, which Psi reads as its motion when its
motion.kind is oracle or pretrained (the extractor's output space). Any
file ffmpeg decodes (WAV at any rate and sample format, MP3), mixed to
mono and resampled to 16 kHz, or a SynthHeads clip's own speech
(`--audio=synthheads:clips/demo/test:3`). Blinks are painted in at --blink_rate per
second, --mouth_amp scales the jaw, a cvae audio model samples at
--temperature; the head keeps the source's camera, or
follows the cameras of --pose_from (a video, played forwards and backwards
as long as the audio lasts).

Inputs (see p4d_jax/inference/media.py): an image, a video, a gif, a folder
of frames, a clip from tools/preprocess.py, or a SynthHeads clip
(`synthheads:clips/small/test:3`, `...:3:0` for one frame). Faces are found,
aligned and posed like tools/preprocess.py does; a frame without a face is
centre-cropped with the frontal camera, and a message says so. A video
source uses its first frame (`--source_frame`).

Writes into --out:
  reenact.mp4   source | driving | result, at the driving frame's camera
                (`--camera=source` keeps the source's camera)
  talk.mp4      (--audio) source | result, with the audio track
  orbit.mp4     the animated head seen by a camera swinging left and right
  depth.mp4     the result's depth, near = yellow
  meshes/       frame_NNNNN.ply|obj every --mesh_every frames (--mesh)
  summary.json  inputs, frames, the timings (FPS of the per-frame path);
                with --jaw_follow (SynthHeads source and driver) the
                correlation of the result's jaw opening with the driver's
"""

from __future__ import annotations

import argparse
import os
import time

import numpy as np

from absl import logging

import configs
from p4d_jax import user_errors
from p4d_jax.adaptation import saved
from p4d_jax.data.synthheads import params as P
from p4d_jax.evaluation import jaw_follow
from p4d_jax.inference import avatar as avatar_lib
from p4d_jax.inference import media
from p4d_jax.inference import mesh
from p4d_jax.inference import talking
from p4d_jax.media import atomic
from p4d_jax.media import audio_io
from p4d_jax.media import colormap
from p4d_jax.media import image_io
from p4d_jax.media import video_io
from p4d_jax.models import audio2motion
from p4d_jax.progress import Progress
from p4d_jax.tasks import runs


def parse_args(argv=None):
  p = user_errors.ArgumentParser(description=__doc__,
                              formatter_class=argparse.RawTextHelpFormatter)
  p.add_argument("--workdir", "--run", dest="workdir",
                 help="a trained (or converted) Psi run")
  p.add_argument("--step", type=int, default=None, help="default: newest")
  p.add_argument("--source", help="the source portrait (with --workdir)")
  p.add_argument("--avatar", help="an adapted avatar (tools/adapt.py) "
                 "instead of --workdir and --source")
  p.add_argument("--source_frame", type=int, default=0)
  p.add_argument("--driving", help="the driving video (or --audio)")
  p.add_argument("--audio", help="speech to drive the head (or --driving)")
  p.add_argument("--audio_model", help="an audio-to-motion run (--audio)")
  p.add_argument("--pose_from", help="a video whose cameras the head "
                 "follows (--audio; default: the source's)")
  p.add_argument("--blink_rate", type=float, default=0.2,
                 help="blinks per second painted in (--audio; 0: none)")
  p.add_argument("--mouth_amp", type=float, default=1.0,
                 help="scales the jaw opening (--audio)")
  p.add_argument("--temperature", type=float, default=0.2,
                 help="a cvae audio model's prior temperature (--audio; "
                 "Real3D's 0.2; 0: its centre)")
  p.add_argument("--out", default="outputs/reenact")
  p.add_argument("--camera", choices=("driving", "source"), default="driving")
  p.add_argument("--max_frames", type=int, default=0, help="0: all")
  p.add_argument("--batch", type=int, default=8, help="frames per call")
  p.add_argument("--orbit_yaw", type=float, default=0.6, help="radians")
  p.add_argument("--align", choices=("on", "off"), default="on",
                 help="find and align faces (off: centre-crop)")
  p.add_argument("--face_index", type=int, default=0)
  p.add_argument("--mesh", choices=("none", "ply", "obj"), default="none")
  p.add_argument("--mesh_every", type=int, default=8)
  p.add_argument("--mesh_resolution", type=int, default=96)
  p.add_argument("--mesh_level", type=float, default=mesh.DEFAULT_LEVEL)
  p.add_argument("--data_dir", default="", help="SynthHeads data sets")
  p.add_argument("--jaw_follow", action="store_true",
                 help="SynthHeads source and driver: read the result's jaw "
                 "opening back (evaluation/jaw_follow.py) and report its "
                 "correlation with the driver's")
  args = p.parse_args(argv)
  if args.jaw_follow and (args.avatar or args.audio or
                          args.camera != "driving"):
    raise user_errors.UserError(
        "--jaw_follow compares the result with the exact SynthHeads head at "
        "the driving camera: use --workdir, --source and --driving, "
        "--camera=driving.")
  if bool(args.avatar) == bool(args.workdir or args.source) or not (
      args.avatar or (args.workdir and args.source)):
    raise user_errors.UserError(
        "give --avatar=DIR, or --workdir=RUN with --source=IMAGE (not both).")
  if bool(args.driving) == bool(args.audio):
    raise user_errors.UserError("give --driving=VIDEO or --audio=WAV (one).")
  if args.audio and not args.audio_model:
    raise user_errors.UserError(
        "--audio needs --audio_model=RUN, a configs/audio2motion.py run; "
        + audio2motion.HOW_TO_MAKE)
  if args.audio and args.mesh != "none":
    raise user_errors.UserError("--mesh works with --driving only.")
  if min(args.blink_rate, args.mouth_amp, args.temperature) < 0:
    raise user_errors.UserError(
        "--blink_rate, --mouth_amp and --temperature must be >= 0.")
  return args


def load_source(args, load) -> dict:
  """The avatar, its prepared source, the source image [S, S, 3] in
  [-1, 1] and camera label [25], what it is, the model's directory and
  step, and the seconds its source half took: from --avatar (made by
  tools/adapt.py) or --workdir + --source (`load(spec, size, **kw)`)."""
  if args.avatar:
    run, prepared, about = saved.load(args.avatar, configs.preset)
    return dict(
        avatar=avatar_lib.Avatar(run.model, run.params), prepared=prepared,
        image=image_io.to_float(saved.source_image(args.avatar)),
        label=np.asarray(about["calibrated_labels"][0], np.float32),
        note=f"{args.avatar}: an avatar adapted to {about['count']} "
        "input(s)", model_dir=args.avatar, step=run.step, prepare_s=0.0,
        truth=None)
  run = runs.load_run(args.workdir, args.step, defaults=configs.preset,
                      task="psi4d")
  source = load(args.source, run.model.image_size,
                max_frames=args.source_frame + 1)
  if args.source_frame >= len(source.images):
    raise user_errors.UserError(
        f"{args.source} has {len(source.images)} frame(s); "
        f"--source_frame={args.source_frame} is past them.")
  avatar = avatar_lib.Avatar(run.model, run.params)
  image = image_io.to_float(source.images[args.source_frame])
  label = source.cameras[args.source_frame]
  tic = time.perf_counter()
  # A source that reads expressions (the oracle) starts from neutral.
  prepared = avatar.prepare(image, label, code=avatar.expression_codes(
      P.standardise_expression(P.neutral_expression())[None])[0]
      if run.model.motion_reads == "expression" else None)
  return dict(avatar=avatar, prepared=prepared, image=image, label=label,
              note=source.note, model_dir=args.workdir, step=run.step,
              prepare_s=time.perf_counter() - tic, truth=source.truth)


def jaw_follow_of(result: np.ndarray, source_truth: dict,
                  driving) -> dict:
  """The result frames [T, S, S, 3] in [-1, 1] read back as jaw openings
  and correlated with the driver's (evaluation/jaw_follow.py)."""
  expression = driving.truth["expression"]
  read = jaw_follow.fitted_jaw((result + 1.0) / 2.0, source_truth,
                               driving.cameras, expression)
  follow = jaw_follow.correlation(expression[:, jaw_follow.JAW], read)
  return dict(follow, result_jaw=[round(float(v), 4) for v in read],
              driver_jaw=[round(float(v), 4)
                          for v in expression[:, jaw_follow.JAW]])


def render_all(drive, total: int, views: dict, batch: int
               ) -> tuple[dict, dict]:
  """Renders frames 0..total-1 at each view's labels [T, 25], `batch`
  frames per call: `drive(frames, labels)` renders frame indices [batch]
  at labels [batch, 25]. Returns {view: outputs [T, ...]} and timings: the
  first call (with compilation) apart from the rest."""
  out = {name: [] for name in views}
  progress = Progress(total, "reenact frames", every=batch)
  first = rest = 0.0
  for start in range(0, total, batch):
    # One compiled shape: the last batch repeats its last frame.
    index = np.minimum(np.arange(start, start + batch), total - 1)
    count = min(batch, total - start)
    tic = time.perf_counter()
    for name, labels in views.items():
      got = drive(index, labels[index])
      out[name].append({k: v[:count] for k, v in got.items()})
    took = time.perf_counter() - tic
    first, rest = (took, rest) if start == 0 else (first, rest + took)
    progress.update(start + count)
  joined = {name: {k: np.concatenate([c[k] for c in chunks])
                   for k in chunks[0]} for name, chunks in out.items()}
  later = total - min(batch, total)
  timing = dict(first_call_s=round(first, 3),
                frames_per_s=round(later * len(views) / rest, 2) if later
                else None)
  return joined, timing


def depth_video(depth: np.ndarray, mask: np.ndarray, size: int) -> np.ndarray:
  """Depth [T, n, n] -> uint8 [T, size, size, 3], one colour scale for all."""
  alpha = (mask + 1.0) / 2.0
  head = depth[alpha > 0.5]
  near, far = np.percentile(head if head.size else depth, [1, 99])
  frames = np.stack([colormap.colorize_depth(d, near, far, a)
                     for d, a in zip(depth, alpha)])
  factor = size // frames.shape[1]
  return np.repeat(np.repeat(frames, factor, axis=1), factor, axis=2)


def write_meshes(args, avatar, prepared, driving: np.ndarray,
                 driving_labels: np.ndarray) -> list[str]:
  paths = []
  picks = range(0, len(driving), args.mesh_every)
  progress = Progress(len(picks), "meshes")
  for i, t in enumerate(picks):
    density = avatar.density(prepared, driving[t], args.mesh_resolution,
                             driving_labels[t])
    verts, faces = mesh.extract(density, avatar.box, args.mesh_level)
    path = os.path.join(args.out, "meshes", f"frame_{t:05d}.{args.mesh}")
    writer = mesh.write_ply if args.mesh == "ply" else mesh.write_obj
    paths.append(writer(path, verts, faces))
    progress.update(i + 1, vertices=len(verts))
  return paths


def write_views(args, out: dict, size: int, fps: float) -> dict:
  """orbit.mp4 and depth.mp4 of the rendered views."""
  return dict(
      orbit=video_io.write_video(os.path.join(args.out, "orbit.mp4"),
                                 image_io.to_uint8(out["orbit"]["image"]),
                                 fps),
      depth=video_io.write_video(
          os.path.join(args.out, "depth.mp4"),
          depth_video(out["result"]["depth"], out["result"]["mask"], size),
          fps))


def ping_pong(count: int, length: int) -> np.ndarray:
  """Indices [count] into `length` frames, forwards then backwards."""
  if length == 1:
    return np.zeros(count, int)
  cycle = np.concatenate([np.arange(length), np.arange(length - 2, 0, -1)])
  return cycle[np.arange(count) % len(cycle)]


def read_speech(args) -> tuple[np.ndarray, talking.Talker]:
  """--audio and --audio_model, read and checked before any model runs."""
  wave = (media.synthheads_speech(args.audio, args.data_dir)
          if args.audio.startswith(media.SYNTHHEADS)
          else audio_io.read_audio(args.audio))
  frame = audio_io.RATE / talking.FPS
  if len(wave) < frame:
    raise user_errors.UserError(
        f"{args.audio}: {len(wave) / audio_io.RATE:.3f} s of audio is "
        f"shorter than one video frame ({frame / audio_io.RATE} s); give "
        "a longer recording.")
  return wave, talking.Talker(*audio2motion.load(args.audio_model),
                              temperature=args.temperature)


def talk(args, src: dict, load, wave: np.ndarray, talker: talking.Talker
         ) -> tuple[dict, dict, str, int]:
  """--audio: speech -> expressions -> the rendered views and talk.mp4.
  Returns (written files, timings, what drove it, frames)."""
  avatar = src["avatar"]
  kind = avatar.model.motion.cfg.kind
  if kind not in ("oracle", "pretrained"):
    raise user_errors.UserError(
        f"{src['model_dir']} is a motion.kind={kind} run; --audio makes "
        "SynthHeads' 6 expression parameters, which only oracle and "
        "pretrained runs read as motion: use one of those.")
  raw = talker.expressions(wave, args.blink_rate, args.mouth_amp)
  if args.max_frames:
    raw = raw[:args.max_frames]
  count = len(raw)
  codes = avatar.expression_codes(P.standardise_expression(raw))
  if args.pose_from:
    pose = load(args.pose_from, avatar.image_size).cameras
    cams = pose[ping_pong(count, len(pose))]
  else:
    cams = np.repeat(src["label"][None], count, axis=0)
  views = dict(result=cams, orbit=avatar_lib.orbit_labels(count,
                                                          args.orbit_yaw))
  out, timing = render_all(
      lambda index, labels: avatar.render_codes(src["prepared"],
                                                codes[index], labels),
      count, views, args.batch)
  u8 = image_io.to_uint8
  side = np.concatenate([np.repeat(u8(src["image"])[None], count, axis=0),
                         u8(out["result"]["image"])], axis=2)
  heard = wave[:int(count * audio_io.RATE / talking.FPS)] \
      if args.max_frames else wave
  written = dict(talk=audio_io.write_video(
      os.path.join(args.out, "talk.mp4"), side, talking.FPS, heard))
  written.update(write_views(args, out, avatar.image_size, talking.FPS))
  seconds = len(wave) / audio_io.RATE
  note = (f"{args.audio}: {seconds:.2f} s of audio -> {count} frames at "
          f"{talking.FPS} fps by {args.audio_model}")
  print(f"[reenact] audio: {note}", flush=True)
  return written, timing, note, count


def main(argv=None) -> dict:
  args = parse_args(argv)
  logging.set_verbosity(logging.WARNING)
  user_errors.check_writable(args.out, "--out")   # before the rendering
  load = lambda spec, size, **kw: media.load(  # noqa: E731
      spec, size, align=args.align == "on", face_index=args.face_index,
      data_dir=args.data_dir, **kw)
  speech = read_speech(args) if args.audio else None
  src = load_source(args, load)
  avatar, prepared, src_image = src["avatar"], src["prepared"], src["image"]
  step = src["step"]
  size = avatar.image_size
  print(f"[reenact] source: {src['note']}\n[reenact] model: "
        f"{src['model_dir']} step {step}", flush=True)
  if args.audio:
    written, timing, driven_by, count = talk(args, src, load, *speech)
    return finish(args, src, driven_by, count, size, timing, written)
  driving = load(args.driving, size, max_frames=args.max_frames or None)
  if args.jaw_follow and (src["truth"] is None or driving.truth is None):
    raise user_errors.UserError(
        "--jaw_follow needs SynthHeads clips as --source and --driving "
        "(synthheads:clips/...): only they carry the exact head and "
        "expressions.")
  print(f"[reenact] driving: {driving.note}", flush=True)
  frames = image_io.to_float(driving.images)
  count = len(frames)
  cams = (driving.cameras if args.camera == "driving" else
          np.repeat(src["label"][None], count, axis=0))
  views = dict(result=cams,
               orbit=avatar_lib.orbit_labels(count, args.orbit_yaw))
  out, timing = render_all(
      lambda index, labels: avatar.render(prepared, frames[index], labels,
                                          driving.cameras[index]),
      count, views, args.batch)

  u8 = image_io.to_uint8
  side = np.concatenate([np.repeat(u8(src_image)[None], count, axis=0),
                         driving.images, u8(out["result"]["image"])], axis=2)
  written = dict(
      reenact=video_io.write_video(os.path.join(args.out, "reenact.mp4"),
                                   side, driving.fps),
      **write_views(args, out, size, driving.fps))
  if args.mesh != "none":
    try:
      written["meshes"] = write_meshes(args, avatar, prepared, frames,
                                       driving.cameras)
    except ValueError as err:   # e.g. an early checkpoint with no surface yet
      print(f"[reenact] no meshes: {err}", flush=True)
      written["meshes"] = []
  extra = {}
  if args.jaw_follow:
    extra["jaw_follow"] = follow = jaw_follow_of(
        out["result"]["image"], src["truth"], driving)
    print(f"[reenact] jaw follow: r {follow['r']:.3f}, slope "
          f"{follow['slope']:.3f} over {follow['frames']} frames (the "
          "result's jaw opening read back against the driver's)", flush=True)
  return finish(args, src, driving.note, count, size, timing, written,
                **extra)


def finish(args, src: dict, driven_by: str, count: int, size: int,
           timing: dict, written: dict, **extra) -> dict:
  """Writes summary.json (with `extra` entries) and says what was
  written."""
  summary = dict(workdir=os.path.abspath(src["model_dir"]), step=src["step"],
                 source=src["note"], driving=driven_by, frames=count,
                 image_size=size, prepare_s=round(src["prepare_s"], 3),
                 **timing, outputs=written, **extra)
  atomic.write_json(os.path.join(args.out, "summary.json"), summary, indent=2)
  fps = timing["frames_per_s"]
  print(f"[reenact] {count} frames x 2 views; per-frame path "
        f"{fps if fps else 'n/a'} frames/s after a first call (compile) of "
        f"{timing['first_call_s']} s")
  for key, path in written.items():
    print(f"[reenact] {key}: {path if isinstance(path, str) else len(path)}")
  return summary


if __name__ == "__main__":
  user_errors.run(main)
