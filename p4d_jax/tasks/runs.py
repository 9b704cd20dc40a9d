"""Runs: which task a config names, and a run directory read back.

A run directory (`p4d_jax.run_weights`) holds config.json (the resolved
config, with `task` and the `preset` it was made from) and checkpoints/.
`load_run` rebuilds its model handle from the saved config laid over the
preset it was made with (so keys newer than the run get today's defaults
for that preset) and restores its EMA parameters, the weights its
evaluation used.

    run = runs.load_run(workdir, defaults=configs.preset)
    run.model.render_views(run.params, ...)
"""

from __future__ import annotations

import dataclasses
import json
import os
from typing import Any, Callable

import jax
import ml_collections

from p4d_jax import config_bridge
from p4d_jax import run_weights
from p4d_jax.evaluation import novel_view
from p4d_jax.evaluation import reenactment
from p4d_jax.media import atomic
from p4d_jax.media import json_file
from p4d_jax.models import model as model_lib
from p4d_jax.tasks import audio2motion
from p4d_jax.tasks import motion_extractor
from p4d_jax.tasks import psi3d
from p4d_jax.tasks import psi4d
from p4d_jax.user_errors import MissingFile
from p4d_jax.user_errors import UserError


@dataclasses.dataclass(frozen=True)
class TaskKind:
  task: type              # config -> the loop's task
  evaluator: type | None  # (model, config, workdir) -> evaluate(state, step)


TASKS = {
    "psi3d": TaskKind(psi3d.Psi3dTask, novel_view.NovelViewEvaluator),
    "psi4d": TaskKind(psi4d.Psi4dTask, reenactment.ReenactmentEvaluator),
    "motion_extractor": TaskKind(motion_extractor.MotionExtractorTask,
                                 motion_extractor.ExtractorEvaluator),
    "audio2motion": TaskKind(audio2motion.Audio2MotionTask,
                             audio2motion.Audio2MotionEvaluator),
}

# (task name, preset) -> that preset's config (configs.preset): the
# package does not import configs/, its callers hand this in.
Defaults = Callable[[str, str], ml_collections.ConfigDict]


def task_kind(name: str) -> TaskKind:
  if name not in TASKS:
    raise UserError(f"config.task {name!r} is not one of {sorted(TASKS)}.")
  return TASKS[name]


def save_config(config: ml_collections.ConfigDict, workdir: str) -> str:
  """Writes the resolved config as JSON (temp name, then rename); says so
  when it differs from the one an earlier run of this workdir wrote."""
  path = os.path.join(workdir, "config.json")
  text = config.to_json_best_effort(indent=2, sort_keys=True)
  if os.path.exists(path):
    old = _read_json(path)
    new = json.loads(text)
    changed = sorted(k for k in set(old) | set(new)
                     if old.get(k) != new.get(k))
    if changed:
      print(f"[main] config differs from the one in {path} (sections "
            f"{changed}); overwriting it.", flush=True)
  return atomic.write_text(path, text)


def _read_json(path: str) -> dict:
  return json_file.read(path, "the run's config is damaged: restore it, or "
                        "start the run in a new --workdir.")


def run_config(workdir: str, defaults: Defaults | None = None,
               task: str | None = None) -> ml_collections.ConfigDict:
  """The run's saved config laid over `defaults(task, preset)` (None: the
  saved config alone). `task` set: the run must be of that task."""
  path = os.path.join(workdir, "config.json")
  if not os.path.exists(path):
    raise MissingFile(
        f"{workdir} is not a run directory: it has no config.json "
        "(python -m launch.main --workdir=DIR writes it).")
  saved = config_bridge.tuples(_read_json(path))
  name = saved.get("task")
  task_kind(name)
  if task is not None and name != task:
    raise UserError(f"{path} is a {name!r} run, not {task}.")
  if defaults is None:
    return ml_collections.ConfigDict(saved)
  config = defaults(name, saved.get("preset", "tiny"))
  unknown = sorted(set(saved) - set(config))
  if unknown:
    raise UserError(f"{path} has config sections {unknown} that this code "
                     "does not know; was it written by a newer release?")
  config.update(saved)
  return config


@dataclasses.dataclass(frozen=True)
class Run:
  name: str                               # the task: "psi3d" | "psi4d"
  config: ml_collections.ConfigDict
  model: model_lib.Model
  params: Any                             # the EMA parameters
  step: int


def load_run(workdir: str, step: int | None = None,
             defaults: Defaults | None = None, sharding=None,
             task: str | None = None) -> Run:
  """A run's model handle and EMA parameters at `step` (None: the newest),
  placed by `sharding` (default: the default device)."""
  config = run_config(workdir, defaults, task)
  model = model_lib.Model.from_config(config)
  directory = os.path.abspath(os.path.join(workdir, "checkpoints"))
  if not os.path.isdir(directory):
    raise MissingFile(f"{directory} does not exist: the run in "
                            f"{workdir} has not saved a checkpoint yet.")
  manager = run_weights.open_manager(directory)
  try:
    step = run_weights.pick_step(manager, directory, step)
    like = model.abstract_params
    if sharding is not None:
      like = jax.tree.map(lambda x: jax.ShapeDtypeStruct(
          x.shape, x.dtype, sharding=sharding), like)
    params = run_weights.restore_params(manager, step, like, item="ema")
  finally:
    manager.close()
  return Run(config.task, config, model, params, step)

