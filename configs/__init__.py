"""Experiment configs: `get_config(arg)` per file, loaded by launch.main as
--config=configs/NAME.py:ARG."""

import importlib

import ml_collections


def preset(task: str, arg: str) -> ml_collections.ConfigDict:
  """configs/<task>.py's get_config(arg): what a saved run of that task and
  preset is laid over when it is loaded (`p4d_jax.tasks.runs.load_run`)."""
  return importlib.import_module(f"configs.{task}").get_config(arg)


def pick(presets: dict, arg: str, name: str):
  """presets[arg] of configs/<name>.py, or an error naming the known ones."""
  if arg not in presets:
    raise ValueError(f"configs/{name}.py: unknown argument {arg!r}; use one "
                     f"of {sorted(presets)}.")
  return presets[arg]
