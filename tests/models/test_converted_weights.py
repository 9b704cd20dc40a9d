"""Converted weights are run directories: each loader's errors name the path
(and, where the run is missing or of another task, the tool that makes the
right one), and a run of the right task but other shapes names the
parameter."""

import jax
import numpy as np
import pytest
from flax import nnx

from p4d_jax import run_weights
from p4d_jax.models import inception
from p4d_jax.models import lpips

LOADERS = [(lpips, "convert_lpips"), (inception, "convert_inception")]
OTHER = {lpips: inception, inception: lpips}
ABSTRACT = {lpips: lambda: lpips.LPIPS(nnx.Rngs(0)),
            inception: lambda: inception.InceptionV3(nnx.Rngs(0))}


@pytest.mark.parametrize("module, tool", LOADERS)
def test_missing_or_not_a_run_names_the_converter(tmp_path, module, tool):
  with pytest.raises(FileNotFoundError, match=f"nope.*{tool}"):
    module.load(str(tmp_path / "nope"))
  old = tmp_path / "weights.npz"   # a file is not a run directory
  old.write_bytes(b"PK")
  with pytest.raises(FileNotFoundError, match=f"weights.npz.*{tool}"):
    module.load(str(old))
  (tmp_path / "empty").mkdir()
  with pytest.raises(ValueError, match=f"empty is not a run directory.*{tool}"):
    module.load(str(tmp_path / "empty"))
  (tmp_path / "bad").mkdir()
  (tmp_path / "bad" / "config.json").write_text("{task")
  with pytest.raises(ValueError, match=f"config.json: not valid JSON.*{tool}"):
    module.load(str(tmp_path / "bad"))


@pytest.mark.parametrize("module, tool", LOADERS)
def test_a_run_of_another_task_is_refused(tmp_path, module, tool):
  """E.g. an Inception run passed as LPIPS weights: the config is checked
  before any array is read."""
  path = str(tmp_path / "other")
  other = OTHER[module].TASK
  run_weights.write(path, dict(task=other), {"x": np.zeros(1)})
  with pytest.raises(ValueError, match=f"other/config.json is a '{other}' "
                     f"run, not '{module.TASK}' weights.*{tool}"):
    module.load(path)


@pytest.mark.parametrize("module, tool", LOADERS)
def test_a_run_of_other_shapes_names_the_parameter(tmp_path, module, tool):
  """Every parameter path there but each of shape (1,); then none there."""
  del tool
  config = dict(task=module.TASK, variant="fid")
  small = jax.tree.map(lambda v: np.zeros((1,), np.float32),
                       nnx.state(nnx.eval_shape(ABSTRACT[module])))
  run_weights.write(str(tmp_path / "small"), config, small)
  with pytest.raises(ValueError, match=r"small/checkpoints step 0 ema: "
                     r"parameter \S+ is shape \(1,\), the model wants \("):
    module.load(str(tmp_path / "small"))
  run_weights.write(str(tmp_path / "none"), config, {"x": np.zeros(1)})
  with pytest.raises(ValueError, match=r"parameter \S+ is missing"):
    module.load(str(tmp_path / "none"))


def test_an_unknown_inception_variant_is_named(tmp_path):
  path = str(tmp_path / "v")
  run_weights.write(path, dict(task=inception.TASK, variant="tf"),
                    {"x": np.zeros(1)})
  with pytest.raises(ValueError, match="unknown variant 'tf'.*"
                     "convert_inception"):
    inception.load(path)
