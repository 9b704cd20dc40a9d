"""Speech -> expressions with controls, and tools/reenact.py --audio end to
end (a small random oracle Psi, a small random audio model): talk.mp4 with
its audio, orbit and depth."""

import json

import imageio.v3 as iio
import jax
import numpy as np
import pytest

from configs import audio2motion as a2m_config
from p4d_jax import run_weights
from p4d_jax.data.synthheads import params as P
from p4d_jax.inference import talking
from p4d_jax.media import audio_io
from p4d_jax.models import audio2motion
from p4d_jax.models import model as model_lib
from tests.tasks import psi3d_small
from tools import reenact


def test_blinks_come_at_the_rate_asked():
  assert not np.any(talking.paint_blinks(100, 0.0, np.random.default_rng(0)))
  curves = talking.paint_blinks(750, 0.5, np.random.default_rng(0))  # 60 s
  closed = curves[:, 0] > 0.5
  onsets = np.count_nonzero(closed[1:] & ~closed[:-1]) + closed[0]
  assert 24 <= onsets <= 36            # 0.5 a second, intervals +-30%
  assert curves.max() == pytest.approx(1.0, abs=0.05)


def test_mouth_amplitude_scales_the_jaw_only():
  rng = np.random.default_rng(0)
  raw = P.raw_expression(rng.standard_normal((20, 6)))
  np.testing.assert_allclose(P.raw_expression(P.standardise_expression(raw)),
                             raw, atol=1e-6)
  shut = talking.apply_controls(raw, 0.0, 0.0)
  assert not np.any(shut[:, 0]) and not np.any(shut[:, 2:4])
  wide = talking.apply_controls(raw, 0.0, 2.0)
  np.testing.assert_allclose(wide[:, 0], np.minimum(2 * raw[:, 0], 1.0))
  np.testing.assert_array_equal(wide[:, [1, 4, 5]], raw[:, [1, 4, 5]])


def test_pose_video_plays_forwards_then_backwards():
  np.testing.assert_array_equal(reenact.ping_pong(9, 4),
                                [0, 1, 2, 3, 2, 1, 0, 1, 2])
  np.testing.assert_array_equal(reenact.ping_pong(3, 1), [0, 0, 0])


@pytest.fixture(scope="module")
def runs_dir(tmp_path_factory):
  """(an oracle Psi run, an audio-to-motion run), random weights."""
  root = tmp_path_factory.mktemp("talking_runs")
  psi = psi3d_small.small_psi_config()
  psi.motion.kind = "oracle"
  model = model_lib.Model.from_config(psi)
  run_weights.write(str(root / "psi"), psi.to_dict(),
                    model.init(jax.random.key(0)))
  a2m = a2m_config.get_config("tiny")
  a2m.model.update(width=16, dilations=(1,))
  net = audio2motion.Audio2Motion.from_config(a2m)
  run_weights.write(str(root / "a2m"), a2m.to_dict(),
                    net.init(jax.random.key(1)))
  return str(root / "psi"), str(root / "a2m")


def test_reenact_audio_writes_talk_mp4_with_sound(runs_dir, tmp_path):
  psi, a2m = runs_dir
  source = tmp_path / "source.png"
  iio.imwrite(source, np.full((40, 40, 3), 120, np.uint8))
  speech = tmp_path / "speech.wav"   # 1 s at 44.1 kHz, stereo
  t = np.arange(44100) / 44100
  x = np.round(0.3 * np.sin(2 * np.pi * 200 * t) * 32767).astype("<i2")
  import wave as wave_lib  # pylint: disable=import-outside-toplevel
  with wave_lib.open(str(speech), "wb") as f:
    f.setnchannels(2)
    f.setsampwidth(2)
    f.setframerate(44100)
    f.writeframes(np.stack([x, x], -1).tobytes())
  out = tmp_path / "out"
  summary = reenact.main([f"--workdir={psi}", f"--source={source}",
                          f"--audio={speech}", f"--audio_model={a2m}",
                          f"--out={out}", "--batch=8", "--blink_rate=1"])
  assert summary["frames"] == 12                      # 1 s at 12.5 fps
  video = iio.imread(out / "talk.mp4")
  assert video.shape[:3] == (12, 32, 64)              # source | result
  heard = audio_io.read_audio(str(out / "talk.mp4"))
  assert abs(len(heard) - 16000) < 800
  assert iio.imread(out / "orbit.mp4").shape[:3] == (12, 32, 32)
  assert iio.imread(out / "depth.mp4").shape[:3] == (12, 32, 32)
  assert json.loads((out / "summary.json").read_text())["frames"] == 12
  # A tenth of a second is one frame; less than a frame is named.
  short = tmp_path / "short.wav"
  audio_io.write_wav(str(short), np.zeros(1600, np.float32))
  assert reenact.main([f"--workdir={psi}", f"--source={source}",
                       f"--audio={short}", f"--audio_model={a2m}",
                       f"--out={tmp_path / 'short'}"])["frames"] == 1
  tiny = tmp_path / "tiny.wav"
  audio_io.write_wav(str(tiny), np.zeros(800, np.float32))
  with pytest.raises(ValueError, match="tiny.wav: 0.050 s of audio is shorter"):
    reenact.main([f"--workdir={psi}", f"--source={source}",
                  f"--audio={tiny}", f"--audio_model={a2m}",
                  f"--out={tmp_path / 'tiny'}"])
