"""Evaluates a training run's checkpoint with its task's evaluator.

  python tools/eval_run.py --workdir=runs/psi4d_tiny [--step=1200]

Psi3d runs get the held-out novel-view metrics, Psi runs the SynthHeads
reenactment metrics; both append to WORKDIR/eval/metrics.jsonl and write a
grid, as the periodic evaluation during training does.
"""

from __future__ import annotations

import argparse
import importlib
import json
import os
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)

# pylint: disable=wrong-import-position
from absl import logging  # noqa: E402

from launch import main as launch_main  # noqa: E402


def main(argv=None):
  p = argparse.ArgumentParser(description=__doc__,
                              formatter_class=argparse.RawTextHelpFormatter)
  p.add_argument("--workdir", required=True)
  p.add_argument("--step", type=int, default=None)
  args = p.parse_args(argv)
  logging.set_verbosity(logging.WARNING)
  name, task, params, step = launch_main.load_run(args.workdir, args.step)
  evaluator = launch_main.TASKS[name][2]
  if evaluator is None:
    raise ValueError(f"{args.workdir}: task {name!r} has no evaluator.")
  evaluate = getattr(importlib.import_module(evaluator[0]), evaluator[1])(
      task, args.workdir)
  metrics = evaluate({"ema": params}, step)
  print(json.dumps(dict(workdir=args.workdir, step=step, **metrics)))


if __name__ == "__main__":
  main()
