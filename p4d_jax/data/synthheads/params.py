"""SynthHeads parameter vectors: what each dimension means, its range, sampling.

A scene is five flat float32 vectors (a `Scene`, leading batch dims allowed):

* identity [24], each in [-1, 1], 0 = the average head. Shape dims scale a part
  by about +-10-30 %; colour dims move along a palette; texture dims set the
  procedural skin pattern, so no two identities share one flat colour.
* expression [6], 0 = neutral. Each moves geometry in its own region.
* pose [3]: head yaw, pitch, roll in radians, a rigid turn of head and neck
  about `NECK_PIVOT`. Positive yaw turns the face towards +x (the subject's
  left), positive pitch lifts the chin, positive roll tilts the top towards -x.
* lighting [5]: one directional light fixed in the WORLD frame plus ambient.
* background [9]: a smooth backdrop painted on the sphere of world directions,
  so every view of a scene sees the same consistent background.

World frame (Portrait4D's): y up, the neutral face looks along +z, the head
sits inside the renderer's 1.3 box around the origin.
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np


class Param(NamedTuple):
  name: str
  low: float
  high: float
  doc: str


IDENTITY = (
    Param("head_width", -1, 1, "skull width, +-8 %"),
    Param("head_height", -1, 1, "skull height, +-6 %"),
    Param("head_depth", -1, 1, "skull front-to-back depth, +-6 %"),
    Param("face_length", -1, 1, "chin height below the mouth, +-12 %"),
    Param("jaw_width", -1, 1, "lower-face width, +-12 %"),
    Param("chin_forward", -1, 1, "chin protrusion, +-0.025"),
    Param("nose_length", -1, 1, "nose tip height, +-15 %"),
    Param("nose_width", -1, 1, "nose and nostril width, +-20 %"),
    Param("nose_bridge", -1, 1, "nose protrusion, +-0.03"),
    Param("ear_size", -1, 1, "ear size, +-20 %"),
    Param("eye_spacing", -1, 1, "distance between the eyes, +-12 %"),
    Param("eye_size", -1, 1, "eyeball radius, +-10 %"),
    Param("lip_fullness", -1, 1, "lip thickness, +-30 %"),
    Param("brow_thickness", -1, 1, "eyebrow thickness, +-40 %"),
    Param("hair_volume", -1, 1, "hair thickness over the skull"),
    Param("hair_length", -1, 1, "how low the hair reaches at the back"),
    Param("skin_tone", -1, 1, "light (-1) to dark (+1) skin"),
    Param("skin_warmth", -1, 1, "pink (-1) to olive (+1) undertone"),
    Param("hair_color", -1, 1, "black, brown, auburn, blond along a palette"),
    Param("eye_color", -1, 1, "dark brown, hazel, green, blue along a palette"),
    Param("lip_color", -1, 1, "pale pink (-1) to deep red (+1)"),
    Param("texture_scale", -1, 1, "spatial frequency of the skin pattern"),
    Param("texture_strength", -1, 1, "contrast of the skin pattern"),
    Param("texture_phase", -1, 1, "shifts the skin pattern (which blotches)"),
)

EXPRESSION = (
    Param("jaw_open", 0, 1, "drops the jaw, chin and lower lip; shows the "
          "dark mouth interior and the teeth"),
    Param("smile", -0.5, 1, "raises (frown: lowers) the mouth corners, widens "
          "the mouth, lifts the cheeks"),
    Param("blink_left", 0, 1, "closes the subject's left (+x) upper eyelid"),
    Param("blink_right", 0, 1, "closes the subject's right (-x) upper eyelid"),
    Param("brow_raise", -0.5, 1, "moves both eyebrows up (down when < 0)"),
    Param("pucker", -1, 1, "narrows and pushes the lips forward (> 0) or "
          "stretches the mouth wide (< 0)"),
)

POSE = (
    Param("yaw", -0.6, 0.6, "radians about +y; > 0 turns the face to +x"),
    Param("pitch", -0.3, 0.3, "radians about +x; > 0 lifts the chin"),
    Param("roll", -0.2, 0.2, "radians about +z"),
)

LIGHTING = (
    Param("azimuth", -1.0, 1.0, "light direction about +y, 0 = from the "
          "front (+z), > 0 from +x"),
    Param("elevation", -0.2, 0.9, "light direction above the horizon"),
    Param("intensity", 0.55, 0.9, "directional light strength"),
    Param("ambient", 0.3, 0.5, "ambient light strength"),
    Param("warmth", -1, 1, "bluish (-1) to warm (+1) light"),
)

BACKGROUND = (
    Param("top_r", 0.15, 0.9, "backdrop colour above"),
    Param("top_g", 0.15, 0.9, ""),
    Param("top_b", 0.15, 0.9, ""),
    Param("bottom_r", 0.1, 0.8, "backdrop colour below"),
    Param("bottom_g", 0.1, 0.8, ""),
    Param("bottom_b", 0.1, 0.8, ""),
    Param("blob_x", 0, 2 * np.pi, "phases of the soft backdrop pattern"),
    Param("blob_y", 0, 2 * np.pi, ""),
    Param("blob_z", 0, 2 * np.pi, ""),
)

# The head and neck turn about this point (head-local = world at zero pose).
NECK_PIVOT = (0.0, -0.21, -0.04)


def index(table: tuple[Param, ...], name: str) -> int:
  """Position of `name` in a parameter table; a clear error otherwise."""
  for i, param in enumerate(table):
    if param.name == name:
      return i
  raise KeyError(f"No parameter {name!r}; known: {[p.name for p in table]}")


class Scene(NamedTuple):
  """Everything but the camera. Arrays [..., len(TABLE)] (a JAX pytree)."""
  identity: np.ndarray
  expression: np.ndarray
  pose: np.ndarray
  lighting: np.ndarray
  background: np.ndarray


def _bounds(table):
  return (np.array([p.low for p in table], np.float32),
          np.array([p.high for p in table], np.float32))


def uniform(rng: np.random.Generator, table: tuple[Param, ...]) -> np.ndarray:
  """One vector drawn uniformly inside the documented ranges."""
  low, high = _bounds(table)
  return (low + (high - low) * rng.random(len(table))).astype(np.float32)


def neutral_expression() -> np.ndarray:
  return np.zeros(len(EXPRESSION), np.float32)


def expression_vector(**values: float) -> np.ndarray:
  """Neutral except the named dimensions: expression_vector(jaw_open=1.0)."""
  e = neutral_expression()
  for name, value in values.items():
    e[index(EXPRESSION, name)] = value
  return e


def zero_pose() -> np.ndarray:
  return np.zeros(len(POSE), np.float32)


def random_expression(rng: np.random.Generator) -> np.ndarray:
  """A still's expression: uniform, but eyes mostly open as in photographs."""
  e = uniform(rng, EXPRESSION)
  for name in ("blink_left", "blink_right"):
    e[index(EXPRESSION, name)] **= 3
  return e


