"""A trained Psi3d (or Psi) from its run directory, for what uses it.

A Psi3d run (`launch.main --workdir=DIR`) leaves DIR/config.json and
DIR/checkpoints/<step>/. `load(DIR, defaults)` rebuilds the task from the saved config
laid over `defaults` (configs/psi3d.py's, so a run saved before a key existed
still loads) and restores the EMA generator, the weights its evaluation used.
"""

from __future__ import annotations

import json
import os

import jax
import ml_collections
from flax import nnx

from p4d_jax.tasks import psi3d
from p4d_jax.train import checkpoint


def _tuples(value):
  """JSON lists back to the tuples the configs use."""
  if isinstance(value, dict):
    return {k: _tuples(v) for k, v in value.items()}
  if isinstance(value, list):
    return tuple(_tuples(v) for v in value)
  return value


def run_config(workdir: str, defaults: ml_collections.ConfigDict | None = None
               ) -> ml_collections.ConfigDict:
  """The run's saved config laid over `defaults` (None: the saved one
  alone)."""
  path = os.path.join(workdir, "config.json")
  if not os.path.exists(path):
    raise FileNotFoundError(
        f"{path} does not exist: {workdir!r} is not a Psi3d run directory "
        "(the --workdir of `python -m launch.main --config=configs/psi3d.py`)"
        ".")
  with open(path) as f:
    saved = _tuples(json.load(f))
  want = defaults.task if defaults is not None else "psi3d"
  if saved.get("task") != want:
    raise ValueError(f"{path} is a {saved.get('task')!r} run, not {want}.")
  if defaults is None:
    return ml_collections.ConfigDict(saved)
  config = ml_collections.ConfigDict(defaults)   # a copy
  unknown = sorted(set(saved) - set(config))
  if unknown:
    raise ValueError(f"{path} has config sections {unknown} that this code "
                     "does not know; was it written by a newer release?")
  config.update(saved)
  return config


def load(workdir: str, defaults: ml_collections.ConfigDict | None = None,
         step: int | None = None, sharding=None, task_class=psi3d.Psi3dTask
         ) -> tuple[psi3d.Psi3dTask, nnx.State, int]:
  """(task, EMA params, step) of a run; `step` None = the newest.
  `sharding` places the params (default: the default device). Psi runs
  load with task_class=Psi4dTask and configs/psi4d.py's defaults."""
  task = task_class(run_config(workdir, defaults))
  directory = os.path.join(workdir, "checkpoints")
  if not os.path.isdir(directory):
    raise FileNotFoundError(f"{directory} does not exist: the run in "
                            f"{workdir} has not saved a checkpoint yet.")
  ckpt = checkpoint.Checkpointer(directory)
  try:
    steps = ckpt.manager.all_steps()
    if not steps:
      raise FileNotFoundError(f"{directory} holds no checkpoint.")
    step = max(steps) if step is None else step
    if step not in steps:
      raise FileNotFoundError(f"{directory} has no step {step}; it has "
                              f"{sorted(steps)}.")
    abstract = task.abstract_params
    if sharding is not None:
      abstract = jax.tree.map(
          lambda x: jax.ShapeDtypeStruct(x.shape, x.dtype, sharding=sharding),
          abstract)
    params = ckpt.restore_params(abstract, step, item="ema")
  finally:
    ckpt.close()
  return task, params, step
