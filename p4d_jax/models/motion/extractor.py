"""The expression extractor: a frame and its camera -> the frame's
expression, as SynthHeads' standardised parameters [B, E].

Our analogue of PD-FGC's motion encoder: pretrained on its own task
(`tasks.motion_extractor`, configs/motion.py), then frozen inside Psi (the
`pretrained` motion source). It reads only the aligned expression crop
(`face_crop`), never the whole frame, so what reaches Psi's cross-attention
is the face's expression with as little of its identity, pose or
background as the crop and the training (fresh identities every step, an
identity-invariance term) leave.
"""

from __future__ import annotations

import jax
from flax import nnx

from p4d_jax import user_errors
from p4d_jax.models import attention as A
from p4d_jax.models import encoders
from p4d_jax.models.motion import face_crop
from p4d_jax.models.sizes import ExtractorSizes


class ExpressionExtractor(nnx.Module):
  """(frames [B, S, S, 3] in [-1, 1], camera labels [B, 25]) ->
  standardised expressions [B, outputs]."""

  def __init__(self, sizes: ExtractorSizes, rngs: nnx.Rngs):
    if sizes.crop % 2 ** len(sizes.widths):
      raise user_errors.UserError(f"extractor crop {sizes.crop} must be divisible by "
                       f"2^{len(sizes.widths)} (one halving per width).")
    self.sizes = sizes
    self.stem = A.conv(5, sizes.widths[0], 3, rngs)   # RGB + coordinates
    widths = (sizes.widths[0],) + tuple(sizes.widths)
    self.convs = nnx.List([A.conv(a, b, 3, rngs, stride=2)
                           for a, b in zip(widths[:-1], widths[1:])])
    side = sizes.crop // 2 ** len(sizes.widths)
    # Flattened, not pooled: where in the crop a change happens (eyes or
    # mouth) is what tells the parameters apart.
    self.fc = A.linear(side * side * sizes.widths[-1], sizes.hidden, rngs)
    self.out = A.linear(sizes.hidden, sizes.outputs, rngs)

  def crops(self, images: jax.Array, labels: jax.Array,
            jitter: jax.Array | None = None) -> jax.Array:
    return face_crop.crop(images, labels, self.sizes.frame, self.sizes.crop,
                          jitter)

  def from_crops(self, crops: jax.Array) -> jax.Array:
    x = encoders.lrelu(self.stem(encoders.add_coords(crops)))
    for conv in self.convs:
      x = encoders.lrelu(conv(x))
    x = encoders.lrelu(self.fc(x.reshape(x.shape[0], -1)))
    return self.out(x)

  def __call__(self, images: jax.Array, labels: jax.Array) -> jax.Array:
    return self.from_crops(self.crops(images, labels))

