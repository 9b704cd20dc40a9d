"""The allocator seam: the chosen allocator's environment, and an entry
point started without it re-executes itself once on it."""

import os
import subprocess
import sys

import pytest

from p4d_jax import allocator

SCRIPT = """
import os, sys
print("start", flush=True)
from p4d_jax import user_errors
user_errors.ensure_allocator()
print("LD_PRELOAD=" + os.environ.get("LD_PRELOAD", ""))
print("GLIBC_TUNABLES=" + os.environ.get("GLIBC_TUNABLES", ""))
"""


def _bare_env(**extra):
  env = {k: v for k, v in os.environ.items()
         if k not in ("LD_PRELOAD", "GLIBC_TUNABLES", "P4D_ALLOCATOR_SET")}
  return dict(env, **extra)


def _run(env):
  return subprocess.run([sys.executable, "-c", SCRIPT], env=env,
                        capture_output=True, text=True, check=False)


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="Linux only")
def test_an_entry_point_restarts_once_on_mimalloc():
  library = allocator.mimalloc_library()
  assert library, "setup.py installs cmeel-mimalloc"
  proc = _run(_bare_env(P4D_ALLOCATOR="mimalloc"))
  assert proc.returncode == 0, proc.stderr
  lines = proc.stdout.splitlines()
  assert lines.count("start") == 2      # the process ran again, once
  assert f"LD_PRELOAD={library}" in lines


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="Linux only")
def test_system_means_glibc_with_huge_pages_and_off_changes_nothing():
  lines = _run(_bare_env(P4D_ALLOCATOR="system")).stdout.splitlines()
  assert lines.count("start") == 2
  assert f"GLIBC_TUNABLES={allocator.HUGE_PAGES}" in lines
  assert "LD_PRELOAD=" in lines
  lines = _run(_bare_env(P4D_ALLOCATOR="off")).stdout.splitlines()
  assert lines.count("start") == 1 and "GLIBC_TUNABLES=" in lines


def test_a_process_already_on_it_is_left_alone():
  env = allocator.environment(_bare_env())
  assert allocator.in_place(env)
  assert allocator.shell_exports(env) == ""
  assert allocator.in_place({"LD_PRELOAD": "/x/libmimalloc.so.2"})
  assert not allocator.in_place({})
  exports = allocator.shell_exports({"P4D_ALLOCATOR": "system",
                                     "GLIBC_TUNABLES": "glibc.foo=1"})
  assert exports == ("export GLIBC_TUNABLES="
                     f"{allocator.HUGE_PAGES}:glibc.foo=1\n")


def test_a_bad_choice_is_one_line_and_status_2():
  proc = _run(_bare_env(P4D_ALLOCATOR="tcmalloc"))
  assert proc.returncode == 2
  assert proc.stderr.strip().splitlines() == [
      "error: P4D_ALLOCATOR='tcmalloc': use mimalloc, system or off."]
