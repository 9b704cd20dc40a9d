"""What the small supervised tasks share (the expression extractor, audio to
motion): AdamW with a warm-up then cosine schedule, a state of parameters,
their EMA, the optimizer state and the step, and the step around a loss.

    tx = supervised.optimizer(config.optimizer, config.train.total_steps)
    state = supervised.init_state(params, tx)
    state, metrics = supervised.step(tx, loss_fn, state, batch, key,
                                     batch_size, config.loss)

`loss_fn(params, batch, key) -> (loss, terms)`; config.loss has
`ema_half_life_images` and `ema_rampup`.
"""

from __future__ import annotations

from typing import Callable

import jax
import jax.numpy as jnp
import optax

from p4d_jax.train import losses
# As `optimizers`: this module defines its own `optimizer`.
from p4d_jax.train import optimizer as optimizers


def optimizer(opt, total_steps: int) -> optax.GradientTransformation:
  """AdamW (config.optimizer: lr, warmup_steps, b1, b2, eps, weight_decay):
  linear warm-up, then cosine down to lr / 20 at `total_steps`."""
  warmup = min(opt.warmup_steps, total_steps // 2)
  schedule = optimizers.learning_rate(opt.lr, "cosine", warmup,
                                      max(total_steps, warmup + 1), 1 / 20)
  return optax.adamw(schedule, opt.b1, opt.b2, opt.eps,
                     weight_decay=opt.weight_decay)


def init_state(params, tx: optax.GradientTransformation) -> dict:
  return dict(params=params, ema=params, opt_state=tx.init(params),
              step=jnp.zeros((), jnp.int32))


def step(tx: optax.GradientTransformation, loss_fn: Callable, state: dict,
         batch, key: jax.Array, batch_size: int, loss_cfg
         ) -> tuple[dict, dict]:
  """One update of `state` and its EMA; metrics are the loss and its terms."""
  (loss, terms), grads = jax.value_and_grad(loss_fn, has_aux=True)(
      state["params"], batch, key)
  updates, opt_state = tx.update(grads, state["opt_state"], state["params"])
  params = optax.apply_updates(state["params"], updates)
  count = state["step"] + 1
  decay = losses.ema_decay(batch_size, loss_cfg.ema_half_life_images,
                           count * batch_size, loss_cfg.ema_rampup)
  state = dict(params=params, opt_state=opt_state, step=count,
               ema=losses.ema_update(state["ema"], params, decay))
  return state, dict(loss=loss, **terms)
