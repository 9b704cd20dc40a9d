"""The SynthHeads motion fit recovers the expression and pose of exact renders
of a known head (the floor under AED / APD)."""

import numpy as np
import pytest

from p4d_jax.data.synthheads import examples
from p4d_jax.data.synthheads import motion
from p4d_jax.data.synthheads import params as P
from p4d_jax.data.synthheads import render
from p4d_jax.evaluation import motion_fit as F
from p4d_jax.rendering import camera_settings

TRUTH = np.concatenate([
    P.expression_vector(jaw_open=0.7, smile=0.4, blink_left=0.8,
                        brow_raise=-0.3),
    np.array([0.3, -0.1, 0.05], np.float32)])


def exact_image(size):
  k = len(P.EXPRESSION)
  scene = examples.still_scene(0, 5, TRUTH[:k], TRUTH[k:])
  cam = np.asarray(motion.random_view_cameras(
      np.random.default_rng(1), 1, camera_settings.RandomViewRanges()))[0]
  image = render.render(P.Scene(*(np.asarray(v)[None] for v in scene)),
                        cam[None], examples.INTRINSICS[None], size)["rgb"][0]
  return image, scene, cam


def test_motion_errors_are_mean_absolute_differences():
  fitted = np.zeros((1, 9))
  truth = np.concatenate([np.full(6, 0.3), np.radians([1.0, 2.0, 3.0])])
  errs = F.motion_errors(fitted, truth[None])
  np.testing.assert_allclose(errs["aed"], [0.3], rtol=1e-6)
  np.testing.assert_allclose(errs["apd"], [2.0], rtol=1e-6)


def test_pose_and_jaw_are_recovered_at_32():
  image, scene, cam = exact_image(32)
  fitted, error = F.fit_one(image, scene, cam, F.FitOptions(
      population=16, iterations=6, grid=7))
  errs = F.motion_errors(fitted[None], TRUTH[None])
  assert errs["apd"][0] < 1.0, fitted          # degrees
  jaw = P.index(P.EXPRESSION, "jaw_open")
  assert abs(fitted[jaw] - TRUTH[jaw]) < 0.15, fitted
  assert error < 0.002


@pytest.mark.slow
def test_the_whole_motion_is_recovered_at_64():
  image, scene, cam = exact_image(64)
  fitted, _ = F.fit_one(image, scene, cam)
  errs = F.motion_errors(fitted[None], TRUTH[None])
  # Measured: AED 0.098, APD 0.22 degrees.
  assert errs["aed"][0] < 0.15, fitted
  assert errs["apd"][0] < 0.5, fitted
