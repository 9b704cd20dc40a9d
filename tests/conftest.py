"""Test setup: 8 simulated CPU devices and one persistent compilation cache,
configured before jax is imported."""

import hashlib
import importlib.metadata
import os
import platform


def compilation_cache_dir() -> str:
  """Where the suite keeps XLA's compiled programs between runs: outside the
  repository, one directory per jaxlib version, machine kind and CPU feature
  set (JAX's own keys cover the program, the compile options and the XLA
  flags; code built for one CPU's instructions must not load on another).
  P4D_JAX_CACHE moves it; P4D_JAX_CACHE=off disables it."""
  features = ""
  try:
    with open("/proc/cpuinfo") as f:
      features = next((line for line in f if line.startswith("flags")), "")
  except OSError:
    pass
  key = hashlib.sha256(
      f"{importlib.metadata.version('jaxlib')}|{platform.machine()}|"
      f"{features}".encode()).hexdigest()[:16]
  root = os.environ.get("XDG_CACHE_HOME", os.path.expanduser("~/.cache"))
  return os.path.join(root, "p4d_jax", "jax_compilation_cache", key)


os.environ["XLA_FLAGS"] = (os.environ.get("XLA_FLAGS", "") +
                           " --xla_force_host_platform_device_count=8").strip()
os.environ.setdefault("JAX_PLATFORMS", "cpu")
_CACHE = os.environ.get("P4D_JAX_CACHE", "") or compilation_cache_dir()
if _CACHE != "off":
  # Environment variables, so that the tools and training runs that tests
  # start as subprocesses share it too.
  os.environ["JAX_COMPILATION_CACHE_DIR"] = _CACHE
  # Every compile, however short: the eager rendering tests compile hundreds
  # of small per-op kernels, which otherwise cost half a minute every run.
  os.environ["JAX_PERSISTENT_CACHE_MIN_COMPILE_TIME_SECS"] = "0"

import jax  # noqa: E402  pylint: disable=wrong-import-position
import pytest  # noqa: E402  pylint: disable=wrong-import-position

assert jax.device_count() == 8, (
    "tests/conftest.py must run before anything imports jax; got "
    f"{jax.device_count()} devices.")


def pytest_configure(config):
  config.addinivalue_line(
      "markers", "slow: minutes-long; skipped by launch/test.sh, run with "
      "`bash launch/test.sh -m slow`")


@pytest.fixture(scope="session")
def synthheads_tiny(tmp_path_factory):
  """A data dir with every SynthHeads kind built at size tiny (once)."""
  from tools import make_synthheads  # pylint: disable=import-outside-toplevel
  path = str(tmp_path_factory.mktemp("datasets"))
  make_synthheads.main(["--size", "tiny", "--data_dir", path, "--no_sheet"])
  return path


@pytest.fixture(scope="session")
def psi3d_small_state():
  """init_state(key 0) of tests/tasks/psi3d_small.py's Psi3d, made once (its
  initialisation compiles for about 20 s)."""
  from p4d_jax.tasks import psi3d  # pylint: disable=import-outside-toplevel
  from tests.tasks import psi3d_small  # pylint: disable=import-outside-toplevel
  task = psi3d.Psi3dTask(psi3d_small.small_config())
  return jax.jit(task.init_state)(jax.random.key(0))


@pytest.fixture(scope="session")
def psi4d_small_state():
  """(task, init_state(key 1)) of tests/tasks/psi3d_small.py's Psi."""
  from p4d_jax.tasks import psi4d  # pylint: disable=import-outside-toplevel
  from tests.tasks import psi3d_small  # pylint: disable=import-outside-toplevel
  task = psi4d.Psi4dTask(psi3d_small.small_psi_config())
  return task, jax.jit(task.init_state)(jax.random.key(1))


@pytest.fixture(scope="session")
def psi4d_small_run(psi4d_small_state, tmp_path_factory):
  """A Psi run directory (config.json, a checkpoint at step 3) whose EMA is
  the init moved by noise, so that its cross-attention acts. (workdir, EMA)."""
  # pylint: disable=import-outside-toplevel
  import grain
  import numpy as np
  from p4d_jax.tasks import runs
  from p4d_jax.train import checkpoint
  task, state = psi4d_small_state
  rng = np.random.default_rng(0)
  ema = jax.tree.map(
      lambda x: x + 0.05 * rng.standard_normal(x.shape, np.float32),
      state["params"])
  workdir = str(tmp_path_factory.mktemp("psi4d_run"))
  runs.save_config(task.config, workdir)
  ckpt = checkpoint.Checkpointer(os.path.join(workdir, "checkpoints"))
  ckpt.save(3, dict(state, ema=ema),
            iter(grain.MapDataset.range(4).to_iter_dataset()))
  ckpt.wait()
  ckpt.close()
  return workdir, ema


@pytest.fixture(scope="session")
def pseudo_views_tiny(synthheads_tiny, psi3d_small_state, tmp_path_factory):
  """The pseudo-view stage run once over SynthHeads clips/tiny (6 clips x 8
  frames, 32^2) with the small Psi3d: 2 views a frame, 3 shards, seed 3.
  (source, renderer, settings, task, params, the records' directory)."""
  # pylint: disable=import-outside-toplevel
  from p4d_jax.data import clip_sources
  from p4d_jax.rendering import camera_settings
  from p4d_jax.stages import pseudo_views
  from p4d_jax.tasks import psi3d
  from tests.tasks import psi3d_small
  task = psi3d.Psi3dTask(psi3d_small.small_config())
  params = psi3d_small_state["ema"]
  source = clip_sources.synthheads_clips("tiny", "train", synthheads_tiny)
  renderer = pseudo_views.PseudoViewRenderer(task.model, params, frames=8)
  settings = pseudo_views.Settings(
      checkpoint="random", checkpoint_step=0, clips=source.name,
      num_clips=len(source.frames), views=2,
      ranges=camera_settings.RandomViewRanges(), seed=3, num_shards=3,
      frames_per_batch=8, store_masks=True, store_depth=True)
  out = str(tmp_path_factory.mktemp("pseudo_views"))
  summary = pseudo_views.run(source, renderer, settings, out)
  assert summary["shards_written"] == 3 and summary["frames"] == 48
  return source, renderer, settings, task, params, out
