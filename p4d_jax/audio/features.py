"""The audio front end in pure jnp: log-mel and an f0/voicing track.

Real3D-Portrait's settings (`research/real3d_extensions.md` §1): 16 kHz,
512-point FFT, Hann window of 512, hop 320 (50 frames a second), 80 mel
bands over 80-7600 Hz, log10 of max(1e-6, magnitude); f0 by normalised
autocorrelation (Boersma's window correction) over 80-750 Hz, voiced when
the correlation peak reaches VOICING. Frame m is CENTRED on sample m * HOP
(the signal is padded with zeros by half a window on each side), so frame
4k sits on video frame k at 12.5 fps. A wave of N samples has N // HOP
frames.

    feats = features.compute(wave)   # [..., N] -> [..., N // HOP, DIM]

`KINDS` names the extractors a model may be configured with (one today).
"""

from __future__ import annotations

import functools

import jax
import jax.numpy as jnp
import numpy as np

SAMPLE_RATE = 16_000
HOP = 320
N_FFT = 512
MELS = 80
FMIN, FMAX = 80.0, 7_600.0
FLOOR = 1e-6                 # log10 floor: silence reads log10(1e-6) = -6
F0_RANGE = (80.0, 750.0)
F0_WINDOW = 640              # 40 ms: at least three periods at 80 Hz
VOICING = 0.5
F0_REFERENCE = 150.0         # log2(f0 / F0_REFERENCE) is the pitch feature


def _hz_to_mel(f):
  return 2595.0 * np.log10(1.0 + np.asarray(f) / 700.0)


def _mel_to_hz(m):
  return 700.0 * (10.0**(np.asarray(m) / 2595.0) - 1.0)


@functools.lru_cache(maxsize=4)
def mel_filters(mels: int = MELS, n_fft: int = N_FFT) -> np.ndarray:
  """Triangular filters [n_fft // 2 + 1, mels] on the HTK mel scale, peak 1,
  centres `mel_centres(mels)`."""
  edges = _mel_to_hz(np.linspace(_hz_to_mel(FMIN), _hz_to_mel(FMAX),
                                 mels + 2))
  bins = np.arange(n_fft // 2 + 1) * SAMPLE_RATE / n_fft
  lo, mid, hi = edges[:-2], edges[1:-1], edges[2:]
  up = (bins[:, None] - lo) / (mid - lo)
  down = (hi - bins[:, None]) / (hi - mid)
  return np.clip(np.minimum(up, down), 0.0, None).astype(np.float32)


def mel_centres(mels: int = MELS) -> np.ndarray:
  """Centre frequency (Hz) [mels] of each mel band."""
  return _mel_to_hz(np.linspace(_hz_to_mel(FMIN), _hz_to_mel(FMAX),
                                mels + 2))[1:-1]


def frames(wave: jax.Array, window: int) -> jax.Array:
  """[..., N] -> [..., N // HOP, window]: frame m centred on sample m * HOP,
  zeros outside the signal."""
  count = wave.shape[-1] // HOP
  padded = jnp.pad(wave, [(0, 0)] * (wave.ndim - 1) +
                   [(window // 2, window // 2)])
  index = jnp.arange(count)[:, None] * HOP + jnp.arange(window)
  return padded[..., index]


def _hann(size: int) -> jax.Array:
  return 0.5 - 0.5 * jnp.cos(2 * jnp.pi * jnp.arange(size) / size)


def log_mel(wave: jax.Array) -> jax.Array:
  """[..., N] -> log10 mel magnitudes [..., N // HOP, MELS]."""
  spec = jnp.abs(jnp.fft.rfft(frames(wave, N_FFT) * _hann(N_FFT), axis=-1))
  return jnp.log10(jnp.maximum(spec @ mel_filters(), FLOOR))


def _autocorrelation(x: jax.Array) -> jax.Array:
  size = 2 * x.shape[-1]
  power = jnp.abs(jnp.fft.rfft(x, size, axis=-1))**2
  return jnp.fft.irfft(power, size, axis=-1)[..., :x.shape[-1]]


def pitch(wave: jax.Array) -> tuple[jax.Array, jax.Array]:
  """[..., N] -> (f0 in Hz, voicing strength in [0, 1]), each
  [..., N // HOP]. f0 is the smallest lag whose normalised autocorrelation
  is within 5% of the best in F0_RANGE (no octave-down errors), moved to
  the top of its peak and refined by a parabola; 0 where the voicing strength is under VOICING."""
  window = _hann(F0_WINDOW)
  x = frames(wave, F0_WINDOW)
  x = (x - jnp.mean(x, -1, keepdims=True)) * window
  r = _autocorrelation(x)
  rw = _autocorrelation(window)
  nacf = r / jnp.maximum(r[..., :1], 1e-12) / (rw / rw[0])
  lo = int(SAMPLE_RATE // F0_RANGE[1])
  hi = int(SAMPLE_RATE // F0_RANGE[0])
  band = nacf[..., lo:hi + 1]
  best = jnp.max(band, -1, keepdims=True)
  first = jnp.argmax(band >= 0.95 * best, -1)
  # The top of the peak that lag is on: the first local maximum from there.
  falls = jnp.concatenate([band[..., 1:] <= band[..., :-1],
                           jnp.ones_like(band[..., :1], bool)], -1)
  after = jnp.arange(band.shape[-1]) >= first[..., None]
  lag = jnp.argmax(falls & after, -1) + lo
  take = lambda d: jnp.take_along_axis(  # noqa: E731
      nacf, jnp.clip(lag + d, 0, nacf.shape[-1] - 1)[..., None], -1)[..., 0]
  left, mid, right = take(-1), take(0), take(1)
  curve = left - 2 * mid + right
  shift = jnp.where(curve < 0, 0.5 * (left - right) / jnp.where(
      curve < 0, curve, -1.0), 0.0)
  strength = jnp.clip(mid, 0.0, 1.0)
  f0 = SAMPLE_RATE / (lag + jnp.clip(shift, -0.5, 0.5))
  return jnp.where(strength >= VOICING, f0, 0.0), strength


def compute(wave: jax.Array) -> jax.Array:
  """The model's input [..., N // HOP, DIM]: log-mel (shifted and scaled to
  about unit range: silence is -1), voicing strength and voiced pitch
  (log2(f0 / F0_REFERENCE), 0 when unvoiced)."""
  mel = (log_mel(wave) + 3.0) / 3.0
  f0, strength = pitch(wave)
  tone = jnp.where(f0 > 0, jnp.log2(jnp.maximum(f0, 1.0) / F0_REFERENCE), 0.0)
  return jnp.concatenate([mel, strength[..., None], tone[..., None]], -1)


DIM = MELS + 2
KINDS = {"logmel_f0": (compute, DIM)}
