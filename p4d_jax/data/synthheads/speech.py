"""SynthHeads that speak: a source-filter "speech" tied to a clip's mouth.

A clip's audio is a pure function of its expression track [T, 6] (the one
the clip stores), its frame rate and a generator seeded per (seed, "speech",
identity), so audio, frames and exact parameters travel together and the
audio is re-derived from a stored clip at will (`clip_audio`). At 16 kHz,
frame k of a clip is shown at time k / fps and its audio sample is
round(k * SAMPLE_RATE / fps); the tracks are interpolated linearly between
frames (sample-accurate: at a frame's sample the loudness is that frame's).

    loudness    LEVEL * jaw_open: a resting mouth (jaw_open = 0) is exact
                silence, so pauses and blink-only stretches are silent
    source      a harmonic glottal source (amplitude 1/h) at a voiced pitch
                contour (the voice's own pitch, a slow random intonation, a
                rise with the jaw), plus breath noise
    filter      three formant resonances moved by the mouth's shape: F1 up
                with jaw_open, F2 and F3 up with smile and down with pucker
                (lip rounding), all scaled by the voice's tract length

The harmonic amplitudes are normalised to unit RMS per instant, so the
signal's short-time RMS is LEVEL * jaw_open (times a constant of the voice's
breathiness), whatever the formants and pitch.
"""

from __future__ import annotations

import dataclasses

import numpy as np

from p4d_jax.data.synthheads import motion
from p4d_jax.data.synthheads import params as P

SAMPLE_RATE = 16_000
LEVEL = 0.2           # RMS at jaw_open = 1
TOP_HZ = 7_600.0      # no harmonic above this (the log-mel's top)
_CONTROL_HOP = 40     # samples between evaluations of the spectrum (2.5 ms)
_JAW, _SMILE, _PUCKER = (P.index(P.EXPRESSION, n)
                         for n in ("jaw_open", "smile", "pucker"))


@dataclasses.dataclass(frozen=True)
class Voice:
  """One speaker: pitch (Hz), vocal-tract scale of the formants, breath
  noise (relative RMS), intonation depth (octaves)."""
  pitch: float
  tract: float
  breath: float
  intonation: float


def random_voice(rng: np.random.Generator) -> Voice:
  return Voice(pitch=float(np.exp(rng.uniform(np.log(85.0), np.log(240.0)))),
               tract=float(rng.uniform(0.88, 1.15)),
               breath=float(rng.uniform(0.03, 0.1)),
               intonation=float(rng.uniform(0.05, 0.15)))


def num_samples(frames: int, fps: float) -> int:
  """Audio length of `frames` frames: each frame lasts 1 / fps."""
  return int(round(frames * SAMPLE_RATE / fps))


def sample_tracks(expression: np.ndarray, fps: float) -> np.ndarray:
  """Expression [T, E] at frame times k / fps -> [N, E] at sample times,
  linear between frames, held after the last."""
  expression = np.asarray(expression, np.float64)
  times = np.arange(num_samples(len(expression), fps)) / SAMPLE_RATE
  frame_times = np.arange(len(expression)) / fps
  return np.stack([np.interp(times, frame_times, c) for c in expression.T], -1)


def formants(jaw, smile, pucker, tract: float) -> np.ndarray:
  """(F1, F2, F3) in Hz [..., 3] of a mouth shape."""
  f1 = 300.0 + 550.0 * jaw
  f2 = 1250.0 + 650.0 * smile - 450.0 * pucker
  f3 = 2600.0 + 300.0 * smile - 350.0 * pucker
  return tract * np.stack([f1, f2, f3], -1)


_BANDWIDTHS = np.array([80.0, 100.0, 150.0])


def _envelope(freqs: np.ndarray, peaks: np.ndarray) -> np.ndarray:
  """Gain [..., H] at frequencies [..., H] of the cascade of resonances at
  `peaks` [..., 3] (second-order, unit gain at 0 Hz)."""
  f = freqs[..., None]
  fc, bw = peaks[..., None, :], _BANDWIDTHS
  return np.prod(fc**2 / np.sqrt((fc**2 - f**2)**2 + (bw * f)**2), -1)


def synthesise(expression: np.ndarray, fps: float, rng: np.random.Generator,
               voice: Voice | None = None) -> np.ndarray:
  """float32 [num_samples(T, fps)] in [-1, 1]: the speech of a track [T, 6]
  (raw parameters, `params.EXPRESSION`) from `rng` (voice, intonation,
  breath noise)."""
  voice = random_voice(rng) if voice is None else voice
  tracks = sample_tracks(expression, fps)
  n = len(tracks)
  times = np.arange(n) / SAMPLE_RATE
  jaw = np.clip(tracks[:, _JAW], 0.0, None)
  octaves = (motion.smooth_curve(rng, times, voice.intonation, (0.3, 1.2))
             + 0.15 * (jaw - 0.3))
  pitch = voice.pitch * 2.0**octaves                                   # [N]
  phase = 2 * np.pi * np.cumsum(pitch) / SAMPLE_RATE
  harmonics = np.arange(1, int(TOP_HZ // pitch.min()) + 1)             # [H]
  ctrl = np.arange(0, n + _CONTROL_HOP, _CONTROL_HOP).clip(max=n - 1)
  freqs = pitch[ctrl, None] * harmonics                                # [C, H]
  peaks = formants(jaw[ctrl], tracks[ctrl, _SMILE], tracks[ctrl, _PUCKER],
                   voice.tract)
  taper = np.clip((TOP_HZ - freqs) / 400.0, 0.0, 1.0)
  amps = _envelope(freqs, peaks) / harmonics * taper
  amps /= np.sqrt(0.5 * np.sum(amps**2, -1, keepdims=True))           # RMS 1
  voiced = np.zeros(n)
  for h, column in zip(harmonics, amps.T):
    voiced += np.interp(np.arange(n), ctrl, column) * np.sin(h * phase)
  noise = np.diff(rng.standard_normal(n + 1)) / np.sqrt(2.0)           # RMS 1
  mixed = (voiced + voice.breath * noise) / np.sqrt(1 + voice.breath**2)
  return np.clip(LEVEL * jaw * mixed, -1.0, 1.0).astype(np.float32)


def clip_audio(expression: np.ndarray, fps: float, seed: int,
               ident: int) -> np.ndarray:
  """The speech of identity `ident`'s clip in a build of `seed`, from its
  stored (or `examples.clip_curves`') expression track [T, 6]."""
  return synthesise(expression, fps, P.rng_for(seed, "speech", ident))
