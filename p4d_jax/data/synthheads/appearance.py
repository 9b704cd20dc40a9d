"""SynthHeads colours: per-part albedo, a procedural skin pattern, lighting, backdrop.

Shading is Lambertian with ambient light (view-independent, so every view of a
scene agrees on a surface point's colour) plus a small highlight on the eyes.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp

from p4d_jax.data.synthheads import geometry
from p4d_jax.data.synthheads import params as P

# Palettes, walked by a parameter in [-1, 1] (piecewise linear, sRGB).
SKIN_TONES = ((0.97, 0.82, 0.72), (0.86, 0.66, 0.52), (0.62, 0.43, 0.31),
              (0.36, 0.23, 0.16))
HAIR_COLORS = ((0.05, 0.04, 0.035), (0.28, 0.17, 0.09), (0.55, 0.24, 0.1),
               (0.86, 0.72, 0.46))
EYE_COLORS = ((0.22, 0.12, 0.06), (0.45, 0.33, 0.15), (0.25, 0.42, 0.22),
              (0.25, 0.45, 0.72))
LIP_COLORS = ((0.86, 0.56, 0.56), (0.55, 0.12, 0.16))
EYE_WHITE = (0.92, 0.9, 0.88)
TEETH = (0.93, 0.9, 0.82)
MOUTH_INSIDE = (0.22, 0.04, 0.05)
PUPIL = (0.02, 0.02, 0.02)

# How sharply colour follows the nearest part (world units).
_PART_BLEND = 0.002


def palette(colors, t: jax.Array) -> jax.Array:
  """Colour [3] at t in [-1, 1] along a piecewise-linear palette."""
  stops = jnp.asarray(colors, jnp.float32)
  x = (jnp.clip(t, -1.0, 1.0) + 1.0) * 0.5 * (len(colors) - 1)
  i = jnp.clip(jnp.floor(x).astype(jnp.int32), 0, len(colors) - 2)
  f = x - i
  return stops[i] * (1.0 - f) + stops[i + 1] * f


def _hash3(cell: jax.Array) -> jax.Array:
  """A pseudo-random value in [0, 1) per integer lattice cell [..., 3]."""
  h = jnp.sum(cell * jnp.array([127.1, 311.7, 74.7]), axis=-1)
  return jnp.mod(jnp.sin(jnp.mod(h, 6283.185)) * 43758.5453, 1.0)


def value_noise(p: jax.Array) -> jax.Array:
  """Smooth lattice value noise in [-1, 1] at points [..., 3]."""
  cell = jnp.floor(p)
  f = p - cell
  f = f * f * (3.0 - 2.0 * f)
  total = 0.0
  for corner in range(8):
    offset = jnp.array([(corner >> k) & 1 for k in range(3)], jnp.float32)
    weight = jnp.prod(jnp.where(offset > 0, f, 1.0 - f), axis=-1)
    total = total + weight * _hash3(cell + offset)
  return 2.0 * total - 1.0


def skin_albedo(identity: jax.Array, p: jax.Array) -> jax.Array:
  """Skin colour [..., 3] with the identity's blotchy pattern at points p."""
  ident = geometry.Named(identity, P.IDENTITY)
  base = palette(SKIN_TONES, ident.skin_tone)
  warmth = ident.skin_warmth * jnp.array([0.0, 0.03, -0.04])
  freq = 18.0 * (1.0 + 0.4 * ident.texture_scale)
  shift = 7.0 * ident.texture_phase * jnp.array([1.0, 0.618, 0.382])
  q = p * freq + shift
  pattern = 0.65 * value_noise(q) + 0.35 * value_noise(2.7 * q + 11.0)
  contrast = 0.09 * (1.0 + 0.6 * ident.texture_strength)
  d = geometry.to_design(p)
  blush = jnp.exp(-((jnp.abs(d[..., 0]) - 0.11)**2 + (d[..., 1] + 0.04)**2)
                  / 0.003)
  albedo = (base + warmth)[None] * (1.0 + contrast * pattern)[..., None]
  return albedo * (1.0 - 0.08 * blush[..., None] * jnp.array([0.0, 1.0, 1.0]))


