"""The SynthHeads signed-distance field, in the head's own (pose-free) frame.

The head is a smooth union of ellipsoids, capsules and rounded boxes (units:
Portrait4D's world, FLAME x3; the neutral face looks along +z). Expressions
move parts rather than recolour them: the jaw drops the chin, lower lip and
lower teeth and opens a carved mouth cavity; eyelids are caps whose edge slides
over the eyeball; the smile bends the lips. Only the lips' bend warps space
(gradient norm up to about 1.3), which the sphere tracer's step factor covers.

Every function takes ONE example's parameter vectors and points [..., 3].
Part positions are written in a design frame; the head-local frame is that
frame lowered by `HEAD_DROP`, which frames the head like Portrait4D's crops
under its cameras (looking at about (0, 0, 0.09) from a distance of 4).
"""

from __future__ import annotations

from typing import NamedTuple

import jax
import jax.numpy as jnp

from p4d_jax.data.synthheads import params as P


class Named:
  """Reads a parameter vector by name: `Named(vec, P.IDENTITY).nose_length`."""

  def __init__(self, vector: jax.Array, table: tuple[P.Param, ...]):
    self._vector = vector
    self._table = table

  def __getattr__(self, name: str) -> jax.Array:
    return self._vector[P.index(self._table, name)]


HEAD_DROP = 0.06


def to_design(p: jax.Array) -> jax.Array:
  """Head-local points [..., 3] -> the frame the part positions are written in."""
  return p + jnp.array([0.0, HEAD_DROP, 0.0])


# ----------------------------------------------------------------------------
# Primitives: distances, negative inside.


def ellipsoid(p, center, radii):
  """Quilez's bound for an ellipsoid; exact on the surface, safe to march."""
  q = (p - jnp.stack(center)) / jnp.stack(radii)
  k0 = jnp.linalg.norm(q, axis=-1)
  k1 = jnp.linalg.norm(q / jnp.stack(radii), axis=-1)
  return k0 * (k0 - 1.0) / jnp.maximum(k1, 1e-9)


def sphere(p, center, radius):
  return jnp.linalg.norm(p - jnp.stack(center), axis=-1) - radius


def capsule(p, a, b, radius):
  a, b = jnp.stack(a), jnp.stack(b)
  pa, ba = p - a, b - a
  h = jnp.clip(jnp.sum(pa * ba, -1) / jnp.sum(ba * ba), 0.0, 1.0)
  return jnp.linalg.norm(pa - h[..., None] * ba, axis=-1) - radius


def round_box(p, center, half, rounding):
  q = jnp.abs(p - jnp.stack(center)) - (jnp.stack(half) - rounding)
  outside = jnp.linalg.norm(jnp.maximum(q, 0.0), axis=-1)
  return outside + jnp.minimum(jnp.max(q, axis=-1), 0.0) - rounding


def smooth_min(a, b, k):
  """Polynomial smooth union with blend radius k."""
  h = jnp.maximum(k - jnp.abs(a - b), 0.0) / k
  return jnp.minimum(a, b) - h * h * k * 0.25


def smooth_max(a, b, k):
  return -smooth_min(-a, -b, k)


# ----------------------------------------------------------------------------
# The head.


class Parts(NamedTuple):
  """Signed distances [...] of the parts that carry their own colour."""
  skin: jax.Array      # skull, face, nose, ears, eyelids, neck (cavity carved)
  lips: jax.Array
  cavity: jax.Array    # the mouth opening; its wall is the dark interior
  teeth: jax.Array
  eyes: jax.Array      # both eyeballs
  brows: jax.Array
  hair: jax.Array


class EyeFrame(NamedTuple):
  """Eyeball centres [2, 3] (head-local; left = +x first) and radius."""
  centers: jax.Array
  radius: jax.Array


def eye_frame(identity: jax.Array) -> EyeFrame:
  ident = Named(identity, P.IDENTITY)
  ex = 0.085 * (1.0 + 0.12 * ident.eye_spacing)
  radius = 0.036 * (1.0 + 0.1 * ident.eye_size)
  y = 0.055 - HEAD_DROP
  centers = jnp.stack([jnp.stack([ex, y, 0.205]), jnp.stack([-ex, y, 0.205])])
  return EyeFrame(centers, radius)


