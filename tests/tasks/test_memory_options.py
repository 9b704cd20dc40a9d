"""The memory knobs change how the small Psi3d's loss is computed, not what:
bfloat16 compute keeps float32 parameters and gradients close to float32's;
remat (transformer blocks and renderer chunks) gives the same loss and
gradients as storing everything."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from p4d_jax.tasks import psi3d
from tests.tasks.psi3d_small import small_config
from tests.tasks.test_psi3d import synthetic_batch

# About a minute of compiling on 2 cores; the knobs are for pods.
pytestmark = pytest.mark.slow


def loss_and_grads(params, **overrides):
  """Loss and parameter gradients of one Psi3d step; `overrides` are
  "section.key" -> value. Rays in chunks of 512 (8 chunks) throughout, so
  only the option under test differs."""
  config = small_config()
  config.render.chunk_rays = 512
  config.update_from_flattened_dict(overrides)
  task = psi3d.Psi3dTask(config)
  batch = synthetic_batch(config)

  def loss(p):
    return task.loss(p, None, batch, jnp.int32(1), jax.random.key(3))[0]
  return jax.device_get(jax.jit(jax.value_and_grad(loss))(params))


@pytest.fixture(scope="module")
def float32_run(psi3d_small_state):
  params = psi3d_small_state["params"]
  return params, loss_and_grads(params)


def test_bfloat16_keeps_float32_params_and_stays_close(float32_run):
  params, (want_loss, want_grads) = float32_run
  loss, grads = loss_and_grads(params, **{"model.compute_dtype": "bfloat16"})
  leaves = jax.tree.leaves(grads)
  assert all(x.dtype == jnp.float32 for x in jax.tree.leaves(params))
  assert all(x.dtype == jnp.float32 for x in leaves)
  assert np.isfinite(loss) and all(np.all(np.isfinite(x)) for x in leaves)
  # It does compute in bfloat16 (not exactly float32), within ~1e-3.
  assert loss != want_loss
  np.testing.assert_allclose(loss, want_loss, rtol=5e-3)
  got = np.concatenate([x.ravel() for x in leaves])
  want = np.concatenate([x.ravel() for x in jax.tree.leaves(want_grads)])
  cosine = got @ want / (np.linalg.norm(got) * np.linalg.norm(want))
  # 0.9989 measured (0.9926 before the modulated convs added their bias in
  # float32: a bias gradient sums over every pixel).
  assert cosine > 0.995, cosine


def test_remat_gives_the_same_loss_and_gradients(float32_run):
  params, (want_loss, want_grads) = float32_run
  loss, grads = loss_and_grads(params, **{"model.remat": "full",
                                          "render.remat": True})
  np.testing.assert_allclose(loss, want_loss, rtol=1e-6)
  for got, want in zip(jax.tree.leaves(grads), jax.tree.leaves(want_grads)):
    np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-6)


def test_unknown_memory_settings_are_named():
  for key, value, message in (("model.compute_dtype", "float16",
                               "Unknown compute dtype 'float16'"),
                              ("model.remat", "blocks",
                               "Unknown remat policy 'blocks'")):
    config = small_config()
    config.update_from_flattened_dict({key: value})
    with pytest.raises(ValueError, match=message):
      psi3d.Psi3dTask(config)
