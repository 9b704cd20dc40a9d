"""Image metrics against closed forms."""

import jax.numpy as jnp
import numpy as np
import pytest

from p4d_jax.evaluation import image_metrics as M


def test_psnr_of_a_constant_error_is_its_closed_form():
  a = jnp.zeros((2, 8, 8, 3))
  b = jnp.stack([jnp.full((8, 8, 3), 0.1), jnp.full((8, 8, 3), 0.5)])
  np.testing.assert_allclose(M.psnr(a, b), [20.0, 10 * np.log10(4.0)],
                             rtol=1e-5)


def test_masked_psnr_sees_only_the_masked_pixels():
  """Error 0.1 inside the mask, 0.5 outside: 20 dB, whatever the outside."""
  mask = jnp.zeros((1, 8, 8)).at[:, 2:5, 1:7].set(1.0)
  target = jnp.where(mask[..., None] > 0, 0.1, 0.5) * jnp.ones((1, 8, 8, 3))
  np.testing.assert_allclose(M.masked_psnr(jnp.zeros_like(target), target,
                                           mask), [20.0], rtol=1e-5)
  np.testing.assert_allclose(M.masked_psnr(jnp.zeros_like(target), target,
                                           jnp.ones((1, 8, 8))),
                             M.psnr(jnp.zeros_like(target), target),
                             rtol=1e-5)


def test_ssim_of_constant_images_is_the_luminance_term():
  """Constant images have no variance: SSIM = (2ab + C1) / (a^2 + b^2 + C1)."""
  a, b = 0.3, 0.7
  x = jnp.full((1, 16, 16, 3), a)
  y = jnp.full((1, 16, 16, 3), b)
  c1 = 0.01**2
  # rtol: float32 variances as E[x^2] - mu^2 cancel to ~1e-8, against C2.
  np.testing.assert_allclose(M.ssim(x, y), [(2 * a * b + c1) /
                                            (a * a + b * b + c1)], rtol=2e-4)


def test_ssim_is_one_for_equal_images_and_drops_with_noise():
  x = jnp.asarray(np.random.default_rng(0).uniform(size=(2, 24, 24, 3)),
                  jnp.float32)
  np.testing.assert_allclose(M.ssim(x, x), [1.0, 1.0], rtol=1e-5)
  noisy = x + 0.2 * jnp.asarray(np.random.default_rng(1).normal(
      size=x.shape), jnp.float32)
  assert float(M.ssim(x, noisy).max()) < 0.9


def test_mask_iou_counts_pixels():
  pred = np.zeros((2, 4, 4))
  target = np.zeros((2, 4, 4))
  pred[0, :2] = 1.0       # 8 pixels
  target[0, 1:3] = 1.0    # 8 pixels, 4 shared: IoU 4 / 12
  np.testing.assert_allclose(M.mask_iou(jnp.asarray(pred),
                                        jnp.asarray(target)), [1 / 3, 1.0])


def test_depth_error_only_counts_valid_pixels():
  pred = jnp.array([[[1.0, 5.0], [2.0, 0.0]]])
  target = jnp.array([[[1.5, 0.0], [1.0, 9.0]]])
  valid = jnp.array([[[True, False], [True, False]]])
  np.testing.assert_allclose(M.depth_error(pred, target, valid), [0.75])


def test_mean_over_weighs_pixels_and_is_zero_without_any():
  values = jnp.array([[[0.2, 1.0], [0.6, 0.0]], [[1.0, 1.0], [1.0, 1.0]]])
  pixels = jnp.array([[[1.0, 0.0], [1.0, 0.0]], [[0.0, 0.0], [0.0, 0.0]]])
  np.testing.assert_allclose(M.mean_over(values, pixels), [0.4, 0.0])


def test_area_downsample_means_blocks():
  x = jnp.arange(16.0).reshape(1, 4, 4)
  np.testing.assert_array_equal(M.area_downsample(x, 2)[0],
                                [[2.5, 4.5], [10.5, 12.5]])
  with pytest.raises(ValueError, match="does not divide"):
    M.area_downsample(jnp.zeros((1, 5, 5)), 2)
