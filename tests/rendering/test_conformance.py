"""Conformance with the reference PyTorch renderers, one stage at a time.

Every `.npz` in $P4D_CONFORMANCE_DIR (default $P4D_SHARED_DIR/conformance;
../shared/conformance next to the repository) is checked. Shapes, sample counts, options and tolerances are
read from each file's arrays and `meta`, so another vector set dropped into the
directory is checked with no code change. Every key that `meta` gives a
tolerance for must be compared, or the test fails.
"""

from __future__ import annotations

import glob
import json
import os
import re

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from flax import nnx

from p4d_jax.models import field_mlp
from p4d_jax.rendering import cameras
from p4d_jax.rendering import rays
from p4d_jax.rendering import render
from p4d_jax.rendering import render_config
from p4d_jax.rendering import sampling
from p4d_jax.rendering import triplane
from p4d_jax.rendering import volume
from tests import shared_dir

CONFORMANCE_DIR = os.environ.get(
    "P4D_CONFORMANCE_DIR", os.path.join(shared_dir.SHARED, "conformance"))

# Facts about each reference implementation (not per-file options).
VARIANTS = {
    "eg3d": dict(convention="eg3d", plane_axes="eg3d", signed_rgb=True),
    "p4d": dict(convention="p4d", plane_axes="p4d", signed_rgb=False),
}


def _files():
  return sorted(glob.glob(os.path.join(CONFORMANCE_DIR, "*.npz")))


def test_vector_directory_is_present():
  assert _files(), (
      f"No conformance vectors found in {CONFORMANCE_DIR!r}. Set "
      "P4D_CONFORMANCE_DIR to the directory holding the .npz files, or "
      "P4D_SHARED_DIR to the shared directory.")


class Checker:
  """Collects comparisons against a file's arrays with its own tolerances."""

  def __init__(self, data, meta):
    self.data = data
    self.meta = meta
    self.tol = meta.get("tolerance_float32_atol", {})
    self.failures = []
    self.checked = set()

  def atol(self, key):
    tol = self.tol[key]
    while isinstance(tol, str) and tol.startswith("same as "):
      tol = self.tol[tol[len("same as "):].strip()]
    return tol

  def check(self, key, ours, ref=None, mask=None, atol=None):
    ref = np.asarray(self.data[key] if ref is None else ref, np.float64)
    ours = np.asarray(ours, np.float64)
    ours = ours.reshape(ref.shape) if ours.size == ref.size else ours
    ref = np.broadcast_to(ref, ours.shape)
    atol = self.atol(key) if atol is None else atol
    err = np.abs(ours - ref)
    if mask is not None:
      err = np.where(np.asarray(mask).reshape(err.shape), err, 0.0)
    worst = float(np.nanmax(err)) if err.size else 0.0
    if not np.isfinite(worst) or worst > atol:
      self.failures.append(f"{key}: max |diff| {worst:.3g} > atol {atol:.3g}")
    self.checked.add(key)

  def check_depth(self, key, ours, weight_sum):
    """Depth tolerance given as text: 'A on rays whose weight sum > T; B ...'."""
    tol = self.atol(key)
    if not isinstance(tol, str):
      self.check(key, ours)
      return
    good, threshold, bad = (float(x) for x in re.findall(
        r"\d+(?:\.\d+)?e-\d+", tol)[:3])
    ws = np.asarray(weight_sum).reshape(np.asarray(ours).shape)
    self.check(key, ours, mask=ws > threshold, atol=good)
    self.check(key, ours, mask=ws <= threshold, atol=bad)

  def finish(self):
    missing = set(self.tol) - self.checked
    if missing:
      self.failures.append(f"tolerance keys not compared: {sorted(missing)}")
    assert not self.failures, "\n".join(self.failures)


def _decoder(tensors, layers, n_features, prefix=""):
  """A FieldDecoder holding a reference decoder's tensors.

  The lr multiplier is the layers' recorded bias gain; hidden width and
  output width come from the stored tensors.
  """
  lr_mul = next(iter(layers.values()))["bias_gain"]
  hidden = tensors[prefix + "net.0.weight"].shape[0]
  if prefix + "net.2.weight" in tensors:
    out = tensors[prefix + "net.2.weight"].shape[0] - 1
  else:
    out = tensors[prefix + "out_rgb.weight"].shape[0]
  dec = field_mlp.FieldDecoder(n_features, hidden, out, lr_mul=lr_mul,
                               rngs=nnx.Rngs(0))
  field_mlp.load_reference_weights(dec, tensors, prefix)
  return dec


