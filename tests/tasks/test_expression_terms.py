"""The terms inside the expression regions: closed forms (0 for a perfect
render or for errors outside the regions, a constant error inside gives that
constant), and the tasks carry them exactly when their weight is > 0."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from p4d_jax.data import multiview_batches
from p4d_jax.inference import avatar
from p4d_jax.models.motion import face_crop
from p4d_jax.rendering import cameras
from p4d_jax.tasks import expression_terms
from p4d_jax.tasks import psi3d
from tests.tasks.psi3d_small import small_config


def two_cameras() -> tuple[jax.Array, dict]:
  """Labels [2, 25] of two frontal-ish cameras and the targets' cameras."""
  labels = jnp.asarray(np.stack([avatar.view_label(y) for y in (0.0, 0.3)]),
                       jnp.float32)
  c2w, intrinsics = cameras.unpack_label(labels)
  return labels, dict(c2w=c2w, intrinsics=intrinsics)


def test_expression_l1_sees_only_the_expression_regions():
  """A constant error d inside the eyes and mouth gives d per image pair
  (a mean over their pixels): 2d for the two pairs."""
  labels, tg = two_cameras()
  rng = np.random.default_rng(0)
  images = dict(
      image=jnp.asarray(rng.uniform(-1, 1, (2, 64, 64, 3)), jnp.float32),
      image_raw=jnp.asarray(rng.uniform(-1, 1, (2, 32, 32, 3)), jnp.float32))
  tg.update(images)
  inside = {k: face_crop.expression_regions(labels, v.shape[1])[..., None]
            for k, v in images.items()}
  assert float(expression_terms.expression_l1(images, tg)) == 0.0
  outside = {k: v + 0.5 * (1 - inside[k]) for k, v in images.items()}
  assert float(expression_terms.expression_l1(outside, tg)) == 0.0
  shifted = {k: v + 0.25 * inside[k] for k, v in images.items()}
  np.testing.assert_allclose(
      float(expression_terms.expression_l1(shifted, tg)), 0.5, rtol=1e-5)


def test_expression_opacity_holds_the_opacity_inside_the_regions():
  """An opacity short of the mask by d inside the regions gives d; errors
  outside them give 0."""
  labels, tg = two_cameras()
  rng = np.random.default_rng(1)
  mask = jnp.asarray(rng.uniform(0.5, 1, (2, 32, 32)), jnp.float32)
  tg["mask_raw"] = mask
  inside = face_crop.expression_regions(labels, 32)
  rendered = lambda opacity: dict(mask=2.0 * opacity - 1.0)  # noqa: E731
  assert float(expression_terms.expression_opacity(rendered(mask), tg)) == 0.0
  outside = rendered(mask - 0.4 * (1 - inside))
  assert float(expression_terms.expression_opacity(outside, tg)) == 0.0
  np.testing.assert_allclose(
      float(expression_terms.expression_opacity(
          rendered(mask - 0.3 * inside), tg)), 0.3, rtol=1e-5)


@pytest.mark.parametrize("weights", [{}, {"expression_l1": 4.0},
                                     {"expression_l1": 1.0,
                                      "expression_opacity": 2.0}])
def test_psi3d_carries_the_terms_it_weighs(weights):
  """Traced only (no compute): the loss has a region term iff its weight
  is > 0."""
  config = small_config(**weights)
  task = psi3d.Psi3dTask(config)
  state = jax.eval_shape(task.init_state, jax.random.key(0))
  batch = multiview_batches.synthetic_batch(config.batch_size,
                                            config.image_size, 2, 0)
  _, (terms, *_) = jax.eval_shape(task.loss, state["params"], None, batch,
                                  jnp.zeros((), jnp.int32),
                                  jax.random.key(1))
  region = {k for k in terms if k.startswith("expression_")}
  assert region == set(weights)
