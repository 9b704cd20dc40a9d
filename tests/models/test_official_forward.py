"""End-to-end parity with the official Portrait4D-v2 inference at 512^2
(slow: about 3 minutes on 2 cores): each p4d_v2_forward_seed<N>.npz's
synthetic checkpoint is written as the official state dict, converted by
tools/convert_official.py, read back as a run (`runs.load_run`), and run on
the stored inputs with the stored random draws; every stored array (module
boundaries, 81 rays' renderer internals, the images) is compared at its
tolerances.json bound."""

from __future__ import annotations

import contextlib

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import configs
from p4d_jax.models import attention as A
from p4d_jax.models import encoders
from p4d_jax.models import superres
from p4d_jax.rendering import cameras
from p4d_jax.rendering import rays as rays_lib
from p4d_jax.rendering import render
from p4d_jax.tasks import runs
from tests.models import official_vectors as ov
from tests.models.official_vectors import highest_precision  # noqa: F401  pylint: disable=unused-import
from tests.models.official_vectors import nchw
from tools import convert_official

RESOLUTION = 128


@contextlib.contextmanager
def recording(monkeypatch, watch: dict):
  """Records the output of each watched module instance ({name: module})
  while the block runs: {name: output}."""
  names = {id(m): name for name, m in watch.items()}
  out = {}
  for cls in {type(m) for m in watch.values()}:
    original = cls.__call__

    def call(self, *args, _original=original, **kwargs):
      result = _original(self, *args, **kwargs)
      if id(self) in names:
        out[names[id(self)]] = result
      return result
    monkeypatch.setattr(cls, "__call__", call)
  yield out
  monkeypatch.undo()


def _convert(tmp_path, seed: int):
  """The synthetic official checkpoints as files -> the tool -> a run."""
  sc = ov.synthetic_checkpoint()
  generator, pdfgc = tmp_path / "generator.npz", tmp_path / "pdfgc.npz"
  np.savez(generator, **sc.make_state_dict(seed))
  np.savez(pdfgc, **sc.make_pdfgc_state_dict(seed))
  out = tmp_path / "run"
  convert_official.main([str(generator), f"--pdfgc={pdfgc}", f"--out={out}"])
  generator.unlink()
  return runs.load_run(str(out), defaults=configs.preset, task="psi4d")


def _watch(net) -> dict:
  g, c, t = net.encoder_global, net.encoder_canonical, net.generator_triplane
  watch = {"global.conv1": g.conv1, "global": g, "detail": net.encoder_detail,
           "background": net.background, "patch_embed": c.patch_embed,
           "maps_source": c.neutral_motion.maps[-1],
           "maps_driving": c.driving_motion.maps[-1],
           "y_source": c.neutral_motion.proj_y,
           "y_driving": c.driving_motion.proj_y, "canonical": c.conv_out,
           "triplane.convs1": t.convs1[-1], "triplane.block0": t.trans_blocks[0],
           "sr.block0": net.superresolution.block0,
           "sr.block1": net.superresolution.block1,
           "sr.block0.conv0": net.superresolution.block0.conv0}
  for i, layer in enumerate(g.layers):
    watch[f"global.layer{i + 1}"] = layer[-1]
  for kind in ("neutral", "motion"):
    for i, blk in enumerate(getattr(c, f"trans_blocks_{kind}")):
      watch[f"{kind}{i}"] = blk
  return watch


