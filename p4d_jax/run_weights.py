"""The project's one on-disk form for trained and converted weights: a run
directory.

    RUN/config.json            the resolved config; `task` says what for
    RUN/checkpoints/<step>/    Orbax: `state` = {params, ema, ...} and, for
                               training runs, `data` (the grain position)

Training (`launch.main`) writes it with the optimizer state and data
position; `write` makes one with parameters alone (converters, extracted
sub-networks). Everything that reads weights (`train.init_from`, run
loading, the pretrained motion source, the LPIPS and Inception loaders)
reads them through `restore_params`, by parameter path, so any run that
holds a module's parameters under the same paths can provide them.
"""

from __future__ import annotations

import contextlib
import os
import re

from absl import logging
import jax
import orbax.checkpoint as ocp

from p4d_jax import tree_paths
from p4d_jax.media import atomic
from p4d_jax.media import json_file
from p4d_jax.user_errors import MissingFile
from p4d_jax.user_errors import UserError


def checkpoints_dir(path: str) -> str:
  """A run directory or its checkpoints/ directory -> the latter."""
  inner = os.path.join(path, "checkpoints")
  return os.path.abspath(inner if os.path.isdir(inner) else path)


def open_manager(directory: str) -> ocp.CheckpointManager:
  """A read-only manager over the `state` item of a checkpoints dir."""
  if not os.path.isdir(directory):
    raise MissingFile(f"{directory} does not exist: no weights there "
                      "(a run directory or its checkpoints/).")
  with _quiet_orbax():
    return ocp.CheckpointManager(
        directory, options=ocp.CheckpointManagerOptions(read_only=True),
        item_handlers={"state": ocp.StandardCheckpointHandler()})


@contextlib.contextmanager
def _quiet_orbax():
  """Orbax warns, on reading, about every saving option a read-only manager
  turns off, the directory being read-only and the items not restored (the
  data position): expected here, so not shown."""
  verbosity = logging.get_verbosity()
  logging.set_verbosity(logging.ERROR)
  try:
    yield
  finally:
    logging.set_verbosity(verbosity)


def pick_step(manager: ocp.CheckpointManager, directory: str,
              step: int | None) -> int:
  steps = manager.all_steps()
  if not steps:
    raise MissingFile(f"{directory} holds no checkpoint yet.")
  if step is None:
    return max(steps)
  if step not in steps:
    raise MissingFile(f"{directory} has no step {step}; it has "
                      f"{sorted(steps)}.")
  return step


def restore_params(manager: ocp.CheckpointManager, step: int, like,
                   item: str = "ema", prefix: str = "", fresh=None,
                   fresh_pattern: str | None = None):
  """One parameter tree of a saved state (`item` "params" or "ema"), in the
  structure, dtypes and shardings of `like` (arrays or abstract ones),
  whatever else the saved state holds. Leaves are matched by path name
  (`tree_paths`), with `prefix` + "/" before each name on the saved side
  (a sub-network of a larger model). Leaves whose name matches
  `fresh_pattern` come from `fresh` (a tree like `like`) instead."""
  directory = str(manager.directory)
  with _quiet_orbax():
    meta = manager.item_metadata(step)["state"]
  if item not in meta:
    raise KeyError(f"{directory} step {step} has no {item!r}; it has "
                   f"{sorted(meta)}.")
  target = jax.tree.map(lambda m: jax.ShapeDtypeStruct(m.shape, m.dtype),
                        meta)
  with _quiet_orbax():
    restored = manager.restore(step, args=ocp.args.Composite(
        state=ocp.args.StandardRestore(target)))["state"][item]
  saved = tree_paths.named_leaves(restored)
  flat, treedef = jax.tree_util.tree_flatten_with_path(like)
  fresh_leaves = (jax.tree.leaves(fresh) if fresh is not None
                  else [None] * len(flat))
  head = f"{prefix}/" if prefix else ""
  leaves = []
  for (path, want), new in zip(flat, fresh_leaves):
    name = tree_paths.path_name(path)
    if new is not None and fresh_pattern and re.search(fresh_pattern, name):
      leaves.append(new)
      continue
    value = saved.get(head + name)
    if value is None or value.shape != want.shape:
      found = "missing" if value is None else f"shape {value.shape}"
      raise UserError(
          f"{directory} step {step} {item}: parameter {head + name} is "
          f"{found}, the model wants {want.shape}. Was it written by a "
          "model of another size?")
    leaves.append(jax.device_put(value.astype(want.dtype),
                                 getattr(want, "sharding", None)))
  return jax.tree.unflatten(treedef, leaves)


def read_params(path: str, like, item: str = "ema", prefix: str = "",
                step: int | None = None):
  """`restore_params` from a run directory (or its checkpoints/), at `step`
  (None: the newest)."""
  directory = checkpoints_dir(path)
  manager = open_manager(directory)
  try:
    return restore_params(manager, pick_step(manager, directory, step), like,
                          item, prefix)
  finally:
    manager.close()


def read_config(path: str, task: str, how_to_make: str) -> dict:
  """config.json of the run at `path` (the run directory or its
  checkpoints/), which must be a `task` run: what a loader of converted
  weights checks before reading them, with errors that name the path and
  say `how_to_make` the right run."""
  if not os.path.isdir(path):
    raise MissingFile(f"no {task} weights at {path}: {how_to_make}")
  run = os.path.abspath(path)
  if os.path.basename(run) == "checkpoints":
    run = os.path.dirname(run)
  config_path = os.path.join(run, "config.json")
  if not os.path.exists(config_path):
    raise MissingFile(f"{path} is not a run directory (no config.json): "
                      f"{how_to_make}")
  config = json_file.read(config_path, how_to_make)
  found = config.get("task") if isinstance(config, dict) else None
  if found != task:
    raise UserError(f"{config_path} is a {found!r} run, not {task!r} "
                     f"weights: {how_to_make}")
  return config


def write(path: str, config: dict, params, step: int = 0,
          extra: dict | None = None) -> str:
  """A run directory holding `params` (as both params and ema), the other
  items of `extra` beside them (read back with `read_params(path, like,
  item=NAME)`), and `config` (a dict with at least `task`): what converters
  and tools/adapt.py write."""
  if "task" not in config:
    raise ValueError("write: the config must name its `task`.")
  os.makedirs(path, exist_ok=True)
  manager = ocp.CheckpointManager(
      os.path.join(os.path.abspath(path), "checkpoints"),
      options=ocp.CheckpointManagerOptions(create=True),
      item_handlers={"state": ocp.StandardCheckpointHandler()})
  try:
    manager.save(step, args=ocp.args.Composite(
        state=ocp.args.StandardSave(dict(params=params, ema=params,
                                         **(extra or {})))),
                 force=True)
    manager.wait_until_finished()
  finally:
    manager.close()
  atomic.write_json(os.path.join(path, "config.json"), config, indent=2,
                    sort_keys=True)
  return path
