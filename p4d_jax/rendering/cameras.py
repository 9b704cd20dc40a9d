"""Cameras: 25-float labels, look-at poses, intrinsics and the two axis conventions.

A camera label is 25 floats: the row-major 4x4 cam2world matrix followed by the
row-major 3x3 intrinsics normalised by image size (principal point 0.5 = centre).

Two camera-axis conventions exist and THIS module is the only place that knows
how they differ:

* ``"p4d"`` (Portrait4D, the default; OpenGL-like): camera +x right, +y up, the
  camera looks along its -z axis. A frontal camera at (0, 0, r) has rotation I.
* ``"eg3d"`` (EG3D; OpenCV-like): +x right, +y down in the image, +z forward.
  The same frontal camera has rotation diag(1, -1, -1).

The rotation columns of a p4d matrix are those of the eg3d matrix with the y and
z columns negated; the camera centre is the same. Note that the two reference
projects also use different world frames (Portrait4D: FLAME x3, camera distance
about 4, box 1.3; EG3D FFHQ: radius 2.7, box 1): that is a property of the
scene, not of the camera convention, and is not converted here.

Every function is pure jnp, broadcasts over leading dims and is jit/vmap-able.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp

from p4d_jax.rendering import camera_settings

# Portrait4D's data camera: FOV 12 degrees, normalised focal 1 / (2 tan 6 deg).
P4D_FOCAL = 4.7572
EG3D_FOCAL = 4.2647

# The reference FOV helper uses these truncated constants, not pi and sqrt(2).
_REF_PI = 3.14159
_REF_SQRT2 = 1.414


# ----------------------------------------------------------------------------
# Labels.


def pack_label(cam2world: jax.Array, intrinsics: jax.Array) -> jax.Array:
  """[..., 4, 4] cam2world and [..., 3, 3] intrinsics -> [..., 25] label."""
  lead = cam2world.shape[:-2]
  return jnp.concatenate(
      [cam2world.reshape(*lead, 16), intrinsics.reshape(*lead, 9)], axis=-1)


def unpack_label(label: jax.Array) -> tuple[jax.Array, jax.Array]:
  """[..., 25] label -> ([..., 4, 4] cam2world, [..., 3, 3] intrinsics)."""
  if label.shape[-1] != 25:
    raise ValueError(
        f"A camera label has 25 floats (16 cam2world + 9 intrinsics); got "
        f"shape {label.shape}.")
  lead = label.shape[:-1]
  return label[..., :16].reshape(*lead, 4, 4), label[..., 16:].reshape(
      *lead, 3, 3)


# ----------------------------------------------------------------------------
# Intrinsics.


def fov_to_intrinsics(fov_degrees: jax.Array) -> jax.Array:
  """Vertical FOV in degrees [...] -> normalised intrinsics [..., 3, 3].

  Reproduces the reference helper bit for bit, including its constants:
  focal = 1 / (tan(fov * 3.14159 / 360) * 1.414), principal point 0.5, no skew.
  """
  fov = jnp.asarray(fov_degrees)
  focal = 1.0 / (jnp.tan(fov * _REF_PI / 360.0) * _REF_SQRT2)
  zero, one, half = jnp.zeros_like(focal), jnp.ones_like(focal), jnp.full_like(
      focal, 0.5)
  rows = [
      jnp.stack([focal, zero, half], -1),
      jnp.stack([zero, focal, half], -1),
      jnp.stack([zero, zero, one], -1),
  ]
  return jnp.stack(rows, -2)


def intrinsics_to_fov(intrinsics: jax.Array) -> jax.Array:
  """Normalised intrinsics [..., 3, 3] -> FOV in degrees [...] (from fy).

  Exact inverse of `fov_to_intrinsics` (same truncated constants).
  """
  focal = intrinsics[..., 1, 1]
  return jnp.arctan(1.0 / (focal * _REF_SQRT2)) * 360.0 / _REF_PI


def focal_intrinsics(focal: float | jax.Array,
                     principal: float = 0.5) -> jax.Array:
  """Normalised intrinsics [..., 3, 3] with fx = fy = focal and no skew."""
  focal = jnp.asarray(focal, jnp.float32)
  zero = jnp.zeros_like(focal)
  c = jnp.full_like(focal, principal)
  return jnp.stack([
      jnp.stack([focal, zero, c], -1),
      jnp.stack([zero, focal, c], -1),
      jnp.stack([zero, zero, jnp.ones_like(focal)], -1),
  ], -2)


# ----------------------------------------------------------------------------
# Poses.


def _normalize(v: jax.Array) -> jax.Array:
  return v / jnp.linalg.norm(v, axis=-1, keepdims=True)


def look_at(origin: jax.Array,
            target: jax.Array,
            up: jax.Array | None = None,
            convention: camera_settings.Convention = "p4d") -> jax.Array:
  """Camera at `origin` [..., 3] looking at `target` [..., 3] -> [..., 4, 4].

  `up` [..., 3] (default world +y) fixes the roll: the image's up direction is
  the component of `up` orthogonal to the viewing direction.
  """
  camera_settings.check_convention(convention)
  origin = jnp.asarray(origin, jnp.float32)
  target = jnp.asarray(target, jnp.float32)
  forward = _normalize(target - origin)
  if up is None:
    up = jnp.broadcast_to(jnp.array([0.0, 1.0, 0.0], forward.dtype),
                          forward.shape)
  right = -_normalize(jnp.cross(up, forward))
  down = _normalize(jnp.cross(forward, right))  # Image-down (OpenCV +y).
  rot = jnp.stack([right, down, forward], axis=-1)  # OpenCV columns.
  cam2world = _assemble(rot, origin)
  return convert_convention(cam2world, "eg3d", convention)


def _assemble(rotation: jax.Array, translation: jax.Array) -> jax.Array:
  lead = rotation.shape[:-2]
  top = jnp.concatenate([rotation, translation[..., None]], axis=-1)
  bottom = jnp.broadcast_to(
      jnp.array([0.0, 0.0, 0.0, 1.0], rotation.dtype), (*lead, 1, 4))
  return jnp.concatenate([top, bottom], axis=-2)


def orbit_position(horizontal: jax.Array,
                   vertical: jax.Array,
                   radius: jax.Array,
                   convention: camera_settings.Convention = "p4d") -> jax.Array:
  """Camera centre [..., 3] on a sphere around the WORLD ORIGIN.

  Angles follow the references' look-at sampler: `horizontal` = pi/2 and
  `vertical` = pi/2 put the camera at (0, 0, radius), in front of the face.
  `vertical` is a polar-like angle (clamped to (0, pi)): the elevation is
  asin(1 - 2 v / pi), so v < pi/2 puts the camera above the face.
  For the same `horizontal` the Portrait4D sampler mirrors x relative to EG3D's:
  horizontal > pi/2 moves a p4d camera towards -x and an eg3d camera to +x.
  """
  camera_settings.check_convention(convention)
  v = jnp.clip(jnp.asarray(vertical, jnp.float32), 1e-5, jnp.pi - 1e-5)
  h = jnp.asarray(horizontal, jnp.float32)
  r = jnp.asarray(radius, jnp.float32)
  phi = jnp.arccos(1.0 - 2.0 * v / jnp.pi)
  x = r * jnp.sin(phi) * jnp.cos(jnp.pi - h)
  if convention == "p4d":
    x = -x
  y = r * jnp.cos(phi)
  z = r * jnp.sin(phi) * jnp.sin(jnp.pi - h)
  return jnp.stack(jnp.broadcast_arrays(x, y, z), axis=-1)


def look_at_pose(horizontal: jax.Array,
                 vertical: jax.Array,
                 radius: jax.Array,
                 pivot: jax.Array = (0.0, 0.0, 0.0),
                 roll: jax.Array = 0.0,
                 convention: camera_settings.Convention = "p4d"
                 ) -> jax.Array:
  """The references' look-at pose sampler (zero spread) -> cam2world [..., 4, 4].

  The camera sits at `orbit_position(...)` and looks at `pivot` [..., 3].
  `roll` (radians) turns the image-up vector towards the image-right vector
  before the basis is built (Portrait4D's sampler; EG3D has no roll).
  """
  origin = orbit_position(horizontal, vertical, radius, convention)
  pivot = jnp.broadcast_to(jnp.asarray(pivot, jnp.float32), origin.shape)
  forward = _normalize(pivot - origin)
  world_up = jnp.broadcast_to(
      jnp.array([0.0, 1.0, 0.0], jnp.float32), forward.shape)
  right = -_normalize(jnp.cross(world_up, forward))
  up = _normalize(jnp.cross(right, forward))
  roll = jnp.asarray(roll, jnp.float32)[..., None]
  up = up * jnp.cos(roll) + right * jnp.sin(roll)
  return look_at(origin, pivot, up, convention)


def convert_convention(cam2world: jax.Array, src: camera_settings.Convention,
                       dst: camera_settings.Convention) -> jax.Array:
  """Re-expresses cam2world [..., 4, 4] in another axis convention.

  The physical camera (centre, viewing direction, image orientation) is
  unchanged: only the camera's own y and z axes flip.
  """
  camera_settings.check_convention(src)
  camera_settings.check_convention(dst)
  if src == dst:
    return cam2world
  flip = jnp.array([1.0, -1.0, -1.0, 1.0], cam2world.dtype)
  return cam2world * flip  # Scales the columns: C @ diag(1, -1, -1, 1).


def world_to_camera(cam2world: jax.Array) -> jax.Array:
  """Rigid inverse [..., 4, 4] of a cam2world matrix."""
  rot = cam2world[..., :3, :3]
  t = cam2world[..., :3, 3]
  rot_t = jnp.swapaxes(rot, -1, -2)
  return _assemble(rot_t, -jnp.einsum("...ij,...j->...i", rot_t, t))


def camera_z_of_world_origin(cam2world: jax.Array) -> jax.Array:
  """[..., 4, 4] -> [...] z of the world origin in camera space.

  Portrait4D's 'auto-plane' ray range is |this| +- box/2. In the p4d convention
  the origin in front of the camera has negative z.
  """
  return world_to_camera(cam2world)[..., 2, 3]


def camera_center(cam2world: jax.Array) -> jax.Array:
  """[..., 4, 4] -> [..., 3]."""
  return cam2world[..., :3, 3]


def viewing_direction(cam2world: jax.Array,
                      convention: camera_settings.Convention = "p4d"
                      ) -> jax.Array:
  """Unit optical axis in world space [..., 3]."""
  camera_settings.check_convention(convention)
  axis = cam2world[..., :3, 2]
  return -axis if convention == "p4d" else axis


def project_points(points: jax.Array, cam2world: jax.Array,
                   intrinsics: jax.Array,
                   convention: camera_settings.Convention = "p4d"
                   ) -> tuple[jax.Array, jax.Array]:
  """World points [..., N, 3] -> normalised image coords [..., N, 2] and depth.

  Coordinates are (x along columns, y along rows) in [0, 1] across the image,
  the inverse of `rays.generate_rays`; depth [..., N] is the distance in front
  of the camera along its optical axis (> 0 when visible).
  """
  camera_settings.check_convention(convention)
  c2w = convert_convention(cam2world, convention, "eg3d")
  w2c = world_to_camera(c2w)
  cam = (jnp.einsum("...ij,...nj->...ni", w2c[..., :3, :3], points) +
         w2c[..., None, :3, 3])
  z = cam[..., 2]
  pix = jnp.einsum("...ij,...nj->...ni", intrinsics, cam / z[..., None])
  return pix[..., :2], z


# ----------------------------------------------------------------------------
# Portrait4D's random-view distribution.


def random_view_pose(yaw: jax.Array,
                     elevation_param: jax.Array,
                     roll: jax.Array,
                     radius: jax.Array,
                     pivot: jax.Array,
                     convention: camera_settings.Convention = "p4d"
                     ) -> jax.Array:
  """cam2world [..., 4, 4] for `RandomViewRanges`-style values (yaw offset
  from frontal, elevation parameter a, roll, radius, pivot [..., 3])."""
  return look_at_pose(jnp.pi / 2 + jnp.asarray(yaw), jnp.pi / 2 -
                      jnp.asarray(elevation_param), radius, pivot, roll,
                      convention)


def sample_random_views(
    key: jax.Array,
    batch: int,
    ranges: camera_settings.RandomViewRanges = (
        camera_settings.RandomViewRanges()),
    convention: camera_settings.Convention = "p4d") -> jax.Array:
  """Draws `batch` cam2world matrices [batch, 4, 4] from `ranges`."""
  keys = jax.random.split(key, 6)

  def u(k, lo_hi, shape=(batch,)):
    return jax.random.uniform(k, shape, jnp.float32, lo_hi[0], lo_hi[1])

  pivot = jnp.concatenate(
      [u(keys[4], ranges.pivot_xy, (batch, 2)),
       u(keys[5], ranges.pivot_z, (batch, 1))], axis=-1)
  return random_view_pose(u(keys[0], ranges.yaw), u(keys[1],
                                                    ranges.elevation_param),
                          u(keys[2], ranges.roll), u(keys[3], ranges.radius),
                          pivot, convention)
