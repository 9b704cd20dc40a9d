"""A trained Psi as an avatar: one source image, then any driving frames and
cameras.

The source's part of the network (global and detail encoders, the motion
neutralisation, the background) runs once in `prepare`; each frame then
runs only the motion encoder of the driving image, the motion blocks, the
tri-plane decoder and the renderer, in one jitted call for a batch of
frames.

    avatar = Avatar(task, params)
    src = avatar.prepare(source)                    # [S, S, 3] in [-1, 1]
    out = avatar.render(src, driving, c2w, intr)    # [B, S, S, 3], [B, 4, 4]
    out["image"], out["depth"], out["mask"]
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np

from p4d_jax.rendering import camera_settings
from p4d_jax.rendering import cameras
from p4d_jax.rendering import render as render_lib

# The centre of Portrait4D's training camera ranges (`RandomViewRanges`):
# the camera for a source or driving frame whose pose is unknown.
_RANGES = camera_settings.RandomViewRanges()
FRONTAL = dict(elevation=sum(_RANGES.elevation_param) / 2,
               radius=sum(_RANGES.radius) / 2,
               pivot=(0.0, 0.0, sum(_RANGES.pivot_z) / 2))


def view_label(yaw: float = 0.0, elevation: float = FRONTAL["elevation"],
               radius: float = FRONTAL["radius"]) -> np.ndarray:
  """A head-frame camera label [25] at `yaw` (radians, 0 = frontal) with the
  training cameras' focal length."""
  c2w = cameras.random_view_pose(yaw, elevation, 0.0, radius,
                                 jnp.asarray(FRONTAL["pivot"]))
  return np.asarray(cameras.pack_label(
      c2w, cameras.focal_intrinsics(cameras.P4D_FOCAL)), np.float32)


def orbit_labels(count: int, max_yaw: float = 0.6) -> np.ndarray:
  """Labels [count, 25] swinging the camera from frontal to +-max_yaw."""
  t = np.arange(count) / max(count, 1)
  return np.stack([view_label(float(max_yaw * np.sin(2 * np.pi * x)))
                   for x in t])


class Avatar:
  """`task` is a `Psi4dTask` and `params` its (EMA) parameters."""

  def __init__(self, task, params):
    self.task, self.params = task, params
    self.image_size = task.config.image_size
    self.neural_resolution = task.config.neural_resolution
    self._prepare = jax.jit(self._prepare_fn)
    self._render = jax.jit(self._render_fn)
    self._density = jax.jit(self._density_fn, static_argnames=("resolution",))

  def _prepare_fn(self, params, source):
    model = self.task.model(params)
    image = source[None]
    one = jnp.ones((1,), image.dtype)
    return dict(state=model.source_state(image, model.motion_encoder(image),
                                         one),
                background=model.background_image(image,
                                                  self.neural_resolution))

  def _planes(self, params, prepared, driving):
    model = self.task.model(params)
    b = driving.shape[0]
    state = jax.tree.map(lambda x: jnp.broadcast_to(x, (b, *x.shape[1:])),
                         prepared["state"])
    return model.animate(state, model.motion_encoder(driving),
                         jnp.ones((b,), driving.dtype))

  def _render_fn(self, params, prepared, driving, c2w, intrinsics):
    model = self.task.model(params)
    planes = self._planes(params, prepared, driving)
    bg = jnp.broadcast_to(prepared["background"],
                          (driving.shape[0], *prepared["background"].shape[1:]))
    out = model.render_planes(planes, bg, c2w, intrinsics,
                              resolution=self.neural_resolution,
                              cfg=self.task.render_cfg, key=jax.random.key(0))
    return dict(image=out["image"], depth=out["depth"], mask=out["mask"])

  def _density_fn(self, params, prepared, driving, resolution):
    planes = self._planes(params, prepared, driving[None])
    cfg = self.task.render_cfg
    field = render_lib.triplane_field(planes, self.task.model(params).decoder,
                                      cfg)
    axis = jnp.linspace(-cfg.box_warp / 2, cfg.box_warp / 2, resolution)
    grid = jnp.stack(jnp.meshgrid(axis, axis, axis, indexing="ij"), -1)
    points = grid.reshape(resolution, resolution * resolution, 3)
    sigma = jax.lax.map(
        lambda p: field(p[None], jnp.zeros((1,), jnp.int32))[1][0], points)
    return sigma.reshape(resolution, resolution, resolution)

  def prepare(self, source: np.ndarray) -> dict:
    """source [S, S, 3] in [-1, 1] -> its cached part of the network."""
    self._check(source[None], "source")
    return self._prepare(self.params, jnp.asarray(source, jnp.float32))

  def render(self, prepared: dict, driving: np.ndarray, labels: np.ndarray
             ) -> dict:
    """driving [B, S, S, 3] in [-1, 1], camera labels [B, 25] -> numpy image
    [B, S, S, 3] in [-1, 1], depth [B, n, n] and mask [B, n, n] in [-1, 1]."""
    self._check(driving, "driving")
    c2w, intrinsics = cameras.unpack_label(jnp.asarray(labels, jnp.float32))
    out = self._render(self.params, prepared,
                       jnp.asarray(driving, jnp.float32), c2w, intrinsics)
    return {k: np.asarray(v) for k, v in out.items()}

  def density(self, prepared: dict, driving: np.ndarray,
              resolution: int = 96) -> np.ndarray:
    """Density [R, R, R] of the head driven by one frame [S, S, 3], on a
    grid over the render box (`box_warp`, axis order x, y, z)."""
    self._check(driving[None], "driving")
    return np.asarray(self._density(self.params, prepared,
                                    jnp.asarray(driving, jnp.float32),
                                    resolution=resolution))

  @property
  def box(self) -> float:
    """Side of the cube `density` samples, centred on the origin."""
    return self.task.render_cfg.box_warp

  def _check(self, images: np.ndarray, what: str):
    want = (self.image_size, self.image_size, 3)
    if images.ndim != 4 or images.shape[1:] != want:
      raise ValueError(f"The {what} frames are {images.shape[1:]}; this "
                       f"model takes {want} (crop or resize them first).")
