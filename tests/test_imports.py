"""What importing costs, each in a fresh process: a config file loads no
JAX and no model stack, and no package module starts a JAX backend (which
would make `jax.distributed.initialize`, called after the config is read,
fail)."""

import glob
import json
import os
import subprocess
import sys

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
CONFIGS = sorted(os.path.basename(p)[:-3]
                 for p in glob.glob(os.path.join(ROOT, "configs", "*.py"))
                 if not p.endswith("__init__.py"))


def _run(code: str):
  done = subprocess.run([sys.executable, "-c", code], cwd=ROOT,
                        capture_output=True, text=True, check=False,
                        timeout=300)
  assert done.returncode == 0, done.stderr[-3000:]
  return json.loads(done.stdout.splitlines()[-1])


@pytest.mark.parametrize("name", CONFIGS)
def test_config_file_imports_settings_only(name):
  loaded = _run(
      "import importlib, json, sys\n"
      f"importlib.import_module('configs.{name}').get_config()\n"
      "print(json.dumps(sorted(sys.modules)))")
  heavy = [m for m in loaded
           if m in ("jax", "flax", "p4d_jax.models.synthesizer")
           or m.startswith("p4d_jax.tasks")]
  assert not heavy, f"configs/{name}.py imports {heavy}"


def test_no_package_module_starts_a_jax_backend():
  # jax._src.xla_bridge.backends_are_initialized: jax has no public way to
  # ask without starting one.
  first = _run(
      "import importlib, json, pkgutil\n"
      "from jax._src import xla_bridge\n"
      "import p4d_jax\n"
      "culprit = None\n"
      "for m in pkgutil.walk_packages(p4d_jax.__path__, 'p4d_jax.'):\n"
      "  importlib.import_module(m.name)\n"
      "  if xla_bridge.backends_are_initialized():\n"
      "    culprit = m.name\n"
      "    break\n"
      "print(json.dumps(culprit))")
  assert first is None, f"importing {first} starts a JAX backend"