def albedo(identity: jax.Array, expression: jax.Array,
           p: jax.Array) -> tuple[jax.Array, jax.Array]:
  """Surface colour [N, 3] at head-local surface points p [N, 3].

  Also returns how much each point is eyeball [N] (for the glint).
  """
  ident = geometry.Named(identity, P.IDENTITY)
  parts = geometry.head_parts(identity, expression, p)
  hair = palette(HAIR_COLORS, ident.hair_color)
  strands = 1.0 + 0.07 * jnp.sin(200.0 * p[:, 0] + 90.0 * p[:, 2])
  eyes = geometry.eye_frame(identity)
  side = jnp.where(p[:, :1] > 0.0, eyes.centers[0], eyes.centers[1])
  axis_cos = (p[:, 2] - side[:, 2]) / jnp.linalg.norm(p - side, axis=-1)
  iris = palette(EYE_COLORS, ident.eye_color)
  eye = jnp.where((axis_cos > 0.95)[:, None], jnp.array(PUPIL),
                  jnp.where((axis_cos > 0.82)[:, None], iris,
                            jnp.array(EYE_WHITE)))
  lips = 0.7 * palette(LIP_COLORS, ident.lip_color) + 0.3 * palette(
      SKIN_TONES, ident.skin_tone)
  candidates = [
      (parts.skin, skin_albedo(identity, p)),
      (parts.lips, jnp.broadcast_to(lips, p.shape)),
      (parts.cavity, jnp.broadcast_to(jnp.array(MOUTH_INSIDE), p.shape)),
      (parts.teeth, jnp.broadcast_to(jnp.array(TEETH), p.shape)),
      (parts.eyes, eye),
      (parts.brows, jnp.broadcast_to(0.7 * hair, p.shape)),
      (parts.hair, hair[None] * strands[:, None]),
  ]
  dist = jnp.stack([jnp.abs(d) for d, _ in candidates], -1)
  weights = jax.nn.softmax(-dist / _PART_BLEND, axis=-1)
  colors = jnp.stack([col for _, col in candidates], -2)
  color = jnp.clip(jnp.sum(weights[..., None] * colors, -2), 0.0, 1.0)
  return color, weights[:, 4]


def light_direction(lighting: jax.Array) -> jax.Array:
  """Unit vector [3] towards the light, world frame."""
  light = geometry.Named(lighting, P.LIGHTING)
  ce = jnp.cos(light.elevation)
  return jnp.stack([jnp.sin(light.azimuth) * ce, jnp.sin(light.elevation),
                    jnp.cos(light.azimuth) * ce])


def shade(albedo_: jax.Array, normals: jax.Array, view_dirs: jax.Array,
          lighting: jax.Array, eye_weight: jax.Array) -> jax.Array:
  """Lit colour [N, 3] from albedo, world normals and ray directions [N, 3].

  `eye_weight` [N] in [0, 1] adds a specular glint where the surface is an eye.
  """
  light = geometry.Named(lighting, P.LIGHTING)
  to_light = light_direction(lighting)
  tint = 1.0 + 0.08 * light.warmth * jnp.array([1.0, 0.0, -1.0])
  diffuse = jnp.maximum(normals @ to_light, 0.0)
  half = to_light - view_dirs
  half = half / jnp.maximum(jnp.linalg.norm(half, axis=-1, keepdims=True), 1e-6)
  glint = eye_weight * jnp.maximum(jnp.sum(normals * half, -1), 0.0) ** 60
  lit = albedo_ * (light.ambient + light.intensity * diffuse)[:, None] * tint
  return jnp.clip(lit + 0.6 * glint[:, None], 0.0, 1.0)


def backdrop(background: jax.Array, dirs: jax.Array) -> jax.Array:
  """Backdrop colour [N, 3] seen along world ray directions [N, 3]."""
  top, bottom, phase = background[:3], background[3:6], background[6:9]
  t = jnp.clip(0.5 + 1.2 * dirs[:, 1:2], 0.0, 1.0)
  base = bottom * (1.0 - t) + top * t
  waves = jnp.prod(jnp.sin(dirs * jnp.array([5.0, 4.0, 3.0]) + phase), -1)
  return jnp.clip(base * (0.9 + 0.25 * waves[:, None]), 0.0, 1.0)
