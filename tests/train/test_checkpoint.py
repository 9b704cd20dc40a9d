"""Checkpoints hold the state and the data position; the start order."""

import os
import signal

import grain
import jax
import jax.numpy as jnp
import numpy as np
import optax
import orbax.checkpoint as ocp
import pytest

from p4d_jax.train import checkpoint


def _iterator(seed=0):
  return iter(grain.MapDataset.range(100).shuffle(seed=seed).batch(4)
              .to_iter_dataset())


def _state(value):
  params = {"w": jnp.full((3,), value), "b": jnp.zeros(())}
  tx = optax.adam(1e-3)
  return {"params": params, "opt_state": tx.init(params),
          "step": jnp.array(7)}


def _abstract(tree):
  return jax.tree.map(ocp.utils.to_shape_dtype_struct, tree)


TARGET = _abstract(_state(0.0))
FRESH = lambda: _state(0.0)  # noqa: E731


def test_round_trip_restores_state_and_data_position(tmp_path):
  ckpt = checkpoint.Checkpointer(str(tmp_path / "ckpt"))
  it = _iterator()
  for _ in range(5):
    next(it)
  ckpt.save(5, _state(2.0), it)
  ckpt.wait()
  expected = [next(it) for _ in range(3)]
  fresh_it = _iterator()
  state = ckpt.restore(TARGET, fresh_it)
  np.testing.assert_array_equal(state["params"]["w"], 2.0)
  assert int(state["step"]) == 7
  for want in expected:
    np.testing.assert_array_equal(next(fresh_it), want)
  ckpt.close()


def test_start_order_latest_then_resume_then_init_then_scratch(tmp_path):
  other = checkpoint.Checkpointer(str(tmp_path / "other"))
  it = _iterator()
  next(it)
  other.save(3, _state(5.0), it)
  other.wait()
  other.close()

  mine = checkpoint.Checkpointer(str(tmp_path / "mine"))
  state, how = checkpoint.start(mine, FRESH, TARGET, _iterator())
  assert how == "fresh initialisation"
  state, how = checkpoint.start(mine, FRESH, TARGET, _iterator(),
                                init_from=str(tmp_path / "other"))
  assert how.startswith("initialised parameters")
  np.testing.assert_array_equal(state["params"]["w"], 5.0)
  np.testing.assert_array_equal(state["opt_state"][0].mu["w"], 0.0)
  state, how = checkpoint.start(mine, FRESH, TARGET, _iterator(),
                                resume_from=str(tmp_path / "other"),
                                init_from=str(tmp_path / "nowhere"))
  assert how.startswith("resumed")
  mine.save(9, _state(9.0), _iterator())
  mine.wait()
  state, how = checkpoint.start(mine, FRESH, TARGET, _iterator(),
                                resume_from=str(tmp_path / "other"))
  assert how.startswith("restarted") and "step 9" in how
  np.testing.assert_array_equal(state["params"]["w"], 9.0)
  mine.close()


def test_missing_source_names_the_option(tmp_path):
  mine = checkpoint.Checkpointer(str(tmp_path / "mine"))
  with pytest.raises(FileNotFoundError, match="init_from"):
    checkpoint.start(mine, FRESH, TARGET, _iterator(),
                     init_from=str(tmp_path / "empty"))
  mine.close()


def test_sigterm_becomes_a_flag():
  flag = checkpoint.Preemption()
  try:
    assert not flag.requested
    os.kill(os.getpid(), signal.SIGTERM)
    assert flag.requested
  finally:
    flag.close()
