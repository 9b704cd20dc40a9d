"""Portrait4D/EG3D-style face alignment: five landmarks -> scale and centre
-> a square crop (no in-plane rotation: roll stays in the camera).

The five points (eye centres, nose tip, mouth corners) are fitted by least
squares with a weak-perspective (affine) projection of a standard 3D
five-point face; the fit's scale sets the zoom so that the face spans the
same fraction of every crop (Portrait4D: 180 px of scale in a 512 crop), and
its translation is the crop centre. Pixels beyond the image repeat the edge.
"""

from __future__ import annotations

import dataclasses

import numpy as np

# The standard 3D five points (BFM mean face, y up, z toward the viewer;
# units of about 10 cm), shifted as the reference shifts them (y +0.1,
# z +0.4) so the crop centre sits on the same point of the head.
STANDARD_5 = np.array([
    [-0.31148657, 0.09036078, 0.13377953],    # left eye (image left)
    [0.30979887, 0.08972035, 0.13179526],     # right eye
    [0.0032535, -0.24617933, 0.55244243],     # nose tip
    [-0.25216928, -0.5813392, 0.22405732],    # left mouth corner
    [0.2484662, -0.5812824, 0.22235769],      # right mouth corner
]) + np.array([0.0, 0.1, 0.4])

# Scale of the fit per output pixel: 180 at 512 (Portrait4D's crop).
SCALE_PER_PIXEL = 180.0 / 512.0


def five_points(points68: np.ndarray) -> np.ndarray:
  """[..., 68, 2] iBUG landmarks -> [..., 5, 2]: eye centres (mean of each
  eye's corners), nose tip, mouth corners."""
  p = np.asarray(points68, np.float64)
  return np.stack([(p[..., 36, :] + p[..., 39, :]) / 2,
                   (p[..., 42, :] + p[..., 45, :]) / 2,
                   p[..., 30, :], p[..., 48, :], p[..., 54, :]], axis=-2)


def fit_scale_and_centre(points5: np.ndarray) -> tuple[float, np.ndarray]:
  """Least-squares affine projection of STANDARD_5 onto points [5, 2]
  (pixels, y down): (its scale, the image point of the model origin)."""
  n = len(STANDARD_5)
  design = np.concatenate([STANDARD_5, np.ones((n, 1))], axis=1)   # [5, 4]
  target = np.asarray(points5, np.float64) * np.array([1.0, -1.0])  # y up
  rows, *_ = np.linalg.lstsq(design, target, rcond=None)           # [4, 2]
  scale = 0.5 * (np.linalg.norm(rows[:3, 0]) + np.linalg.norm(rows[:3, 1]))
  return float(scale), rows[3] * np.array([1.0, -1.0])


@dataclasses.dataclass(frozen=True)
class CropTransform:
  """crop pixel = (image pixel - centre) * zoom + size / 2."""
  centre: np.ndarray   # [2] image pixels
  zoom: float
  size: int

  @classmethod
  def from_points(cls, points68: np.ndarray, size: int) -> "CropTransform":
    scale, centre = fit_scale_and_centre(five_points(points68))
    return cls(centre, SCALE_PER_PIXEL * size / scale, size)

  def to_crop(self, points: np.ndarray) -> np.ndarray:
    return (np.asarray(points) - self.centre) * self.zoom + self.size / 2

  def matrix(self) -> np.ndarray:
    """[2, 3] image -> crop affine matrix (for cv2.warpAffine)."""
    z = self.zoom
    offset = self.size / 2 - z * self.centre
    return np.array([[z, 0.0, offset[0]], [0.0, z, offset[1]]])


def crop(image: np.ndarray, transform: CropTransform) -> np.ndarray:
  """uint8 [H, W, 3] -> the aligned [size, size, 3] crop. Shrinking first
  area-averages the image (no aliasing), then one bilinear warp places it
  with sub-pixel accuracy; beyond the image the edge pixels repeat."""
  import cv2  # pylint: disable=import-outside-toplevel
  image = np.ascontiguousarray(image)
  matrix = transform.matrix()
  if transform.zoom < 1.0:
    h, w = image.shape[:2]
    new = (max(1, round(w * transform.zoom)), max(1, round(h * transform.zoom)))
    image = cv2.resize(image, new, interpolation=cv2.INTER_AREA)
    # Pixel centres: shrunk x' + 0.5 = (x + 0.5) * (new / old).
    sx, sy = w / new[0], h / new[1]
    to_original = np.array([[sx, 0, 0.5 * sx - 0.5], [0, sy, 0.5 * sy - 0.5],
                            [0, 0, 1.0]])
    matrix = matrix @ to_original
  return cv2.warpAffine(image, matrix, (transform.size, transform.size),
                        flags=cv2.INTER_LINEAR,
                        borderMode=cv2.BORDER_REPLICATE)
