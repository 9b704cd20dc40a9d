"""The main job: the whole pipeline on SynthHeads, from nothing to videos
and a report.

  1 data      SynthHeads `demo` sets: multi-view stills, talking clips,
              held-out reenactment pairs (tools/make_synthheads.py)
  2 psi3d     Psi3d trained on the stills (python -m launch.main)
  3 pseudo    its pseudo views of every clip (tools/precompute_pseudo_views.py)
  4 motion    the expression extractor, pretrained on fresh SynthHeads
              renders (configs/motion.py; skipped with --motion=learned)
  5 psi4d     Psi initialised from Psi3d, trained on the pseudo views, its
              motion read by the frozen extractor (the paper's design)
  6 reenact   a held-out head driven by another's clip: mp4s and a mesh
              (tools/reenact.py)
  7 evaluate  Psi on the held-out pairs: metrics.json + report.html
              (tools/evaluate.py)

Each stage is the documented command, run as a subprocess; a rerun skips
the stages that are done and resumes one that was cut short.

  bash launch/demo.sh                 # = python tools/demo.py
  python tools/demo.py --out=DIR --psi3d_steps=3000 --psi4d_steps=1200
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

from p4d_jax import user_errors
from p4d_jax.data import builders
from p4d_jax.media import atomic

STAGES = 7


def parse_args(argv=None):
  p = argparse.ArgumentParser(description=__doc__,
                              formatter_class=argparse.RawTextHelpFormatter)
  p.add_argument("--out", default="outputs/demo")
  p.add_argument("--size", default="demo", choices=sorted(builders.SIZES),
                 help="SynthHeads size (models run at its resolution)")
  p.add_argument("--data_dir", default="",
                 help="SynthHeads data sets (default: $P4D_DATA_DIR or "
                 "outputs/datasets)")
  p.add_argument("--psi3d_steps", type=int, default=1500)
  p.add_argument("--psi4d_steps", type=int, default=2400,
                 help="Psi's steps: at 800 (about 16 minutes less) its "
                 "result follows the driver's jaw less (README)")
  p.add_argument("--motion", choices=("pretrained", "learned"),
                 default="pretrained",
                 help="Psi's motion source: the pretrained extractor (stage "
                 "4) or a motion encoder trained with Psi (no stage 4)")
  p.add_argument("--motion_steps", type=int, default=2000,
                 help="the extractor's training steps (batch 32)")
  p.add_argument("--batch", type=int, default=4,
                 help="training batch; a multiple of the device count")
  p.add_argument("--views", type=int, default=4, help="pseudo views a frame")
  p.add_argument("--source", default="",
                 help="reenactment source (default: held-out clip 0, frame 0)")
  p.add_argument("--driving", default="",
                 help="reenactment driver (default: held-out clip 1)")
  return p.parse_args(argv)


def read_json(path: str) -> dict:
  with open(path) as f:
    return json.load(f)


def latest_step(workdir: str) -> int:
  """The newest checkpoint step of a run (-1 if none)."""
  directory = os.path.join(workdir, "checkpoints")
  steps = [int(n) for n in (os.listdir(directory)
                            if os.path.isdir(directory) else [])
           if n.isdigit()]
  return max(steps, default=-1)


def model_overrides(size: str) -> list[str]:
  """The tiny models at the data's resolution (neural rendering at half)."""
  res = builders.SIZES[size].resolution
  return [f"--config.image_size={res}", f"--config.neural_resolution={res // 2}"]