def head_parts(identity: jax.Array, expression: jax.Array,
               p: jax.Array) -> Parts:
  """Distances of every part at head-local points p [..., 3]."""
  p = to_design(p)
  ident = Named(identity, P.IDENTITY)
  expr = Named(expression, P.EXPRESSION)
  c = lambda *v: tuple(jnp.asarray(x, jnp.float32) for x in v)  # noqa: E731

  # Skull, lower face, chin, cheeks, neck.
  sx = 0.235 * (1.0 + 0.08 * ident.head_width)
  sy = 0.285 * (1.0 + 0.06 * ident.head_height)
  sz = 0.275 * (1.0 + 0.06 * ident.head_depth)
  skull = ellipsoid(p, c(0.0, 0.06, -0.03), (sx, sy, sz))
  drop = 0.055 * expr.jaw_open
  face_len = 1.0 + 0.12 * ident.face_length
  jaw_width = 1.0 + 0.12 * ident.jaw_width
  jaw = ellipsoid(p, c(0.0, -0.11, 0.05),
                  c(0.165 * jaw_width, 0.16 * face_len, 0.2))
  mandible = ellipsoid(p, c(0.0, -0.2 * face_len - drop, 0.08),
                       c(0.12 * jaw_width, 0.08, 0.14))
  chin = ellipsoid(p, c(0.0, -0.25 * face_len - drop,
                        0.15 + 0.025 * ident.chin_forward),
                   c(0.06, 0.05, 0.06))
  lift = 0.012 * expr.smile
  cheeks = jnp.minimum(
      ellipsoid(p, c(0.11, -0.04 + lift, 0.13), c(0.075, 0.065, 0.07)),
      ellipsoid(p, c(-0.11, -0.04 + lift, 0.13), c(0.075, 0.065, 0.07)))
  neck = capsule(p, c(0.0, -0.12, -0.06), c(0.0, -0.47, -0.08),
                 0.115 * (1.0 + 0.05 * ident.head_width))
  skin = smooth_min(skull, jaw, 0.08)
  skin = smooth_min(skin, mandible, 0.05)
  skin = smooth_min(skin, chin, 0.05)
  skin = smooth_min(skin, cheeks, 0.04)
  skin = smooth_min(skin, neck, 0.06)

  # Eye sockets, eyeballs and eyelids.
  eyes = eye_frame(identity)
  eyes = eyes._replace(centers=to_design(eyes.centers))
  re = eyes.radius
  socket_shift = jnp.array([0.0, 0.0, 0.025])
  sockets = jnp.minimum(
      ellipsoid(p, tuple(eyes.centers[0] + socket_shift), c(0.05, 0.035, 0.04)),
      ellipsoid(p, tuple(eyes.centers[1] + socket_shift), c(0.05, 0.035, 0.04)))
  skin = smooth_max(skin, -sockets, 0.02)
  eyeballs = jnp.minimum(sphere(p, tuple(eyes.centers[0]), re),
                         sphere(p, tuple(eyes.centers[1]), re))
  for side, blink in ((0, expr.blink_left), (1, expr.blink_right)):
    center = eyes.centers[side]
    shell = sphere(p, tuple(center), re + 0.005)
    rel_y = p[..., 1] - center[1]
    upper_edge = re * (0.72 - 1.2 * blink)   # slides down as the eye closes
    upper = jnp.maximum(shell, upper_edge - rel_y)
    lower = jnp.maximum(shell, rel_y + 0.45 * re)
    skin = smooth_min(skin, jnp.minimum(upper, lower), 0.004)

  # Nose.
  nose_len = 1.0 + 0.15 * ident.nose_length
  nose_w = 1.0 + 0.2 * ident.nose_width
  tip = c(0.0, -0.035 * nose_len, 0.275 + 0.03 * ident.nose_bridge)
  nose = capsule(p, c(0.0, 0.05, 0.225), tip, 0.018 * nose_w)
  nose = smooth_min(nose, sphere(p, tip, 0.028 * nose_w), 0.02)
  for sign in (1.0, -1.0):
    ala = sphere(p, c(sign * 0.026 * nose_w, -0.045 * nose_len, 0.24),
                 0.02 * nose_w)
    nose = smooth_min(nose, ala, 0.015)
  skin = smooth_min(skin, nose, 0.02)

  # Ears.
  ear_size = 1.0 + 0.2 * ident.ear_size
  for sign in (1.0, -1.0):
    ear = ellipsoid(p, c(sign * (sx - 0.005), 0.03, -0.035),
                    c(0.02, 0.06 * ear_size, 0.04 * ear_size))
    skin = smooth_min(skin, ear, 0.015)

  # Mouth: lips bent by the smile, a cavity carved between them, teeth.
  mouth_y = -0.135
  width = 0.05 * (1.0 - 0.3 * expr.pucker + 0.12 * expr.smile)
  forward = 0.015 * jnp.maximum(expr.pucker, 0.0)
  fullness = 1.0 + 0.3 * ident.lip_fullness
  bend = 0.022 * expr.smile * (p[..., 0] / width) ** 2
  bent = p - jnp.stack([jnp.zeros_like(bend), bend, jnp.zeros_like(bend)], -1)
  lips = jnp.minimum(
      ellipsoid(bent, c(0.0, mouth_y + 0.011, 0.243 + forward),
                c(width, 0.011 * fullness, 0.022)),
      ellipsoid(bent, c(0.0, mouth_y - 0.012 - drop, 0.238 + forward),
                c(0.92 * width, 0.012 * fullness, 0.022)))
  cavity = ellipsoid(bent, c(0.0, mouth_y - 0.5 * drop, 0.215),
                     c(0.85 * width, 0.003 + 0.55 * drop, 0.06))
  skin = smooth_max(skin, -cavity, 0.008)
  lips = smooth_max(lips, -cavity, 0.004)
  teeth = jnp.minimum(
      round_box(p, c(0.0, mouth_y - 0.004, 0.218),
                c(0.6 * width, 0.006, 0.008), 0.003),
      round_box(p, c(0.0, mouth_y - drop - 0.004, 0.214),
                c(0.55 * width, 0.006, 0.008), 0.003))

  # Eyebrows.
  raise_ = 0.02 * expr.brow_raise
  thick = 0.009 * (1.0 + 0.4 * ident.brow_thickness)
  brows = jnp.minimum(
      ellipsoid(p, (eyes.centers[0, 0], 0.11 + raise_, 0.228),
                c(0.042, thick, 0.016)),
      ellipsoid(p, (eyes.centers[1, 0], 0.11 + raise_, 0.228),
                c(0.042, thick, 0.016)))

  # Hair: a shell over the skull above a hairline plane sloping to the back.
  volume = 0.035 + 0.025 * ident.hair_volume
  cap = ellipsoid(p, c(0.0, 0.07, -0.04), (sx + volume, sy + volume,
                                            sz + volume))
  back_y = -0.06 - 0.08 * ident.hair_length
  slope = (0.16 - back_y) / 0.5               # from z = 0.2 down to z = -0.3
  line_y = 0.16 + slope * (p[..., 2] - 0.2)
  hair = smooth_max(cap, (line_y - p[..., 1]) / jnp.sqrt(1.0 + slope**2), 0.02)

  return Parts(skin=skin, lips=lips, cavity=cavity, teeth=teeth,
               eyes=eyeballs, brows=brows, hair=hair)


def combine(parts: Parts) -> jax.Array:
  """The head's signed distance from its parts."""
  flesh = smooth_min(parts.skin, parts.lips, 0.012)
  solid = jnp.minimum(flesh, jnp.minimum(parts.teeth, parts.eyes))
  solid = jnp.minimum(solid, parts.brows)
  return smooth_min(solid, parts.hair, 0.01)


def head_sdf(identity: jax.Array, expression: jax.Array,
             p: jax.Array) -> jax.Array:
  """Signed distance [...] at head-local points p [..., 3]."""
  return combine(head_parts(identity, expression, p))


# A sphere that holds every head the parameter ranges allow (tested).
BOUND_CENTER = (0.0, -0.16, -0.03)
BOUND_RADIUS = 0.75
