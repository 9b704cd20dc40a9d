"""Speech -> a talking head's expressions: the audio-to-motion model's
prediction with the controls a user sets, as SynthHeads' expression
parameters at 12.5 frames a second (frame k at k / 12.5 s).

    talker = Talker(*audio2motion.load(run_dir))
    raw = talker.expressions(wave, blink_rate=0.2, mouth_amp=1.0)   # [T, 6]

- Blinks make no sound, so the model does not predict them (its training
  weight is 0): they are painted in as Real3D-Portrait paints them, at
  `blink_rate` per second (intervals within +-30% of 1 / rate; 0: none),
  raised-cosine closures of 0.15-0.3 s, from a seeded generator.
- `mouth_amp` scales the jaw opening (1: as predicted; 0: closed).
- A cvae model samples its prior at the Talker's `temperature`.
"""

from __future__ import annotations

import functools

import jax
import numpy as np

from p4d_jax.data.synthheads import motion
from p4d_jax.data.synthheads import params as P
from p4d_jax.models import audio2motion

FPS = 12.5
_JAW = P.index(P.EXPRESSION, "jaw_open")
_BLINKS = [P.index(P.EXPRESSION, n) for n in ("blink_left", "blink_right")]


def paint_blinks(frames: int, rate: float, rng: np.random.Generator,
                 fps: float = FPS) -> np.ndarray:
  """Blink curves [T, 2] (left, right) at `rate` blinks per second."""
  if rate <= 0:
    return np.zeros((frames, 2), np.float32)
  times = np.arange(frames) / fps
  left, right = motion.blinks(rng, times, (0.7 / rate, 1.3 / rate),
                              (0.15, 0.3))
  return np.stack([left, right], -1).astype(np.float32)


def apply_controls(raw: np.ndarray, blink_rate: float, mouth_amp: float,
                   seed: int = 0, fps: float = FPS) -> np.ndarray:
  """Raw expressions [T, 6] -> the same with the jaw scaled by `mouth_amp`
  and blinks painted at `blink_rate`, within each parameter's range."""
  out = np.array(raw, np.float32)
  out[:, _JAW] *= mouth_amp
  out[:, _BLINKS] = paint_blinks(len(out), blink_rate,
                                 np.random.default_rng(seed), fps)
  return P.clip_expression(out)


class Talker:
  """A trained audio-to-motion model (`audio2motion.load`); a cvae samples
  its prior at `temperature` from `seed` (0: its centre)."""

  def __init__(self, model: audio2motion.Audio2Motion, params,
               temperature: float = 0.0, seed: int = 0):
    self.model, self.params = model, params
    self.key = jax.random.key(seed)
    self._predict = jax.jit(functools.partial(model.predict,
                                              temperature=temperature))

  def standardised(self, wave: np.ndarray) -> np.ndarray:
    """16 kHz mono [N] -> the model's standardised expressions [T, 6]."""
    return np.asarray(self._predict(self.params,
                                    np.asarray(wave, np.float32)[None],
                                    self.key))[0]

  def expressions(self, wave: np.ndarray, blink_rate: float = 0.2,
                  mouth_amp: float = 1.0, seed: int = 0) -> np.ndarray:
    """16 kHz mono [N] -> raw expressions [N // 1280, 6] with controls."""
    return apply_controls(P.raw_expression(self.standardised(wave)),
                          blink_rate, mouth_amp, seed)
