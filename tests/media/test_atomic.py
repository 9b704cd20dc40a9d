"""Atomic writers: a file or directory appears whole under its name or not
at all; a failed write leaves the old one and no temp file."""

import json
import os
import stat

import pytest

from p4d_jax.media import atomic


def test_a_failed_write_leaves_no_file_and_no_temp_file(tmp_path):
  path = tmp_path / "out.json"
  with pytest.raises(RuntimeError):
    with atomic.atomic_path(str(path)) as tmp:
      with open(tmp, "w") as f:
        f.write("half")
      raise RuntimeError("killed mid-write")
  assert not list(tmp_path.iterdir())
  path.write_text("old")
  with pytest.raises(RuntimeError):
    with atomic.atomic_path(str(path)) as tmp:
      raise RuntimeError("killed mid-write")
  assert [p.name for p in tmp_path.iterdir()] == ["out.json"]
  assert path.read_text() == "old"


def test_a_finished_write_replaces_the_file(tmp_path):
  path = tmp_path / "sub" / "a.png"   # the directory is made
  with atomic.atomic_path(str(path)) as tmp:
    assert os.path.dirname(tmp) == str(path.parent)
    assert tmp.endswith(".png") and os.path.basename(tmp).startswith(".")
    with open(tmp, "wb") as f:
      f.write(b"new")
  assert path.read_bytes() == b"new"
  assert os.listdir(path.parent) == ["a.png"]
  assert stat.S_IMODE(path.stat().st_mode) == 0o644
  atomic.write_json(str(tmp_path / "v.json"), {"b": 1, "a": [2]},
                    sort_keys=True)
  assert (tmp_path / "v.json").read_text() == '{"a": [2], "b": 1}'
  assert json.loads(atomic.write_text(str(tmp_path / "t"), "[1]") and
                    (tmp_path / "t").read_text()) == [1]
  atomic.write_bytes(str(tmp_path / "b"), b"\x00\x01")
  assert (tmp_path / "b").read_bytes() == b"\x00\x01"


def test_directories_are_replaced_whole_or_not_at_all(tmp_path):
  path = tmp_path / "clip"
  with atomic.atomic_dir(str(path)) as tmp:
    (tmp_path / tmp / "old.txt").write_text("old")
  with pytest.raises(RuntimeError):
    with atomic.atomic_dir(str(path)) as tmp:
      (tmp_path / tmp / "new.txt").write_text("new")
      raise RuntimeError("killed mid-write")
  assert os.listdir(tmp_path) == ["clip"]
  assert os.listdir(path) == ["old.txt"]
  with atomic.atomic_dir(str(path)) as tmp:
    (tmp_path / tmp / "new.txt").write_text("new")
  assert os.listdir(tmp_path) == ["clip"]
  assert os.listdir(path) == ["new.txt"]   # the old directory is gone
