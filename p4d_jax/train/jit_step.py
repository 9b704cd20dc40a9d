"""The one jitted train step: the state's shapes from `eval_shape`, its
shardings from the task's rules, the step jitted with the state donated and
laid out as it came in. The loop, tools/aot_compile.py and the tests use it.

    step = jit_step.build(task, mesh)
    state = step.init(key)                   # directly in its shards
    state, metrics = step.step(state, batch, key)
    step.step.lower(step.abstract_state, abstract_batch, key)  # ahead of time
"""

from __future__ import annotations

import dataclasses
from typing import Any, Callable

import jax
from jax.sharding import Mesh, NamedSharding, PartitionSpec as P

from p4d_jax.parallel import sharding


@dataclasses.dataclass(frozen=True)
class JittedStep:
  shardings: Any        # the state's NamedShardings
  abstract_state: Any   # ShapeDtypeStructs with those shardings
  init: Callable        # key -> the fresh state, in its shards
  step: Callable        # (state, batch, key) -> (state, replicated metrics)


def build(task, mesh: Mesh) -> JittedStep:
  """`task` has init_state(key), train_step(state, batch, key) and
  sharding_rules."""
  shapes = jax.eval_shape(task.init_state, jax.random.key(0))
  shardings = sharding.param_shardings(shapes, mesh, task.sharding_rules)
  abstract = jax.tree.map(
      lambda x, s: jax.ShapeDtypeStruct(x.shape, x.dtype, sharding=s),
      shapes, shardings)
  # Replicated metrics: every process can read them.
  return JittedStep(
      shardings=shardings, abstract_state=abstract,
      init=jax.jit(task.init_state, out_shardings=shardings),
      step=jax.jit(task.train_step, donate_argnums=0,
                   out_shardings=(shardings, NamedSharding(mesh, P()))))
