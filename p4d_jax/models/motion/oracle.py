"""`oracle`: the exact SynthHeads expression parameters as the motion (for
ablations and as the upper bound of what any extractor could give).

The batch carries them standardised (`synthheads.params.
standardise_expression`); they fill the first E of the D motion channels,
the rest are zero. No parameters.
"""

from __future__ import annotations

from p4d_jax.models.motion import source


class OracleMotion(source.MotionSource):
  reads = "expression"
  trainable = False

  def encode(self, module, frames):
    del module
    return source.pad_to(frames, self.dim)
