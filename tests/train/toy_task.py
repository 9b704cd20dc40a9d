"""A small regression task for loop tests (also run as a subprocess)."""

import grain
import jax
import jax.numpy as jnp
import numpy as np
import optax

from p4d_jax.parallel import hosts

W_TRUE = np.array([1.5, -2.0, 0.5], np.float32)


def _example(i):
  x = np.random.default_rng(int(i)).normal(size=3).astype(np.float32)
  return {"x": x, "y": np.float32(x @ W_TRUE), "id": np.int32(i)}


def batches(batch_size, process_index, process_count):
  """One process's endless batches: its part of 1000 examples, shuffled."""
  ids = hosts.part(grain.MapDataset.range(1000), process_index, process_count)
  return (ids.shuffle(seed=3).map(_example)
          .batch(hosts.local_batch_size(batch_size, process_count))
          .repeat().to_iter_dataset())


class ToyTask:
  batch_size = 8
  sharding_rules = ((".*", "fsdp"),)

  def __init__(self, nan_at: int = 0, lr: float = 0.05):
    self.nan_at = nan_at
    self.tx = optax.adam(lr)

  def init_state(self, key):
    params = {"w": jax.random.normal(key, (3,)) * 0.1}
    return {"params": params, "opt_state": self.tx.init(params),
            "step": jnp.zeros((), jnp.int32), "ids_seen": jnp.zeros((),
                                                                  jnp.int32)}

  def dataset(self):
    return batches(self.batch_size, jax.process_index(), jax.process_count())

  def train_step(self, state, batch, key):
    del key

    def loss_fn(params):
      return jnp.mean((batch["x"] @ params["w"] - batch["y"]) ** 2)

    loss, grads = jax.value_and_grad(loss_fn)(state["params"])
    step = state["step"] + 1
    if self.nan_at:
      loss = jnp.where(step == self.nan_at, jnp.nan, loss)
    updates, opt_state = self.tx.update(grads, state["opt_state"],
                                        state["params"])
    return dict(params=optax.apply_updates(state["params"], updates),
                opt_state=opt_state, step=step,
                ids_seen=state["ids_seen"] + jnp.sum(batch["id"])), {
                    "loss": loss}
