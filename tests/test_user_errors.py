"""The user-error convention: a UserError (or a permission problem) exits 2
with one stderr line, P4D_DEBUG=1 shows the traceback, a bug raises as
usual; JSON files are named in their errors; argparse mistakes are one
line."""

import json
import os

import pytest

from p4d_jax import user_errors
from p4d_jax.media import json_file


def exit_of(body, capsys):
  with pytest.raises(SystemExit) as exit_info:
    user_errors.guard(body)
  return exit_info.value.code, capsys.readouterr().err


def test_user_errors_are_one_line_and_exit_2(capsys, monkeypatch):
  monkeypatch.delenv("P4D_DEBUG", raising=False)

  def mistake():
    raise user_errors.UserError("face.png: empty file\n(0 bytes)")
  code, err = exit_of(mistake, capsys)
  assert code == 2 and err == "error: face.png: empty file (0 bytes)\n"

  def denied():
    raise PermissionError(13, "Permission denied", "/out/a.mp4")
  code, err = exit_of(denied, capsys)
  assert code == 2 and err.count("\n") == 1 and "/out/a.mp4" in err
  with pytest.raises(KeyError):   # a bug keeps its traceback
    user_errors.guard(lambda: {}["x"])
  monkeypatch.setenv("P4D_DEBUG", "1")
  with pytest.raises(user_errors.UserError):
    user_errors.guard(mistake)


def test_argparse_mistakes_are_user_errors(capsys):
  parser = user_errors.ArgumentParser()
  parser.add_argument("--out", required=True)
  code, err = exit_of(lambda: parser.parse_args([]), capsys)
  assert code == 2 and err.count("\n") == 1 and "--out" in err


def test_json_files_are_named(tmp_path):
  path = tmp_path / "manifest.json"
  with pytest.raises(user_errors.MissingFile, match="manifest.json does not "
                     "exist; rerun"):
    json_file.read(str(path), "rerun")
  path.write_text("")
  with pytest.raises(user_errors.UserError, match="manifest.json: empty file"):
    json_file.read(str(path))
  path.write_text('{"shards": [')   # a truncated write
  with pytest.raises(user_errors.UserError,
                     match="manifest.json: not valid JSON"):
    json_file.read(str(path))
  path.write_text(json.dumps({"a": 1}))
  assert json_file.read(str(path)) == {"a": 1}


def test_unwritable_outputs_are_found_before_work(tmp_path):
  blocker = tmp_path / "file"
  blocker.write_text("")
  with pytest.raises(user_errors.UserError, match="--out .*file/sub is not "
                     "a writable directory"):
    user_errors.check_writable(str(blocker / "sub"), "--out")
  out = user_errors.check_writable(str(tmp_path / "new"), "--out")
  assert os.listdir(out) == []
