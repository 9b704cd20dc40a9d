"""Audio in and out: any file ffmpeg decodes (WAV at any rate and sample
format, MP3, the audio track of a video) as mono float32 at the rate asked
for; 16-bit WAV out; an audio track muxed into an mp4.

    wave = audio_io.read_audio("speech.wav")            # [N], 16 kHz, mono
    audio_io.write_wav("out.wav", wave)                  # atomically
    audio_io.mux("silent.mp4", wave, "talk.mp4")         # atomically
    audio_io.write_video("talk.mp4", frames, 12.5, wave)  # frames + audio

Channels are averaged (stereo -> mono); the rate is changed in numpy
(`resample`, band-limited by the FFT). A missing, empty or non-audio file
is a user error that says which.
"""

from __future__ import annotations

import os
import struct
import subprocess
import wave as wave_lib

import numpy as np

from p4d_jax.media import atomic
from p4d_jax.media import video_io
from p4d_jax.user_errors import MissingFile
from p4d_jax.user_errors import UserError

RATE = 16_000


def _ffmpeg_exe() -> str:
  import imageio_ffmpeg  # pylint: disable=import-outside-toplevel
  return imageio_ffmpeg.get_ffmpeg_exe()


def _parse_wav(data: bytes) -> tuple[np.ndarray, int]:
  """ffmpeg's float32 WAV stream -> samples [N, channels] and the rate. A
  streamed WAV's sizes may be unset, so the data runs to the end."""
  if data[:4] != b"RIFF" or data[8:12] != b"WAVE":
    raise ValueError("not a WAV stream")
  pos, channels, rate = 12, None, None
  while pos + 8 <= len(data):
    tag, size = data[pos:pos + 4], struct.unpack("<I", data[pos + 4:pos + 8])[0]
    body = pos + 8
    if tag == b"fmt ":
      channels, rate = struct.unpack("<HI", data[body + 2:body + 8])
    elif tag == b"data":
      if channels is None:
        raise ValueError("WAV data before its format")
      raw = data[body:]
      raw = raw[:len(raw) // (4 * channels) * 4 * channels]
      return np.frombuffer(raw, "<f4").reshape(-1, channels), rate
    pos = body + size + (size & 1)
  raise ValueError("WAV stream without data")


def resample(wave: np.ndarray, rate_in: int, rate_out: int) -> np.ndarray:
  """[N] at rate_in -> [round(N * rate_out / rate_in)] at rate_out,
  band-limited (the spectrum cut or zero-padded; what lies above the
  lower Nyquist frequency is dropped)."""
  wave = np.asarray(wave, np.float64)
  if rate_in == rate_out or not len(wave):
    return wave.astype(np.float32)
  n_out = max(1, int(round(len(wave) * rate_out / rate_in)))
  spectrum = np.fft.rfft(wave)
  keep = min(len(spectrum), n_out // 2 + 1)
  out = np.zeros(n_out // 2 + 1, complex)
  out[:keep] = spectrum[:keep]
  return (np.fft.irfft(out, n_out) * n_out / len(wave)).astype(np.float32)


def read_audio(path: str, rate: int = RATE) -> np.ndarray:
  """Mono float32 [N] at `rate`, clipped to [-1, 1]."""
  if not os.path.isfile(path):
    raise MissingFile(f"{path} does not exist.")
  if not os.path.getsize(path):
    raise UserError(f"{path}: empty file (0 bytes); give a WAV or MP3.")
  with video_io.quiet_fork():
    result = subprocess.run(
        [_ffmpeg_exe(), "-nostdin", "-v", "error", "-i", path, "-map",
         "0:a:0", "-vn", "-f", "wav", "-c:a", "pcm_f32le", "-"],
        capture_output=True, check=False)
  errors = result.stderr.decode(errors="replace").strip().splitlines()
  try:
    samples, rate_in = _parse_wav(result.stdout)
  except ValueError as err:
    why = errors[-1].split("] ", 1)[-1] if errors else str(err)
    raise UserError(f"{path}: not an audio file ffmpeg can read ({why}); "
                    "give a WAV or MP3.") from err
  if not len(samples):
    raise UserError(f"{path}: the audio has no samples; give a WAV or MP3 "
                    "with sound in it.")
  mono = resample(samples.mean(-1), rate_in, rate)
  return np.clip(np.nan_to_num(mono), -1.0, 1.0)


def write_wav(path: str, wave: np.ndarray, rate: int = RATE) -> str:
  """Mono [N] in [-1, 1] -> a 16-bit PCM WAV, atomically. Returns `path`."""
  pcm = np.round(np.clip(wave, -1.0, 1.0) * 32767).astype("<i2")
  with atomic.atomic_path(path) as tmp:
    with wave_lib.open(tmp, "wb") as f:
      f.setnchannels(1)
      f.setsampwidth(2)
      f.setframerate(rate)
      f.writeframes(pcm.tobytes())
  return path


def mux(video: str, wave: np.ndarray, path: str, rate: int = RATE) -> str:
  """`video` (an mp4) with `wave` as its AAC audio track -> `path`,
  atomically; the video stream is copied, not re-encoded. Returns `path`."""
  sound = atomic.temp_beside(path + ".wav")
  try:
    write_wav(sound, wave, rate)
    with atomic.atomic_path(path) as tmp, video_io.quiet_fork():
      subprocess.run(
          [_ffmpeg_exe(), "-nostdin", "-v", "error", "-y", "-i", video, "-i",
           sound, "-map", "0:v:0", "-map", "1:a:0", "-c:v", "copy", "-c:a",
           "aac", "-b:a", "128k", "-f", "mp4", tmp],
          capture_output=True, check=True)
  finally:
    atomic.discard(sound)
  return path


def write_video(path: str, frames: np.ndarray, fps: float,
                wave: np.ndarray, rate: int = RATE) -> str:
  """uint8 frames [T, H, W, 3] as H.264 with `wave` as the audio track ->
  `path`, atomically. Returns `path`."""
  silent = atomic.temp_beside(path)
  try:
    video_io.write_video(silent, frames, fps)
    return mux(silent, wave, path, rate)
  finally:
    atomic.discard(silent)
