"""The Psi3d the tests share: configs/psi3d.py:tiny at 32^2 (16^2 neural
rendering, 2x super-resolution) with 8 + 8 samples and batch 8."""

from configs import psi3d as psi3d_config


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
