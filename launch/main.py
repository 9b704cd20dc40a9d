"""The one training entry point: a config file names its task.

    python -m launch.main --config=configs/psi3d.py:tiny --workdir=DIR \
        [--config.train.total_steps=100 --config.batch_size=8 ...]

(from a fresh clone: `bash launch/run.sh python -m launch.main ...`). The
config is loaded locked, so a misspelt override is an error; the resolved
config is written to DIR/config.json. Rerunning with the same DIR resumes
from its newest checkpoint. One run at a time: DIR is locked (DIR/.p4d-lock,
see p4d_jax/dir_lock.py) and a second run is refused. A user mistake (bad
flag, config key or value, unreadable input) exits 2 with one line.

On a pod slice or a cluster, every host runs the same command with
`--multihost` (launch/tpu_pod.sh, launch/slurm.sbatch do it); without that
flag the run is one process and nothing distributed is set up.
"""

from __future__ import annotations

import contextlib
import os

from absl import flags
from absl import logging
import jax
from ml_collections import config_flags

from p4d_jax import config_bridge
from p4d_jax import dir_lock
from p4d_jax import user_errors
from p4d_jax.tasks import runs
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
  kind = runs.task_kind(config.task)
  # The task first: a config it rejects leaves nothing in the workdir.
  task = kind.task(config)
  os.makedirs(workdir, exist_ok=True)
  if jax.process_index() == 0:   # one writer on the shared workdir
    print(f"[main] config -> {runs.save_config(config, workdir)}", flush=True)
  evaluate = (kind.evaluator(task.model, config, workdir)
              if kind.evaluator and config.train.eval_every else None)
  loop.run(task, config_bridge.from_fields(loop.LoopConfig, config.train,
                                           "config.train"),
           workdir, evaluate=evaluate)


def main(argv):
  if len(argv) > 1:
    raise user_errors.UserError(f"unexpected arguments {argv[1:]}; flags "
                                "are --name=value.")
  # First, before anything touches a device. Reading --config has not: config
  # files load no JAX (tests/test_imports.py).
  if _MULTIHOST.value:
    initialize_distributed()
  logging.set_verbosity(logging.WARNING)   # Orbax logs every save at INFO.
  workdir = _WORKDIR.value
  # Process 0 writes the shared workdir, so it alone takes the lock.
  lock = (dir_lock.DirLock(workdir, what="training run")
          if jax.process_index() == 0 else contextlib.nullcontext())
  with lock:
    train(_CONFIG.value, workdir)


if __name__ == "__main__":
  user_errors.run_absl(main)
