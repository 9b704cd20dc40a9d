"""The shared loop: kill -9 and resume equals straight training; SIGTERM
saves; a non-finite loss stops and keeps the last good checkpoint."""

import os
import signal
import subprocess
import sys
import textwrap

import numpy as np
import pytest

from p4d_jax.train import checkpoint
from p4d_jax.train import loop

from tests.train import toy_task

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(
    __file__))))

CFG = loop.LoopConfig(total_steps=20, log_every=5, checkpoint_every=10,
                      mesh=(("data", 8),))


def test_killed_and_resumed_equals_straight(tmp_path, capsys):
  straight = loop.run(toy_task.ToyTask(), CFG, str(tmp_path / "straight"))
  workdir = str(tmp_path / "killed")
  # A real process trains, saves step 10, then waits to be killed (-9).
  code = textwrap.dedent(f"""
      import os, sys, time
      os.environ["XLA_FLAGS"] = "--xla_force_host_platform_device_count=8"
      from tests.train import toy_task
      from p4d_jax.train import loop
      cfg = loop.LoopConfig(total_steps=20, log_every=5, checkpoint_every=10,
                            mesh=(("data", 8),))
      from p4d_jax.train import checkpoint
      def hang(step):
        # Three steps past the step-10 checkpoint, once it is on disk.
        if step == 13:
          ckpt = checkpoint.Checkpointer(os.path.join({workdir!r},
                                                      "checkpoints"))
          while ckpt.latest_step() != 10:
            time.sleep(0.1)
            ckpt.manager.reload()
          print("SAVED", flush=True)
          time.sleep(600)
      loop.run(toy_task.ToyTask(), cfg, {workdir!r}, after_step=hang)
  """)
  proc = subprocess.Popen([sys.executable, "-c", code], cwd=ROOT,
                          stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                          text=True)
  try:
    for line in proc.stdout:
      if line.startswith("SAVED"):
        break
    else:
      pytest.fail("the training subprocess ended before step 13")
  finally:
    proc.send_signal(signal.SIGKILL)
    proc.wait()
  assert proc.returncode == -signal.SIGKILL
  capsys.readouterr()
  resumed = loop.run(toy_task.ToyTask(), CFG, workdir)
  assert "restarted from" in capsys.readouterr().out   # not a fresh run
  np.testing.assert_array_equal(resumed["params"]["w"],
                                straight["params"]["w"])
  assert int(resumed["ids_seen"]) == int(straight["ids_seen"])
  assert int(resumed["step"]) == 20


def test_sigterm_saves_and_stops(tmp_path):
  def term(step):
    if step == 7:
      os.kill(os.getpid(), signal.SIGTERM)

  state = loop.run(toy_task.ToyTask(), CFG, str(tmp_path), after_step=term)
  assert int(state["step"]) == 8      # the flag is seen after step 8
  ckpt = checkpoint.Checkpointer(str(tmp_path / "checkpoints"))
  assert ckpt.latest_step() == 8
  ckpt.close()


@pytest.mark.parametrize("nan_at", [14, 19, 20])
def test_non_finite_loss_stops_and_keeps_the_last_good_checkpoint(tmp_path,
                                                                  nan_at):
  """Metrics are read one step late, except before a log line or a save:
  a bad step 14 (read at the step-15 log), 19 (read while step 20 runs,
  before the final save) or 20 (read before its own save) never reaches a
  checkpoint."""
  with pytest.raises(FloatingPointError, match=f"step {nan_at}.*step 10"):
    loop.run(toy_task.ToyTask(nan_at=nan_at), CFG, str(tmp_path))
  ckpt = checkpoint.Checkpointer(str(tmp_path / "checkpoints"))
  assert ckpt.latest_step() == 10
  ckpt.close()


def test_training_actually_learns(tmp_path):
  cfg = loop.LoopConfig(total_steps=200, log_every=100, checkpoint_every=200,
                        mesh=(("data", 8),))
  state = loop.run(toy_task.ToyTask(), cfg, str(tmp_path))
  np.testing.assert_allclose(state["params"]["w"], toy_task.W_TRUE, atol=0.05)


class _StepMetricTask(toy_task.ToyTask):
  """Reports its step number as a metric."""

  def train_step(self, state, batch, key):
    state, metrics = super().train_step(state, batch, key)
    return state, dict(metrics, step_seen=state["step"].astype("float32"))


def test_logged_metrics_are_means_over_the_log_interval(tmp_path, capsys):
  cfg = loop.LoopConfig(total_steps=10, log_every=5, checkpoint_every=10,
                        mesh=(("data", 8),))
  loop.run(_StepMetricTask(), cfg, str(tmp_path))
  out = capsys.readouterr().out
  assert "[train] 5/10" in out and "step_seen 3.0000" in out   # mean 1..5
  assert "step_seen 8.0000" in out                              # mean 6..10
