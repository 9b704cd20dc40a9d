"""The real entry point, `python -m launch.main`, on tiny SynthHeads: a short
run writes its config, checkpoints and evaluation; a run killed with SIGKILL
and rerun ends with the same parameters and data position as a straight run.
"""

import json
import os
import signal
import subprocess
import sys
import time

import jax
import numpy as np
import orbax.checkpoint as ocp
import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(
    __file__))))
STEPS = 24


@pytest.fixture(scope="module")
def data_dir(synthheads_tiny):
  return synthheads_tiny


def command(workdir, data_dir, eval_every=0):
  """configs/psi3d.py:tiny shrunk to 32^2 SynthHeads tiny, 8 + 8 samples."""
  overrides = dict(image_size=32, neural_resolution=16, batch_size=2,
                   **{"data.size": "tiny", "data.data_dir": data_dir,
                      "render.num_coarse": 8, "render.num_fine": 8,
                      "train.total_steps": STEPS, "train.log_every": 6,
                      "train.checkpoint_every": 6,
                      "train.eval_every": eval_every, "eval.identities": 2,
                      "eval.batch": 4})
  return [sys.executable, "-m", "launch.main",
          "--config=configs/psi3d.py:tiny", f"--workdir={workdir}"] + [
              f"--config.{k}={v}" for k, v in overrides.items()]


@pytest.fixture(scope="module")
def environment(tmp_path_factory):
  """One CPU device, whatever the test process simulates, and a compilation
  cache the three runs share (the later two load the first's programs)."""
  env = dict(os.environ)
  env["XLA_FLAGS"] = ""
  env["JAX_COMPILATION_CACHE_DIR"] = str(tmp_path_factory.mktemp("jit"))
  env["JAX_PERSISTENT_CACHE_MIN_COMPILE_TIME_SECS"] = "0"
  env["JAX_PERSISTENT_CACHE_MIN_ENTRY_SIZE_BYTES"] = "0"
  return env


def final_checkpoint(workdir):
  directory = os.path.join(workdir, "checkpoints", str(STEPS))
  state = ocp.StandardCheckpointer().restore(os.path.join(directory, "state"))
  data = {}
  for root, _, files in os.walk(os.path.join(directory, "data")):
    for name in files:
      if name == "commit_success.txt":   # names its own directory
        continue
      with open(os.path.join(root, name), "rb") as f:
        data[name] = f.read()
  return state, data


@pytest.mark.slow   # ~100 s: three training processes (tests/test_demo.py
# runs the entry point too; tests/train/test_loop.py resumes in-process)
def test_entry_point_runs_evaluates_and_resumes_exactly(tmp_path, data_dir,
                                                       environment):
  straight = str(tmp_path / "straight")
  done = subprocess.run(command(straight, data_dir, eval_every=STEPS),
                        cwd=ROOT, env=environment, capture_output=True,
                        text=True, timeout=600, check=False)
  assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
  assert f"[train] {STEPS}/{STEPS}" in done.stdout
  assert not os.path.exists(os.path.join(straight, ".p4d-lock"))   # released
  assert "images/s" in done.stdout and "ETA" in done.stdout
  with open(os.path.join(straight, "config.json")) as f:
    assert json.load(f)["train"]["total_steps"] == STEPS
  with open(os.path.join(straight, "eval", "metrics.jsonl")) as f:
    metrics = json.loads(f.readline())
  assert metrics["step"] == STEPS and 0.0 <= metrics["mask_iou"] <= 1.0
  assert os.path.getsize(os.path.join(straight, "eval",
                                      f"step_{STEPS:07d}.png")) > 0

  # The same run, killed -9 once a checkpoint is on disk, then rerun.
  killed = str(tmp_path / "killed")
  proc = subprocess.Popen(command(killed, data_dir), cwd=ROOT,
                          env=environment, stdout=subprocess.DEVNULL,
                          stderr=subprocess.DEVNULL)
  checkpoints = os.path.join(killed, "checkpoints")
  try:
    deadline = time.time() + 300
    while time.time() < deadline and proc.poll() is None:
      if os.path.isdir(checkpoints) and any(
          name.isdigit() for name in os.listdir(checkpoints)):
        break
      time.sleep(0.02)
  finally:
    proc.send_signal(signal.SIGKILL)
    proc.wait()
  assert proc.returncode == -signal.SIGKILL, "it ended before the kill"
  saved = sorted(int(n) for n in os.listdir(checkpoints) if n.isdigit())
  assert saved and saved[-1] < STEPS
  rerun = subprocess.run(command(killed, data_dir), cwd=ROOT,
                         env=environment, capture_output=True, text=True,
                         timeout=600, check=False)
  assert rerun.returncode == 0, rerun.stdout[-3000:] + rerun.stderr[-3000:]
  assert "restarted from" in rerun.stdout
  assert "took over a stale lock" in rerun.stdout   # the killed run's

  want_state, want_data = final_checkpoint(straight)
  got_state, got_data = final_checkpoint(killed)
  assert got_data == want_data          # the same batches were seen
  for k in ("params", "ema", "opt_state"):
    want_leaves = [np.asarray(x) for x in jax.tree.leaves(want_state[k])]
    got_leaves = [np.asarray(x) for x in jax.tree.leaves(got_state[k])]
    assert len(want_leaves) == len(got_leaves) > 0
    for a, b in zip(got_leaves, want_leaves):
      np.testing.assert_array_equal(a, b)
