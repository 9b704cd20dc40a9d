"""The one bridge between frozen dataclasses (sizes, settings) and the
plain nested fields of an ml_collections config.

    config.model = ConfigDict(to_fields(SynthesizerSizes.tiny()))
    sizes = from_fields(SynthesizerSizes, config.model, "config.model")

Tuples stay tuples (the command line overrides tuples, not lists); JSON's
lists come back as tuples; a key the dataclass lacks is an error that names
it; a key the config lacks takes the dataclass's default.
"""

from __future__ import annotations

import dataclasses
from typing import Any

from p4d_jax.user_errors import UserError


def to_fields(obj) -> dict:
  """A dataclass instance -> nested dicts of its fields."""
  return {f.name: (to_fields(v) if dataclasses.is_dataclass(
      v := getattr(obj, f.name)) else v) for f in dataclasses.fields(obj)}


def tuples(value):
  """JSON's lists back to the tuples configs use, inside dicts too."""
  if isinstance(value, dict):
    return {k: tuples(v) for k, v in value.items()}
  if isinstance(value, (list, tuple)):
    return tuple(tuples(v) for v in value)
  return value


def from_fields(cls: type, section: Any, where: str):
  """Nested fields (a ConfigDict or dict) -> an instance of dataclass
  `cls`; `where` names the section in errors."""
  fields = {f.name: f for f in dataclasses.fields(cls)}
  given = dict(section)
  unknown = set(given) - set(fields)
  if unknown:
    raise UserError(f"{where}: unknown key(s) {sorted(unknown)}; known: "
                     f"{sorted(fields)}.")
  values = {}
  for name, value in given.items():
    field = fields[name]
    default = (field.default_factory()
               if field.default_factory is not dataclasses.MISSING
               else field.default)
    if dataclasses.is_dataclass(default):
      values[name] = from_fields(type(default), value, f"{where}.{name}")
    else:
      values[name] = tuples(value)
  return cls(**values)
