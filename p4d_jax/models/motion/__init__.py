"""Motion sources behind one seam: `config.motion.kind` picks one.

    source = motion.make(config.motion, dim)   # a `source.MotionSource`

A new kind = one module with a `MotionSource` subclass + one line here.
"""

from __future__ import annotations

from p4d_jax import user_errors
from p4d_jax.models.motion import codes
from p4d_jax.models.motion import learned
from p4d_jax.models.motion import oracle
from p4d_jax.models.motion import pdfgc
from p4d_jax.models.motion import pretrained
from p4d_jax.models.motion import source

KINDS: dict[str, type[source.MotionSource]] = {
    "learned": learned.LearnedMotion,
    "pretrained": pretrained.PretrainedMotion,
    "oracle": oracle.OracleMotion,
    "codes": codes.GivenCodes,
    "pdfgc": pdfgc.PdfgcMotion,
}


def make(cfg, dim: int) -> source.MotionSource:
  """config.motion -> its source; an unknown kind names the known ones."""
  if cfg.kind not in KINDS:
    raise user_errors.UserError(f"config.motion.kind {cfg.kind!r} is not one of "
                     f"{sorted(KINDS)}.")
  return KINDS[cfg.kind](cfg, dim)
