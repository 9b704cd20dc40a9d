"""SynthHeads motion: smooth head pose, talking, blinks and a camera per clip.

Everything is numpy from a seeded generator, so a clip's curves are known
without rendering it (the evaluation pairs pick frames from them).
"""

from __future__ import annotations

import dataclasses

import numpy as np

from p4d_jax.data.synthheads import params as P
from p4d_jax.rendering import camera_settings
from p4d_jax.rendering import cameras


@dataclasses.dataclass(frozen=True)
class MotionRanges:
  """How much a clip moves (radians, Hz, seconds)."""
  yaw: float = 0.45
  pitch: float = 0.15
  roll: float = 0.1
  head_frequency: tuple[float, float] = (0.1, 0.6)
  syllable_rate: tuple[float, float] = (2.0, 3.0)   # jaw cycles per second
  speech_segment: tuple[float, float] = (0.8, 2.5)
  blink_interval: tuple[float, float] = (1.0, 2.5)
  blink_duration: tuple[float, float] = (0.15, 0.3)


def smooth_curve(rng, times, amplitude, frequency, terms=3):
  """A sum of random sinusoids [T] with peak value at most `amplitude`."""
  weights = rng.uniform(0.3, 1.0, terms)
  weights /= weights.sum()
  freqs = rng.uniform(*frequency, terms)
  phases = rng.uniform(0, 2 * np.pi, terms)
  waves = np.sin(2 * np.pi * freqs[:, None] * times[None] + phases[:, None])
  return amplitude * (weights @ waves)


def _speech_envelope(rng, times, segment):
  """1 while talking, 0 in pauses, with 0.1 s ramps [T]."""
  env = np.zeros_like(times)
  t, talking = rng.uniform(-segment[1], 0), rng.random() < 0.7
  while t < times[-1] + 1.0:
    length = rng.uniform(*segment)
    if talking:
      env = np.maximum(env, np.clip(np.minimum(times - t, t + length - times)
                                    / 0.1, 0, 1))
    t += length
    talking = not talking
  return env


def blinks(rng, times, interval, duration):
  """Blink curves [T] for each eye: raised-cosine closures, rarely a wink."""
  left, right = np.zeros_like(times), np.zeros_like(times)
  t = rng.uniform(0, interval[1])
  while t < times[-1] + 1.0:
    half = rng.uniform(*duration) / 2
    bump = 0.5 + 0.5 * np.cos(np.clip((times - t) / half, -1, 1) * np.pi)
    wink = rng.random()
    left = np.maximum(left, bump * (0.2 if wink < 0.05 else 1.0))
    right = np.maximum(right, bump * (0.2 if 0.05 <= wink < 0.1 else 1.0))
    t += rng.uniform(*interval)
  return left, right


def clip_motion(rng: np.random.Generator, frames: int, fps: float,
                ranges: MotionRanges = MotionRanges()
                ) -> tuple[np.ndarray, np.ndarray]:
  """Expression [T, 6] and head pose [T, 3] curves for one talking clip."""
  times = np.arange(frames) / fps
  r = ranges
  pose = np.stack([
      smooth_curve(rng, times, r.yaw, r.head_frequency),
      smooth_curve(rng, times, r.pitch, r.head_frequency),
      smooth_curve(rng, times, r.roll, r.head_frequency)], -1)
  talking = _speech_envelope(rng, times, r.speech_segment)
  rate = rng.uniform(*r.syllable_rate)
  syllables = np.abs(np.sin(np.pi * rate * times + rng.uniform(0, np.pi)))
  loudness = 0.55 + smooth_curve(rng, times, 0.25, (0.3, 1.0))
  jaw = talking * loudness * syllables**1.5
  # Smile, brow and pucker change within seconds, so that a clip's frames
  # differ in them and not only its identity's average does.
  smile = 0.25 + smooth_curve(rng, times, 0.5, (0.15, 0.5))
  brow = 0.15 * talking + smooth_curve(rng, times, 0.35, (0.2, 0.6))
  pucker = 0.3 * talking * np.sin(np.pi * rate * 0.5 * times) + \
      smooth_curve(rng, times, 0.3, (0.15, 0.5))
  blink_left, blink_right = blinks(rng, times, r.blink_interval,
                                    r.blink_duration)
  expression = np.stack([jaw, smile, blink_left, blink_right, brow, pucker], -1)
  low = np.array([p.low for p in P.EXPRESSION])
  high = np.array([p.high for p in P.EXPRESSION])
  return (np.clip(expression, low, high).astype(np.float32),
          pose.astype(np.float32))


def random_view_cameras(rng: np.random.Generator, count: int,
                        ranges: camera_settings.RandomViewRanges) -> np.ndarray:
  """`count` cam2world [count, 4, 4] from Portrait4D's view distribution."""
  u = lambda lo_hi, *shape: rng.uniform(*lo_hi, (count, *shape))  # noqa: E731
  pivot = np.concatenate([u(ranges.pivot_xy, 2), u(ranges.pivot_z, 1)], -1)
  return np.asarray(cameras.random_view_pose(
      u(ranges.yaw), u(ranges.elevation_param), u(ranges.roll),
      u(ranges.radius), pivot), np.float32)


# Clip cameras: nearer frontal than the still's views (talking-head videos).
CLIP_VIEWS = camera_settings.RandomViewRanges(yaw=(-0.35, 0.35),
                                              elevation_param=(-0.1, 0.3),
                                              roll=(-0.08, 0.08))


def camera_track(rng: np.random.Generator, frames: int,
                 ranges: camera_settings.RandomViewRanges = CLIP_VIEWS,
                 drift: float = 0.08) -> np.ndarray:
  """World cam2world [T, 4, 4]: one random view, slowly drifting."""
  u = lambda lo_hi, *shape: rng.uniform(*lo_hi, shape)  # noqa: E731
  ramp = np.linspace(-0.5, 0.5, frames)
  yaw = u(ranges.yaw) + drift * u((-1, 1)) * ramp
  a = u(ranges.elevation_param) + 0.5 * drift * u((-1, 1)) * ramp
  radius = u(ranges.radius) + drift * u((-1, 1)) * ramp
  pivot = np.concatenate([u(ranges.pivot_xy, 2), u(ranges.pivot_z, 1)])
  return np.asarray(cameras.random_view_pose(
      yaw, a, np.full(frames, u(ranges.roll)), radius,
      np.broadcast_to(pivot, (frames, 3))), np.float32)
