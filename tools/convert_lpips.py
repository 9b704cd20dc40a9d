"""Converts LPIPS-VGG (v0.1) weights to the run directory that `lpips.load`
reads (and `loss.lpips_weights`, `tools/evaluate.py --lpips_weights` take).

  bash launch/run.sh python tools/convert_lpips.py \\
      --vgg vgg16-397923af.pth --out weights/lpips_vgg

--vgg: torchvision's ImageNet VGG16 (the file torchvision downloads as
  vgg16-397923af.pth; bring it yourself, nothing is downloaded here).
--lin: the lpips release's weights/v0.1/vgg.pth; by default the one inside
  an installed `lpips` package (`pip install --no-deps lpips==0.1.4` is
  enough: it is found without importing lpips, which would import torch).
No torch needed: both files are read by p4d_jax.models.torch_weights.
"""

from __future__ import annotations

import argparse
import importlib.metadata
import importlib.util
import os

import numpy as np

from p4d_jax import user_errors
from p4d_jax.models import lpips
from p4d_jax.models import torch_weights

LIN_PATH = ("weights", "v0.1", "vgg.pth")


def installed_lin() -> str | None:
  """lpips' weights/v0.1/vgg.pth from an installed package, or None."""
  try:
    spec = importlib.util.find_spec("lpips")  # locates, does not import
  except (ImportError, ValueError):
    spec = None
  for root in (spec.submodule_search_locations or []) if spec else []:
    path = os.path.join(root, *LIN_PATH)
    if os.path.isfile(path):
      return path
  try:  # e.g. a zipped install, or a package dir find_spec missed
    for f in importlib.metadata.files("lpips") or []:
      if f.as_posix().endswith("lpips/" + "/".join(LIN_PATH)):
        path = str(f.locate())
        if os.path.isfile(path):
          return path
  except importlib.metadata.PackageNotFoundError:
    pass
  return None


def parse_args(argv=None):
  p = user_errors.ArgumentParser(description=__doc__,
                              formatter_class=argparse.RawTextHelpFormatter)
  p.add_argument("--vgg", required=True,
                 help="torchvision vgg16-397923af.pth (state dict)")
  p.add_argument("--lin", default=None,
                 help="lpips weights/v0.1/vgg.pth (default: from an "
                 "installed lpips package)")
  p.add_argument("--out", required=True,
                 help="output run directory (new, or empty)")
  args = p.parse_args(argv)
  if not os.path.isfile(args.vgg):
    p.error(f"--vgg {args.vgg}: no such file (torchvision's VGG16 weights, "
            "vgg16-397923af.pth)")
  if args.lin is None:
    args.lin = installed_lin()
    if args.lin is None:
      p.error("no --lin given and no installed lpips package found; pass the "
              "lpips release's weights/v0.1/vgg.pth or run "
              "`pip install --no-deps lpips==0.1.4`")
  elif not os.path.isfile(args.lin):
    p.error(f"--lin {args.lin}: no such file (lpips' weights/v0.1/vgg.pth)")
  user_errors.check_new_directory(args.out, "--out")
  return args


def main(argv=None):
  args = parse_args(argv)
  try:
    vgg = torch_weights.load_state_dict(args.vgg)
    lin = torch_weights.load_state_dict(args.lin)
    model = lpips.from_state_dicts(vgg, lin)
  except ValueError as err:
    raise user_errors.UserError(f"--vgg {args.vgg} / --lin {args.lin}: "
                                f"{err}") from err
  if any(np.any(np.asarray(w[...]) < 0) for w in model.lin):
    print("warning: negative lin weights (the v0.1 release has none)")
  lpips.save(model, args.out, vgg=os.path.basename(args.vgg),
             lin=os.path.basename(args.lin))
  lpips.load(args.out)  # checks the run reads back
  print(f"wrote {args.out} (VGG16 from {args.vgg}, lin from {args.lin})")


if __name__ == "__main__":
  user_errors.run(main)
