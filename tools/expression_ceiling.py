"""The expression ceiling: the eye- and mouth-region PSNR a perfect expression
transfer gains over the static control, on exact SynthHeads renders, for
image sizes and neural resolutions (`p4d_jax/evaluation/expression_ceiling`).

    python tools/expression_ceiling.py --resolutions 64,128 --factors 2,4

One JSON line per (resolution, factor, region): the perfect transfer's and the
static control's mean PSNR (blurred to the neural resolution), the static
control's PSNR at full resolution, and the paired gain with its 95 %
bootstrap interval over the pairs.
"""

from __future__ import annotations

import json
import time

from p4d_jax import user_errors


def parse_args(argv=None):
  ints = lambda s: [int(v) for v in s.split(",")]   # noqa: E731
  p = user_errors.ArgumentParser(description=__doc__.split("\n")[0])
  p.add_argument("--resolutions", type=ints, default=[64, 128],
                 help="image sizes to render")
  p.add_argument("--factors", type=ints, default=[2, 4],
                 help="image size / neural resolution (2 or more)")
  p.add_argument("--pairs", type=int, default=48)
  p.add_argument("--seed", type=int, default=0)
  args = p.parse_args(argv)
  if min(args.factors) < 2 or args.pairs < 2:
    p.error("--factors must be 2 or more and --pairs at least 2")
  bad = [(r, f) for r in args.resolutions for f in args.factors if r % f]
  if bad:
    p.error(f"resolution {bad[0][0]} does not divide by factor {bad[0][1]}")
  return args


def main(argv=None) -> None:
  args = parse_args(argv)
  # pylint: disable=import-outside-toplevel
  from p4d_jax.evaluation import expression_ceiling
  for resolution in args.resolutions:
    start = time.perf_counter()
    renders = expression_ceiling.render_pairs(args.pairs, resolution,
                                              args.seed)
    render_s = round(time.perf_counter() - start, 1)
    for factor in args.factors:
      for region, row in expression_ceiling.ceiling(renders, factor).items():
        print(json.dumps(dict(resolution=resolution, factor=factor,
                              neural=resolution // factor, region=region,
                              render_s=render_s, **row)), flush=True)


if __name__ == "__main__":
  user_errors.run(main)
