"""Small line charts as PNGs (PIL only: no plotting library to install).

    panel = Panel("mask IoU vs minutes", [Series("base", xs, ys)], hline=0.85)
    write_png([panel, ...], "curve.png")

Panels sit side by side (or in rows); each scales to its own data, draws its series as
lines with dots, a legend with each one's last value, and an optional dashed
horizontal reference (a pass line).
"""

from __future__ import annotations

import dataclasses
from typing import Sequence

import numpy as np
from PIL import Image, ImageDraw

from p4d_jax.media import atomic

COLOURS = ("navy", "darkorange", "forestgreen", "crimson", "purple", "teal")


@dataclasses.dataclass(frozen=True)
class Series:
  label: str
  x: Sequence[float]
  y: Sequence[float]


@dataclasses.dataclass(frozen=True)
class Panel:
  title: str
  series: Sequence[Series]
  hline: float | None = None
  log_x: bool = False


def draw_panel(draw: ImageDraw.ImageDraw, panel: Panel, left: int, top: int,
               size: int, pad: int = 40) -> None:
  """One panel in the square [left, left + size] x [top, top + size]."""
  tx = np.log2 if panel.log_x else np.asarray
  xs = [tx(np.asarray(s.x, float)) for s in panel.series]
  ys = [np.asarray(s.y, float) for s in panel.series]
  extra = [] if panel.hline is None else [panel.hline]
  x_lo = min(x.min() for x in xs)
  x_hi = max(x.max() for x in xs)
  y_lo = min([y.min() for y in ys] + extra)
  y_hi = max([y.max() for y in ys] + extra)
  if y_hi - y_lo < 1e-12:
    y_lo, y_hi = y_lo - 1, y_hi + 1
  x0, y0, inner = left + pad, top + pad, size - 2 * pad
  to_x = lambda v: x0 + (v - x_lo) / max(x_hi - x_lo, 1e-12) * inner  # noqa: E731
  to_y = lambda v: y0 + inner - (v - y_lo) / (y_hi - y_lo) * inner   # noqa: E731
  draw.rectangle([x0, y0, x0 + inner, y0 + inner], outline="gray")
  draw.text((x0, y0 - 18), panel.title, fill="black")
  for v in np.linspace(y_lo, y_hi, 5):
    draw.text((left + 2, to_y(v) - 6), f"{v:.3g}", fill="black")
  for v in np.linspace(x_lo, x_hi, 5):
    shown = 2**v if panel.log_x else v
    draw.text((to_x(v) - 8, y0 + inner + 4), f"{shown:.3g}", fill="black")
  if panel.hline is not None:
    y = to_y(panel.hline)
    for a in range(int(x0), int(x0 + inner), 8):
      draw.line([(a, y), (min(a + 4, x0 + inner), y)], fill="gray")
  for i, (s, x, y) in enumerate(zip(panel.series, xs, ys)):
    colour = COLOURS[i % len(COLOURS)]
    points = [(to_x(a), to_y(b)) for a, b in zip(x, y)]
    if len(points) > 1:
      draw.line(points, fill=colour, width=2)
    for px, py in points:
      draw.ellipse([px - 2, py - 2, px + 2, py + 2], fill=colour)
    # The legend sits bottom right, where rising curves leave room.
    row = len(panel.series) - i
    draw.text((x0 + inner - 6 * (len(s.label) + 8), y0 + inner - 14 * row),
              f"{s.label}: {y[-1]:.3g}", fill=colour)


def write_png(panels: Sequence[Panel], path: str, size: int = 300,
              columns: int | None = None) -> str:
  """The panels in rows of `columns` (default: one row), written atomically
  to `path`."""
  columns = columns or len(panels)
  rows = -(-len(panels) // columns)
  canvas = Image.new("RGB", (size * columns, size * rows), "white")
  draw = ImageDraw.Draw(canvas)
  for i, panel in enumerate(panels):
    draw_panel(draw, panel, (i % columns) * size, (i // columns) * size, size)
  with atomic.atomic_path(path) as tmp:
    canvas.save(tmp, format="PNG")
  return path
