"""Every config file loads with each documented argument."""

import importlib.util
import os

import pytest

from p4d_jax.rendering import render

_CONFIGS = os.path.join(os.path.dirname(os.path.dirname(os.path.dirname(
    os.path.abspath(__file__)))), "configs")


def _load(name):
  spec = importlib.util.spec_from_file_location(name, os.path.join(
      _CONFIGS, name + ".py"))
  module = importlib.util.module_from_spec(spec)
  spec.loader.exec_module(module)
  return module


@pytest.mark.parametrize("arg", ["p4d", "eg3d", "tiny"])
def test_render_config_presets_build_render_configs(arg):
  cfg = render.RenderConfig.from_config(_load("render").get_config(arg))
  expected = {"p4d": render.RenderConfig(),
              "eg3d": render.RenderConfig.preset("eg3d"),
              "tiny": render.RenderConfig(num_coarse=12, num_fine=12)}[arg]
  assert cfg == expected


def test_render_config_rejects_typos():
  module = _load("render")
  with pytest.raises(ValueError, match="unknown argument"):
    module.get_config("p4dd")
  config = module.get_config("p4d")
  config.lock()  # As the command-line loader does.
  with pytest.raises(AttributeError):
    config.num_corase = 3  # pylint: disable=attribute-defined-outside-init
  with pytest.raises(ValueError, match="Unknown render option"):
    render.RenderConfig.from_config({**config.to_dict(), "num_corase": 3})


@pytest.mark.parametrize("arg", ["tiny", "paper"])
def test_psi3d_config_round_trips_the_model_sizes(arg):
  from p4d_jax.models import synthesizer
  module = _load("psi3d")
  config = module.get_config(arg)
  config.lock()
  sizes = module.sizes_from_config(config.model)
  expected = {"tiny": synthesizer.SynthesizerSizes.tiny(),
              "paper": synthesizer.SynthesizerSizes.paper()}[arg]
  assert sizes == expected
  assert config.neural_resolution * 4 == config.image_size   # SR is 4x


def test_psi3d_config_rejects_unknown_arguments_and_keys():
  module = _load("psi3d")
  with pytest.raises(ValueError, match="unknown argument"):
    module.get_config("huge")
  config = module.get_config("tiny")
  config.model.canonical.dimm = 3
  with pytest.raises(ValueError, match=r"model.canonical: unknown key"):
    module.sizes_from_config(config.model)
