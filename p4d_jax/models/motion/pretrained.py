"""`pretrained`: a frozen motion encoder whose weights come from another run
(the paper's design: PD-FGC's embedding, pretrained and never trained with
Psi).

`motion.weights` names a run directory (`p4d_jax.run_weights`) whose EMA
parameters hold the encoder under `motion_encoder/` (a motion pretraining
run, a converted extractor, or a Psi run whose learned encoder is reused).
The network is `learned`'s; gradients stop at its output and the optimizer
leaves it alone.
"""

from __future__ import annotations

import jax

from p4d_jax import run_weights
from p4d_jax.models.motion import learned

PREFIX = "motion_encoder"


class PretrainedMotion(learned.LearnedMotion):
  trainable = False

  def __init__(self, cfg, dim):
    super().__init__(cfg, dim)
    if not cfg.weights:
      raise ValueError("motion.kind=pretrained needs motion.weights: a run "
                       "directory whose parameters hold `motion_encoder/`.")
    self._weights = None

  def load(self, params):
    # Read once, eagerly even inside the jitted init (Orbax cannot restore
    # into a trace), and only at initialisation: a trained Psi run holds
    # these weights itself and never needs the extractor's run again.
    if self._weights is None:
      like = jax.tree.map(lambda x: jax.ShapeDtypeStruct(x.shape, x.dtype),
                          params)
      with jax.ensure_compile_time_eval():
        self._weights = run_weights.read_params(self.cfg.weights, like,
                                                prefix=PREFIX)
    return self._weights

  def encode(self, module, frames):
    return jax.lax.stop_gradient(module(frames))
