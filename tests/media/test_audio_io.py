"""Audio in and out: any rate, format and channel count in, as 16 kHz mono;
band-limited resampling; WAV out and an audio track muxed into an mp4."""

import subprocess
import wave as wave_lib

import imageio_ffmpeg
import numpy as np
import pytest

from p4d_jax.media import audio_io
from p4d_jax.media import video_io
from p4d_jax.user_errors import UserError


def write_pcm(path, channels: np.ndarray, rate: int, width: int = 2):
  """[N, C] in [-1, 1] -> a PCM WAV of `width` bytes a sample (stdlib)."""
  if width == 1:
    data = np.round(channels * 127 + 128).astype(np.uint8)
  else:
    data = np.round(channels * 32767).astype("<i2")
  with wave_lib.open(str(path), "wb") as f:
    f.setnchannels(channels.shape[1])
    f.setsampwidth(width)
    f.setframerate(rate)
    f.writeframes(data.tobytes())


def peak_hz(wave, rate=16000):
  spectrum = np.abs(np.fft.rfft(wave * np.hanning(len(wave))))
  return spectrum.argmax() * rate / len(wave)


def tone(freq, rate, seconds=0.5):
  return 0.5 * np.sin(2 * np.pi * freq * np.arange(int(rate * seconds)) / rate)


def test_wav_round_trip_at_16k(tmp_path):
  x = tone(440, 16000).astype(np.float32)
  audio_io.write_wav(str(tmp_path / "a.wav"), x)
  back = audio_io.read_audio(str(tmp_path / "a.wav"))
  np.testing.assert_allclose(back, x, atol=1.5 / 32767)


@pytest.mark.parametrize("rate,width", [(44100, 2), (8000, 1), (22050, 2)])
def test_any_rate_and_width_becomes_16k_mono(tmp_path, rate, width):
  x = tone(440, rate)
  path = tmp_path / "b.wav"
  write_pcm(path, np.stack([x, x], -1), rate, width)
  back = audio_io.read_audio(str(path))
  assert len(back) == round(len(x) * 16000 / rate)
  assert abs(peak_hz(back) - 440) < 5
  np.testing.assert_allclose(np.sqrt(np.mean(back[200:-200]**2)),
                             0.5 / np.sqrt(2), rtol=0.03)


def test_stereo_is_averaged_and_mp3_is_read(tmp_path):
  x = tone(300, 16000)
  path = tmp_path / "opposite.wav"
  write_pcm(path, np.stack([x, -x], -1), 16000)
  assert np.abs(audio_io.read_audio(str(path))).max() < 1e-4
  mono = tmp_path / "mono.wav"
  write_pcm(mono, x[:, None], 16000)
  mp3 = tmp_path / "speech.mp3"
  subprocess.run([imageio_ffmpeg.get_ffmpeg_exe(), "-v", "error", "-i",
                  str(mono), str(mp3)], check=True)
  assert abs(peak_hz(audio_io.read_audio(str(mp3))) - 300) < 5


def test_resampling_is_band_limited_and_invertible():
  x = tone(1000, 16000).astype(np.float32)
  up = audio_io.resample(x, 16000, 48000)
  assert len(up) == 3 * len(x) and abs(peak_hz(up, 48000) - 1000) < 3
  np.testing.assert_allclose(audio_io.resample(up, 48000, 16000), x,
                             atol=1e-4)


def test_bad_files_are_named(tmp_path):
  empty, text = tmp_path / "empty.wav", tmp_path / "notes.wav"
  empty.write_bytes(b"")
  text.write_text("not audio at all\n")
  silent_video = tmp_path / "frames.mp4"
  video_io.write_video(str(silent_video), np.zeros((3, 16, 16, 3), np.uint8),
                       12.5)
  with pytest.raises(UserError, match="empty.wav: empty file"):
    audio_io.read_audio(str(empty))
  with pytest.raises(UserError, match="notes.wav: not an audio file"):
    audio_io.read_audio(str(text))
  with pytest.raises(UserError, match="frames.mp4: not an audio file"):
    audio_io.read_audio(str(silent_video))
  with pytest.raises(FileNotFoundError, match="gone.wav does not exist"):
    audio_io.read_audio(str(tmp_path / "gone.wav"))


def test_mux_keeps_the_frames_and_adds_the_audio(tmp_path):
  frames = np.random.default_rng(0).integers(0, 255, (25, 32, 32, 3),
                                              np.uint8)
  sound = tone(440, 16000, seconds=2.0).astype(np.float32)
  out = audio_io.write_video(str(tmp_path / "talk.mp4"), frames, 12.5, sound)
  assert video_io.read_video(out)[0].shape == frames.shape
  heard = audio_io.read_audio(out)
  assert abs(len(heard) - len(sound)) < 0.05 * len(sound)
  assert abs(peak_hz(heard) - 440) < 5
  assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".")] == []
