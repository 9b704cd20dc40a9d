"""Meshes of an avatar: marching cubes on its density grid, written as PLY
or OBJ (atomically)."""

from __future__ import annotations

import numpy as np

from p4d_jax.media import atomic

# EG3D extracts its shapes at density 10 (the decoder's softplus output).
DEFAULT_LEVEL = 10.0


def extract(density: np.ndarray, box: float,
            level: float = DEFAULT_LEVEL) -> tuple[np.ndarray, np.ndarray]:
  """Density [R, R, R] sampled on a grid over [-box/2, box/2]^3 (axes x, y,
  z) -> vertices [V, 3] (world units) and triangles [F, 3] (int)."""
  from skimage import measure  # pylint: disable=import-outside-toplevel
  density = np.array(density, np.float32)   # skimage needs it writable
  low, high = float(density.min()), float(density.max())
  if not low < level < high:
    raise ValueError(f"No surface at density {level}: the grid spans "
                     f"{low:.3g}..{high:.3g}; pick a level inside it.")
  step = box / (density.shape[0] - 1)
  verts, faces, _, _ = measure.marching_cubes(density, level,
                                              spacing=(step,) * 3)
  # Density rises inwards, so skimage's triangles face in: flip them.
  return (verts - box / 2).astype(np.float32), faces[:, ::-1].astype(np.int32)


def write_ply(path: str, vertices: np.ndarray, faces: np.ndarray) -> str:
  """Binary little-endian PLY."""
  header = (f"ply\nformat binary_little_endian 1.0\n"
            f"element vertex {len(vertices)}\n"
            "property float x\nproperty float y\nproperty float z\n"
            f"element face {len(faces)}\n"
            "property list uchar int vertex_indices\nend_header\n")
  tri = np.zeros(len(faces), dtype=[("n", "u1"), ("i", "<i4", (3,))])
  tri["n"], tri["i"] = 3, faces
  with atomic.atomic_path(path) as tmp, open(tmp, "wb") as f:
    f.write(header.encode("ascii"))
    f.write(np.asarray(vertices, "<f4").tobytes())
    f.write(tri.tobytes())
  return path


def write_obj(path: str, vertices: np.ndarray, faces: np.ndarray) -> str:
  with atomic.atomic_path(path) as tmp, open(tmp, "w") as f:
    f.writelines(f"v {x:.6f} {y:.6f} {z:.6f}\n" for x, y, z in vertices)
    f.writelines(f"f {a + 1} {b + 1} {c + 1}\n" for a, b, c in faces)
  return path


def read_ply(path: str) -> tuple[np.ndarray, np.ndarray]:
  """What `write_ply` wrote -> (vertices, faces)."""
  with open(path, "rb") as f:
    data = f.read()
  end = data.index(b"end_header\n") + len(b"end_header\n")
  header = data[:end].decode("ascii").split("\n")
  count = lambda name: next(int(line.split()[2]) for line in header  # noqa
                            if line.startswith(f"element {name}"))
  v, n = count("vertex"), count("face")
  verts = np.frombuffer(data, "<f4", v * 3, end).reshape(v, 3)
  tri = np.frombuffer(data, [("n", "u1"), ("i", "<i4", (3,))], n, end + v * 12)
  return verts, tri["i"]
