"""The motion seam: `config.motion.kind` picks a source; the oracle feeds
exact expressions, the pretrained source takes a run's encoder and never
changes it, and a new kind is one class plus one registry line."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from flax import nnx

from p4d_jax import run_weights
from p4d_jax.data import psi4d_batches
from p4d_jax.models import model as model_lib
from p4d_jax.models import motion
from p4d_jax.models.motion import source as source_lib
from p4d_jax.tasks import psi4d
from tests.tasks import mesh_step
from tests.tasks.psi3d_small import small_psi_config


def config_of(kind, **motion_cfg):
  config = small_psi_config()
  config.motion.kind = kind
  config.motion.update(motion_cfg)
  return config


def perturbed(params, seed=0):
  """Zero-initialised cross-attention outputs moved, so motion acts."""
  rng = np.random.default_rng(seed)
  return jax.tree.map(
      lambda x: x + 0.05 * rng.standard_normal(x.shape, np.float32), params)


def test_an_unknown_kind_names_the_known_ones():
  with pytest.raises(ValueError, match=r"'lerned' is not one of "
                     r"\['learned', 'oracle', 'pretrained'\]"):
    model_lib.Model.from_config(config_of("lerned"))


def test_oracle_drives_with_exact_expressions():
  model = model_lib.Model.from_config(config_of("oracle"))
  assert model.motion_reads == "expression"
  params = perturbed(model.init(jax.random.key(0)))
  assert "motion_encoder" not in params   # no parameters of its own
  code = model.motion_code(params, jnp.arange(12.0).reshape(2, 6))
  dim = model.sizes.canonical.motion_dim
  np.testing.assert_array_equal(code[:, :6], np.arange(12.0).reshape(2, 6))
  np.testing.assert_array_equal(code[:, 6:], np.zeros((2, dim - 6)))
  image = jnp.zeros((1, 32, 32, 3))
  neutral = jnp.zeros((1, 6))
  source = model.encode_source(params, image,
                               model.motion_code(params, neutral))

  @jax.jit
  def planes(expression):
    return model.animate(params, source, model.motion_code(params,
                                                           expression))
  # Opening the jaw moves the planes; the same expression twice does not.
  jaw = neutral.at[0, 0].set(2.0)
  assert float(jnp.max(jnp.abs(planes(jaw) - planes(neutral)))) > 1e-3
  np.testing.assert_array_equal(planes(neutral), planes(neutral))
  with pytest.raises(ValueError, match="do not fit the model's motion"):
    model.motion_code(params, jnp.zeros((1, dim + 1)))


def test_oracle_trains_on_batches_with_expressions():
  task = psi4d.Psi4dTask(config_of("oracle"))
  state = jax.jit(task.init_state)(jax.random.key(0))
  batch = psi4d_batches.synthetic_batch(8, 32, 16)
  rng = np.random.default_rng(0)
  batch.update(source_expression=rng.normal(size=(8, 6)).astype(np.float32),
               driving_expression=rng.normal(size=(8, 6)).astype(np.float32))
  new, metrics = mesh_step.step_on(task, state, batch,
                                   mesh_step.one_device_mesh(),
                                   jax.random.key(1))
  assert np.isfinite(metrics["loss"])
  assert int(new["step"]) == 1


def test_pretrained_takes_a_runs_encoder_and_keeps_it(tmp_path):
  learned = model_lib.Model.from_config(config_of("learned"))
  trained = perturbed(learned.init(jax.random.key(3)), seed=3)
  run = run_weights.write(str(tmp_path / "extractor"),
                          dict(task="psi4d"), trained)
  task = psi4d.Psi4dTask(config_of("pretrained", weights=run))
  state = jax.jit(task.init_state)(jax.random.key(0))
  want = jax.tree.leaves(trained["motion_encoder"])
  got = jax.tree.leaves(state["params"]["motion_encoder"])
  for g, w in zip(got, want):
    np.testing.assert_array_equal(g, w)
  # Frozen: no gradient reaches it, and a step leaves it as it was.
  images = jnp.asarray(np.random.default_rng(0).uniform(-1, 1,
                                                        (2, 32, 32, 3)))
  grads = jax.grad(lambda p: jnp.sum(task.model.motion_code(p, images)))(
      state["params"])
  assert all(float(jnp.max(jnp.abs(g))) == 0.0
             for g in jax.tree.leaves(grads))
  batch = psi4d_batches.synthetic_batch(8, 32, 16)
  state = dict(state, params=perturbed(state["params"]))
  state["params"]["motion_encoder"] = jax.tree.map(
      jnp.asarray, trained["motion_encoder"])
  new, _ = mesh_step.step_on(task, state, batch, mesh_step.one_device_mesh(),
                             jax.random.key(1))
  for g, w in zip(jax.tree.leaves(new["params"]["motion_encoder"]), want):
    np.testing.assert_array_equal(g, w)
  with pytest.raises(ValueError, match="needs motion.weights"):
    model_lib.Model.from_config(config_of("pretrained", weights=""))


def test_a_new_kind_is_one_class_and_one_registry_line(monkeypatch):
  class Constant(source_lib.MotionSource):
    """Every frame gets one learned vector: a source with parameters."""
    reads = "image"

    def build(self, rngs):
      return nnx.Linear(1, self.dim, rngs=rngs)

    def encode(self, module, frames):
      return module(jnp.ones((frames.shape[0], 1)))

  monkeypatch.setitem(motion.KINDS, "constant", Constant)
  task = psi4d.Psi4dTask(config_of("constant"))
  state = jax.jit(task.init_state)(jax.random.key(0))
  assert set(state["params"]["motion_encoder"]) == {"kernel", "bias"}
  _, metrics = mesh_step.step_on(task, state,
                                 psi4d_batches.synthetic_batch(8, 32, 16),
                                 mesh_step.one_device_mesh(),
                                 jax.random.key(1))
  assert np.isfinite(metrics["loss"])
