"""The evaluation harness: closed-form metrics through tools/evaluate.py's
folder mode, per-group summaries, skipped metrics explained, the report."""

import json

import imageio.v3 as iio
import jax
import numpy as np
import pytest

from p4d_jax.evaluation import html_report
from p4d_jax.evaluation import suite
from p4d_jax.media import image_io
from p4d_jax.models import lpips
from p4d_jax.models import torch_weights
from p4d_jax.user_errors import UserError
from tools import convert_lpips
from tools import evaluate

N, S = 6, 32


def images(seed, n=N):
  return np.random.default_rng(seed).integers(20, 230, (n, S, S, 3),
                                              dtype=np.uint8)


def folder(tmp_path, name, frames):
  path = tmp_path / name
  path.mkdir()
  for i, f in enumerate(frames):
    iio.imwrite(path / f"{i:03d}.png", f)
  return str(path)


def test_folder_mode_psnr_is_its_closed_form_and_the_report_is_written(
    tmp_path):
  target = images(0)
  pred = target + np.uint8(10)             # every pixel 10 levels off
  out = tmp_path / "out"
  result = evaluate.main([f"--pred={folder(tmp_path, 'pred', pred)}",
                          f"--target={folder(tmp_path, 'gt', target)}",
                          f"--out={out}"])
  (line,) = result["summary"]
  assert line["group"] == "all" and line["items"] == N
  np.testing.assert_allclose(line["psnr"], 20 * np.log10(255 / 10), rtol=1e-4)
  assert 0.9 < line["ssim"] < 1.0
  assert any("lpips skipped" in n for n in result["notes"])
  saved = json.loads((out / "metrics.json").read_text())
  assert [r["item"] for r in saved["rows"]] == [f"{i:03d}.png"
                                                for i in range(N)]
  page = (out / "report.html").read_text()
  assert page.count("<svg") == 2 and "data:image/png;base64," in page
  assert "lpips skipped" in page


def test_groups_are_summarised_apart_and_missing_targets_explained():
  pred = images(1)
  target = pred.copy()
  target[3:] = 255 - target[3:]
  items = suite.Items(names=list("abcdef"), pred=pred, target=target,
                      groups=["same"] * 3 + ["cross"] * 3)
  summary, rows, _, _ = suite.summarise(items, suite.Options())
  by = {line["group"]: line for line in summary}
  assert [line["group"] for line in summary] == ["all", "same", "cross"]
  assert by["same"]["psnr"] > 100 > by["cross"]["psnr"]   # exact vs inverted
  np.testing.assert_allclose(by["all"]["psnr"], np.mean(
      [r["psnr"] for r in rows]), rtol=1e-6)
  _, _, notes, values = suite.summarise(
      suite.Items(names=list("abcdef"), pred=pred), suite.Options())
  assert "psnr" not in values and "no targets" in notes[0]


def test_lpips_from_a_weights_run_equals_the_model(tmp_path):
  lin = torch_weights.load_state_dict(convert_lpips.installed_lin())
  model = lpips.random_backbone(jax.random.key(0), lin)
  path = lpips.save(model, str(tmp_path / "lpips"))
  pred, target = images(2, 3), images(3, 3)
  values, _ = suite.per_item(
      suite.Items(names=list("abc"), pred=pred, target=target),
      suite.Options(lpips_weights=path, batch=2))
  want = model(image_io.to_float(pred), image_io.to_float(target))
  np.testing.assert_allclose(values["lpips"], np.ravel(want), rtol=1e-4)


def test_face_metrics_through_the_folder_mode(tmp_path):
  """The astronaut as result, source and driver: identity similarity 1 and
  AKD 0; a result without a face is NaN and noted."""
  from skimage import data  # pylint: disable=import-outside-toplevel
  face = np.asarray(data.astronaut()[:256, 128:384])
  pred = np.stack([face, face, 255 - face])
  result = evaluate.main([
      f"--pred={folder(tmp_path, 'pred', pred)}",
      f"--target={folder(tmp_path, 'gt', pred)}",
      f"--source={folder(tmp_path, 'src', [face] * 3)}",
      f"--driving={folder(tmp_path, 'drv', [face] * 3)}",
      f"--out={tmp_path / 'a'}"])
  assert "fid" not in result["summary"][0]
  rows = json.loads((tmp_path / "a" / "metrics.json").read_text())["rows"]
  assert [r["akd"] for r in rows[:2]] == [0.0, 0.0]
  np.testing.assert_allclose([r["identity_similarity"] for r in rows[:2]],
                             1.0, atol=1e-9)
  assert rows[2]["akd"] is None   # the negative image has no face: NaN -> null
  assert any("no face found in 1 of 3 result" in n for n in result["notes"])


