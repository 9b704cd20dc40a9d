"""Builds the SynthHeads data sets (TFDS, ArrayRecord) and a contact sheet.

  python tools/make_synthheads.py                       # small: all three sets
  python tools/make_synthheads.py --size tiny --kinds multiview
  python tools/make_synthheads.py --set resolution=128 --set views=8
  python tools/make_synthheads.py --sheet_only          # (re)write the PNG

A set (or sheet) that is already there is skipped; a killed build leaves only
TFDS's `incomplete.*` folder, which the next run replaces. Read the sets with
`p4d_jax.data.pipeline.synthheads(kind, size, split, data_dir)`.
"""

from __future__ import annotations

import argparse
import dataclasses
import os
import time

import tensorflow_datasets as tfds

from p4d_jax import user_errors
from p4d_jax.data import builders
from p4d_jax.data.synthheads import contact_sheet
from p4d_jax.data.synthheads import examples
from p4d_jax.media import image_io


def _override(text: str):
  key, sep, value = text.partition("=")
  types = {f.name: f.type for f in dataclasses.fields(examples.Spec)}
  if not sep or key not in types:
    raise argparse.ArgumentTypeError(
        f"--set wants KEY=VALUE with KEY in {sorted(types)}; got {text!r}")
  if types[key] == "str":
    return key, value
  try:
    return key, (float(value) if types[key] == "float" else int(value))
  except ValueError as err:
    raise argparse.ArgumentTypeError(f"--set {text!r}: {err}") from err


def parse_args(argv=None):
  p = user_errors.ArgumentParser(description=__doc__,
                              formatter_class=argparse.RawTextHelpFormatter)
  p.add_argument("--size", default="small", choices=sorted(builders.SIZES))
  p.add_argument("--kinds", default="multiview,clips,eval",
                 help="comma-separated subset of " + ",".join(builders.BUILDERS))
  p.add_argument("--data_dir", default=builders.data_dir(),
                 help="TFDS data directory")
  p.add_argument("--set", dest="overrides", action="append", default=[],
                 type=_override, help="Spec override KEY=VALUE (repeatable)")
  p.add_argument("--sheet", default=None,
                 help="contact sheet PNG (default DATA_DIR/synthheads_sheet.png)")
  p.add_argument("--sheet_only", action="store_true",
                 help="(re)write the sheet and build nothing")
  p.add_argument("--no_sheet", action="store_true", help="skip the sheet")
  args = p.parse_args(argv)
  kinds = [k for k in args.kinds.split(",") if k]
  bad = [k for k in kinds if k not in builders.BUILDERS]
  if bad:
    p.error(f"unknown kind(s) {bad}; choose from {list(builders.BUILDERS)}")
  args.kinds = kinds
  return args


def main(argv=None):
  args = parse_args(argv)
  tfds.disable_progress_bar()   # our own progress lines carry the ETA
  user_errors.check_writable(args.data_dir, "--data_dir")
  sheet = args.sheet or os.path.join(args.data_dir, "synthheads_sheet.png")
  start = time.time()
  if args.sheet_only or (not args.no_sheet and not os.path.exists(sheet)):
    image_io.write_image(sheet, contact_sheet.contact_sheet())
    print(f"[synthheads] contact sheet -> {sheet}")
  if args.sheet_only:
    return
  for kind in args.kinds:
    builder = builders.make(kind, args.size, data_dir=args.data_dir,
                            **dict(args.overrides))
    name = f"{kind}/{builder.builder_config.name}"
    if builders.is_built(builder):
      print(f"[synthheads] {name}: already built in {builder.data_dir}")
      continue
    t0 = time.time()
    builder.download_and_prepare()
    counts = {s: v.num_examples for s, v in builder.info.splits.items()}
    print(f"[synthheads] {name}: {counts} in {time.time() - t0:.0f}s "
          f"-> {builder.data_dir}")
  print(f"[synthheads] done in {time.time() - start:.0f}s")


if __name__ == "__main__":
  user_errors.run(main)
