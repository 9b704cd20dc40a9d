"""Parity with the official Portrait4D-v2 code, module by module, and with
PD-FGC: each vector file's synthetic checkpoint is regenerated from its
seed, converted by the converter's own functions, run on the stored inputs,
and every stored array is compared at its tolerance (tolerances.json).
The end-to-end 512^2 forward is tests/models/test_official_forward.py
(slow)."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from flax import nnx

from p4d_jax import tree_paths
from p4d_jax.models import attention as A
from p4d_jax.models import sizes
from p4d_jax.models import superres
from p4d_jax.models import synthesizer
from p4d_jax.models.official import generator_weights
from p4d_jax.models.official import pdfgc_crop
from p4d_jax.models.official import pdfgc_net
from p4d_jax.models.official import pdfgc_weights
from tests.models import official_vectors as ov
from tests.models.official_vectors import highest_precision  # noqa: F401  pylint: disable=unused-import
from tests.models.official_vectors import nchw
from tests.models.official_vectors import nhwc

# Module group of the file -> (our module path, the official prefix).
GROUPS = {
    "blockcross": ("encoder_canonical/trans_blocks_motion/0",
                   "encoder_canonical.trans_blocks_motion.0."),
    "block": ("generator_triplane/trans_blocks/0",
              "generator_triplane.trans_blocks.0."),
    "srblock": ("superresolution/block0", "superresolution.block0."),
    "decoder": ("decoder", "decoder."),
    "encoder_detail": ("encoder_detail", "encoder_detail."),
    "background": ("background", "background."),
    "encoder_global": ("encoder_global", "encoder_global."),
    "canonical": ("encoder_canonical", "encoder_canonical."),
    "triplane": ("generator_triplane", "generator_triplane."),
}


def _converted_synthesizer(seed: int):
  """The paper-size synthesizer with seed's synthetic official weights,
  the state dict and the converter's {our path: array}."""
  net = nnx.eval_shape(lambda: synthesizer.Synthesizer(
      sizes.SynthesizerSizes.paper(), nnx.Rngs(0)))
  graphdef, abstract = nnx.split(net, nnx.Param)
  like = {k: v.shape for k, v in tree_paths.named_leaves(abstract).items()}
  state_dict = ov.synthetic_checkpoint().make_state_dict(seed)
  named = generator_weights.convert(state_dict, like)
  return ov.merged(graphdef, abstract, named), state_dict, named


def _keys_read(named: dict, state_dict: dict, ours: str, theirs: str):
  """The official keys behind our parameters under `ours`, plus the
  ignored keys under `theirs`."""
  read = set()
  for path in named:
    if path == ours or path.startswith(ours + "/"):
      read |= ({k for k in state_dict if k.startswith("decoder.")}
               if path.startswith("decoder/")
               else {generator_weights.official_key(path)})
  return read | {k for k in state_dict if k.startswith(theirs)
                 and generator_weights.ignored_reason(k)}


@pytest.mark.usefixtures("highest_precision")
@pytest.mark.parametrize("path", ov.params("p4d_v2_modules"))
def test_official_modules(path):
  net, state_dict, named = _converted_synthesizer(ov.seed(path))
  c = ov.Checker(path, "p4d_v2_modules")
  for group, (ours, theirs) in GROUPS.items():
    c.same_set(f"{group}.keys", _keys_read(named, state_dict, ours, theirs))

  blk = net.encoder_canonical.trans_blocks_motion[0]
  c.inputs("blockcross.x", "blockcross.y", "blockcross.HW")
  x, y = jnp.asarray(c["blockcross.x"]), jnp.asarray(c["blockcross.y"])
  grid = tuple(int(v) for v in c["blockcross.HW"])
  cross = x + blk.attn2(blk.norm2(x), grid, context=y)
  c.close("blockcross.after_cross", cross)
  c.close("blockcross.after_self", cross + blk.attn1(blk.norm1(cross), grid))
  for scale in (0, 1):
    c.close(f"blockcross.out_scale{scale}",
            blk(x, grid, y, jnp.full((1,), float(scale))))

  blk = net.generator_triplane.trans_blocks[0]
  c.inputs("block.x", "block.HW")
  x, grid = jnp.asarray(c["block.x"]), tuple(int(v) for v in c["block.HW"])
  c.close("block.after_attn", x + blk.attn(blk.norm1(x), grid))
  c.close("block.out", blk(x, grid))

  block = net.superresolution.block0
  c.inputs("srblock.x", "srblock.img", "srblock.w_rand")
  x, img = nhwc(c["srblock.x"]), nhwc(c["srblock.img"])
  for case, w in (("w0", jnp.zeros((1, 3, 512))),
                  ("wrand", jnp.asarray(c["srblock.w_rand"]))):
    x_out, img_out = block(x, img, w)
    conv0 = superres._lrelu(block.conv0(x, w[:, 0]))  # pylint: disable=protected-access
    c.close(f"srblock.{case}.conv0_c32", nchw(conv0)[:, :32])
    c.close(f"srblock.{case}.x_out_c32", nchw(x_out)[:, :32])
    c.stats(f"srblock.{case}.x_out_stats", [x_out], f"srblock.{case}.x_out_c32")
    torgb = jnp.clip(block.torgb(x_out, w[:, 2]), -superres.CLAMP,
                     superres.CLAMP)
    c.close(f"srblock.{case}.torgb", nchw(torgb))
    c.close(f"srblock.{case}.img_out", nchw(img_out))

  c.inputs("decoder.sampled_features")
  feats, sigma = net.decoder(jnp.asarray(c["decoder.sampled_features"]).mean(1))
  c.close("decoder.rgb", feats)
  c.close("decoder.sigma", sigma[..., None])

  c.inputs("encoders.image64", "encoders.image128")
  for name, module in (("encoder_detail", net.encoder_detail),
                       ("background", net.background)):
    out = nchw(module(nhwc(c["encoders.image64"])))
    c.close(f"{name}.out_s2", out[..., ::2, ::2])
    c.close(f"{name}.out_tl8", out[..., :8, :8])
    c.stats(f"{name}.out_stats", [out], f"{name}.out_s2")
  c.close("encoder_global.out",
          nchw(net.encoder_global(nhwc(c["encoders.image128"]))))

  c.inputs("canonical.features_global", "canonical.motion_source",
           "canonical.motion_driving")
  canonical = net.encoder_canonical
  features = nhwc(c["canonical.features_global"])
  source = jnp.asarray(c["canonical.motion_source"])
  driving = jnp.asarray(c["canonical.motion_driving"])
  for scale, tag, step in ((1.0, "out", 2), (0.0, "out_scale0", 4)):
    s = jnp.full((1,), scale)
    tokens = canonical.reenact(canonical.neutralise(features, source, s),
                               driving, s)
    if scale:
      c.close("canonical.out_pixelshuffle", nchw(A.pixel_shuffle(tokens)))
    out = nchw(canonical.decode(tokens))
    np.testing.assert_array_equal(   # the one-call path is the same
        out, nchw(canonical(features, source, driving, s)))
    c.close(f"canonical.{tag}_s{step}", out[..., ::step, ::step])
    c.close(f"canonical.{tag}_tl8", out[..., :8, :8])
    c.stats(f"canonical.{tag}_stats", [out], f"canonical.{tag}_tl8")

  c.inputs("triplane.features_canonical", "triplane.features_detail")
  planes = net.generator_triplane(nhwc(c["triplane.features_canonical"]),
                                  nhwc(c["triplane.features_detail"]))
  b, _, h, w, ch = planes.shape
  c.close("triplane.out", nchw(planes.transpose(0, 2, 3, 1, 4).reshape(
      b, h, w, 3 * ch)))
  print("max |error| per stored array:", c.finish())


