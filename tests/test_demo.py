"""The main job end to end on SynthHeads tiny (a few steps per model): every
stage runs, a rerun skips them all, and the summary names real files."""

import os

import pytest

from p4d_jax import user_errors
from tools import demo


@pytest.mark.slow
def test_demo_runs_every_stage_then_reuses_them(synthheads_tiny, tmp_path,
                                                capsys, monkeypatch):
  monkeypatch.setenv("XLA_FLAGS", "")   # the stages' processes: one device
  args = [f"--out={tmp_path}", "--size=tiny", f"--data_dir={synthheads_tiny}",
          "--psi3d_steps=4", "--psi4d_steps=4", "--views=2",
          "--motion_steps=4"]
  first = demo.main(args)
  assert set(first["stage_s"]) == {"data", "psi3d", "pseudo_views",
                                   "motion", "psi4d", "reenact", "evaluate"}
  for what in ("evaluation report", "side by side (source | driving | result)",
               "free-view orbit", "depth"):
    assert os.path.getsize(first["outputs"][what]) > 0
  assert {line["group"] for line in first["metrics"]} == {"all", "same",
                                                          "cross"}
  # SynthHeads source and driver: the jaw is read back over the clip.
  assert first["jaw_follow"]["frames"] == len(
      first["jaw_follow"]["driver_jaw"]) > 1
  assert "jaw opening against the driver's" in capsys.readouterr().out
  again = demo.main(args)
  assert set(again["stage_s"]) == {"data"}   # the rest was done already
  assert "done already" in capsys.readouterr().out
  # Psi was trained on the pretrained extractor: not "done" for another.
  with pytest.raises(user_errors.UserError, match="motion 'pretrained'"):
    demo.main(args + ["--motion=learned"])
