"""SynthHeads rendering: determinism, local expressions, multi-view geometry."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from p4d_jax.data.synthheads import examples
from p4d_jax.data.synthheads import geometry
from p4d_jax.data.synthheads import params as P
from p4d_jax.data.synthheads import render
from p4d_jax.rendering import cameras
from p4d_jax.rendering import rays

RES = 64
SPEC = examples.Spec(seed=3)


def _scene(ident=0, expression=None, pose=None):
  """Identity `ident` with its lighting; neutral unless told otherwise."""
  if expression is None:
    expression = P.neutral_expression()
  return examples.still_scene(SPEC.seed, ident, expression, pose)


def _stack(scenes):
  return P.Scene(*(np.stack(f) for f in zip(*scenes)))


def _camera(yaw=0.0, elevation=0.1):
  return np.asarray(cameras.random_view_pose(yaw, elevation, 0.0, 4.0,
                                             (0.0, 0.0, 0.09)))


def _render(scenes, cams, res=RES, supersample=1):
  cams = np.stack(cams)
  intr = np.broadcast_to(examples.INTRINSICS, (len(cams), 3, 3))
  return render.render(_stack(scenes), cams, intr, res,
                       supersample=supersample)




def test_same_inputs_same_pixels_whatever_the_batch():
  scenes = [_scene(i, P.random_expression(np.random.default_rng(i)))
            for i in range(5)]
  cams = [_camera(0.1 * i) for i in range(5)]
  first = _render(scenes, cams)
  again = _render(scenes, cams)
  alone = _render(scenes[3:4], cams[3:4])
  for key in first:
    np.testing.assert_array_equal(first[key], again[key])
    np.testing.assert_array_equal(first[key][3], alone[key][0])
  assert not np.array_equal(first["rgb"][0], first["rgb"][1])


def _pixel_box(corners_local, cam):
  """Pixel bounding box (rows, cols) of head-local points seen by `cam`."""
  pix, _ = cameras.project_points(jnp.asarray(corners_local)[None],
                                  jnp.asarray(cam)[None],
                                  jnp.asarray(examples.INTRINSICS)[None])
  pix = np.asarray(pix[0]) * RES
  c0, r0 = np.floor(pix.min(0)).astype(int)
  c1, r1 = np.ceil(pix.max(0)).astype(int)
  return slice(max(r0, 0), r1), slice(max(c0, 0), c1)


def _box_corners(x, y, z):
  """8 corners of a design-frame box, in the head-local frame."""
  grid = np.stack(np.meshgrid(x, y, z, indexing="ij"), -1).reshape(-1, 3)
  return grid - np.array([0.0, geometry.HEAD_DROP, 0.0])


REGIONS = {
    # expression: (value, design-frame box it may change)
    "jaw_open": (1.0, _box_corners((-0.2, 0.2), (-0.45, -0.11), (0.0, 0.3))),
    "smile": (1.0, _box_corners((-0.2, 0.2), (-0.2, 0.03), (0.0, 0.3))),
    "blink_left": (1.0, _box_corners((0.04, 0.14), (0.01, 0.1), (0.1, 0.3))),
    "blink_right": (1.0, _box_corners((-0.14, -0.04), (0.01, 0.1), (0.1, 0.3))),
    "brow_raise": (1.0, _box_corners((-0.15, 0.15), (0.06, 0.17), (0.1, 0.3))),
    "pucker": (1.0, _box_corners((-0.1, 0.1), (-0.19, -0.08), (0.1, 0.3))),
}


@pytest.mark.parametrize("name", sorted(REGIONS))
def test_each_expression_moves_geometry_in_its_own_region(name):
  value, corners = REGIONS[name]
  cam = _camera()
  out = _render([_scene(1), _scene(1, P.expression_vector(**{name: value}))],
                [cam, cam])
  color_change = np.abs(out["rgb"][1] - out["rgb"][0]).sum(-1)
  depth_change = np.abs(out["depth"][1] - out["depth"][0])
  rows, cols = _pixel_box(corners, cam)
  inside = np.zeros_like(color_change, bool)
  inside[rows, cols] = True
  assert color_change.sum() > 2.0, "the expression changed almost nothing"
  assert (depth_change[inside] > 1e-3).sum() >= 3, "geometry did not move"
  assert color_change[inside].sum() >= 0.9 * color_change.sum()
  # Outside, only the tracer's residual moves: a changed part can change the
  # march's path far away, and a march stops within CONVERGED of the surface
  # (HIT_EPSILON for the rare rays still grazing it at the end).
  assert np.percentile(depth_change[~inside], 99.5) < render.CONVERGED
  assert depth_change[~inside].max() < 5 * render.HIT_EPSILON


def test_image_orientation_follows_the_cameras_module():
  """Frontal p4d camera: the subject's left eye (+x) is on the image right,
  the top of the head is in the upper half."""
  cam = jnp.asarray(_camera())[None]
  intr = jnp.asarray(examples.INTRINSICS)[None]
  eyes = geometry.eye_frame(jnp.asarray(_scene(0).identity))
  pix, depth = cameras.project_points(
      jnp.concatenate([eyes.centers, jnp.array([[0.0, 0.3, 0.0]])])[None],
      cam, intr)
  assert pix[0, 0, 0] > 0.5 > pix[0, 1, 0]
  assert pix[0, 2, 1] < 0.5
  assert bool(jnp.all(depth > 0))


def test_depth_points_lie_on_the_surface():
  """Unprojecting depth along `rays.generate_rays` lands on the SDF zero set,
  also for a posed head (the stored head-relative camera is what tracks)."""
  pose = np.array([0.3, -0.15, 0.1], np.float32)
  scene = _scene(2, P.random_expression(np.random.default_rng(0)), pose)
  cam = _camera(0.2)
  out = _render([scene], [cam])
  rel = np.asarray(render.head_relative_camera(cam, pose))
  origins, dirs = rays.generate_rays(jnp.asarray(rel)[None],
                                     jnp.asarray(examples.INTRINSICS)[None],
                                     RES)
  hit = out["mask"][0].reshape(-1) == 1.0
  points = origins[0] + out["depth"][0].reshape(-1, 1) * dirs[0]
  sdf = geometry.head_sdf(jnp.asarray(scene.identity),
                          jnp.asarray(scene.expression), points[hit])
  assert hit.sum() > 0.2 * RES * RES
  assert float(jnp.max(jnp.abs(sdf))) < render.HIT_EPSILON


def test_head_pose_equals_the_head_relative_camera():
  """Turning the head by P before camera C gives the same silhouette and
  depth as the unturned head seen by head_relative_camera(C, P)."""
  pose = np.array([-0.4, 0.2, -0.15], np.float32)
  cam = _camera(-0.3)
  rel = np.asarray(render.head_relative_camera(cam, pose))
  out = _render([_scene(4, pose=pose), _scene(4)], [cam, rel])
  disagree = out["mask"][0] != out["mask"][1]
  assert disagree.mean() < 0.003
  both = (out["mask"][0] == 1) & (out["mask"][1] == 1)
  np.testing.assert_allclose(out["depth"][0][both], out["depth"][1][both],
                             atol=2e-3)


def test_views_agree_by_depth_reprojection():
  """Points seen in view A, moved into view B by their depth, land on B's
  surface where B sees them (and never in front of it), in the same colour."""
  scene = _scene(5, P.expression_vector(jaw_open=0.6, smile=0.5))
  cam_a, cam_b = _camera(-0.25, 0.0), _camera(0.25, 0.3)
  out = _render([scene, scene], [cam_a, cam_b])
  intr = jnp.asarray(examples.INTRINSICS)[None]
  origins, dirs = rays.generate_rays(jnp.asarray(cam_a)[None], intr, RES)
  seen = out["mask"][0].reshape(-1) == 1.0
  points = (origins[0] + out["depth"][0].reshape(-1, 1) * dirs[0])[seen]
  pix, _ = cameras.project_points(points[None], jnp.asarray(cam_b)[None], intr)
  col, row = (np.floor(np.asarray(pix[0]) * RES).astype(int)).T
  ok = (row >= 0) & (row < RES) & (col >= 0) & (col < RES)
  row, col, points = row[ok], col[ok], np.asarray(points)[ok]
  in_b = out["mask"][1][row, col] == 1.0
  dist = np.linalg.norm(points - cam_b[:3, 3], axis=-1)[in_b]
  gap = dist - out["depth"][1][row, col][in_b]
  visible = np.abs(gap) < 0.02
  assert visible.mean() > 0.8
  assert np.median(np.abs(gap)) < 0.005
  # No point seen by A may float in front of everything B sees around it (the
  # 3x3 neighbourhood absorbs a point landing off its pixel's centre).
  depth_b = np.pad(np.where(out["mask"][1] == 1.0, out["depth"][1], np.inf), 1,
                   constant_values=np.inf)
  nearest = np.min([depth_b[row + 1 + dr, col + 1 + dc][in_b]
                    for dr in (-1, 0, 1) for dc in (-1, 0, 1)], axis=0)
  assert np.all(dist - nearest > -0.01)
  rgb_a = out["rgb"][0].reshape(-1, 3)[seen][ok][in_b][visible]
  rgb_b = out["rgb"][1][row, col][in_b][visible]
  assert np.median(np.abs(rgb_a - rgb_b).max(-1)) < 0.04


def test_normals_are_unit_and_face_the_camera():
  cam = _camera(0.2)
  out = _render([_scene(6)], [cam])
  origins, dirs = rays.generate_rays(jnp.asarray(cam)[None],
                                     jnp.asarray(examples.INTRINSICS)[None],
                                     RES)
  hit = out["mask"][0].reshape(-1) == 1.0
  normals = out["normal"][0].reshape(-1, 3)[hit]
  np.testing.assert_allclose(np.linalg.norm(normals, axis=-1), 1.0, atol=1e-4)
  facing = np.sum(normals * -np.asarray(dirs[0])[hit], -1)
  assert (facing > 0).mean() > 0.97


def test_supersampling_averages_the_finer_image():
  """s x s supersampling at R equals pooling the render at s*R: colour and
  coverage by mean, depth by the mean over the pixel's hits."""
  scene, cam = _scene(7), _camera(0.3)
  coarse = _render([scene], [cam], res=16, supersample=2)
  fine = _render([scene], [cam], res=32, supersample=1)
  blocks = lambda x: x[0].reshape(16, 2, 16, 2, *x.shape[3:])  # noqa: E731
  np.testing.assert_allclose(coarse["rgb"][0],
                             blocks(fine["rgb"]).mean((1, 3)), atol=1e-5)
  hits = blocks(fine["mask"])
  np.testing.assert_allclose(coarse["mask"][0], hits.mean((1, 3)), atol=1e-6)
  depth = blocks(fine["depth"]).sum((1, 3)) / np.maximum(hits.sum((1, 3)), 1)
  np.testing.assert_allclose(coarse["depth"][0], depth, rtol=1e-5)


