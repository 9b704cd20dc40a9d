"""Issue 18's table: how much of the driver's expression each Psi run carries
over on the held-out SynthHeads pairs (`p4d_jax/evaluation/expression_transfer`).

    python tools/expression_table.py --run oracle=runs/psi_oracle \
        --run pretrained=runs/psi_pretrained --run learned=runs/psi_learned

One JSON line per run (cross-identity pairs unless --pairs_kind=all|same):
eye and mouth gains over the source-driven control with their 95 %
bootstrap intervals, the shuffled-driver control, the mouth gain where the
jaw moves and where it stays, the jaw error of driven and static results,
and the run's overall and novel-view PSNR. The expression ceiling these gains
are compared with is `tools/expression_ceiling.py`'s.
"""

from __future__ import annotations

import json

from absl import logging

import configs
from p4d_jax import user_errors


def parse_args(argv=None):
  p = user_errors.ArgumentParser(description=__doc__.split("\n")[0])
  p.add_argument("--run", action="append", required=True,
                 help="NAME=RUN_DIR (a Psi run); repeat for each row")
  p.add_argument("--pairs", type=int, default=0,
                 help="held-out pairs (0: the run's config.eval.pairs)")
  p.add_argument("--pairs_kind", choices=("cross", "same", "all"),
                 default="cross")
  p.add_argument("--synthheads_size", default="",
                 help="SynthHeads eval set (default: the run's)")
  p.add_argument("--data_dir", default="", help="SynthHeads data sets")
  p.add_argument("--no_jaw_error", dest="jaw_error", action="store_false",
                 help="skip reading the jaw back (the slow part)")
  args = p.parse_args(argv)
  for spec in args.run:
    if "=" not in spec:
      p.error(f"--run {spec!r}: write NAME=RUN_DIR")
  return args


def main(argv=None) -> list[dict]:
  args = parse_args(argv)
  logging.set_verbosity(logging.WARNING)
  # pylint: disable=import-outside-toplevel
  import numpy as np
  from p4d_jax.evaluation import expression_transfer as X
  from p4d_jax.evaluation import reenactment
  from p4d_jax.tasks import runs
  lines = []
  for spec in args.run:
    name, workdir = spec.split("=", 1)
    run = runs.load_run(workdir, defaults=configs.preset, task="psi4d")
    config = run.config
    if args.pairs:
      config.eval.pairs = args.pairs
    if args.data_dir:
      config.eval.data_dir = args.data_dir
    if args.synthheads_size:
      config.eval.synthheads_size = args.synthheads_size
    # per_pair writes nothing (only a periodic evaluation reports).
    evaluator = reenactment.ReenactmentEvaluator(run.model, config, workdir)
    out, fields = evaluator.per_pair(run.params), evaluator.fields
    cross = fields["cross_identity"]
    rows = dict(cross=cross, same=~cross,
                all=np.ones_like(cross))[args.pairs_kind]
    line = dict(run=name, workdir=workdir, step=run.step,
                motion=config.motion.kind, pairs_kind=args.pairs_kind,
                pairs=int(rows.sum()), psnr=float(out["psnr"][rows].mean()),
                novel_psnr=float(out["novel_psnr"][rows].mean()),
                driver_rms=float(out["driver_rms"][rows].mean()),
                **X.psnr_gains(out, fields, rows))
    if args.jaw_error:
      line.update(X.jaw_errors(out, fields, rows))
    print(json.dumps(line), flush=True)
    lines.append(line)
  return lines


if __name__ == "__main__":
  user_errors.run(main)
