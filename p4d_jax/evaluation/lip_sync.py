"""Lip sync without a SyncNet: the audio-visual offset of a mouth track.

The loudness of SynthHeads' speech follows the jaw sample by sample
(`synthheads.speech`), so the lag that best lines a predicted mouth opening
up with the audio's short-time RMS is the prediction's offset. Also usable
on real speech, where loudness and mouth opening correlate less exactly.
"""

from __future__ import annotations

import numpy as np


def frame_envelope(wave: np.ndarray, per_frame: int) -> np.ndarray:
  """RMS [..., N // per_frame] of the audio over one frame's length
  centred on each frame's time (frame k at sample k * per_frame)."""
  wave = np.asarray(wave, np.float64)
  frames = wave.shape[-1] // per_frame
  half = per_frame // 2
  padded = np.pad(wave**2, [(0, 0)] * (wave.ndim - 1) + [(half, half)])
  power = np.cumsum(padded, -1)
  power = np.concatenate([np.zeros_like(power[..., :1]), power], -1)
  starts = np.arange(frames) * per_frame
  ends = starts + per_frame
  return np.sqrt(np.maximum(power[..., ends] - power[..., starts], 0.0)
                 / per_frame)


def lag_correlations(motion: np.ndarray, envelope: np.ndarray,
                     max_lag: int = 4) -> dict[int, float]:
  """{lag: Pearson r of motion[t + lag] with envelope[t]}, pooled over the
  clips [C, T] (each clip's overlap only). lag > 0: the motion comes late."""
  motion, envelope = np.atleast_2d(motion), np.atleast_2d(envelope)
  out = {}
  for lag in range(-max_lag, max_lag + 1):
    a = motion[:, max(lag, 0):motion.shape[1] + min(lag, 0)].ravel()
    b = envelope[:, max(-lag, 0):envelope.shape[1] + min(-lag, 0)].ravel()
    a, b = a - a.mean(), b - b.mean()
    out[lag] = float((a * b).sum() / np.sqrt((a * a).sum() * (b * b).sum()
                                             + 1e-12))
  return out


def offset(motion: np.ndarray, envelope: np.ndarray,
           max_lag: int = 4) -> int:
  """The lag (frames) with the highest `lag_correlations`."""
  corr = lag_correlations(motion, envelope, max_lag)
  return max(corr, key=corr.get)
