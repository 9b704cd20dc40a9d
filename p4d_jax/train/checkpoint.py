"""Checkpoints of the train state AND the data iterator, with Orbax.

Where a run starts from, in order: the newest checkpoint in its own workdir
(a restart), else `resume_from` (another run's checkpoints: state and data
position), else `init_from` (another run's parameters only, fresh optimizer),
else a fresh init. A SIGTERM sets a flag that the loop turns into a save.
"""

from __future__ import annotations

import os
import signal
from typing import Any, Callable

import grain
import jax
import numpy as np
import orbax.checkpoint as ocp
from jax.experimental import multihost_utils

from p4d_jax import run_weights

State = Any   # a pytree with a "params" entry


class Checkpointer:
  """Orbax CheckpointManager over {state, data} in `directory`."""

  def __init__(self, directory: str, max_to_keep: int = 3):
    self.directory = os.path.abspath(directory)
    self.manager = ocp.CheckpointManager(
        self.directory,
        options=ocp.CheckpointManagerOptions(max_to_keep=max_to_keep,
                                             create=True),
        item_handlers={"state": ocp.StandardCheckpointHandler(),
                       "data": grain.checkpoint.CheckpointHandler()})

  def save(self, step: int, state: State, iterator, force: bool = False):
    """Saves asynchronously; `wait()` before exiting."""
    self.manager.save(step, args=ocp.args.Composite(
        state=ocp.args.StandardSave(state),
        data=grain.checkpoint.CheckpointSave(iterator)), force=force)

  def wait(self):
    self.manager.wait_until_finished()

  def latest_step(self) -> int | None:
    return self.manager.latest_step()

  def restore(self, abstract_state: State, iterator,
              step: int | None = None) -> State:
    """State (with the shardings of `abstract_state`) and, in place, the
    iterator's position."""
    step = self.latest_step() if step is None else step
    restored = self.manager.restore(step, args=ocp.args.Composite(
        state=ocp.args.StandardRestore(abstract_state),
        data=grain.checkpoint.CheckpointRestore(iterator)))
    return restored["state"]

  def has_item(self, item: str, step: int | None = None) -> bool:
    step = self.latest_step() if step is None else step
    return item in self.manager.item_metadata(step)["state"]

  def restore_params(self, like_params, step: int | None = None,
                     item: str = "params", fresh=None,
                     fresh_pattern: str | None = None):
    """Only one parameter tree of a saved state (`params`, or `ema`) in the
    structure and shardings of `like_params`, whatever optimizer state the
    other run had (`run_weights.restore_params`: matched by path; paths
    matching `fresh_pattern` come from `fresh`)."""
    step = self.latest_step() if step is None else step
    return run_weights.restore_params(self.manager, step, like_params, item,
                                      fresh=fresh,
                                      fresh_pattern=fresh_pattern)

  def close(self):
    self.manager.close()


def start(ckpt: Checkpointer, init: Callable[[], State], target: State,
          iterator, resume_from: str | None = None,
          init_from: str | None = None,
          init_fresh: str | None = None) -> tuple[State, str]:
  """The run's first state, and where it came from (for the log).

  `target` is the state's abstract form (ShapeDtypeStructs with shardings):
  restores land in its shapes and shardings, and `init` only runs when a
  fresh state or a fresh optimizer is needed. With `init_from`, parameters
  whose path matches `init_fresh` keep `init`'s values (the other run may
  lack them), and an `ema` starts from the other run's EMA (or its params).
  """
  if ckpt.latest_step() is not None:
    return (ckpt.restore(target, iterator),
            f"restarted from {ckpt.directory} step {ckpt.latest_step()}")
  for source, whole in ((resume_from, True), (init_from, False)):
    if not source:
      continue
    other = Checkpointer(source)
    step = other.latest_step()
    if step is None:
      raise FileNotFoundError(
          f"No checkpoint in {other.directory}; check the "
          f"{'resume_from' if whole else 'init_from'} path.")
    if whole:
      state = other.restore(target, iterator)
    else:
      fresh = init()
      state = dict(fresh, params=other.restore_params(
          target["params"], step, fresh=fresh["params"],
          fresh_pattern=init_fresh))
      if "ema" in fresh:
        state["ema"] = other.restore_params(
            target["ema"], step, "ema" if other.has_item("ema", step)
            else "params", fresh=fresh["ema"], fresh_pattern=init_fresh)
    other.close()
    kind = "resumed" if whole else "initialised parameters"
    return state, f"{kind} from {other.directory} step {step}"
  return init(), "fresh initialisation"


class Preemption:
  """Turns SIGTERM into a flag the loop polls (then saves and exits)."""

  def __init__(self):
    self.requested = False
    self._previous = signal.signal(signal.SIGTERM, self._handle)

  def _handle(self, signum, frame):
    del signum, frame
    self.requested = True

  def agreed(self) -> bool:
    """Whether any process got SIGTERM, the same answer on all of them so
    that all save the same step (a collective: every process calls it every
    step; with one process it is just the flag)."""
    if jax.process_count() == 1:
      return self.requested
    return bool(multihost_utils.process_allgather(
        np.int32(self.requested)).any())

  def close(self):
    signal.signal(signal.SIGTERM, self._previous)
