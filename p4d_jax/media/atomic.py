"""Atomic writes: a file or directory appears complete under its final name
or not at all, even if the writer is killed.

    with atomic.atomic_path("out/a.png") as tmp:
      image.save(tmp)          # a temp name beside out/a.png, same suffix
    atomic.write_json("out/summary.json", summary, indent=2)

The temp name is in the same directory (os.replace is atomic only within one
file system) and keeps the suffix (writers that pick a format from the
extension still see it).
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import tempfile
from typing import Iterator


def temp_beside(path: str) -> str:
  """A new empty file's name beside `path` (its directory made), hidden, with
  `path`'s suffix; `commit` or `discard` it."""
  directory = os.path.dirname(os.path.abspath(path))
  os.makedirs(directory, exist_ok=True)
  stem, suffix = os.path.splitext(os.path.basename(path))
  fd, tmp = tempfile.mkstemp(prefix=f".{stem}.tmp-", suffix=suffix,
                             dir=directory)
  os.close(fd)
  os.chmod(tmp, 0o644)  # mkstemp makes 0600 files; outputs are for sharing.
  return tmp


def commit(tmp: str, path: str) -> None:
  """Flushes the written `tmp` to disk, then renames it onto `path` (so a
  crash after the rename never leaves `path` with missing data)."""
  fd = os.open(tmp, os.O_RDONLY)
  try:
    os.fsync(fd)
  finally:
    os.close(fd)
  os.replace(tmp, path)


def discard(tmp: str) -> None:
  """Removes an uncommitted temp file, if it is there."""
  if os.path.exists(tmp):
    os.remove(tmp)


@contextlib.contextmanager
def atomic_path(path: str) -> Iterator[str]:
  """Yields a temp name beside `path`; committed onto `path` when the block
  succeeds, removed when it raises."""
  tmp = temp_beside(path)
  try:
    yield tmp
    commit(tmp, path)
  finally:
    discard(tmp)


@contextlib.contextmanager
def atomic_dir(path: str) -> Iterator[str]:
  """Yields a new temp directory beside `path`; it replaces `path` (an old
  one removed first: a rename cannot replace a non-empty directory) when the
  block succeeds, and is removed when it raises. Its name starts with ".",
  so directory listings can skip unfinished ones."""
  parent = os.path.dirname(os.path.abspath(path))
  os.makedirs(parent, exist_ok=True)
  tmp = tempfile.mkdtemp(prefix=f".{os.path.basename(path)}.tmp-", dir=parent)
  os.chmod(tmp, 0o755)
  try:
    yield tmp
    shutil.rmtree(path, ignore_errors=True)
    os.replace(tmp, path)
  finally:
    shutil.rmtree(tmp, ignore_errors=True)


def write_bytes(path: str, data: bytes) -> str:
  with atomic_path(path) as tmp, open(tmp, "wb") as f:
    f.write(data)
  return path


def write_text(path: str, text: str) -> str:
  with atomic_path(path) as tmp, open(tmp, "w", encoding="utf-8") as f:
    f.write(text)
  return path


def write_json(path: str, value, **dump_options) -> str:
  """`value` as JSON (`dump_options` go to json.dumps, e.g. indent=2)."""
  return write_text(path, json.dumps(value, **dump_options))
