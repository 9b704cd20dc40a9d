"""Scoring audio-driven motion: parameter scores in closed form, and the
mouth PSNR through the exact renderer sees the mouth and only the mouth."""

import numpy as np

from p4d_jax.data.synthheads import examples
from p4d_jax.data.synthheads import params as P
from p4d_jax.evaluation import talking_heads


def test_parameter_scores_in_closed_form():
  rng = np.random.default_rng(0)
  exact = P.raw_expression(rng.standard_normal((3, 10, 6)))
  same = talking_heads.parameter_scores(exact, exact)
  assert abs(same["jaw_open_corr"] - 1) < 1e-6
  assert same["smile_mae"] == 0.0
  flat = talking_heads.parameter_scores(np.zeros_like(exact) + 0.3, exact)
  assert flat["pucker_corr"] == 0.0
  np.testing.assert_allclose(flat["jaw_open_mae"],
                             np.abs(exact[..., 0] - 0.3).mean(), rtol=1e-6)


def test_mouth_psnr_sees_the_mouth_only():
  spec = examples.Spec(resolution=32, supersample=1)
  ident = [P.HELD_OUT_OFFSET + 2]
  exact = examples.clip_curves(spec, ident[0])[0][None]
  frames = np.array([3, 20])
  eyes_only = exact.copy()
  eyes_only[..., 2:4] = 1.0 - eyes_only[..., 2:4]        # other blinks
  wide = exact.copy()
  wide[..., 0] = 1.0                                      # jaw fully open
  psnr = talking_heads.mouth_psnr(spec, ident, exact,
                                  dict(eyes=eyes_only, jaw=wide), frames)
  # with_mouth keeps the exact eyes: only the mouth parameters count.
  assert psnr["eyes"].min() > 90
  assert psnr["jaw"].max() < 40
