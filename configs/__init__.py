"""Experiment configs: `get_config(arg)` per file, loaded by launch.main as
--config=configs/NAME.py:ARG."""

import importlib

import ml_collections


# Tasks whose config file is not named after the task.
_CONFIG_FILES = {"motion_extractor": "motion"}


def preset(task: str, arg: str) -> ml_collections.ConfigDict:
  """The task's config file's get_config(arg) (configs/<task>.py unless
  _CONFIG_FILES says otherwise): what a saved run of that task and preset is
  laid over when it is loaded (`p4d_jax.tasks.runs.load_run`)."""
  module = _CONFIG_FILES.get(task, task)
  return importlib.import_module(f"configs.{module}").get_config(arg)


def pick(presets: dict, arg: str, name: str):
  """presets[arg] of configs/<name>.py, or an error naming the known ones."""
  if arg not in presets:
    raise ValueError(f"configs/{name}.py: unknown argument {arg!r}; use one "
                     f"of {sorted(presets)}.")
  return presets[arg]


def supervised_sections(config: ml_collections.ConfigDict, lr: float,
                        steps: int, every: int) -> None:
  """The `optimizer`, `sharding_rules` and `train` sections the small
  supervised tasks share (p4d_jax/train/supervised.py): AdamW with 100
  warm-up steps, parameters replicated, a checkpoint and an evaluation
  every `every` steps."""
  config.optimizer = ml_collections.ConfigDict(dict(
      lr=lr, warmup_steps=100, b1=0.9, b2=0.999, eps=1e-8,
      weight_decay=1e-4))
  config.sharding_rules = ((".*", "replicate"),)
  config.train = ml_collections.ConfigDict(dict(
      total_steps=steps, log_every=100, checkpoint_every=every,
      eval_every=every, max_to_keep=2, seed=0, mesh=(("data", -1),),
      resume_from="", init_from=""))
