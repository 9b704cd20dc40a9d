"""The expression extractor's pretraining: fresh heads that share an
expression in pairs, a rendered batch serving `repeats` steps, degradations
that keep what they should, correlations in closed form, and a run that the
`pretrained` motion source reads (the seam's real path). The held-out
correlations of the full tiny run are the slow test."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from configs import motion as motion_config
from configs import psi4d as psi4d_config
from p4d_jax import config_bridge
from p4d_jax import run_weights
from p4d_jax.data import expression_renders
from p4d_jax.models import model as model_lib
from p4d_jax.tasks import motion_extractor as mx
from p4d_jax.tasks import runs
from p4d_jax.train import loop

SETTINGS = expression_renders.RenderSettings(resolution=32, repeats=2,
                                            window=2)


def rows(batch):
  return {tuple(np.round(e, 5)) for e in batch["expression"]}


def test_batches_share_expressions_in_pairs_and_reuse_renders():
  ds = iter(expression_renders.training_batches(SETTINGS, 8))
  steps = [next(ds) for _ in range(6)]
  first = steps[0]
  assert first["image"].shape == (8, 32, 32, 3)
  assert first["camera"].shape == (8, 25)
  for batch in steps:   # examples k and k + 4: one expression, two heads
    np.testing.assert_array_equal(batch["expression"][:4],
                                  batch["expression"][4:])
    assert np.mean(np.abs(batch["image"][:4] - batch["image"][4:])) > 0.05
  # Steps 0-1 draw from rendered batch 0, steps 2-3 from batches 0-1, steps
  # 4-5 from batches 1-2: every expression of a step is one of those.
  rendered = [expression_renders.render_batch(SETTINGS, b, 4)
              for b in range(3)]
  for j, batch in enumerate(steps):
    newest = j // 2
    allowed = set().union(*(rows(rendered[b])
                            for b in range(max(0, newest - 1), newest + 1)))
    assert rows(batch) <= allowed, j
  # A resumed run (a fresh iterator moved to step 4) gives the same batch.
  again = iter(expression_renders.training_batches(SETTINGS, 8))
  for _ in range(4):
    next(again)
  np.testing.assert_array_equal(next(again)["image"], steps[4]["image"])
  # The held-out stream never repeats a training batch.
  held = expression_renders.held_out(SETTINGS, 4, batch=4)
  assert not rows(held) & set().union(*(rows(r) for r in rendered))


def test_blur_keeps_constants_and_mass():
  image = jnp.zeros((2, 9, 9, 1)).at[:, 4, 4, 0].set(1.0)
  sigma = jnp.array([0.0, 1.0])
  out = np.asarray(mx.gaussian_blur(image, sigma))
  np.testing.assert_allclose(out[0], image[0], atol=1e-6)   # sigma 0
  np.testing.assert_allclose(out[1].sum(), 1.0, rtol=1e-5)  # mass kept
  assert 0.1 < out[1, 4, 4, 0] < 0.5 and out[1, 3, 4, 0] > 0.05
  flat = np.asarray(mx.gaussian_blur(jnp.full((1, 5, 5, 3), 0.3),
                                     jnp.array([1.5])))
  np.testing.assert_allclose(flat, 0.3, rtol=1e-6)


def test_correlations_in_closed_form():
  rng = np.random.default_rng(0)
  truth = rng.standard_normal((50, 6))
  pred = truth.copy()
  pred[:, 1] *= -2.0
  pred[:, 2] = 3.0 * truth[:, 2] + 1.0
  pred[:, 3] = rng.standard_normal(50)
  r = mx.correlations(pred, truth)
  assert r["jaw_open"] == pytest.approx(1.0)
  assert r["smile"] == pytest.approx(-1.0)
  assert r["blink_left"] == pytest.approx(1.0)
  assert abs(r["blink_right"]) < 0.4


def small_config(steps=2):
  config = motion_config.get_config("tiny")
  config.batch_size = 8   # the 8 simulated devices
  config.data.resolution = 32
  config.data.repeats = 2
  config.train.update(total_steps=steps, log_every=1, checkpoint_every=steps,
                      eval_every=steps)
  config.eval.update(held_out=8, batch=4)
  return config


@pytest.mark.slow
def test_a_run_is_what_the_pretrained_source_reads(tmp_path):
  config = small_config()
  workdir = str(tmp_path / "extractor")
  runs.save_config(config, workdir)
  task = mx.MotionExtractorTask(config)
  evaluator = mx.ExtractorEvaluator(task.model, config, workdir)
  state = loop.run(task, config_bridge.from_fields(loop.LoopConfig, config.train, "train"), workdir,
                   evaluate=evaluator)
  metrics = evaluator(state, 2)
  assert set(metrics) >= {"corr_jaw_open", "corr_mean", "mse"}
  assert all(np.isfinite(v) for v in metrics.values())
  fresh = task.model.init(jax.random.key(config.train.seed))
  moved = jax.tree.map(lambda a, b: float(jnp.max(jnp.abs(a - b))),
                       state["params"], fresh)
  assert max(jax.tree.leaves(moved)) > 0.0
  # Psi with motion.kind=pretrained reads that run's EMA weights.
  psi = psi4d_config.get_config("tiny")
  psi.motion.update(kind="pretrained", weights=workdir)
  model = model_lib.Model.from_config(psi)
  params = model.init(jax.random.key(5))
  for got, want in zip(jax.tree.leaves(params["motion_encoder"]),
                       jax.tree.leaves(state["ema"]["motion_encoder"])):
    np.testing.assert_array_equal(got, want)
  assert run_weights.read_config(workdir, "motion_extractor", "")


@pytest.mark.slow
def test_tiny_extractor_reads_held_out_expressions(tmp_path):
  """configs/motion.py:tiny as it is, on held-out identities, held to
  issue 18's lines (measured 2026-12-05 on the 8 simulated devices, 19
  minutes on one core: jaw 0.97, blinks 0.94 / 0.93, brow 0.89, smile
  0.76, pucker 0.76)."""
  config = motion_config.get_config("tiny")
  workdir = str(tmp_path / "extractor")
  task = mx.MotionExtractorTask(config)
  evaluator = mx.ExtractorEvaluator(task.model, config, workdir)
  state = loop.run(task, config_bridge.from_fields(loop.LoopConfig, config.train, "train"), workdir)
  corr = evaluator(state, config.train.total_steps)
  assert corr["corr_jaw_open"] >= 0.9, corr
  for name in ("blink_left", "blink_right", "brow_raise", "smile", "pucker"):
    assert corr[f"corr_{name}"] >= 0.7, (name, corr)
