"""The memory allocator every entry point runs on.

XLA:CPU takes fresh memory for its large temporaries on every call. glibc's
malloc hands such blocks back to the kernel and faults them in again page by
page next time, which makes the renderer's forward+backward about 2x slower
(64^2 rays, batch 1: 452 ms against 239 ms with mimalloc, which keeps them;
`tools/bench_render.py`). An allocator can only be chosen before the
process starts, so `ensure()`, which every tool's and launcher's `__main__`
calls (`user_errors.ensure_allocator`), re-executes the process once with it
in place when it did not start with it (`launch/env.sh` sets it up too).

P4D_ALLOCATOR picks it:
  mimalloc (default)  preload the mimalloc that setup.py installs
                      (cmeel-mimalloc); without it, fall back to `system`
  system              glibc's malloc with transparent huge pages
                      (GLIBC_TUNABLES glibc.malloc.hugetlb=1, glibc >= 2.35):
                      2 MiB pages fault 512x less often (268 ms above)
  off                 leave the process as it started
"""

from __future__ import annotations

import glob
import os
import shlex
import sys
import sysconfig

HUGE_PAGES = "glibc.malloc.hugetlb=1"
_DONE = "P4D_ALLOCATOR_SET"   # set before re-executing: never loop


def mimalloc_library() -> str | None:
  """The path of the mimalloc shared library in this environment, or None."""
  site = sysconfig.get_paths()["purelib"]
  found = sorted(glob.glob(os.path.join(site, "cmeel.prefix", "lib",
                                        "libmimalloc.so*")))
  return found[0] if found else None


def in_place(env: dict) -> bool:
  """Whether an environment already runs the chosen allocator."""
  choice = env.get("P4D_ALLOCATOR", "mimalloc")
  if choice == "off" or env.get(_DONE):
    return True
  if choice == "mimalloc" and "libmimalloc" in env.get("LD_PRELOAD", ""):
    return True
  return HUGE_PAGES in env.get("GLIBC_TUNABLES", "")


def environment(env: dict) -> dict:
  """`env` with the chosen allocator set up (see the module doc)."""
  choice = env.get("P4D_ALLOCATOR", "mimalloc")
  if choice not in ("mimalloc", "system", "off"):
    raise ValueError(f"P4D_ALLOCATOR={choice!r}: use mimalloc, system or "
                     "off.")
  out = dict(env, **{_DONE: "1"})
  library = mimalloc_library() if choice == "mimalloc" else None
  if library:
    preload = env.get("LD_PRELOAD", "")
    out["LD_PRELOAD"] = library + (":" + preload if preload else "")
  elif choice != "off":
    tunables = env.get("GLIBC_TUNABLES", "")
    out["GLIBC_TUNABLES"] = HUGE_PAGES + (":" + tunables if tunables else "")
  return out


def ensure() -> None:
  """Re-executes this process with the chosen allocator unless it already
  runs on it (Linux only; call it from `__main__`, before any work)."""
  if not sys.platform.startswith("linux") or in_place(os.environ):
    return
  sys.stdout.flush()
  sys.stderr.flush()
  os.execve(sys.executable, [sys.executable] + sys.orig_argv[1:],
            environment(dict(os.environ)))


def shell_exports(env: dict) -> str:
  """The `export` lines that give a shell `environment(env)` (for
  launch/env.sh); none when `env` already runs the chosen allocator."""
  if in_place(env):
    return ""
  out = environment(env)
  return "".join(f"export {k}={shlex.quote(out[k])}\n"
                 for k in ("LD_PRELOAD", "GLIBC_TUNABLES") if k in out
                 and out[k] != env.get(k))


if __name__ == "__main__":
  print(shell_exports(dict(os.environ)), end="")
