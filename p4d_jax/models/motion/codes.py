"""`codes`: the motion vectors themselves, given by the caller (e.g. the
official release's PD-FGC codes, 548 floats per frame, made elsewhere).
A frame is its code [D]; no parameters, nothing trained."""

from __future__ import annotations

from p4d_jax.models.motion import source


class GivenCodes(source.MotionSource):
  reads = "code"
  trainable = False

  def encode(self, module, frames):
    del module
    if frames.shape[-1] != self.dim:
      raise ValueError(f"motion codes of width {frames.shape[-1]}; the "
                       f"model's motion width is {self.dim}.")
    return frames
