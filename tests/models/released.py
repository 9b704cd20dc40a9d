"""Parameter counts of the released Portrait4D-v2 generator, from the key and
shape list in shared/research ($P4D_SHARED_DIR overrides where shared is)."""

import functools
import json
import math
import os

import pytest

from tests import shared_dir

KEYS = os.path.join(shared_dir.SHARED, "research",
                    "p4d_v2_generator_keys.json")

needs_keys = pytest.mark.skipif(not os.path.exists(KEYS),
                                reason="needs shared/research")

# Buffers in the state dict that are not learned parameters.
BUFFERS = ("resample_filter", "noise_const")


@functools.cache
def _keys() -> dict:
  with open(KEYS) as f:
    return json.load(f)


def count(prefix: str, where=lambda key: True) -> int:
  """Parameter elements under `prefix.` whose key passes `where`."""
  return sum(math.prod(shape) for key, (shape, _) in _keys().items()
             if key.startswith(prefix + ".") and not key.endswith(BUFFERS)
             and where(key))


def noise_scalars(prefix: str) -> int:
  """The noise_strength scalars, which noise-free SR never uses."""
  return sum(1 for key in _keys() if key.startswith(prefix + ".")
             and key.endswith("noise_strength"))
