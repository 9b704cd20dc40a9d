"""The renderer's static settings, `RenderConfig`, and the tri-plane options
it names (plane axes, aggregation).

Plain Python, free of JAX, so config files can build and check render
settings without importing the renderer or starting a JAX backend.
"""

from __future__ import annotations

import dataclasses
from typing import Literal

from p4d_jax import config_bridge
from p4d_jax.rendering import camera_settings

PlaneAxes = Literal["p4d", "eg3d"]

# (gx, gy) world axes of planes 0, 1, 2. Plane 1 is the one that differs.
PLANE_AXES = {
    "p4d": ((0, 1), (1, 2), (2, 0)),
    "eg3d": ((0, 1), (0, 2), (2, 0)),
}
AGGREGATIONS = ("mean", "sum")


def check_options(plane_axes: str | None = None,
                  aggregation: str | None = None) -> None:
  """Raises a ValueError naming the choices for an unknown option."""
  if plane_axes is not None and plane_axes not in PLANE_AXES:
    raise ValueError(f"Unknown plane_axes {plane_axes!r}; use one of "
                     f"{tuple(PLANE_AXES)}.")
  if aggregation is not None and aggregation not in AGGREGATIONS:
    raise ValueError(f"Unknown aggregation {aggregation!r}; use one of "
                     f"{AGGREGATIONS}.")


@dataclasses.dataclass(frozen=True)
class RenderConfig:
  """Static rendering options (hashable: usable as a jit static argument).

  Attributes:
    num_coarse: stratified samples per ray (S).
    num_fine: importance samples per ray (0 disables the fine pass).
    box_warp: side of the world box mapped onto the planes.
    plane_axes: "p4d" ((x,y),(y,z),(z,x)) or "eg3d" ((x,y),(x,z),(z,x)).
    aggregation: "mean" or "sum" of the three plane features.
    ray_range: fixed (near, far), or None for Portrait4D's auto-plane range
      |cam_z| -+ box_warp * box_warp_scale / 2 (needs the cameras).
    disparity: stratify in inverse depth (EG3D option; fixed range only).
    jitter: "per_camera" (one stratified jitter per camera and sample, shared
      by its rays, as Portrait4D) or "per_ray" (EG3D).
    white_background: add the residual transmittance to every channel.
    chunk_rays: rays per chunk (None renders all rays at once); chunks run
      sequentially under lax.map. This bounds the forward's memory; a
      gradient's memory is bounded only with `remat`.
    remat: recompute each chunk in the backward pass instead of storing it
      (only when there are several chunks).
    camera_convention: axis convention of cameras given to `render_image`.
  """
  num_coarse: int = 48
  num_fine: int = 48
  box_warp: float = 1.3
  plane_axes: PlaneAxes = "p4d"
  aggregation: str = "mean"
  ray_range: tuple[float, float] | None = None
  disparity: bool = False
  jitter: Literal["per_camera", "per_ray"] = "per_camera"
  white_background: bool = False
  chunk_rays: int | None = None
  remat: bool = False
  camera_convention: camera_settings.Convention = "p4d"

  def __post_init__(self):
    if self.num_coarse < 2:
      raise ValueError(f"num_coarse must be >= 2, got {self.num_coarse}.")
    if self.num_fine and self.num_coarse < 4:
      raise ValueError("Importance sampling needs num_coarse >= 4.")
    if self.jitter not in ("per_camera", "per_ray"):
      raise ValueError(f"Unknown jitter mode {self.jitter!r}.")
    if self.disparity and self.ray_range is None:
      raise ValueError("disparity sampling needs a fixed ray_range.")
    check_options(self.plane_axes, self.aggregation)
    camera_settings.check_convention(self.camera_convention)

  def config_fields(self) -> dict:
    """The fields for a config file; `from_config` inverts it. A config has
    no None to override later, so the auto-plane range is the string
    "auto-plane"."""
    fields = config_bridge.to_fields(self)
    fields["ray_range"] = fields["ray_range"] or "auto-plane"
    return fields

  @classmethod
  def from_config(cls, config) -> "RenderConfig":
    """From a `configs/render.py` ConfigDict (or any mapping of the fields)."""
    fields = dict(config)
    if fields.get("ray_range") == "auto-plane":
      fields["ray_range"] = None
    return config_bridge.from_fields(cls, fields, "config.render")

  @classmethod
  def preset(cls, name: str, **overrides) -> "RenderConfig":
    """The reference renderers' settings: "p4d" (default) or "eg3d" (FFHQ)."""
    presets = {
        "p4d": dict(),
        "eg3d": dict(box_warp=1.0, plane_axes="eg3d", ray_range=(2.25, 3.3),
                     jitter="per_ray", camera_convention="eg3d"),
    }
    if name not in presets:
      raise ValueError(f"Unknown render preset {name!r}; use one of "
                       f"{tuple(presets)}.")
    return cls(**{**presets[name], **overrides})
