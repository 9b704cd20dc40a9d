"""The synthesizer: one portrait -> tri-plane head -> rendered image (NNX).

Psi3d and Psi are this one class: Psi3d runs it with motion_scale 0, which
turns every cross-attention off, so its output cannot depend on motion.

    image [B, S, S, 3] in [-1, 1]
      -> global encoder (S/8) -> canonical transformer (S/2) --+
      -> detail encoder (S/2) -------------------------------- +-> tri-plane
         decoder -> planes [B, 3, S/2, S/2, C] -> volume rendering at the
         neural resolution over the background U-Net's features ->
         EG3D-style super-resolution to `superres.factor` x the neural
         resolution (4x at paper size).
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
from flax import nnx

from p4d_jax.models import canonical
from p4d_jax.models import encoders
from p4d_jax.models import field_mlp
from p4d_jax.models import global_encoder
from p4d_jax.models import sizes as sizes_lib
from p4d_jax.models import superres
from p4d_jax.models import triplane_decoder
from p4d_jax.rendering import render
from p4d_jax.rendering import render_config


class Synthesizer(nnx.Module):
  """Portrait (+ motion) -> planes -> rendered features, image, depth, mask."""

  def __init__(self, sizes: sizes_lib.SynthesizerSizes, rngs: nnx.Rngs):
    sizes.check()
    self.encoder_global = global_encoder.EncoderGlobal(sizes.global_, rngs)
    self.encoder_detail = encoders.EncoderDetail(sizes.detail, rngs)
    self.encoder_canonical = canonical.EncoderCanonical(sizes.canonical, rngs)
    self.generator_triplane = triplane_decoder.DecoderTriplane(sizes.triplane,
                                                               rngs)
    self.background = encoders.EncoderBackground(sizes.background, rngs)
    c = sizes.triplane.plane_channels
    self.decoder = field_mlp.FieldDecoder(c, sizes.decoder_hidden, c,
                                          rngs=rngs)
    self.superresolution = superres.SuperResolution(sizes.superres, rngs)
    self.signed_sr_input = sizes.superres.signed_input

  def planes(self, image, source_motion, driving_motion, motion_scale):
    """image [B, S, S, 3], motions [B, D], motion_scale [B] -> planes
    [B, 3, S/2, S/2, C]."""
    return self.animate(self.source_state(image, source_motion, motion_scale),
                        driving_motion, motion_scale)

  def source_state(self, image, source_motion, motion_scale) -> dict:
    """What the planes take from the source alone (computed once per source
    when a reenactment drives it with many frames): neutral tokens and
    detail features."""
    feats = self.encoder_global(image)
    return dict(
        neutral=self.encoder_canonical.neutralise(feats, source_motion,
                                                  motion_scale),
        detail=self.encoder_detail(image))

  def animate(self, source_state: dict, driving_motion,
              motion_scale) -> jax.Array:
    """`source_state` and driving motion [B, D] -> planes [B, 3, S/2, S/2, C]."""
    canon = self.encoder_canonical.animate(source_state["neutral"],
                                           driving_motion, motion_scale)
    # The renderer samples float32 planes whatever the compute dtype, so
    # their gradient is accumulated in float32 (models/precision.py).
    planes = self.generator_triplane(canon, source_state["detail"])
    return planes.astype(jnp.float32)

  def background_image(self, image, resolution: int) -> jax.Array:
    """image [B, S, S, 3] -> background features [B, R, R, C] in [0, 1]."""
    bg = jax.nn.sigmoid(self.background(image).astype(jnp.float32))
    return jax.image.resize(bg, (bg.shape[0], resolution, resolution,
                                 bg.shape[-1]), "linear", antialias=False)

  def render_planes(self, planes, background, cam2world, intrinsics, *,
                    resolution: int, cfg: render_config.RenderConfig,
                    key: jax.Array | None = None,
                    uniforms: tuple[jax.Array, jax.Array] | None = None
                    ) -> dict:
    """Planes [N, 3, H, W, C] and background [N, R, R, C] at cameras
    [N, 4, 4] / [N, 3, 3] -> the outputs of `__call__` but planes. The
    renderer's random draws come from `key`, or are `uniforms`
    (`render.render_image`)."""
    # Rendered without the background, then composited: the same features,
    # and the losses can see the head and the background apart.
    out = render.render_image(planes, self.decoder, cam2world, intrinsics,
                              resolution, resolution, cfg, key=key,
                              uniforms=uniforms)
    residual = out["background_transmittance"]
    feats = out["features"] + residual[..., None] * background
    # The released network's super-resolution sees every feature channel
    # as 2f - 1, like the RGB (sizes.SuperResSizes.signed_input).
    raw = 2.0 * feats[..., :3] - 1.0
    sr_input = 2.0 * feats - 1.0 if self.signed_sr_input else feats
    return dict(image=self.superresolution(sr_input, raw), image_raw=raw,
                mask=1.0 - 2.0 * residual, features=feats,
                foreground=out["features"][..., :3],
                background=background[..., :3], depth=out["depth"])

  def __call__(self, image, source_motion, driving_motion, motion_scale,
               cam2world, intrinsics, *, resolution: int,
               cfg: render_config.RenderConfig, key: jax.Array) -> dict:
    """Renders the reconstructed head at cameras [B, 4, 4] / [B, 3, 3].

    Returns image_raw [B, R, R, 3] and mask [B, R, R] in [-1, 1], image
    [B, fR, fR, 3] (super-resolved by f = superres.factor), features
    [B, R, R, C] in [0, 1], the head alone (foreground [B, R, R, 3], colour
    premultiplied by opacity, in [0, 1]) and the background [B, R, R, 3] in
    [0, 1] apart, depth [B, R, R] and planes.
    """
    planes = self.planes(image, source_motion, driving_motion, motion_scale)
    out = self.render_planes(planes, self.background_image(image, resolution),
                             cam2world, intrinsics, resolution=resolution,
                             cfg=cfg, key=key)
    return dict(out, planes=planes)
