"""Evaluates a training run's checkpoint with its task's evaluator.

  python tools/eval_run.py --workdir=runs/psi4d_tiny [--step=1200]

Psi3d runs get the held-out novel-view metrics, Psi runs the SynthHeads
reenactment metrics; both append to WORKDIR/eval/metrics.jsonl and write a
grid, as the periodic evaluation during training does.
"""

from __future__ import annotations

import argparse
import json

from absl import logging

import configs
from p4d_jax import user_errors
from p4d_jax.tasks import runs


def main(argv=None):
  p = user_errors.ArgumentParser(description=__doc__,
                              formatter_class=argparse.RawTextHelpFormatter)
  p.add_argument("--workdir", required=True)
  p.add_argument("--step", type=int, default=None)
  args = p.parse_args(argv)
  logging.set_verbosity(logging.WARNING)
  run = runs.load_run(args.workdir, args.step, defaults=configs.preset)
  evaluator = runs.task_kind(run.name).evaluator
  if evaluator is None:
    raise user_errors.UserError(
        f"{args.workdir}: task {run.name!r} has no evaluator.")
  evaluate = evaluator(run.model, run.config, args.workdir)
  metrics = evaluate({"ema": run.params}, run.step)
  print(json.dumps(dict(workdir=args.workdir, step=run.step, **metrics)))


if __name__ == "__main__":
  user_errors.run(main)
