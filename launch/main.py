"""The one training entry point: a config file names its task.

    python -m launch.main --config=configs/psi3d.py:tiny --workdir=DIR \
        [--config.train.total_steps=100 --config.batch_size=8 ...]

(from a fresh clone: `bash launch/run.sh python -m launch.main ...`). The
config is loaded locked, so a misspelt override is an error; the resolved
config is written to DIR/config.json. Rerunning with the same DIR resumes
from its newest checkpoint.

On a pod slice or a cluster, every host runs the same command with
`--multihost` (launch/tpu_pod.sh, launch/slurm.sbatch do it); without that
flag the run is one process and nothing distributed is set up.
"""

from __future__ import annotations

import dataclasses
import importlib
import json
import os

from absl import app
from absl import flags
from absl import logging
import jax
from ml_collections import config_flags

from p4d_jax.train import loop

_CONFIG = config_flags.DEFINE_config_file(
    "config", None, "A config file and its argument, e.g. "
    "configs/psi3d.py:tiny.", lock_config=True)
_WORKDIR = flags.DEFINE_string("workdir", None, "Where checkpoints, metrics, "
                               "evaluations and the resolved config go.")
_MULTIHOST = flags.DEFINE_bool(
    "multihost", False, "Join a multi-process job (jax.distributed."
    "initialize) before anything touches a device. On a Cloud TPU VM and "
    "under SLURM's srun JAX finds the coordinator, process count and index "
    "itself; elsewhere set JAX_COORDINATOR_ADDRESS=host:port, "
    "JAX_NUM_PROCESSES and JAX_PROCESS_ID. Off: one process.")
flags.mark_flags_as_required(["config", "workdir"])

# config.task -> (module, task class, evaluator class or None).
TASKS = {
    "psi3d": ("p4d_jax.tasks.psi3d", "Psi3dTask",
              ("p4d_jax.tasks.psi3d_eval", "NovelViewEvaluator")),
    "psi4d": ("p4d_jax.tasks.psi4d", "Psi4dTask",
              ("p4d_jax.tasks.psi4d_eval", "ReenactmentEvaluator")),
}


def _load(module: str, name: str):
  return getattr(importlib.import_module(module), name)


def load_run(workdir: str, step: int | None = None, sharding=None):
  """(task name, task, EMA params, step) of a training run's directory; its
  config.json is laid over configs/<task>.py's tiny preset, so keys newer
  than the run get today's defaults. `step` None = the newest."""
  # pylint: disable=import-outside-toplevel
  from p4d_jax.tasks import psi3d_checkpoint
  path = os.path.join(workdir, "config.json")
  if not os.path.exists(path):
    raise FileNotFoundError(f"{workdir} is not a training run: it has no "
                            "config.json (python -m launch.main writes it).")
  with open(path) as f:
    name = json.load(f).get("task")
  if name not in TASKS:
    raise ValueError(f"{path}: task {name!r} is not one of {sorted(TASKS)}.")
  module, cls, _ = TASKS[name]
  defaults = importlib.import_module(f"configs.{name}").get_config("tiny")
  task, params, step = psi3d_checkpoint.load(
      workdir, defaults, step, sharding, task_class=_load(module, cls))
  return name, task, params, step


def loop_config(train) -> loop.LoopConfig:
  """config.train -> LoopConfig; unknown keys are errors that name them."""
  fields = dict(train)
  names = {f.name for f in dataclasses.fields(loop.LoopConfig)}
  unknown = set(fields) - names
  if unknown:
    raise ValueError(f"config.train: unknown key(s) {sorted(unknown)}; known: "
                     f"{sorted(names)}.")
  fields["mesh"] = tuple((str(a), int(n)) for a, n in fields.get("mesh", ()))
  return loop.LoopConfig(**fields)


def save_config(config, workdir: str) -> str:
  """Writes the resolved config as JSON (temp name, then rename); says so
  when it differs from the one an earlier run of this workdir wrote."""
  path = os.path.join(workdir, "config.json")
  text = config.to_json_best_effort(indent=2, sort_keys=True)
  if os.path.exists(path):
    with open(path) as f:
      old = json.load(f)
    new = json.loads(text)
    changed = sorted(k for k in set(old) | set(new)
                     if old.get(k) != new.get(k))
    if changed:
      print(f"[main] config differs from the one in {path} (sections "
            f"{changed}); overwriting it.", flush=True)
  tmp = path + ".tmp"
  with open(tmp, "w") as f:
    f.write(text)
  os.replace(tmp, path)
  return path


def initialize_distributed() -> None:
  """jax.distributed.initialize(), the process count and index taken from
  JAX_NUM_PROCESSES and JAX_PROCESS_ID where set (JAX itself reads only
  JAX_COORDINATOR_ADDRESS), else detected (Cloud TPU, SLURM)."""
  def env(name):
    return int(os.environ[name]) if name in os.environ else None
  jax.distributed.initialize(num_processes=env("JAX_NUM_PROCESSES"),
                             process_id=env("JAX_PROCESS_ID"))
  print(f"[main] process {jax.process_index()} of {jax.process_count()}: "
        f"{jax.local_device_count()} of {jax.device_count()} devices",
        flush=True)


def train(config, workdir: str) -> None:
  """Trains config.task in workdir, resuming from its newest checkpoint."""
  if config.task not in TASKS:
    raise ValueError(f"config.task {config.task!r} is not one of "
                     f"{sorted(TASKS)}.")
  os.makedirs(workdir, exist_ok=True)
  if jax.process_index() == 0:   # one writer on the shared workdir
    print(f"[main] config -> {save_config(config, workdir)}", flush=True)
  module, name, evaluator = TASKS[config.task]
  task = _load(module, name)(config)
  evaluate = (_load(*evaluator)(task, workdir)
              if evaluator and config.train.eval_every else None)
  loop.run(task, loop_config(config.train), workdir, evaluate=evaluate)


def main(argv):
  if len(argv) > 1:
    raise app.UsageError(f"Unexpected arguments: {argv[1:]}")
  # First, before anything touches a device. Reading --config has not: config
  # files load no JAX (tests/test_imports.py).
  if _MULTIHOST.value:
    initialize_distributed()
  logging.set_verbosity(logging.WARNING)   # Orbax logs every save at INFO.
  train(_CONFIG.value, _WORKDIR.value)


if __name__ == "__main__":
  app.run(main)
