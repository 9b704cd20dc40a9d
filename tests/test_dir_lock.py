"""Directory locks: one holder at a time, the holder named in the refusal,
released on exit (also on an error), stale locks taken over (a dead pid on
this host, an old heartbeat from another host, a never-written file), and
a held lock touched while held."""

import json
import os
import socket
import subprocess
import sys
import time

import pytest

from p4d_jax import dir_lock
from p4d_jax.user_errors import UserError


def lock_file(directory, host, pid, age=0.0):
  """A lock file as another holder would have left it, `age` s old."""
  path = directory / dir_lock.LOCK
  path.write_text(json.dumps(dict(host=host, pid=pid, started="then",
                                  command="python -m launch.main")))
  past = time.time() - age
  os.utime(path, (past, past))
  return path


def test_one_holder_at_a_time_released_on_exit(tmp_path):
  with dir_lock.DirLock(str(tmp_path), what="training run") as lock:
    holder = dir_lock.read_holder(lock.path)
    assert (holder.host, holder.pid) == (socket.gethostname(), os.getpid())
    with pytest.raises(UserError, match=(
        rf"{tmp_path} is in use by another training run: pid {os.getpid()} "
        rf"on {socket.gethostname()} since .* delete .*\.p4d-lock")):
      dir_lock.DirLock(str(tmp_path), what="training run").acquire()
  assert not (tmp_path / dir_lock.LOCK).exists()
  with pytest.raises(RuntimeError):
    with dir_lock.DirLock(str(tmp_path)):
      raise RuntimeError("the run failed")
  assert not (tmp_path / dir_lock.LOCK).exists()


def test_stale_locks_are_taken_over(tmp_path, capsys):
  gone = subprocess.Popen([sys.executable, "-c", "pass"])
  gone.wait()   # a holder killed on this host: its pid is gone
  lock_file(tmp_path, socket.gethostname(), gone.pid)
  with dir_lock.DirLock(str(tmp_path)):
    assert dir_lock.read_holder(str(tmp_path / dir_lock.LOCK)).pid == \
        os.getpid()
  assert "took over a stale lock" in capsys.readouterr().out
  lock_file(tmp_path, "elsewhere", 1)   # another host, recently touched
  with pytest.raises(UserError, match="pid 1 on elsewhere"):
    dir_lock.DirLock(str(tmp_path), stale_after=60).acquire()
  lock_file(tmp_path, "elsewhere", 1, age=120)   # ... and long silent
  with dir_lock.DirLock(str(tmp_path), stale_after=60):
    pass
  (tmp_path / dir_lock.LOCK).write_text("")   # its writer died at once
  with pytest.raises(UserError, match="in use"):
    dir_lock.DirLock(str(tmp_path)).acquire()
  old = time.time() - 60
  os.utime(tmp_path / dir_lock.LOCK, (old, old))
  with dir_lock.DirLock(str(tmp_path)):
    pass
  assert not os.listdir(tmp_path)


def test_a_held_lock_is_touched(tmp_path):
  with dir_lock.DirLock(str(tmp_path), heartbeat=0.05) as lock:
    old = time.time() - 100
    os.utime(lock.path, (old, old))
    time.sleep(0.3)
    assert dir_lock.read_holder(lock.path).age < 5
