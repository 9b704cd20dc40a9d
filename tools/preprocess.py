"""Real images and videos -> aligned clips for the pseudo-view stage.

  python tools/preprocess.py portrait.jpg talk.mp4 --out=outputs/clips --size=512

Each input becomes one clip, OUT/<name>/ (see p4d_jax/data/clip_files.py):
aligned crops, 68 landmarks in the crop, and head-frame camera labels. Video
landmarks are smoothed over time (one-euro filter; --smooth=off turns it
off). With several faces the largest is taken (--face_index picks another);
a file without a face, or one that cannot be read, stops with its name (one
line, exit status 2). Two inputs that would make the same clip name (face.png
face.jpg) are refused before any work.
Then: `--config.data.source=preprocessed --config.data.data_dir=OUT` in
tools/precompute_pseudo_views.py.
"""

from __future__ import annotations

import argparse
import json
import os

from p4d_jax import user_errors
from p4d_jax.data import clip_files
from p4d_jax.data.faces import head_pose
from p4d_jax.data.faces import landmarks
from p4d_jax.data.faces import preprocess
from p4d_jax.media import video_io


def parse_args(argv=None):
  p = user_errors.ArgumentParser(description=__doc__,
                              formatter_class=argparse.RawTextHelpFormatter)
  p.add_argument("inputs", nargs="+", help="image or video files")
  p.add_argument("--out", required=True, help="root directory of the clips")
  p.add_argument("--size", type=int, default=512, help="crop size (pixels)")
  p.add_argument("--name", default="",
                 help="clip name (one input only; default: the file's stem)")
  p.add_argument("--face_index", type=int, default=0,
                 help="0 = the largest face, 1 = the next, ...")
  p.add_argument("--min_score", type=float, default=0.5,
                 help="dlib HOG detection score threshold")
  p.add_argument("--smooth", choices=("auto", "on", "off"), default="auto",
                 help="one-euro smoothing (auto: videos only)")
  p.add_argument("--min_cutoff", type=float, default=1.0,
                 help="one-euro cutoff at rest (Hz)")
  p.add_argument("--beta", type=float, default=1.0,
                 help="one-euro speed coefficient (eye distances per s)")
  args = p.parse_args(argv)
  if args.name and len(args.inputs) > 1:
    p.error("--name names one clip; give one input with it.")
  seen = {}
  for path in args.inputs:
    name = args.name or clip_name(path)
    if name in seen:
      p.error(f"{seen[name]} and {path} would both be clip {name!r}; rename "
              "one, or preprocess them one at a time with --name.")
    seen[name] = path
  return args


def clip_name(path: str) -> str:
  """An input's default clip name: its file or folder name, no extension."""
  return os.path.splitext(os.path.basename(os.path.normpath(path)))[0]


def main(argv=None):
  args = parse_args(argv)
  missing = [p for p in args.inputs if not os.path.exists(p)]
  if missing:
    raise user_errors.MissingFile(f"{missing[0]} does not exist.")
  user_errors.check_writable(args.out, "--out")
  finder = landmarks.FaceFinder(min_score=args.min_score)
  smooth = {"auto": None, "on": True, "off": False}[args.smooth]
  for path in args.inputs:
    frames, fps = video_io.read_frames(path)
    clip = preprocess.process(frames, fps, args.size, finder, path,
                              args.face_index, smooth, args.min_cutoff,
                              args.beta)
    name = args.name or clip_name(path)
    where = clip_files.write_clip(args.out, name, clip["frames"],
                                  clip["cameras"], clip["landmarks"],
                                  fps or 0.0, os.path.abspath(path))
    angles = head_pose.yaw_pitch_roll(clip["cameras"]).mean(0)
    print(json.dumps(dict(clip=where, frames=len(frames),
                          smoothed=bool(clip["smoothed"]),
                          mean_yaw_pitch_roll_deg=[
                              round(float(a), 1) for a in angles * 57.29578])),
          flush=True)


if __name__ == "__main__":
  user_errors.run(main)