class Pipeline:
  """Runs the stages in order, times them, and remembers what they wrote."""

  def __init__(self, args):
    self.args = args
    self.data_dir = builders.data_dir(args.data_dir)
    self.runs = {name: os.path.join(args.out, name)
                 for name in ("psi3d", "pseudo_views", "motion", "psi4d",
                              "reenact", "eval")}
    self.timings: dict[str, float] = {}
    self.skipped: list[str] = []
    self.start = time.time()

  def run(self, number: int, name: str, what: str, command: list[str] | None):
    elapsed = time.time() - self.start
    if command is None:
      print(f"[demo] {number}/{STAGES} {name}: done already ({what})",
            flush=True)
      self.skipped.append(name)
      return
    print(f"[demo] {number}/{STAGES} {name}: {what}  ({elapsed / 60:.1f} min "
          "elapsed)", flush=True)
    tic = time.time()
    env = dict(os.environ, P4D_DATA_DIR=self.data_dir)
    code = subprocess.call([sys.executable, *command], cwd=ROOT, env=env)
    if code:
      raise SystemExit(f"[demo] stage {name} failed (exit {code}). Its "
                       f"command:\n  {sys.executable} {' '.join(command)}\n"
                       "Fix the cause and rerun the demo: finished stages "
                       "are skipped.")
    self.timings[name] = time.time() - tic

  def train(self, number: int, name: str, config: str, steps: int,
            extra: list[str], model: bool = True):
    """A `launch.main` run of `config`; `model`: a Psi3d/Psi model at the
    demo's batch and size (the extractor takes `extra` alone)."""
    workdir = self.runs[name]
    done = latest_step(workdir) >= steps
    sizes = [f"--config.batch_size={self.args.batch}",
             *model_overrides(self.args.size)] if model else []
    command = None if done else [
        "-m", "launch.main", f"--config={config}", f"--workdir={workdir}",
        f"--config.train.total_steps={steps}", "--config.train.eval_every=0",
        f"--config.train.checkpoint_every={max(steps // 4, 1)}",
        *sizes, *extra]
    self.run(number, name, f"{config}, {steps} steps -> {workdir}", command)

  def main(self) -> dict:
    a, runs = self.args, self.runs
    self.check_motion_kind(a.motion)   # before any stage runs
    size = a.size
    self.run(1, "data", f"SynthHeads {size} in {self.data_dir}", [
        "tools/make_synthheads.py", f"--size={size}", "--no_sheet",
        f"--data_dir={self.data_dir}"])
    self.train(2, "psi3d", "configs/psi3d.py:tiny", a.psi3d_steps,
               [f"--config.data.size={size}"])
    manifest = os.path.join(runs["pseudo_views"], "manifest.json")
    self.run(3, "pseudo_views", f"{a.views} views a frame of clips/{size}",
             None if os.path.exists(manifest) else [
                 "tools/precompute_pseudo_views.py",
                 "--config=configs/pseudo_views.py:tiny",
                 f"--config.checkpoint={runs['psi3d']}",
                 f"--config.data.size={size}", f"--config.views={a.views}",
                 f"--config.num_shards={min(8, builders.SIZES[size].clips)}",
                 f"--out={runs['pseudo_views']}"])
    psi4d_config, recipe = "configs/psi4d.py:tiny", []
    if a.motion == "pretrained":
      resolution = builders.SIZES[size].resolution
      self.train(4, "motion", "configs/motion.py:tiny", a.motion_steps,
                 [f"--config.data.resolution={resolution}"], model=False)
      # The recipe of README "Training Psi": the region L1 carries the
      # expression, the pseudo views' depth keeps the geometry.
      psi4d_config = "configs/psi4d.py:tiny_pretrained"
      recipe = [f"--config.motion.weights={runs['motion']}",
                "--config.loss.expression_l1=4", "--config.loss.pseudo_depth=1"]
    self.train(5, "psi4d", psi4d_config, a.psi4d_steps, [
        f"--config.data.pseudo_views={runs['pseudo_views']}",
        f"--config.train.init_from={runs['psi3d']}/checkpoints",
        f"--config.eval.synthheads_size={size}", *recipe])
    summary_path = os.path.join(runs["reenact"], "summary.json")
    step = latest_step(runs["psi4d"])
    done = os.path.exists(summary_path) and read_json(summary_path)[
        "step"] == step
    source = a.source or f"synthheads:clips/{size}/test:0:0"
    driving = a.driving or f"synthheads:clips/{size}/test:1"
    # SynthHeads source and driver: the result's jaw is read back too.
    exact = all(s.startswith("synthheads:") for s in (source, driving))
    self.run(6, "reenact", f"{source} driven by {driving}", None if done else [
        "tools/reenact.py", f"--workdir={runs['psi4d']}", f"--source={source}",
        f"--driving={driving}", f"--out={runs['reenact']}", "--mesh=ply",
        "--mesh_every=1000"] + (["--jaw_follow"] if exact else []))
    report = os.path.join(runs["eval"], "report.html")
    done = (os.path.exists(report) and os.path.getmtime(report) >
            os.path.getmtime(summary_path))
    self.run(7, "evaluate", f"held-out SynthHeads {size} pairs",
             None if done else [
                 "tools/evaluate.py", f"--workdir={runs['psi4d']}",
                 f"--synthheads_size={size}", f"--out={runs['eval']}"])
    return self.finish()

  def check_motion_kind(self, kind: str):
    """A Psi run of the other motion source must not count as done."""
    path = os.path.join(self.runs["psi4d"], "config.json")
    if os.path.exists(path):
      had = read_json(path)["motion"]["kind"]
      if had != kind:
        raise user_errors.UserError(
            f"{self.runs['psi4d']} is a Psi run with motion {had!r}, not "
            f"{kind!r}; pass --motion={had} or another --out.")

  def finish(self) -> dict:
    runs = self.runs
    metrics = read_json(os.path.join(runs["eval"], "metrics.json"))["summary"]
    outputs = {
        "side by side (source | driving | result)":
            os.path.join(runs["reenact"], "reenact.mp4"),
        "free-view orbit": os.path.join(runs["reenact"], "orbit.mp4"),
        "depth": os.path.join(runs["reenact"], "depth.mp4"),
        "mesh (frame 0)": os.path.join(runs["reenact"], "meshes",
                                       "frame_00000.ply"),
        "evaluation report": os.path.join(runs["eval"], "report.html"),
        "metrics": os.path.join(runs["eval"], "metrics.json"),
        "Psi3d run": runs["psi3d"], "pseudo views": runs["pseudo_views"],
        "expression extractor run": runs["motion"], "Psi run": runs["psi4d"]}
    total = time.time() - self.start
    follow = read_json(os.path.join(runs["reenact"], "summary.json")).get(
        "jaw_follow")
    summary = dict(total_s=round(total, 1),
                   stage_s={k: round(v, 1) for k, v in self.timings.items()},
                   metrics=metrics, outputs=outputs, jaw_follow=follow)
    atomic.write_json(os.path.join(self.args.out, "demo_summary.json"),
                      summary, indent=2)
    ran = ", ".join(f"{k} {v / 60:.1f}" for k, v in self.timings.items())
    done = (f"; done already: {', '.join(self.skipped)}" if self.skipped
            else "")
    print(f"\n[demo] finished in {total / 60:.1f} min"
          + (f" ({ran} min{done})" if ran
             else " (every stage was done already)"))
    for line in metrics:
      if line["group"] in ("same", "cross"):
        print(f"[demo] {line['group']}-identity reenactment: PSNR "
              f"{line['psnr']:.2f} dB (the source frame itself: "
              f"{line['baseline_psnr']:.2f}), novel views "
              f"{line['novel_psnr']:.2f} dB, depth error "
              f"{line['depth_error']:.4f}")
    if follow:
      print(f"[demo] the result's jaw opening against the driver's: r "
            f"{follow['r']:.2f}, slope {follow['slope']:.2f} over "
            f"{follow['frames']} frames (1, 1 = follows the mouth fully)")
    for what, path in outputs.items():
      if os.path.exists(path):
        print(f"[demo] {what:42s} {os.path.abspath(path)}")
    return summary


def main(argv=None) -> dict:
  args = parse_args(argv)
  os.makedirs(args.out, exist_ok=True)
  return Pipeline(args).main()


if __name__ == "__main__":
  user_errors.run(main)