@pytest.mark.slow
@pytest.mark.usefixtures("highest_precision")
@pytest.mark.parametrize("path", ov.params("p4d_v2_forward"))
def test_official_forward(path, tmp_path, monkeypatch):
  seed = ov.seed(path)
  run = _convert(tmp_path, seed)
  net = run.model.module(run.params)
  cfg = run.model.render_cfg
  c = ov.Checker(path, "p4d_v2_forward")
  c.inputs("in.source_image_u8", "in.motion_source", "in.motion_driving",
           "in.camera", "in.stratified_uniforms", "meta.ray_sel",
           "meta.token_sel", "meta.json", "in.flame_shape", "in.flame_exp",
           "in.flame_pose", "in.flame_eye_pose")
  # The deformer is the identity on this path (FLAME global pose 0).
  c.close("render.deformer_max_abs_offset", np.float64(0.0), atol=0.0)
  u8 = c["in.source_image_u8"]
  image = jnp.asarray(np.stack([u8, u8[:, ::-1]]).astype(np.float32)
                      / 127.5 - 1)
  source = jnp.asarray(c["in.motion_source"])
  driving = jnp.asarray(c["in.motion_driving"])
  c2w, intrinsics = cameras.unpack_label(jnp.asarray(c["in.camera"]))
  b, m = 2, RESOLUTION * RESOLUTION
  jitter = jnp.asarray(c["in.stratified_uniforms"])[..., 0]
  fine = ov.synthetic_checkpoint().importance_uniforms(seed, b * m).reshape(
      b, m, -1)
  c.close("in.importance_uniforms_sum", fine.astype(np.float64).sum(), 0.0)
  sel = c["meta.ray_sel"]
  c.close("in.importance_uniforms_sel", fine[:, sel], 0.0)

  scale = jnp.ones((b,))
  with recording(monkeypatch, _watch(net)) as rec:
    state = net.source_state(image, source, scale)
    planes = net.animate(state, driving, scale)
    background = net.background_image(image, RESOLUTION)
    out = net.render_planes(planes, background, c2w, intrinsics,
                            resolution=RESOLUTION, cfg=cfg,
                            uniforms=(jitter, jnp.asarray(fine)))

  stages = [encoders.add_coords(image), jax.nn.relu(rec["global.conv1"])] + [
      rec[f"global.layer{i}"] for i in range(1, 5)]
  c.equal("global.stage_shapes", [nchw(s).shape for s in stages])
  c.stats("global.stage_stats", stages, "global.stage5_s8")
  c.close("global.stage5_s8", nchw(stages[-1])[..., ::8, ::8])
  features = nchw(rec["global"])
  c.close("global.features_s4", features[..., ::4, ::4])
  c.close("global.features_c0", features[:, :2])
  c.stats("global.stats", [features], "global.features_s4")
  detail = nchw(rec["detail"])
  c.close("detail.features_s16", detail[..., ::16, ::16])
  c.close("detail.features_tl8", detail[..., :8, :8])
  c.stats("detail.stats", [detail], "detail.features_s16")

  leaky = lambda x: jax.nn.leaky_relu(x, 0.01)  # noqa: E731
  for tag in ("source", "driving"):
    c.close(f"canonical.maps_{tag}", leaky(rec[f"maps_{tag}"]))
    c.close(f"canonical.y_{tag}_c4",
            np.asarray(rec[f"y_{tag}"]).reshape(b, 64, -1)[..., ::4])
  tokens = c["meta.token_sel"]
  blocks = [rec["patch_embed"][0]] + [
      rec[f"{kind}{i}"] for kind in ("neutral", "motion") for i in range(4)]
  c.close("canonical.patch_embed_tok", np.asarray(blocks[0])[:, tokens])
  c.close("canonical.after_neutral_tok", np.asarray(blocks[4])[:, tokens])
  c.close("canonical.after_motion_tok", np.asarray(blocks[8])[:, tokens])
  c.stats("canonical.block_stats", blocks, "canonical.after_motion_tok")
  side = int(np.sqrt(blocks[8].shape[1]))
  shuffled = nchw(A.pixel_shuffle(blocks[8].reshape(b, side, side, -1)))
  canonical = nchw(rec["canonical"])
  c.close("canonical.pixelshuffle_s8", shuffled[..., ::8, ::8])
  c.close("canonical.features_s16", canonical[..., ::16, ::16])
  c.close("canonical.features_tl8", canonical[..., :8, :8])
  c.stats("canonical.stats", [shuffled, canonical], "canonical.features_s16")

  planes = np.asarray(planes).transpose(0, 1, 4, 2, 3)   # [B, 3, C, H, W]
  c.close("triplane.planes_s8", planes[..., ::8, ::8])
  c.close("triplane.planes_tl8",
          planes.reshape(b, -1, *planes.shape[-2:])[..., :8, :8])
  c.stats("triplane.stats", [jax.nn.leaky_relu(rec["triplane.convs1"], 0.01),
                             rec["triplane.block0"], planes],
          "triplane.planes_s8")
  logits = nchw(rec["background"])
  c.close("background.logits_s32", logits[..., ::32, ::32])
  c.stats("background.stats", [logits], "background.logits_s32")
  c.close("out.rgb_bg", nchw(out["background"]) * 2 - 1)
  c.close("out.background_feature_s8",
          nchw(background * 2 - 1)[..., ::8, ::8])

  # The renderer on the recorded rays, with their recorded draws.
  origins, directions = rays_lib.generate_rays(
      c2w, intrinsics, RESOLUTION, RESOLUTION, cfg.camera_convention)
  origins, directions = origins[:, sel], directions[:, sel]
  c.close("render.ray_origins_sel", origins)
  c.close("render.ray_directions_sel", directions)
  field = run.model.field(run.params, jnp.asarray(
      planes.transpose(0, 1, 3, 4, 2)))
  near, far = render.ray_bounds(cfg, c2w, b)
  got = render.render_rays(field, origins, directions, near, far, cfg,
                           jitter=jitter, fine_uniforms=jnp.asarray(
                               fine[:, sel]), return_intermediates=True)
  scene = jnp.repeat(jnp.arange(b), len(sel))

  def at(depths):   # points, the field's first 4 features, raw sigma
    points = origins[:, :, None] + depths[..., None] * directions[:, :, None]
    feats, sigma = field(points.reshape(b * len(sel), -1, 3), scene)
    return (points, np.asarray(feats).reshape(*depths.shape, -1)[..., :4],
            np.asarray(sigma).reshape(depths.shape))

  coarse = got["coarse_depths"]
  c.close("render.depths_coarse", coarse[:, 0])
  points, rgb4, sigma = at(coarse)
  c.close("render.coarse_canonical_sel", points)
  c.close("render.coarse_sigma_sel", sigma)
  c.close("render.coarse_rgb4_sel", rgb4)
  c.close("render.coarse_weights_sel", got["coarse_weights"])
  # Fine samples stay in the order of their uniforms, as the reference's.
  depths = got["fine_depths"]
  points, rgb4, sigma = at(depths)
  c.close("render.depths_fine_sel", depths)
  c.close("render.fine_canonical_sel", points)
  c.close("render.fine_sigma_sel", sigma)
  c.close("render.fine_rgb4_sel", rgb4)
  c.close("render.all_depths_sel", got["all_depths"])
  c.close("render.all_weights_sel", got["weights"])
  c.close("render.feature_sel", got["features"])
  c.close("render.depth_sel", got["depth"])
  c.close("render.T_bg_sel", got["background_transmittance"])

  c.close("out.image", nchw(out["image_raw"]))
  c.close("out.image_feature_s4", nchw(out["features"] * 2 - 1)[..., ::4, ::4])
  c.close("out.image_depth", out["depth"])
  c.close("out.T_bg", (1 - out["mask"]) / 2)
  sr = nchw(out["image"])
  c.close("out.image_sr_s4", sr[..., ::4, ::4])
  c.close("out.image_sr_tl32", sr[..., :32, :32])
  c.close("out.image_sr_c32", sr[..., 240:272, 240:272])
  c.close("out.image_sr_br32", sr[..., -32:, -32:])
  c.stats("out.image_sr_stats", [sr[:, i] for i in range(3)],
          "out.image_sr_s4")
  (x0, i0), (x1, i1) = rec["sr.block0"], rec["sr.block1"]
  conv0 = nchw(superres._lrelu(rec["sr.block0.conv0"]))  # pylint: disable=protected-access
  c.close("sr.block0_x_s16", nchw(x0)[..., ::16, ::16])
  c.close("sr.block0_img_s4", nchw(i0)[..., ::4, ::4])
  c.close("sr.block0_img_tl16", nchw(i0)[..., :16, :16])
  c.close("sr.block0_conv0_tl8", conv0[:, :16, :8, :8])
  c.stats("sr.stats", [conv0, x0, i0, x1, i1], "sr.block0_x_s16")
  errors = c.finish()
  print("max |error| per stored array:", errors)
