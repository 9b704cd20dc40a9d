"""The one training loop both stages share (big_vision style: linear, flat).

A `Task` brings everything stage-specific: its initial state, its batches (a
grain IterDataset), a pure train step, and optionally an evaluation. The loop
brings the rest: the mesh and shardings, a jitted step, checkpoints of state
and data position (restart > resume_from > init_from > fresh), a save on
SIGTERM, a stop with a clear message on a non-finite loss (the last good
checkpoint is kept), and metrics (clu averages over each log interval)
to the console and TensorBoard, with steps/s, images/s and the ETA.

Multi-process: every process runs this loop on its own data part; the
global batch is joined from the processes' batches (`hosts.global_batch`),
Orbax writes the state's shards from every process (the workdir must be one
filesystem all hosts see), and only process 0 logs and writes TensorBoard.
"""

from __future__ import annotations

import dataclasses
import functools
import math
import os
import time
from typing import Any, Callable, Protocol, Sequence

import jax
from clu import metrics as clu_metrics
from tensorboardX import SummaryWriter

from p4d_jax.parallel import hosts
from p4d_jax.parallel import mesh as mesh_lib
from p4d_jax.parallel import sharding
from p4d_jax.train import checkpoint
from p4d_jax.train import jit_step

State = dict   # {"params": ..., "opt_state": ..., "step": ..., anything else}


class Task(Protocol):
  """Optionally also `init_fresh`: a regex of parameter paths that an
  `init_from` checkpoint may lack (a module new to this task)."""
  batch_size: int
  sharding_rules: Sequence[sharding.Rule]

  def init_state(self, key: jax.Array) -> State: ...

  def dataset(self): ...   # a grain IterDataset of numpy batches

  def train_step(self, state: State, batch: Any,
                 key: jax.Array) -> tuple[State, dict]: ...


@dataclasses.dataclass(frozen=True)
class LoopConfig:
  total_steps: int
  log_every: int = 50
  checkpoint_every: int = 1000
  eval_every: int = 0                  # 0: no periodic evaluation
  max_to_keep: int = 3
  seed: int = 0
  mesh: tuple[tuple[str, int], ...] = (("data", -1),)
  resume_from: str = ""
  init_from: str = ""


def _check_and_accumulate(averages: dict, step: int, metrics: dict,
                          ckpt: checkpoint.Checkpointer) -> dict:
  """Fetches one step's metrics; a non-finite one stops the run (nothing
  after the last good checkpoint was saved). Else adds them to the running
  clu Averages of the log interval."""
  metrics = jax.device_get(metrics)
  if not all(math.isfinite(float(v)) for v in metrics.values()):
    raise FloatingPointError(
        f"Non-finite loss at step {step}: "
        f"{ {k: float(v) for k, v in metrics.items()} }. Stopped; the "
        f"last good checkpoint is step {ckpt.latest_step()} in "
        f"{ckpt.directory}. Lower the learning rate or check the data, then "
        "rerun.")
  for k, v in metrics.items():
    new = clu_metrics.Average.from_model_output(v)
    averages[k] = averages[k].merge(new) if k in averages else new
  return averages


def run(task: Task, cfg: LoopConfig, workdir: str,
        evaluate: Callable[[State, int], dict] | None = None,
        after_step: Callable[[int], None] | None = None) -> State:
  """Trains `task` to cfg.total_steps in `workdir`; returns the final state.

  `after_step(step)` runs after each step's bookkeeping (tests use it).
  """
  os.makedirs(workdir, exist_ok=True)
  mesh = mesh_lib.make_mesh(dict(cfg.mesh))
  base_key = jax.random.key(cfg.seed)
  init_key, step_keys = jax.random.split(base_key)
  iterator = iter(task.dataset())
  ckpt = checkpoint.Checkpointer(os.path.join(workdir, "checkpoints"),
                                 cfg.max_to_keep)

  # Shapes and shardings without allocating; the state is only built when
  # a run starts fresh, directly in its shards.
  jitted = jit_step.build(task, mesh)
  init = functools.partial(jitted.init, init_key)
  state, origin = checkpoint.start(ckpt, init, jitted.abstract_state,
                                   iterator, cfg.resume_from or None,
                                   cfg.init_from or None,
                                   getattr(task, "init_fresh", None))
  batch_sharding = mesh_lib.batch_sharding(mesh)
  first = int(state["step"])
  main = jax.process_index() == 0
  log = print if main else lambda *a, **k: None
  log(f"[train] {origin}; steps {first} -> {cfg.total_steps} on mesh "
      f"{dict(mesh.shape)}, {jax.process_count()} process(es)", flush=True)
  writer = SummaryWriter(os.path.join(workdir, "tensorboard")) if main else None

  def write(step, scalars):
    if writer:
      for k, v in scalars.items():
        writer.add_scalar(k, v, step)

  preemption = checkpoint.Preemption()
  start_time, timed_from = time.time(), first
  averages = {}
  # A step's metrics stay on the device until the next step is queued, so
  # the host never waits for the device between steps; they are checked
  # before anything reads the state (a log line, an evaluation, a save).
  unchecked = None
  try:
    for step in range(first + 1, cfg.total_steps + 1):
      batch = hosts.global_batch(next(iterator), batch_sharding)
      state, metrics = jitted.step(state, batch,
                                   jax.random.fold_in(step_keys, step))
      if unchecked is not None:
        averages = _check_and_accumulate(averages, *unchecked, ckpt)
      unchecked = (step, metrics)
      if step == first + 1:   # time from here: the first step compiles
        jax.block_until_ready(metrics)
        start_time, timed_from = time.time(), step
      log_due = step % cfg.log_every == 0 or step == cfg.total_steps
      eval_due = bool(evaluate and cfg.eval_every and
                      step % cfg.eval_every == 0)
      save_due = step % cfg.checkpoint_every == 0 or step == cfg.total_steps
      stop = preemption.agreed()
      if log_due or eval_due or save_due or stop:
        averages = _check_and_accumulate(averages, *unchecked, ckpt)
        unchecked = None
      if log_due:
        elapsed = time.time() - start_time
        rate = (step - timed_from) / max(elapsed, 1e-9)
        eta = (cfg.total_steps - step) / max(rate, 1e-9)
        means = {k: float(a.compute()) for k, a in averages.items()}
        averages = {}
        write(step, {**{f"train/{k}": v for k, v in means.items()},
                     "train/steps_per_s": rate,
                     "train/images_per_s": rate * task.batch_size})
        terms = "  ".join(f"{k} {v:.4f}" for k, v in means.items())
        log(f"[train] {step}/{cfg.total_steps}  {terms}  {rate:.2f} steps/s "
            f"{rate * task.batch_size:.1f} images/s  ETA {eta:.0f}s",
            flush=True)
      if eval_due:
        # Every process evaluates: the state is sharded over all of them.
        write(step, {f"eval/{k}": float(v)
                     for k, v in evaluate(state, step).items()})
      if save_due or stop:
        ckpt.save(step, state, iterator, force=True)
      if stop:
        print(f"[train] SIGTERM: saved step {step}; stopping", flush=True)
        break
      if after_step:
        after_step(step)
  finally:
    ckpt.wait()
    ckpt.close()
    if writer:
      writer.close()
    preemption.close()
  return state
