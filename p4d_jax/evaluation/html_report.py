"""An evaluation's results as files a person opens: metrics.json and a
self-contained report.html (tables, image grids, histograms drawn as inline
SVG, so no plotting package is needed). Both are written atomically."""

from __future__ import annotations

import base64
import html
import math
import os

import numpy as np

from p4d_jax.media import atomic
from p4d_jax.media import image_io

_COLORS = ("#3a6ea5", "#d1495b", "#66a182", "#edae49", "#8d6a9f")
_STYLE = """
body { font-family: sans-serif; margin: 2em; color: #222; }
table { border-collapse: collapse; margin: 1em 0; }
td, th { border: 1px solid #ccc; padding: 3px 8px; text-align: right; }
th { background: #f0f0f0; } td:first-child, th:first-child { text-align: left; }
figure { display: inline-block; margin: 0 1em 1em 0; vertical-align: top; }
img { image-rendering: pixelated; max-width: 100%; }
.note { color: #666; }
"""


def _fmt(value) -> str:
  if isinstance(value, float):
    return "n/a" if math.isnan(value) else f"{value:.4g}"
  return html.escape(str(value))


def table(rows: list[dict], columns: list[str] | None = None) -> str:
  """Rows of dicts -> an HTML table (columns: the keys of the first row)."""
  if not rows:
    return "<p class=note>(none)</p>"
  columns = columns or list(rows[0])
  head = "".join(f"<th>{html.escape(c)}</th>" for c in columns)
  body = "".join("<tr>" + "".join(f"<td>{_fmt(r.get(c, ''))}</td>"
                                  for c in columns) + "</tr>" for r in rows)
  return f"<table><tr>{head}</tr>{body}</table>"


def histogram_svg(title: str, groups: dict[str, np.ndarray], bins: int = 20,
                  width: int = 360, height: int = 160) -> str:
  """Overlaid histograms of each group's values, as an inline SVG."""
  values = [np.asarray(v, float) for v in groups.values() if len(v)]
  finite = np.concatenate(values)[np.isfinite(np.concatenate(values))] \
      if values else np.zeros(0)
  if not finite.size:
    return f"<p class=note>{html.escape(title)}: no values</p>"
  low, high = float(finite.min()), float(finite.max())
  high = high if high > low else low + 1.0
  edges = np.linspace(low, high, bins + 1)
  counts = {g: np.histogram(np.asarray(v, float), edges)[0]
            for g, v in groups.items()}
  top = max(1, max(int(c.max()) for c in counts.values()))
  pad, bar_w = 30, (width - 40) / bins
  parts = [f'<svg width="{width}" height="{height + 45}" '
           f'xmlns="http://www.w3.org/2000/svg" font-size="11">',
           f'<text x="{pad}" y="12">{html.escape(title)}</text>']
  for k, (group, count) in enumerate(counts.items()):
    color = _COLORS[k % len(_COLORS)]
    for i, c in enumerate(count):
      h = c / top * (height - 20)
      parts.append(f'<rect x="{pad + i * bar_w:.1f}" y="{height - h:.1f}" '
                   f'width="{bar_w - 1:.1f}" height="{h:.1f}" '
                   f'fill="{color}" fill-opacity="0.55"/>')
    parts.append(f'<text x="{pad + 90 * k}" y="{height + 40}" '
                 f'fill="{color}">{html.escape(group)} (n={len(groups[group])})'
                 '</text>')
  parts += [f'<line x1="{pad}" y1="{height}" x2="{width - 10}" y2="{height}" '
            'stroke="#444"/>',
            f'<text x="{pad}" y="{height + 14}">{low:.3g}</text>',
            f'<text x="{width - 10}" y="{height + 14}" text-anchor="end">'
            f'{high:.3g}</text>',
            f'<text x="4" y="{height - (height - 20) + 4}">{top}</text>',
            "</svg>"]
  return "".join(parts)


def image_tag(image: np.ndarray, caption: str) -> str:
  """A uint8 image [H, W, 3] inlined as a PNG data URI in a captioned figure."""
  data = base64.b64encode(image_io.encode_png(image)).decode("ascii")
  return (f'<figure><img src="data:image/png;base64,{data}">'
          f"<figcaption>{html.escape(caption)}</figcaption></figure>")


def strict_json(value):
  """`value` with every non-finite float (a metric with no items) as None,
  so that the file is JSON any parser reads (json.dump would write NaN)."""
  if isinstance(value, dict):
    return {k: strict_json(v) for k, v in value.items()}
  if isinstance(value, (list, tuple)):
    return [strict_json(v) for v in value]
  if isinstance(value, (float, np.floating)):
    return float(value) if np.isfinite(value) else None
  return value


def write(out_dir: str, title: str, summary: list[dict], rows: list[dict],
          figures: list[str], notes: list[str], extra: dict) -> dict:
  """Writes OUT/metrics.json ({summary, rows, notes, **extra}; NaN as null)
  and
  OUT/report.html (notes, the summary table, `figures` (HTML snippets from
  `image_tag` / `histogram_svg`), the per-item table). Returns the paths."""
  os.makedirs(out_dir, exist_ok=True)
  paths = dict(json=os.path.join(out_dir, "metrics.json"),
               html=os.path.join(out_dir, "report.html"))
  metrics = strict_json(dict(summary=summary, rows=rows, notes=notes, **extra))
  atomic.write_json(paths["json"], metrics, indent=1, allow_nan=False,
                    default=float)
  body = [f"<h1>{html.escape(title)}</h1>",
          "".join(f"<p class=note>{html.escape(n)}</p>" for n in notes),
          "<h2>Summary</h2>", table(summary), "<h2>Figures</h2>",
          "".join(figures), f"<h2>Per item ({len(rows)})</h2>", table(rows)]
  page = ("<!doctype html><html><head><meta charset=utf-8><title>"
          f"{html.escape(title)}</title><style>{_STYLE}</style></head><body>"
          + "".join(body) + "</body></html>")
  atomic.write_text(paths["html"], page)
  return paths