def test_every_head_fits_its_bounding_sphere_and_the_render_box():
  """Extreme parameters: the head stays inside the tracing bound and inside
  the renderer's 1.3 box (neck included)."""
  rng = np.random.default_rng(0)
  dirs = rng.normal(size=(4000, 3))
  dirs /= np.linalg.norm(dirs, axis=-1, keepdims=True)
  shell = np.asarray(geometry.BOUND_CENTER) + geometry.BOUND_RADIUS * dirs
  faces = rng.uniform(-0.65, 0.65, (6, 4000, 3)) * (np.arange(3) ==
                                                     rng.integers(3, size=(6, 1, 1)))
  faces = np.where(faces == 0, np.sign(rng.uniform(-1, 1, faces.shape)) * 0.65,
                   faces)
  sdf = jax.jit(jax.vmap(geometry.head_sdf, in_axes=(0, 0, None)))
  ident = rng.choice([-1.0, 1.0], size=(64, len(P.IDENTITY)))
  low = np.array([p.low for p in P.EXPRESSION])
  high = np.array([p.high for p in P.EXPRESSION])
  expr = np.where(rng.random((64, len(P.EXPRESSION))) < 0.5, low, high)
  assert float(jnp.min(sdf(ident, expr, shell))) > 0.0
  for face in faces:
    assert float(jnp.min(sdf(ident, expr, face))) > 0.0


def test_bad_scene_shapes_name_the_field():
  scene = _stack([_scene(0)])
  with pytest.raises(ValueError, match="Scene.expression"):
    render.render(scene._replace(expression=np.zeros((1, 5))),
                  _camera()[None], examples.INTRINSICS[None], 8)
  with pytest.raises(ValueError, match="cam2world"):
    render.render(scene, _camera(), examples.INTRINSICS[None], 8)
