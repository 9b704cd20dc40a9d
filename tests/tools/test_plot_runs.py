"""tools/plot_runs.py: minutes from the run's config.json, the first
evaluation meeting every target, one panel per metric."""

import json
import os

import numpy as np
import pytest
from PIL import Image

from p4d_jax.user_errors import UserError
from tools import plot_runs


def fake_run(root, rows, start=1_000_000.0):
  os.makedirs(root / "eval")
  (root / "config.json").write_text("{}")
  os.utime(root / "config.json", (start, start))
  with open(root / "eval" / "metrics.jsonl", "w", encoding="utf-8") as f:
    for step, gain, iou in rows:
      f.write(json.dumps(dict(step=step, time=start + 0.06 * step,
                              psnr_gain=gain, mask_iou=iou)) + "\n")
  return str(root)


def test_reached_is_the_first_evaluation_meeting_every_target(tmp_path):
  run = fake_run(tmp_path / "a", [(500, 1.0, 0.9), (1000, 3.1, 0.80),
                                  (1500, 3.0, 0.86), (2000, 3.5, 0.9)])
  out = str(tmp_path / "curve.png")
  [line] = plot_runs.main([f"--run=a={run}", "--target=psnr_gain=3",
                           "--target=mask_iou=0.85", f"--out={out}"])
  # Step 1000 has the gain but not the IoU; 1500 has both (3.0 >= 3).
  assert line["reached"]["step"] == 1500
  assert line["reached"]["minutes"] == pytest.approx(1.5)   # 90 s
  assert line["last"]["step"] == 2000 and line["evaluations"] == 4
  image = np.asarray(Image.open(out).convert("RGB"))
  assert image.shape == (300, 600, 3)   # two panels, side by side
  assert (image != 255).any(axis=-1).mean() > 0.01


def test_never_reached_is_null_and_bad_input_is_named(tmp_path):
  run = fake_run(tmp_path / "a", [(500, 1.0, 0.9)])
  [line] = plot_runs.main([f"--run=a={run}", "--target=psnr_gain=3"])
  assert line["reached"] is None
  with pytest.raises(UserError, match=r"has no \['lpips'\]"):
    plot_runs.main([f"--run=a={run}", "--metrics=lpips"])
  with pytest.raises(UserError, match="NAME=VALUE"):
    plot_runs.main([f"--run={run}"])
  with pytest.raises(UserError, match="metrics.jsonl does not exist"):
    plot_runs.main([f"--run=b={tmp_path}"])
