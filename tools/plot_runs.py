"""Evaluation curves of training runs, and when each first reached a target.

    bash launch/run.sh python tools/plot_runs.py --run base=runs/a --run fast=runs/b \\
        --metrics=psnr_gain,mask_iou --target=psnr_gain=3 --target=mask_iou=0.85 \\
        --x=minutes --out=outputs/curves.png

Reads each run's `eval/metrics.jsonl` (the loop's periodic evaluations).
`--x`: `step`, or `minutes` since the run wrote its `config.json` (which
launch.main does right after start-up, so the minutes include compiling,
data loading and the evaluations themselves). One panel per metric, one
line per run, each target as a dashed line. On stdout, one JSON line per
run: its last evaluation and, with targets, the first evaluation at which
every target held (`"reached": {"step", "minutes", ...}` or null):

  {"run": "fast", "evaluations": 16, "last": {...}, "reached": {...}}
"""

from __future__ import annotations

import json
import os

from p4d_jax import user_errors


def read_run(directory: str) -> list[dict]:
  """The run's evaluations, each with `minutes` since its config.json."""
  path = os.path.join(directory, "eval", "metrics.jsonl")
  config = os.path.join(directory, "config.json")
  for needed in (path, config):
    if not os.path.isfile(needed):
      raise user_errors.MissingFile(
          f"{needed} does not exist: give a run directory of launch.main "
          "trained with train.eval_every > 0.")
  start = os.path.getmtime(config)
  rows = []
  with open(path, encoding="utf-8") as f:
    for number, line in enumerate(f, 1):
      try:
        row = json.loads(line)
      except json.JSONDecodeError as err:
        raise user_errors.UserError(
            f"{path} line {number} is not JSON ({err.msg}); the file is "
            "damaged: remove that line or rerun the evaluation.") from err
      rows.append(dict(row, minutes=round((row["time"] - start) / 60, 2)))
  return rows


def first_reached(rows: list[dict], targets: dict[str, float]) -> dict | None:
  """The first row where every metric is at least its target."""
  for row in rows:
    if all(row[k] >= v for k, v in targets.items()):
      return row
  return None


def _pairs(values: list[str], flag: str) -> dict[str, str]:
  out = {}
  for value in values:
    name, sep, rest = value.partition("=")
    if not sep or not name or not rest:
      raise user_errors.UserError(
          f"{flag}={value!r}: write it as NAME=VALUE.")
    out[name] = rest
  return out


def main(argv=None) -> list[dict]:
  parser = user_errors.ArgumentParser(description=__doc__.split("\n")[0])
  parser.add_argument("--run", action="append", required=True,
                      help="NAME=RUN_DIR, repeated")
  parser.add_argument("--metrics", default="psnr_gain,mask_iou")
  parser.add_argument("--target", action="append", default=[],
                      help="METRIC=VALUE (at least), repeated")
  parser.add_argument("--x", choices=("step", "minutes"), default="minutes")
  parser.add_argument("--out", default="")
  args = parser.parse_args(argv)
  runs = {name: read_run(d) for name, d in _pairs(args.run, "--run").items()}
  metrics = [m for m in args.metrics.split(",") if m]
  try:
    targets = {k: float(v) for k, v in _pairs(args.target,
                                                "--target").items()}
  except ValueError as err:
    raise user_errors.UserError(f"--target: {err}; give numbers.") from err
  for name, rows in runs.items():
    if not rows:
      raise user_errors.UserError(f"--run {name}: no evaluations yet.")
    missing = [m for m in sorted(set(metrics) | set(targets))
               if m not in rows[0]]
    if missing:
      raise user_errors.UserError(
          f"--run {name} has no {missing}; its metrics are "
          f"{sorted(k for k in rows[0] if k not in ('step', 'time'))}.")
  lines = []
  for name, rows in runs.items():
    reached = first_reached(rows, targets) if targets else None
    line = dict(run=name, evaluations=len(rows), last=rows[-1],
                reached=reached)
    print(json.dumps(line), flush=True)
    lines.append(line)
  if args.out:
    from p4d_jax.media import line_chart   # pylint: disable=import-outside-toplevel
    panels = [line_chart.Panel(
        f"{metric} vs {args.x}",
        [line_chart.Series(name, [r[args.x] for r in rows],
                           [r[metric] for r in rows])
         for name, rows in runs.items()],
        hline=targets.get(metric)) for metric in metrics]
    print(line_chart.write_png(panels, args.out), flush=True)
  return lines


if __name__ == "__main__":
  user_errors.run(main)
