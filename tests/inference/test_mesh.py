"""Marching cubes on a known density: a ball of radius 0.4."""

import numpy as np
import pytest

from p4d_jax.inference import mesh

BOX, RES, RADIUS = 1.3, 65, 0.4


def ball_density():
  """Density 20 at the centre falling linearly to 0 at 2 * RADIUS, so the
  level 10 surface is the sphere of RADIUS."""
  axis = np.linspace(-BOX / 2, BOX / 2, RES)
  x, y, z = np.meshgrid(axis, axis, axis, indexing="ij")
  r = np.sqrt(x**2 + y**2 + (z - 0.1)**2)   # centred at z = 0.1
  return 20.0 * (1.0 - r / (2 * RADIUS))


def test_the_level_set_of_a_ball_is_its_sphere_with_outward_faces():
  verts, faces = mesh.extract(ball_density(), BOX, level=10.0)
  r = np.linalg.norm(verts - [0.0, 0.0, 0.1], axis=1)
  np.testing.assert_allclose(r, RADIUS, atol=2e-3)   # linear density: exact
  a, b, c = (verts[faces[:, k]] for k in range(3))
  normals = np.cross(b - a, c - a)
  outward = np.einsum("ij,ij->i", normals, (a + b + c) / 3 - [0, 0, 0.1])
  assert (outward > 0).all()


def test_ply_and_obj_round_trip(tmp_path):
  verts, faces = mesh.extract(ball_density(), BOX, level=10.0)
  got_v, got_f = mesh.read_ply(mesh.write_ply(str(tmp_path / "m.ply"), verts,
                                              faces))
  np.testing.assert_array_equal(got_v, verts)
  np.testing.assert_array_equal(got_f, faces)
  obj = mesh.write_obj(str(tmp_path / "m.obj"), verts, faces)
  with open(obj) as f:
    text = f.read().splitlines()
  assert sum(t.startswith("v ") for t in text) == len(verts)
  first_face = next(t for t in text if t.startswith("f "))
  assert first_face == "f {} {} {}".format(*(faces[0] + 1))
  assert not [p for p in tmp_path.iterdir() if p.name.startswith(".tmp")]


def test_a_level_outside_the_density_is_explained():
  with pytest.raises(ValueError, match="No surface at density 50"):
    mesh.extract(ball_density(), BOX, level=50.0)
