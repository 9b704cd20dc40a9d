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


def test_oracle_reads_the_records_expressions(pseudo_views_tiny):
  """The pseudo-view records of SynthHeads clips carry each frame's exact
  expression; Psi's batches hand them, standardised, to the oracle, and
  the task's motions are exactly those (zero-padded)."""
  config = config_of("oracle")
  config.data.pseudo_views = pseudo_views_tiny[-1]
  task = psi4d.Psi4dTask(config)
  batch = next(iter(psi4d_batches.training_batches(config.data, 32, 4,
                                                   expressions=True)))
  assert batch["driving_expression"].shape == (4, 6)
  # Standardised: a parameter uniform over its range has unit variance.
  assert 0.2 < float(np.std(batch["driving_expression"])) < 3.0
  params = task.model.init(jax.random.key(0))
  source, driving = task.motions(params, batch, jax.random.key(1))
  np.testing.assert_array_equal(driving[:, :6], batch["driving_expression"])
  np.testing.assert_array_equal(source[:, :6], batch["source_expression"])


def test_pretrained_takes_a_runs_encoder_and_keeps_it(psi4d_small_state,
                                                     tmp_path):
  # A `learned` Psi's weights (the shared fixture's), moved: "trained".
  trained = perturbed(psi4d_small_state[1]["params"], seed=3)
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
  # And the optimizer leaves it alone while it moves everything else.
  params = state["params"]
  updates, _ = task.training.tx.update(
      jax.tree.map(jnp.ones_like, params), task.training.tx.init(params),
      params)
  assert all(float(jnp.max(jnp.abs(u))) == 0.0
             for u in jax.tree.leaves(updates["motion_encoder"]))
  assert all(float(jnp.max(jnp.abs(u))) > 0.0
             for u in jax.tree.leaves(updates["encoder_global"]))
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
  params = task.model.init(jax.random.key(0))
  assert set(params["motion_encoder"]) == {"kernel", "bias"}
  code = task.model.motion_code(params, jnp.zeros((3, 32, 32, 3)))
  assert code.shape == (3, task.model.sizes.canonical.motion_dim)
  # Trainable: the task's optimizer moves it.
  updates, _ = task.training.tx.update(
      jax.tree.map(jnp.ones_like, params), task.training.tx.init(params),
      params)
  assert all(float(jnp.max(jnp.abs(u))) > 0.0
             for u in jax.tree.leaves(updates["motion_encoder"]))