@pytest.mark.slow
def test_fid_through_the_folder_mode(tmp_path):
  """Random Inception weights (the reference rule): FID of a set with itself
  is 0 and with noise images positive (random weights barely see the input,
  so the distance is small: 7e-6 measured, against 1e-12 for equal
  sets)."""
  from skimage import data  # pylint: disable=import-outside-toplevel
  from p4d_jax.models import inception  # pylint: disable=import-outside-toplevel
  from tests.models import make_inception_reference as ref  # pylint: disable=import-outside-toplevel
  weights = inception.save(inception.from_state_dict(
      {k: ref.reference_weight(k, v)
       for k, v in inception.torch_shapes().items()}), str(tmp_path / "inc"))
  face = np.asarray(data.astronaut()[:256, 128:384])
  pred = np.stack([face, face, 255 - face])
  noise = np.random.default_rng(0).integers(0, 256, pred.shape, np.uint8)
  for name, target, want_zero in (("same", pred, True),
                                  ("apart", noise, False)):
    result = evaluate.main([
        f"--pred={folder(tmp_path, 'pred_' + name, pred)}",
        f"--target={folder(tmp_path, 'gt_' + name, target)}",
        "--no-face_metrics", f"--inception_weights={weights}",
        f"--out={tmp_path / name}"])
    (line,) = result["summary"]
    assert "akd" not in line
    if want_zero:
      assert abs(line["fid"]) < 1e-9
    else:
      assert line["fid"] > 1e-6


def test_histogram_bars_are_the_counts():
  svg = html_report.histogram_svg("x", {"a": np.array([0., 0., 0., 1.])},
                                  bins=2, height=120)
  assert svg.count("<rect") == 2
  assert 'height="100.0"' in svg and 'height="33.3"' in svg   # 3 and 1 of 3


def test_mismatched_folders_are_refused(tmp_path):
  with pytest.raises(ValueError, match="must match one to one"):
    evaluate.main([f"--pred={folder(tmp_path, 'p', images(0))}",
                   f"--target={folder(tmp_path, 't', images(0, 4))}",
                   f"--out={tmp_path}"])
  with pytest.raises(UserError, match="give either --workdir"):
    evaluate.main([f"--out={tmp_path}"])     # neither --workdir nor --pred


@pytest.mark.slow
def test_synthheads_mode_evaluates_a_psi_run(psi4d_small_run, synthheads_tiny,
                                            tmp_path):
  result = evaluate.main([f"--workdir={psi4d_small_run[0]}",
                          "--synthheads_size=tiny", f"--data_dir={synthheads_tiny}",
                          "--pairs=4", "--batch=4", "--motion_fit",
                          f"--out={tmp_path}"])
  by = {line["group"]: line for line in result["summary"]}
  assert set(by) == {"all", "same", "cross"}
  assert by["same"]["items"] + by["cross"]["items"] == 4
  assert np.isfinite(by["all"]["psnr"]) and np.isfinite(by["all"]["eyes_psnr"])
  # The motion fit of the exact targets is the estimator's floor; a barely
  # trained Psi's results are further from the truth.
  assert by["all"]["target_apd"] < 2.0          # degrees, at 32^2
  assert by["all"]["apd"] >= 0 and np.isfinite(by["all"]["aed"])
  page = (tmp_path / "report.html").read_text()
  assert "source | driving | result | target" in page


@pytest.mark.slow
def test_expression_table_tool_on_a_psi_run(psi4d_small_run, synthheads_tiny):
  from tools import expression_table  # pylint: disable=import-outside-toplevel
  (line,) = expression_table.main([
      f"--run=small={psi4d_small_run[0]}", "--synthheads_size=tiny",
      f"--data_dir={synthheads_tiny}", "--pairs=4", "--pairs_kind=all"])
  assert line["pairs"] == 4 and line["run"] == "small"
  assert np.isfinite(line["mouth_gain"]["mean"])
  assert line["mouth_gain"]["low"] <= line["mouth_gain"]["high"]
  assert line["jaw_error_pairs"] >= 0
