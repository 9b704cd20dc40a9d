"""Exclusive locks on output directories: one writer at a time, across
processes and hosts that share a file system.

    with dir_lock.DirLock(workdir, what="training run"):
      train(...)                       # a second taker: UserError, exit 2

A lock is a file in the directory, created with O_CREAT | O_EXCL (atomic on
local file systems and NFS v3+), holding its holder's host, pid, start time
and command line (plus any `info`), and touched every `heartbeat` seconds
while held. It is removed on release. A lock is stale, and taken over, when
its holder's pid is gone on this host, or when a holder on another host has
not touched it for `stale_after` seconds (killed there). Where several
processes legitimately write one directory each takes its own lock `name`
and checks the others' `info` (`holders`).
"""

from __future__ import annotations

import dataclasses
import json
import os
import socket
import sys
import threading
import time

from p4d_jax.user_errors import UserError

LOCK = ".p4d-lock"
HEARTBEAT = 30.0      # seconds between touches of a held lock
STALE_AFTER = 300.0   # a lock from another host untouched this long is stale
_UNWRITTEN = 10.0     # a lock file still empty after this long is stale


@dataclasses.dataclass(frozen=True)
class Holder:
  """Who holds (or held) a lock file."""
  path: str
  host: str
  pid: int
  started: str
  command: str
  info: dict
  age: float           # seconds since its last heartbeat

  def describe(self) -> str:
    return (f"pid {self.pid} on {self.host} since {self.started} "
            f"({self.command})")


def read_holder(path: str) -> Holder | None:
  """The lock file's holder; None when the file is gone. A file not yet
  (or never completely) written has host "" and pid -1."""
  try:
    age = time.time() - os.stat(path).st_mtime
    with open(path, encoding="utf-8") as f:
      text = f.read()
  except FileNotFoundError:
    return None
  try:
    d = json.loads(text)
    return Holder(path, d["host"], int(d["pid"]), d["started"], d["command"],
                  d.get("info", {}), age)
  except (ValueError, KeyError, TypeError):
    return Holder(path, "", -1, "?", "?", {}, age)


def _pid_alive(pid: int) -> bool:
  try:
    os.kill(pid, 0)
  except ProcessLookupError:
    return False
  except PermissionError:   # another user's process
    return True
  return True


def is_stale(holder: Holder, stale_after: float = STALE_AFTER) -> bool:
  """Whether the holder is gone: its pid dead on this host, its heartbeat
  too old on another, or its lock file never written."""
  if holder.pid < 0:
    return holder.age > _UNWRITTEN
  if holder.host == socket.gethostname():
    return not _pid_alive(holder.pid)
  return holder.age > stale_after


def holders(directory: str, prefix: str,
            stale_after: float = STALE_AFTER) -> list[Holder]:
  """The live holders of the lock files in `directory` whose names start
  with `prefix`."""
  if not os.path.isdir(directory):
    return []
  found = [read_holder(os.path.join(directory, n))
           for n in sorted(os.listdir(directory)) if n.startswith(prefix)
           and ".stale-" not in n]
  return [h for h in found if h is not None and not is_stale(h, stale_after)]


class DirLock:
  """An exclusive lock file `name` in `directory`; `what` names the holder
  kind in the refusal (e.g. "training run")."""

  def __init__(self, directory: str, name: str = LOCK,
               what: str = "process", info: dict | None = None,
               heartbeat: float = HEARTBEAT, stale_after: float = STALE_AFTER):
    self.directory = directory
    self.path = os.path.join(directory, name)
    self.what = what
    self.info = info or {}
    self.heartbeat = heartbeat
    self.stale_after = stale_after
    self._content = ""
    self._stop = threading.Event()
    self._thread: threading.Thread | None = None

  def acquire(self) -> "DirLock":
    os.makedirs(self.directory, exist_ok=True)
    for _ in range(5):
      try:
        fd = os.open(self.path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o644)
      except FileExistsError:
        holder = read_holder(self.path)
        if holder is not None and not is_stale(holder, self.stale_after):
          raise UserError(
              f"{self.directory} is in use by another {self.what}: "
              f"{holder.describe()}. Wait for it or stop it; if it is no "
              f"longer running, delete {self.path}.") from None
        if holder is not None:
          self._remove_stale(holder)
        continue
      self._content = json.dumps(dict(
          host=socket.gethostname(), pid=os.getpid(),
          started=time.strftime("%Y-%m-%d %H:%M:%S %Z"),
          command=" ".join(sys.argv)[:200], info=self.info))
      with os.fdopen(fd, "w", encoding="utf-8") as f:
        f.write(self._content)
        f.flush()
        os.fsync(f.fileno())
      self._thread = threading.Thread(target=self._beat, daemon=True,
                                      name=f"lock {self.path}")
      self._thread.start()
      return self
    raise UserError(f"{self.path}: could not take the lock (other processes "
                    "keep taking it); retry.")

  def _remove_stale(self, holder: Holder) -> None:
    """Moves the stale lock aside (so two takers cannot both remove it),
    checks it was the one judged stale, and deletes it."""
    aside = f"{self.path}.stale-{socket.gethostname()}-{os.getpid()}"
    try:
      os.rename(self.path, aside)
    except FileNotFoundError:
      return
    moved = read_holder(aside)
    if moved is not None and (moved.host, moved.pid, moved.started) != (
        holder.host, holder.pid, holder.started):
      os.rename(aside, self.path)   # a fresh lock taken meanwhile: put back
      return
    print(f"[lock] {self.path}: took over a stale lock "
          f"({holder.describe()})", flush=True)
    os.remove(aside)

  def _beat(self) -> None:
    while not self._stop.wait(self.heartbeat):
      try:
        os.utime(self.path)
      except OSError:
        pass

  def release(self) -> None:
    self._stop.set()
    if self._thread is not None:
      self._thread.join()
      self._thread = None
    try:
      with open(self.path, encoding="utf-8") as f:
        ours = f.read() == self._content
    except FileNotFoundError:
      return
    if ours:
      os.remove(self.path)

  def __enter__(self) -> "DirLock":
    return self.acquire()

  def __exit__(self, *exc) -> None:
    self.release()
