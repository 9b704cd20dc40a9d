"""The model handle: Psi3d or Psi as (graphdef, params) plus the pure
functions that training, the pseudo-view stage, evaluation, inference and
the tools share.

    model = Model.from_config(config)            # configs/psi3d.py, psi4d.py
    params = model.init(key)
    motion = model.motion_code(params, frames)   # [B, D] (Psi only)
    source = model.encode_source(params, image, motion)   # once per source
    planes = model.animate(params, source, driving_motion)
    out = model.render(params, planes, source["background"], c2w, intr, key)

Psi3d is the synthesizer with motion scale 0 (no motion source; its output
cannot depend on motion); Psi adds the motion source that
`config.motion.kind` names (`models.motion`), whose module, if any, is the
network's `motion_encoder`. Every synthesizer parameter keeps its path in
both, so a Psi3d run initialises Psi. Static settings (compute dtype,
remat) live in the graphdef, the arrays in `params` (an nnx.State).
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import ml_collections
from flax import nnx

from p4d_jax.models import motion as motion_lib
from p4d_jax.models import precision
from p4d_jax.models import remat
from p4d_jax.models import sizes as sizes_lib
from p4d_jax.models import synthesizer
from p4d_jax.rendering import render as render_lib
from p4d_jax.rendering import render_config


class Model:
  """Built from a config's model, render, motion (Psi only), image_size and
  neural_resolution."""

  def __init__(self, sizes: sizes_lib.SynthesizerSizes,
               render_cfg: render_config.RenderConfig, image_size: int,
               neural_resolution: int,
               motion: motion_lib.source.MotionSource | None = None,
               compute_dtype: str = "float32", remat_policy: str = "none"):
    sizes_lib.check_resolution(neural_resolution, sizes.superres.factor,
                               image_size)
    self.sizes, self.render_cfg = sizes, render_cfg
    self.image_size, self.neural_resolution = image_size, neural_resolution
    self.motion = motion
    abstract = nnx.eval_shape(self._build, jax.random.key(0))
    precision.set_compute_dtype(abstract, compute_dtype)
    remat.set_policy(abstract, remat_policy)
    self.graphdef, self.abstract_params = nnx.split(abstract, nnx.Param)

  @classmethod
  def from_config(cls, config: ml_collections.ConfigDict) -> "Model":
    sizes = sizes_lib.SynthesizerSizes.from_config(config.model)
    motion = (motion_lib.make(config.motion, sizes.canonical.motion_dim)
              if "motion" in config else None)
    return cls(sizes, render_config.RenderConfig.from_config(config.render),
               config.image_size, config.neural_resolution, motion,
               config.model.compute_dtype, config.model.remat)

  def _build(self, key: jax.Array) -> synthesizer.Synthesizer:
    rngs = nnx.Rngs(key)
    net = synthesizer.Synthesizer(self.sizes, rngs)
    encoder = self.motion.build(rngs) if self.motion else None
    if encoder is not None:
      net.motion_encoder = encoder
    return net

  def init(self, key: jax.Array) -> nnx.State:
    """Fresh parameters; a motion source fills its own (e.g. from a
    pretrained run)."""
    params = nnx.state(self._build(key), nnx.Param)
    if self.motion and "motion_encoder" in params:
      params["motion_encoder"] = self.motion.load(params["motion_encoder"])
    return params

  def module(self, params: nnx.State) -> synthesizer.Synthesizer:
    return nnx.merge(self.graphdef, params)

  @property
  def motion_reads(self) -> str | None:
    """The frame field the motion source reads ("image", "expression"), or
    None for Psi3d."""
    return self.motion.reads if self.motion else None

  def motion_code(self, params, frames: jax.Array) -> jax.Array:
    """Frames (the field `motion_reads`) -> motion [B, D]."""
    if self.motion is None:
      raise ValueError("This model has no motion source (a Psi3d config).")
    net = self.module(params)
    return self.motion.encode(getattr(net, "motion_encoder", None), frames)

  def encode_source(self, params, image: jax.Array,
                    motion: jax.Array | None = None) -> dict:
    """Source images [B, S, S, 3] (and their motion [B, D]; None: static,
    Psi3d's motion scale 0) -> what every frame of that source reuses:
    neutral tokens, detail features, background [B, N, N, C], scale [B]."""
    net = self.module(params)
    b = image.shape[0]
    if motion is None:
      motion = jnp.zeros((b, self.sizes.canonical.motion_dim), image.dtype)
      scale = jnp.zeros((b,), image.dtype)
    else:
      scale = jnp.ones((b,), image.dtype)
    state = net.source_state(image, motion, scale)
    return dict(state, scale=scale, background=self.background(params, image))

  def background(self, params, image: jax.Array) -> jax.Array:
    """Source images [B, S, S, 3] -> background features [B, N, N, C] in
    [0, 1] at the neural resolution N."""
    return self.module(params).background_image(image, self.neural_resolution)

  def animate(self, params, source: dict,
              motion: jax.Array | None = None) -> jax.Array:
    """`encode_source`'s output and driving motion [B, D] (None: static) ->
    planes [B, 3, H, W, C]."""
    if motion is None:
      motion = jnp.zeros((source["scale"].shape[0],
                          self.sizes.canonical.motion_dim),
                         source["scale"].dtype)
    state = dict(neutral=source["neutral"], detail=source["detail"])
    return self.module(params).animate(state, motion, source["scale"])

  def render(self, params, planes: jax.Array, background: jax.Array,
             c2w: jax.Array, intrinsics: jax.Array, key: jax.Array | None,
             uniforms: tuple[jax.Array, jax.Array] | None = None) -> dict:
    """Planes [N, 3, H, W, C] and background [N, R, R, C] at cameras
    [N, 4, 4] / [N, 3, 3] -> image [N, S, S, 3], image_raw [N, R, R, 3],
    mask [N, R, R] (both in [-1, 1]), features, foreground, background,
    depth [N, R, R] (`Synthesizer.render_planes`). The renderer's draws
    come from `key` or are given `uniforms` (`render.render_image`)."""
    return self.module(params).render_planes(
        planes, background, c2w, intrinsics,
        resolution=self.neural_resolution, cfg=self.render_cfg, key=key,
        uniforms=uniforms)

  def render_views(self, params, image: jax.Array, c2w: jax.Array,
                   intrinsics: jax.Array, key: jax.Array,
                   source_motion: jax.Array | None = None,
                   driving_motion: jax.Array | None = None) -> dict:
    """Sources [B, S, S, 3] (driven by motion [B, D], or static when both
    motions are None) at cameras [B, T, 4, 4] / [B, T, 3, 3] -> `render`'s
    outputs for the [B*T] views, plus planes [B, ...]."""
    b, t = c2w.shape[:2]
    source = self.encode_source(params, image, source_motion)
    planes = self.animate(params, source, driving_motion)
    out = self.render(params, jnp.repeat(planes, t, axis=0),
                      jnp.repeat(source["background"], t, axis=0),
                      c2w.reshape(b * t, 4, 4),
                      intrinsics.reshape(b * t, 3, 3), key)
    return dict(out, planes=planes)

  def field(self, params, planes: jax.Array):
    """(points [N, P, 3], scene indices [N]) -> (features, density) of the
    planes' radiance field (`render.triplane_field`)."""
    return render_lib.triplane_field(planes, self.module(params).decoder,
                                     self.render_cfg)

  def density_grid(self, params, planes: jax.Array, resolution: int
                   ) -> jax.Array:
    """Density [R, R, R] of one head's planes [1, ...] on a grid over the
    render box (side `render_cfg.box_warp`, axis order x, y, z)."""
    field = self.field(params, planes)
    half = self.render_cfg.box_warp / 2
    axis = jnp.linspace(-half, half, resolution)
    grid = jnp.stack(jnp.meshgrid(axis, axis, axis, indexing="ij"), -1)
    points = grid.reshape(resolution, resolution * resolution, 3)
    sigma = jax.lax.map(
        lambda p: field(p[None], jnp.zeros((1,), jnp.int32))[1][0], points)
    return sigma.reshape(resolution, resolution, resolution)
