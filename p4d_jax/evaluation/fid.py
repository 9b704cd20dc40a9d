"""Fréchet Inception Distance (Heusel et al. 2017).

FID = ||mu_a - mu_b||^2 + tr(S_a + S_b - 2 (S_a S_b)^(1/2)) between Gaussians
fitted to the pool3 features of two image sets (`inception.InceptionV3`
with pytorch-fid's weights; see tools/convert_inception.py).

FID is meaningful only over thousands of images per set: with N <= 2048 the
2048 x 2048 covariance (rank <= N - 1) is singular, the estimate is biased
upward, and values from different N do not compare (published numbers use
10k-50k images).
"""

from __future__ import annotations

import warnings

import jax.numpy as jnp
import numpy as np
import scipy.linalg
from flax import nnx

# Added to both covariances' diagonals when (S_a S_b)^(1/2) is not finite
# (singular products); pytorch-fid's and TF's value.
EPS = 1e-6
# The largest imaginary part of sqrtm's diagonal still taken as round-off.
IMAG_TOL = 1e-3


def _sqrtm(m: np.ndarray) -> np.ndarray:
  with warnings.catch_warnings():  # "singular": checked by the caller
    warnings.simplefilter("ignore", scipy.linalg.LinAlgWarning)
    return scipy.linalg.sqrtm(m)


def frechet_distance(feats_a: np.ndarray, feats_b: np.ndarray) -> float:
  """The Fréchet distance between Gaussians fitted to feats_a [N, D] and
  feats_b [M, D] (float64; N, M >= 2; thousands for a meaningful FID)."""
  a = np.asarray(feats_a, np.float64)
  b = np.asarray(feats_b, np.float64)
  if a.ndim != 2 or b.ndim != 2 or a.shape[1] != b.shape[1]:
    raise ValueError(f"features must be [N, D] and [M, D]; got {a.shape} "
                     f"and {b.shape}")
  if min(len(a), len(b)) < 2:
    raise ValueError(f"need at least 2 feature rows per set for a "
                     f"covariance; got {len(a)} and {len(b)}")
  mu_a, mu_b = a.mean(0), b.mean(0)
  s_a, s_b = np.cov(a, rowvar=False), np.cov(b, rowvar=False)
  covmean = _sqrtm(s_a @ s_b)
  if not np.all(np.isfinite(covmean)):
    offset = np.eye(len(s_a)) * EPS
    covmean = _sqrtm((s_a + offset) @ (s_b + offset))
  if np.iscomplexobj(covmean):
    imag = np.max(np.abs(np.diagonal(covmean).imag))
    if imag > IMAG_TOL:
      raise ValueError(f"sqrtm(S_a S_b) has an imaginary part of {imag:.3g} "
                       "on its diagonal: not round-off")
    covmean = covmean.real
  diff = mu_a - mu_b
  return float(diff @ diff + np.trace(s_a) + np.trace(s_b)
               - 2.0 * np.trace(covmean))


@nnx.jit
def _features(model: nnx.Module, images: jnp.ndarray) -> jnp.ndarray:
  return model(images.astype(jnp.float32) / 255.0)


def features(model: nnx.Module, images: np.ndarray, batch: int = 16
             ) -> np.ndarray:
  """model's features of uint8 images [N, H, W, 3] -> float32 [N, D].

  `model` maps [B, H, W, 3] in [0, 1] to [B, D] (an InceptionV3). Runs
  `batch` images at a time; the last batch is padded to full size so one
  compiled program serves them all. For FID, feed thousands of images.
  """
  images = np.asarray(images)
  if (images.dtype != np.uint8 or images.ndim != 4 or images.shape[-1] != 3
      or not len(images)):
    raise ValueError(f"want uint8 [N > 0, H, W, 3] images; got {images.dtype} "
                     f"{images.shape}")
  out = []
  for i in range(0, len(images), batch):
    part = images[i:i + batch]
    pad = batch - len(part)
    full = np.concatenate([part, np.zeros((pad,) + part.shape[1:], np.uint8)])
    out.append(np.asarray(_features(model, full))[:len(part)])
  return np.concatenate(out).astype(np.float32)
