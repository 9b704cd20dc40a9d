"""Converted-weights files: atomic round trip, and each loader's errors name
the file and the tool that makes one."""

import os

import numpy as np
import pytest

from p4d_jax.models import inception
from p4d_jax.models import lpips
from p4d_jax.models import weights_file


def test_round_trip_keeps_arrays_and_checks_the_format(tmp_path):
  path = str(tmp_path / "w.npz")
  weights_file.write(path, {"a": np.arange(3.0)}, format="fmt", variant="v")
  assert os.listdir(tmp_path) == ["w.npz"]        # no temp file left
  arrays = weights_file.read(path, "fmt", "Test", "make one")
  np.testing.assert_array_equal(arrays["a"], np.arange(3.0))
  assert str(arrays["variant"]) == "v" and "format" not in arrays
  with pytest.raises(ValueError, match="not a Other weights file: make it"):
    weights_file.read(path, "other", "Other", "make it")


@pytest.mark.parametrize("load, tool", [(lpips.load_npz, "convert_lpips"),
                                        (inception.load_npz,
                                         "convert_inception")])
def test_bad_files_name_themselves_and_the_converter(tmp_path, load, tool):
  with pytest.raises(FileNotFoundError, match=f"nope.npz.*{tool}"):
    load(str(tmp_path / "nope.npz"))
  garbage = tmp_path / "garbage.npz"
  garbage.write_bytes(b"not an npz")
  with pytest.raises(ValueError, match=f"garbage.npz.*{tool}"):
    load(str(garbage))
  other = str(tmp_path / "other.npz")
  np.savez(other, x=np.zeros(3))
  with pytest.raises(ValueError, match=f"other.npz.*{tool}"):
    load(other)
