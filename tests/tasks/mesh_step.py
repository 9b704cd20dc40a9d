"""One task step on a device mesh, laid out as the loop lays it out, and the
check that two such steps agree (sharded == unsharded numerics)."""

import jax
import numpy as np

from p4d_jax.parallel import hosts
from p4d_jax.parallel import mesh as mesh_lib
from p4d_jax import tree_paths
from p4d_jax.train import jit_step


def one_device_mesh():
  return mesh_lib.make_mesh({"data": 1}, jax.devices()[:1])


def step_on(task, state, batch, mesh, key):
  """(new state, metrics) as numpy: the loop's jitted step (`jit_step`),
  the state sharded by the task's rules and the batch split over the
  mesh's batch axes."""
  jitted = jit_step.build(task, mesh)
  # From host copies: the step donates its state, the caller's must live on.
  state = jax.device_put(jax.tree.map(np.asarray, state), jitted.shardings)
  batch = hosts.global_batch(batch, mesh_lib.batch_sharding(mesh))
  return jax.device_get(jitted.step(state, batch, key))


def assert_steps_agree(got, want, rtol=1e-5, atol=1e-6):
  """Every metric and every network weight of the new state (parameters,
  EMA, discriminator, step) agree; float32 throughout, so only the order of
  the cross-device sums differs. The optimizer's moments are raw gradients,
  whose rounding differences (about 1e-6 absolute) this tolerance, made for
  weights, does not cover; the weights they move do agree."""
  (got_state, got_metrics), (want_state, want_metrics) = got, want
  assert set(got_metrics) == set(want_metrics)
  for k, v in want_metrics.items():
    np.testing.assert_allclose(got_metrics[k], v, rtol=rtol, atol=atol,
                               err_msg=k)
  names = [k for k in want_state if not k.endswith("opt_state")]
  assert set(got_state) == set(want_state) and "params" in names
  for name in names:
    flat_want = jax.tree_util.tree_leaves_with_path(want_state[name])
    flat_got = jax.tree.leaves(got_state[name])
    assert len(flat_got) == len(flat_want)
    for (path, w), g in zip(flat_want, flat_got):
      np.testing.assert_allclose(
          g, w, rtol=rtol, atol=atol,
          err_msg=f"{name}/{tree_paths.path_name(path)}")
