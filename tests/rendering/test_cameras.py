"""Cameras: look-at geometry, label round trip, conventions, intrinsics."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from p4d_jax.rendering import camera_settings
from p4d_jax.rendering import cameras
from p4d_jax.rendering import rays

ANGLES = dict(
    horizontal=jnp.array([np.pi / 2, 1.2, 2.0, 1.7]),
    vertical=jnp.array([np.pi / 2, 1.3, 1.9, 1.1]),
    radius=jnp.array([4.0, 3.7, 4.4, 2.7]),
    pivot=jnp.array([[0.0, 0.0, 0.0], [0.02, -0.03, 0.09], [0.0, 0.1, 0.2],
                     [-0.05, 0.0, 0.1]]),
    roll=jnp.array([0.0, 0.2, -0.25, 0.1]),
)


@pytest.mark.parametrize("convention", camera_settings.CONVENTIONS)
def test_optical_axis_passes_through_pivot(convention):
  c2w = cameras.look_at_pose(**ANGLES, convention=convention)
  center = cameras.camera_center(c2w)
  axis = cameras.viewing_direction(c2w, convention)
  to_pivot = ANGLES["pivot"] - center
  # The pivot lies on the optical axis, in front of the camera.
  t = jnp.sum(to_pivot * axis, -1)
  np.testing.assert_array_less(0.0, t)
  np.testing.assert_allclose(center + t[:, None] * axis, ANGLES["pivot"],
                             atol=2e-6)
  # The centre ray of an image is the optical axis.
  intr = cameras.focal_intrinsics(jnp.full((4,), cameras.P4D_FOCAL))
  _, dirs = rays.generate_rays(c2w, intr, 1, 1, convention)
  np.testing.assert_allclose(dirs[:, 0], axis, atol=1e-6)


@pytest.mark.parametrize("convention", camera_settings.CONVENTIONS)
def test_rotation_is_orthonormal_and_camera_on_sphere(convention):
  c2w = cameras.look_at_pose(**ANGLES, convention=convention)
  rot = c2w[:, :3, :3]
  np.testing.assert_allclose(rot @ jnp.swapaxes(rot, 1, 2),
                             jnp.broadcast_to(jnp.eye(3), rot.shape), atol=1e-6)
  np.testing.assert_allclose(jnp.linalg.det(rot), 1.0, atol=1e-6)
  np.testing.assert_allclose(
      jnp.linalg.norm(cameras.camera_center(c2w), axis=-1), ANGLES["radius"],
      rtol=1e-6)


def test_frontal_camera_matrices():
  p4d = cameras.look_at_pose(np.pi / 2, np.pi / 2, 4.0, convention="p4d")
  eg3d = cameras.look_at_pose(np.pi / 2, np.pi / 2, 4.0, convention="eg3d")
  np.testing.assert_allclose(p4d[:3, :3], np.eye(3), atol=1e-6)
  np.testing.assert_allclose(eg3d[:3, :3], np.diag([1.0, -1.0, -1.0]),
                             atol=1e-6)
  np.testing.assert_allclose(p4d[:3, 3], [0.0, 0.0, 4.0], atol=1e-6)


def test_positive_yaw_moves_p4d_camera_to_negative_x():
  p4d = cameras.look_at_pose(np.pi / 2 + 0.3, np.pi / 2, 4.0, convention="p4d")
  eg3d = cameras.look_at_pose(np.pi / 2 + 0.3, np.pi / 2, 4.0,
                              convention="eg3d")
  assert p4d[0, 3] < 0 < eg3d[0, 3]
  np.testing.assert_allclose(p4d[1:3, 3], eg3d[1:3, 3], atol=1e-6)


def test_roll_rotates_image_about_optical_axis():
  flat = cameras.look_at_pose(1.3, 1.4, 4.0, (0.0, 0.0, 0.1), 0.0)
  rolled = cameras.look_at_pose(1.3, 1.4, 4.0, (0.0, 0.0, 0.1), 0.2)
  np.testing.assert_allclose(flat[:3, 3], rolled[:3, 3], atol=1e-6)
  np.testing.assert_allclose(flat[:3, 2], rolled[:3, 2], atol=1e-6)
  cos = jnp.dot(flat[:3, 1], rolled[:3, 1])
  np.testing.assert_allclose(cos, np.cos(0.2), atol=1e-6)


def test_label_round_trip():
  c2w = cameras.look_at_pose(**ANGLES)
  intr = cameras.fov_to_intrinsics(jnp.array([12.0, 18.837, 30.0, 12.0]))
  label = cameras.pack_label(c2w, intr)
  assert label.shape == (4, 25)
  back_c2w, back_intr = cameras.unpack_label(label)
  np.testing.assert_array_equal(back_c2w, c2w)
  np.testing.assert_array_equal(back_intr, intr)
  np.testing.assert_array_equal(label[:, :16], c2w.reshape(4, 16))
  with pytest.raises(ValueError, match="25 floats"):
    cameras.unpack_label(jnp.zeros((4, 24)))


def test_conventions_describe_the_same_physical_camera():
  c2w_p4d = cameras.look_at_pose(**ANGLES, convention="p4d")
  c2w_eg3d = cameras.convert_convention(c2w_p4d, "p4d", "eg3d")
  intr = cameras.focal_intrinsics(jnp.full((4,), 4.0))
  o1, d1 = rays.generate_rays(c2w_p4d, intr, 6, 5, "p4d")
  o2, d2 = rays.generate_rays(c2w_eg3d, intr, 6, 5, "eg3d")
  np.testing.assert_allclose(o1, o2, atol=1e-6)
  np.testing.assert_allclose(d1, d2, atol=1e-6)
  # Converting there and back is exact.
  np.testing.assert_array_equal(
      cameras.convert_convention(c2w_eg3d, "eg3d", "p4d"), c2w_p4d)


def test_image_up_is_world_up_for_level_cameras():
  # A level camera (no roll, any yaw) sees world +y as image-up: rows of
  # pixels near the top look upwards.
  c2w = cameras.look_at_pose(jnp.array([1.2, 1.9]), np.pi / 2, 4.0)
  intr = cameras.focal_intrinsics(jnp.full((2,), 4.0))
  _, dirs = rays.generate_rays(c2w, intr, 3, 3)
  top, bottom = dirs[:, 1], dirs[:, 7]  # Middle column, first/last row.
  assert bool(jnp.all(top[:, 1] > bottom[:, 1]))


def test_fov_intrinsics_round_trip_and_reference_focal():
  fov = jnp.array([12.0, 18.837, 45.0])
  intr = cameras.fov_to_intrinsics(fov)
  np.testing.assert_allclose(cameras.intrinsics_to_fov(intr), fov, rtol=1e-5)
  # EG3D's FFHQ FOV through the helper gives 4.2634 (its data labels carry
  # 4.2647); with the exact pi and sqrt(2) it would be 4.2630.
  np.testing.assert_allclose(intr[1, 0, 0], 4.2634, atol=1e-4)
  np.testing.assert_allclose(intr[:, :2, 2], 0.5)


def test_world_to_camera_is_inverse():
  c2w = cameras.look_at_pose(**ANGLES)
  np.testing.assert_allclose(cameras.world_to_camera(c2w) @ c2w,
                             jnp.broadcast_to(jnp.eye(4), c2w.shape), atol=1e-6)
  # The world origin is in front of a p4d camera: negative camera-space z.
  assert bool(jnp.all(cameras.camera_z_of_world_origin(c2w) < 0))


def test_random_views_follow_ranges_and_are_deterministic():
  ranges = camera_settings.RandomViewRanges()
  a = cameras.sample_random_views(jax.random.key(3), 256, ranges)
  b = cameras.sample_random_views(jax.random.key(3), 256, ranges)
  np.testing.assert_array_equal(a, b)
  dist = jnp.linalg.norm(cameras.camera_center(a), axis=-1)
  assert float(dist.min()) >= ranges.radius[0] - 1e-4
  assert float(dist.max()) <= ranges.radius[1] + 1e-4
  # Cameras look at the head box: the optical axis passes within the pivot
  # range of the origin.
  center, axis = cameras.camera_center(a), cameras.viewing_direction(a)
  t = -jnp.sum(center * axis, -1)
  miss = jnp.linalg.norm(center + t[:, None] * axis, axis=-1)
  assert float(miss.max()) < 0.2
  yaw = jnp.arctan2(-center[:, 0], center[:, 2])  # p4d: +yaw -> -x.
  assert float(yaw.min()) < -0.5 and float(yaw.max()) > 0.5


def test_unknown_convention_is_a_clear_error():
  with pytest.raises(ValueError, match="camera convention"):
    cameras.look_at_pose(1.0, 1.0, 1.0, convention="opengl")


def test_project_points_inverts_generate_rays():
  """A point t along a pixel's ray projects back onto that pixel's centre."""
  c2w = cameras.look_at_pose(jnp.array([1.2, 1.9]), jnp.array([1.3, 1.7]),
                             4.0, (0.02, -0.01, 0.09), roll=0.1)
  intr = jnp.stack([cameras.focal_intrinsics(cameras.P4D_FOCAL),
                    cameras.fov_to_intrinsics(18.837)])
  origins, dirs = rays.generate_rays(c2w, intr, 6, 5)
  t = jnp.linspace(3.0, 5.0, 30).reshape(1, 30, 1)
  pix, depth = cameras.project_points(origins + t * dirs, c2w, intr)
  x, y = rays.pixel_centers(6, 5)
  np.testing.assert_allclose(pix, jnp.broadcast_to(jnp.stack([x, y], -1),
                                                   pix.shape), atol=1e-5)
  cos = jnp.sum(dirs * cameras.viewing_direction(c2w)[:, None], -1)
  np.testing.assert_allclose(depth, t[..., 0] * cos, rtol=1e-5)
