"""A console progress line with rate and ETA, for long jobs in tools."""

from __future__ import annotations

import time


class Progress:
  """Prints `label done/total  extras  elapsed, ETA` every `every` updates.

  The first and last updates always print. Usage:
    progress = Progress(600, "fit")
    for step in range(600):
      ...
      progress.update(step + 1, loss=f"{loss:.4f}")
  """

  def __init__(self, total: int, label: str, every: int = 1):
    self.total = total
    self.label = label
    self.every = max(1, every)
    self.start = time.time()

  def update(self, done: int, **extras) -> None:
    if not (done == 1 or done == self.total or done % self.every == 0):
      return
    elapsed = time.time() - self.start
    eta = elapsed / max(done, 1) * (self.total - done)
    shown = "  ".join(f"{k} {v}" for k, v in extras.items())
    width = len(str(self.total))
    print(f"[{self.label}] {done:{width}d}/{self.total}  {shown}  "
          f"{done / max(elapsed, 1e-9):.2f}/s  {elapsed:.0f}s elapsed, "
          f"ETA {eta:.0f}s", flush=True)
