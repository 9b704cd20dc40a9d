"""Psi3d's task: one step is the same on 1 and 8 devices, the optional
adversarial part trains its discriminator with lazy R1, views and targets are
the ones the docs say."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from p4d_jax.data.synthheads import params as P
from p4d_jax.data.synthheads import render as synthheads_render
from p4d_jax.evaluation import jaw_follow
from p4d_jax.parallel import mesh as mesh_lib
from p4d_jax.rendering import cameras
from p4d_jax.data import multiview_batches
from p4d_jax.tasks import psi3d
from p4d_jax.evaluation import image_metrics
from p4d_jax.evaluation import novel_view
from p4d_jax.evaluation import view_targets
from p4d_jax.user_errors import UserError
from tests.tasks import mesh_step
from tests.tasks.psi3d_small import small_config


def synthetic_batch(config, seed=0, targets=2):
  return multiview_batches.synthetic_batch(config.batch_size,
                                           config.image_size, targets, seed)


@pytest.fixture(scope="module")
def one_device_step(psi3d_small_state):
  task = psi3d.Psi3dTask(small_config())
  state = psi3d_small_state
  batch = synthetic_batch(task.config)
  out = mesh_step.step_on(task, state, batch, mesh_step.one_device_mesh(),
                          jax.random.key(5))
  return task, state, batch, out


# (2, 2, 2) uses every axis and runs by default; the other two compile for
# about 25 s each and run with `-m slow`.
@pytest.mark.parametrize("shape", [
    pytest.param({"data": 8}, marks=pytest.mark.slow),
    pytest.param({"data": 4, "fsdp": 2}, marks=pytest.mark.slow),
    {"data": 2, "fsdp": 2, "model": 2}])
def test_one_step_on_8_devices_equals_one_device(one_device_step, shape):
  task, state, batch, want = one_device_step
  got = mesh_step.step_on(task, state, batch, mesh_lib.make_mesh(shape),
                          jax.random.key(5))
  mesh_step.assert_steps_agree(got, want)
  assert int(got[0]["step"]) == 1


def test_the_step_moves_params_and_ema_by_the_documented_rules(
    one_device_step):
  task, state, _, (new, metrics) = one_device_step
  assert np.isfinite(metrics["loss"])
  assert set(metrics) >= {"l1", "opacity", "depth", "density_tv", "psnr"}
  # Step 1: the EMA half-life ramps up from 0 images, so decay is tiny and
  # the EMA takes (nearly) the new weights.
  decay = float(jax.device_get(jnp.asarray(0.5) ** (
      task.batch_size / (task.batch_size * task.config.loss.ema_rampup))))
  for e, p, old in zip(jax.tree.leaves(new["ema"]),
                       jax.tree.leaves(new["params"]),
                       jax.tree.leaves(state["params"])):
    np.testing.assert_allclose(e, decay * np.asarray(old) + (1 - decay) * p,
                               rtol=1e-5, atol=1e-7)
  # The density TV runs on steps divisible by density_tv_every only.
  assert metrics["density_tv"] == 0.0


@pytest.mark.slow   # ~50 s of compiling; the GAN term is off by default
def test_adversarial_training_updates_the_discriminator_with_lazy_r1():
  task = psi3d.Psi3dTask(small_config(adversarial=0.01, r1_every=2))
  state = jax.jit(task.init_state)(jax.random.key(0))
  step = jax.jit(task.train_step)
  batch = synthetic_batch(task.config)
  s1, m1 = step(state, batch, jax.random.key(1))
  s2, m2 = step(s1, batch, jax.random.key(2))
  assert float(m1["r1"]) == 0.0 and float(m2["r1"]) > 0.0   # steps 1, 2
  assert np.isfinite(float(m2["adversarial"])) and float(m1["d_loss"]) > 0
  moved = [not np.allclose(a, b) for a, b in zip(
      jax.tree.leaves(state["d_params"]), jax.tree.leaves(s1["d_params"]))]
  assert all(moved)


def test_targets_downsample_and_keep_depth_only_on_full_head_blocks():
  task = psi3d.Psi3dTask(small_config())
  batch = synthetic_batch(task.config)
  tg = task.training.targets(batch)
  assert tg["image_raw"].shape == (16, 16, 16, 3)
  mask = batch["target_mask"].reshape(16, 32, 32)
  blocks = mask.reshape(16, 16, 2, 16, 2).min(axis=(2, 4))
  np.testing.assert_array_equal(tg["depth_valid"], blocks == 1.0)
  np.testing.assert_allclose(np.asarray(tg["depth_raw"])[tg["depth_valid"]],
                             3.6, rtol=1e-6)


def test_view_picks_are_distinct_and_start_with_the_input():
  rng = np.random.default_rng(0)
  for _ in range(20):
    first, targets = multiview_batches.pick_views(4, 2, rng)
    assert targets[0] == first and len(set(targets.tolist())) == 3
  with pytest.raises(ValueError, match="target_views must be in"):
    multiview_batches.pick_views(3, 3, rng)


def test_select_views_names_a_resolution_mismatch():
  example = dict(image=np.zeros((3, 32, 32, 3), np.uint8))
  with pytest.raises(ValueError, match="32\\^2 but config.image_size is 64"):
    multiview_batches.select_views(example, 0, np.array([0]), 64)


def test_eval_pairs_keep_views_within_the_yaw_limit():
  yaw = np.array([0.5, -0.2, 0.0, 1.4])   # gaps 0.7, 0.5, 0.9 from view 0
  c2w = np.asarray(cameras.random_view_pose(yaw, 0 * yaw, 0 * yaw,
                                            np.full(4, 4.0), np.zeros((4, 3))))
  np.testing.assert_allclose(
      np.abs(novel_view.camera_yaw(c2w) - novel_view.camera_yaw(c2w)[0]),
      [0, 0.7, 0.5, 0.9], atol=1e-5)
  label = np.concatenate([c2w.reshape(4, 16), np.zeros((4, 9))], -1)
  assert novel_view.eval_pairs([{"camera": label}], 0.79) == [(0, 1), (0, 2)]


@pytest.mark.slow
def test_perceptual_term_is_lpips_with_weights_else_one_minus_ssim(tmp_path):
  from p4d_jax.models import lpips   # pylint: disable=import-outside-toplevel
  rng = np.random.default_rng(0)
  a, b = (jnp.asarray(rng.uniform(-1, 1, (2, 16, 16, 3)), jnp.float32)
          for _ in range(2))
  fallback, name = view_targets.perceptual_fn("")
  assert name == "1-ssim" and float(fallback(a, a)) == pytest.approx(0.0,
                                                                     abs=1e-5)
  np.testing.assert_allclose(fallback(a, b), np.mean(1 - np.asarray(
      image_metrics.ssim((a + 1) / 2, (b + 1) / 2))), rtol=1e-6)
  lin = {f"lin{i}.model.1.weight": np.full((1, c, 1, 1), 0.1, np.float32)
         for i, c in enumerate((64, 128, 256, 512, 512))}
  model = lpips.random_backbone(jax.random.key(0), lin)
  path = lpips.save(model, str(tmp_path / "lpips"))
  loaded, name = view_targets.perceptual_fn(path)
  assert name == "lpips"
  np.testing.assert_allclose(loaded(a, b), np.mean(model(a, b)), rtol=1e-5)
  with pytest.raises(FileNotFoundError, match="convert_lpips"):
    view_targets.perceptual_fn(str(tmp_path / "missing"))


def test_eval_reads_the_jaw_back_from_renders(synthheads_tiny, tmp_path):
  """The exact targets carry their input's jaw (slope ~1); renders that all
  show one head's mouth carry none (slope 0)."""
  config = small_config()
  config.data.size, config.data.data_dir = "tiny", synthheads_tiny
  config.eval.jaw_follow = True
  task = psi3d.Psi3dTask(config)
  evaluator = novel_view.NovelViewEvaluator(task.model, config, str(tmp_path))
  jaws = [t["expression"][jaw_follow.JAW] for t in evaluator.truth]
  assert np.ptp(jaws) > 0.3    # the held-out heads' jaws differ
  exact = evaluator.jaw_follow(evaluator.fields["target_image"][:, 0])
  assert exact["r"] > 0.95 and abs(exact["slope"] - 1.0) < 0.2, exact
  # The same heads and cameras, mouths shut: what a synthesizer that drops
  # the jaw would render.
  truth = evaluator.truth
  shut = np.stack([t["expression"] for t in truth])
  shut[:, jaw_follow.JAW] = 0.0
  c2w, intrinsics = cameras.unpack_label(np.stack([t["label"]
                                                   for t in truth]))
  scene = {k: np.stack([np.asarray(t["scene"][k], np.float32) for t in truth])
           for k in ("identity", "lighting", "background")}
  rgb = synthheads_render.render(P.Scene(
      expression=shut, pose=np.zeros((len(truth), len(P.POSE)), np.float32),
      **scene), np.asarray(c2w), np.asarray(intrinsics),
      config.image_size)["rgb"]
  dropped = evaluator.jaw_follow(2.0 * np.asarray(rgb) - 1.0)
  assert abs(dropped["slope"]) < 0.1, dropped


def test_the_optimizer_follows_the_configured_schedule():
  """With a warm-up the first update is exactly zero (lr(0) = 0); a bad
  schedule is a user error naming the key."""
  config = small_config()
  config.optimizer.schedule = "cosine"
  config.optimizer.warmup_steps = 10
  task = psi3d.Psi3dTask(config)
  params = jax.tree.map(lambda s: jnp.ones(s.shape, s.dtype),
                        task.model.abstract_params)
  tx = task.training.tx
  # Jitted: op by op, the 181 leaves' update took 16 s.
  updates = jax.jit(lambda p: tx.update(p, tx.init(p), p)[0])(params)
  assert max(float(jnp.abs(u).max()) for u in jax.tree.leaves(updates)) == 0
  config.optimizer.schedule = "step"
  with pytest.raises(UserError, match="optimizer.schedule='step'"):
    psi3d.Psi3dTask(config)
