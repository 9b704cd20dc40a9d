"""Audio to motion's training: batches are aligned windows of clips with
their speech, resumable; a short run through the shared loop learns and
saves a run that `audio2motion.load` reads. The tiny run's held-out lines
are the slow test."""

import json
import os

import jax
import numpy as np
import pytest

from configs import audio2motion as a2m_config
from p4d_jax import config_bridge
from p4d_jax.data import speech_clips
from p4d_jax.data.synthheads import params as P
from p4d_jax.models import audio2motion
from p4d_jax.tasks import audio2motion as task_lib
from p4d_jax.tasks import runs
from p4d_jax.train import loop

SETTINGS = speech_clips.SpeechSettings(clips=4, frames=16, window=8)


def test_batches_are_aligned_windows_and_resume_exactly():
  ds = iter(speech_clips.training_batches(SETTINGS, 8))
  batches = [next(ds) for _ in range(3)]
  b = batches[0]
  assert b["wave"].shape == (8, 8 * 1280) and b["expression"].shape == (8, 8, 6)
  # Every example is a window of one of the clips, audio and track together.
  clips = [speech_clips.clip(SETTINGS, i) for i in range(4)]
  for wave, expr in zip(b["wave"], b["expression"]):
    hits = [(i, s) for i, c in enumerate(clips) for s in range(9)
            if np.allclose(P.standardise_expression(c["expression"][s:s + 8]),
                           expr)]
    i, s = hits[0]
    np.testing.assert_allclose(wave, clips[i]["wave"][s * 1280:(s + 8) * 1280],
                               atol=1 / 32767)
  again = iter(speech_clips.training_batches(SETTINGS, 8))
  next(again)
  np.testing.assert_array_equal(next(again)["wave"], batches[1]["wave"])
  held = speech_clips.held_out(SETTINGS, 2)
  assert held["wave"].shape == (2, 16 * 1280)
  assert held["ident"].min() >= P.HELD_OUT_OFFSET


def small_config(steps):
  config = a2m_config.get_config("tiny")
  config.batch_size = 8
  config.model.update(width=16, dilations=(1, 2))
  config.data.update(clips=8, frames=16, window=8)
  config.train.update(total_steps=steps, log_every=steps,
                      checkpoint_every=steps, eval_every=steps)
  config.eval.update(clips=4, batch=4)
  return config


def test_a_short_run_learns_and_is_loadable(tmp_path):
  config = small_config(40)
  workdir = str(tmp_path / "a2m")
  runs.save_config(config, workdir)
  task = task_lib.Audio2MotionTask(config)
  evaluator = task_lib.Audio2MotionEvaluator(task.model, config, workdir)
  batch = next(iter(task.dataset()))
  key = jax.random.key(0)
  loss = jax.jit(task.loss)
  before = float(loss(task.init_state(key)["params"], batch, key)[0])
  state = loop.run(task, config_bridge.from_fields(
      loop.LoopConfig, config.train, "train"), workdir, evaluate=evaluator)
  after = float(loss(state["params"], batch, key)[0])
  assert after < 0.7 * before
  with open(os.path.join(workdir, "eval", "metrics.jsonl")) as f:
    metrics = json.loads(f.readlines()[-1])
  assert metrics["step"] == 40
  assert {"corr_jaw_open", "mse_smile", "offset"} <= set(metrics)
  model, params = audio2motion.load(workdir)
  wave = evaluator.clips["wave"][:1]
  predict = jax.jit(model.predict)
  np.testing.assert_allclose(np.asarray(predict(params, wave)),
                             np.asarray(predict(state["ema"], wave)),
                             atol=1e-5)


@pytest.mark.slow
def test_tiny_run_meets_the_held_out_lines(tmp_path):
  """configs/audio2motion.py:tiny as it is, on 64 held-out clips (other
  identities: other motion, other voices): the issue's jaw line (>= 0.8)
  and lip sync within one frame."""
  config = a2m_config.get_config("tiny")
  task = task_lib.Audio2MotionTask(config)
  workdir = str(tmp_path / "a2m")
  evaluator = task_lib.Audio2MotionEvaluator(task.model, config, workdir)
  state = loop.run(task, config_bridge.from_fields(
      loop.LoopConfig, config.train, "train"), workdir)
  metrics = evaluator(state, config.train.total_steps)
  assert metrics["corr_jaw_open"] >= 0.8, metrics
  assert abs(metrics["offset"]) <= 1, metrics
