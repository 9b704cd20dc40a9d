"""Test setup: 8 simulated CPU devices, configured before jax is imported."""

import os

os.environ["XLA_FLAGS"] = (os.environ.get("XLA_FLAGS", "") +
                           " --xla_force_host_platform_device_count=8").strip()
os.environ.setdefault("JAX_PLATFORMS", "cpu")

import jax  # noqa: E402  pylint: disable=wrong-import-position

assert jax.device_count() == 8, (
    "tests/conftest.py must run before anything imports jax; got "
    f"{jax.device_count()} devices.")


def pytest_configure(config):
  config.addinivalue_line(
      "markers", "slow: minutes-long; skipped by launch/test.sh, run with "
      "`bash launch/test.sh -m slow`")
