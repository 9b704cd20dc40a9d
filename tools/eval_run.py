"""Evaluates a training run's checkpoint with its task's evaluator.

  python tools/eval_run.py --workdir=runs/psi4d_tiny [--step=1200]
  python tools/eval_run.py --workdir=runs/psi3d_tiny --jaw_follow

Psi3d runs get the held-out novel-view metrics, Psi runs the SynthHeads
reenactment metrics; both append to WORKDIR/eval/metrics.jsonl and write a
grid, as the periodic evaluation during training does. --jaw_follow turns
on a Psi3d run's `eval.jaw_follow` (how much of its input's jaw opening a
render carries to other views).
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
  p.add_argument("--jaw_follow", action="store_true",
                 help="Psi3d runs: also report jaw_r and jaw_slope")
  args = p.parse_args(argv)
  logging.set_verbosity(logging.WARNING)
  run = runs.load_run(args.workdir, args.step, defaults=configs.preset)
  evaluator = runs.task_kind(run.name).evaluator
  if evaluator is None:
    raise user_errors.UserError(
        f"{args.workdir}: task {run.name!r} has no evaluator.")
  if args.jaw_follow:
    if run.name != "psi3d":
      raise user_errors.UserError(
          f"--jaw_follow is for Psi3d runs; {args.workdir} is a {run.name} "
          "run (tools/expression_table.py reads a Psi run's jaw).")
    run.config.eval.jaw_follow = True
  evaluate = evaluator(run.model, run.config, args.workdir)
  metrics = evaluate({"ema": run.params}, run.step)
  print(json.dumps(dict(workdir=args.workdir, step=run.step, **metrics)))


if __name__ == "__main__":
  user_errors.run(main)
