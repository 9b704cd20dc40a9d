"""The Psi3d and Psi the tests share: configs/psi3d.py:tiny at 32^2 (16^2
neural rendering, 2x super-resolution) with 8 + 8 samples and batch 8, and
configs/psi4d.py:tiny at that size."""

from configs import psi3d as psi3d_config
from configs import psi4d as psi4d_config


def small_config(**loss):
  """The small config, with `loss` overrides.

  Adam's eps is 1 here: its step lr * m / (sqrt(v) + eps) then stays linear
  in the gradient, so a float-rounding change of a near-zero gradient (from
  a different summation order across devices) cannot flip a weight's step
  by ~lr, and params compare at float tolerance.
  """
  config = psi3d_config.get_config("tiny")
  config.image_size, config.neural_resolution, config.batch_size = 32, 16, 8
  config.render.num_coarse = config.render.num_fine = 8
  config.optimizer.eps = 1.0
  config.loss.update(loss)
  return config


def small_psi_config(**loss):
  """configs/psi4d.py:tiny at the small Psi3d's size."""
  config = psi4d_config.get_config("tiny")
  small = small_config()
  for key in ("image_size", "neural_resolution", "batch_size", "render",
              "optimizer"):
    config[key] = small[key]
  config.loss.update(loss)
  return config
