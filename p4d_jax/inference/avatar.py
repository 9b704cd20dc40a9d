"""A trained Psi as an avatar: one source image, then any driving frames and
cameras.

The source's part of the network (global and detail encoders, the motion
neutralisation, the background) runs once in `prepare`; each frame then
runs only the motion source on the driving frame, the motion blocks, the
tri-plane decoder and the renderer, in one jitted call for a batch of
frames. The model is a `models.model.Model`. Driving frames need a motion
source that reads images (the oracle needs SynthHeads parameters, which
real frames lack); motion codes (`render_codes`, e.g. expressions from
speech, `expression_codes`) drive any model.

    avatar = Avatar(model, params)
    src = avatar.prepare(source, source_label)      # [S, S, 3], [25]
    out = avatar.render(src, driving, labels, driving_labels)
    out["image"], out["depth"], out["mask"]         # driving [B, S, S, 3]
    out = avatar.render_codes(src, codes, labels)   # codes [B, D]

`labels` are the cameras to render at; `driving_labels` the driving
frames' own cameras (default: `labels`), which a motion source that aligns
its crop by the camera (`pretrained`) reads with the frames.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np

from p4d_jax import user_errors
from p4d_jax.models.motion import source as motion_source
from p4d_jax.rendering import camera_settings
from p4d_jax.rendering import cameras

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
  """`model` is a Psi `models.model.Model` and `params` its (EMA)
  parameters."""

  def __init__(self, model, params):
    if model.motion_reads is None:
      raise user_errors.UserError(
          "A Psi3d run has no motion source; use a Psi run.")
    self.model, self.params = model, params
    self.image_size = model.image_size
    self._prepare = jax.jit(self._prepare_fn)
    self._codes = jax.jit(self._motion)
    self._render = jax.jit(self._render_fn)
    self._density = jax.jit(self._density_fn, static_argnames=("resolution",))

  def _motion(self, params, images, labels):
    frames = (dict(image=images, camera=labels)
              if self.model.motion_reads == "framed" else images)
    return self.model.motion_code(params, frames)

  def _prepare_fn(self, params, source, label, code):
    image = source[None]
    motion = (self._motion(params, image, label[None]) if code is None
              else code[None])
    return self.model.encode_source(params, image, motion)

  def _planes(self, params, prepared, motion):
    b = motion.shape[0]
    source = jax.tree.map(lambda x: jnp.broadcast_to(x, (b, *x.shape[1:])),
                          prepared)
    return self.model.animate(params, source, motion), source

  def _render_fn(self, params, prepared, motion, c2w, intrinsics):
    planes, source = self._planes(params, prepared, motion)
    out = self.model.render(params, planes, source["background"], c2w,
                            intrinsics, jax.random.key(0))
    return dict(image=out["image"], depth=out["depth"], mask=out["mask"])

  def _density_fn(self, params, prepared, driving, label, resolution):
    motion = self._motion(params, driving[None], label[None])
    planes, _ = self._planes(params, prepared, motion)
    return self.model.density_grid(params, planes, resolution)

  def prepare(self, source: np.ndarray, label: np.ndarray | None = None,
              code: np.ndarray | None = None) -> dict:
    """source [S, S, 3] in [-1, 1] and its camera label [25] (default:
    frontal) -> its cached part of the network. `code` [D]: the source's
    motion code (default: the motion source reads the image)."""
    self._check(source[None], "source", reads_motion=code is None)
    return self._prepare(self.params, jnp.asarray(source, jnp.float32),
                         self._label(label),
                         None if code is None else jnp.asarray(code,
                                                               jnp.float32))

  def expression_codes(self, expressions: np.ndarray) -> np.ndarray:
    """Standardised SynthHeads expressions [B, E] -> motion codes [B, D]
    (zero beyond E): what the `oracle` source makes of them, and the space
    the `pretrained` extractor's outputs fill."""
    return np.asarray(motion_source.pad_to(
        jnp.asarray(expressions, jnp.float32),
        self.model.sizes.canonical.motion_dim))

  def motion_codes(self, frames: np.ndarray, labels: np.ndarray
                   ) -> jax.Array:
    """Frames [B, S, S, 3] in [-1, 1] with their camera labels [B, 25] ->
    the motion source's codes [B, D]."""
    self._check(frames, "motion")
    return self._codes(self.params, jnp.asarray(frames, jnp.float32),
                       jnp.asarray(labels, jnp.float32))

  def render(self, prepared: dict, driving: np.ndarray, labels: np.ndarray,
             driving_labels: np.ndarray | None = None, params=None) -> dict:
    """driving [B, S, S, 3] in [-1, 1], camera labels [B, 25] to render at,
    the driving frames' own [B, 25] (default: `labels`) -> numpy image
    [B, S, S, 3] in [-1, 1], depth [B, n, n] and mask [B, n, n] in [-1, 1].
    `params`: other parameters of the same model (an adapted avatar's;
    default: this avatar's)."""
    self._check(driving, "driving")
    params = self.params if params is None else params
    own = labels if driving_labels is None else driving_labels
    motion = self._codes(params, jnp.asarray(driving, jnp.float32),
                         jnp.asarray(own, jnp.float32))
    return self.render_codes(prepared, motion, labels, params)

  def render_codes(self, prepared: dict, codes, labels: np.ndarray,
                   params=None) -> dict:
    """`render` driven by motion codes [B, D] instead of frames."""
    c2w, intrinsics = cameras.unpack_label(jnp.asarray(labels, jnp.float32))
    out = self._render(self.params if params is None else params, prepared,
                       jnp.asarray(codes, jnp.float32), c2w, intrinsics)
    return {k: np.asarray(v) for k, v in out.items()}

  def density(self, prepared: dict, driving: np.ndarray,
              resolution: int = 96, label: np.ndarray | None = None
              ) -> np.ndarray:
    """Density [R, R, R] of the head driven by one frame [S, S, 3] (its
    camera label [25], default frontal), on a grid over the render box
    (`box_warp`, axis order x, y, z)."""
    self._check(driving[None], "driving")
    return np.asarray(self._density(self.params, prepared,
                                    jnp.asarray(driving, jnp.float32),
                                    self._label(label),
                                    resolution=resolution))

  @staticmethod
  def _label(label: np.ndarray | None) -> jax.Array:
    return jnp.asarray(view_label() if label is None else label, jnp.float32)

  @property
  def box(self) -> float:
    """Side of the cube `density` samples, centred on the origin."""
    return self.model.render_cfg.box_warp

  def _check(self, images: np.ndarray, what: str, reads_motion=True):
    """Before tracing, so that a mistake is one line, not a traceback."""
    want = (self.image_size, self.image_size, 3)
    if images.ndim != 4 or images.shape[1:] != want:
      raise user_errors.UserError(
          f"The {what} frames are {images.shape[1:]}; this model takes "
          f"{want} (crop or resize them first).")
    if reads_motion and self.model.motion_reads not in ("image", "framed"):
      raise user_errors.UserError(
          "Reenactment drives the avatar with images; this model's motion "
          f"source reads {self.model.motion_reads!r} (the oracle reads "
          "SynthHeads parameters). Use a Psi run whose motion.kind is "
          "learned or pretrained, or drive it with motion codes.")
