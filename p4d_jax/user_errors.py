"""User mistakes and program bugs, told apart: one convention for every
command line.

A user mistake (a missing, unreadable, empty or malformed file, a bad flag,
config key or value, an unwritable output, a busy directory, no face where
one is required) raises `UserError` whose message is one sentence: what,
which file or key, and the fix where there is one. Each tool runs its main
through `run` (argparse tools, with this module's `ArgumentParser`) or
`run_absl` (absl tools): a UserError becomes ONE line on stderr and exit
status 2, with no traceback unless P4D_DEBUG=1. Anything else is a bug and
raises as usual, traceback and all.

    if __name__ == "__main__":
      user_errors.run(main)          # main(argv=None) parses sys.argv
"""

from __future__ import annotations

import argparse
import contextlib
import errno
import os
import re
import sys
from typing import Callable

from p4d_jax import allocator

EXIT_STATUS = 2   # argparse's status for a bad command line, kept for all


class UserError(ValueError):
  """A mistake the user can fix; the message says what, where and how."""


class MissingFile(UserError, FileNotFoundError):
  """A file or directory the user named (or a step should have made) is
  not there."""


def debug() -> bool:
  """P4D_DEBUG=1: user errors raise with their traceback too."""
  return os.environ.get("P4D_DEBUG", "") not in ("", "0")


class ArgumentParser(argparse.ArgumentParser):
  """argparse whose errors are UserErrors (one line, not usage + line)."""

  def error(self, message):
    raise UserError(f"{message} (--help lists the options)")


def _one_line(err: BaseException) -> str:
  return " ".join(str(err).split())


def _as_user_error(err: BaseException) -> UserError | None:
  """The user error `err` is, or None for a bug. Besides UserError: no
  permission on a path, and a full disk, are the user's to fix."""
  if isinstance(err, UserError):
    return err
  if isinstance(err, PermissionError) or (
      isinstance(err, OSError) and err.errno == errno.ENOSPC):
    return UserError(f"{err.filename or 'a file'}: {err.strerror}; give "
                     "another path, or fix its permissions or free space.")
  return None


def guard(body: Callable[[], object]) -> object:
  """Runs `body`; a user error exits 2 with one stderr line."""
  try:
    return body()
  except Exception as err:  # pylint: disable=broad-except
    user = _as_user_error(err)
    if user is None or debug():
      raise
    sys.stdout.flush()
    print(f"error: {_one_line(user)}", file=sys.stderr, flush=True)
    sys.exit(EXIT_STATUS)


def ensure_allocator() -> None:
  """`allocator.ensure()`, with a bad P4D_ALLOCATOR as a user error; every
  entry point's `__main__` calls it (`run` and `run_absl` do)."""
  def body():
    try:
      allocator.ensure()
    except ValueError as err:
      raise UserError(str(err)) from err
  guard(body)


def run(main: Callable[..., object], argv: list[str] | None = None) -> None:
  """An argparse tool's entry point: `main(argv)` under `guard`, on the
  project's allocator."""
  ensure_allocator()
  guard(lambda: main(argv))


def _unknown_key(argv: list[str], err: Exception) -> str:
  """config_flags' error for an override of a key the config lacks (an
  AttributeError whose text quotes the key) -> which flag, which key."""
  text = str(err)
  hint = re.search(r'Did you mean "([^"]+)"', text)
  hint = f"; did you mean {hint.group(1)!r}?" if hint else ""
  for arg in argv:
    flag = arg.split("=", 1)[0]
    for key in flag.split(".")[1:] if flag.startswith("--") else ():
      if f"'{key}'" in text.replace("\\'", "'"):
        return f"{flag}: the config has no key {key!r}{hint}"
  return f"a --config override names no config key ({text}){hint}"


@contextlib.contextmanager
def _flag_errors(argv: list[str]):
  """Flag and config-file mistakes while absl/config_flags parse `argv`
  become user errors. config_flags raises AttributeError for an unknown
  override key and OSError for a missing config file, besides absl's own
  flags.Error (whose text may hold a config file's traceback: its last
  line is the message)."""
  from absl import flags  # pylint: disable=import-outside-toplevel
  try:
    yield
  except (AttributeError, KeyError) as err:
    raise UserError(_unknown_key(argv, err)) from err
  except (flags.Error, OSError) as err:
    text = str(err)
    if "Traceback (most recent call last)" in text:
      text = (text.split("Traceback (most recent call last)")[0] + " " +
              text.strip().splitlines()[-1])
    raise UserError(f"{text} (--helpshort lists the flags)") from err


def define_flags(define: Callable[[], object]) -> object:
  """Runs a module-level absl flag definition under `guard`: config_flags
  with a default file parses it and the command line's --config.*
  overrides as it is defined, so their mistakes surface here."""
  def body():
    with _flag_errors(sys.argv):
      return define()
  return guard(body)


def run_absl(main: Callable[[list[str]], object]) -> None:
  """An absl tool's entry point: `app.run(main)` under `guard`, with flag
  and config-override mistakes as user errors too, on the project's
  allocator."""
  ensure_allocator()
  from absl import app  # pylint: disable=import-outside-toplevel
  from absl import flags  # pylint: disable=import-outside-toplevel

  def parse(argv):
    with _flag_errors(argv):
      rest = flags.FLAGS(argv)
    for name in flags.FLAGS:
      # config_flags keeps a config file's load error for the first use.
      value = flags.FLAGS[name].value
      if type(value).__name__ == "_ErrorConfig":
        reason = str(vars(value)["_error"]).strip().splitlines()[-1].strip()
        raise UserError(f"--{name}: cannot load the config file: {reason}")
    return rest
  guard(lambda: app.run(main, flags_parser=parse))


def check_writable(directory: str, what: str) -> str:
  """Makes `directory` and checks a file can be created in it, before any
  long work; `what` names it (e.g. "--out"). Returns the directory."""
  try:
    os.makedirs(directory, exist_ok=True)
    probe = os.path.join(directory, f".write-test-{os.getpid()}")
    with open(probe, "wb"):
      pass
    os.remove(probe)
  except OSError as err:
    raise UserError(f"{what} {directory} is not a writable directory "
                    f"({err.strerror}); pick another.") from err
  return directory


def check_new_directory(path: str, what: str) -> str:
  """A converter's output run directory must be new or empty (a run's step
  is never overwritten: Orbax refuses); `what` names it (e.g. "--out")."""
  if os.path.exists(path) and (not os.path.isdir(path) or os.listdir(path)):
    raise UserError(f"{what} {path}: exists and is not an empty directory; "
                    "remove it or name another.")
  return path