def _planes(x):
  """Reference [N, 3, C, H, W] -> ours [N, 3, H, W, C]."""
  return jnp.asarray(np.moveaxis(np.asarray(x), 2, -1))


def check_cameras(c, variant):
  d, conv = c.data, VARIANTS[variant]["convention"]
  if "hvr_roll" in d:
    h, v, r, roll = (d["hvr_roll"][:, i] for i in range(4))
  else:
    h, v, r = (d["hvr"][:, i] for i in range(3))
    roll = np.zeros_like(h)
  c2w = cameras.look_at_pose(h, v, r, d["pivot"], roll, conv)
  c.check("cam2world", c2w)
  if "world2cam" in d:
    c.check("world2cam", cameras.world_to_camera(c2w))
  if "cam_z" in d:
    c.check("cam_z", cameras.camera_z_of_world_origin(c2w))
  for key in ("intrinsics_f32", "intrinsics_f64"):
    if key in d:
      c.check(key, cameras.fov_to_intrinsics(d["fov_degrees"]))


def check_rays(c, variant):
  d, conv = c.data, VARIANTS[variant]["convention"]
  for key in d.files:
    if not key.endswith("_intrinsics"):
      continue
    call = key[:-len("intrinsics")]
    res = c.meta["options"][f"{call}resolution"]
    origins, dirs = rays.generate_rays(
        jnp.asarray(d["cam2world"], jnp.float32),
        jnp.asarray(d[key], jnp.float32), res, res, conv)
    c.check(f"{call}ray_origins", origins)
    c.check(f"{call}ray_directions", dirs)


def check_plane_sampling(c, variant):
  d, opts = c.data, c.meta["options"]
  axes = VARIANTS[variant]["plane_axes"]
  for prefix in ("", "rect_"):
    if f"{prefix}planes" not in d:
      continue
    planes, points = _planes(d[f"{prefix}planes"]), d[f"{prefix}points"]
    grids = triplane.project_to_planes(jnp.asarray(points), axes,
                                       opts["box_warp"])
    c.check(f"{prefix}grid_coords", jnp.swapaxes(grids, 1, 2))
    c.check(f"{prefix}sampled",
            triplane.sample_planes(planes, points, axes, opts["box_warp"]))
    c.check(f"{prefix}aggregated",
            triplane.sample_triplane(planes, points, axes, opts["box_warp"]))
  if "bws_sampled" in d:
    c.check("bws_sampled", triplane.sample_planes(
        _planes(d["planes"]), d["points"], axes, opts["box_warp"],
        d["bws_box_warp_scale"]))


def check_decoder(c, variant):
  del variant
  d = c.data
  tensors = {k[len("param."):]: d[k] for k in d.files if k.startswith("param.")}
  feats = jnp.asarray(d["sampled_features"], jnp.float32)
  aggregated = feats.mean(axis=1)
  c.check("aggregated", aggregated)
  for prefix, sub in c.meta["fc_layers"].items():
    out_prefix = "" if prefix == "main" else prefix
    dec = _decoder(tensors, sub["layers"], feats.shape[-1])
    rgb, sigma = dec(aggregated)
    c.check(f"{out_prefix}rgb", rgb)
    c.check(f"{out_prefix}sigma", sigma[..., None])


def check_ray_marcher(c, variant):
  d, signed = c.data, VARIANTS[variant]["signed_rgb"]
  for prefix, opts in c.meta["options"].items():
    out_prefix = "" if prefix == "main" else prefix
    if opts.get("clamp_mode", "softplus") != "softplus":
      raise NotImplementedError(f"clamp_mode {opts['clamp_mode']}")
    out = volume.composite(jnp.asarray(d["colors"], jnp.float32),
                           jnp.asarray(d["densities"][..., 0], jnp.float32),
                           jnp.asarray(d["depths"][..., 0], jnp.float32),
                           white_background=opts.get("white_back", False))
    rgb = 2 * out["rgb"] - 1 if signed else out["rgb"]
    c.check(f"{out_prefix}rgb", rgb)
    c.check(f"{out_prefix}weights", out["weights"])
    c.check_depth(f"{out_prefix}depth", out["depth"],
                  out["weights"].sum(-1))
    if f"{out_prefix}T_bg" in d:
      c.check(f"{out_prefix}T_bg", out["background_transmittance"])


