"""Psi3d (static synthesizer) settings as an ml_collections config.

  get_config("tiny")    trains on this CPU: small widths, 128^2 images, 32^2
                        neural rendering, 24 + 24 samples
  get_config("paper")   the released network: 512^2 input, 128^2 neural
                        rendering, 48 + 48 samples, batch 32

Super-resolution gives 4x the neural resolution, so image_size is 4x it.
`model` holds every part's sizes (`synthesizer.SynthesizerSizes` fields);
`sizes_from_config(config.model)` builds them. The training loop (next) adds
its own sections; the render section is configs/render.py's.
"""

import dataclasses

import ml_collections

from p4d_jax.models import synthesizer


def _section(obj) -> ml_collections.ConfigDict:
  return ml_collections.ConfigDict({
      f.name: (list(v) if isinstance(v := getattr(obj, f.name), tuple) else v)
      for f in dataclasses.fields(obj)})


def get_config(arg: str = "tiny") -> ml_collections.ConfigDict:
  presets = {
      "tiny": dict(sizes=synthesizer.SynthesizerSizes.tiny(), image=128,
                   neural=32, samples=24, batch=4),
      "paper": dict(sizes=synthesizer.SynthesizerSizes.paper(), image=512,
                    neural=128, samples=48, batch=32),
  }
  if arg not in presets:
    raise ValueError(f"configs/psi3d.py: unknown argument {arg!r}; use one of "
                     f"{sorted(presets)}.")
  p = presets[arg]
  config = ml_collections.ConfigDict()
  config.model = ml_collections.ConfigDict(
      {f.name: _section(getattr(p["sizes"], f.name))
       if dataclasses.is_dataclass(getattr(p["sizes"], f.name))
       else getattr(p["sizes"], f.name)
       for f in dataclasses.fields(p["sizes"])})
  config.image_size = p["image"]
  config.neural_resolution = p["neural"]
  config.samples_per_ray = p["samples"]
  config.batch_size = p["batch"]
  config.optimizer = ml_collections.ConfigDict(dict(
      lr=1e-4, b1=0.9, b2=0.999, eps=1e-5, motion_lr_scale=2.5))
  return config


def sizes_from_config(model: ml_collections.ConfigDict
                      ) -> synthesizer.SynthesizerSizes:
  """The inverse of get_config's `model` section; unknown keys are errors."""
  parts = {}
  for f in dataclasses.fields(synthesizer.SynthesizerSizes):
    default = f.default
    if dataclasses.is_dataclass(default):
      section = dict(model[f.name])
      names = {g.name for g in dataclasses.fields(default)}
      unknown = set(section) - names
      if unknown:
        raise ValueError(f"model.{f.name}: unknown key(s) {sorted(unknown)}; "
                         f"known: {sorted(names)}.")
      parts[f.name] = type(default)(**{
          k: tuple(v) if isinstance(v, list) else v
          for k, v in section.items()})
    else:
      parts[f.name] = model[f.name]
  return synthesizer.SynthesizerSizes(**parts)
