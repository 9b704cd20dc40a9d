"""A corpus of bad inputs (made here, nothing stored) through every command
line as a real process: each mistake exits with status 2 and ONE stderr
line that names the culprit, and no earlier output is modified (checksums of
every file before and after). P4D_DEBUG=1 gives the traceback instead.

Each case is a process (2-5 s of imports); they run four at a time. The
default suite runs one or two cases a tool, `-m slow` all of them."""

import concurrent.futures
import hashlib
import json
import os
import pathlib
import socket
import subprocess
import sys

import numpy as np
import pytest

from p4d_jax import dir_lock
from p4d_jax.media import audio_io
from p4d_jax.media import image_io
from p4d_jax.media import video_io

ROOT = pathlib.Path(__file__).resolve().parents[1]


def make_corpus(root: pathlib.Path) -> dict:
  """Bad inputs and earlier outputs under `root`; returns named paths."""
  rng = np.random.default_rng(0)
  p = {name: root / name for name in (
      "empty.png", "text.jpg", "face.png", "face.jpg", "zero.mp4", "cut.mp4",
      "blocker", "earlier_clips", "broken_run", "no_run", "views", "work",
      "busy_work", "eval_pred", "missing.png", "foreign.pkl",
      "partial.npz", "empty.wav", "notes.wav", "short.wav")}
  p["empty.png"].write_bytes(b"")
  p["empty.wav"].write_bytes(b"")
  p["notes.wav"].write_text("a text file renamed .wav\n")
  audio_io.write_wav(str(p["short.wav"]), np.zeros(800, np.float32))
  p["text.jpg"].write_text("a text file renamed .jpg\n")
  noise = rng.integers(0, 256, (10, 32, 32, 3), np.uint8)
  image_io.write_image(str(p["face.png"]), noise[0])
  image_io.write_image(str(p["face.jpg"]), noise[1])
  subprocess.run([_ffmpeg(), "-v", "error", "-y", "-f", "lavfi", "-i",
                  "color=c=black:s=32x32:d=1", "-frames:v", "0", "-c:v",
                  "libx264", str(p["zero.mp4"])], check=True)
  whole = root / "whole.mp4"
  video_io.write_video(str(whole), noise, fps=25)
  p["cut.mp4"].write_bytes(whole.read_bytes()[:whole.stat().st_size // 2])
  p["blocker"].write_text("a file where a directory is wanted\n")
  earlier = p["earlier_clips"] / "earlier"    # a clip from an earlier run
  earlier.mkdir(parents=True)
  (earlier / "clip.json").write_text(json.dumps(dict(name="earlier")))
  p["broken_run"].mkdir()   # a run whose config.json was cut short
  (p["broken_run"] / "config.json").write_text('{"task": "psi4d", "mod')
  p["no_run"].mkdir()
  p["foreign.pkl"].write_text("a text file renamed .pkl\n")
  np.savez(p["partial.npz"], w_avg=np.zeros(512, np.float32))
  p["views"].mkdir()        # pseudo views whose manifest was cut short
  (p["views"] / "settings.json").write_text("{}")
  (p["views"] / "manifest.json").write_text('{"settings": {"schema_')
  p["work"].mkdir()
  p["busy_work"].mkdir()
  p["eval_pred"].mkdir()
  image_io.write_image(str(p["eval_pred"] / "a.png"), noise[2])
  (p["eval_pred"] / "b.png").write_bytes(b"")
  return p


def _ffmpeg():
  import imageio_ffmpeg  # pylint: disable=import-outside-toplevel
  return imageio_ffmpeg.get_ffmpeg_exe()


def cases(p: dict) -> list:
  """(arguments of python, text the one stderr line must hold)."""
  pre = ["tools/preprocess.py", f"--out={p['earlier_clips']}"]
  reenact = ["tools/reenact.py", "--source=a.png", "--driving=b.mp4"]
  talk = ["tools/reenact.py", "--source=a.png", f"--workdir={p['no_run']}",
          f"--audio_model={p['no_run']}", f"--out={p['work']}/t"]
  out = f"--out={p['blocker']}/sub"
  pseudo = ["tools/precompute_pseudo_views.py", f"--out={p['views']}"]
  synth = ["tools/make_synthheads.py", f"--data_dir={p['no_run']}"]
  main = ["-m", "launch.main", "--config=configs/psi3d.py:tiny"]
  return [
      (pre + [str(p["empty.png"])], "empty.png: empty file"),
      (pre + [str(p["face.png"]), str(p["face.jpg"])],
       "would both be clip 'face'"),
      (pre + [str(p["text.jpg"])], "text.jpg: not an image"),
      (pre + [str(p["zero.mp4"])], "zero.mp4: video has no frames"),
      (pre + [str(p["cut.mp4"])], "cut.mp4: video truncated"),
      (pre + [str(p["missing.png"])], "missing.png does not exist"),
      (pre + [str(p["face.png"])], "face.png: no face found"),
      (["tools/preprocess.py", out, str(p["face.png"])],
       "blocker/sub is not a writable directory"),
      (["tools/preprocess.py"], "arguments are required: inputs, --out"),
      (reenact + [f"--workdir={p['broken_run']}", f"--out={p['work']}/r"],
       "broken_run/config.json: not valid JSON"),
      (reenact + [f"--workdir={p['no_run']}", f"--out={p['work']}/r"],
       "no_run is not a run directory"),
      (reenact + [f"--workdir={p['broken_run']}", out],
       "blocker/sub is not a writable directory"),
      (talk + [f"--audio={p['notes.wav']}"], "notes.wav: not an audio file"),
      (talk + [f"--audio={p['empty.wav']}"], "empty.wav: empty file"),
      (talk + [f"--audio={p['short.wav']}"],
       "short.wav: 0.050 s of audio is shorter than one video frame"),
      (talk + [f"--audio={p['face.png']}"], "face.png: not an audio file"),
      (talk + ["--audio=x.wav", "--driving=b.mp4"], "give --driving=VIDEO or "
       "--audio=WAV (one)"),
      (talk[:3] + ["--audio=x.wav"], "--audio needs --audio_model=RUN"),
      (["tools/bench_audio2motion.py", f"--run={p['no_run']}", "--clips=1"],
       "--clips must be >= 2"),
      (["tools/bench_audio2motion.py", f"--run={p['no_run']}"],
       "no_run is not a run directory"),
      (["tools/evaluate.py", f"--pred={p['eval_pred']}",
        f"--out={p['work']}/e"], "b.png: empty file"),
      (["tools/evaluate.py", f"--out={p['work']}/e"], "give either"),
      (["tools/adapt.py", f"--run={p['no_run']}", f"--out={p['work']}/a",
        f"--images={p['face.png']}"], "no_run is not a run directory"),
      # adapt renames its finished avatar into place: it checks the parent.
      (["tools/adapt.py", f"--run={p['no_run']}", out,
        f"--images={p['face.png']}"], "parent " + str(p["blocker"]) +
       " is not a writable"),
      (pseudo + ["--verify"], "views/manifest.json: not valid JSON"),
      (pseudo + ["--config.view=3"], "--config.view: the config has no key "
       "'view'; did you mean 'views'?"),
      (pseudo + ["--config.checkpoint=" + str(p["no_run"])],
       "no_run is not a run directory"),
      (pseudo + ["--config.checkpoint=exact",
                 "--config.data.source=preprocessed"],
       "renders SynthHeads scenes; config.data.source is 'preprocessed'"),
      (synth + ["--kinds=nope"], "unknown kind(s) ['nope']"),
      (synth + ["--set", "colour=1"], "--set wants KEY=VALUE"),
      (["tools/make_synthheads.py", "--data_dir=" + str(p["blocker"])],
       "--data_dir"),
      (main + [f"--workdir={p['busy_work']}"],
       f"in use by another training run: pid {os.getpid()} on "
       f"{socket.gethostname()}"),
      (main + [f"--workdir={p['work']}/m", "--config.batch_sise=2"],
       "--config.batch_sise: the config has no key 'batch_sise'; did you "
       "mean 'batch_size'?"),
      (main + [f"--workdir={p['broken_run']}"],
       "broken_run/config.json: not valid JSON"),
      (["tools/convert_official.py", str(p["foreign.pkl"]),
        f"--out={p['work']}/o"], "cannot read network pickle"),
      (["tools/convert_official.py", str(p["partial.npz"]),
        f"--out={p['work']}/o"], "(and 366 more) is missing: not a "
       "Portrait4D-v2 generator"),
      (["tools/convert_official.py", str(p["partial.npz"]), "--pdfgc=x.pth",
        f"--out={p['work']}/o"], "x.pth: no such file"),
      (["-m", "launch.main", "--config=configs/nope.py:tiny",
        f"--workdir={p['work']}/m"], "--config: cannot load the config file"),
      (main + [f"--workdir={p['work']}/m", "--config.optimizer.schedule=step"],
       "optimizer.schedule='step': not one of"),
      (["tools/plot_runs.py", f"--run=a={p['no_run']}"],
       "no_run/eval/metrics.jsonl does not exist"),
      (["tools/bench_train.py", "--what=step,speed"],
       "['speed'] is not one of"),
      (["tools/bench_hlo.py", "--rays=4"], "--rays=4 --batch=1"),
  ]


# The default suite's share: one or two cases a tool (`-m slow`: all).
QUICK = ("empty.png: empty file", "would both be clip 'face'",
         "cut.mp4: video truncated", "broken_run/config.json: not valid JSON",
         "b.png: empty file", "views/manifest.json: not valid JSON",
         "unknown kind(s) ['nope']", "in use by another training run",
         "--config.batch_sise: the config has no key",
         "cannot read network pickle", "notes.wav: not an audio file")


def checksums(root: pathlib.Path) -> dict:
  return {str(f.relative_to(root)): hashlib.sha256(f.read_bytes()).hexdigest()
          for f in sorted(root.rglob("*")) if f.is_file()}


def environment(**extra):
  env = dict(os.environ, XLA_FLAGS="", JAX_PLATFORMS="cpu")
  env.pop("P4D_DEBUG", None)
  env.update(extra)
  return env


def run_tool(args, env):
  return subprocess.run([sys.executable, *args], cwd=ROOT, env=env,
                        capture_output=True, text=True, timeout=300,
                        check=False)


def check_corpus(tmp_path, quick: bool):
  p = make_corpus(tmp_path)
  chosen = [(args, culprit) for args, culprit in cases(p)
            if not quick or any(culprit.startswith(q) for q in QUICK)]
  before = checksums(tmp_path)
  with dir_lock.DirLock(str(p["busy_work"]), what="training run"), \
      concurrent.futures.ThreadPoolExecutor(4) as pool:
    done = list(pool.map(lambda c: run_tool(c[0], environment()), chosen))
  failures = []
  for (args, culprit), result in zip(chosen, done):
    lines = result.stderr.splitlines()
    if (result.returncode, len(lines)) != (2, 1) or culprit not in \
        result.stderr or not lines[0].startswith("error: "):
      failures.append(f"{' '.join(args)}\n  exit {result.returncode}, "
                      f"stderr: {result.stderr[-1500:]}")
  assert not failures, "\n".join(failures)
  assert checksums(tmp_path) == before


def test_bad_inputs_exit_2_with_one_line_and_touch_nothing(tmp_path):
  check_corpus(tmp_path, quick=True)


@pytest.mark.slow   # about 25 processes: 30-60 s on 2 cores
def test_the_whole_corpus(tmp_path):
  check_corpus(tmp_path, quick=False)


def test_debug_shows_the_traceback(tmp_path):
  empty = tmp_path / "empty.png"
  empty.write_bytes(b"")
  result = run_tool(["tools/preprocess.py", f"--out={tmp_path}/out",
                     str(empty)], environment(P4D_DEBUG="1"))
  assert result.returncode == 1
  assert "Traceback" in result.stderr and "UserError" in result.stderr
