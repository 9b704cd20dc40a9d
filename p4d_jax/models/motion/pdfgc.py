"""`pdfgc`: PD-FGC's motion encoder, frozen, as the official Portrait4D-v2
inference uses it: a driving frame -> its 548-d code (eye 6 | emotion 30 |
mouth 512), `models.official.pdfgc_net` on the crop of
`models.official.pdfgc_crop`.

The crop is placed by three points of the frame: the eye centres and the
inner-mouth centre. Given the frame's 68 landmarks (`frames["landmarks"]`,
pixels of the frame) they are the official ones; otherwise the head-frame
anchors of the expression crop (`face_crop.ANCHORS`, the average head's eyes
and mouth) projected through the frame's camera label stand in for them
(aligned frames and their cameras are all that the reenactment passes).

The weights come with the run: `tools/convert_official.py --pdfgc` writes
them as the model's `motion_encoder`; a fresh model (training) takes them
from `motion.weights`, such a run's directory.
"""

from __future__ import annotations

import jax

from p4d_jax import run_weights
from p4d_jax import user_errors
from p4d_jax.models.motion import face_crop
from p4d_jax.models.motion import source
from p4d_jax.models.official import pdfgc_crop
from p4d_jax.models.official import pdfgc_net

PREFIX = "motion_encoder"
WIDTH = 548
HOW_TO_MAKE = ("convert PD-FGC's motion_model.pth with `python "
               "tools/convert_official.py CHECKPOINT --pdfgc=motion_model.pth "
               "--out=DIR` and set --config.motion.weights=DIR.")
# face_crop.ANCHORS in PD-FGC's order: the eye on the image's left (the
# head's -x, seen from the front), the one on its right (+x), the mouth.
_ANCHOR_ORDER = (1, 0, 2)


class PdfgcMotion(source.MotionSource):
  reads = "framed"
  trainable = False

  def __init__(self, cfg, dim):
    super().__init__(cfg, dim)
    if dim != WIDTH:
      raise user_errors.UserError(
          f"motion.kind=pdfgc gives {WIDTH}-d codes; the model's motion width "
          f"(model.canonical.motion_dim) is {dim}.")

  def build(self, rngs):
    return pdfgc_net.FanEncoder(rngs)

  def load(self, params):
    if not self.cfg.weights:
      raise user_errors.UserError(
          "motion.kind=pdfgc needs motion.weights: a run holding PD-FGC's "
          "weights; " + HOW_TO_MAKE)
    like = jax.tree.map(lambda x: jax.ShapeDtypeStruct(x.shape, x.dtype),
                        params)
    with jax.ensure_compile_time_eval():
      return run_weights.read_params(self.cfg.weights, like, prefix=PREFIX)

  def encode(self, module, frames):
    images = frames["image"]
    if "landmarks" in frames:
      points = pdfgc_crop.three_points(frames["landmarks"])
    else:
      uv = face_crop.anchor_pixels(frames["camera"])[:, _ANCHOR_ORDER]
      points = uv * images.shape[1] - 0.5   # pixel centres at integers
    code = module(pdfgc_crop.crop(images, points.astype(images.dtype)))
    return jax.lax.stop_gradient(code)