# Independent random streams per purpose, so adding one never shifts another.
STREAMS = dict(identity=1, expression=2, lighting=3, background=4, camera=5,
               motion=6, pairs=7, extractor=8, ceiling=9, speech=10,
               speech_order=11)

# Held-out identities (evaluation) are numbered from here, far from training's.
HELD_OUT_OFFSET = 1_000_000


def rng_for(seed: int, stream: str, *index_: int) -> np.random.Generator:
  """A numpy generator for (seed, purpose, indices): reproducible anywhere."""
  return np.random.default_rng([seed, STREAMS[stream], *index_])


def identity_params(seed: int, identity: int) -> np.ndarray:
  return uniform(rng_for(seed, "identity", identity), IDENTITY)


def check_scene(scene: Scene) -> None:
  """Raises a ValueError naming the field whose last dim is wrong."""
  for field, table in zip(Scene._fields,
                          (IDENTITY, EXPRESSION, POSE, LIGHTING, BACKGROUND)):
    shape = np.shape(getattr(scene, field))
    if not shape or shape[-1] != len(table):
      raise ValueError(f"Scene.{field} has shape {shape}; its last dim must "
                       f"be {len(table)} (see synthheads.params).")


def _centre_and_spread() -> tuple[np.ndarray, np.ndarray]:
  low, high = _bounds(EXPRESSION)
  return (low + high) / 2, (high - low) / np.sqrt(12.0)


def standardise_expression(expression) -> np.ndarray:
  """Expression vectors [..., 6] -> zero mean, unit variance for a parameter
  uniform over its range (what the oracle motion source reads)."""
  centre, spread = _centre_and_spread()
  return ((np.asarray(expression, np.float32) - centre) /
          spread).astype(np.float32)


def clip_expression(expression) -> np.ndarray:
  """Expression vectors [..., 6] clipped to each parameter's range."""
  low, high = _bounds(EXPRESSION)
  return np.clip(np.asarray(expression, np.float32), low, high)


def raw_expression(standardised) -> np.ndarray:
  """`standardise_expression` undone, clipped to each parameter's range."""
  centre, spread = _centre_and_spread()
  return clip_expression(np.asarray(standardised, np.float32) * spread +
                         centre)
