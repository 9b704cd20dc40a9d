"""Converts InceptionV3 weights to the run directory that `inception.load`
reads (and `tools/evaluate.py --inception_weights` takes).

  bash launch/run.sh python tools/convert_inception.py \\
      --pth pt_inception-2015-12-05-6726825d.pth --out weights/inception_fid

--pth: pytorch-fid's FID weights (the TensorFlow FID graph's Inception,
  ported; released on github.com/mseitzer/pytorch-fid under "fid_weights").
  Bring the file yourself: nothing is downloaded here.
--variant fid (default): pytorch-fid's pooling, for FID comparable with
  published numbers. --variant torchvision: torchvision's inception_v3 state
  dict (inception_v3_google-*.pth) and its pooling; not comparable.
No torch needed: the file is read by p4d_jax.models.torch_weights.
"""

from __future__ import annotations

import argparse
import os

from p4d_jax import user_errors
from p4d_jax.models import inception
from p4d_jax.models import torch_weights

# Output rows of `fc.weight`: the TF graph has 1008 classes, torchvision 1000.
FC_ROWS = {"fid": 1008, "torchvision": 1000}


def parse_args(argv=None):
  p = user_errors.ArgumentParser(description=__doc__,
                              formatter_class=argparse.RawTextHelpFormatter)
  p.add_argument("--pth", required=True,
                 help="pt_inception-2015-12-05-6726825d.pth (state dict)")
  p.add_argument("--variant", choices=inception.VARIANTS, default="fid",
                 help="fid: pytorch-fid's FID Inception (default); "
                 "torchvision: torchvision's Inception3")
  p.add_argument("--out", required=True,
                 help="output run directory (new, or empty)")
  args = p.parse_args(argv)
  if not os.path.isfile(args.pth):
    p.error(f"--pth {args.pth}: no such file (pytorch-fid's "
            "pt_inception-2015-12-05-6726825d.pth)")
  user_errors.check_new_directory(args.out, "--out")
  return args


def main(argv=None):
  args = parse_args(argv)
  try:
    state = torch_weights.load_state_dict(args.pth)
    model = inception.from_state_dict(state, fid=args.variant == "fid")
  except ValueError as err:
    raise user_errors.UserError(f"{args.pth}: {err}") from err
  rows = state["fc.weight"].shape[0] if "fc.weight" in state else None
  if rows is not None and rows != FC_ROWS[args.variant]:
    print(f"warning: fc has {rows} classes, {FC_ROWS[args.variant]} expected "
          f"for --variant {args.variant}: the other variant's weights?")
  inception.save(model, args.out, source=os.path.basename(args.pth))
  inception.load(args.out)  # checks the run reads back
  print(f"wrote {args.out} ({args.variant} InceptionV3, "
        f"{inception.parameter_count(model):,} floats, from {args.pth})")


if __name__ == "__main__":
  user_errors.run(main)
