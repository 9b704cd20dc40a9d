"""Camera settings as plain Python: the axis conventions' names and
Portrait4D's random-view ranges.

Free of JAX so that config files and settings dataclasses (`RenderConfig`)
can name them without starting a JAX backend; what the conventions mean and
how views are drawn from the ranges is `cameras.py`'s.
"""

from __future__ import annotations

import dataclasses
from typing import Literal

Convention = Literal["p4d", "eg3d"]
CONVENTIONS = ("p4d", "eg3d")


def check_convention(convention: str) -> None:
  """Raises a ValueError naming the choices for an unknown convention."""
  if convention not in CONVENTIONS:
    raise ValueError(
        f"Unknown camera convention {convention!r}; use one of {CONVENTIONS}.")


@dataclasses.dataclass(frozen=True)
class RandomViewRanges:
  """Uniform ranges of Portrait4D's random training view (radians, world units).

  yaw: offset of the horizontal angle from frontal; positive yaw moves a p4d
  camera towards -x. elevation_param: `a` in vertical = pi/2 - a (a > 0 puts
  the camera above the face). Pivot and radius ranges as in the reference.
  """
  yaw: tuple[float, float] = (-0.78, 0.78)
  elevation_param: tuple[float, float] = (-0.25, 0.65)
  roll: tuple[float, float] = (-0.25, 0.25)
  radius: tuple[float, float] = (3.65, 4.45)
  pivot_xy: tuple[float, float] = (-0.03, 0.03)
  pivot_z: tuple[float, float] = (0.06, 0.12)
