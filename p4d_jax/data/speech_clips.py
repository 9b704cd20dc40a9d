"""SynthHeads clips as (speech, expression track) pairs for audio to motion.

A clip is identity `ident`'s talking clip (`examples.clip_curves`: the
expression track every SynthHeads clip of that identity and seed has) and
its speech (`synthheads.speech`); nothing is rendered. Training reads the
first `clips` training identities, in random windows of `window` frames;
evaluation reads held-out identities (`examples.identity_index("test", i)`):
other motion and other voices, since a clip's voice is drawn per identity.

    wave        [B, window * SAMPLES_PER_FRAME]  float32 in [-1, 1]
    expression  [B, window, 6]                   standardised parameters
"""

from __future__ import annotations

import dataclasses
import functools

import grain
import jax
import numpy as np

from p4d_jax import user_errors
from p4d_jax.data.synthheads import examples
from p4d_jax.data.synthheads import params as P
from p4d_jax.data.synthheads import speech
from p4d_jax.parallel import hosts


@dataclasses.dataclass(frozen=True)
class SpeechSettings:
  seed: int = 0            # the SynthHeads build's seed
  clips: int = 1024        # training clips (identities 0 .. clips - 1)
  frames: int = 48         # a clip's frames (SynthHeads' `small` and `demo`)
  fps: float = 12.5
  window: int = 32         # frames of a training example

  @property
  def samples_per_frame(self) -> int:
    per = speech.SAMPLE_RATE / self.fps
    if per != int(per):
      raise user_errors.UserError(
          f"config.data.fps {self.fps} does not divide {speech.SAMPLE_RATE} "
          "Hz into whole samples per frame; use e.g. 12.5 or 25.")
    return int(per)


def clip(settings: SpeechSettings, ident: int) -> dict:
  """Identity `ident`'s clip: wave [N] float32, raw expression [T, 6]."""
  spec = examples.Spec(seed=settings.seed, frames=settings.frames,
                       fps=settings.fps)
  expression = examples.clip_curves(spec, ident)[0]
  return dict(wave=speech.clip_audio(expression, settings.fps, settings.seed,
                                     ident),
              expression=expression)


def held_out(settings: SpeechSettings, count: int) -> dict:
  """`count` whole held-out clips: wave [C, N], expression [C, T, 6]
  standardised, raw [C, T, 6] and their identity numbers [C]."""
  idents = [examples.identity_index("test", i) for i in range(count)]
  parts = [clip(settings, i) for i in idents]
  raw = np.stack([p["expression"] for p in parts])
  return dict(wave=np.stack([p["wave"] for p in parts]),
              expression=P.standardise_expression(raw), raw=raw,
              ident=np.array(idents))


def training_batches(settings: SpeechSettings, global_batch: int
                     ) -> grain.IterDataset:
  """Endless, checkpointable batches for this host: step j draws (clip,
  start frame) pairs from (seed, host, j), so a resumed run continues
  exactly. Clips are synthesised once and kept (16-bit, as a WAV would)."""
  if not 0 < settings.window <= settings.frames:
    raise user_errors.UserError(
        f"config.data.window {settings.window} must be in 1..frames "
        f"({settings.frames}).")
  local = hosts.local_batch_size(global_batch, jax.process_count())
  host = jax.process_index()
  per = settings.samples_per_frame

  @functools.lru_cache(maxsize=settings.clips)
  def pcm(ident):
    c = clip(settings, ident)
    return (np.round(c["wave"] * 32767).astype(np.int16),
            P.standardise_expression(c["expression"]))

  def step_batch(j):
    rng = P.rng_for(settings.seed, "speech_order", host, j)
    idents = rng.integers(settings.clips, size=local)
    starts = rng.integers(settings.frames - settings.window + 1, size=local)
    waves, exprs = [], []
    for ident, s in zip(idents, starts):
      wave, expression = pcm(int(ident))
      waves.append(wave[s * per:(s + settings.window) * per])
      exprs.append(expression[s:s + settings.window])
    return dict(wave=np.stack(waves).astype(np.float32) / 32767,
                expression=np.stack(exprs))

  return grain.MapDataset.range(2**31).map(
      lambda j: step_batch(int(j))).to_iter_dataset(
          grain.ReadOptions(num_threads=1, prefetch_buffer_size=4))
