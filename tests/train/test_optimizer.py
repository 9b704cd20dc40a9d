"""Per-group learning rates: the right parameters, the right multiplier."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from flax import nnx

from p4d_jax.models import sizes
from p4d_jax.models import synthesizer
from p4d_jax.train import optimizer


def test_motion_group_holds_exactly_the_released_cross_lr_parameters():
  """Portrait4D's cross_lr_scale group holds 101,931,008 parameters."""
  model = nnx.eval_shape(lambda: synthesizer.Synthesizer(
      sizes.SynthesizerSizes.paper(), nnx.Rngs(0)))
  params = nnx.state(model, nnx.Param)
  labels = optimizer.group_labels(params, ((optimizer.MOTION_LAYERS, 2.5),))
  count = sum(int(np.prod(p.shape)) for p, l in zip(
      jax.tree.leaves(params), jax.tree.leaves(labels)) if l == "group0")
  assert count == 101_931_008


def test_group_multiplier_scales_the_first_adam_step():
  """Adam's first step moves every weight by lr * sign(grad) (eps aside):
  the group moves 2.5 times as far."""
  params = {"encoder_canonical": {"attn2": jnp.ones(3), "attn1": jnp.ones(3)}}
  tx = optimizer.make_optimizer(params, lr=1e-3, eps=1e-12,
                                lr_groups=((optimizer.MOTION_LAYERS, 2.5),))
  grads = jax.tree.map(lambda p: 0.3 * p, params)
  updates, _ = tx.update(grads, tx.init(params), params)
  np.testing.assert_allclose(updates["encoder_canonical"]["attn1"], -1e-3,
                             rtol=1e-5)
  np.testing.assert_allclose(updates["encoder_canonical"]["attn2"], -2.5e-3,
                             rtol=1e-5)


def test_schedules_are_scaled_too():
  params = {"a": jnp.ones(2), "b": jnp.ones(2)}
  tx = optimizer.make_optimizer(params, lr=lambda step: 1e-3 / (1 + step),
                                eps=1e-12, lr_groups=(("^b", 2.0),))
  state = tx.init(params)
  updates, _ = tx.update(params, state, params)
  np.testing.assert_allclose(updates["b"], 2 * updates["a"], rtol=1e-6)


def test_constant_without_warm_up_is_the_plain_float():
  """The default keeps the optimizer exactly as before schedules existed."""
  assert optimizer.learning_rate(5e-4) == 5e-4


def test_cosine_warms_up_linearly_then_ends_at_its_scale():
  lr = optimizer.learning_rate(1e-3, "cosine", warmup_steps=100,
                               decay_steps=1100, end_scale=0.05)
  np.testing.assert_allclose(float(lr(0)), 0.0, atol=1e-12)
  np.testing.assert_allclose(float(lr(50)), 5e-4, rtol=1e-6)
  np.testing.assert_allclose(float(lr(100)), 1e-3, rtol=1e-6)
  # Half-way through the cosine: the mean of peak and end.
  np.testing.assert_allclose(float(lr(600)), 0.5 * (1e-3 + 5e-5), rtol=1e-5)
  np.testing.assert_allclose(float(lr(1100)), 5e-5, rtol=1e-6)
  np.testing.assert_allclose(float(lr(5000)), 5e-5, rtol=1e-6)


def test_constant_with_warm_up_holds_its_peak():
  lr = optimizer.learning_rate(2e-4, "constant", warmup_steps=10)
  np.testing.assert_allclose([float(lr(s)) for s in (0, 5, 10, 999)],
                             [0.0, 1e-4, 2e-4, 2e-4], rtol=1e-6)


@pytest.mark.parametrize("kwargs", [dict(schedule="linear"),
                                    dict(schedule="cosine", warmup_steps=50,
                                         decay_steps=50)])
def test_a_bad_schedule_is_named(kwargs):
  with pytest.raises(ValueError, match="optimizer.(schedule|decay_steps)"):
    optimizer.learning_rate(1e-3, **kwargs)
