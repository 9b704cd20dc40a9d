"""Every config file loads with each documented argument."""

import dataclasses
import importlib
import json
import os
import subprocess
import sys

import ml_collections
import pytest

from p4d_jax import config_bridge
from p4d_jax.models import sizes as sizes_lib
from p4d_jax.rendering import render_config
from p4d_jax.train import loop

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(
    __file__))))


def _load(name):
  return importlib.import_module(f"configs.{name}")


@pytest.mark.parametrize("arg", ["p4d", "eg3d", "tiny"])
def test_render_config_presets_build_render_configs(arg):
  cfg = render_config.RenderConfig.from_config(_load("render").get_config(arg))
  expected = {"p4d": render_config.RenderConfig(),
              "eg3d": render_config.RenderConfig.preset("eg3d"),
              "tiny": render_config.RenderConfig(num_coarse=12,
                                                 num_fine=12)}[arg]
  assert cfg == expected


def test_render_config_rejects_typos():
  module = _load("render")
  with pytest.raises(ValueError, match="unknown argument"):
    module.get_config("p4dd")
  config = module.get_config("p4d")
  config.lock()  # As the command-line loader does.
  with pytest.raises(AttributeError):
    config.num_corase = 3  # pylint: disable=attribute-defined-outside-init
  with pytest.raises(ValueError, match=r"config.render: unknown key"):
    render_config.RenderConfig.from_config({**config.to_dict(),
                                            "num_corase": 3})


@pytest.mark.parametrize("arg", ["tiny", "small", "paper"])
def test_psi3d_config_round_trips_the_model_sizes(arg):
  module = _load("psi3d")
  config = module.get_config(arg)
  config.lock()
  sizes = sizes_lib.SynthesizerSizes.from_config(config.model)
  tiny = sizes_lib.SynthesizerSizes.tiny()
  tiny = dataclasses.replace(tiny, superres=dataclasses.replace(
      tiny.superres, widths=(16,)))
  expected = {"tiny": tiny, "small": tiny,
              "paper": sizes_lib.SynthesizerSizes.paper()}[arg]
  assert sizes == expected
  factor = sizes.superres.factor
  assert config.neural_resolution * factor == config.image_size


def test_small_is_tiny_at_128_with_an_8x8_motion_grid():
  """The expression config (issue 18): tiny's widths at 128^2, so 8x8
  canonical tokens (the global features are image / 8, patches / 2), and
  as many motion tokens."""
  psi = _load("psi4d")
  tiny, small = psi.get_config("tiny"), psi.get_config("small")
  assert (small.image_size, small.neural_resolution) == (128, 64)
  assert small.model.canonical.motion_grid == 8
  assert tiny.model.canonical.motion_grid == 2
  assert small.image_size // 8 // 2 == small.model.canonical.motion_grid
  assert psi.get_config("small_oracle").motion.kind == "oracle"
  assert small.eval.synthheads_size == "demo128"
  assert _load("pseudo_views").get_config("small").data.size == "demo128"


def test_psi3d_config_rejects_unknown_arguments_and_keys():
  module = _load("psi3d")
  with pytest.raises(ValueError, match="unknown argument"):
    module.get_config("huge")
  config = module.get_config("tiny")
  config.model.canonical.dimm = 3
  with pytest.raises(ValueError, match=r"model.canonical: unknown key"):
    sizes_lib.SynthesizerSizes.from_config(config.model)


@pytest.mark.parametrize("arg", ["tiny", "small", "paper"])
def test_psi3d_config_builds_its_render_and_loop_settings(arg):
  config = _load("psi3d").get_config(arg)
  cfg = render_config.RenderConfig.from_config(config.render)
  samples = {"tiny": 24, "small": 24, "paper": 48}[arg]
  assert (cfg.num_coarse, cfg.num_fine, cfg.box_warp) == (samples, samples,
                                                          1.3)
  loop_cfg = loop_config(config.train)
  assert loop_cfg.mesh == (("data", -1),)
  assert loop_cfg.total_steps > loop_cfg.checkpoint_every > 0


def test_psi3d_task_checks_the_resolution_after_overrides():
  from p4d_jax.tasks import psi3d   # pylint: disable=import-outside-toplevel
  config = _load("psi3d").get_config("tiny")
  config.neural_resolution = 16   # as --config.neural_resolution=16 would
  with pytest.raises(ValueError, match="neural_resolution 16 .* image_size 64"):
    psi3d.Psi3dTask(config)


def loop_config(train):
  """config.train as launch.main reads it."""
  return config_bridge.from_fields(loop.LoopConfig, train, "config.train")


def test_train_section_rejects_unknown_keys():
  config = _load("psi3d").get_config("tiny")
  train = dict(config.train, totl_steps=3)
  with pytest.raises(ValueError, match=r"config.train: unknown key\(s\) "
                     r"\['totl_steps'\]"):
    loop_config(train)



def test_command_line_overrides_as_documented():
  """`--config.KEY=VALUE` as launch.main parses it (absl flags in a fresh
  process): tuples as strings work; a misspelt key is an error (the config
  is locked)."""
  code = ("import sys; from absl import flags; from ml_collections import "
          "config_flags; c = config_flags.DEFINE_config_file('config', None, "
          "'', lock_config=True); flags.FLAGS(sys.argv); "
          "print(c.value.to_json())")

  def parse(*args):
    return subprocess.run(
        [sys.executable, "-c", code, "--config=configs/psi3d.py:tiny", *args],
        capture_output=True, text=True, check=False, cwd=ROOT)

  done = parse('--config.train.mesh=(("data", 4), ("fsdp", 2))',
               "--config.loss.depth=0.5",
               "--config.model.superres.widths=(32,)")
  assert done.returncode == 0, done.stderr[-2000:]
  config = ml_collections.ConfigDict(json.loads(done.stdout))
  assert loop_config(config.train).mesh == (("data", 4), ("fsdp", 2))
  assert config.loss.depth == 0.5
  assert sizes_lib.SynthesizerSizes.from_config(
      config.model).superres.widths == (32,)
  typo = parse("--config.train.totl_steps=3")
  assert typo.returncode != 0 and "totl_steps" in typo.stderr