@pytest.mark.usefixtures("highest_precision")
@pytest.mark.parametrize("path", ov.params("pdfgc_forward"))
@pytest.mark.slow
def test_official_pdfgc(path):
  net = nnx.eval_shape(lambda: pdfgc_net.FanEncoder(nnx.Rngs(0)))
  graphdef, abstract = nnx.split(net, nnx.Param)
  head = pdfgc_weights.PREFIX + "/"
  like = {head + k: v.shape
          for k, v in tree_paths.named_leaves(abstract).items()}
  named = pdfgc_weights.convert(
      ov.synthetic_checkpoint().make_pdfgc_state_dict(ov.seed(path)), like)
  net = ov.merged(graphdef, abstract,
                  {k[len(head):]: v for k, v in named.items()})
  c = ov.Checker(path, "pdfgc_forward")
  c.inputs("in.source_image_u8", "in.landmarks", "meta.kornia", "meta.torch")
  u8 = c["in.source_image_u8"]
  images = jnp.asarray(np.stack([u8, u8]).astype(np.float32) / 127.5 - 1)
  # The transform in float64, as the official code (then float32).
  points = pdfgc_crop.three_points(c["in.landmarks"].astype(np.float64))
  matrix = pdfgc_crop.similarity(points).astype(np.float32)
  c.close("pre.trans_m", matrix)
  warped = nchw(pdfgc_crop.warp_affine(images, jnp.asarray(matrix)))
  c.close("pre.warped_s2", warped[..., ::2, ::2])
  c.close("pre.warped_tl16", warped[..., :16, :16])
  crop = pdfgc_crop.crop_warped(nhwc(warped))
  c.close("pre.net_input0", nchw(crop)[:1])
  c.close("pre.net_input_s2", nchw(crop)[..., ::2, ::2])
  # The all-float32 jnp path (the motion source's) stays within the bound.
  fast = pdfgc_crop.crop(images, pdfgc_crop.three_points(
      jnp.asarray(c["in.landmarks"])))
  np.testing.assert_allclose(fast, crop,
                             atol=ov.tolerances()["pdfgc_forward"]
                             ["pre.net_input_s2"]["atol"])

  out = jax.jit(net.codes)(crop)
  with jax.ensure_compile_time_eval():
    conv1 = net.model.conv1(crop)
  c.stats("net.conv1_stats", [conv1], "net.conv4_s8")
  c.stats("net.conv4_stats", [out["conv4"]], "net.conv4_s8")
  c.close("net.conv4_s8", nchw(out["conv4"])[..., ::8, ::8])
  c.close("net.hourglass_s8", nchw(out["hourglass"])[..., ::8, ::8])
  c.close("net.heatmaps_s4", nchw(out["heatmaps"])[..., ::4, ::4])
  c.close("net.conv6", nchw(out["conv6"]))
  c.close("net.feature", out["feature"])
  for ours, theirs in (("headpose", "headpose"), ("eye", "eye"),
                       ("emo", "emotion"), ("mouth", "mouth")):
    c.close(f"out.{theirs}", out[ours])
  c.close("out.motion", net(crop))
  print("max |error| per stored array:", c.finish())
