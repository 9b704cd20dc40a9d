"""Depth colours: near yellow, far purple, background black."""

import numpy as np

from p4d_jax.media import colormap


def test_depth_colours():
  d = np.array([[1.0, 2.0, 3.0]])
  rgb = colormap.colorize_depth(d, 1.0, 3.0, alpha=np.array([[1, 1, 0]]))
  assert rgb.dtype == np.uint8 and rgb.shape == (1, 3, 3)
  np.testing.assert_array_equal(rgb[0, 0], [252, 232, 38])   # near: yellow
  assert rgb[0, 1].sum() > 0
  np.testing.assert_array_equal(rgb[0, 2], 0)   # background: black
  far = colormap.colorize_depth(np.array([[3.0]]), 1.0, 3.0)
  np.testing.assert_array_equal(far[0, 0], [69, 0, 84])       # far: purple
