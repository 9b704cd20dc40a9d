"""`pretrained`: a frozen expression extractor whose weights come from a
motion pretraining run (the paper's design: PD-FGC's embedding, pretrained
and never trained with Psi).

`motion.weights` names that run (`python -m launch.main
--config=configs/motion.py:tiny`, task `motion_extractor`); its EMA
parameters hold the extractor under `motion_encoder/`, and
`motion.extractor` (its sizes) must match the run's. The extractor reads a
frame and its camera (the aligned crop, `face_crop`) and gives the frame's
standardised expression, which fills the first E motion channels like the
oracle's exact parameters; gradients stop there and the optimizer leaves it
alone.
"""

from __future__ import annotations

import jax

from p4d_jax import user_errors
from p4d_jax import config_bridge
from p4d_jax import run_weights
from p4d_jax.models import sizes as sizes_lib
from p4d_jax.models.motion import extractor
from p4d_jax.models.motion import source

PREFIX = "motion_encoder"
TASK = "motion_extractor"
HOW_TO_MAKE = ("train one with `python -m launch.main "
               "--config=configs/motion.py:tiny --workdir=DIR` and set "
               "--config.motion.weights=DIR.")


class PretrainedMotion(source.MotionSource):
  reads = "framed"
  trainable = False

  def __init__(self, cfg, dim):
    super().__init__(cfg, dim)
    if not cfg.weights:
      raise user_errors.UserError("motion.kind=pretrained needs motion.weights: "
                       "a motion-extractor run directory; " + HOW_TO_MAKE)
    self.sizes = config_bridge.from_fields(
        sizes_lib.ExtractorSizes, cfg.extractor, "config.motion.extractor")
    source.check_width(self.sizes.outputs, dim)
    self._weights = None

  def build(self, rngs):
    return extractor.ExpressionExtractor(self.sizes, rngs)

  def load(self, params):
    # Read once, eagerly even inside the jitted init (Orbax cannot restore
    # into a trace), and only at initialisation: a trained Psi run holds
    # these weights itself and never needs the extractor's run again.
    if self._weights is None:
      run = run_weights.read_config(self.cfg.weights, TASK, HOW_TO_MAKE)
      theirs = config_bridge.from_fields(
          sizes_lib.ExtractorSizes, run["motion"]["extractor"],
          f"{self.cfg.weights}: motion.extractor")
      if theirs != self.sizes:
        raise user_errors.UserError(f"{self.cfg.weights} holds an extractor of sizes "
                         f"{theirs}, config.motion.extractor says "
                         f"{self.sizes}; make them equal.")
      like = jax.tree.map(lambda x: jax.ShapeDtypeStruct(x.shape, x.dtype),
                          params)
      with jax.ensure_compile_time_eval():
        self._weights = run_weights.read_params(self.cfg.weights, like,
                                                prefix=PREFIX)
    return self._weights

  def encode(self, module, frames):
    code = module(frames["image"], frames["camera"])
    return source.pad_to(jax.lax.stop_gradient(code), self.dim)