def check_importance(c, variant):
  del variant
  d = c.data
  z, w = d["z_vals"][..., 0], d["weights"][..., 0]
  u = d["rand_000"].reshape(*z.shape[:2], -1)
  c.check("importance_depths", sampling.importance_depths(z, w, u))
  if "pdf_bins" in d:
    bins, weights = d["pdf_bins"], d["pdf_weights"]
    c.check("pdf_samples",
            sampling.inverse_cdf(bins, weights, d["pdf_rand_000"]))
    n = d["pdf_samples_det"].shape[-1]
    det_u = np.broadcast_to(np.linspace(0, 1, n, dtype=np.float32),
                            (bins.shape[0], n))
    c.check("pdf_samples_det", sampling.inverse_cdf(bins, weights, det_u))


def check_render(c, variant):
  d, opts, facts = c.data, c.meta["options"], VARIANTS[variant]
  if opts.get("clamp_mode", "softplus") != "softplus":
    raise NotImplementedError(f"clamp_mode {opts['clamp_mode']}")
  origins, dirs = d["ray_origins"], d["ray_directions"]
  b, m, _ = origins.shape
  jitter = d["rand_000"][..., 0]
  auto = opts["ray_start"] == "auto-plane"
  cfg = render_config.RenderConfig(
      num_coarse=opts["depth_resolution"],
      num_fine=opts["depth_resolution_importance"],
      box_warp=opts["box_warp"],
      plane_axes=facts["plane_axes"],
      ray_range=None if auto else (opts["ray_start"], opts["ray_end"]),
      disparity=opts.get("disparity_space_sampling", False),
      jitter="per_camera" if jitter.shape[1] == 1 else "per_ray",
      white_background=opts.get("white_back", False),
      camera_convention=facts["convention"])
  scale = opts.get("box_warp_scale", 1.0)
  c2w = jnp.asarray(d["cam2world"])
  near, far = render.ray_bounds(cfg, c2w, b, scale)
  tensors = {k[len("decoder.param."):]: d[k] for k in d.files
             if k.startswith("decoder.param.")}
  planes = _planes(d["planes"])
  planes = jnp.broadcast_to(planes, (b, *planes.shape[1:]))
  dec = _decoder(tensors, c.meta["decoder"]["layers"], planes.shape[-1])
  field = render.triplane_field(planes, dec, cfg, scale)
  out = render.render_rays(
      field, jnp.asarray(origins), jnp.asarray(dirs), near, far, cfg,
      jitter=jitter, fine_uniforms=d["rand_001"].reshape(b, m, -1),
      return_intermediates=True)
  coarse = out["coarse_depths"]
  if "cam_z" in d:
    c.check("cam_z", cameras.camera_z_of_world_origin(c2w),
            atol=c.tol.get("cam_z", 5e-6))
  c.check("depths_coarse", coarse if d["depths_coarse"].shape[1] > 1
          else coarse[:, :1])
  coords = origins[:, :, None] + np.asarray(coarse)[..., None] * dirs[:, :,
                                                                      None]
  c.check("coarse_coords", coords)
  c.check("coarse_sigma", out["coarse_sigma"])
  c.check("coarse_weights", out["coarse_weights"])
  # Fine samples stay in the order of their uniforms, as in the reference.
  c.check("depths_fine", out["fine_depths"])
  c.check("fine_sigma", out["fine_sigma"])
  c.check("all_depths", out["all_depths"])
  c.check("all_sigma", out["all_sigma"])
  c.check("final_weights", out["weights"])
  feats = out["features"]
  c.check("rgb", 2 * feats - 1 if facts["signed_rgb"] else feats)
  c.check("depth", out["depth"])
  c.check("weights_sum", out["weights_sum"])
  if "T_bg" in d:
    c.check("T_bg", out["background_transmittance"])


CASES = {
    "cameras": check_cameras,
    "rays": check_rays,
    "plane_sampling": check_plane_sampling,
    "decoder": check_decoder,
    "ray_marcher": check_ray_marcher,
    "importance": check_importance,
    "render": check_render,
}


@pytest.mark.parametrize("path", _files(), ids=os.path.basename)
def test_conformance(path):
  data = np.load(path)
  meta = json.loads(data["meta"].item())
  assert meta["case"] in CASES, f"{path}: unknown case {meta['case']!r}"
  assert meta["variant"] in VARIANTS, f"{path}: unknown variant"
  checker = Checker(data, meta)
  with jax.default_matmul_precision("highest"):
    CASES[meta["case"]](checker, meta["variant"])
  checker.finish()
