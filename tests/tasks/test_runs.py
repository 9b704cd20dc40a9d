"""A run directory loads back as its model handle and EMA weights (also when
its config predates a key: then the preset it was made with fills it), with
clear errors for what is missing; the pseudo-view tool renders from one,
end to end, in a subprocess."""

import json
import os
import subprocess
import sys

import grain
import jax
import numpy as np
import pytest

import configs
from p4d_jax.data import pseudo_view_manifest
from p4d_jax.tasks import runs
from p4d_jax.train import checkpoint
from tests.tasks.psi3d_small import small_config

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(
    __file__))))
STEP = 7


@pytest.fixture(scope="module")
def run_dir(psi3d_small_state, tmp_path_factory):
  """A Psi3d run directory whose EMA differs from its params."""
  workdir = str(tmp_path_factory.mktemp("psi3d_run"))
  config = small_config()
  state = dict(psi3d_small_state)
  state["ema"] = jax.tree.map(lambda x: 0.5 * x + 0.25, state["params"])
  runs.save_config(config, workdir)
  ckpt = checkpoint.Checkpointer(os.path.join(workdir, "checkpoints"))
  ckpt.save(STEP, state, iter(grain.MapDataset.range(4).to_iter_dataset()))
  ckpt.wait()
  ckpt.close()
  return workdir, state


def test_loads_the_ema_weights_of_the_newest_step(run_dir):
  workdir, state = run_dir
  run = runs.load_run(workdir, defaults=configs.preset)
  assert run.step == STEP and run.name == "psi3d"
  assert run.model.image_size == 32 and run.config.image_size == 32
  for got, want in zip(jax.tree.leaves(run.params),
                       jax.tree.leaves(state["ema"])):
    np.testing.assert_array_equal(got, want)


def test_a_config_saved_before_a_key_existed_takes_the_default(run_dir,
                                                                 tmp_path):
  workdir, _ = run_dir
  with open(os.path.join(workdir, "config.json")) as f:
    saved = json.load(f)
  del saved["sharding_rules"], saved["train"]
  saved["preset"] = "paper"
  (tmp_path / "config.json").write_text(json.dumps(saved))
  config = runs.run_config(str(tmp_path), configs.preset)
  # The preset the run was made with fills the missing keys, not tiny's.
  assert config.sharding_rules == configs.preset("psi3d",
                                                 "paper").sharding_rules
  assert config.train.total_steps == 312_500
  assert config.image_size == 32 and config.model.superres.widths == (16,)
  saved["surprise"] = 1
  (tmp_path / "config.json").write_text(json.dumps(saved))
  with pytest.raises(ValueError, match=r"sections \['surprise'\]"):
    runs.run_config(str(tmp_path), configs.preset)


def test_missing_pieces_are_named(run_dir, tmp_path):
  with pytest.raises(FileNotFoundError, match="not a run directory"):
    runs.load_run(str(tmp_path))
  (tmp_path / "config.json").write_text(
      open(os.path.join(run_dir[0], "config.json")).read())
  with pytest.raises(FileNotFoundError, match="not saved a checkpoint yet"):
    runs.load_run(str(tmp_path))
  with pytest.raises(FileNotFoundError, match=r"no step 3; it has \[7\]"):
    runs.load_run(run_dir[0], step=3)
  with pytest.raises(ValueError, match="a 'psi3d' run, not psi4d"):
    runs.load_run(run_dir[0], task="psi4d")


def tool(out, run, data_dir, *extra):
  env = dict(os.environ, XLA_FLAGS="")
  return subprocess.run(
      [sys.executable, "tools/precompute_pseudo_views.py", f"--out={out}",
       f"--config.checkpoint={run}", "--config.data.size=tiny",
       f"--config.data.data_dir={data_dir}", "--config.num_shards=2",
       "--config.views=2", "--config.frames_per_batch=16", *extra],
      cwd=ROOT, env=env, capture_output=True, text=True, check=False)


@pytest.mark.slow
def test_precompute_tool_end_to_end(run_dir, synthheads_tiny, tmp_path):
  out = tmp_path / "views"
  done = tool(out, run_dir[0], synthheads_tiny)
  assert done.returncode == 0, done.stderr[-3000:]
  summary = json.loads(done.stdout.strip().splitlines()[-1])
  assert summary["frames"] == 48 and summary["shards_written"] == 2
  manifest = pseudo_view_manifest.load(str(out))
  assert manifest["settings"]["checkpoint_step"] == STEP
  assert manifest["records"] == 48 and (out / "sheet.png").exists()
  verified = tool(out, run_dir[0], synthheads_tiny, "--verify")
  assert verified.returncode == 0, verified.stderr[-3000:]
  assert json.loads(verified.stdout)["records"] == 48
  refused = tool(out, run_dir[0], synthheads_tiny, "--config.seed=1")
  assert refused.returncode == 2 and refused.stderr.count("\n") == 1
  assert "other settings (seed differ" in refused.stderr


@pytest.mark.parametrize("task", sorted(runs.TASKS))
def test_every_task_finds_the_config_file_its_runs_are_laid_over(task):
  # A saved run records (task, preset); loading it needs that task's file.
  assert configs.preset(task, "tiny").task == task
