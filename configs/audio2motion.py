"""Audio to motion (the deterministic baseline, `models.audio2motion`) as
an ml_collections config.

  get_config("tiny")    SynthHeads speech -> the 6 expression parameters per
                        frame, the deterministic regressor; 1,024 training
                        clips (32-frame windows), batch 16, 3,000 steps:
                        minutes on one CPU core
  get_config("tiny_cvae")  the same with Real3D's conditional VAE and flow
                        prior (model.kind=cvae)

Run: `python -m launch.main --config=configs/audio2motion.py:tiny
--workdir=DIR`, then `tools/reenact.py --audio=WAV --audio_model=DIR` or
`tools/bench_audio2motion.py --run=DIR`. Sections: `model` (the network's
sizes, `Audio2MotionSizes`), `audio` (the feature extractor, a key of
`audio.features.KINDS`), `data` (the clips: `speech_clips.SpeechSettings`),
`augment` (the gain range), `loss` (per-parameter weights, smoothness, the
EMA), `optimizer` (AdamW, warm-up then cosine), `train` (the loop's) and
`eval` (held-out clips).
"""

import ml_collections

import configs

from p4d_jax import config_bridge
from p4d_jax.models import sizes


def get_config(arg: str = "tiny") -> ml_collections.ConfigDict:
  presets = {"tiny": dict(batch=16, steps=3000, lr=2e-3, clips=1024,
                          kind="regressor"),
             "tiny_cvae": dict(batch=16, steps=3000, lr=2e-3, clips=1024,
                               kind="cvae")}
  p = configs.pick(presets, arg, "audio2motion")
  config = ml_collections.ConfigDict()
  config.task = "audio2motion"
  config.preset = arg
  config.model = ml_collections.ConfigDict(
      config_bridge.to_fields(sizes.Audio2MotionSizes(kind=p["kind"])))
  config.audio = ml_collections.ConfigDict(dict(features="logmel_f0"))
  config.batch_size = p["batch"]
  # seed: the SynthHeads build's; clips: training identities 0..clips-1;
  # frames, fps: a clip's; window: frames of a training example.
  config.data = ml_collections.ConfigDict(dict(
      seed=0, clips=p["clips"], frames=48, fps=12.5, window=32))
  # gain: each training wave is scaled by a factor log-uniform in this range.
  config.augment = ml_collections.ConfigDict(dict(gain=(0.5, 2.0)))
  # weights: per parameter (jaw_open, smile, blink_left, blink_right,
  # brow_raise, pucker); blinks are silent, so painted in, not regressed.
  # kl: the cvae's KL weight (Real3D's is 0.02; 0.2 held more of smile and
  # pucker in the prior here, README).
  config.loss = ml_collections.ConfigDict(dict(
      weights=(1.0, 1.0, 0.0, 0.0, 1.0, 1.0), smoothness=0.5, kl=0.2,
      ema_half_life_images=2_000.0, ema_rampup=0.05))
  configs.supervised_sections(config, p["lr"], p["steps"], every=500)
  config.eval = ml_collections.ConfigDict(dict(clips=64, batch=16))
  return config
