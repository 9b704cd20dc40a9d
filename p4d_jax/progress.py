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
    self._shown = -1   # `done // every` at the last printed line

  def update(self, done: int, **extras) -> None:
    """Prints on the first update, the last, and whenever `done` reaches a
    new multiple of `every` (so updates in uneven steps still print)."""
    step = done // self.every
    if not (self._shown < 0 or done == self.total or step > self._shown):
      return
    self._shown = step
    elapsed = time.time() - self.start
    eta = elapsed / max(done, 1) * (self.total - done)
    shown = "  ".join(f"{k} {v}" for k, v in extras.items())
    width = len(str(self.total))
    print(f"[{self.label}] {done:{width}d}/{self.total}  {shown}  "
          f"{done / max(elapsed, 1e-9):.2f}/s  {elapsed:.0f}s elapsed, "
          f"ETA {eta:.0f}s", flush=True)
