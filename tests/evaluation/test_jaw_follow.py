"""The jaw-follow check reads the mouth opening of exact renders back, and
tells a result that follows the driver from one that does not."""

import numpy as np

from p4d_jax.data.synthheads import examples
from p4d_jax.data.synthheads import params as P
from p4d_jax.data.synthheads import render
from p4d_jax.evaluation import expression_transfer
from p4d_jax.evaluation import jaw_follow
from p4d_jax.inference import avatar
from p4d_jax.rendering import cameras

SIZE, GRID = 32, 11
JAWS = np.array([0.1, 0.35, 0.6, 0.85], np.float32)


def head_renders(jaws, labels, driver_expression, size=SIZE):
  """The source head (identity 5) at the labels, the driver's expression
  with the given jaw openings -> [T, S, S, 3] in [0, 1]."""
  still = examples.still_scene(0, 5)
  expression = np.array(driver_expression, np.float32)
  expression[:, jaw_follow.JAW] = jaws
  t = len(jaws)
  c2w, intrinsics = cameras.unpack_label(labels)
  scene = P.Scene(
      identity=np.repeat(still.identity[None], t, 0), expression=expression,
      pose=np.zeros((t, len(P.POSE)), np.float32),
      lighting=np.repeat(still.lighting[None], t, 0),
      background=np.repeat(still.background[None], t, 0))
  return render.render(scene, np.asarray(c2w), np.asarray(intrinsics),
                       size)["rgb"], still._asdict()


def test_exact_renders_follow_and_a_fixed_mouth_does_not():
  labels = np.stack([avatar.view_label(y) for y in (-0.3, -0.1, 0.1, 0.3)])
  driver = np.repeat(P.expression_vector(smile=0.3)[None], 4, 0)
  following, scene = head_renders(JAWS, labels, driver)
  read = jaw_follow.fitted_jaw(following, scene, labels, driver, grid=GRID)
  np.testing.assert_allclose(read, JAWS, atol=0.08)
  follow = jaw_follow.correlation(JAWS, read)
  assert follow["r"] > 0.98 and abs(follow["slope"] - 1.0) < 0.15
  # The same head with its mouth held at 0.3 while the driver's moves.
  fixed, _ = head_renders(np.full(4, 0.3, np.float32), labels, driver)
  read = jaw_follow.fitted_jaw(fixed, scene, labels, driver, grid=GRID)
  assert abs(jaw_follow.correlation(JAWS, read)["slope"]) < 0.1


def test_a_blurry_result_is_read_against_blurred_renders():
  """Exact 64^2 frames blurred (sigma 3 px): read against sharp renders the
  blur passes for a closed or fully open mouth; with the blur fitted too,
  each opening comes back."""
  labels = np.stack([avatar.view_label(y) for y in (-0.3, -0.1, 0.1, 0.3)])
  driver = np.repeat(P.expression_vector(smile=0.3)[None], 4, 0)
  sharp, scene = head_renders(JAWS, labels, driver, size=64)
  blurry = jaw_follow.blurred(np.asarray(sharp), 3.0)
  read = jaw_follow.fitted_jaw(blurry, scene, labels, driver, grid=GRID)
  np.testing.assert_allclose(read, JAWS, atol=0.1)
  sharp_only = jaw_follow.fitted_jaw(blurry, scene, labels, driver, grid=GRID,
                                     blurs=(0.0,))
  assert np.max(np.abs(sharp_only - JAWS)) > 0.3


def test_a_track_that_does_not_move_is_r_0_not_nan():
  got = jaw_follow.correlation(JAWS, np.full(4, 0.3))
  assert got == dict(r=0.0, slope=0.0, constant=True, frames=4)
  got = jaw_follow.correlation(JAWS, 2.0 * JAWS + 0.1)
  assert abs(got["r"] - 1.0) < 1e-9 and abs(got["slope"] - 2.0) < 1e-6


def test_jaw_errors_of_an_exact_result_and_of_the_static_control():
  """Pairs whose result is the exact target (driven) or shows the source's
  jaw (static): the driven jaw error is the fit's floor, the static one the
  jaw's change, and the pair whose jaw barely moves is left out."""
  labels = np.stack([avatar.view_label(y) for y in (-0.2, 0.1, 0.25)])
  c2w, intrinsics = (np.asarray(x) for x in cameras.unpack_label(labels))
  source_jaw = np.array([0.1, 0.2, 0.5], np.float32)
  target_jaw = np.array([0.8, 0.6, 0.55], np.float32)   # last: |Δ| < 0.15
  target = np.repeat(P.expression_vector(smile=0.2)[None], 3, 0)
  target[:, jaw_follow.JAW] = target_jaw
  driven, scene = head_renders(target_jaw, labels, target)
  static, _ = head_renders(source_jaw, labels, target)
  source = target.copy()
  source[:, jaw_follow.JAW] = source_jaw
  fields = dict(
      source_expression=P.standardise_expression(source),
      driving_expression=P.standardise_expression(target),
      target_expression=target, target_c2w=c2w[:, None],
      target_intrinsics=intrinsics[:, None],
      **{f"source_{k}": np.repeat(np.asarray(scene[k])[None], 3, 0)
         for k in ("identity", "lighting", "background")})
  np.testing.assert_allclose(expression_transfer.delta_jaw(fields),
                             np.abs(target_jaw - source_jaw), atol=1e-6)
  out = dict(image=2.0 * driven - 1.0, static_image=2.0 * static - 1.0)
  got = expression_transfer.jaw_errors(out, fields, np.ones(3, bool))
  assert got["jaw_error_pairs"] == 2
  assert got["jaw_error_driven"] < 0.05
  np.testing.assert_allclose(got["jaw_error_static"], 0.55, atol=0.06)
  assert got["jaw_error_ratio"] < 0.1
